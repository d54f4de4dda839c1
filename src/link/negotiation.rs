//! Stream negotiation (RFC 6120 §4–§5): each stream of a connection from the client's header
//! to the element that restarts it, binds a resource or ends it. Our header answers the
//! client's (§4.7, `to` checked against the domains we serve), the features offered fit the
//! point reached (§4.3.2), STARTTLS upgrades the transport (§5), and every top-level element
//! before binding is dispatched here to SASL (`auth`), in-band registration (`register`) or
//! resource binding (`bind`), or refused with a stream error.
//!
//! Each stream restart is a fresh `accept_stream` on the same [`Framing`]; the negotiation state
//! ([`Negotiation`]: `secured`, `user`) only ever moves forward, so a stanza can never be
//! exchanged on a stream that is not authenticated and bound.

use std::net::SocketAddr;

use cordial_actors::link::{StreamClose, StreamCondition};
use cordial_actors::metrics::Transport as Via;
use futures::SinkExt;
use jid::FullJid;
use minidom::Element;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_xmpp::xmlstream::{self, StreamHeader, Timeouts};
use xmpp_parsers::stream_error::StreamError;
use xmpp_parsers::stream_features::StreamFeatures;

use super::auth::{authenticate, sasl_features};
use super::bind::bind_request;
use super::close::Stop;
use super::close::{close, finish, header_error_condition, raw_stream_error, send_close};
use super::framing::{Framing, Transport};
use super::parser::Stanza;
use super::pump::session;
use super::register::register;
use super::stream::{read, Negotiation, Outcome};
use super::{ns, random_id, LinkContext, Xs};

/// The streams of one connection: each restart after STARTTLS or SASL, then the session.
pub(super) async fn streams(
    io: &mut Framing,
    peer: SocketAddr,
    ctx: &LinkContext,
    secured: bool,
    via: Via,
    negotiation_deadline: Instant,
) {
    let mut state = Negotiation {
        secured,
        // A WebSocket's TLS is the HTTP server's.
        tls_possible: via != Via::Websocket,
        bindings: io.channel_bindings(),
        user: None,
        failed_auths: 0,
        domain: None,
    };
    loop {
        // Each stream's negotiation is boxed and freed before the session starts: an async
        // task is as large as its largest state, and an idle session should not carry the
        // negotiation's for hours.
        let step = Box::pin(one_stream(
            &mut *io,
            &mut state,
            ctx,
            peer,
            negotiation_deadline,
        ))
        .await;
        match step {
            Step::Restart => continue,
            Step::StartTls => {
                let Transport::Plain(tcp) = io.take_transport() else {
                    return;
                };
                let Some(tls) = tls_handshake(ctx, tcp, negotiation_deadline, peer, false).await
                else {
                    return;
                };
                io.set_transport(tls);
                state.secured = true;
                state.bindings = io.channel_bindings();
            }
            Step::Bound(xs, full, bind_iq) => {
                // Out of its box before the session, so the box is not kept for its lifetime.
                let xs = {
                    let boxed = xs;
                    *boxed
                };
                return session(xs, full, bind_iq, ctx, (peer, via)).await;
            }
            Step::BadHeader(condition, text) => {
                let domain = ctx.config().default_domain().to_string();
                return raw_stream_error(io, &domain, condition, &text).await;
            }
            Step::Closed => return,
        }
    }
}

/// How one stream's negotiation ended, with the stream itself when a resource was bound.
enum Step<'a> {
    /// The client's stream header could not be accepted: answer with our own header and this
    /// stream error (RFC 6120 §4.9.1.1).
    BadHeader(StreamCondition, String),
    Restart,
    StartTls,
    /// Boxed, so that the caller's slot for a step stays small for the whole session.
    Bound(Box<Xs<'a>>, FullJid, Element),
    Closed,
}

