//! Who is where: bare JID -> [`UserActor`](crate::account::UserActor), local domains, remote domains.
//!
//! The table is a concurrent map read directly on the hot path (no mailbox hop). UserActors are
//! spawned on demand on the arbiter chosen by a hash of the bare JID, so work spreads over all
//! cores, and they take themselves out of the table when idle.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix::prelude::*;
use cordial_storage::{OutboxKey, SharedStorage};
use dashmap::DashMap;
use jid::{BareJid, Jid};
use minidom::Element;

use crate::config::ActorsConfig;
use crate::delivery::view::Delivery;
use crate::in_order::Ticket;
use crate::protocol::{
    Account as AccountInbox, CloseAll, Deliver, DeliverBroadcast, DeliverSubscription,
    SharedPresence, ToAccount,
};
use crate::stanza::{self, DefinedCondition, ErrorType, Kind, Target};
use arc_swap::{ArcSwap, Guard};

pub struct Router {
    /// Replaced as a whole on a reload ([`Router::reconfigure`]); a reader sees one consistent
    /// configuration for as long as it holds what [`Router::config`] gave it.
    config: ArcSwap<ActorsConfig>,
    pub store: SharedStorage,
    pub metrics: crate::metrics::Metrics,
    /// Running UserActors by normalised bare JID. Keyed by the string so that roster JIDs (kept
    /// normalised) find their account without being parsed again on every broadcast.
    users: DashMap<Box<str>, Account, foldhash::fast::RandomState>,
    arbiters: Vec<ArbiterHandle>,
    spawn: SpawnAccount,
    remote: Box<dyn RemoteRoute>,
}

/// A running account: its actor, and what may be delivered to its sessions without the
/// actor's mailbox (see [`Delivery`]).
#[derive(Clone)]
struct Account {
    inbox: AccountInbox,
    delivery: Arc<Delivery>,
}

/// Starts an account's actor for the bare JID on the arbiter given, with the [`Delivery`] it
/// publishes its view in; returns how to reach it. The account layer provides it (see
/// [`crate::new_router`]): the router names no actor type above it.
pub type SpawnAccount = Box<
    dyn Fn(&Arc<Router>, &BareJid, Arc<Delivery>, &ArbiterHandle) -> AccountInbox + Send + Sync,
>;

/// Where a stanza for a domain this server does not host goes (RFC 6120 §10.4). Federation
/// (server-to-server links) and, in cluster mode, other nodes are routes of this kind; the
/// router hands such stanzas over with the sending client's ticket, which the route holds until
/// the stanza is on its way (RFC 6120 §10.1).
pub trait RemoteRoute: Send + Sync {
    fn route(
        &self,
        router: &Arc<Router>,
        stanza: Element,
        kind: Kind,
        to: Jid,
        ticket: Option<Ticket>,
    );
}

/// No route to other domains (no server-to-server links yet): each stanza is answered
/// `<remote-server-not-found/>` (RFC 6120 §8.3.3.16), which is also what a server that cannot
/// find the domain answers.
pub struct NoRemoteDomains;

impl RemoteRoute for NoRemoteDomains {
    fn route(&self, router: &Arc<Router>, stanza: Element, kind: Kind, _: Jid, _: Option<Ticket>) {
        router.bounce(
            &stanza,
            kind,
            ErrorType::Cancel,
            DefinedCondition::RemoteServerNotFound,
        );
    }
}

impl Account {
    fn start(router: &Arc<Router>, bare: &BareJid) -> Self {
        let delivery = Arc::new(Delivery::default());
        let inbox = (router.spawn)(router, bare, delivery.clone(), &router.arbiter_for(bare));
        Account { inbox, delivery }
    }

    /// A presence broadcast addressed to `to`, the account's bare JID.
    fn broadcast(&self, to: &str, presence: &Arc<SharedPresence>, ticket: Option<Ticket>) {
        if !self.delivery.try_broadcast(presence, to) {
            self.queue(ToAccount::Broadcast(DeliverBroadcast(
                presence.clone(),
                ticket,
            )));
        }
    }

    /// Sends a stanza through the actor's mailbox, counted so that no later stanza takes the
    /// shortcut past it.
    fn queue(&self, msg: ToAccount) {
        self.delivery.queued();
        self.inbox.do_send(msg);
    }
}

