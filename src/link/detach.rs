//! What becomes of a bound session when its connection ends.
//!
//! Today the session ends with its connection (RFC 6120 §4.4): its actor is told the link is
//! gone, and the account sends unavailable presence for it (RFC 6121 §4.6.1). XEP-0198
//! resumption will keep a resumable session *detached* instead: its [`ResourceActor`] and its
//! outbound queue ([`LinkReceiver`]) live on for the resumption timeout, what the actors send
//! meanwhile waits in the queue (bounded, as always), and a new stream that resumes takes both
//! over and goes on pumping. [`Detach`] is where that rule plugs in; nothing else in the link
//! or the actors needs to know whether a session has a connection.

use actix::Addr;
use cordial_actors::link::LinkReceiver;
use cordial_actors::protocol::LinkClosed;
use cordial_actors::session::ResourceActor;
use jid::FullJid;

/// Decides the fate of a session whose connection has ended.
pub trait Detach: Send + Sync {
    /// The connection of `full` is gone; `session` is its actor and `outbound` the queue of
    /// what the actors send it.
    fn link_lost(&self, full: &FullJid, session: Addr<ResourceActor>, outbound: LinkReceiver);
}

/// Today's rule: a session ends with its connection.
pub struct EndWithConnection;

impl Detach for EndWithConnection {
    fn link_lost(&self, full: &FullJid, session: Addr<ResourceActor>, outbound: LinkReceiver) {
        log::debug!("{full}: connection gone, session ends");
        // What was queued for the client and not written goes with the connection.
        drop(outbound);
        session.do_send(LinkClosed);
    }
}
