//! Where a message or iq for a local account goes: RFC 6121 §8.5 (local user), with the
//! account's privacy lists and blocklist applied first (RFC 3921 §10.2 rule 4, §10.14;
//! XEP-0191 §3.6). One pure decision, [`decide`], made the same way by the router's fast path
//! (on the account's published [`view`]) and by the account's actor.
//!
//! Presence is not decided here except for the broadcast of a contact's presence to the
//! account's available sessions ([`broadcast`], RFC 6121 §4.2.2, §4.4.2): subscription
//! stanzas and probes concern the account as a whole (§3, §4.3) and are the actor's.

use minidom::Element;

mod handler;
pub mod view;

use crate::link::LinkHandle;
use crate::privacy::Direction;
use crate::stanza::{self, Kind};

/// One of the account's sessions, as the rules see it.
#[derive(Clone, Copy)]
pub struct Candidate<'a> {
    pub resource: &'a str,
    /// Sent initial presence and not unavailable since (RFC 6121 §4.2).
    pub available: bool,
    pub priority: i8,
    pub link: &'a LinkHandle,
}

/// What the rules need to know about an account.
pub trait Audience {
    /// The account's connected (bound) sessions.
    fn sessions(&self) -> impl Iterator<Item = Candidate<'_>>;

    /// Whether the privacy list that applies to session `resource` (its active list, else the
    /// default), or with `None` the default list (a stanza for the account as a whole, such
    /// as one stored offline), lets a stanza of kind `dir` from `from` in. No list, or no
    /// known sender, lets everything in.
    fn allows(&self, resource: Option<&str>, dir: Direction, from: Option<&str>) -> bool;

    /// XEP-0191 §3.6: whether a refusal by the list of `resource` (`None`: the default list)
    /// was the blocklist's, i.e. the refusing list is the default one and blocks `from`
    /// outright. Such a message is answered; any other refusal is silent (RFC 3921 §10.14).
    fn blocklisted(&self, resource: Option<&str>, from: &str) -> bool;
}

/// What happens to a message or iq.
pub enum Decision<'a> {
    /// Queued on these sessions' links (§8.5.2.1.1, §8.5.3.1).
    Sessions(Vec<&'a LinkHandle>),
    /// No available session may take it: stored offline (§8.5.2.1.1, XEP-0160).
    StoreOffline,
    /// Answered `<service-unavailable/>` (type cancel).
    Refuse,
    /// An iq to the bare JID: the server answers it on the account's behalf (§8.5.2.1.3).
    OnBehalf,
    /// Dropped without an answer.
    Ignore,
}

/// Equal when the same sessions (by identity) or the same outcome.
impl PartialEq for Decision<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Decision::Sessions(a), Decision::Sessions(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y))
            }
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl std::fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Sessions(l) => write!(f, "Sessions({} links)", l.len()),
            Decision::StoreOffline => f.write_str("StoreOffline"),
            Decision::Refuse => f.write_str("Refuse"),
            Decision::OnBehalf => f.write_str("OnBehalf"),
            Decision::Ignore => f.write_str("Ignore"),
        }
    }
}

/// The stanza as the rules see it: its kind and type, the resource `to` names (`None`: the
/// bare JID), and `from` as the server stamped it (normalised, compared as text).
#[derive(Clone, Copy, Debug)]
pub struct Incoming<'a> {
    pub kind: Kind,
    pub type_: &'a str,
    pub resource: Option<&'a str>,
    pub from: Option<&'a str>,
}

impl<'a> Incoming<'a> {
    /// The facts of a message or iq (`resource`: the one its `to` names).
    pub fn of(stanza: &'a Element, kind: Kind, resource: Option<&'a str>) -> Self {
        Incoming {
            kind,
            type_: stanza::stanza_type(stanza),
            resource,
            from: stanza.attr("from"),
        }
    }

    fn direction(&self) -> Direction {
        match self.kind {
            Kind::Message => Direction::MessageIn,
            Kind::Iq => Direction::IqIn,
            Kind::Presence => Direction::PresenceIn,
        }
    }