impl Router {
    /// A router whose UserActors run on `arbiters` (the current arbiter when empty).
    ///
    /// Each time the store recovers from an outage, the outbox is routed again on the first
    /// arbiter: subscription stanzas refused meanwhile reach their receiver without a restart.
    pub fn new(
        config: ActorsConfig,
        store: SharedStorage,
        arbiters: Vec<ArbiterHandle>,
        spawn: SpawnAccount,
        remote: Box<dyn RemoteRoute>,
    ) -> Arc<Self> {
        let home = arbiters.first().cloned().or_else(Arbiter::try_current);
        let router = Arc::new(Router {
            config: ArcSwap::from_pointee(config),
            store,
            metrics: Default::default(),
            users: DashMap::with_hasher(Default::default()),
            arbiters,
            spawn,
            remote,
        });
        let weak = Arc::downgrade(&router);
        router.store.on_recovered(Box::new(move || {
            let (Some(router), Some(home)) = (weak.upgrade(), home.as_ref()) else {
                return;
            };
            home.spawn_fn(move || match router.replay_outbox() {
                Ok(0) => {}
                Ok(n) => log::info!("storage is back: routing {n} subscription stanzas again"),
                Err(e) => crate::error::log_storage(format_args!("reading the outbox"), &e),
            });
        }));
        router
    }

    /// The configuration in force.
    pub fn config(&self) -> Guard<Arc<ActorsConfig>> {
        self.config.load()
    }

    /// Puts a new configuration in force for everything read from now on (limits, quotas, the
    /// registration switch). The served domains stay those the server started with: they
    /// decide listeners, certificates and stored accounts, and change only with a restart.
    pub fn reconfigure(&self, mut config: ActorsConfig) {
        config.domains = self.config.load().domains.clone();
        self.config.store(Arc::new(config));
    }

