//! UserActor: one per account in use.
//!
//! It is the single owner of the account's sessions (bound resources, their availability and
//! priority) and of its offline queue, and applies the delivery rules of RFC 6121 §8 to every
//! stanza addressed to the account. Spawned on demand by the [`Router`]; when the account has had
//! no session for `user_idle` it takes itself out of the router's table, forwards anything that
//! still reaches it for a grace period, then stops.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use cordial_storage::SharedStorage;
use jid::{BareJid, FullJid};
use minidom::Element;

use crate::delivery::view::Delivery;
use crate::error::{self, RequestError};
use crate::in_order::Ticket;
use crate::link::{LinkHandle, StreamClose, StreamCondition};
use crate::privacy::Direction;
use crate::protocol::{
    Bind, CheckOutbound, CloseAll, DeleteAccount, Deliver, DeliverBroadcast, DeliverSubscription,
    OutboundPresence, OwnPresence, PrivacyIq, Retired, RosterIq, ToAccount, ToSession, Unbind,
};
use crate::roster::RosterState;
use crate::router::Router;
use crate::stanza::{self, Target};
use crate::subscription::SubType;

/// How long a retired UserActor keeps forwarding stanzas that were already on their way to it
/// (at most the idle time itself).
const RETIRE_GRACE: Duration = Duration::from_secs(10);

/// One bound resource of the account.
pub(crate) struct Session {
    pub(crate) session: crate::protocol::Session,
    /// The connection's outbound queue: stanzas for the client go straight into it (in the
    /// order this actor sends them) rather than through the ResourceActor's mailbox.
    pub(crate) link: LinkHandle,
    pub(crate) full: FullJid,
    /// Whether the resource has sent available presence (RFC 6121 §1.4 "available resource").
    pub(crate) available: bool,
    pub(crate) priority: i8,
    /// Whether the resource has requested the roster (RFC 6121 §2.1.6 "interested resource").
    pub(crate) interested: bool,
    /// The resource's current available presence (what probes are answered with).
    pub(crate) presence: Option<Element>,
    /// Entities that got directed presence from this resource (RFC 6121 §4.6), told when it
    /// becomes unavailable.
    pub(crate) directed: HashSet<String>,
    /// The session's active privacy list (XEP-0016), if it chose one.
    pub(crate) active: Option<Arc<crate::privacy::CompiledList>>,
    /// Whether the session asked for the blocklist (XEP-0191 §3.1): it gets block pushes.
    pub(crate) blocklist: bool,
}

pub struct UserActor {
    pub(crate) bare: BareJid,
    pub(crate) router: Arc<Router>,
    /// The account's storage, handed over when the actor starts.
    pub(crate) store: SharedStorage,
    pub(crate) sessions: HashMap<String, Session>,
    /// The roster, read when the actor starts and kept while it runs.
    pub(crate) roster: RosterState,
    /// The store generation the roster was read in: after the store is reopened (recovery
    /// from a failed disk) it is read again, since changes that were answered with an error
    /// may or may not have been kept.
    roster_generation: u64,
    /// Contacts whose server answered presence with an error: no more broadcasts to them
    /// until the user is next offline.
    pub(crate) presence_errors: HashSet<String>,
    /// When the last available resource went offline (for probes, RFC 6121 §4.3.2).
    pub(crate) last_unavailable: Option<String>,
    idle: Option<SpawnHandle>,
    pub(crate) retired: bool,
    /// Whether the account exists, read from the store the first time it matters and set to
    /// `false` by a deletion: nothing is ever stored for an account that does not exist.
    exists: Option<bool>,
    /// Privacy lists: the default list's snapshot and the lists' writers.
    pub(crate) privacy: PrivacyState,
    /// What the router may deliver without this actor (see [`crate::delivery::view`]).
    delivery: Arc<Delivery>,
    /// The message being handled, while it or the work it started runs (see [`Turn`]).
    turn: Option<Rc<Turn>>,
}

/// The account's privacy state as the UserActor holds it.
#[derive(Default)]
pub(crate) struct PrivacyState {
    pub(crate) loaded: bool,
    /// The default list, compiled; `None` when the account has none.
    pub(crate) default: Option<Arc<crate::privacy::CompiledList>>,
    /// The writer of each list this actor has changed, by name.
    pub(crate) writers: HashMap<String, Addr<crate::privacy::list_actor::PrivacyListActor>>,
    /// Privacy list pushes sent (their ids).
    pub(crate) pushes: u64,
}

