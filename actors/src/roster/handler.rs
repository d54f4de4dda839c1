//! jabber:iq:roster (RFC 6121 §2) for the UserActor, the single writer of the account's roster.

use actix::prelude::*;
use cordial_storage::{ItemWrite, RosterChange, RosterItem, StorageError, SubscriptionWrite};
use minidom::Element;

use crate::account::UserActor;
use crate::roster::{self, RosterSet, NS_ROSTER};
use crate::stanza::{self, DefinedCondition, ErrorType};
use crate::storage_error;

/// jabber:iq:roster (RFC 6121 §2): the UserActor is the single writer of the account's roster.
impl UserActor {
    pub(crate) fn reply_to(&self, resource: &str, el: Element) {
        if let Some(s) = self.sessions.get(resource) {
            s.link.send(el);
        }
    }

    pub(crate) fn reply_error(
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

    /// A request that failed in the store: logged (see [`storage_error`]) and answered
    /// `<resource-constraint/>` while the store refuses writes, else `<internal-server-error/>`.
    pub(crate) fn reply_storage_error(
        &self,
        resource: &str,
        iq: &Element,
        what: std::fmt::Arguments,
        e: &StorageError,
    ) {
        storage_error::log(what, e);
        let (type_, condition) = storage_error::answer(e);
        self.reply_error(resource, iq, type_, condition, None);
    }

    /// One push per interested resource for each change (RFC 6121 §2.1.6), never repeated.
    pub(crate) fn push_to_interested(&self, ver: u64, item: &Element) {
        for s in self.sessions.values().filter(|s| s.interested) {
            s.link
                .send(roster::push(&s.full.to_string(), ver, item.clone()));
        }
    }

    pub(crate) fn process_roster_iq(
        &mut self,
        resource: &str,
        iq: Element,
        ctx: &mut Context<Self>,
    ) {
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
        let current_ver = match self.roster() {
            Ok(r) => r.ver(),
            Err(e) => {
                return self.reply_storage_error(
                    resource,
                    iq,
                    format_args!("reading the roster of {}", self.bare),
                    &e,
                );
            }
        };
        let Some(s) = self.sessions.get_mut(resource) else {
            return;
        };
        s.interested = true;
        let client_ver = query.attr("ver");
        let known = client_ver.and_then(roster::parse_ver);
        if known == Some(current_ver) {
            return self.reply_to(resource, stanza::iq_result(iq, None));
        }
        if let Some(v) = known {
            // Only the changes are read, and only for a client that is behind.
            match self.store.roster_changes_since(self.bare.as_str(), v) {
                Ok(Some(changes)) => {
                    let s = &self.sessions[resource];
                    s.link.send(stanza::iq_result(iq, None));
                    let to = s.full.to_string();
                    for c in changes {
                        let el = match &c {
                            RosterChange::Set { item, .. } => roster::item_element(item),
                            RosterChange::Removed { jid, .. } => roster::removed_element(jid),
                        };
                        s.link.send(roster::push(&to, c.ver(), el));
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => storage_error::log(format_args!("roster changes of {}", self.bare), &e),
            }
        }
        let xml = self.roster.result_xml(iq, client_ver.is_some());
        self.sessions[resource].link.send_xml(xml);
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
            Err(r) => return self.reply_error(resource, &iq, r.type_, r.condition, Some(&r.text)),
        };
        if let Err(e) = self.roster() {
            return self.reply_storage_error(
                resource,
                &iq,
                format_args!("reading the roster of {}", self.bare),
                &e,
            );
        }
        let store = self.store.clone();
        let outcome = match set {
            RosterSet::Remove { jid } => match self.write_removal(&jid) {
                Ok(None) => {
                    return self.reply_error(
                        resource,
                        &iq,
                        ErrorType::Cancel,
                        DefinedCondition::ItemNotFound,
                        Some("The roster has no such item"),
                    );
                }
                Ok(Some(removal)) => {
                    let bare = self.bare.as_str();
                    if let Err(e) = store.compact_roster(bare, limits.tombstone_horizon) {
                        storage_error::log(format_args!("compacting the roster of {bare}"), &e);
                    }
                    Ok((removal.ver, roster::removed_element(&jid), Some(removal)))
                }
                Err(e) => Err(e),
            },
            RosterSet::Update { jid, name, groups } => {
                let state = &self.roster;
                let existing = state.get(&jid).cloned();
                if existing.is_none() && state.len() >= limits.max_items {
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
                let pushed = roster::item_element(&item);
                self.write_change(&SubscriptionWrite {
                    contact: item.jid.clone(),
                    item: ItemWrite::Put(item),
                    ..Default::default()
                })
                .map(|done| (done.ver.expect("a put always writes"), pushed, None))
            }
        };
        let (ver, pushed, removed) = match outcome {
            Ok(o) => o,
            Err(e) => {
                return self.reply_storage_error(
                    resource,
                    &iq,
                    format_args!("writing the roster of {}", self.bare),
                    &e,
                );
            }
        };
        let resource = resource.to_string();
        self.flush_then(ctx, move |act, flushed| {
            if let Err(e) = flushed {
                return act.reply_storage_error(
                    &resource,
                    &iq,
                    format_args!("flushing the roster of {}", act.bare),
                    &e,
                );
            }
            act.push_to_interested(ver, &pushed);
            act.reply_to(&resource, stanza::iq_result(&iq, None));
            if let Some(removal) = removed {
                act.finish_removal(removal);
            }
        });
    }
}
