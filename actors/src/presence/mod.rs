//! Presence (RFC 6121 §4, RFC 3921 §5) for the UserActor: the user's own presence broadcast to
//! its resources and to subscribed contacts, probes sent at initial presence and answered on
//! the user's behalf, directed presence, and unavailable at logout and on abrupt disconnect.

use actix::prelude::*;
use jid::{FullJid, Jid};
use minidom::Element;

use crate::account::UserActor;
use crate::ns;
use crate::privacy::Direction;
use crate::protocol::SharedPresence;
use crate::stanza;
use crate::subscription::SubType;
use crate::xml::{BuildAttr, SetAttr};

use crate::subscription::subscription_presence;

impl UserActor {
    /// Contacts that may see the user's presence ("From" or "Both"), minus those whose server
    /// answered with a presence error during these sessions (RFC 6121 §4.4.2 note).
    pub(crate) fn presence_subscribers(&self) -> impl Iterator<Item = &str> {
        self.roster
            .items()
            .filter(|i| matches!(i.subscription.as_str(), "from" | "both"))
            .filter(|i| !self.presence_errors.contains(&i.jid))
            .map(|i| i.jid.as_str())
    }

    /// Contacts whose presence the user receives ("To" or "Both").
    fn presence_sources(&self) -> Vec<String> {
        self.roster
            .items()
            .filter(|i| matches!(i.subscription.as_str(), "to" | "both"))
            .map(|i| i.jid.clone())
            .collect()
    }

    /// `presence` from `full` to `to`, as routed.
    fn addressed(presence: &Element, full: &FullJid, to: &str) -> Element {
        let mut p = presence.clone();
        p.set("from", full.to_string());
        p.set("to", to.to_string());
        p
    }

    /// The current presence of each available resource, to one contact (§3.1.5 on approval,
    /// §4.3.2 in answer to a probe).
    pub(crate) fn send_current_presence_to(&mut self, contact: &str) {
        self.privacy_ready();
        let out: Vec<Element> = self
            .available()
            .filter(|s| {
                self.allows_jid(
                    Some(s.full.resource().as_str()),
                    Direction::PresenceOut,
                    contact,
                )
            })
            .filter_map(|s| Some(Self::addressed(s.presence.as_ref()?, &s.full, contact)))
            .collect();
        for p in out {
            self.route(p);
        }
    }

    /// Unavailable from each available resource, to one contact that can no longer see the
    /// user's presence (§3.2.2, §3.3.3, §2.5.2).
    pub(crate) fn send_unavailable_to(&mut self, contact: &str) {
        let out: Vec<Element> = self
            .available()
            .map(|s| {
                let mut p = stanza::unavailable_from(&s.full);
                p.set("to", contact.to_string());
                p
            })
            .collect();
        for p in out {
            self.route(p);
        }
    }

