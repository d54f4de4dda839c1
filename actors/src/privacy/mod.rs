//! Privacy lists (XEP-0016, RFC 3921 §10): the `jabber:iq:privacy` payload parsed and checked,
//! lists serialised back, and a compiled list that decides whether a stanza may pass.
//!
//! The list model itself ([`PrivacyList`]) lives in storage. Evaluation is a pure function of
//! an immutable [`CompiledList`] and the user's roster, so whoever holds a snapshot can decide
//! without asking an actor.

pub(crate) mod handler;
pub mod list_actor;

use std::collections::HashSet;
use std::sync::Arc;

use cordial_storage::{PrivacyItem, PrivacyList, PrivacyMatch, PrivacyStanzas, Subscription};
use jid::Jid;
use minidom::Element;

use crate::error::RequestError;
use crate::xml::BuildAttr;

pub const NS_PRIVACY: &str = "jabber:iq:privacy";

/// Limits from the configuration (`[privacy]`). Each is answered `<not-acceptable/>` with a
/// text giving the limit (RFC 6120 §8.3.3.12: the request does not meet criteria the server
/// defines; XEP-0016 and XEP-0191 name no condition of their own).
#[derive(Clone, Copy, Debug)]
pub struct PrivacyLimits {
    /// Lists one account may hold; a set that would create one more is refused, and so is a
    /// block that would have to create the default list.
    pub max_lists: usize,
    /// Items one list may hold. The blocklist is the default list's items (XEP-0191), so this
    /// also bounds it; a `<block/>` or `<unblock/>` carrying more items than this is refused at
    /// the first one beyond, before the rest are read.
    pub max_items: usize,
}

impl Default for PrivacyLimits {
    fn default() -> Self {
        PrivacyLimits {
            max_lists: 50,
            max_items: 1000,
        }
    }
}

fn bad(text: impl Into<std::borrow::Cow<'static, str>>) -> RequestError {
    RequestError::bad_request(text)
}

/// Parses a `<list/>` from a set. An empty list (no items) is returned as such; the caller
/// treats it as a removal (XEP-0016 §2.8). More than `max_items` items is refused at the first
/// one beyond, before the rest are read.
pub fn parse_list(el: &Element, max_items: usize) -> Result<PrivacyList, RequestError> {
    let name = el
        .attr("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("a list needs a name"))?
        .to_string();
    let mut items: Vec<PrivacyItem> = Vec::new();
    let mut orders = HashSet::new();
    for child in el.children() {
        if child.name() != "item" || child.ns() != NS_PRIVACY {
            return Err(bad(format!("unexpected <{}/> in a list", child.name())));
        }
        if items.len() >= max_items {
            return Err(RequestError::not_acceptable(format!(
                "a list may hold at most {max_items} items"
            )));
        }
        let item = parse_item(child)?;
        if !orders.insert(item.order) {
            return Err(bad(format!("order {} is used twice", item.order)));
        }
        items.push(item);
    }
    items.sort_by_key(|i| i.order);
    Ok(PrivacyList { name, items })
}

fn parse_item(el: &Element) -> Result<PrivacyItem, RequestError> {
    let allow = match el.attr("action") {
        Some("allow") => true,
        Some("deny") => false,
        Some(other) => return Err(bad(format!("unknown action {other:?}"))),
        None => return Err(bad("an item needs an action")),
    };
    let order = el
        .attr("order")
        .ok_or_else(|| bad("an item needs an order"))?;
    // XEP-0016 §2.1: a non-negative integer, unique in the list.
    let order: u32 = order
        .parse()
        .map_err(|_| bad(format!("order {order:?} is not a non-negative integer")))?;
    let value = el.attr("value");
    let what = match (el.attr("type"), value) {
        (None, None) => PrivacyMatch::FallThrough,
        (None, Some(_)) => return Err(bad("a value needs a type")),
        (Some(_), None) => return Err(bad("a typed item needs a value")),
        (Some("jid"), Some(v)) => {
            let j = Jid::new(v).map_err(|e| bad(format!("invalid JID {v:?}: {e}")))?;
            PrivacyMatch::Jid(j.to_string())
        }
        (Some("group"), Some(v)) => PrivacyMatch::Group(v.to_string()),
        (Some("subscription"), Some(v)) => PrivacyMatch::Subscription(match v {
            "none" => Subscription::None,
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => return Err(bad(format!("unknown subscription {v:?}"))),
        }),
        (Some(t), Some(_)) => return Err(bad(format!("unknown item type {t:?}"))),
    };
    let mut stanzas = PrivacyStanzas::default();
    for c in el.children() {
        if c.ns() != NS_PRIVACY {
            return Err(bad(format!("unexpected <{}/> in an item", c.name())));
        }
        match c.name() {
            "message" => stanzas.message = true,
            "iq" => stanzas.iq = true,
            "presence-in" => stanzas.presence_in = true,
            "presence-out" => stanzas.presence_out = true,
            other => return Err(bad(format!("unexpected <{other}/> in an item"))),
        }
    }
    Ok(PrivacyItem {
        what,
        allow,
        order,
        stanzas,
    })
}

/// A list as `<list name='…'>` with its items (for a get).
pub fn list_element(list: &PrivacyList) -> Element {
    let mut l = Element::builder("list", NS_PRIVACY)
        .a("name", list.name.as_str())
        .build();
    for i in &list.items {
        let mut b = Element::builder("item", NS_PRIVACY);
        match &i.what {
            PrivacyMatch::Jid(j) => b = b.a("type", "jid").a("value", j.as_str()),
            PrivacyMatch::Group(g) => b = b.a("type", "group").a("value", g.as_str()),
            PrivacyMatch::Subscription(s) => b = b.a("type", "subscription").a("value", s.as_str()),
            PrivacyMatch::FallThrough => {}
        }
        b = b
            .a("action", if i.allow { "allow" } else { "deny" })
            .a("order", i.order.to_string());
        let s = i.stanzas;
        for (on, name) in [
            (s.message, "message"),
            (s.iq, "iq"),
            (s.presence_in, "presence-in"),
            (s.presence_out, "presence-out"),
        ] {
            if on {
                b = b.append(Element::bare(name, NS_PRIVACY));
            }
        }
        l.append_child(b.build());
    }
    l
}

/// The kind of stanza being decided, from the list owner's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    MessageIn,
    IqIn,
    PresenceIn,
    PresenceOut,
    /// A message or iq the user sends: only items for every stanza (no child) apply.
    Outbound,
}

