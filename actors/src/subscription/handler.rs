//! Presence subscriptions (RFC 6121 §3, RFC 3921 §8–§9) for the UserActor: the state machine of
//! [`crate::subscription`] applied to the account's roster and inbox, durably.
//!
//! Every change is written in one transaction (roster item and version, inbox slots, outbox
//! entries for local receivers), flushed, and only then pushed to the user's resources and
//! routed. A stanza for a local account travels through the outbox: the receiver deletes the
//! entry in the transaction that applies it, and entries left by a crash are routed again at
//! startup, so both sides of a local pair always end up agreeing.

use actix::prelude::*;
use cordial_storage::{
    InboxSlot, ItemWrite, OutboxKey, RosterItem, StorageError, Subscription, SubscriptionWrite,
    SubscriptionWritten,
};
use jid::{BareJid, FullJid};
use minidom::Element;

use crate::account::UserActor;
use crate::error::{self, RequestError};
use crate::privacy::Direction;
use crate::roster;
use crate::router::Router;
use crate::subscription::{self, subscription_presence, State, SubType};
use crate::xml::SetAttr;

/// Whether a JID names an account of a domain this server hosts.
fn is_local_account(router: &Router, contact: &BareJid) -> bool {
    contact.node().is_some() && router.config().hosts(contact.domain().as_str())
}

/// [`is_local_account`] for a contact as the roster keeps it (text).
fn is_local_contact(router: &Router, contact: &str) -> bool {
    BareJid::new(contact).is_ok_and(|jid| is_local_account(router, &jid))
}

/// Whether a change writes nothing (an outbox entry it consumes aside).
fn changes_nothing(w: &SubscriptionWrite) -> bool {
    w.item == ItemWrite::Keep && w.inbox.is_empty() && w.outbox.is_empty()
}

/// A roster removal written to the store, to finish once it is durable.
pub(crate) struct Removal {
    pub ver: u64,
    contact: String,
    old: State,
    routed: Vec<(Element, Option<OutboxKey>)>,
}

impl UserActor {
    /// The state of `contact` (the roster must be loaded).
    pub(crate) fn sub_state(&self, contact: &str) -> State {
        let r = &self.roster;
        let item = r.get(contact);
        State {
            sub: item.map(|i| i.subscription).unwrap_or_default(),
            pending_out: item.is_some_and(|i| i.ask),
            pending_in: r.pending_in(contact),
            approved: item.is_some_and(|i| i.approved),
        }
    }

    /// The roster item write that takes `contact` to `new`: an existing item keeps its name
    /// and groups; a missing one is created only when the state needs an item (Pending In
    /// alone lives in the inbox, RFC 6121 §3.1.3).
    fn item_write(&self, contact: &str, new: State) -> ItemWrite {
        let r = &self.roster;
        let apply = |mut item: RosterItem| {
            item.subscription = new.sub;
            item.ask = new.pending_out;
            item.approved = new.approved;
            item
        };
        match r.get(contact) {
            Some(item) => {
                let changed = apply(item.clone());
                if changed == *item {
                    ItemWrite::Keep
                } else {
                    ItemWrite::Put(changed)
                }
            }
            None if new.sub != Subscription::None || new.pending_out || new.approved => {
                ItemWrite::Put(apply(RosterItem {
                    jid: contact.to_string(),
                    ..RosterItem::default()
                }))
            }
            None => ItemWrite::Keep,
        }
    }

    /// Writes a change and mirrors it in memory.
    pub(crate) fn write_change(
        &mut self,
        w: &SubscriptionWrite,
    ) -> cordial_storage::Result<SubscriptionWritten> {
        let done = self.store.write_subscription(self.bare.as_str(), w)?;
        let state = &mut self.roster;
        match (&w.item, done.ver) {
            (ItemWrite::Put(item), Some(ver)) => state.set(item.clone(), ver),
            (ItemWrite::Remove, Some(ver)) => state.remove(&w.contact, ver),
            _ => {}
        }
        for (slot, xml) in &w.inbox {
            state.set_inbox(&w.contact, *slot, xml.clone());
        }
        Ok(done)
    }