/// One stream, from the client's header to the element that restarts it, binds a resource or
/// ends it.
async fn one_stream<'a>(
    io: &'a mut Framing,
    state: &mut Negotiation,
    ctx: &LinkContext,
    peer: SocketAddr,
    negotiation_deadline: Instant,
) -> Step<'a> {
    let splice = io.splice();
    io.expect_header();
    let timeouts = Timeouts {
        read_timeout: ctx.config().idle_timeout(),
        response_timeout: ctx.config().idle_timeout(),
    };
    let accepted = match tokio::time::timeout_at(
        negotiation_deadline,
        xmlstream::accept_stream(&mut *io, ns::JABBER_CLIENT, timeouts),
    )
    .await
    {
        Err(_) => {
            log::debug!("{peer}: no stream header in time");
            return Step::Closed;
        }
        Ok(Err(e)) => {
            let Some(condition) = header_error_condition(&e) else {
                log::debug!("{peer}: gone before the stream header: {e}");
                return Step::Closed;
            };
            log::info!("{peer}: bad stream header ({e}); closing with {condition:?}");
            return Step::BadHeader(condition, e.to_string());
        }
        Ok(Ok(a)) => a,
    };
    // RFC 6120 §4.7.2: `to` names the service; unknown -> <host-unknown/> (§4.9.3.6).
    let requested = accepted.header().to.map(|t| t.to_string());
    let domain = match (&state.domain, requested) {
        (Some(d), Some(r)) if *d != r => None,
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(ctx.config().default_domain().to_string()),
        (None, Some(r)) => ctx.config().domains.iter().find(|d| **d == r).cloned(),
    };
    let header = StreamHeader {
        from: Some(
            domain
                .clone()
                .unwrap_or_else(|| ctx.config().default_domain().into())
                .into(),
        ),
        to: None,
        id: Some(random_id().into()),
    };
    let Ok(pending) = accepted.send_header(header).await else {
        return Step::Closed;
    };
    let Some(domain) = domain else {
        log::info!("{peer}: stream to a host we do not serve");
        let e = StreamError::new(
            StreamCondition::HostUnknown,
            "en",
            "This server does not serve that domain",
        );
        let _ = pending.send_error(&e).await;
        return Step::Closed;
    };
    state.domain = Some(domain.clone());
    splice.replace_next(EMPTY_FEATURES, features(ctx, state).into_bytes());
    let Ok(mut xs) = pending
        .send_features::<Stanza>(&StreamFeatures::default())
        .await
    else {
        return Step::Closed;
    };
    let outcome = match tokio::time::timeout_at(
        negotiation_deadline,
        negotiate(&mut xs, state, ctx, &domain, peer),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => {
            log::info!("{peer}: negotiation not completed in time");
            send_close(
                &mut xs,
                &StreamClose::new(
                    StreamCondition::ConnectionTimeout,
                    "Negotiation took too long".to_string(),
                ),
            )
            .await;
            Outcome::Closed
        }
    };
    match outcome {
        Outcome::Restart => Step::Restart,
        Outcome::StartTls => Step::StartTls,
        Outcome::Bound { full, bind_iq } => Step::Bound(Box::new(xs), full, bind_iq),
        Outcome::Closed => Step::Closed,
    }
}

/// What tokio-xmpp 6 / xmpp-parsers 0.23 write for `StreamFeatures::default()`, the only way
/// through their responder to a stream that carries stanzas: [`Framing`] swaps these bytes for
/// the features we serialised (see [`features`]). The empty `<mechanisms/>` in it is theirs
/// (clients would read it as "SASL offered, with nothing you support"); it never reaches a
/// client. Should a new version write something else, every stream would lose its features and
/// every test would fail at once.
pub(crate) const EMPTY_FEATURES: &[u8] = b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'></mechanisms></stream:features>";