impl Direction {
    pub const ALL: [Direction; 5] = [
        Direction::MessageIn,
        Direction::IqIn,
        Direction::PresenceIn,
        Direction::PresenceOut,
        Direction::Outbound,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn applies(self, s: PrivacyStanzas) -> bool {
        if s.all() {
            return true;
        }
        match self {
            Direction::MessageIn => s.message,
            Direction::IqIn => s.iq,
            Direction::PresenceIn => s.presence_in,
            Direction::PresenceOut => s.presence_out,
            Direction::Outbound => false,
        }
    }
}

/// A JID item's value split for matching (XEP-0016 §2.1 / RFC 3921 §10.1).
#[derive(Debug)]
struct JidPattern {
    node: Option<String>,
    domain: String,
    resource: Option<String>,
}

impl JidPattern {
    fn new(value: &str) -> Option<Self> {
        let j = Jid::new(value).ok()?;
        Some(JidPattern {
            node: j.node().map(|n| n.to_string()),
            domain: j.domain().to_string(),
            resource: j.resource().map(|r| r.to_string()),
        })
    }

    /// The pattern as a lookup key: its normalised JID text.
    fn key(&self) -> String {
        let mut k = String::new();
        if let Some(n) = &self.node {
            k.push_str(n);
            k.push('@');
        }
        k.push_str(&self.domain);
        if let Some(r) = &self.resource {
            k.push('/');
            k.push_str(r);
        }
        k
    }

    /// The bare part of a JID's text (before the first `/`).
    fn bare_of(j: &str) -> &str {
        j.split_once('/').map_or(j, |(b, _)| b)
    }