/// What the message being handled holds until it is done, including the durable writes and
/// other waits it started (which run after its handler has returned): the sending client's
/// [`Ticket`] (RFC 6120 §10.1, see [`crate::in_order`]), handed on to whatever it routes to
/// other local accounts, and the router's count of stanzas queued in this mailbox (see
/// [`crate::delivery::view`]). Both are released when the last piece of the work drops its reference.
struct Turn {
    ticket: Option<Ticket>,
    counted: Option<Arc<Delivery>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(d) = &self.counted {
            d.done();
        }
    }
}

/// The account's roster and pending inbound requests as stored.
fn load_roster(
    store: &dyn cordial_storage::Storage,
    bare: &BareJid,
) -> cordial_storage::Result<RosterState> {
    let stored = store.roster(bare.as_str())?;
    let inbox = store.inbox(bare.as_str())?;
    Ok(RosterState::new(stored, inbox))
}

/// Starts the actor of account `bare` on `arbiter` (the router's [`crate::router::SpawnAccount`]).
pub fn spawn(
    router: &Arc<Router>,
    bare: &BareJid,
    delivery: Arc<Delivery>,
    arbiter: &ArbiterHandle,
) -> crate::protocol::Account {
    start(router, bare, delivery, arbiter).recipient()
}

/// [`spawn`], giving back the actor's typed address (for tests that use its test hooks).
pub(crate) fn start(
    router: &Arc<Router>,
    bare: &BareJid,
    delivery: Arc<Delivery>,
    arbiter: &ArbiterHandle,
) -> Addr<UserActor> {
    let (r, b, s) = (router.clone(), bare.clone(), router.store.clone());
    UserActor::start_in_arbiter(arbiter, move |_| UserActor::new(b, r, s, delivery))
}

impl UserActor {
    pub fn new(
        bare: BareJid,
        router: Arc<Router>,
        store: SharedStorage,
        delivery: Arc<Delivery>,
    ) -> Self {
        // Read when the actor starts; if that fails (the store is refusing), it is read again
        // at the next message (generation 0 is never live).
        let generation = store.generation();
        let (roster, roster_generation) = match load_roster(&*store, &bare) {
            Ok(r) => (r, generation),
            Err(e) => {
                error::log_storage(format_args!("reading the roster of {bare}"), &e);
                (RosterState::default(), 0)
            }
        };
        UserActor {
            bare,
            router,
            store,
            sessions: HashMap::new(),
            roster,
            roster_generation,
            presence_errors: HashSet::new(),
            last_unavailable: None,
            idle: None,
            retired: false,
            exists: None,
            privacy: Default::default(),
            delivery,
            turn: None,
        }
    }

    /// Starts handling a message: `ticket` is the sending client's, `counted` whether the
    /// router counted it with [`Delivery::queued`]. Ended by [`Self::end_turn`].
    fn begin_turn(&mut self, ticket: Option<Ticket>, counted: bool) {
        if self.roster_generation != self.store.generation() {
            self.roster_current();
        }
        self.turn = Some(Rc::new(Turn {
            ticket,
            counted: counted.then(|| self.delivery.clone()),
        }));
    }

    /// The handler has returned; what it holds is released once the waits it started are
    /// done too.
    fn end_turn(&mut self) {
        self.turn = None;
    }

