//! UserActor: one per account in use.
//!
//! It is the single owner of the account's sessions (bound resources, their availability and
//! priority) and of its offline queue, and applies the delivery rules of RFC 6121 §8 to every
//! stanza addressed to the account. Spawned on demand by the [`Router`]; when the account has had
//! no session for `user_idle` it takes itself out of the router's table, forwards anything that
//! still reaches it for a grace period, then stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use cordial_storage::{OfflinePush, OfflineStore, RosterChange, RosterItem, RosterStore};
use jid::{BareJid, FullJid};
use minidom::Element;

use crate::xml::{BuildAttr, SetAttr};

use crate::link::{StreamClose, StreamCondition};
use crate::resource::{CloseStream, ResourceActor, ToClient};
use crate::roster::{self, RosterSet, NS_ROSTER};
use crate::router::Router;
use crate::server_iq;
use crate::stanza::{self, DefinedCondition, ErrorType, Kind};

/// How long a retired UserActor keeps forwarding stanzas that were already on their way to it
/// (at most the idle time itself).
const RETIRE_GRACE: Duration = Duration::from_secs(10);

/// One bound resource of the account.
struct Session {
    addr: Addr<ResourceActor>,
    full: FullJid,
    /// Whether the resource has sent available presence (RFC 6121 §1.4 "available resource").
    available: bool,
    priority: i8,
    /// Whether the resource has requested the roster (RFC 6121 §2.1.6 "interested resource").
    interested: bool,
}

pub struct UserActor {
    bare: BareJid,
    router: Arc<Router>,
    sessions: HashMap<String, Session>,
    idle: Option<SpawnHandle>,
    retired: bool,
}

impl UserActor {
    pub fn new(bare: BareJid, router: Arc<Router>) -> Self {
        UserActor {
            bare,
            router,
            sessions: HashMap::new(),
            idle: None,
            retired: false,
        }
    }

    fn available(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values().filter(|s| s.available)
    }

    /// The available resources with the highest non-negative priority (RFC 6121 §8.5.2.1.1).
    fn highest_priority(&self) -> Vec<&Session> {
        let Some(top) = self
            .available()
            .map(|s| s.priority)
            .filter(|p| *p >= 0)
            .max()
        else {
            return Vec::new();
        };
        self.available().filter(|s| s.priority == top).collect()
    }