    /// RFC 3921 §10.14: what a stanza refused by a privacy list becomes. A blocked iq get or
    /// set is answered `<service-unavailable/>`, other iqs are dropped; a blocked message is
    /// dropped unless the blocklist refused it (XEP-0191 §3.6). `by`: the refusing session.
    fn blocked<A: Audience + ?Sized>(&self, a: &A, by: Option<&str>) -> Decision<'static> {
        let answered = match self.kind {
            Kind::Iq => matches!(self.type_, "get" | "set"),
            Kind::Message => self.from.is_some_and(|f| a.blocklisted(by, f)),
            Kind::Presence => false,
        };
        if answered {
            Decision::Refuse
        } else {
            Decision::Ignore
        }
    }
}

/// RFC 6121 §8.5 for a message or iq to a local account that exists (§8.5.1, an account that
/// does not, is the router's). Presence gives [`Decision::Ignore`]: see the module's note.
pub fn decide<'a, A: Audience + ?Sized>(a: &'a A, s: Incoming<'_>) -> Decision<'a> {
    let dir = s.direction();
    match (s.kind, s.resource) {
        (Kind::Presence, _) => Decision::Ignore,
        // §8.5.3.1: a connected resource that exactly matches the full JID gets it.
        (_, Some(r)) if a.sessions().any(|c| c.resource == r) => {
            if !a.allows(Some(r), dir, s.from) {
                return s.blocked(a, Some(r));
            }
            let c = a.sessions().find(|c| c.resource == r);
            Decision::Sessions(c.map(|c| c.link).into_iter().collect())
        }
        // §8.5.3.2.1: of messages to a full JID with no connected resource, chat is treated
        // as sent to the bare JID; normal, headline and groupchat are answered
        // <service-unavailable/>; errors are ignored.
        (Kind::Message, Some(_)) => match s.type_ {
            "chat" => message_to_bare(a, s),
            "error" => Decision::Ignore,
            _ => Decision::Refuse,
        },
        (Kind::Message, None) => message_to_bare(a, s),
        // §8.5.3.2.2: an iq to a full JID with no connected resource (a get or set is
        // answered <service-unavailable/>; a result or error is dropped).
        (Kind::Iq, Some(_)) => match s.type_ {
            "get" | "set" => Decision::Refuse,
            _ => Decision::Ignore,
        },
        // §8.5.2.1.3: the server answers an iq to the bare JID, as far as the default list
        // lets it in.
        (Kind::Iq, None) if !a.allows(None, dir, s.from) => s.blocked(a, None),
        (Kind::Iq, None) => Decision::OnBehalf,
    }
}

/// §8.5.2 (and §8.5.3.2.1 for chat to an absent resource): a message for the account as a
/// whole. Only sessions whose list lets it in are candidates (RFC 3921 §10.2 rule 4).
fn message_to_bare<'a, A: Audience + ?Sized>(a: &'a A, s: Incoming<'_>) -> Decision<'a> {
    let dir = Direction::MessageIn;
    let available = || a.sessions().filter(|c| c.available);
    let open = || available().filter(|c| a.allows(Some(c.resource), dir, s.from));
    match s.type_ {
        // §8.5.2.1.1: the available resources of highest non-negative priority; if there are
        // none, offline storage (XEP-0160) if the default list lets it in.
        "normal" | "chat" => {
            if let Some(top) = top_priority(open().map(|c| c.priority)) {
                return Decision::Sessions(
                    open()
                        .filter(|c| c.priority == top)
                        .map(|c| c.link)
                        .collect(),
                );
            }
            let refused = available().count() - open().count();
            if refused == 0 && a.allows(None, dir, s.from) {
                Decision::StoreOffline
            } else if open().next().is_none() {
                // Every available session refused it, or there are none and the default list
                // refuses it.
                s.blocked(a, None)
            } else {
                // Some refused it and the rest have negative priorities: it goes nowhere.
                Decision::Ignore
            }
        }
        // §8.5.2.1.1: a headline to every available resource of non-negative priority;
        // never stored.
        "headline" => {
            let to: Vec<&LinkHandle> = open().filter(|c| c.priority >= 0).map(|c| c.link).collect();
            if to.is_empty() {
                s.blocked(a, None)
            } else {
                Decision::Sessions(to)
            }
        }
        // §8.5.2.1.1: groupchat to a bare JID is answered <service-unavailable/>.
        "groupchat" => Decision::Refuse,
        // type='error' (and unknown types): ignored.
        _ => Decision::Ignore,
    }
}

