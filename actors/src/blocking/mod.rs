//! The blocking command (XEP-0191) as edits of the default privacy list: the JIDs of a
//! request, the blocklist a list shows, and block / unblock applied to a list.
//!
//! The blocklist *is* the default list's jid items that deny every stanza (XEP-0191,
//! "Relationship to Privacy Lists"), so XEP-0016 and XEP-0191 see one truth. These are pure
//! functions, linear in the list and the request, so the UserActor's code is the code the unit
//! tests and the `privacy_edits` fuzz target (`cordial::fuzzing`) run.

mod handler;

use std::collections::HashSet;

use cordial_storage::{PrivacyItem, PrivacyList, PrivacyMatch, PrivacyStanzas};
use jid::Jid;
use minidom::Element;

use crate::error::RequestError;
use crate::xml::BuildAttr;

pub const NS_BLOCKING: &str = "urn:xmpp:blocking";

/// Whether an item is a block in XEP-0191's sense: a jid item denying every stanza.
fn blocked_jid(item: &PrivacyItem) -> Option<&str> {
    match &item.what {
        PrivacyMatch::Jid(j) if !item.allow && item.stanzas.all() => Some(j),
        _ => None,
    }
}

/// The JIDs a list blocks, each once, in the list's order.
pub fn blocked_jids(list: &PrivacyList) -> Vec<String> {
    let mut seen = HashSet::new();
    list.items
        .iter()
        .filter_map(blocked_jid)
        .filter(|j| seen.insert(*j))
        .map(str::to_string)
        .collect()
}

/// `<blocklist/>`, `<block/>` or `<unblock/>` with one `<item/>` per JID.
pub fn blocking_items(name: &str, jids: &[String]) -> Element {
    let mut el = Element::bare(name, NS_BLOCKING);
    for j in jids {
        el.append_child(
            Element::builder("item", NS_BLOCKING)
                .a("jid", j.as_str())
                .build(),
        );
    }
    el
}

/// The JIDs of a `<block/>` or `<unblock/>`, normalised, each once, in the order of the
/// request. An item that is not a JID is `<bad-request/>`; more than `max` distinct JIDs is
/// `<not-acceptable/>`, refused at the first one beyond (no list can hold them: the blocklist
/// is one list).
pub fn request_jids(el: &Element, max: usize) -> Result<Vec<String>, RequestError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for item in el.children() {
        if item.name() != "item" || item.ns() != NS_BLOCKING {
            return Err(RequestError::bad_request(format!(
                "unexpected <{}/>",
                item.name()
            )));
        }
        let v = item
            .attr("jid")
            .ok_or_else(|| RequestError::bad_request("an item needs a jid"))?;
        let j = Jid::new(v)
            .map_err(|e| RequestError::bad_request(format!("invalid JID {v:?}: {e}")))?
            .to_string();
        if seen.contains(&j) {
            continue;
        }
        if out.len() >= max {
            return Err(too_many(max));
        }
        seen.insert(j.clone());
        out.push(j);
    }
    Ok(out)
}

fn too_many(max: usize) -> RequestError {
    RequestError::not_acceptable(format!("a list may hold at most {max} items"))
}

/// XEP-0191 §3.3: blocks `jids` in `list`. The JIDs not blocked yet become jid items denying
/// everything, placed before every other item (orders 0, 1, …) so that they win over it; the
/// list's own items keep their relative order, their orders raised by the number of new
/// blocks. Returns the newly blocked JIDs (none: nothing changed).
///
/// `<not-acceptable/>` when the list would hold more than `max_items` items, or when raising
/// the orders would take one past `u32::MAX`, the largest order the server keeps; the list is
/// then unchanged.
pub fn block(
    list: &mut PrivacyList,
    jids: &[String],
    max_items: usize,
) -> Result<Vec<String>, RequestError> {
    let mut seen: HashSet<&str> = list.items.iter().filter_map(blocked_jid).collect();
    let new: Vec<String> = jids
        .iter()
        .filter(|j| seen.insert(j.as_str()))
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(new);
    }
    if list.items.len() + new.len() > max_items {
        return Err(too_many(max_items));
    }
    let shift = u32::try_from(new.len()).map_err(|_| too_many(max_items))?;
    let highest = list.items.iter().map(|i| i.order).max();
    if highest.is_some_and(|h| h.checked_add(shift).is_none()) {
        return Err(RequestError::not_acceptable(format!(
            "the default list's orders leave no room to put {shift} blocks before its items \
             (orders go up to {}): renumber the list",
            u32::MAX
        )));
    }
    let own = std::mem::take(&mut list.items);
    list.items = new
        .iter()
        .zip(0u32..)
        .map(|(j, order)| PrivacyItem {
            what: PrivacyMatch::Jid(j.clone()),
            allow: false,
            order,
            stanzas: PrivacyStanzas::default(),
        })
        .chain(own.into_iter().map(|i| PrivacyItem {
            order: i.order + shift,
            ..i
        }))
        .collect();
    Ok(new)
}