    /// The sending client's ticket, for what this message hands on to other actors.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        self.turn.as_ref().and_then(|t| t.ticket.clone())
    }

    /// Routes a stanza as part of the message being handled.
    pub(crate) fn route(&self, stanza: Element) {
        self.router.route_with(stanza, self.ticket());
    }

    /// Waits for `fut` before this actor handles anything else, then runs `then` as part of
    /// the same turn (what it routes carries the same ticket; the turn ends after it).
    ///
    /// Use this rather than `ctx.wait` for the work of a message: actix runs the most recent
    /// wait first, so only what holds the turn itself keeps it until the work is done.
    pub(crate) fn wait_in_turn<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        fut: impl ActorFuture<Self, Output = T> + 'static,
        then: impl FnOnce(T, &mut Self, &mut Context<Self>) + 'static,
    ) {
        let turn = self.turn.clone();
        ctx.wait(fut.map(move |out, act, ctx| {
            let outer = std::mem::replace(&mut act.turn, turn);
            then(out, act, ctx);
            act.turn = outer;
        }));
    }

    /// Publishes the sessions as they are now for the router's shortcut (see [`crate::delivery::view`]). Call
    /// after every change to the sessions, their availability or priority, or the privacy
    /// lists that apply to them, before acting on the change.
    pub(crate) fn publish_view(&self) {
        let view = self.view_now();
        self.delivery.publish(view);
    }

    fn view_now(&self) -> Option<crate::delivery::view::View> {
        if self.retired || !self.privacy.loaded {
            return None;
        }
        let mut sessions = Vec::with_capacity(self.sessions.len());
        for (r, s) in &self.sessions {
            let list = self.effective_list(r);
            if list.as_ref().is_some_and(|l| l.needs_roster()) {
                return None;
            }
            sessions.push(crate::delivery::view::ViewSession {
                resource: r.as_str().into(),
                link: s.link.clone(),
                available: s.available,
                priority: s.priority,
                list,
            });
        }
        let default = self.privacy.default.clone();
        if default.as_ref().is_some_and(|l| l.needs_roster()) {
            return None;
        }
        Some(crate::delivery::view::View { sessions, default })
    }

    /// The account's roster, read again if the store was reopened since it was read (or if
    /// reading it failed when the actor started).
    pub(crate) fn roster(&mut self) -> cordial_storage::Result<&mut RosterState> {
        let generation = self.store.generation();
        if self.roster_generation != generation {
            self.roster = load_roster(&*self.store, &self.bare)?;
            self.roster_generation = generation;
        }
        Ok(&mut self.roster)
    }

    /// Sends `el` to one of the account's sessions, if it is still bound.
    pub(crate) fn reply_to(&self, resource: &str, el: Element) {
        if let Some(s) = self.sessions.get(resource) {
            s.link.send(el);
        }
    }

    /// The one way a refused or failed request of `resource` is answered: logged once, and
    /// answered with the stanza error it maps to (RFC 6120 §8.3, [`RequestError::answer`]).
    pub(crate) fn refuse(&self, resource: &str, request: &Element, e: RequestError) {
        if let Some(reply) = e.reply(request, &self.bare) {
            self.reply_to(resource, reply);
        }
    }

    /// Answers `req` with a result, carrying `payload` if any (RFC 6120 §8.2.3).
    pub(crate) fn answer(&self, req: &Request, payload: Option<Element>) {
        self.reply_to(&req.resource, stanza::iq_result(&req.iq, payload));
    }

    /// Answers `req` with the error `e` maps to (see [`Self::refuse`]).
    pub(crate) fn refuse_request(&self, req: &Request, e: RequestError) {
        self.refuse(&req.resource, &req.iq, e);
    }

    /// Answers a request whose handler failed; one that succeeded has answered (or will,
    /// once what it wrote is durable) on its own.
    fn answered(&self, req: &Request, done: error::Result<()>) {
        if let Err(e) = done {
            self.refuse_request(req, e);
        }
    }

    /// [`Self::roster`] for a request, which a store that cannot be read refuses.
    pub(crate) fn roster_or_refuse(&mut self) -> error::Result<&mut RosterState> {
        self.roster()
            .map_err(|e| RequestError::storage("reading the roster", e))
    }

    /// [`Self::roster`] for a step that answers no one: a store that cannot be read is logged,
    /// and the step learns whether the roster it holds is current.
    pub(crate) fn roster_current(&mut self) -> bool {
        let Err(e) = self.roster() else {
            return true;
        };
        error::log_storage(format_args!("reading the roster of {}", self.bare), &e);
        false
    }

    pub(crate) fn available(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values().filter(|s| s.available)
    }

    /// Makes the account's writes durable (group commit) before this actor handles anything
    /// else, then runs `then`: nothing is acknowledged before it is on disk.
    pub(crate) fn flush_then(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, cordial_storage::Result<()>) + 'static,
    ) {
        let store = self.store.clone();
        self.wait_in_turn(
            ctx,
            async move { store.flush().await }.into_actor(self),
            move |flushed, act, _| then(act, flushed),
        );
    }

    fn arm_idle_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        if !self.sessions.is_empty() {
            return;
        }
        let idle = self.router.config().user_idle;
        self.idle = Some(ctx.run_later(idle, move |act, ctx| {
            if act.sessions.is_empty() {
                act.retire(ctx);
            }
        }));
    }

    /// Takes the actor out of the router's table: stanzas that still reach it are routed again
    /// (to a new actor, or answered as for a missing account), and it stops after a grace
    /// period.
    fn retire(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        self.retired = true;
        self.publish_view();
        self.router.retire(&self.bare, &ctx.address().recipient());
        let grace = RETIRE_GRACE.min(self.router.config().user_idle);
        ctx.run_later(grace, |_, ctx| ctx.stop());
    }

    /// Whether the account exists (see [`Self::exists`]). A failed read counts as existing:
    /// the write that follows would fail the same way and be answered with an error.
    fn account_exists(&mut self) -> bool {
        if let Some(e) = self.exists {
            return e;
        }
        match self.store.account_exists(self.bare.as_str()) {
            Ok(e) => *self.exists.insert(e),
            Err(e) => {
                error::log_storage(format_args!("looking up the account {}", self.bare), &e);
                true
            }
        }
    }

    /// Forwards a stanza that reached a retired actor to the account's current actor.
    fn forward(&self, stanza: Element) {
        self.route(stanza);
    }
}

