//! The messages cordial's actors exchange: the protocol of the actor system, in one place.
//!
//! Who talks to whom (see ARCHITECTURE.md for a stanza's whole path):
//!
//! ```text
//! link task     --FromClient, Handled, LinkClosed-------------------> ResourceActor (session)
//! link task     --ToAccount::Bind------------------------------------> UserActor (account)
//! ResourceActor --ToAccount::{Unbind, OwnPresence, OutboundPresence,
//!                 RosterIq, PrivacyIq, CheckOutbound}---------------> UserActor
//! Router        --ToAccount::{Deliver, Broadcast, Subscription,
//!                 CloseAll}------------------------------------------> UserActor
//! admin         --ToAccount::Delete----------------------------------> UserActor
//! UserActor     --ToSession::{Close, Privacy}------------------------> ResourceActor
//! UserActor     --Replace, Remove------------------------------------> PrivacyListActor
//! ```
//!
//! An account's actor is reached as an [`Account`] and a session as a [`Session`] (actix
//! recipients), so that the router and the sessions name no actor type above them.
//!
//! Handlers live with their actors; a stanza delivered to a session's client does not travel
//! as a message but through the session's [`LinkHandle`] queue.

use std::sync::Arc;

use actix::prelude::*;
use cordial_storage::{OutboxKey, PrivacyList, StorageError};
use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use crate::in_order::Ticket;
use crate::link::{LinkHandle, StreamClose};
use crate::privacy::CompiledList;
use crate::xml::SetAttr;

// ---- From a link task to its session (the ResourceActor) ----

/// A stanza the client sent, in order. The link waits when the mailbox is full, which gives
/// backpressure.
///
/// A stanza is processed only once what the client's earlier stanzas started elsewhere is done
/// (RFC 6120 §10.1): the actor waits, and with it the link once this mailbox is full. So a
/// session never has more than one stanza of its own in its UserActor's mailbox, however fast
/// the client sends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromClient(pub Element);

/// Answered once the actor has handled everything sent to it before (its mailbox is FIFO) and
/// what that started elsewhere is done: the link waits for it before answering a client's
/// closing stream tag.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Handled;

/// The link task has ended: the socket is gone, cleanly or not.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LinkClosed;

// ---- From the account to a session ----

/// What an account's actor tells one of its sessions.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ToSession {
    /// Close the stream with a stream error (conflict, account deleted, shutdown).
    Close(StreamClose),
    /// The privacy list that now applies to the session (published whenever it changes).
    Privacy(Option<Arc<CompiledList>>),
}

/// How an account's actor reaches a session.
pub type Session = Recipient<ToSession>;

// ---- To an account (the UserActor): from the router, its sessions and the admin API ----

/// Everything an account's actor is asked. Only [`ToAccount::Bind`] can fail: with
/// [`Retired`] when the actor is retiring, so that the caller asks the router again.
#[derive(Message)]
#[rtype(result = "Result<(), Retired>")]
pub enum ToAccount {
    // From the router: stanzas for the account and presence broadcasts to it.
    Deliver(Deliver),
    Broadcast(DeliverBroadcast),
    Subscription(DeliverSubscription),
    CloseAll(CloseAll),
    // From a session of the account (the link task sends Bind).
    Bind(Bind),
    Unbind(Unbind),
    OwnPresence(OwnPresence),
    OutboundPresence(OutboundPresence),
    RosterIq(RosterIq),
    PrivacyIq(PrivacyIq),
    CheckOutbound(CheckOutbound),
    // From the admin API.
    Delete(DeleteAccount),
}

/// How the router and the sessions reach an account's actor.
pub type Account = Recipient<ToAccount>;

// ---- From a session to its account (in [`ToAccount`]) ----

/// A link has bound `full` (RFC 6120 §7). Replies `Err(Retired)` when this actor is retiring,
/// so that the caller asks the router again.
pub struct Bind {
    pub full: FullJid,
    pub session: Session,
    pub link: LinkHandle,
}

#[derive(Debug)]
pub struct Retired;

/// A resource's link went away (logout or abrupt disconnect).
pub struct Unbind {
    pub full: FullJid,
    pub session: Session,
}

/// Presence without `to` from one of the account's resources.
pub struct OwnPresence {
    pub full: FullJid,
    pub presence: Element,
    pub ticket: Ticket,
}

/// Presence with a `to` from one of the account's resources (directed presence and
/// subscription stanzas), already stamped with the resource's full JID.
pub struct OutboundPresence {
    pub full: FullJid,
    /// Its `to`, as the session classified it (a user's bare or full JID, local or remote).
    pub to: Jid,
    pub presence: Element,
    pub ticket: Ticket,
}

