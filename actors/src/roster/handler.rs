//! jabber:iq:roster (RFC 6121 §2) for the UserActor, the single writer of the account's roster.

use actix::prelude::*;
use cordial_storage::{ItemWrite, RosterChange, RosterItem, SubscriptionWrite};
use minidom::Element;

use crate::account::{Request, UserActor};
use crate::error::{self, RequestError};
use crate::roster::{self, RosterSet, NS_ROSTER};
use crate::stanza;

/// jabber:iq:roster (RFC 6121 §2): the UserActor is the single writer of the account's roster.
impl UserActor {
    /// One push per interested resource for each change (RFC 6121 §2.1.6), never repeated.
    pub(crate) fn push_to_interested(&self, ver: u64, item: &Element) {
        for s in self.sessions.values().filter(|s| s.interested) {
            s.link
                .send(roster::push(&s.full.to_string(), ver, item.clone()));
        }
    }

    /// RFC 6121 §2: a roster request of one of the account's resources.
    pub(crate) fn process_roster_iq(
        &mut self,
        req: &Request,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        let Some(query) = stanza::iq_payload(&req.iq).filter(|p| p.is("query", NS_ROSTER)) else {
            return Err(RequestError::bad_request("no roster query"));
        };
        match req.iq.attr("type") {
            Some("get") => self.process_roster_get(req, query),
            Some("set") => self.process_roster_set(req, query, ctx),
            _ => Ok(()),
        }
    }

    /// RFC 6121 §2.2 and §2.6.3: the full roster, or with a known older `ver` an empty result
    /// followed by exactly the pushes the client missed, in version order.
    fn process_roster_get(&mut self, req: &Request, query: &Element) -> error::Result<()> {
        let (resource, iq) = (req.resource.as_str(), &req.iq);
        let current_ver = self.roster_or_refuse()?.ver();
        let Some(s) = self.sessions.get_mut(resource) else {
            return Ok(());
        };
        s.interested = true;
        let client_ver = query.attr("ver");
        let known = client_ver.and_then(roster::parse_ver);
        if known == Some(current_ver) {
            self.answer(req, None);
            return Ok(());
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
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => error::log_storage(format_args!("roster changes of {}", self.bare), &e),
            }
        }
        let xml = self.roster.result_xml(iq, client_ver.is_some());
        self.sessions[resource].link.send_xml(xml);
        Ok(())
    }

    /// RFC 6121 §2.3 (add, update) and §2.5 (remove). The change is durable before the pushes
    /// and the result go out.
    fn process_roster_set(
        &mut self,
        req: &Request,
        query: &Element,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        let limits = self.router.config().roster;
        let set = roster::parse_set(query, &limits)?;
        self.roster_or_refuse()?;
        let store = self.store.clone();
        let writing = |e| RequestError::storage("writing the roster", e);
        let (ver, pushed, removed) = match set {
            RosterSet::Remove { jid } => {
                let Some(removal) = self.write_removal(&jid).map_err(writing)? else {
                    return Err(RequestError::ItemNotFound(
                        "The roster has no such item".into(),
                    ));
                };
                let bare = self.bare.as_str();
                if let Err(e) = store.compact_roster(bare, limits.tombstone_horizon) {
                    error::log_storage(format_args!("compacting the roster of {bare}"), &e);
                }
                (removal.ver, roster::removed_element(&jid), Some(removal))
            }
            RosterSet::Update { jid, name, groups } => {
                self.roster.room_for(&jid, limits.max_items)?;
                let existing = self.roster.get(&jid).cloned();
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
                let done = self
                    .write_change(&SubscriptionWrite {
                        contact: item.jid.clone(),
                        item: ItemWrite::Put(item),
                        ..Default::default()
                    })
                    .map_err(writing)?;
                (done.ver.expect("a put always writes"), pushed, None)
            }
        };
        let req = req.clone();
        self.flush_then(ctx, move |act, flushed| {
            if let Err(e) = flushed {
                return act.refuse_request(&req, RequestError::storage("flushing the roster", e));
            }
            act.push_to_interested(ver, &pushed);
            act.answer(&req, None);
            if let Some(removal) = removed {
                act.finish_removal(removal);
            }
        });
        Ok(())
    }
}