/// RFC 6121 §4.2.2 and §4.4.2: a contact's presence broadcast goes to every available session
/// whose list lets presence from `from` in.
pub fn broadcast<'a, A: Audience + ?Sized>(
    a: &'a A,
    from: Option<&'a str>,
) -> impl Iterator<Item = &'a LinkHandle> + use<'a, A> {
    a.sessions()
        .filter(move |c| c.available && a.allows(Some(c.resource), Direction::PresenceIn, from))
        .map(|c| c.link)
}

/// RFC 6121 §8.5.2.1.1: the highest non-negative priority among the sessions that may get a
/// normal or chat message to the bare JID, if there is one.
pub fn top_priority(priorities: impl Iterator<Item = i8>) -> Option<i8> {
    priorities.filter(|p| *p >= 0).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{link_pair, LinkReceiver};

    /// An account for the tests: sessions, and which senders each list refuses.
    struct Account {
        sessions: Vec<(String, bool, i8, LinkHandle)>,
        /// (resource or None for the default list, refused sender)
        refuses: Vec<(Option<String>, String)>,
        /// Senders on the blocklist, and which sessions' lists are the default one.
        blocklist: Vec<String>,
        on_default: Vec<String>,
        _rx: Vec<LinkReceiver>,
    }

    impl Account {
        fn new(sessions: &[(&str, bool, i8)]) -> Self {
            let mut a = Account {
                sessions: Vec::new(),
                refuses: Vec::new(),
                blocklist: Vec::new(),
                on_default: Vec::new(),
                _rx: Vec::new(),
            };
            for (r, available, priority) in sessions {
                let (link, rx) = link_pair(4);
                a.sessions
                    .push((r.to_string(), *available, *priority, link));
                a.on_default.push(r.to_string());
                a._rx.push(rx);
            }
            a
        }

        fn refuse(mut self, list_of: Option<&str>, sender: &str) -> Self {
            self.refuses
                .push((list_of.map(str::to_owned), sender.to_owned()));
            self
        }

        /// The default list blocks `sender` outright (XEP-0191), for every session on it.
        fn block(mut self, sender: &str) -> Self {
            self.blocklist.push(sender.to_owned());
            self.refuses.push((None, sender.to_owned()));
            for r in self.on_default.clone() {
                self.refuses.push((Some(r), sender.to_owned()));
            }
            self
        }

        fn link(&self, resource: &str) -> &LinkHandle {
            &self.sessions.iter().find(|s| s.0 == resource).unwrap().3
        }
    }

    impl Audience for Account {
        fn sessions(&self) -> impl Iterator<Item = Candidate<'_>> {
            self.sessions
                .iter()
                .map(|(r, available, priority, link)| Candidate {
                    resource: r,
                    available: *available,
                    priority: *priority,
                    link,
                })
        }

        fn allows(&self, resource: Option<&str>, _: Direction, from: Option<&str>) -> bool {
            let Some(from) = from else { return true };
            !self
                .refuses
                .iter()
                .any(|(r, f)| r.as_deref() == resource && f == from)
        }

        fn blocklisted(&self, resource: Option<&str>, from: &str) -> bool {
            let by_default = resource.is_none_or(|r| self.on_default.iter().any(|d| d == r));
            by_default && self.blocklist.iter().any(|b| b == from)
        }
    }

    fn msg<'a>(type_: &'a str, resource: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            kind: Kind::Message,
            type_,
            resource,
            from: Some("a@x/r"),
        }
    }

    fn iq<'a>(type_: &'a str, resource: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            kind: Kind::Iq,
            ..msg(type_, resource)
        }
    }

    fn to<'a>(a: &'a Account, resources: &[&str]) -> Decision<'a> {
        Decision::Sessions(resources.iter().map(|r| a.link(r)).collect())
    }

    #[test]
    fn s8_5_2_1_1_chat_and_normal_go_to_the_available_sessions_of_highest_priority() {
        let a = Account::new(&[
            ("hi", true, 5),
            ("hi2", true, 5),
            ("lo", true, 1),
            ("bound", false, 9),
        ]);
        for t in ["chat", "normal"] {
            assert_eq!(decide(&a, msg(t, None)), to(&a, &["hi", "hi2"]), "{t}");
        }
    }

    #[test]
    fn s8_5_2_1_1_no_available_session_of_non_negative_priority_means_offline_storage() {
        let a = Account::new(&[("neg", true, -1), ("bound", false, 3)]);
        assert_eq!(decide(&a, msg("chat", None)), Decision::StoreOffline);
        let none = Account::new(&[]);
        assert_eq!(decide(&none, msg("normal", None)), Decision::StoreOffline);
    }

    #[test]
    fn s8_5_2_1_1_headline_goes_to_every_non_negative_session_and_is_never_stored() {
        let a = Account::new(&[("a", true, 0), ("b", true, 3), ("neg", true, -1)]);
        assert_eq!(decide(&a, msg("headline", None)), to(&a, &["a", "b"]));
        let none = Account::new(&[("neg", true, -1)]);
        assert_eq!(decide(&none, msg("headline", None)), Decision::Ignore);
    }

    #[test]
    fn s8_5_2_1_1_groupchat_to_the_bare_jid_is_refused_and_errors_are_ignored() {
        let a = Account::new(&[("a", true, 0)]);
        assert_eq!(decide(&a, msg("groupchat", None)), Decision::Refuse);
        assert_eq!(decide(&a, msg("error", None)), Decision::Ignore);
    }

    #[test]
    fn s8_5_2_1_3_an_iq_to_the_bare_jid_is_answered_by_the_server() {
        let a = Account::new(&[("a", true, 0)]);
        assert_eq!(decide(&a, iq("get", None)), Decision::OnBehalf);
    }

    #[test]
    fn s8_5_3_1_a_connected_full_jid_gets_the_stanza_even_before_initial_presence() {
        let a = Account::new(&[("bound", false, -5), ("other", true, 9)]);
        for t in ["chat", "normal", "headline", "groupchat", "error"] {
            assert_eq!(decide(&a, msg(t, Some("bound"))), to(&a, &["bound"]), "{t}");
        }
        assert_eq!(decide(&a, iq("result", Some("bound"))), to(&a, &["bound"]));
    }

    #[test]
    fn s8_5_3_2_1_only_chat_to_an_absent_resource_falls_back_to_the_bare_jid() {
        let a = Account::new(&[("here", true, 1)]);
        assert_eq!(decide(&a, msg("chat", Some("gone"))), to(&a, &["here"]));
        for t in ["normal", "headline", "groupchat"] {
            assert_eq!(decide(&a, msg(t, Some("gone"))), Decision::Refuse, "{t}");
        }
        assert_eq!(decide(&a, msg("error", Some("gone"))), Decision::Ignore);
    }

    #[test]
    fn s8_5_3_2_2_an_iq_to_an_absent_resource_is_refused_if_it_asks_for_an_answer() {
        let a = Account::new(&[("here", true, 1)]);
        assert_eq!(decide(&a, iq("get", Some("gone"))), Decision::Refuse);
        assert_eq!(decide(&a, iq("set", Some("gone"))), Decision::Refuse);
        assert_eq!(decide(&a, iq("result", Some("gone"))), Decision::Ignore);
        assert_eq!(decide(&a, iq("error", Some("gone"))), Decision::Ignore);
    }

    #[test]
    fn rfc3921_s10_2_only_sessions_whose_list_lets_it_in_are_candidates() {
        // The higher session refuses the sender: the lower one gets it.
        let a = Account::new(&[("hi", true, 5), ("lo", true, 1)]).refuse(Some("hi"), "a@x/r");
        assert_eq!(decide(&a, msg("chat", None)), to(&a, &["lo"]));
        assert_eq!(decide(&a, msg("headline", None)), to(&a, &["lo"]));
    }

    #[test]
    fn rfc3921_s10_14_a_message_every_session_refuses_is_dropped_silently() {
        let a = Account::new(&[("a", true, 5)]).refuse(Some("a"), "a@x/r");
        assert_eq!(decide(&a, msg("chat", None)), Decision::Ignore);
        assert_eq!(decide(&a, msg("chat", Some("a"))), Decision::Ignore);
        // Nobody available and the default list refuses it: not stored, not answered.
        let b = Account::new(&[]).refuse(None, "a@x/r");
        assert_eq!(decide(&b, msg("chat", None)), Decision::Ignore);
    }

    #[test]
    fn rfc3921_s10_14_a_refused_message_with_a_negative_session_left_goes_nowhere() {
        // One session refuses it, the other has a negative priority: neither stored nor
        // delivered (storing it would hand it to the refusing session later).
        let a = Account::new(&[("a", true, 5), ("neg", true, -1)]).refuse(Some("a"), "a@x/r");
        assert_eq!(decide(&a, msg("chat", None)), Decision::Ignore);
    }

    #[test]
    fn rfc3921_s10_14_a_blocked_iq_get_or_set_is_refused_other_iqs_dropped() {
        let a = Account::new(&[("a", true, 0)])
            .refuse(Some("a"), "a@x/r")
            .refuse(None, "a@x/r");
        assert_eq!(decide(&a, iq("get", Some("a"))), Decision::Refuse);
        assert_eq!(decide(&a, iq("set", None)), Decision::Refuse);
        assert_eq!(decide(&a, iq("result", Some("a"))), Decision::Ignore);
        assert_eq!(decide(&a, iq("error", None)), Decision::Ignore);
    }

    #[test]
    fn xep0191_s3_6_a_message_from_a_blocked_sender_is_answered() {
        let a = Account::new(&[("a", true, 0)]).block("a@x/r");
        assert_eq!(decide(&a, msg("chat", Some("a"))), Decision::Refuse);
        assert_eq!(decide(&a, msg("chat", None)), Decision::Refuse);
        assert_eq!(decide(&a, msg("headline", None)), Decision::Refuse);
        let offline = Account::new(&[]).block("a@x/r");
        assert_eq!(decide(&offline, msg("normal", None)), Decision::Refuse);
    }

    #[test]
    fn xep0191_s3_6_a_session_with_another_active_list_refuses_silently() {
        // The blocklist is the default list; a session with an active list of its own that
        // refuses the sender is an XEP-0016 refusal: silent.
        let mut a = Account::new(&[("own", true, 0)]).block("a@x/r");
        a.on_default.clear();
        assert_eq!(decide(&a, msg("chat", Some("own"))), Decision::Ignore);
    }

    #[test]
    fn s4_2_2_a_broadcast_reaches_available_sessions_whose_list_lets_it_in() {
        let a = Account::new(&[("open", true, 0), ("closed", true, 0), ("bound", false, 0)])
            .refuse(Some("closed"), "a@x/r");
        let got = Decision::Sessions(broadcast(&a, Some("a@x/r")).collect());
        assert_eq!(got, to(&a, &["open"]));
    }

    #[test]
    fn presence_is_not_decided_here() {
        let a = Account::new(&[("a", true, 0)]);
        let p = Incoming {
            kind: Kind::Presence,
            ..msg("", None)
        };
        assert_eq!(decide(&a, p), Decision::Ignore);
    }
}
