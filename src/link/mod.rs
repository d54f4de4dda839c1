//! The link: one task per client connection, holding its network side (socket, TLS, XML stream,
//! limits) and the negotiation of RFC 6120 until the bound stream is handed to a
//! [`ResourceActor`](cordial_actors::session::ResourceActor), which holds the session's state.
//!
//! In the order a connection meets them:
//!
//! - `framing`: transport (TCP, TLS, WebSocket pipe) and the byte-level limits;
//! - `parser`: stanzas from XML events, with the size and depth limits;
//! - `negotiation`: the streams of one connection, their headers and features, STARTTLS
//!   (RFC 6120 §4–§5);
//! - `auth` and `sasl`: SASL negotiation on the stream and the mechanisms behind it (§6),
//!   with `throttle` against guessing;
//! - `register`: in-band registration before authentication (XEP-0077 §3.1);
//! - `bind`: resource binding and the legacy session (RFC 6120 §7, RFC 3921 §3);
//! - `pump`: the bound session, with its stanza `rate` limit;
//! - `close`: the closing handshake and stream errors (RFC 6120 §4.4, §4.9);
//! - `ns`: the namespaces all of these use.

mod auth;
mod bind;
pub mod channel_binding;
pub(crate) mod close;
pub mod connections;
pub mod detach;
pub mod framing;
pub(crate) mod negotiation;
mod ns;
pub mod parser;
mod pump;
pub mod rate;
mod register;
pub mod sasl;
mod stream;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cordial_actors::link::StreamCondition;
use cordial_actors::metrics::Transport as Via;
use cordial_actors::Router;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_xmpp::xmlstream::XmlStream;

use crate::config::Config;
use close::raw_stream_error;
use framing::{Framing, LinkLimits, Transport, LIMITS};
use negotiation::{streams, tls_handshake};
use parser::Stanza;

/// What every link of one server shares.
pub struct LinkContext {
    /// The configuration in force; replaced whole by a reload (see [`LinkContext::config`]).
    pub config: arc_swap::ArcSwap<Config>,
    pub router: Arc<Router>,
    pub sasl: sasl::Sasl,
    pub tls: crate::tls::Tls,
    pub throttle: throttle::Throttle,
    pub connections: connections::Connections,
    pub sessions: crate::sessions::Sessions,
    /// What becomes of a session whose connection ends (see [`detach`]).
    pub detach: Box<dyn detach::Detach>,
}

impl LinkContext {
    /// The configuration in force now. A connection reads it where it needs a value, so a
    /// reload applies to connections already open from their next step on.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }
}

/// The XML stream of one connection, read as [`Stanza`]s.
type Xs<'a> = XmlStream<&'a mut Framing, Stanza>;

/// Serves one client connection until it ends.
pub async fn serve(tcp: TcpStream, peer: SocketAddr, ctx: Arc<LinkContext>, direct_tls: bool) {
    let _ = tcp.set_nodelay(true);
    LIMITS
        .scope(link_limits(&ctx), run(tcp, peer, ctx, direct_tls))
        .await
}

/// The framing limits of one connection, from the configuration.
pub(crate) fn link_limits(ctx: &LinkContext) -> LinkLimits {
    LinkLimits::new(
        ctx.config().limits.max_stanza_bytes,
        ctx.config().limits.max_depth,
    )
}

/// Closes a connection over the per-address limit: `<policy-violation/>` (RFC 6120 §4.9.3.17)
/// on the STARTTLS port; on the direct TLS port the socket is closed without a handshake.
pub async fn refuse(tcp: TcpStream, ctx: &LinkContext, direct_tls: bool) {
    if direct_tls {
        return;
    }
    let mut io = Framing::new(Transport::Plain(tcp));
    let domain = ctx.config().default_domain().to_string();
    raw_stream_error(
        &mut io,
        &domain,
        StreamCondition::PolicyViolation,
        "Too many connections from your address",
    )
    .await;
}

/// One TCP connection: the TLS handshake first on the direct TLS port, then its streams, then
/// a lingering close.
async fn run(tcp: TcpStream, peer: SocketAddr, ctx: Arc<LinkContext>, direct_tls: bool) {
    let via = if direct_tls { Via::Tls } else { Via::Tcp };
    let _open = ctx.router.metrics.connection(via);
    let negotiation_deadline =
        Instant::now() + Duration::from_secs(ctx.config().limits.negotiation_timeout_secs);
    let transport = if direct_tls {
        match tls_handshake(ctx.as_ref(), tcp, negotiation_deadline, peer, true).await {
            Some(t) => t,
            None => return,
        }
    } else {
        Transport::Plain(tcp)
    };
    let mut io = Framing::new(transport);
    streams(&mut io, peer, &ctx, direct_tls, via, negotiation_deadline).await;
    io.linger(ctx.config().linger()).await;
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
    let deadline =
        Instant::now() + Duration::from_secs(ctx.config().limits.negotiation_timeout_secs);
    let _open = ctx.router.metrics.connection(Via::Websocket);
    LIMITS
        .scope(link_limits(&ctx), async {
            let mut io = Framing::new(Transport::Pipe(pipe));
            streams(&mut io, peer, &ctx, secured, Via::Websocket, deadline).await;
            io.linger(ctx.config().linger()).await;
        })
        .await
}

/// A random identifier: stream ids and generated resourceparts.
pub(crate) fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().gen();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
