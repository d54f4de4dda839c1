//! jabber:iq:roster (RFC 6121 §2): parsing and checking roster sets, the XML of items and
//! pushes, version strings, and the roster a UserActor holds in memory.
//!
//! The UserActor owns the roster and calls into this module; storage is `RosterStore`.

mod handler;

use std::collections::{BTreeMap, HashMap, HashSet};

use cordial_storage::{InboxSlot, Roster, RosterItem};
use jid::Jid;
use minidom::Element;

use crate::error::RequestError;
use crate::ns;
use crate::xml::{push_attr, push_escaped, BuildAttr};

pub const NS_ROSTER: &str = "jabber:iq:roster";

/// Limits from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct RosterLimits {
    pub max_items: usize,
    pub max_name_bytes: usize,
    pub max_group_bytes: usize,
    /// Groups one item may be in (`<not-acceptable/>` beyond, like the length limits).
    pub max_groups_per_item: usize,
    /// Versions' worth of tombstones kept for incremental sync before compaction.
    pub tombstone_horizon: u64,
}

impl Default for RosterLimits {
    fn default() -> Self {
        RosterLimits {
            max_items: 10_000,
            max_name_bytes: 1023,
            max_group_bytes: 1023,
            max_groups_per_item: 64,
            tombstone_horizon: 1000,
        }
    }
}

/// A roster version as the client sees it: an opaque string (RFC 6121 §2.6.1).
pub fn ver_string(ver: u64) -> String {
    ver.to_string()
}

/// A client's `ver`, if it is one we issued.
pub fn parse_ver(ver: &str) -> Option<u64> {
    ver.parse().ok()
}

/// The account's roster as its UserActor holds it while the actor runs: loaded from the store
/// once, then changed only right after the store (the actor is the roster's single writer), so
/// a roster get reads no storage and parses nothing.
#[derive(Debug, Default)]
pub struct RosterState {
    ver: u64,
    /// Live items by contact JID, each with the version of its last change.
    items: BTreeMap<String, (RosterItem, u64)>,
    /// Inbound subscription stanzas waiting for the user, by contact and slot (see
    /// [`InboxSlot`]); a `Request` entry is the state "Pending In".
    inbox: HashMap<String, HashMap<InboxSlot, String>>,
}

impl RosterState {
    pub fn new(stored: Roster, inbox: Vec<(String, InboxSlot, String)>) -> Self {
        let mut state = RosterState {
            ver: stored.ver,
            items: stored
                .items
                .into_iter()
                .map(|(item, ver)| (item.jid.clone(), (item, ver)))
                .collect(),
            inbox: HashMap::new(),
        };
        for (contact, slot, xml) in inbox {
            state.set_inbox(&contact, slot, Some(xml));
        }
        state
    }

    /// Whether the contact's subscription request waits for an answer ("Pending In").
    pub fn pending_in(&self, contact: &str) -> bool {
        self.inbox
            .get(contact)
            .is_some_and(|slots| slots.contains_key(&InboxSlot::Request))
    }

    /// Records an inbox change the store has made.
    pub fn set_inbox(&mut self, contact: &str, slot: InboxSlot, xml: Option<String>) {
        match xml {
            Some(x) => {
                self.inbox
                    .entry(contact.to_string())
                    .or_default()
                    .insert(slot, x);
            }
            None => {
                if let Some(slots) = self.inbox.get_mut(contact) {
                    slots.remove(&slot);
                    if slots.is_empty() {
                        self.inbox.remove(contact);
                    }
                }
            }
        }
    }

    /// Every waiting stanza: (contact, slot, XML).
    pub fn inbox(&self) -> impl Iterator<Item = (&str, InboxSlot, &str)> {
        self.inbox.iter().flat_map(|(c, slots)| {
            slots
                .iter()
                .map(move |(slot, xml)| (c.as_str(), *slot, xml.as_str()))
        })
    }

    /// Contacts with anything in the inbox.
    pub fn inbox_contacts(&self) -> Vec<String> {
        self.inbox.keys().cloned().collect()
    }