    /// Presence from one of the user's own resources without a `to` (RFC 6121 §4.2, §4.4,
    /// §4.5): tracked for availability and priority, and broadcast to all of the user's
    /// available resources (the sender included, §4.2.2) and to the contacts subscribed to the
    /// user. Initial presence also probes the contacts the user is subscribed to, and brings
    /// stored subscription requests, notifications and offline messages.
    pub(crate) fn process_own_presence(
        &mut self,
        resource: &str,
        presence: Element,
        ctx: &mut Context<Self>,
    ) {
        let type_ = stanza::stanza_type(&presence).to_string();
        if !self.sessions.contains_key(resource) {
            return;
        }
        self.roster_current();
        let s = self.sessions.get_mut(resource).expect("checked above");
        let was_available = s.available;
        match type_.as_str() {
            "available" => {
                s.available = true;
                s.priority = stanza::priority(&presence);
                let mut kept = presence.clone();
                kept.unset("to");
                s.presence = Some(kept);
            }
            "unavailable" => {
                if !was_available {
                    return;
                }
                return self.went_unavailable(resource, presence, true);
            }
            // Subscription and probe stanzas without a `to` have no meaning (RFC 6121 §3).
            _ => return,
        }
        let full = s.full.clone();
        let priority = s.priority;
        if !was_available {
            // §4.2.2: a resource that becomes available also learns the current presence of
            // the account's other available resources (it is subscribed to its own account).
            let new = &self.sessions[resource];
            for other in self.available().filter(|o| o.full != full) {
                if let Some(p) = &other.presence {
                    new.link.send(p.clone());
                }
            }
        }
        for other in self.available() {
            other.link.send(presence.clone());
        }
        self.privacy_ready();
        let shared = SharedPresence::new(full, presence);
        for contact in self.presence_subscribers() {
            // Presence-out items of the session's list (RFC 3921 §10.11).
            if self.allows_jid(Some(resource), Direction::PresenceOut, contact) {
                self.router.route_broadcast(contact, &shared, self.ticket());
            }
        }
        if was_available {
            // The new priority applies to what the router delivers from now on.
            return self.publish_view();
        }
        // §4.2.2: probes from the user's bare JID to every contact the user is subscribed to.
        for contact in self.presence_sources() {
            let probe = Element::builder("presence", ns::JABBER_CLIENT)
                .a("type", "probe")
                .a("from", self.bare.to_string())
                .a("to", contact)
                .build();
            self.route(probe);
        }
        self.deliver_inbox_to(resource);
        if priority >= 0 {
            self.deliver_offline_to(resource, ctx);
        }
        // Published last: stored requests and offline messages are queued before anything
        // the router delivers without this actor.
        self.publish_view();
    }

    /// A resource became unavailable, by presence or by going away (§4.5, §4.6.3): its
    /// unavailable goes to the user's other resources, to subscribed contacts, and to every
    /// entity that got directed presence from it; and back to the resource itself when it
    /// sent the unavailable (`reflect`).
    pub(crate) fn went_unavailable(&mut self, resource: &str, presence: Element, reflect: bool) {
        let Some(s) = self.sessions.get_mut(resource) else {
            return;
        };
        s.available = false;
        s.presence = None;
        let directed = std::mem::take(&mut s.directed);
        let full = s.full.clone();
        self.publish_view();
        let own = self.sessions.get(resource).filter(|_| reflect);
        for other in self.available().chain(own) {
            other.link.send(presence.clone());
        }
        self.privacy_ready();
        let shared = SharedPresence::new(full, presence);
        let mut told = Vec::new();
        for contact in self.presence_subscribers() {
            if !self.allows_jid(Some(resource), Direction::PresenceOut, contact) {
                continue;
            }
            self.router.route_broadcast(contact, &shared, self.ticket());
            if !directed.is_empty() {
                told.push(contact.to_string());
            }
        }
        told.sort();
        for to in directed {
            if told.binary_search(&to).is_err() {
                self.route(shared.addressed(&to));
            }
        }
        if self.available().next().is_none() {
            self.last_unavailable = Some(stanza::now_stamp());
            self.presence_errors.clear();
        }
    }

    /// A resource with available presence went away without saying so (§4.6.1).
    pub(crate) fn went_away(&mut self, resource: &str) {
        let Some(s) = self.sessions.get(resource) else {
            return;
        };
        if s.available {
            let p = stanza::unavailable_from(&s.full);
            self.went_unavailable(resource, p, false);
        }
    }

    /// Presence with a `to` from one of the user's resources: subscription stanzas go through
    /// the state machine; available and unavailable presence is directed presence (§4.6),
    /// remembered so that the entity learns when the resource goes offline.
    pub(crate) fn process_outbound_presence(
        &mut self,
        full: &FullJid,
        to: &Jid,
        presence: Element,
        ctx: &mut Context<Self>,
    ) {
        let type_ = stanza::stanza_type(&presence);
        if let Some(t) = SubType::parse(type_) {
            return self.process_outbound_subscription(full, to.to_bare(), t, presence, ctx);
        }
        let to = to.to_string();
        self.privacy_ready();
        if !self.allows_jid(Some(full.resource().as_str()), Direction::PresenceOut, &to) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(full.resource().as_str()) {
            match type_ {
                "available" if s.available => {
                    s.directed.insert(to);
                }
                "unavailable" => {
                    s.directed.remove(&to);
                }
                _ => {}
            }
        }
        self.route(presence);
    }