/// XEP-0191 §3.4 and §3.5: unblocks `jids`, or every blocked JID when `jids` is empty
/// ("unblock all"). Only blocks go (jid items denying everything); the list's other items stay
/// as they are. Returns the JIDs unblocked, in the list's order for "unblock all", else in the
/// request's.
pub fn unblock(list: &mut PrivacyList, jids: &[String]) -> Vec<String> {
    let blocked = blocked_jids(list);
    let gone: Vec<String> = if jids.is_empty() {
        blocked
    } else {
        let blocked: HashSet<&str> = blocked.iter().map(String::as_str).collect();
        jids.iter()
            .filter(|j| blocked.contains(j.as_str()))
            .cloned()
            .collect()
    };
    let remove: HashSet<&str> = gone.iter().map(String::as_str).collect();
    list.items
        .retain(|i| !blocked_jid(i).is_some_and(|j| remove.contains(j)));
    gone
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::{list_element, parse_list, NS_PRIVACY};

    fn list(xml: &str) -> PrivacyList {
        let el: Element = format!("<list xmlns='{NS_PRIVACY}' name='l'>{xml}</list>")
            .parse()
            .unwrap();
        parse_list(&el, 100).unwrap()
    }

    fn req(xml: &str, max: usize) -> Result<Vec<String>, RequestError> {
        let el: Element = format!("<block xmlns='{NS_BLOCKING}'>{xml}</block>")
            .parse()
            .unwrap();
        request_jids(&el, max)
    }

    fn orders(l: &PrivacyList) -> Vec<u32> {
        l.items.iter().map(|i| i.order).collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn request_jids_are_normalised_once_each_in_order() {
        let got = req(
            "<item jid='B@x'/><item jid='a@x'/><item jid='b@x'/><item jid='a@x'/>",
            2,
        );
        assert_eq!(got.unwrap(), s(&["b@x", "a@x"]));
        // Two distinct JIDs fit a limit of two however often they are repeated; a third does not.
        let e = req("<item jid='a@x'/><item jid='b@x'/><item jid='c@x'/>", 2).unwrap_err();
        assert!(
            matches!(&e, RequestError::NotAcceptable(t) if t == "a list may hold at most 2 items"),
            "{e:?}"
        );
        for bad in ["<item/>", "<item jid='a@b@c'/>", "<other jid='a@x'/>"] {
            assert!(
                matches!(req(bad, 10), Err(RequestError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn blocks_go_first_and_the_list_keeps_its_order() {
        let mut l = list(
            "<item type='jid' value='nurse@x' action='deny' order='3'/>\
             <item type='subscription' value='none' action='deny' order='7'><iq/></item>",
        );
        let new = block(&mut l, &s(&["t@x", "nurse@x", "r@x"]), 10).unwrap();
        assert_eq!(new, s(&["t@x", "r@x"]));
        assert_eq!(orders(&l), [0, 1, 5, 9]);
        assert_eq!(blocked_jids(&l), s(&["t@x", "r@x", "nurse@x"]));
        assert_eq!(parse_list(&list_element(&l), 100).unwrap(), l);
        // Blocking what is blocked changes nothing.
        let before = l.clone();
        assert!(block(&mut l, &s(&["r@x"]), 10).unwrap().is_empty());
        assert_eq!(l, before);
    }

    #[test]
    fn a_block_beyond_the_item_limit_changes_nothing() {
        let mut l = list("<item type='jid' value='a@x' action='deny' order='1'/>");
        let before = l.clone();
        let e = block(&mut l, &s(&["b@x", "c@x", "d@x"]), 3).unwrap_err();
        assert!(
            matches!(&e, RequestError::NotAcceptable(t) if t == "a list may hold at most 3 items"),
            "{e:?}"
        );
        assert_eq!(l, before);
        // a@x is blocked already: two new ones fit.
        assert_eq!(
            block(&mut l, &s(&["a@x", "b@x", "c@x"]), 3).unwrap().len(),
            2
        );
    }

    #[test]
    fn orders_that_would_pass_the_maximum_are_refused_not_wrapped() {
        let mut l = list(
            "<item type='jid' value='n@x' action='deny' order='4294967294'/>\
             <item action='allow' order='4294967295'/>",
        );
        let before = l.clone();
        let e = block(&mut l, &s(&["r@x"]), 10).unwrap_err();
        assert!(matches!(e, RequestError::NotAcceptable(_)), "{e:?}");
        assert_eq!(l, before);
        // With room below the highest order the shift fits exactly.
        let mut l = list("<item action='allow' order='4294967293'/>");
        block(&mut l, &s(&["a@x", "b@x"]), 10).unwrap();
        assert_eq!(orders(&l), [0, 1, u32::MAX]);
        assert_eq!(parse_list(&list_element(&l), 100).unwrap(), l);
    }

    #[test]
    fn unblock_removes_only_blocks() {
        let mut l = list(
            "<item type='jid' value='a@x' action='deny' order='1'/>\
             <item type='jid' value='b@x' action='deny' order='2'><message/></item>\
             <item type='jid' value='c@x' action='allow' order='3'/>\
             <item type='jid' value='d@x' action='deny' order='4'/>\
             <item type='jid' value='a@x' action='deny' order='5'/>",
        );
        assert_eq!(blocked_jids(&l), s(&["a@x", "d@x"]));
        assert_eq!(unblock(&mut l, &s(&["b@x", "a@x", "z@x"])), s(&["a@x"]));
        assert_eq!(orders(&l), [2, 3, 4]);
        assert_eq!(unblock(&mut l, &[]), s(&["d@x"]));
        assert_eq!(orders(&l), [2, 3]);
        assert!(unblock(&mut l, &[]).is_empty());
    }
}
