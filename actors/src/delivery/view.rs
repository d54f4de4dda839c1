//! An account's delivery view: what the router may decide for a [`UserActor`] without a
//! mailbox hop.
//!
//! Most stanzas for an account need nothing but its sessions and their privacy lists: a
//! presence broadcast goes to every available session that lets it in (RFC 6121 §4.2.2,
//! §4.4.2), a chat message to the bare JID to the available sessions of highest non-negative
//! priority (§8.5.2.1.1), a message or iq to a connected full JID to that session (§8.5.3.1).
//! The UserActor publishes a snapshot of exactly that whenever it changes, and the router
//! delivers such stanzas straight into the sessions' outbound queues, on the sender's thread.
//! Everything else (no available session, offline storage, errors to bounce, subscription
//! state, probes, privacy lists that need the roster) goes through the mailbox as before.
//!
//! Two rules keep the shortcut invisible to clients:
//! - Order (RFC 6120 §10.1). `pending` counts stanzas on their way through the mailbox, until
//!   the actor is done with them; the shortcut is taken only when it is zero, so a stanza never
//!   overtakes an earlier one from the same sender that is still queued there.
//! - Changes take effect at once. The snapshot is read under a lock that the actor takes to
//!   replace it, so once the actor has published a change and acted on it (answered a block
//!   command, reflected an unavailable presence), no stanza decided under the old snapshot can
//!   reach the session after that.
//!
//! [`UserActor`]: crate::account::UserActor

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use minidom::Element;

use super::{broadcast, decide, Audience, Candidate, Decision, Incoming};
use crate::link::LinkHandle;
use crate::privacy::{CompiledList, Direction, NoRoster};
use crate::protocol::SharedPresence;
use crate::stanza::Kind;

/// Shared between an account's UserActor and the router's table.
#[derive(Default)]
pub struct Delivery {
    /// Stanzas routed to the actor's mailbox that it is not done with yet.
    pending: AtomicUsize,
    /// `None` while the actor has not published one (just started, privacy lists unread, a
    /// list that needs the roster, retiring): everything goes through the mailbox.
    view: RwLock<Option<View>>,
}

/// The account's sessions and lists as the delivery rules see them.
pub(crate) struct View {
    pub(crate) sessions: Vec<ViewSession>,
    /// The default list (for a message that would be stored offline); never one that needs
    /// the roster.
    pub(crate) default: Option<Arc<CompiledList>>,
}

pub(crate) struct ViewSession {
    pub(crate) resource: Box<str>,
    pub(crate) link: LinkHandle,
    pub(crate) available: bool,
    pub(crate) priority: i8,
    /// The session's active list, else the default; never one that needs the roster.
    pub(crate) list: Option<Arc<CompiledList>>,
}

impl Audience for View {
    fn sessions(&self) -> impl Iterator<Item = Candidate<'_>> {
        self.sessions.iter().map(|s| Candidate {
            resource: &s.resource,
            available: s.available,
            priority: s.priority,
            link: &s.link,
        })
    }

    fn allows(&self, resource: Option<&str>, dir: Direction, from: Option<&str>) -> bool {
        let list = match resource {
            Some(r) => self.session(r).and_then(|s| s.list.as_ref()),
            None => self.default.as_ref(),
        };
        match (list, from) {
            (Some(list), Some(from)) => list.allows_text(dir, from, &NoRoster),
            _ => true,
        }
    }

    fn blocklisted(&self, resource: Option<&str>, from: &str) -> bool {
        let Some(default) = &self.default else {
            return false;
        };
        let refusing = match resource {
            Some(r) => self.session(r).and_then(|s| s.list.as_deref()),
            None => Some(&**default),
        };
        default.refusal_is_blocklist(refusing, from)
    }
}

impl View {
    fn session(&self, resource: &str) -> Option<&ViewSession> {
        self.sessions.iter().find(|s| *s.resource == *resource)
    }
}