    /// Writes a change, makes it durable, pushes the changed item to the interested resources,
    /// then runs `then` (routing and presence): nothing leaves before it is on disk.
    ///
    /// A change the store cannot keep changes nothing that anyone sees. `asked_by` (the session
    /// that sent the stanza, and the stanza) is answered with the storage error; a change asked
    /// for by a contact's stanza keeps that stanza's outbox entry, which the router routes
    /// again once the store is back.
    fn commit_change(
        &mut self,
        ctx: &mut Context<Self>,
        w: SubscriptionWrite,
        asked_by: Option<(String, Element)>,
        then: impl FnOnce(&mut Self, SubscriptionWritten) + 'static,
    ) {
        let contact = w.contact.clone();
        let refuse = move |act: &mut Self, e: StorageError| {
            let e = RequestError::storage(format_args!("the subscription with {contact}"), e);
            match &asked_by {
                Some((resource, stanza)) => act.refuse(resource, stanza, e),
                None => e.log(&act.bare),
            }
        };
        let done = match self.write_change(&w) {
            Ok(d) => d,
            Err(e) => return refuse(self, e),
        };
        let contact = w.contact;
        self.flush_then(ctx, move |act, flushed| {
            if let Err(e) = flushed {
                return refuse(act, e);
            }
            if let Some(ver) = done.ver {
                act.push_contact(ver, &contact);
            }
            then(act, done);
        });
    }

    /// Pushes the current item of `contact` (or its removal) at version `ver`.
    fn push_contact(&self, ver: u64, contact: &str) {
        let el = match self.roster.get(contact) {
            Some(item) => roster::item_element(item),
            None => roster::removed_element(contact),
        };
        self.push_to_interested(ver, &el);
    }

    /// Routes a stanza that may have an outbox entry.
    fn route_kept(&self, stanza: Element, key: Option<OutboxKey>) {
        match key {
            Some(k) => self.router.route_subscription(stanza, k, self.ticket()),
            None => self.route(stanza),
        }
    }

    /// The presence side of a state change (RFC 6121 §3.1.5, §3.2.2, §3.3.3): a contact that
    /// gains "From" gets the current presence of each available resource, one that loses it
    /// gets unavailable from each.
    fn follow_from_change(&mut self, contact: &str, old: State, new: State) {
        match (old.from(), new.from()) {
            (false, true) => self.send_current_presence_to(contact),
            (true, false) => self.send_unavailable_to(contact),
            _ => {}
        }
    }

    /// RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4: a subscription stanza one of the user's
    /// resources sent to `to`.
    pub(crate) fn process_outbound_subscription(
        &mut self,
        full: &FullJid,
        contact: BareJid,
        t: SubType,
        mut stanza: Element,
        ctx: &mut Context<Self>,
    ) {
        let local = is_local_account(&self.router, &contact);
        let contact = contact.to_string();
        // §3.1.2: stamped with the user's bare JID and addressed to the contact's bare JID.
        stanza.set("from", self.bare.to_string());
        stanza.set("to", contact.clone());
        if let Err(e) = self.roster_or_refuse() {
            return self.refuse(full.resource().as_str(), &stanza, e);
        }
        let old = self.sub_state(&contact);
        let o = subscription::outbound(old, t);
        let mut w = SubscriptionWrite {
            contact: contact.clone(),
            item: self.item_write(&contact, o.state),
            ..Default::default()
        };
        // A subscription that would add an item to a full roster is refused like a roster set
        // would be (RFC 6121 §2.5.3 `<not-allowed/>`): nothing is written or sent.
        if matches!(w.item, ItemWrite::Put(_)) {
            let max = self.router.config().roster.max_items;
            if let Err(e) = self.roster.room_for(&contact, max) {
                return self.refuse(full.resource().as_str(), &stanza, e);
            }
        }
        if old.pending_in && !o.state.pending_in {
            w.inbox.push((InboxSlot::Request, None));
        }
        if o.route && local {
            w.outbox.push(String::from(&stanza));
        }
        if changes_nothing(&w) {
            if o.route {
                self.route(stanza);
            }
            return;
        }
        let asked_by = Some((full.resource().to_string(), stanza.clone()));
        self.commit_change(ctx, w, asked_by, move |act, done| {
            if o.route {
                act.route_kept(stanza, done.outbox.into_iter().next());
            }
            act.follow_from_change(&contact, old, o.state);
        });
    }