    /// The keys of the patterns that match the JID `j` (normalised text; RFC 3921 §10.1):
    /// `user@domain/resource` matches only itself; `user@domain` any of its resources;
    /// `domain/resource` only that JID; `domain` the domain and every JID at it.
    fn keys_of(j: &str) -> [Option<&str>; 4] {
        let bare = Self::bare_of(j);
        let has_resource = bare.len() < j.len();
        let (node, domain) = match bare.split_once('@') {
            Some((_, d)) => (true, d),
            None => (false, bare),
        };
        [
            (node && has_resource).then_some(j),
            node.then_some(bare),
            (!node && has_resource).then_some(j),
            Some(domain),
        ]
    }
}

#[derive(Debug)]
enum CompiledMatch {
    Jid(JidPattern),
    Group(String),
    Subscription(Subscription),
    All,
    /// A stored JID that no longer parses: matches nothing.
    Nothing,
}

#[derive(Debug)]
struct CompiledItem {
    what: CompiledMatch,
    allow: bool,
    stanzas: PrivacyStanzas,
}

/// One step of a list for one direction: a single item, or a run of consecutive jid items
/// looked up by key (the earliest matching item of the run wins, as in a linear scan).
#[derive(Debug)]
enum Step {
    Item(CompiledItem),
    /// Key (a normalised JID in one of the four forms of §10.1) -> (position in the run, allow).
    Jids(std::collections::HashMap<String, (usize, bool)>),
}

/// A list ready for evaluation: immutable, shared by every holder of the snapshot. Compiled
/// per direction: only the items that apply to it, runs of jid items as hash lookups, and the
/// answer precomputed when it does not depend on who the other entity is.
#[derive(Debug)]
pub struct CompiledList {
    pub name: String,
    /// Indexed by [`Direction::index`].
    steps: [Vec<Step>; 5],
    /// Indexed by [`Direction::index`]: `Some(allow)` when the first applicable item matches
    /// everyone (or nothing applies: allow).
    fixed: [Option<bool>; 5],
    needs_roster: bool,
    has_outbound: bool,
    /// Keys of the items that make up the XEP-0191 blocklist when this is the default list:
    /// jid items that deny every kind of stanza.
    blocklist: std::collections::HashSet<String>,
}

/// What the user's roster says about the other entity.
pub trait RosterView {
    /// Subscription and groups of the roster item for `bare`, if there is one.
    fn lookup(&self, bare: &str) -> Option<(Subscription, &[String])>;
}

/// A roster that knows no one (for lists without group or subscription items).
pub struct NoRoster;

impl RosterView for NoRoster {
    fn lookup(&self, _: &str) -> Option<(Subscription, &[String])> {
        None
    }
}

impl RosterView for crate::roster::RosterState {
    fn lookup(&self, bare: &str) -> Option<(Subscription, &[String])> {
        self.get(bare)
            .map(|i| (i.subscription, i.groups.as_slice()))
    }
}

impl CompiledList {
    pub fn compile(list: &PrivacyList) -> Arc<Self> {
        let items: Vec<CompiledItem> = list
            .items
            .iter()
            .map(|i| CompiledItem {
                what: match &i.what {
                    PrivacyMatch::Jid(v) => JidPattern::new(v)
                        .map(CompiledMatch::Jid)
                        .unwrap_or(CompiledMatch::Nothing),
                    PrivacyMatch::Group(g) => CompiledMatch::Group(g.clone()),
                    PrivacyMatch::Subscription(s) => CompiledMatch::Subscription(*s),
                    PrivacyMatch::FallThrough => CompiledMatch::All,
                },
                allow: i.allow,
                stanzas: i.stanzas,
            })
            .collect();
        let needs_roster = items.iter().any(|i| {
            matches!(
                i.what,
                CompiledMatch::Group(_) | CompiledMatch::Subscription(_)
            )
        });
        let has_outbound = items.iter().any(|i| i.stanzas.all());
        let blocklist = items
            .iter()
            .filter(|i| !i.allow && i.stanzas.all())
            .filter_map(|i| match &i.what {
                CompiledMatch::Jid(p) => Some(p.key()),
                _ => None,
            })
            .collect();
        let mut steps: [Vec<Step>; 5] = Default::default();
        let mut fixed = [None; 5];
        for dir in Direction::ALL {
            let applicable: Vec<&CompiledItem> =
                items.iter().filter(|i| dir.applies(i.stanzas)).collect();
            fixed[dir.index()] = match applicable.first() {
                None => Some(true),
                Some(i) if matches!(i.what, CompiledMatch::All) => Some(i.allow),
                _ => None,
            };
            let out = &mut steps[dir.index()];
            for item in applicable {
                match &item.what {
                    CompiledMatch::Jid(p) => {
                        if !matches!(out.last(), Some(Step::Jids(_))) {
                            out.push(Step::Jids(Default::default()));
                        }
                        let Some(Step::Jids(run)) = out.last_mut() else {
                            unreachable!("pushed above")
                        };
                        let at = run.len();
                        run.entry(p.key()).or_insert((at, item.allow));
                    }
                    CompiledMatch::Nothing => {}
                    other => out.push(Step::Item(CompiledItem {
                        what: match other {
                            CompiledMatch::Group(g) => CompiledMatch::Group(g.clone()),
                            CompiledMatch::Subscription(s) => CompiledMatch::Subscription(*s),
                            _ => CompiledMatch::All,
                        },
                        allow: item.allow,
                        stanzas: item.stanzas,
                    })),
                }
            }
        }
        Arc::new(CompiledList {
            name: list.name.clone(),
            steps,
            fixed,
            needs_roster,
            has_outbound,
            blocklist,
        })
    }