    /// Makes the account's writes durable (group commit) before this actor handles anything
    /// else, then runs `then`: nothing is acknowledged before it is on disk.
    fn flush_then(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, cordial_storage::Result<()>) + 'static,
    ) {
        let store = self.router.store.clone();
        ctx.wait(
            async move { store.flush().await }
                .into_actor(self)
                .map(move |flushed, act, _| then(act, flushed)),
        );
    }

    fn arm_idle_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle.take() {
            ctx.cancel_future(h);
        }
        if !self.sessions.is_empty() {
            return;
        }
        let idle = self.router.config.user_idle;
        self.idle = Some(ctx.run_later(idle, move |act, ctx| {
            if act.sessions.is_empty() && !act.retired {
                act.retired = true;
                act.router.retire(&act.bare, &ctx.address());
                ctx.run_later(RETIRE_GRACE.min(idle), |_, ctx| ctx.stop());
            }
        }));
    }

    /// RFC 6121 §8.5.2 (bare JID) and §8.5.3.2 (full JID of no connected resource), for
    /// messages.
    fn deliver_message_to_bare(&mut self, stanza: Element, ctx: &mut Context<Self>) {
        match stanza::stanza_type(&stanza) {
            "normal" | "chat" => {
                let targets = self.highest_priority();
                if targets.is_empty() {
                    self.store_offline(stanza, ctx);
                } else {
                    for s in targets {
                        s.addr.do_send(ToClient(stanza.clone()));
                    }
                }
            }
            "headline" => {
                for s in self.available().filter(|s| s.priority >= 0) {
                    s.addr.do_send(ToClient(stanza.clone()));
                }
            }
            "groupchat" => self.router.bounce(
                &stanza,
                Kind::Message,
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
            ),
            // type='error' (and unknown types): silently ignored.
            _ => {}
        }
    }

    /// XEP-0160 / RFC 6121 §8.5.2.1.1: store a message for an account with no available
    /// resource, stamped with XEP-0203 `<delay/>`. Durable before anything else is processed.
    fn store_offline(&mut self, mut stanza: Element, ctx: &mut Context<Self>) {
        let delay = Element::builder("delay", crate::ns::DELAY)
            .a("from", self.bare.domain().as_str())
            .a("stamp", stanza::now_stamp())
            .append("Offline Storage")
            .build();
        stanza.append_child(delay);
        let quota = self.router.config.offline_quota;
        let store = self.router.store.clone();
        match store.push_offline(self.bare.as_str(), &String::from(&stanza), quota) {
            Ok(OfflinePush::Stored) => self.flush_then(ctx, |_, flushed| {
                if let Err(e) = flushed {
                    log::error!("flushing an offline message failed: {e}");
                }
            }),
            Ok(OfflinePush::QuotaExceeded) => {
                log::info!("offline quota of {} reached for {}", quota, self.bare);
                self.router.bounce(
                    &stanza,
                    Kind::Message,
                    ErrorType::Cancel,
                    DefinedCondition::ServiceUnavailable,
                );
            }
            Err(e) => {
                log::error!("storing an offline message for {} failed: {e}", self.bare);
                self.router.bounce(
                    &stanza,
                    Kind::Message,
                    ErrorType::Wait,
                    DefinedCondition::InternalServerError,
                );
            }
        }
    }

    /// Hands the stored offline messages to a resource that just became available with a
    /// non-negative priority, then removes them (XEP-0160 §5).
    fn deliver_offline_to(&mut self, resource: &str, ctx: &mut Context<Self>) {
        let Some(s) = self.sessions.get(resource) else {
            return;
        };
        let store = self.router.store.clone();
        let messages = match store.offline_messages(self.bare.as_str()) {
            Ok(m) => m,
            Err(e) => {
                log::error!("reading offline messages of {} failed: {e}", self.bare);
                return;
            }
        };
        if messages.is_empty() {
            return;
        }
        let mut ids = Vec::with_capacity(messages.len());
        for (id, xml) in messages {
            match xml.parse::<Element>() {
                Ok(mut el) => {
                    el.set("to", s.full.to_string());
                    s.addr.do_send(ToClient(el));
                }
                Err(e) => log::error!("dropping an unreadable offline message: {e}"),
            }
            ids.push(id);
        }
        if let Err(e) = store.remove_offline(self.bare.as_str(), &ids) {
            log::error!("removing delivered offline messages failed: {e}");
            return;
        }
        self.flush_then(ctx, |_, flushed| {
            if let Err(e) = flushed {
                log::error!("flush after offline delivery failed: {e}");
            }
        });
    }

    /// Presence from one of the user's own resources without a `to` (RFC 6121 §4.2, §4.4,
    /// §4.5): tracked for availability and priority, and broadcast to all of the user's
    /// available resources, the sender included (§4.2.2).
    fn process_own_presence(&mut self, resource: &str, presence: Element, ctx: &mut Context<Self>) {
        let type_ = stanza::stanza_type(&presence).to_string();
        let Some(s) = self.sessions.get_mut(resource) else {
            return;
        };
        let was_available = s.available;
        match type_.as_str() {
            "available" => {
                s.available = true;
                s.priority = stanza::priority(&presence);
            }
            "unavailable" => {
                if !was_available {
                    return;
                }
                s.available = false;
            }
            // Subscription and probe stanzas without a `to` have no meaning (RFC 6121 §3).
            _ => return,
        }
        let priority = s.priority;
        for other in self.available().chain(
            // An unavailable resource still sees its own unavailable reflected.
            self.sessions.get(resource).filter(|s| !s.available),
        ) {
            other.addr.do_send(ToClient(presence.clone()));
        }
        if type_ == "available" && !was_available && priority >= 0 {
            self.deliver_offline_to(resource, ctx);
        }
    }

    /// Inbound presence addressed to this account (RFC 6121 §4.3, §8.5.2.1.2, §8.5.3).
    fn deliver_presence(&mut self, stanza: Element, resource: Option<&str>) {
        match resource {
            Some(r) => {
                if let Some(s) = self.sessions.get(r) {
                    s.addr.do_send(ToClient(stanza));
                }
            }
            None => {
                for s in self.available() {
                    s.addr.do_send(ToClient(stanza.clone()));
                }
            }
        }
    }

    fn deliver(&mut self, stanza: Element, ctx: &mut Context<Self>) {
        let Some(kind) = stanza::kind(&stanza) else {
            return;
        };
        let resource = stanza
            .attr("to")
            .and_then(|t| jid::Jid::new(t).ok())
            .and_then(|j| j.resource().map(|r| r.to_string()));
        match (kind, resource) {
            // §8.5.3.1: a connected resource matching the full JID gets the stanza.
            (_, Some(r)) if self.sessions.contains_key(&r) => {
                self.sessions[&r].addr.do_send(ToClient(stanza));
            }
            // §8.5.3.2.1: message to an absent full JID.
            (Kind::Message, Some(_)) => self.deliver_message_to_bare(stanza, ctx),
            (Kind::Message, None) => self.deliver_message_to_bare(stanza, ctx),
            // §8.5.3.2.3: presence to an absent full JID is ignored.
            (Kind::Presence, Some(_)) => {}
            (Kind::Presence, None) => self.deliver_presence(stanza, None),
            // §8.5.3.2.2: iq to an absent full JID.
            (Kind::Iq, Some(_)) => self.router.bounce(
                &stanza,
                Kind::Iq,
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
            ),
            // §8.5.2.1.3: the server answers iqs to a bare JID on the account's behalf.
            (Kind::Iq, None) => {
                let router = self.router.clone();
                let bare = self.bare.clone();
                ctx.wait(
                    async move {
                        if let Some(reply) =
                            server_iq::on_behalf_of_account(&router, &bare, &stanza).await
                        {
                            router.route(reply);
                        }
                    }
                    .into_actor(self),
                );
            }
        }
    }

    /// Tells the account's other available resources that a resource went away.
    fn broadcast_unavailable(&self, full: &FullJid) {
        let presence = stanza::unavailable_from(full);
        for s in self.available() {
            s.addr.do_send(ToClient(presence.clone()));
        }
    }

    /// Forwards a stanza that reached a retired actor to the account's current actor.
    fn forward(&self, stanza: Element) {
        self.router.route(stanza);
    }
}