/// An iq get or set of one of the account's own resources: who asked and what, kept together
/// until it is answered.
#[derive(Clone)]
pub(crate) struct Request {
    pub resource: String,
    pub iq: Element,
}

impl Request {
    fn of(full: &FullJid, iq: Element) -> Self {
        Request {
            resource: full.resource().to_string(),
            iq,
        }
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        log::debug!("user actor for {} started", self.bare);
        self.arm_idle_timer(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // However it stopped, nothing may be delivered past it any more.
        self.delivery.publish(None);
        log::debug!("user actor for {} stopped", self.bare);
    }
}

impl UserActor {
    fn on_bind(&mut self, msg: Bind, ctx: &mut Context<Self>) -> Result<(), Retired> {
        if self.retired {
            return Err(Retired);
        }
        let resource = msg.full.resource().to_string();
        // RFC 6120 §7.7.2.2 / RFC 3921 §3 case #1: the new session wins, the old one is closed
        // with <conflict/> and goes unavailable.
        self.went_away(&resource);
        let new = Session {
            session: msg.session,
            link: msg.link,
            full: msg.full,
            available: false,
            priority: 0,
            interested: false,
            presence: None,
            directed: HashSet::new(),
            active: None,
            blocklist: false,
        };
        let msg_resource = resource.clone();
        if let Some(old) = self.sessions.insert(resource, new) {
            log::info!(
                "{} bound again; closing the older session with <conflict/>",
                old.full
            );
            old.session.do_send(ToSession::Close(StreamClose::new(
                StreamCondition::Conflict,
                "Replaced by a new session for the same resource".to_string(),
            )));
        }
        self.privacy_loaded();
        self.publish_view();
        if let Some(d) = &self.privacy.default {
            let s = &self.sessions[msg_resource.as_str()];
            s.session.do_send(ToSession::Privacy(Some(d.clone())));
        }
        self.arm_idle_timer(ctx);
        Ok(())
    }
}

impl UserActor {
    fn on_unbind(&mut self, msg: Unbind, ctx: &mut Context<Self>) {
        let resource = msg.full.resource().as_str();
        let ours = self
            .sessions
            .get(resource)
            .is_some_and(|s| s.session == msg.session);
        if !ours {
            return;
        }
        // RFC 6121 §4.6.1: unavailable also on an abrupt disconnect.
        self.went_away(resource);
        self.sessions.remove(resource);
        self.publish_view();
        self.arm_idle_timer(ctx);
    }
}

impl UserActor {
    fn on_deliver(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        if self.retired {
            self.forward(msg.stanza);
        } else if !self.account_exists() {
            // Deleted, or never was (an actor started just before a deletion): RFC 6121 §8.5.1.
            self.router.process_to_nonexistent_account(&msg.stanza);
        } else {
            self.deliver(msg.stanza, msg.kind, msg.resource.as_deref(), ctx);
            self.router.metrics.routed(msg.routed_at);
        }
    }
}

impl UserActor {
    fn on_deliver_subscription(&mut self, msg: DeliverSubscription, ctx: &mut Context<Self>) {
        if self.retired {
            self.router
                .route_subscription(msg.stanza, msg.key, self.ticket());
        } else if !self.account_exists() {
            self.router
                .subscription_to_missing_account(&msg.stanza, &msg.key);
        } else {
            match SubType::parse(stanza::stanza_type(&msg.stanza)) {
                Some(t) => {
                    let key = Some(msg.key);
                    self.process_inbound_subscription(t, msg.from, msg.stanza, key, ctx)
                }
                None => log::error!("a non-subscription stanza came through the outbox"),
            }
        }
    }
}

impl UserActor {
    fn on_check_outbound(&mut self, msg: CheckOutbound, _: &mut Context<Self>) {
        let CheckOutbound {
            stanza,
            kind,
            target,
            resource,
            ticket,
        } = msg;
        // The session classified `to` (normalised); the list compares its text.
        let to = match &target {
            Target::Bare(b) => Some(b.to_string()),
            Target::Full(f) => Some(f.to_string()),
            Target::Remote(j) | Target::Host(j) => Some(j.to_string()),
            Target::None => None,
        };
        self.privacy_ready();
        if self.allows(Some(&resource), Direction::Outbound, to.as_deref()) {
            return self.router.route_to(stanza, kind, target, Some(ticket));
        }
        if let Some(e) = crate::privacy::blocked_error(&stanza) {
            self.reply_to(&resource, e);
        }
    }
}

impl UserActor {
    fn on_close_all(&mut self, msg: CloseAll, _: &mut Context<Self>) {
        for s in self.sessions.values() {
            s.session.do_send(ToSession::Close(msg.0.clone()));
        }
    }
}

impl UserActor {
    /// Deletes the account (see [`DeleteAccount`]). Nothing else this actor handles (a stanza
    /// to store, a roster write) can interleave with the deletion: the mailbox waits for it.
    fn on_delete(&mut self, msg: DeleteAccount, ctx: &mut Context<Self>) {
        let reply = msg.reply;
        let deletion = self.deletion().map(move |result, _, _| {
            let _ = reply.send(result);
        });
        ctx.wait(deletion);
    }