    /// Whether `other` (a normalised JID) is matched by a blocklist item of this list (see
    /// `blocklist`): what XEP-0191 §3.6 answers with `<service-unavailable/>` when this
    /// is the default list.
    pub fn blocks(&self, other: &str) -> bool {
        !self.blocklist.is_empty()
            && JidPattern::keys_of(other)
                .iter()
                .flatten()
                .any(|k| self.blocklist.contains(*k))
    }

    /// XEP-0191 §3.6: whether a refusal by `refusing` (the list that refused a message) was
    /// the blocklist's: `refusing` is this list (the default one, by name) and it blocks
    /// `other` outright. Such a message is answered; any other refusal is silent.
    pub fn refusal_is_blocklist(&self, refusing: Option<&CompiledList>, other: &str) -> bool {
        refusing.is_some_and(|l| l.name == self.name) && self.blocks(other)
    }

    /// Whether any item depends on the roster (group or subscription items).
    pub fn needs_roster(&self) -> bool {
        self.needs_roster
    }

    /// Whether any item applies to the user's own outbound messages and iqs (items without
    /// child elements).
    pub fn has_outbound_items(&self) -> bool {
        self.has_outbound
    }

    /// The answer for `dir` when it does not depend on the other entity.
    pub fn fixed(&self, dir: Direction) -> Option<bool> {
        self.fixed[dir.index()]
    }

    /// Whether a stanza of kind `dir` exchanged with `other` may pass: the first item (by
    /// order) that matches and applies decides; none means allowed (XEP-0016 §2.1).
    pub fn allows(&self, dir: Direction, other: &Jid, roster: &dyn RosterView) -> bool {
        self.allows_text(dir, &other.to_string(), roster)
    }