/// jabber:iq:roster (RFC 6121 §2): the UserActor is the single writer of the account's roster.
impl UserActor {
    fn reply_to(&self, resource: &str, el: Element) {
        if let Some(s) = self.sessions.get(resource) {
            s.addr.do_send(ToClient(el));
        }
    }

    fn reply_error(
        &self,
        resource: &str,
        iq: &Element,
        type_: ErrorType,
        c: DefinedCondition,
        text: Option<&str>,
    ) {
        if let Some(e) = stanza::error_reply(iq, type_, c, text) {
            self.reply_to(resource, e);
        }
    }

    /// `<internal-server-error/>` (wait) to a request that failed on our side.
    fn reply_internal_error(&self, resource: &str, iq: &Element) {
        self.reply_error(
            resource,
            iq,
            ErrorType::Wait,
            DefinedCondition::InternalServerError,
            None,
        );
    }

    /// One push per interested resource for each change (RFC 6121 §2.1.6), never repeated.
    fn push_to_interested(&self, ver: u64, item: &Element) {
        for s in self.sessions.values().filter(|s| s.interested) {
            s.addr.do_send(ToClient(roster::push(
                &s.full.to_string(),
                ver,
                item.clone(),
            )));
        }
    }

    fn process_roster_iq(&mut self, resource: &str, iq: Element, ctx: &mut Context<Self>) {
        let Some(query) = stanza::iq_payload(&iq)
            .filter(|p| p.is("query", NS_ROSTER))
            .cloned()
        else {
            return self.reply_error(
                resource,
                &iq,
                ErrorType::Modify,
                DefinedCondition::BadRequest,
                None,
            );
        };
        match iq.attr("type") {
            Some("get") => self.process_roster_get(resource, &iq, &query),
            Some("set") => self.process_roster_set(resource, iq, &query, ctx),
            _ => {}
        }
    }

