//! The state one connection's negotiation carries across its stream restarts, how a stream
//! ends, and reading the next element: what the negotiation (`negotiation.rs`) and its steps
//! (`auth.rs`, `register.rs`) share, below all of them.

use futures::{SinkExt, StreamExt};
use jid::{BareJid, FullJid};
use minidom::Element;

use super::channel_binding::ChannelBindings;
use super::close::{inbound, Inbound, Stop};
use super::pump::keepalive_ping;
use super::{LinkContext, Xs};

/// How far one connection's negotiation has come, across its stream restarts.
pub(super) struct Negotiation {
    /// Whether the transport is encrypted (TLS, or a WebSocket the HTTP server counts as such).
    pub(super) secured: bool,
    /// Whether STARTTLS can be offered (not on a WebSocket, whose TLS is the HTTP server's).
    pub(super) tls_possible: bool,
    /// What SCRAM-*-PLUS can bind to: this connection's TLS, once it has it.
    pub(super) bindings: ChannelBindings,
    /// The account authenticated by SASL.
    pub(super) user: Option<BareJid>,
    /// Failed SASL attempts on this connection, against `auth.max_attempts`.
    pub(super) failed_auths: u32,
    /// The domain the first stream was accepted for; a later header naming another one is
    /// answered `<host-unknown/>`.
    pub(super) domain: Option<String>,
}

impl Negotiation {
    /// May this stream authenticate (or register) yet? Only once it is encrypted, unless the
    /// operator switched the requirement off (`auth.require_tls`).
    pub(super) fn auth_allowed(&self, ctx: &LinkContext) -> bool {
        self.secured || !ctx.config().auth.require_tls
    }
}

/// How one stream (between restarts) ended.
pub(super) enum Outcome {
    Restart,
    StartTls,
    Bound { full: FullJid, bind_iq: Element },
    Closed,
}

/// Reads the next top-level element. On a bound stream (`bound` names the client), a silent
/// connection is checked with a ping.
pub(super) async fn read(xs: &mut Xs<'_>, bound: Option<&FullJid>) -> Result<Element, Stop> {
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