    /// [`Self::allows`] for a JID as normalised text (as the server stamps `from`), without
    /// parsing or allocating.
    pub fn allows_text(&self, dir: Direction, other: &str, roster: &dyn RosterView) -> bool {
        if let Some(answer) = self.fixed(dir) {
            return answer;
        }
        let mut keys: Option<[Option<&str>; 4]> = None;
        let mut contact = None;
        let mut looked = false;
        for step in &self.steps[dir.index()] {
            match step {
                Step::Jids(run) => {
                    let keys = keys.get_or_insert_with(|| JidPattern::keys_of(other));
                    if let Some((_, allow)) = keys
                        .iter()
                        .flatten()
                        .filter_map(|k| run.get(*k))
                        .min_by_key(|(at, _)| *at)
                    {
                        return *allow;
                    }
                }
                Step::Item(item) => {
                    let hit = match &item.what {
                        CompiledMatch::All => true,
                        CompiledMatch::Group(_) | CompiledMatch::Subscription(_) => {
                            if !looked {
                                looked = true;
                                contact = roster.lookup(JidPattern::bare_of(other));
                            }
                            item_hits(&item.what, contact)
                        }
                        _ => false,
                    };
                    if hit {
                        return item.allow;
                    }
                }
            }
        }
        true
    }
}

fn item_hits(what: &CompiledMatch, contact: Option<(Subscription, &[String])>) -> bool {
    match what {
        CompiledMatch::Group(g) => contact.is_some_and(|(_, groups)| groups.iter().any(|x| x == g)),
        // Someone not in the roster has subscription "none".
        CompiledMatch::Subscription(s) => {
            contact.map(|(sub, _)| sub).unwrap_or(Subscription::None) == *s
        }
        _ => false,
    }
}

/// XEP-0191 §3.3 (and XEP-0016 §2.13): the error for a user's own stanza to an entity the user
/// blocks: `<not-acceptable/>` with `<blocked xmlns='urn:xmpp:blocking:errors'/>`. `None` for
/// a stanza of type error.
pub fn blocked_error(stanza: &Element) -> Option<Element> {
    let mut reply = crate::stanza::error_reply(
        stanza,
        crate::stanza::ErrorType::Cancel,
        crate::stanza::DefinedCondition::NotAcceptable,
        None,
    )?;
    if let Some(err) = reply
        .children_mut()
        .find(|c| c.name() == "error" && c.ns() == crate::ns::JABBER_CLIENT)
    {
        err.append_child(Element::bare("blocked", NS_BLOCKING_ERRORS));
    }
    Some(reply)
}

pub const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Roster(HashMap<&'static str, (Subscription, Vec<String>)>);

    impl RosterView for Roster {
        fn lookup(&self, bare: &str) -> Option<(Subscription, &[String])> {
            self.0.get(bare).map(|(s, g)| (*s, g.as_slice()))
        }
    }

    fn roster() -> Roster {
        Roster(HashMap::from([
            (
                "friend@ex",
                (Subscription::Both, vec!["Friends".to_string()]),
            ),
            ("fan@ex", (Subscription::From, vec![])),
            ("idol@ex", (Subscription::To, vec!["Stars".to_string()])),
            ("met@ex", (Subscription::None, vec![])),
        ]))
    }

    fn list(xml: &str) -> Result<PrivacyList, RequestError> {
        let el: Element = format!("<list xmlns='{NS_PRIVACY}' name='l'>{xml}</list>")
            .parse()
            .unwrap();
        parse_list(&el, 100)
    }

    fn j(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    #[test]
    fn parse_rejects_what_xep_0016_forbids() {
        for (xml, why) in [
            ("<item action='deny'/>", "order"),
            ("<item order='1'/>", "action"),
            ("<item action='block' order='1'/>", "action"),
            ("<item action='deny' order='-1'/>", "non-negative"),
            ("<item action='deny' order='x'/>", "non-negative"),
            (
                "<item action='deny' order='1'/><item action='allow' order='1'/>",
                "twice",
            ),
            ("<item type='jid' action='deny' order='1'/>", "value"),
            ("<item value='a@b' action='deny' order='1'/>", "type"),
            (
                "<item type='color' value='red' action='deny' order='1'/>",
                "type",
            ),
            (
                "<item type='subscription' value='all' action='deny' order='1'/>",
                "subscription",
            ),
            (
                "<item type='jid' value='a@b@c' action='deny' order='1'/>",
                "JID",
            ),
            ("<item action='deny' order='1'><chat/></item>", "chat"),
        ] {
            let e = list(xml).expect_err(xml);
            assert!(matches!(e, RequestError::BadRequest(_)), "{xml}: {e:?}");
            let text = e.answer().2.unwrap_or_default().to_string();
            assert!(text.contains(why), "{xml}: {text}");
        }
        let el: Element = format!("<list xmlns='{NS_PRIVACY}'/>").parse().unwrap();
        assert!(parse_list(&el, 10).is_err());
    }

    #[test]
    fn more_items_than_the_limit_are_not_acceptable() {
        let items: String = (0..4)
            .map(|n| format!("<item action='deny' order='{n}'/>"))
            .collect();
        let el: Element = format!("<list xmlns='{NS_PRIVACY}' name='l'>{items}</list>")
            .parse()
            .unwrap();
        assert_eq!(parse_list(&el, 4).unwrap().items.len(), 4);
        let e = parse_list(&el, 3).unwrap_err();
        assert!(
            matches!(&e, RequestError::NotAcceptable(t) if t == "a list may hold at most 3 items"),
            "{e:?}"
        );
    }

    #[test]
    fn a_list_round_trips_sorted_by_order() {
        let l = list(
            "<item type='subscription' value='both' action='allow' order='20'><presence-out/><message/></item>\
             <item type='jid' value='Eve@Example.com' action='deny' order='3'/>\
             <item type='group' value='Work' action='deny' order='10'><iq/><presence-in/></item>\
             <item action='allow' order='99'/>",
        )
        .unwrap();
        let orders: Vec<u32> = l.items.iter().map(|i| i.order).collect();
        assert_eq!(orders, [3, 10, 20, 99]);
        // JIDs are kept normalised (RFC 7622: the node is case-folded).
        assert_eq!(l.items[0].what, PrivacyMatch::Jid("eve@example.com".into()));
        let again = parse_list(&list_element(&l), 100).unwrap();
        assert_eq!(again, l);
    }

    #[test]
    fn jid_items_match_full_bare_domain_resource_and_domain() {
        let cases = [
            (
                "a@ex/r",
                vec![("a@ex/r", true), ("a@ex/s", false), ("a@ex", false)],
            ),
            (
                "a@ex",
                vec![("a@ex/r", true), ("a@ex", true), ("b@ex", false)],
            ),
            (
                "ex/r",
                vec![("ex/r", true), ("a@ex/r", false), ("ex", false)],
            ),
            (
                "ex",
                vec![
                    ("ex", true),
                    ("a@ex/r", true),
                    ("ex/x", true),
                    ("a@other", false),
                ],
            ),
        ];
        for (value, probes) in cases {
            let c = CompiledList::compile(
                &list(&format!(
                    "<item type='jid' value='{value}' action='deny' order='1'/>"
                ))
                .unwrap(),
            );
            for (who, blocked) in probes {
                assert_eq!(
                    !c.allows(Direction::MessageIn, &j(who), &roster()),
                    blocked,
                    "{value} vs {who}"
                );
            }
        }
    }

    #[test]
    fn within_a_run_of_jid_items_the_lowest_order_wins_whatever_the_form() {
        let c = CompiledList::compile(
            &list(
                "<item type='jid' value='a@ex/r' action='allow' order='1'/>\
                 <item type='jid' value='a@ex' action='deny' order='2'/>\
                 <item type='jid' value='ex' action='allow' order='3'/>\
                 <item type='group' value='Friends' action='deny' order='4'/>\
                 <item type='jid' value='friend@ex' action='allow' order='5'/>\
                 <item action='deny' order='6'/>",
            )
            .unwrap(),
        );
        let r = roster();
        let d = Direction::MessageIn;
        assert!(c.allows(d, &j("a@ex/r"), &r));
        assert!(!c.allows(d, &j("a@ex/s"), &r));
        assert!(!c.allows(d, &j("a@ex"), &r));
        assert!(c.allows(d, &j("b@ex"), &r));
        // The domain item (order 3) comes before the group item (order 4).
        assert!(c.allows(d, &j("friend@ex"), &r));
        assert!(!c.allows(d, &j("x@other"), &r));
        let first_wins = CompiledList::compile(
            &list(
                "<item type='jid' value='ex' action='deny' order='1'/>\
                 <item type='jid' value='a@ex/r' action='allow' order='2'/>",
            )
            .unwrap(),
        );
        assert!(!first_wins.allows(d, &j("a@ex/r"), &r));
    }

    #[test]
    fn group_subscription_and_fall_through() {
        let c = CompiledList::compile(
            &list(
                "<item type='group' value='Friends' action='allow' order='1'/>\
                 <item type='subscription' value='none' action='deny' order='2'><message/></item>\
                 <item type='subscription' value='to' action='deny' order='3'><presence-out/></item>\
                 <item action='deny' order='4'><iq/></item>",
            )
            .unwrap(),
        );
        let r = roster();
        use Direction::*;
        // Group beats everything after it.
        for d in [MessageIn, IqIn, PresenceIn, PresenceOut, Outbound] {
            assert!(c.allows(d, &j("friend@ex/phone"), &r));
        }
        // Strangers and contacts with "none" are "none".
        assert!(!c.allows(MessageIn, &j("stranger@ex"), &r));
        assert!(!c.allows(MessageIn, &j("met@ex"), &r));
        assert!(c.allows(PresenceIn, &j("stranger@ex"), &r));
        // Only presence-out to "to" contacts.
        assert!(!c.allows(PresenceOut, &j("idol@ex"), &r));
        assert!(c.allows(MessageIn, &j("idol@ex"), &r));
        // The fall-through item for iq.
        assert!(!c.allows(IqIn, &j("fan@ex"), &r));
        assert!(c.allows(MessageIn, &j("fan@ex"), &r));
        // Items with child elements never apply to the user's own outbound message or iq.
        assert!(c.allows(Outbound, &j("stranger@ex"), &r));
    }

    #[test]
    fn an_item_without_children_blocks_everything_both_ways() {
        let c = CompiledList::compile(
            &list("<item type='jid' value='eve@ex' action='deny' order='1'/>").unwrap(),
        );
        use Direction::*;
        for d in [MessageIn, IqIn, PresenceIn, PresenceOut, Outbound] {
            assert!(!c.allows(d, &j("eve@ex/laptop"), &roster()), "{d:?}");
            assert!(c.allows(d, &j("friend@ex"), &roster()), "{d:?}");
        }
    }
}