/// A roster iq from one of the account's own resources (no `to`, or the account's bare JID).
pub struct RosterIq {
    pub full: FullJid,
    pub iq: Element,
    pub ticket: Ticket,
}

/// A privacy list (XEP-0016) or blocking command (XEP-0191) iq from one of the account's own
/// resources.
pub struct PrivacyIq {
    pub full: FullJid,
    pub iq: Element,
    pub ticket: Ticket,
}

/// A message or iq from one of the account's resources whose privacy list needs the roster to
/// decide whether the user may send it (XEP-0016 §2.13).
pub struct CheckOutbound {
    pub stanza: Element,
    /// As the session classified it.
    pub kind: crate::stanza::Kind,
    pub target: crate::stanza::Target,
    /// The sending resource.
    pub resource: String,
    pub ticket: Ticket,
}

// ---- From the router to an account (in [`ToAccount`]) ----

/// A stanza addressed to this account (its bare JID or one of its full JIDs), already stamped
/// with the sender's `from`.
pub struct Deliver {
    pub stanza: Element,
    /// What the router classified it as: its kind, and the resource its `to` names (`None`:
    /// the bare JID), so that nobody parses it again.
    pub kind: crate::stanza::Kind,
    pub resource: Option<Box<str>>,
    /// When the router took it, for the routing-latency metric.
    pub routed_at: std::time::Instant,
    /// The sending client's, when a client's stanza brought it here.
    pub ticket: Option<Ticket>,
}

/// A resource's presence broadcast to its subscribed contacts (RFC 6121 §4.2.2, §4.4.2,
/// §4.5.2), serialised once for all of them: each recipient only adds its own `to`.
#[derive(Debug)]
pub struct SharedPresence {
    /// The sending resource.
    pub from: FullJid,
    /// The stanza with `from` and without `to`.
    pub element: Element,
    /// `element` serialised, beginning with `<presence`.
    xml: String,
}

impl SharedPresence {
    pub fn new(from: FullJid, mut element: Element) -> Arc<Self> {
        element.set("from", from.to_string());
        element.unset("to");
        let xml = crate::xml::serialize(&element);
        Arc::new(SharedPresence { from, element, xml })
    }

    /// The stanza addressed to `to`, as an element.
    pub fn addressed(&self, to: &str) -> Element {
        let mut p = self.element.clone();
        p.set("to", to.to_string());
        p
    }

    /// The stanza addressed to `to`, serialised (for [`crate::link::Outbound`]).
    pub fn xml_to(&self, to: &str) -> String {
        let rest = self.xml.strip_prefix("<presence").unwrap_or(&self.xml);
        let mut out = String::with_capacity(self.xml.len() + to.len() + 8);
        out.push_str("<presence to=\"");
        crate::xml::push_escaped(&mut out, to);
        out.push('"');
        out.push_str(rest);
        out
    }
}

/// A [`SharedPresence`] for this account's available resources, with the sending client's
/// ticket when a client's stanza caused it (RFC 6120 §10.1, see [`crate::in_order`]).
pub struct DeliverBroadcast(pub Arc<SharedPresence>, pub Option<Ticket>);

/// A subscription stanza from a local account, carried by its outbox entry `key` (see
/// [`cordial_storage::OutboxKey`]).
pub struct DeliverSubscription {
    /// The sender's bare JID, read once from the stanza by the router.
    pub from: BareJid,
    pub stanza: Element,
    pub key: OutboxKey,
    /// The sending client's, when a client's stanza brought it here.
    pub ticket: Option<Ticket>,
}

/// Closes every session of the account (the server shutting down).
pub struct CloseAll(pub StreamClose);

// ---- From the admin API to an account (in [`ToAccount`]) ----

/// Deletes the account and everything stored for it, then closes its sessions with
/// `<not-authorized/>`. Done by the UserActor so that no roster write of the account can
/// interleave with the deletion, and so that what it holds in memory goes with it.
/// `Ok(false)` if there was no such account.
pub struct DeleteAccount {
    pub reply: tokio::sync::oneshot::Sender<cordial_storage::Result<bool>>,
}

// ---- From an account to one of its privacy lists (XEP-0016) ----

/// Creates or replaces the list; the reply comes once it is on disk.
#[derive(Message)]
#[rtype(result = "Result<Arc<CompiledList>, StorageError>")]
pub struct Replace(pub PrivacyList);

/// Removes the list (and the account's default, if it was the default); the reply comes once
/// that is on disk. Answers whether the list existed.
#[derive(Message)]
#[rtype(result = "Result<bool, StorageError>")]
pub struct Remove;
