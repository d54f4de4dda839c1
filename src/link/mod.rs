//! One task per connection: socket, TLS, XML stream, limits, and the negotiation of RFC 6120
//! (STARTTLS §5, SASL §6, resource binding §7) before the bound stream is handed to a
//! [`ResourceActor`].
//!
//! Each stream restart is a fresh `accept_stream` on the same [`Framing`]; the negotiation state
//! (`secured`, `user`) only ever moves forward, so a stanza can never be exchanged on a stream
//! that is not authenticated and bound.

mod auth;
mod bind;
mod close;
pub mod framing;
mod ns;
pub mod parser;
pub mod rate;
mod register;
pub mod sasl;
pub mod throttle;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Actor;
use base64::Engine as _;
use cordial_actors::link::{link_pair, LinkReceiver, Outbound, StreamClose, StreamCondition};
use cordial_actors::metrics::{Metrics, Transport as Via};
use cordial_actors::resource::{FromClient, Handled, LinkClosed, ResourceActor};
use cordial_actors::stanza;
use cordial_actors::user::Bind;
use cordial_actors::xml::BuildAttr;
use cordial_actors::Router;
use futures::{FutureExt, SinkExt, StreamExt};
use jid::{BareJid, FullJid};
use minidom::Element;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_xmpp::xmlstream::{self, ReadError, StreamHeader, Timeouts, XmlStream};
use xmpp_parsers::stream_error::StreamError;
use xmpp_parsers::stream_features::StreamFeatures;

use crate::config::Config;
use auth::{auth_allowed, authenticate, offered_mechanisms};
use bind::bind_request;
use close::{
    close, finish, header_error_condition, inbound, raw_stream_error, send_close, Inbound, Stop,
};
use framing::{Framing, LinkLimits, RawOut, Transport, LIMITS};
use parser::Stanza;
use rate::StanzaRate;
use register::register;

/// What tokio-xmpp 6 / xmpp-parsers 0.23 write for `StreamFeatures::default()`, the only way
/// through their responder to a stream that carries stanzas: [`Framing`] swaps these bytes for
/// the features we serialised (see [`features`]). The empty `<mechanisms/>` in it is theirs
/// (clients would read it as "SASL offered, with nothing you support"); it never reaches a
/// client. Should a new version write something else, every stream would lose its features and
/// every test would fail at once.
const EMPTY_FEATURES: &[u8] = b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'></mechanisms></stream:features>";

/// What every link of one server shares.
pub struct LinkContext {
    pub config: Arc<Config>,
    pub router: Arc<Router>,
    pub sasl: sasl::Sasl,
    pub tls: tokio_native_tls::TlsAcceptor,
    pub throttle: throttle::Throttle,
    pub connections: crate::c2s::Connections,
    pub sessions: crate::sessions::Sessions,
}

type Xs<'a> = XmlStream<&'a mut Framing, Stanza>;

/// Serves one client connection until it ends.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, ctx: Arc<LinkContext>, direct_tls: bool) {
    let _ = tcp.set_nodelay(true);
    LIMITS
        .scope(link_limits(&ctx), run(tcp, peer, ctx, direct_tls))
        .await
}

/// The framing limits of one connection, from the configuration.
fn link_limits(ctx: &LinkContext) -> LinkLimits {
    LinkLimits::new(
        ctx.config.limits.max_stanza_bytes,
        ctx.config.limits.max_depth,
    )
}

/// Closes a connection over the per-address limit: `<policy-violation/>` (RFC 6120 §4.9.3.17)
/// on the STARTTLS port; on the direct TLS port the socket is closed without a handshake.
pub async fn refuse(tcp: TcpStream, ctx: &LinkContext, direct_tls: bool) {
    if direct_tls {
        return;
    }
    let mut io = Framing::new(Transport::Plain(tcp));
    let domain = ctx.config.default_domain().to_string();
    raw_stream_error(
        &mut io,
        &domain,
        StreamCondition::PolicyViolation,
        "Too many connections from your address",
    )
    .await;
}

struct Negotiation {
    secured: bool,
    /// Whether STARTTLS can be offered (not on a WebSocket, whose TLS is the HTTP server's).
    tls_possible: bool,
    user: Option<BareJid>,
    failed_auths: u32,
    domain: Option<String>,
}

/// How one stream (between restarts) ended.
enum Outcome {
    Restart,
    StartTls,
    Bound { full: FullJid, bind_iq: Element },
    Closed,
}