    pub fn ver(&self) -> u64 {
        self.ver
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether an item for `contact` may be written: one that exists always; a new one only
    /// while the roster holds fewer than `max` items (`roster.max_items`), else
    /// `<not-allowed/>`. A roster set and a subscription that would add an item are refused
    /// alike.
    pub fn room_for(&self, contact: &str, max: usize) -> Result<(), RequestError> {
        if self.items.contains_key(contact) || self.items.len() < max {
            return Ok(());
        }
        Err(RequestError::NotAllowed(
            format!("The roster is full: it may hold at most {max} items").into(),
        ))
    }

    pub fn get(&self, jid: &str) -> Option<&RosterItem> {
        self.items.get(jid).map(|(item, _)| item)
    }

    pub fn items(&self) -> impl Iterator<Item = &RosterItem> {
        self.items.values().map(|(item, _)| item)
    }

    /// Records a change the store has made at version `ver`.
    pub fn set(&mut self, item: RosterItem, ver: u64) {
        self.ver = self.ver.max(ver);
        self.items.insert(item.jid.clone(), (item, ver));
    }

    /// Records a removal the store has made at version `ver`.
    pub fn remove(&mut self, jid: &str, ver: u64) {
        self.ver = self.ver.max(ver);
        self.items.remove(jid);
    }

    /// The result of a roster get with the whole roster (RFC 6121 §2.1.4), serialised in one
    /// pass: `ver` is included when the client asked with one (§2.6.3).
    pub fn result_xml(&self, iq: &Element, with_ver: bool) -> String {
        let mut out = String::with_capacity(128 + self.items.len() * 96);
        out.push_str("<iq xmlns='jabber:client' type='result'");
        for (name, value) in [("id", iq.attr("id")), ("to", iq.attr("from"))] {
            if let Some(v) = value {
                push_attr(&mut out, name, v);
            }
        }
        out.push_str("><query xmlns='jabber:iq:roster'");
        if with_ver {
            push_attr(&mut out, "ver", &ver_string(self.ver));
        }
        out.push('>');
        for (item, _) in self.items.values() {
            push_item_xml(&mut out, item);
        }
        out.push_str("</query></iq>");
        out
    }
}

/// The XML of [`item_element`], written straight into `out` (in the `jabber:iq:roster`
/// namespace of the enclosing `<query/>`).
fn push_item_xml(out: &mut String, item: &RosterItem) {
    out.push_str("<item");
    push_attr(out, "jid", &item.jid);
    push_attr(out, "subscription", item.subscription.as_str());
    if let Some(n) = &item.name {
        push_attr(out, "name", n);
    }
    if item.ask {
        out.push_str(" ask='subscribe'");
    }
    if item.approved {
        out.push_str(" approved='true'");
    }
    if item.groups.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for g in &item.groups {
        out.push_str("<group>");
        push_escaped(out, g);
        out.push_str("</group>");
    }
    out.push_str("</item>");
}

/// A checked roster set (RFC 6121 §2.3, §2.5).
#[derive(Debug, PartialEq)]
pub enum RosterSet {
    /// Add or update: the contact, the name and groups the client asked for.
    Update {
        jid: String,
        name: Option<String>,
        groups: Vec<String>,
    },
    /// `subscription='remove'` (§2.5).
    Remove { jid: String },
}

/// Checks the `<query/>` of a roster set against RFC 6121 §2.3.3.
pub fn parse_set(query: &Element, limits: &RosterLimits) -> Result<RosterSet, RequestError> {
    let mut items = query.children().filter(|c| c.is("item", NS_ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(RequestError::BadRequest(
            "A roster set carries exactly one item (RFC 6121 §2.3.3)".into(),
        ));
    };
    let Some(raw_jid) = item.attr("jid") else {
        return Err(RequestError::BadRequest("The item has no jid".into()));
    };
    let jid = match Jid::new(raw_jid) {
        Ok(j) => j.to_string(),
        Err(_) => {
            return Err(RequestError::JidMalformed(
                "The item's jid is not a valid JID".into(),
            ))
        }
    };
    // §2.1.2.5: of the subscription values only "remove" means anything in a set.
    if item.attr("subscription") == Some("remove") {
        return Ok(RosterSet::Remove { jid });
    }
    let name = item
        .attr("name")
        .map(str::to_string)
        .filter(|n| !n.is_empty());
    if name
        .as_ref()
        .is_some_and(|n| n.len() > limits.max_name_bytes)
    {
        return Err(RequestError::NotAcceptable(
            "The item's name is longer than the server allows".into(),
        ));
    }
    let mut groups: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for g in item.children().filter(|c| c.is("group", NS_ROSTER)) {
        if groups.len() >= limits.max_groups_per_item {
            return Err(RequestError::NotAcceptable(
                format!(
                    "An item may be in at most {} groups",
                    limits.max_groups_per_item
                )
                .into(),
            ));
        }
        let text = g.text();
        if text.is_empty() {
            return Err(RequestError::NotAcceptable(
                "A group must have a name (RFC 6121 §2.3.3)".into(),
            ));
        }
        if text.len() > limits.max_group_bytes {
            return Err(RequestError::NotAcceptable(
                "A group name is longer than the server allows".into(),
            ));
        }
        if !seen.insert(text.clone()) {
            return Err(RequestError::BadRequest(
                "The same group is listed twice (RFC 6121 §2.3.3)".into(),
            ));
        }
        groups.push(text);
    }
    Ok(RosterSet::Update { jid, name, groups })
}

/// The `<item/>` of a roster result or push (RFC 6121 §2.1.2): name, subscription, `ask`
/// while an outbound request is pending, `approved` for a pre-approval, and groups.
pub fn item_element(item: &RosterItem) -> Element {
    let mut b = Element::builder("item", NS_ROSTER)
        .a("jid", item.jid.as_str())
        .a("subscription", item.subscription.as_str());
    if let Some(n) = &item.name {
        b = b.a("name", n.as_str());
    }
    if item.ask {
        b = b.a("ask", "subscribe");
    }
    if item.approved {
        b = b.a("approved", "true");
    }
    b.append_all(
        item.groups
            .iter()
            .map(|g| Element::builder("group", NS_ROSTER).append(g.as_str())),
    )
    .build()
}

/// A removal as pushed (RFC 6121 §2.5.2): `subscription='remove'`.
pub fn removed_element(jid: &str) -> Element {
    Element::builder("item", NS_ROSTER)
        .a("jid", jid)
        .a("subscription", "remove")
        .build()
}

/// `<query xmlns='jabber:iq:roster' ver='…'>` around some items.
pub fn query(ver: Option<u64>, items: impl IntoIterator<Item = Element>) -> Element {
    let mut b = Element::builder("query", NS_ROSTER);
    if let Some(v) = ver {
        b = b.a("ver", ver_string(v));
    }
    b.append_all(items).build()
}

/// A roster push to one resource (RFC 6121 §2.1.6): an iq set from the account itself.
pub fn push(to: &str, ver: u64, item: Element) -> Element {
    Element::builder("iq", ns::JABBER_CLIENT)
        .a("type", "set")
        .a("id", format!("push-{ver}"))
        .a("to", to)
        .append(query(Some(ver), [item]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::{DefinedCondition, ErrorType};
    use cordial_storage::Subscription;

    fn q(xml: &str) -> Element {
        format!("<query xmlns='jabber:iq:roster'>{xml}</query>")
            .parse()
            .unwrap()
    }

    fn set(xml: &str) -> Result<RosterSet, RequestError> {
        parse_set(
            &q(xml),
            &RosterLimits {
                max_name_bytes: 10,
                max_group_bytes: 5,
                ..Default::default()
            },
        )
    }

    #[test]
    fn rfc6121_2_3_3_set_errors() {
        let cond = |r: Result<RosterSet, RequestError>| r.unwrap_err().answer().1;
        assert_eq!(
            cond(set("<item jid='a@x'/><item jid='b@x'/>")),
            DefinedCondition::BadRequest
        );
        assert_eq!(cond(set("")), DefinedCondition::BadRequest);
        assert_eq!(
            cond(set(
                "<item jid='a@x'><group>g</group><group>g</group></item>"
            )),
            DefinedCondition::BadRequest
        );
        assert_eq!(
            cond(set("<item jid='a@x'><group/></item>")),
            DefinedCondition::NotAcceptable
        );
        assert_eq!(
            cond(set("<item jid='a@x'><group>toolong</group></item>")),
            DefinedCondition::NotAcceptable
        );
        assert_eq!(
            cond(set("<item jid='a@x' name='much too long'/>")),
            DefinedCondition::NotAcceptable
        );
        assert_eq!(
            cond(set("<item jid='a@b@c'/>")),
            DefinedCondition::JidMalformed
        );
    }

    #[test]
    fn more_groups_than_the_limit_are_not_acceptable() {
        let limits = RosterLimits {
            max_groups_per_item: 3,
            ..Default::default()
        };
        let groups = |n: usize| -> String {
            let g: String = (0..n).map(|i| format!("<group>g{i}</group>")).collect();
            format!("<item jid='a@x'>{g}</item>")
        };
        match parse_set(&q(&groups(3)), &limits).unwrap() {
            RosterSet::Update { groups, .. } => assert_eq!(groups, ["g0", "g1", "g2"]),
            other => panic!("{other:?}"),
        }
        let r = parse_set(&q(&groups(4)), &limits).unwrap_err();
        assert_eq!(
            r.answer(),
            (
                ErrorType::Modify,
                DefinedCondition::NotAcceptable,
                Some("An item may be in at most 3 groups")
            )
        );
        // A duplicate within the limit is still <bad-request/>.
        let r = parse_set(
            &q("<item jid='a@x'><group>g</group><group>h</group><group>g</group></item>"),
            &limits,
        )
        .unwrap_err();
        assert_eq!(r.answer().1, DefinedCondition::BadRequest);
    }

    #[test]
    fn rfc6121_2_1_2_5_subscription_other_than_remove_is_ignored() {
        assert_eq!(
            set("<item jid='A@x' subscription='both' name='n'><group>g</group></item>").unwrap(),
            RosterSet::Update {
                jid: "a@x".into(),
                name: Some("n".into()),
                groups: vec!["g".into()]
            }
        );
        assert_eq!(
            set("<item jid='a@x' subscription='remove'/>").unwrap(),
            RosterSet::Remove { jid: "a@x".into() }
        );
    }

    #[test]
    fn the_serialised_roster_is_the_roster_built_with_minidom() {
        let mut state = RosterState::default();
        let items = [
            RosterItem {
                jid: "a@x".into(),
                name: Some("O'Brien & <Sons>".into()),
                groups: vec!["Friends".into(), "Work \"B\"".into()],
                subscription: Subscription::Both,
                ..Default::default()
            },
            RosterItem {
                jid: "b@x".into(),
                ask: true,
                approved: true,
                ..Default::default()
            },
        ];
        for (i, item) in items.iter().enumerate() {
            state.set(item.clone(), i as u64 + 1);
        }
        let iq: Element = "<iq xmlns='jabber:client' type='get' id='r&amp;1' from='u@x/r'/>"
            .parse()
            .unwrap();
        let got: Element = state.result_xml(&iq, true).parse().unwrap();
        let want =
            crate::stanza::iq_result(&iq, Some(query(Some(2), items.iter().map(item_element))));
        assert_eq!(got, want);
        let without: Element = state.result_xml(&iq, false).parse().unwrap();
        assert_eq!(
            without.get_child("query", NS_ROSTER).unwrap().attr("ver"),
            None
        );
    }

    #[test]
    fn items_show_ask_and_approved() {
        let item = RosterItem {
            jid: "a@x".into(),
            name: Some("A".into()),
            groups: vec!["Friends".into()],
            ask: true,
            approved: true,
            ..Default::default()
        };
        let el = item_element(&item);
        assert_eq!(el.attr("ask"), Some("subscribe"));
        assert_eq!(el.attr("approved"), Some("true"));
        assert_eq!(el.attr("subscription"), Some("none"));
        assert_eq!(el.get_child("group", NS_ROSTER).unwrap().text(), "Friends");
    }
}