impl Delivery {
    /// A stanza is on its way to the actor's mailbox. Call before sending it.
    pub(crate) fn queued(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// The actor is done with a stanza that came through [`Self::queued`]: it is in the
    /// sessions' queues, stored, or dropped.
    pub(crate) fn done(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn publish(&self, view: Option<View>) {
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = view;
    }

    /// Runs `f` on the view if the shortcut may be taken now.
    fn with_view<T>(&self, f: impl FnOnce(Option<&View>) -> T) -> T {
        if self.pending.load(Ordering::Acquire) != 0 {
            return f(None);
        }
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        f(view.as_ref())
    }

    /// Delivers a message or iq (with `from` stamped, `to` normalised; `resource` is the one
    /// `to` names) if [`decide`] sends it to sessions or drops it. Gives the stanza
    /// back when the actor must act (store it, answer it, answer for the account).
    pub(crate) fn try_deliver(
        &self,
        stanza: Element,
        kind: Kind,
        resource: Option<&str>,
    ) -> Result<(), Element> {
        if kind == Kind::Presence {
            return Err(stanza);
        }
        self.with_view(|v| {
            let Some(v) = v else { return Err(stanza) };
            match decide(v, Incoming::of(&stanza, kind, resource)) {
                Decision::Sessions(links) => {
                    send_each(links, stanza);
                    Ok(())
                }
                Decision::Ignore => Ok(()),
                Decision::StoreOffline | Decision::Refuse | Decision::OnBehalf => Err(stanza),
            }
        })
    }

    /// Delivers a presence broadcast addressed to `to` (the account's bare JID) to its
    /// available sessions if the view decides it; `false` when the actor must.
    pub(crate) fn try_broadcast(&self, presence: &SharedPresence, to: &str) -> bool {
        self.with_view(|v| {
            let Some(v) = v else { return false };
            let from = presence.element.attr("from");
            send_broadcast(broadcast(v, from), presence, to);
            true
        })
    }
}

/// Queues `stanza` on each link; the last one takes it without a copy.
pub(crate) fn send_each(links: Vec<&LinkHandle>, stanza: Element) {
    if let Some((last, rest)) = links.split_last() {
        for l in rest {
            l.send(stanza.clone());
        }
        last.send(stanza);
    }
}

/// Queues a broadcast addressed to `to` on each link, serialised once; the last link takes
/// the string without a copy.
pub(crate) fn send_broadcast<'a>(
    links: impl Iterator<Item = &'a LinkHandle>,
    presence: &SharedPresence,
    to: &str,
) {
    let mut xml: Option<String> = None;
    let mut last: Option<&LinkHandle> = None;
    for link in links {
        if let Some(before) = last.replace(link) {
            before.send_xml(xml.get_or_insert_with(|| presence.xml_to(to)).clone());
        }
    }
    if let Some(link) = last {
        link.send_xml(xml.unwrap_or_else(|| presence.xml_to(to)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{link_pair, LinkReceiver, Outbound};
    use crate::privacy::{parse_list, NS_PRIVACY};

    fn session(resource: &str, available: bool, priority: i8) -> (ViewSession, LinkReceiver) {
        let (link, rx) = link_pair(8);
        let s = ViewSession {
            resource: resource.into(),
            link,
            available,
            priority,
            list: None,
        };
        (s, rx)
    }

    fn chat(to: &str) -> Element {
        format!("<message xmlns='jabber:client' from='a@x/r' to='{to}' type='chat'><body>hi</body></message>")
            .parse()
            .unwrap()
    }

    /// What a session's queue holds, as (name, to) pairs.
    fn queued(rx: &mut LinkReceiver) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Ok(Outbound(xml)) = rx.stanzas.try_recv() {
            let el: Element = xml.parse().unwrap();
            out.push((
                el.name().to_string(),
                el.attr("to").unwrap_or("").to_string(),
            ));
        }
        out
    }

    fn delivery(sessions: Vec<ViewSession>) -> Delivery {
        let d = Delivery::default();
        d.publish(Some(View {
            sessions,
            default: None,
        }));
        d
    }

    #[test]
    fn a_chat_to_the_bare_jid_goes_to_the_highest_non_negative_priority() {
        let (high, mut high_rx) = session("high", true, 5);
        let (low, mut low_rx) = session("low", true, 1);
        let (away, mut away_rx) = session("bound-only", false, 9);
        let d = delivery(vec![high, low, away]);
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_ok());
        assert_eq!(queued(&mut high_rx), [("message".into(), "b@x".into())]);
        assert!(queued(&mut low_rx).is_empty());
        assert!(queued(&mut away_rx).is_empty());
    }

    #[test]
    fn the_actor_decides_when_no_session_may_get_a_bare_jid_chat() {
        // Only negative priorities, or nothing available: offline storage is the actor's.
        let (neg, mut rx) = session("neg", true, -1);
        let d = delivery(vec![neg]);
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_err());
        assert!(queued(&mut rx).is_empty());
        let d = delivery(vec![]);
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_err());
    }