async fn run(tcp: TcpStream, peer: SocketAddr, ctx: Arc<LinkContext>, direct_tls: bool) {
    let via = if direct_tls { Via::Tls } else { Via::Tcp };
    let _open = ctx.router.metrics.connection(via);
    let negotiation_deadline =
        Instant::now() + Duration::from_secs(ctx.config.limits.negotiation_timeout_secs);
    let transport = if direct_tls {
        match tls_handshake(ctx.as_ref(), tcp, negotiation_deadline, peer).await {
            Some(t) => t,
            None => return,
        }
    } else {
        Transport::Plain(tcp)
    };
    let mut io = Framing::new(transport);
    streams(&mut io, peer, &ctx, direct_tls, via, negotiation_deadline).await;
    io.linger(ctx.config.linger()).await;
}

/// The server side of a TLS handshake (direct TLS or STARTTLS), within the negotiation's
/// deadline; `None` (logged) when it failed. Boxed: the handshake's state is large and must not
/// size the connection's task for the whole session.
async fn tls_handshake(
    ctx: &LinkContext,
    tcp: TcpStream,
    deadline: Instant,
    peer: SocketAddr,
) -> Option<Transport> {
    match tokio::time::timeout_at(deadline, Box::pin(ctx.tls.accept(tcp))).await {
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

/// Serves one XMPP-over-WebSocket connection (RFC 7395): `pipe` carries the client's stream
/// as [`crate::websocket`] translated it. `secured` says whether the HTTP connection counts as
/// encrypted; STARTTLS is never offered here.
pub async fn serve_pipe(
    pipe: tokio::io::DuplexStream,
    peer: SocketAddr,
    ctx: Arc<LinkContext>,
    secured: bool,
) {
    let deadline = Instant::now() + Duration::from_secs(ctx.config.limits.negotiation_timeout_secs);
    let _open = ctx.router.metrics.connection(Via::Websocket);
    LIMITS
        .scope(link_limits(&ctx), async {
            let mut io = Framing::new(Transport::Pipe(pipe));
            streams(&mut io, peer, &ctx, secured, Via::Websocket, deadline).await;
            io.linger(ctx.config.linger()).await;
        })
        .await
}

/// The streams of one connection: each restart after STARTTLS or SASL, then the session.
async fn streams(
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
                let Some(tls) = tls_handshake(ctx, tcp, negotiation_deadline, peer).await else {
                    return;
                };
                io.set_transport(tls);
                state.secured = true;
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
                let domain = ctx.config.default_domain().to_string();
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
        read_timeout: ctx.config.idle_timeout(),
        response_timeout: ctx.config.idle_timeout(),
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
        (None, None) => Some(ctx.config.default_domain().to_string()),
        (None, Some(r)) => ctx.config.domains.iter().find(|d| **d == r).cloned(),
    };
    let header = StreamHeader {
        from: Some(
            domain
                .clone()
                .unwrap_or_else(|| ctx.config.default_domain().into())
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

fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().gen();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

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
            children.push(flag("starttls", ns::TLS, ctx.config.auth.require_tls));
        }
        // RFC 6120 §6.4.1: no <mechanisms/> at all when none is offered.
        let offered = offered_mechanisms(ctx, state);
        if !offered.is_empty() {
            children.push(
                Element::builder("mechanisms", ns::SASL)
                    .append_all(
                        offered
                            .into_iter()
                            .map(|m| Element::builder("mechanism", ns::SASL).append(m).build()),
                    )
                    .build(),
            );
        }
        if ctx.config.auth.registration && auth_allowed(ctx, state) {
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

/// Reads the next top-level element. On a bound stream (`bound` names the client), a silent
/// connection is checked with a ping.
async fn read(xs: &mut Xs<'_>, bound: Option<&FullJid>) -> Result<Element, Stop> {
    loop {
        match inbound(xs.next().await) {
            Inbound::Stanza(el) => return Ok(el),
            Inbound::Ping => {
                if let Some(full) = bound {
                    if xs.send(&keepalive_ping(full)).await.is_err() {
                        return Err(Stop::Gone);
                    }
                }
            }
            Inbound::Stop(stop) => return Err(stop),
        }
    }
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
        let result = match (ns.as_str(), el.name()) {
            (ns::TLS, "starttls")
                if !state.secured && state.tls_possible && state.user.is_none() =>
            {
                if xs.send(&Element::bare("proceed", ns::TLS)).await.is_err() {
                    return Outcome::Closed;
                }
                return Outcome::StartTls;
            }
            (ns::SASL, "auth") if state.user.is_none() => {
                authenticate(xs, state, ctx, domain, el, peer).await
            }
            (ns::JABBER_CLIENT, "iq")
                if state.user.is_none()
                    && ctx.config.auth.registration
                    && el.get_child("query", ns::REGISTER).is_some() =>
            {
                register(xs, state, ctx, domain, &el).await
            }
            (ns::JABBER_CLIENT, "iq") if state.user.is_some() => match bind_request(&el, state) {
                Ok(Some(full)) => return Outcome::Bound { full, bind_iq: el },
                Ok(None) => Ok(None),
                Err(reply) => xs.send(&reply).await.map(|_| None).map_err(|_| Stop::Gone),
            },
            (ns::JABBER_CLIENT, "iq" | "message" | "presence") => Err(close(
                StreamCondition::NotAuthorized,
                if state.user.is_none() {
                    "Authenticate first"
                } else {
                    "Bind a resource first"
                },
            )),
            (ns::JABBER_CLIENT, _) | (ns::TLS, _) | (ns::SASL, _) => Err(close(
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

/// A bound stream: the ResourceActor owns the session; this task moves stanzas between the
/// socket and the actors until either side ends it.
async fn session(
    mut xs: Xs<'_>,
    full: FullJid,
    bind_iq: Element,
    ctx: &LinkContext,
    (peer, via): (SocketAddr, Via),
) {
    let (handle, mut rx) = link_pair(ctx.config.limits.outbound_queue);
    let metrics = &ctx.router.metrics;
    let raw = xs.get_stream().raw_out();
    let bare = full.to_bare();
    let resource = loop {
        let user = ctx.router.user(&bare);
        let addr = ResourceActor::new(
            full.clone(),
            user.clone(),
            ctx.router.clone(),
            handle.clone(),
        )
        .start();
        match user
            .send(Bind {
                full: full.clone(),
                addr: addr.clone(),
                link: handle.clone(),
            })
            .await
        {
            Ok(Ok(())) => break addr,
            // The account's actor was retiring; the router hands out a fresh one.
            _ => continue,
        }
    };
    log::debug!("bound {full}");
    let _listed = ctx.sessions.enter(full.clone(), peer, via, handle.clone());
    let result = Element::builder("bind", ns::BIND)
        .append(Element::builder("jid", ns::BIND).append(full.to_string()))
        .build();
    let reply = stanza::iq_result(&bind_iq, Some(result));
    // Neither is needed again; the session should not hold them for its lifetime.
    drop(bind_iq);
    let sent = xs.send(&reply).await;
    drop(reply);
    let stop = if sent.is_err() {
        Stop::Gone
    } else {
        let limits = &ctx.config.limits;
        let mut rate = StanzaRate::new(limits.stanzas_per_sec, limits.stanza_burst, Instant::now());
        let mut io = Io {
            xs: &mut xs,
            raw: &raw,
            metrics,
        };
        pump(&mut io, &mut rx, &resource, &full, &mut rate).await
    };
    resource.do_send(LinkClosed);
    finish(&mut xs, stop).await;
}

/// The XEP-0199 ping that checks a silent bound stream (built when needed, not kept).
fn keepalive_ping(full: &FullJid) -> Element {
    Element::builder("iq", ns::JABBER_CLIENT)
        .a("type", "get")
        .a("id", "c2s-keepalive")
        .a("from", full.domain().as_str())
        .a("to", full.to_string())
        .append(Element::bare("ping", ns::PING))
        .build()
}

/// A bound stream's writing side, with the counters its stanzas go into.
struct Io<'a, 'x> {
    xs: &'a mut Xs<'x>,
    raw: &'a RawOut,
    metrics: &'a Metrics,
}

impl Io<'_, '_> {
    /// Hands one outbound stanza to the socket. It goes around the XML stream's serialiser,
    /// which only writes the stream's own elements (each flushed as it is sent).
    fn write_out(&mut self, Outbound(xml): Outbound) {
        self.metrics.stanza_out_xml(&xml);
        self.raw.append(xml);
    }

    /// Writes out everything handed over so far (the stream's own buffer, then raw XML).
    async fn flush(&mut self) -> Result<(), ()> {
        SinkExt::<&Element>::flush(self.xs).await.map_err(|_| ())
    }

    /// Writes what else the queue holds, then flushes it all in one go.
    async fn write_queued(&mut self, queue: &mut mpsc::Receiver<Outbound>) -> Result<(), ()> {
        while let Ok(more) = queue.try_recv() {
            self.write_out(more);
        }
        self.flush().await
    }
}

/// The waker the link task reads the socket with: it marks that the read side has something
/// before it wakes the task, so that the turn after an outbound batch does not poll the reader
/// (and its timers) again. The socket and timers keep the last waker they were given until
/// they fire, so a reader left pending stays armed.
struct ReadWake {
    woken: AtomicBool,
    task: std::task::Waker,
}

impl std::task::Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// What woke the link task.
enum Turn {
    Close(StreamClose),
    Out(Outbound),
    In(Option<Result<Stanza, ReadError>>),
}

async fn pump(
    io: &mut Io<'_, '_>,
    rx: &mut LinkReceiver,
    resource: &actix::Addr<ResourceActor>,
    full: &FullJid,
    rate: &mut StanzaRate,
) -> Stop {
    let close = rx.close.requested();
    tokio::pin!(close);
    let task = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    let read_wake = Arc::new(ReadWake {
        woken: AtomicBool::new(true),
        task,
    });
    let read_waker = std::task::Waker::from(read_wake.clone());
    // Set while reading is paused by the stanza rate limit.
    let mut paused: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let mut polled = false;
        let turn = std::future::poll_fn(|cx| {
            // Polled again: the task was woken. If nothing below accounts for it (a TLS write
            // that left the plain task waker with the socket, say), the reader is polled too.
            let woken = std::mem::replace(&mut polled, true);
            if let Poll::Ready(why) = close.poll_unpin(cx) {
                return Poll::Ready(Turn::Close(why));
            }
            if let Poll::Ready(Some(out)) = rx.stanzas.poll_recv(cx) {
                return Poll::Ready(Turn::Out(out));
            }
            if let Some(p) = paused.as_mut() {
                if p.poll_unpin(cx).is_pending() {
                    return Poll::Pending;
                }
                paused = None;
                read_wake.woken.store(true, Ordering::Release);
            }
            if read_wake.woken.swap(false, Ordering::AcqRel) || woken {
                let mut rcx = Context::from_waker(&read_waker);
                if let Poll::Ready(item) = io.xs.poll_next_unpin(&mut rcx) {
                    // More may be buffered already: read again on the next turn.
                    read_wake.woken.store(true, Ordering::Release);
                    return Poll::Ready(Turn::In(item));
                }
            }
            Poll::Pending
        })
        .await;
        match turn {
            Turn::Close(why) => {
                // What was queued before the close was accepted for this client (an iq result,
                // a message): write it first, but never wait long on a client that does not read.
                let drain = io.write_queued(&mut rx.stanzas);
                let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                return Stop::Error(why);
            }
            Turn::Out(out) => {
                // Whatever else is queued goes out in the same flush.
                io.write_out(out);
                if io.write_queued(&mut rx.stanzas).await.is_err() {
                    return Stop::Gone;
                }
            }
            Turn::In(item) => match inbound(item) {
                Inbound::Stanza(el) => {
                    let Some(kind) = stanza::kind(&el) else {
                        return not_a_stanza(&el);
                    };
                    io.metrics.stanza_in(kind);
                    rate.spend();
                    if let Some(until) = rate.wait_until(Instant::now()) {
                        if rate.first_pause() {
                            log::info!(
                                "{full}: over the stanza rate limit; reading paused until it slows down"
                            );
                        }
                        paused = Some(Box::pin(tokio::time::sleep_until(until)));
                    }
                    // Into the resource actor's bounded mailbox; only when it is full does the
                    // link wait (backpressure), so the usual stanza costs no reply channel.
                    match resource.try_send(FromClient(el)) {
                        Ok(()) => {}
                        Err(actix::prelude::SendError::Full(msg)) => {
                            if resource.send(msg).await.is_err() {
                                return Stop::Gone;
                            }
                        }
                        Err(actix::prelude::SendError::Closed(_)) => return Stop::Gone,
                    }
                }
                Inbound::Ping => {
                    // `send` flushes: nothing is left buffered after it.
                    if io.xs.send(&keepalive_ping(full)).await.is_err() {
                        return Stop::Gone;
                    }
                }
                Inbound::Stop(Stop::Footer) => {
                    // RFC 6120 §4.4: what the client sent before its closing tag is answered
                    // before ours.
                    let _ = resource.send(Handled).await;
                    if io.write_queued(&mut rx.stanzas).await.is_err() {
                        return Stop::Gone;
                    }
                    return Stop::Footer;
                }
                Inbound::Stop(stop) => return stop,
            },
        }
    }
}

/// The stream error for a top-level element on a bound stream that is not a stanza.
fn not_a_stanza(el: &Element) -> Stop {
    if el.ns() != ns::JABBER_CLIENT && ["message", "presence", "iq"].contains(&el.name()) {
        close(
            StreamCondition::InvalidNamespace,
            "Stanzas must be in the jabber:client namespace",
        )
    } else {
        close(
            StreamCondition::UnsupportedStanzaType,
            "Only message, presence and iq are allowed after binding",
        )
    }
}