    fn deletion(&mut self) -> actix::fut::LocalBoxActorFuture<Self, cordial_storage::Result<bool>> {
        // Unsubscribe every contact first (RFC 6121 §2.5.2 for each item), durably, so that
        // the cancellations reach them even if the server stops during the deletion.
        let removals = match self.write_all_removals() {
            Ok(r) => r,
            Err(e) => return Box::pin(actix::fut::ready(Err(e))),
        };
        let store = self.store.clone();
        let bare = self.bare.clone();
        Box::pin(
            async move {
                store.flush().await?;
                Ok(())
            }
            .into_actor(self)
            .then(move |flushed: cordial_storage::Result<()>, act, _| {
                let deleted = flushed.and_then(|()| {
                    for r in removals {
                        act.finish_removal(r);
                    }
                    act.roster = RosterState::default();
                    act.roster_generation = 0;
                    act.store.delete_account(bare.as_str())
                });
                let store = act.store.clone();
                async move {
                    let deleted = deleted?;
                    store.flush().await?;
                    Ok(deleted)
                }
                .into_actor(act)
            })
            .map(|result, act, ctx| {
                if result.is_ok() {
                    // Nothing of the account stays with this actor, and nothing reaches it
                    // any more: stanzas for the JID are answered as for a missing account
                    // until it is registered again (by then with a fresh actor).
                    act.exists = Some(false);
                    act.privacy = Default::default();
                    act.presence_errors.clear();
                    act.retire(ctx);
                }
                for s in act.sessions.values() {
                    s.session.do_send(ToSession::Close(StreamClose::new(
                        StreamCondition::NotAuthorized,
                        "The account has been deleted".to_string(),
                    )));
                }
                result
            }),
        )
    }
}

impl Handler<ToAccount> for UserActor {
    type Result = Result<(), Retired>;