    #[test]
    fn a_full_jid_reaches_its_session_even_before_initial_presence() {
        let (bound, mut rx) = session("r", false, 0);
        let d = delivery(vec![bound]);
        assert!(d
            .try_deliver(chat("b@x/r"), Kind::Message, Some("r"))
            .is_ok());
        assert_eq!(queued(&mut rx), [("message".into(), "b@x/r".into())]);
        // A normal or headline message to a resource that is not connected is answered by
        // the actor (§8.5.3.2.1); only chat falls back to the bare JID.
        for t in ["normal", "headline"] {
            let m: Element =
                format!("<message xmlns='jabber:client' from='a@x/r' to='b@x/gone' type='{t}'/>")
                    .parse()
                    .unwrap();
            assert!(d.try_deliver(m, Kind::Message, Some("gone")).is_err());
        }
        // An iq to a resource that is not connected is answered by the actor.
        let iq: Element = "<iq xmlns='jabber:client' type='get' id='1' from='a@x/r' to='b@x/gone'><ping xmlns='urn:xmpp:ping'/></iq>".parse().unwrap();
        assert!(d.try_deliver(iq, Kind::Iq, Some("gone")).is_err());
    }

    #[test]
    fn nothing_takes_the_shortcut_while_the_mailbox_holds_a_stanza() {
        let (s, mut rx) = session("r", true, 0);
        let d = delivery(vec![s]);
        d.queued();
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_err());
        let shared = SharedPresence::new(
            "a@x/r".parse().unwrap(),
            Element::bare("presence", "jabber:client"),
        );
        assert!(!d.try_broadcast(&shared, "b@x"));
        d.done();
        assert!(d.try_broadcast(&shared, "b@x"));
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_ok());
        assert_eq!(
            queued(&mut rx),
            [
                ("presence".into(), "b@x".into()),
                ("message".into(), "b@x".into())
            ]
        );
        // No view published (or withdrawn): always the actor.
        d.publish(None);
        assert!(d.try_deliver(chat("b@x"), Kind::Message, None).is_err());
        assert!(!d.try_broadcast(&shared, "b@x"));
    }

    #[test]
    fn a_broadcast_reaches_the_available_sessions_whose_list_lets_it_in() {
        let el: Element = format!(
            "<list xmlns='{NS_PRIVACY}' name='l'><item type='jid' value='a@x' action='deny' order='1'><presence-in/></item></list>"
        )
        .parse()
        .unwrap();
        let blocks_a = CompiledList::compile(&parse_list(&el, 10).unwrap());
        let (open, mut open_rx) = session("open", true, 0);
        let (mut closed, mut closed_rx) = session("closed", true, 0);
        closed.list = Some(blocks_a.clone());
        let (bound, mut bound_rx) = session("bound-only", false, 0);
        let d = delivery(vec![open, closed, bound]);
        let shared = SharedPresence::new(
            "a@x/r".parse().unwrap(),
            Element::bare("presence", "jabber:client"),
        );
        assert!(d.try_broadcast(&shared, "b@x"));
        assert_eq!(queued(&mut open_rx), [("presence".into(), "b@x".into())]);
        assert!(queued(&mut closed_rx).is_empty());
        assert!(queued(&mut bound_rx).is_empty());
        // A message the same list does not mention still gets through.
        assert!(d
            .try_deliver(chat("b@x/closed"), Kind::Message, Some("closed"))
            .is_ok());
        assert_eq!(queued(&mut closed_rx).len(), 1);
    }
}