    fn arbiter_for(&self, bare: &BareJid) -> ArbiterHandle {
        if self.arbiters.is_empty() {
            return Arbiter::current();
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bare.hash(&mut h);
        self.arbiters[(h.finish() as usize) % self.arbiters.len()].clone()
    }

    /// The actor of a local account, spawned if it is not running. The caller has checked
    /// that the account exists.
    pub fn account(self: &Arc<Self>, bare: &BareJid) -> AccountInbox {
        self.running(bare).inbox
    }

    fn running(self: &Arc<Self>, bare: &BareJid) -> Account {
        if let Some(a) = self.users.get(bare.as_str()) {
            if a.inbox.connected() {
                return a.clone();
            }
        }
        let mut entry = self
            .users
            .entry(bare.as_str().into())
            .or_insert_with(|| Account::start(self, bare));
        if !entry.inbox.connected() {
            *entry = Account::start(self, bare);
        }
        entry.clone()
    }

    /// Whether the account has a running actor.
    pub fn is_running(&self, bare: &BareJid) -> bool {
        self.users.contains_key(bare.as_str())
    }

    /// Removes an account's actor from the table if the table still points at it. Returns
    /// whether it did; afterwards new stanzas for the account go to a fresh actor.
    pub fn retire(&self, bare: &BareJid, inbox: &AccountInbox) -> bool {
        self.users
            .remove_if(bare.as_str(), |_, a| a.inbox == *inbox)
            .is_some()
    }

    /// Number of running UserActors.
    pub fn running_users(&self) -> usize {
        self.users.len()
    }

    /// Routes a stanza whose `from` is already stamped to the entity named by `to`.
    ///
    /// Local accounts get it through their UserActor (spawned on demand); stanzas to an account
    /// that does not exist are answered per RFC 6121 §8.5.1 here, without spawning anything;
    /// other domains go to the [`RemoteRoute`] (today [`NoRemoteDomains`]).
    pub fn route(self: &Arc<Self>, stanza: Element) {
        self.route_with(stanza, None)
    }

    /// [`Self::route`] as part of a client's stanza: `ticket` is held until the receiving
    /// actor is done with it (see [`crate::in_order`]).
    pub fn route_with(self: &Arc<Self>, stanza: Element, ticket: Option<Ticket>) {
        let Some(kind) = stanza::kind(&stanza) else {
            log::debug!("not routing a non-stanza element <{}>", stanza.name());
            return;
        };
        match stanza::classify(stanza.attr("to"), |d| self.config().hosts(d)) {
            Ok(target) => self.route_to(stanza, kind, target, ticket),
            Err(stanza::MalformedJid) => {
                log::warn!("router asked to route a stanza without a user target; dropped")
            }
        }
    }

    /// [`Self::route_with`] for a stanza whose `to` the caller has already classified as
    /// `target` (and written back in normalised form).
    pub fn route_to(
        self: &Arc<Self>,
        stanza: Element,
        kind: Kind,
        target: Target,
        ticket: Option<Ticket>,
    ) {
        let (bare, full) = match target {
            Target::Bare(b) => (b, None),
            Target::Full(f) => (f.to_bare(), Some(f)),
            Target::Remote(to) => return self.remote.route(self, stanza, kind, to, ticket),
            Target::None | Target::Host(_) => {
                log::warn!("router asked to route a stanza without a user target; dropped");
                return;
            }
        };
        if !self.is_running(&bare) {
            match self.store.account_exists(bare.as_str()) {
                Ok(true) => {}
                Ok(false) => return self.process_to_nonexistent_account(&stanza),
                Err(e) => {
                    let what = format_args!("looking up the account {bare}");
                    crate::error::log_storage(what, &e);
                    let (type_, condition) = crate::error::storage_answer(&e);
                    return self.bounce(&stanza, kind, type_, condition);
                }
            }
        }
        let routed_at = std::time::Instant::now();
        let account = self.running(&bare);
        let resource = full.as_ref().map(|f| f.resource().as_str());
        match account.delivery.try_deliver(stanza, kind, resource) {
            Ok(()) => self.metrics.routed(routed_at),
            Err(stanza) => account.queue(ToAccount::Deliver(Deliver {
                stanza,
                kind,
                resource: resource.map(Into::into),
                routed_at,
                ticket,
            })),
        }
    }

    /// Routes a presence broadcast (available or unavailable, from a user's resource) to the
    /// contact `to` (a bare JID from the user's roster). A local account with no running
    /// UserActor has no available resource, so the presence is ignored as RFC 6121 §8.5.2.2.1
    /// says, without starting anything or reading storage.
    ///
    /// `ticket`: the sending client's, held until the receiving actor has delivered it when
    /// the broadcast goes through its mailbox (RFC 6120 §10.1).
    pub fn route_broadcast(
        self: &Arc<Self>,
        to: &str,
        presence: &Arc<SharedPresence>,
        ticket: Option<Ticket>,
    ) {
        // Roster JIDs are stored normalised: a running local account is found as it is.
        if let Some(user) = self.users.get(to) {
            return user.broadcast(to, presence, ticket);
        }
        let Ok(bare) = BareJid::new(to) else {
            return log::warn!("not broadcasting presence to the malformed roster JID {to:?}");
        };
        if !self.config().hosts(bare.domain().as_str()) {
            return self.route_with(presence.addressed(to), ticket);
        }
        if bare.as_str() != to {
            if let Some(user) = self.users.get(bare.as_str()) {
                user.broadcast(bare.as_str(), presence, ticket);
            }
        }
    }

    /// Routes a subscription stanza to a local account through its outbox entry `key`: the
    /// receiving UserActor deletes the entry when it applies the stanza.
    /// `ticket` is held until the receiver has applied it (and whatever it answers has been
    /// routed in turn).
    pub fn route_subscription(
        self: &Arc<Self>,
        stanza: Element,
        key: OutboxKey,
        ticket: Option<Ticket>,
    ) {
        // Outbox entries are read back from the store: the addresses are read here, once.
        let (bare, from) = (stanza::receiver_bare(&stanza), stanza::sender_bare(&stanza));
        let exists = bare
            .as_ref()
            .map(|b| self.is_running(b) || self.store.account_exists(b.as_str()).unwrap_or(true))
            .unwrap_or(false);
        match (bare, from) {
            (Some(b), Some(from)) if exists => {
                self.running(&b)
                    .queue(ToAccount::Subscription(DeliverSubscription {
                        from,
                        stanza,
                        key,
                        ticket,
                    }))
            }
            _ => self.subscription_to_missing_account(&stanza, &key),
        }
    }

    /// A subscription stanza carried by outbox entry `key` to an account that does not exist:
    /// the entry is dropped and the stanza answered per RFC 6121 §8.5.1.
    pub(crate) fn subscription_to_missing_account(
        self: &Arc<Self>,
        stanza: &Element,
        key: &OutboxKey,
    ) {
        if let Err(e) = self.store.outbox_done(key) {
            let what = format_args!("dropping an outbox entry for a missing account");
            crate::error::log_storage(what, &e);
        }
        self.process_to_nonexistent_account(stanza);
    }

    /// Routes again what the outbox still holds: stanzas whose receiver had not applied them
    /// when the server stopped, or could not apply them while the store refused writes.
    /// Called at startup and each time the store recovers (see [`Self::new`]); the state
    /// machine makes a repeat harmless.
    pub fn replay_outbox(self: &Arc<Self>) -> cordial_storage::Result<usize> {
        let entries = self.store.outbox()?;
        let n = entries.len();
        for (key, xml) in entries {
            match xml.parse::<Element>() {
                Ok(stanza) => self.route_subscription(stanza, key, None),
                Err(e) => {
                    log::error!("dropping an unreadable outbox entry: {e}");
                    self.store.outbox_done(&key)?;
                }
            }
        }
        Ok(n)
    }

    /// RFC 6121 §8.5.1: no such account. Messages and iq get/set are answered
    /// `<service-unavailable/>` (never revealing more); presence is silently ignored, except
    /// that a subscription request or a probe is answered `unsubscribed` (§3.1.3, §4.3.2), so
    /// that the sender's request does not stay pending forever.
    pub(crate) fn process_to_nonexistent_account(self: &Arc<Self>, stanza: &Element) {
        let Some(kind) = stanza::kind(stanza) else {
            return;
        };
        if kind == Kind::Presence {
            if matches!(stanza.attr("type"), Some("subscribe") | Some("probe")) {
                let (from, to) = (stanza::sender_bare(stanza), stanza::receiver_bare(stanza));
                if let (Some(from), Some(to)) = (from, to) {
                    self.route(crate::subscription::subscription_presence(
                        to.as_str(),
                        from.as_str(),
                        crate::subscription::SubType::Unsubscribed,
                    ));
                }
            }
            return;
        }
        self.bounce(
            stanza,
            kind,
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
        )
    }

    /// Sends an error reply back to the stanza's sender, unless the stanza must not be
    /// answered (errors; iq results; presence).
    pub fn bounce(
        self: &Arc<Self>,
        stanza: &Element,
        kind: Kind,
        type_: ErrorType,
        condition: DefinedCondition,
    ) {
        let answerable = match kind {
            Kind::Iq => matches!(stanza.attr("type"), Some("get") | Some("set")),
            Kind::Message => true,
            Kind::Presence => false,
        };
        if !answerable {
            return;
        }
        if let Some(reply) = stanza::error_reply(stanza, type_, condition, None) {
            if reply.attr("to").and_then(|t| Jid::new(t).ok()).is_some() {
                self.route(reply);
            }
        }
    }
}

impl Router {
    /// Asks every running UserActor to close its sessions.
    pub fn close_all(&self, why: crate::link::StreamClose) {
        for entry in self.users.iter() {
            entry
                .value()
                .inbox
                .do_send(ToAccount::CloseAll(CloseAll(why.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records what it is handed.
    #[derive(Default)]
    struct Recorded(Arc<Mutex<Vec<(String, String)>>>);

    impl RemoteRoute for Recorded {
        fn route(&self, _: &Arc<Router>, stanza: Element, _: Kind, to: Jid, _: Option<Ticket>) {
            let from = stanza.attr("from").unwrap_or_default().to_string();
            self.0.lock().unwrap().push((from, to.to_string()));
        }
    }

    /// A stanza for a domain this server does not host goes to the remote route, with its
    /// `to` parsed; a local one does not.
    #[actix_rt::test]
    async fn stanzas_for_other_domains_take_the_remote_route() {
        let dir = tempfile::tempdir().unwrap();
        let store = cordial_storage::Store::open(dir.path()).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new(
            ActorsConfig::default(),
            Arc::new(store),
            Vec::new(),
            Box::new(crate::account::spawn),
            Box::new(Recorded(seen.clone())),
        );
        let message = |to: &str| -> Element {
            format!("<message xmlns='jabber:client' from='a@localhost/r' to='{to}'/>")
                .parse()
                .unwrap()
        };
        router.route(message("Bob@Elsewhere.example/Home"));
        router.route(message("nobody@localhost"));
        assert_eq!(
            *seen.lock().unwrap(),
            [(
                "a@localhost/r".to_string(),
                "bob@elsewhere.example/Home".to_string()
            )]
        );
    }

    /// A reload puts new limits in force for what is read afterwards, while what was read
    /// before keeps its snapshot; the served domains stay those the server started with.
    #[actix_rt::test]
    async fn a_reconfiguration_changes_limits_and_keeps_the_domains() {
        let dir = tempfile::tempdir().unwrap();
        let store = cordial_storage::Store::open(dir.path()).unwrap();
        let router = crate::new_router(ActorsConfig::default(), Arc::new(store), Vec::new());
        let before = router.config();
        router.reconfigure(ActorsConfig {
            domains: vec!["elsewhere.example".into()],
            offline_quota: 7,
            ..ActorsConfig::default()
        });
        assert_eq!(router.config().offline_quota, 7);
        assert_eq!(before.offline_quota, ActorsConfig::default().offline_quota);
        assert!(router.config().hosts("localhost"));
        assert!(!router.config().hosts("elsewhere.example"));
    }
}