    /// A message that carries a stanza is one turn (see `begin_turn`): a client's
    /// own request, or a stanza the router counted into this account's delivery view.
    fn handle(&mut self, msg: ToAccount, ctx: &mut Context<Self>) -> Self::Result {
        match msg {
            ToAccount::Deliver(mut m) => {
                self.begin_turn(m.ticket.take(), true);
                self.on_deliver(m, ctx);
            }
            ToAccount::Broadcast(DeliverBroadcast(presence, ticket)) => {
                self.begin_turn(ticket, true);
                self.deliver_broadcast(&presence);
            }
            ToAccount::Subscription(mut m) => {
                self.begin_turn(m.ticket.take(), true);
                self.on_deliver_subscription(m, ctx);
            }
            ToAccount::OwnPresence(OwnPresence {
                full,
                presence,
                ticket,
            }) => {
                self.begin_turn(Some(ticket), false);
                self.process_own_presence(full.resource().as_str(), presence, ctx);
            }
            ToAccount::OutboundPresence(OutboundPresence {
                full,
                to,
                presence,
                ticket,
            }) => {
                self.begin_turn(Some(ticket), false);
                self.process_outbound_presence(&full, &to, presence, ctx);
            }
            ToAccount::RosterIq(RosterIq { full, iq, ticket }) => {
                self.begin_turn(Some(ticket), false);
                let req = Request::of(&full, iq);
                let done = self.process_roster_iq(&req, ctx);
                self.answered(&req, done);
            }
            ToAccount::PrivacyIq(PrivacyIq { full, iq, ticket }) => {
                self.begin_turn(Some(ticket), false);
                let req = Request::of(&full, iq);
                let blocking = stanza::iq_payload(&req.iq)
                    .is_some_and(|p| p.ns() == crate::blocking::NS_BLOCKING);
                let done = if blocking {
                    self.process_blocking_iq(&req, ctx)
                } else {
                    self.process_privacy_iq(&req, ctx)
                };
                self.answered(&req, done);
            }
            ToAccount::CloseAll(m) => self.on_close_all(m, ctx),
            ToAccount::Bind(m) => return self.on_bind(m, ctx),
            ToAccount::Unbind(m) => self.on_unbind(m, ctx),
            ToAccount::CheckOutbound(m) => self.on_check_outbound(m, ctx),
            ToAccount::Delete(m) => self.on_delete(m, ctx),
        }
        self.end_turn();
        Ok(())
    }
}

/// Test hooks: keeps the actor busy until the sender lets go, and a message that tells where
/// in the mailbox it was (how much of what came before it a link's queue holds).
#[cfg(test)]
pub(crate) mod hooks {
    use super::*;

    pub(crate) struct Hold(pub tokio::sync::oneshot::Receiver<()>);

    impl Message for Hold {
        type Result = ();
    }

    impl Handler<Hold> for UserActor {
        type Result = ();

        fn handle(&mut self, msg: Hold, ctx: &mut Context<Self>) {
            ctx.wait(
                async move {
                    let _ = msg.0.await;
                }
                .into_actor(self),
            );
        }
    }

    /// Answers how many stanzas wait in a link's queue when the actor gets to it.
    pub(crate) struct Probe(pub LinkHandle);

    impl Message for Probe {
        type Result = usize;
    }

    impl Handler<Probe> for UserActor {
        type Result = usize;

        fn handle(&mut self, msg: Probe, _: &mut Context<Self>) -> usize {
            msg.0.queued()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SharedPresence;

    #[test]
    fn shared_presence_is_the_same_stanza_for_each_recipient() {
        let from: FullJid = "juliet@example.com/balcony".parse().unwrap();
        let p: Element = "<presence xmlns='jabber:client' to='ignored@x'><show>away</show><status>a &lt; b &amp; \"c\"</status></presence>"
            .parse()
            .unwrap();
        let shared = SharedPresence::new(from, p);
        for to in ["romeo@example.net", "o'brien@example.net"] {
            let parsed: Element = shared.xml_to(to).parse().unwrap();
            assert_eq!(parsed, shared.addressed(to));
            assert_eq!(parsed.attr("to"), Some(to));
            assert_eq!(parsed.attr("from"), Some("juliet@example.com/balcony"));
            assert_eq!(
                parsed.get_child("status", "jabber:client").unwrap().text(),
                "a < b & \"c\""
            );
        }
    }
}