    /// RFC 6121 §2.2 and §2.6.3: the full roster, or with a known older `ver` an empty result
    /// followed by exactly the pushes the client missed, in version order.
    fn process_roster_get(&mut self, resource: &str, iq: &Element, query: &Element) {
        let store = &self.router.store;
        let bare = self.bare.as_str();
        // Only the version first: a client that is up to date (the usual reconnect) costs no
        // item reads, and one that is behind costs only the changes.
        let current_ver = match store.roster_version(bare) {
            Ok(v) => v,
            Err(e) => {
                log::error!("reading the roster version of {bare}: {e}");
                return self.reply_internal_error(resource, iq);
            }
        };
        if let Some(s) = self.sessions.get_mut(resource) {
            s.interested = true;
        }
        let client_ver = query.attr("ver");
        let known = client_ver.and_then(roster::parse_ver);
        if known == Some(current_ver) {
            return self.reply_to(resource, stanza::iq_result(iq, None));
        }
        if let Some(v) = known {
            match store.roster_changes_since(bare, v) {
                Ok(Some(changes)) => {
                    self.reply_to(resource, stanza::iq_result(iq, None));
                    let Some(s) = self.sessions.get(resource) else {
                        return;
                    };
                    let to = s.full.to_string();
                    for c in changes {
                        let el = match &c {
                            RosterChange::Set { item, .. } => roster::item_element(item),
                            RosterChange::Removed { jid, .. } => roster::removed_element(jid),
                        };
                        s.addr.do_send(ToClient(roster::push(&to, c.ver(), el)));
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => log::error!("roster changes of {bare}: {e}"),
            }
        }
        let current = match store.roster(bare) {
            Ok(r) => r,
            Err(e) => {
                log::error!("reading the roster of {bare}: {e}");
                return self.reply_internal_error(resource, iq);
            }
        };
        let items = current
            .items
            .iter()
            .map(|(item, _)| roster::item_element(item));
        let ver = client_ver.map(|_| current.ver);
        self.reply_to(
            resource,
            stanza::iq_result(iq, Some(roster::query(ver, items))),
        );
    }

    /// RFC 6121 §2.3 (add, update) and §2.5 (remove). The change is durable before the pushes
    /// and the result go out.
    fn process_roster_set(
        &mut self,
        resource: &str,
        iq: Element,
        query: &Element,
        ctx: &mut Context<Self>,
    ) {
        let limits = self.router.config.roster;
        let set = match roster::parse_set(query, &limits) {
            Ok(s) => s,
            Err(r) => return self.reply_error(resource, &iq, r.type_, r.condition, Some(r.text)),
        };
        let store = self.router.store.clone();
        let bare = self.bare.as_str();
        let outcome = match set {
            RosterSet::Remove { jid } => match store.remove_roster_item(bare, &jid) {
                Ok(None) => {
                    return self.reply_error(
                        resource,
                        &iq,
                        ErrorType::Cancel,
                        DefinedCondition::ItemNotFound,
                        Some("The roster has no such item"),
                    );
                }
                Ok(Some((old, ver))) => {
                    if let Err(e) = store.compact_roster(bare, limits.tombstone_horizon) {
                        log::error!("compacting the roster of {bare}: {e}");
                    }
                    Ok((ver, roster::removed_element(&jid), Some(old)))
                }
                Err(e) => Err(e),
            },
            RosterSet::Update { jid, name, groups } => {
                let existing = match store.roster_item(bare, &jid) {
                    Ok(x) => x,
                    Err(e) => {
                        log::error!("reading the roster of {bare}: {e}");
                        return self.reply_internal_error(resource, &iq);
                    }
                };
                if existing.is_none() && store.roster_len(bare).unwrap_or(0) >= limits.max_items {
                    let text = format!(
                        "The roster is full: it may hold at most {} items",
                        limits.max_items
                    );
                    return self.reply_error(
                        resource,
                        &iq,
                        ErrorType::Cancel,
                        DefinedCondition::NotAllowed,
                        Some(&text),
                    );
                }
                // A set changes only name and groups; the subscription state is the server's.
                let item = RosterItem {
                    name,
                    groups,
                    ..existing.unwrap_or(RosterItem {
                        jid,
                        ..RosterItem::default()
                    })
                };
                store
                    .put_roster_item(bare, &item)
                    .map(|ver| (ver, roster::item_element(&item), None))
            }
        };
        let (ver, pushed, removed) = match outcome {
            Ok(o) => o,
            Err(e) => {
                log::error!("writing the roster of {bare}: {e}");
                return self.reply_internal_error(resource, &iq);
            }
        };
        let resource = resource.to_string();
        self.flush_then(ctx, move |act, flushed| {
            if let Err(e) = flushed {
                log::error!("flushing the roster of {}: {e}", act.bare);
                return act.reply_internal_error(&resource, &iq);
            }
            act.push_to_interested(ver, &pushed);
            act.reply_to(&resource, stanza::iq_result(&iq, None));
            if let Some(old) = removed {
                for p in roster::process_roster_removal_cancel_subscriptions(&act.bare, &old) {
                    act.router.route(p);
                }
            }
        });
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        log::debug!("user actor for {} started", self.bare);
        self.arm_idle_timer(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        log::debug!("user actor for {} stopped", self.bare);
    }
}

/// A link has bound `full` (RFC 6120 §7). Replies `Err(Retired)` when this actor is retiring,
/// so that the caller asks the router again.
#[derive(Message)]
#[rtype(result = "Result<(), Retired>")]
pub struct Bind {
    pub full: FullJid,
    pub addr: Addr<ResourceActor>,
}

#[derive(Debug)]
pub struct Retired;

impl Handler<Bind> for UserActor {
    type Result = Result<(), Retired>;

    fn handle(&mut self, msg: Bind, ctx: &mut Context<Self>) -> Self::Result {
        if self.retired {
            return Err(Retired);
        }
        let resource = msg.full.resource().to_string();
        let new = Session {
            addr: msg.addr,
            full: msg.full,
            available: false,
            priority: 0,
            interested: false,
        };
        // RFC 6120 §7.7.2.2 / RFC 3921 §3 case #1: the new session wins, the old one is closed
        // with <conflict/>.
        if let Some(old) = self.sessions.insert(resource, new) {
            log::info!(
                "{} bound again; closing the older session with <conflict/>",
                old.full
            );
            old.addr.do_send(CloseStream(StreamClose::new(
                StreamCondition::Conflict,
                "Replaced by a new session for the same resource".to_string(),
            )));
            if old.available {
                self.broadcast_unavailable(&old.full);
            }
        }
        self.arm_idle_timer(ctx);
        Ok(())
    }
}

/// A resource's link went away (logout or abrupt disconnect).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unbind {
    pub full: FullJid,
    pub addr: Addr<ResourceActor>,
}

impl Handler<Unbind> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Unbind, ctx: &mut Context<Self>) {
        let resource = msg.full.resource().as_str();
        let ours = self
            .sessions
            .get(resource)
            .is_some_and(|s| s.addr == msg.addr);
        if !ours {
            return;
        }
        let gone = self.sessions.remove(resource).expect("checked above");
        // RFC 6121 §4.6.1: unavailable also on an abrupt disconnect.
        if gone.available {
            self.broadcast_unavailable(&gone.full);
        }
        self.arm_idle_timer(ctx);
    }
}