    /// RFC 6121 §3.1.3, §3.2.3, §3.3.3 (Appendix A.3): a subscription stanza from a contact.
    /// `key` is the outbox entry that carried it, consumed in the same transaction.
    pub(crate) fn process_inbound_subscription(
        &mut self,
        t: SubType,
        contact: BareJid,
        stanza: Element,
        key: Option<OutboxKey>,
        ctx: &mut Context<Self>,
    ) {
        let local = is_local_account(&self.router, &contact);
        let contact = contact.to_string();
        if !self.roster_current() {
            return;
        }
        // RFC 3921 §10.2 rule 4: privacy lists come before subscription handling; a request or
        // answer from an entity the default list blocks (presence-in) changes nothing.
        self.privacy_ready();
        if !self.allows_jid(None, Direction::PresenceIn, &contact) {
            log::debug!("{} blocks subscription stanzas from {contact}", self.bare);
            return self.consume_outbox(key);
        }
        let old = self.sub_state(&contact);
        let i = subscription::inbound(old, t);
        let online = self.available().next().is_some();
        let mut w = SubscriptionWrite {
            contact: contact.clone(),
            item: self.item_write(&contact, i.state),
            delivered: key.clone(),
            ..Default::default()
        };
        let xml = String::from(&stanza);
        match t {
            // §3.1.3: kept until the user answers, and redelivered at each available presence.
            SubType::Subscribe if i.deliver => w.inbox.push((InboxSlot::Request, Some(xml))),
            SubType::Unsubscribe if i.deliver => {
                if old.pending_in {
                    w.inbox.push((InboxSlot::Request, None));
                }
                if !online {
                    w.inbox.push((InboxSlot::Cancel, Some(xml)));
                }
            }
            SubType::Subscribed | SubType::Unsubscribed if i.deliver && !online => {
                w.inbox.push((InboxSlot::Answer, Some(xml)))
            }
            _ => {}
        }
        let reply = i
            .reply
            .map(|r| subscription_presence(self.bare.as_str(), &contact, r));
        if let Some(r) = &reply {
            if local {
                w.outbox.push(String::from(r));
            }
        }
        if changes_nothing(&w) {
            self.consume_outbox(key);
            if let Some(r) = reply {
                self.route(r);
            }
            return;
        }
        self.commit_change(ctx, w, None, move |act, done| {
            if i.deliver {
                for s in act
                    .available()
                    .filter(|s| t != SubType::Subscribe || s.interested)
                {
                    s.link.send(stanza.clone());
                }
            }
            if let Some(r) = reply {
                act.route_kept(r, done.outbox.into_iter().next());
            }
            act.follow_from_change(&contact, old, i.state);
        });
    }

    /// Drops the outbox entry of a stanza that changed nothing (a repeat is harmless, so this
    /// needs no flush).
    fn consume_outbox(&self, key: Option<OutboxKey>) {
        if let Some(k) = key {
            if let Err(e) = self.store.outbox_done(&k) {
                error::log_storage(format_args!("dropping a delivered outbox entry"), &e);
            }
        }
    }