    /// Presence addressed to this account from someone else (RFC 6121 §3, §4.3, §8.5.2.1.2,
    /// §8.5.3): subscription stanzas, probes answered on the user's behalf, errors that stop
    /// broadcasts to their sender, and presence to deliver.
    pub(crate) fn process_inbound_presence(
        &mut self,
        stanza: Element,
        resource: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let type_ = stanza::stanza_type(&stanza);
        if let Some(t) = SubType::parse(type_) {
            // The sender's bare JID, which the state machine is about.
            return match stanza::sender_bare(&stanza) {
                Some(from) => self.process_inbound_subscription(t, from, stanza, None, ctx),
                None => log::debug!("{}: a subscription stanza without from", self.bare),
            };
        }
        // Only probes and errors need the sender's bare JID; ordinary presence (the bulk) is
        // not parsed again.
        let from_bare = || stanza::sender_bare(&stanza).map(|j| j.to_string());
        match type_ {
            "probe" => {
                if let Some(from) = from_bare() {
                    self.answer_probe(&from);
                }
            }
            "error" => {
                if let Some(from) = from_bare() {
                    self.presence_errors.insert(from);
                }
                self.deliver_presence(stanza, resource);
            }
            _ => self.deliver_presence(stanza, resource),
        }
    }

    /// §4.3.2: a probe from `from`. A contact subscribed to the user gets the presence of each
    /// available resource, or the last unavailable with the time of logout; anyone else gets
    /// `unsubscribed`, so that a contact that believes it is subscribed learns otherwise.
    fn answer_probe(&mut self, from: &str) {
        if !self.roster_current() {
            return;
        }
        if !self.sub_state(from).from() {
            let no = subscription_presence(self.bare.as_str(), from, SubType::Unsubscribed);
            return self.route(no);
        }
        if self.available().next().is_some() {
            return self.send_current_presence_to(from);
        }
        self.privacy_ready();
        if !self.allows_jid(None, Direction::PresenceOut, from) {
            return;
        }
        let mut b = Element::builder("presence", ns::JABBER_CLIENT)
            .a("type", "unavailable")
            .a("from", self.bare.to_string())
            .a("to", from);
        if let Some(stamp) = &self.last_unavailable {
            b = b.append(
                Element::builder("delay", ns::DELAY)
                    .a("from", self.bare.domain().as_str())
                    .a("stamp", stamp.as_str())
                    .build(),
            );
        }
        self.route(b.build());
    }

    /// Inbound presence to the user's resources (§8.5.2.1.2, §8.5.3).
    ///
    /// Each session's list decides for it (presence-in, RFC 3921 §10.10); blocked presence is
    /// dropped silently (§10.14).
    fn deliver_presence(&mut self, stanza: Element, resource: Option<String>) {
        self.privacy_ready();
        // The server stamped `from` in normalised form: compared as text.
        let from = stanza.attr("from").map(str::to_string);
        let lets_in =
            |act: &Self, r: &str| act.allows(Some(r), Direction::PresenceIn, from.as_deref());
        match resource {
            Some(r) => {
                if let Some(s) = self.sessions.get(&r).filter(|_| lets_in(self, &r)) {
                    s.link.send(stanza);
                }
            }
            None => {
                for s in self
                    .available()
                    .filter(|s| lets_in(self, s.full.resource().as_str()))
                {
                    s.link.send(stanza.clone());
                }
            }
        }
    }
}