/// Presence without `to` from one of the account's resources.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OwnPresence {
    pub full: FullJid,
    pub presence: Element,
}

impl Handler<OwnPresence> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: OwnPresence, ctx: &mut Context<Self>) {
        self.process_own_presence(msg.full.resource().as_str(), msg.presence, ctx);
    }
}

/// A stanza addressed to this account (its bare JID or one of its full JIDs), already stamped
/// with the sender's `from`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Element);

impl Handler<Deliver> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) {
        if self.retired {
            return self.forward(msg.0);
        }
        self.deliver(msg.0, ctx);
    }
}

/// A roster iq from one of the account's own resources (no `to`, or the account's bare JID).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RosterIq {
    pub full: FullJid,
    pub iq: Element,
}

impl Handler<RosterIq> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: RosterIq, ctx: &mut Context<Self>) {
        self.process_roster_iq(msg.full.resource().as_str(), msg.iq, ctx);
    }
}

/// Closes every session of the account (account deleted, server shutting down).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll(pub StreamClose);

impl Handler<CloseAll> for UserActor {
    type Result = ();

    fn handle(&mut self, msg: CloseAll, _: &mut Context<Self>) {
        for s in self.sessions.values() {
            s.addr.do_send(CloseStream(msg.0.clone()));
        }
    }
}