    /// RFC 6121 §3.1.3, RFC 3921 §9.4: what waits in the inbox goes to a resource that has
    /// just become available. Requests stay until answered; notifications are delivered once.
    pub(crate) fn deliver_inbox_to(&mut self, resource: &str) {
        let Some(s) = self.sessions.get(resource) else {
            return;
        };
        let r = &self.roster;
        let mut delivered = Vec::new();
        for (contact, slot, xml) in r.inbox() {
            match xml.parse::<Element>() {
                Ok(el) => {
                    s.link.send(el);
                }
                Err(e) => log::error!("dropping an unreadable stored subscription stanza: {e}"),
            }
            if slot != InboxSlot::Request {
                delivered.push((contact.to_string(), slot));
            }
        }
        for (contact, slot) in delivered {
            let w = SubscriptionWrite {
                contact,
                inbox: vec![(slot, None)],
                ..Default::default()
            };
            if let Err(e) = self.write_change(&w) {
                let what = format_args!("clearing a delivered notification of {}", self.bare);
                error::log_storage(what, &e);
            }
        }
    }

    /// RFC 6121 §2.5.2: removing an item cancels the subscriptions in both directions
    /// (`unsubscribe` if the user was subscribed or asking, `unsubscribed` if the contact was
    /// or was asking) and drops what waits in the inbox from the contact. `None` when there
    /// is no such item. Durable once the caller has flushed; then [`Self::finish_removal`].
    pub(crate) fn write_removal(
        &mut self,
        contact: &str,
    ) -> cordial_storage::Result<Option<Removal>> {
        self.roster()?;
        if self.roster.get(contact).is_none() {
            return Ok(None);
        }
        let old = self.sub_state(contact);
        let mut stanzas = Vec::new();
        if old.to() || old.pending_out {
            stanzas.push(subscription_presence(
                self.bare.as_str(),
                contact,
                SubType::Unsubscribe,
            ));
        }
        if old.from() || old.pending_in {
            stanzas.push(subscription_presence(
                self.bare.as_str(),
                contact,
                SubType::Unsubscribed,
            ));
        }
        let local = is_local_contact(&self.router, contact);
        let w = SubscriptionWrite {
            contact: contact.to_string(),
            item: ItemWrite::Remove,
            inbox: [InboxSlot::Request, InboxSlot::Answer, InboxSlot::Cancel]
                .into_iter()
                .map(|slot| (slot, None))
                .collect(),
            outbox: if local {
                stanzas.iter().map(String::from).collect()
            } else {
                Vec::new()
            },
            delivered: None,
        };
        let done = self.write_change(&w)?;
        let mut keys = done.outbox.into_iter();
        Ok(Some(Removal {
            ver: done.ver.expect("a live item was removed"),
            contact: contact.to_string(),
            old,
            routed: stanzas.into_iter().map(|s| (s, keys.next())).collect(),
        }))
    }

    /// Routes the cancellations of a durable removal, and tells a contact that could see the
    /// user's presence that the user is now unavailable to it.
    pub(crate) fn finish_removal(&mut self, r: Removal) {
        for (stanza, key) in r.routed {
            self.route_kept(stanza, key);
        }
        if r.old.from() {
            self.send_unavailable_to(&r.contact);
        }
    }

    /// Account deletion: every contact is unsubscribed both ways, as if each item had been
    /// removed, so that no one is left half-subscribed. Requests waiting without an item
    /// are denied.
    pub(crate) fn write_all_removals(&mut self) -> cordial_storage::Result<Vec<Removal>> {
        self.roster()?;
        let r = &self.roster;
        let mut contacts: Vec<String> = r.items().map(|i| i.jid.clone()).collect();
        let waiting: Vec<String> = r
            .inbox_contacts()
            .into_iter()
            .filter(|c| r.get(c).is_none() && r.pending_in(c))
            .collect();
        let mut removals = Vec::new();
        for c in contacts.drain(..) {
            removals.extend(self.write_removal(&c)?);
        }
        for c in waiting {
            let deny = subscription_presence(self.bare.as_str(), &c, SubType::Unsubscribed);
            let local = is_local_contact(&self.router, &c);
            let w = SubscriptionWrite {
                contact: c.clone(),
                inbox: vec![(InboxSlot::Request, None)],
                outbox: if local {
                    vec![String::from(&deny)]
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            let done = self.write_change(&w)?;
            removals.push(Removal {
                ver: 0,
                contact: c,
                old: State::default(),
                routed: vec![(deny, done.outbox.into_iter().next())],
            });
        }
        Ok(removals)
    }
}