/// The stream features for this point of the negotiation (RFC 6120 §4.3.2), serialised.
///
/// Written by us, not through xmpp-parsers' `StreamFeatures` (whose xso writer took ~1 µs per
/// XML item, 20 µs for the features before authentication, a tenth of a login's server
/// CPU); see [`EMPTY_FEATURES`] for how they reach the stream.
fn features(ctx: &LinkContext, state: &Negotiation) -> String {
    let mut children = Vec::new();
    let flag = |name: &str, ns: &str, required: bool| {
        let mut e = Element::bare(name, ns);
        if required {
            e.append_child(Element::bare("required", ns));
        }
        e
    };
    if state.user.is_none() {
        if !state.secured && state.tls_possible {
            children.push(flag("starttls", ns::TLS, ctx.config().auth.require_tls));
        }
        children.extend(sasl_features(ctx, state, &state.bindings));
        if ctx.config().auth.registration && state.auth_allowed(ctx) {
            children.push(Element::bare("register", ns::REGISTER_FEATURE));
        }
    } else {
        children.push(flag("bind", ns::BIND, true));
        // RFC 6121 §2.6.1: roster versioning.
        children.push(Element::bare("ver", "urn:xmpp:features:rosterver"));
        // RFC 6121 §3.4: subscription pre-approval.
        children.push(Element::bare("sub", "urn:xmpp:features:pre-approval"));
        // RFC 3921 §3 session establishment, marked optional (draft-cridland-xmpp-session).
        children.push(
            Element::builder("session", ns::SESSION)
                .append(Element::bare("optional", ns::SESSION))
                .build(),
        );
    }
    let mut xml = String::from("<stream:features>");
    for c in &children {
        xml.push_str(&cordial_actors::xml::serialize(c));
    }
    xml.push_str("</stream:features>");
    xml
}

/// One stream's negotiation, up to the element that restarts it or binds a resource.
async fn negotiate(
    xs: &mut Xs<'_>,
    state: &mut Negotiation,
    ctx: &LinkContext,
    domain: &str,
    peer: SocketAddr,
) -> Outcome {
    loop {
        let el = match read(xs, None).await {
            Ok(el) => el,
            Err(stop) => {
                finish(xs, stop).await;
                return Outcome::Closed;
            }
        };
        let ns = el.ns();
        // By namespace, element and the account SASL authenticated, if any: binding is only
        // reached with one (RFC 6120 §7.1), so `bind_request` needs no check of its own.
        let result = match (ns.as_str(), el.name(), &state.user) {
            (ns::TLS, "starttls", None) if !state.secured && state.tls_possible => {
                if xs.send(&Element::bare("proceed", ns::TLS)).await.is_err() {
                    return Outcome::Closed;
                }
                return Outcome::StartTls;
            }
            (ns::SASL, "auth", None) => authenticate(xs, state, ctx, domain, el, peer).await,
            (ns::JABBER_CLIENT, "iq", None)
                if ctx.config().auth.registration
                    && el.get_child("query", ns::REGISTER).is_some() =>
            {
                register(xs, state, ctx, domain, &el).await
            }
            (ns::JABBER_CLIENT, "iq", Some(user)) => match bind_request(&el, user) {
                Ok(Some(full)) => return Outcome::Bound { full, bind_iq: el },
                Ok(None) => Ok(None),
                Err(reply) => xs.send(&reply).await.map(|_| None).map_err(|_| Stop::Gone),
            },
            (ns::JABBER_CLIENT, "iq" | "message" | "presence", user) => Err(close(
                StreamCondition::NotAuthorized,
                if user.is_none() {
                    "Authenticate first"
                } else {
                    "Bind a resource first"
                },
            )),
            (ns::JABBER_CLIENT, _, _) | (ns::TLS, _, _) | (ns::SASL, _, _) => Err(close(
                StreamCondition::UnsupportedStanzaType,
                "Unexpected element at this point of the negotiation",
            )),
            _ => Err(close(
                StreamCondition::InvalidNamespace,
                "Unknown namespace for a top-level element",
            )),
        };
        match result {
            Ok(Some(outcome)) => return outcome,
            Ok(None) => {}
            Err(stop) => {
                finish(xs, stop).await;
                return Outcome::Closed;
            }
        }
    }
}

/// The server side of a TLS handshake (direct TLS or STARTTLS), within the negotiation's
/// deadline; `None` (logged) when it failed. Boxed: the handshake's state is large and must not
/// size the connection's task for the whole session.
pub(super) async fn tls_handshake(
    ctx: &LinkContext,
    tcp: TcpStream,
    deadline: Instant,
    peer: SocketAddr,
    direct: bool,
) -> Option<Transport> {
    match tokio::time::timeout_at(deadline, Box::pin(ctx.tls.accept(tcp, direct))).await {
        Ok(Ok(s)) => Some(Transport::Tls(Box::new(s))),
        Ok(Err(e)) => {
            log::debug!("{peer}: TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            log::debug!("{peer}: TLS handshake timed out");
            None
        }
    }
}
