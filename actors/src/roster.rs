//! jabber:iq:roster (RFC 6121 §2): parsing and checking roster sets, the XML of items and
//! pushes, version strings, and the subscription side effects of a removal (§2.5.2).
//!
//! The UserActor owns the roster and calls into this module; storage is `RosterStore`.

use cordial_storage::{RosterItem, Subscription};
use jid::{BareJid, Jid};
use minidom::Element;

use crate::ns;
use crate::stanza::{DefinedCondition, ErrorType};
use crate::xml::BuildAttr;

pub const NS_ROSTER: &str = "jabber:iq:roster";

/// Limits from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct RosterLimits {
    pub max_items: usize,
    pub max_name_bytes: usize,
    pub max_group_bytes: usize,
    /// Versions' worth of tombstones kept for incremental sync before compaction.
    pub tombstone_horizon: u64,
}

impl Default for RosterLimits {
    fn default() -> Self {
        RosterLimits {
            max_items: 10_000,
            max_name_bytes: 1023,
            max_group_bytes: 1023,
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

/// A roster set the server refuses, with the condition RFC 6121 §2.3.3 names.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub type_: ErrorType,
    pub condition: DefinedCondition,
    pub text: &'static str,
}

fn refuse(type_: ErrorType, condition: DefinedCondition, text: &'static str) -> Refusal {
    Refusal {
        type_,
        condition,
        text,
    }
}

/// Checks the `<query/>` of a roster set against RFC 6121 §2.3.3.
pub fn parse_set(query: &Element, limits: &RosterLimits) -> Result<RosterSet, Refusal> {
    let mut items = query.children().filter(|c| c.is("item", NS_ROSTER));
    let (Some(item), None) = (items.next(), items.next()) else {
        return Err(refuse(
            ErrorType::Modify,
            DefinedCondition::BadRequest,
            "A roster set carries exactly one item (RFC 6121 §2.3.3)",
        ));
    };
    let Some(raw_jid) = item.attr("jid") else {
        return Err(refuse(
            ErrorType::Modify,
            DefinedCondition::BadRequest,
            "The item has no jid",
        ));
    };
    let jid = match Jid::new(raw_jid) {
        Ok(j) => j.to_string(),
        Err(_) => {
            return Err(refuse(
                ErrorType::Modify,
                DefinedCondition::JidMalformed,
                "The item's jid is not a valid JID",
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
        return Err(refuse(
            ErrorType::Modify,
            DefinedCondition::NotAcceptable,
            "The item's name is longer than the server allows",
        ));
    }
    let mut groups: Vec<String> = Vec::new();
    for g in item.children().filter(|c| c.is("group", NS_ROSTER)) {
        let text = g.text();
        if text.is_empty() {
            return Err(refuse(
                ErrorType::Modify,
                DefinedCondition::NotAcceptable,
                "A group must have a name (RFC 6121 §2.3.3)",
            ));
        }
        if text.len() > limits.max_group_bytes {
            return Err(refuse(
                ErrorType::Modify,
                DefinedCondition::NotAcceptable,
                "A group name is longer than the server allows",
            ));
        }
        if groups.contains(&text) {
            return Err(refuse(
                ErrorType::Modify,
                DefinedCondition::BadRequest,
                "The same group is listed twice (RFC 6121 §2.3.3)",
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

/// RFC 6121 §2.5.2: removing an item whose subscription is not `none` cancels the subscriptions
/// in both directions, with the presence stanzas the user's server sends on the user's behalf:
/// `unsubscribe` when the user was subscribed to the contact (or asking), `unsubscribed` when
/// the contact was subscribed to the user (or asking, or pre-approved).
///
/// Today nothing can create a subscription (that is the subscription issue's state machine), so
/// for every item that exists this returns no stanza; the function and its unit test are the
/// hook the subscription issue completes by routing these through the inbound state machine.
pub fn process_roster_removal_cancel_subscriptions(
    user: &BareJid,
    removed: &RosterItem,
) -> Vec<Element> {
    let presence = |type_: &str| {
        Element::builder("presence", ns::JABBER_CLIENT)
            .a("type", type_)
            .a("from", user.to_string())
            .a("to", removed.jid.as_str())
            .build()
    };
    let mut out = Vec::new();
    if matches!(removed.subscription, Subscription::To | Subscription::Both) || removed.ask {
        out.push(presence("unsubscribe"));
    }
    if matches!(
        removed.subscription,
        Subscription::From | Subscription::Both
    ) || removed.pending_in
        || removed.approved
    {
        out.push(presence("unsubscribed"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(xml: &str) -> Element {
        format!("<query xmlns='jabber:iq:roster'>{xml}</query>")
            .parse()
            .unwrap()
    }

    fn set(xml: &str) -> Result<RosterSet, Refusal> {
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
        let cond = |r: Result<RosterSet, Refusal>| r.unwrap_err().condition;
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
    fn rfc6121_2_5_2_removal_cancels_both_directions() {
        let user = BareJid::new("juliet@capulet.lit").unwrap();
        let mut item = RosterItem {
            jid: "romeo@montague.lit".into(),
            ..Default::default()
        };
        assert!(process_roster_removal_cancel_subscriptions(&user, &item).is_empty());
        item.subscription = Subscription::Both;
        let out = process_roster_removal_cancel_subscriptions(&user, &item);
        let types: Vec<_> = out.iter().map(|p| p.attr("type").unwrap()).collect();
        assert_eq!(types, ["unsubscribe", "unsubscribed"]);
        assert!(out
            .iter()
            .all(|p| p.attr("to") == Some("romeo@montague.lit")));
        item.subscription = Subscription::From;
        let out = process_roster_removal_cancel_subscriptions(&user, &item);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].attr("type"), Some("unsubscribed"));
        item.subscription = Subscription::None;
        item.ask = true;
        assert_eq!(
            process_roster_removal_cancel_subscriptions(&user, &item)[0].attr("type"),
            Some("unsubscribe")
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
