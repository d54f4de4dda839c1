//! Incoming streams (we are the receiving server): STARTTLS required; dialback keys checked
//! with the peer's authoritative server before any stanza of that domain is taken; every
//! stanza's `from` domain must be one the stream authenticated (`<invalid-from/>` otherwise,
//! never delivered) and its `to` a domain we serve (`<host-unknown/>`). We also answer, as the
//! authoritative server, the verification requests of servers we connected to.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cordial_actors::link::StreamCondition;
use futures::SinkExt;
use jid::Jid;
use minidom::Element;
use tokio::net::{TcpListener, TcpStream};
use tokio_xmpp::xmlstream::{accept_stream, StreamHeader};
use xmpp_parsers::ns::TLS;
use xmpp_parsers::stream_features::StreamFeatures;

use super::stream::{declare_dialback, dialback, next, stream_error, timeouts, Xs};
use super::{renamespace, S2s, DIALBACK, DIALBACK_FEATURE, JABBER_SERVER};
use crate::link::framing::{Framing, Transport, LIMITS};
use crate::link::negotiation::EMPTY_FEATURES;

/// Accepts other servers' connections on the s2s listener.
pub async fn accept_loop(listener: TcpListener, s2s: Arc<S2s>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                log::warn!("s2s accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let s2s = s2s.clone();
        actix_rt::spawn(async move {
            let limits = crate::link::link_limits(&s2s.ctx);
            let stopping = s2s.stopping.clone();
            tokio::select! {
                _ = LIMITS.scope(limits, serve(tcp, peer, s2s)) => {}
                _ = stopping.cancelled() => {}
            }
        });
    }
}

/// What one incoming connection has established, across its stream restarts.
struct Peer {
    /// The connection's number, for the admin API's list.
    id: u64,
    addr: SocketAddr,
    /// The domains whose stanzas this connection may carry (dialback succeeded for each).
    authenticated: HashSet<String>,
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Takes the connection off the admin API's list when it ends, however it ends.
struct Listed<'a>(&'a Arc<S2s>, u64);

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.0.incoming_closed(self.1);
    }
}

/// How one stream ended.
enum Next {
    StartTls,
    Closed,
}

async fn serve(tcp: TcpStream, peer: SocketAddr, s2s: Arc<S2s>) {
    let mut io = Framing::new(Transport::Plain(tcp));
    let mut state = Peer {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        addr: peer,
        authenticated: HashSet::new(),
    };
    let _listed = Listed(&s2s, state.id);
    while let Next::StartTls = one_stream(&mut io, peer, &s2s, &mut state).await {
        let Transport::Plain(tcp) = io.take_transport() else {
            return;
        };
        match s2s.ctx.tls.accept(tcp, false).await {
            Ok(tls) => io.set_transport(Transport::Tls(Box::new(tls))),
            Err(e) => return log::debug!("s2s {peer}: TLS handshake failed: {e}"),
        }
    }
    io.linger(s2s.ctx.config().linger()).await;
}

async fn one_stream(io: &mut Framing, peer: SocketAddr, s2s: &Arc<S2s>, state: &mut Peer) -> Next {
    let config = s2s.ctx.config();
    let secured = io.is_tls();
    let splice = io.splice();
    io.expect_header();
    declare_dialback(io);
    let t = timeouts(config.s2s.idle_secs);
    let Ok(Ok(accepted)) = tokio::time::timeout(
        std::time::Duration::from_secs(config.s2s.connect_timeout_secs),
        accept_stream(&mut *io, JABBER_SERVER, t),
    )
    .await
    else {
        log::debug!("s2s {peer}: no stream header in time, or a bad one");
        return Next::Closed;
    };
    let header = accepted.header();
    let to = header.to.as_deref().map(str::to_ascii_lowercase);
    let local = to.filter(|d| config.domains.contains(d));
    let id = crate::link::random_id();
    let ours = StreamHeader {
        from: Some(
            local
                .clone()
                .unwrap_or_else(|| config.default_domain().to_string())
                .into(),
        ),
        to: None,
        id: Some(id.clone().into()),
    };
    let Ok(pending) = accepted.send_header(ours).await else {
        return Next::Closed;
    };
    // Before TLS only STARTTLS (required); after it, dialback with its error support
    // (XEP-0220 §2.4).
    let features = if secured {
        format!("<stream:features><dialback xmlns='{DIALBACK_FEATURE}'><errors/></dialback></stream:features>")
    } else {
        format!("<stream:features><starttls xmlns='{TLS}'><required/></starttls></stream:features>")
    };
    splice.replace_next(EMPTY_FEATURES, features.into_bytes());
    let Ok(mut xs) = pending
        .send_features::<crate::link::parser::Stanza>(&StreamFeatures::default())
        .await
    else {
        return Next::Closed;
    };
    let Some(local) = local else {
        log::info!("s2s {peer}: stream to a domain we do not serve");
        stream_error(
            &mut xs,
            StreamCondition::HostUnknown,
            "This server does not serve that domain",
        )
        .await;
        return Next::Closed;
    };
    loop {
        let Some(el) = next(&mut xs).await else {
            return Next::Closed;
        };
        if el.is("starttls", TLS) && !secured {
            if xs
                .send(&Element::builder("proceed", TLS).build())
                .await
                .is_err()
            {
                return Next::Closed;
            }
            return Next::StartTls;
        }
        if !secured {
            // RFC 6120 §5.3.1: TLS first, on every s2s stream.
            stream_error(
                &mut xs,
                StreamCondition::PolicyViolation,
                "Use STARTTLS first",
            )
            .await;
            return Next::Closed;
        }
        if el.is("result", DIALBACK) {
            if !answer_result(&mut xs, s2s, &local, &id, &el, state, peer).await {
                return Next::Closed;
            }
            continue;
        }
        if el.is("verify", DIALBACK) {
            // We are the authoritative server for `to`: was this our key for that stream?
            let (Some(from), Some(to), Some(vid)) = (el.attr("from"), el.attr("to"), el.attr("id"))
            else {
                stream_error(
                    &mut xs,
                    StreamCondition::InvalidXml,
                    "db:verify needs from, to and id",
                )
                .await;
                return Next::Closed;
            };
            let valid = config.domains.iter().any(|d| d == to)
                && s2s.secret.verify(from, to, vid, &el.text());
            let answer = dialback(
                "verify",
                to,
                from,
                Some(vid),
                Some(if valid { "valid" } else { "invalid" }),
                None,
            );
            if xs.send(&answer).await.is_err() {
                return Next::Closed;
            }
            continue;
        }
        if el.ns() != JABBER_SERVER || !matches!(el.name(), "message" | "presence" | "iq") {
            stream_error(
                &mut xs,
                StreamCondition::UnsupportedStanzaType,
                "Not a stanza",
            )
            .await;
            return Next::Closed;
        }
        if let Err((condition, text)) = accept_stanza(s2s, state, el) {
            log::info!("s2s {peer}: {text}; closing with {condition:?}");
            stream_error(&mut xs, condition, text).await;
            return Next::Closed;
        }
    }
}

/// A peer asks to send as `from` (XEP-0220 §2.1.2): we check the key with `from`'s
/// authoritative server and answer valid or invalid. `false` when the stream must end.
async fn answer_result(
    xs: &mut Xs<'_>,
    s2s: &Arc<S2s>,
    local: &str,
    id: &str,
    el: &Element,
    state: &mut Peer,
    peer: SocketAddr,
) -> bool {
    let config = s2s.ctx.config();
    let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
        stream_error(
            xs,
            StreamCondition::InvalidXml,
            "db:result needs from and to",
        )
        .await;
        return false;
    };
    let from = from.to_ascii_lowercase();
    if to != local {
        stream_error(
            xs,
            StreamCondition::HostUnknown,
            "This stream is not to that domain",
        )
        .await;
        return false;
    }
    if Jid::new(&from).map_or(true, |j| j.node().is_some() || j.resource().is_some())
        || config.domains.contains(&from)
    {
        stream_error(xs, StreamCondition::InvalidFrom, "Not a remote domain").await;
        return false;
    }
    if config.s2s.require_valid_certificates {
        let answer = dialback("result", local, &from, None, Some("invalid"), None);
        let _ = xs.send(&answer).await;
        return true;
    }
    let valid = super::outbound::verify(s2s, local, &from, id, &el.text()).await;
    log::info!(
        "s2s {peer}: dialback for {from} {}",
        if valid { "verified" } else { "refused" }
    );
    let counter = if valid {
        &s2s.counters.dialback_verified
    } else {
        &s2s.counters.dialback_refused
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if valid {
        state.authenticated.insert(from.clone());
        let mut domains: Vec<String> = state.authenticated.iter().cloned().collect();
        domains.sort();
        s2s.incoming_authenticated(
            state.id,
            super::Incoming {
                peer: state.addr.to_string(),
                domains,
                authentication: "dialback",
            },
        );
    }
    let answer = dialback(
        "result",
        local,
        &from,
        None,
        Some(if valid { "valid" } else { "invalid" }),
        None,
    );
    xs.send(&answer).await.is_ok()
}

/// An authenticated peer's stanza, checked and routed (RFC 6120 §8.1.1.2, §8.1.2.2, §13.7.1.1).
fn accept_stanza(
    s2s: &Arc<S2s>,
    state: &Peer,
    el: Element,
) -> Result<(), (StreamCondition, &'static str)> {
    let config = s2s.ctx.config();
    if state.authenticated.is_empty() {
        return Err((
            StreamCondition::NotAuthorized,
            "Authenticate with dialback first",
        ));
    }
    let from = el.attr("from").and_then(|f| Jid::new(f).ok());
    let Some(from) = from.filter(|f| state.authenticated.contains(f.domain().as_str())) else {
        return Err((
            StreamCondition::InvalidFrom,
            "The stanza's from is not a domain this stream authenticated",
        ));
    };
    let to = el.attr("to").and_then(|t| Jid::new(t).ok());
    if !to.is_some_and(|t| config.domains.iter().any(|d| d == t.domain().as_str())) {
        return Err((
            StreamCondition::HostUnknown,
            "The stanza's to is not a domain this server serves",
        ));
    }
    log::trace!("s2s: a stanza from {from}");
    let stanza = renamespace(&el, JABBER_SERVER, cordial_actors::ns::JABBER_CLIENT);
    s2s.counters.stanzas_in.fetch_add(1, Ordering::Relaxed);
    s2s.router().route(stanza);
    Ok(())
}
