//! The blocking command (XEP-0191) for the UserActor: the blocklist is the account's default
//! privacy list's deny-all jid items (one truth with XEP-0016), so a block or unblock is a
//! write of that list, pushed to the resources that asked for the blocklist (§3.1), and a
//! message from a blocked sender is answered `<service-unavailable/>` (§3.6, in
//! [`crate::delivery`]).

use actix::prelude::*;
use cordial_storage::PrivacyList;
use minidom::Element;

use crate::account::{Request, UserActor};
use crate::blocking;
use crate::error::{self, RequestError};
use crate::ns;
use crate::protocol::Replace;
use crate::stanza;
use crate::xml::BuildAttr;

/// The name XEP-0191 gives the default list it creates when the user blocks someone without
/// having one (`blocklist`, or `blocklist-2`, … if the user already has a list by that name,
/// which is left alone).
fn new_blocklist_name(names: &[String]) -> String {
    let taken = |n: &str| names.iter().any(|x| x == n);
    std::iter::once("blocklist".to_string())
        .chain((2..).map(|n| format!("blocklist-{n}")))
        .find(|n| !taken(n))
        .expect("an unused name")
}

impl UserActor {
    /// The names of the account's lists.
    pub(crate) fn list_names(&self) -> error::Result<Vec<String>> {
        self.store
            .privacy_list_names(self.bare.as_str())
            .map_err(|e| RequestError::storage("reading the list names", e))
    }

    /// Whether the account may create one more list (`privacy.max_lists`): if not,
    /// `<not-acceptable/>`.
    pub(crate) fn room_for_a_list(&self, names: &[String]) -> error::Result<()> {
        let max = self.router.config().privacy.max_lists;
        if names.len() < max {
            return Ok(());
        }
        Err(RequestError::not_acceptable(format!(
            "an account may hold at most {max} privacy lists"
        )))
    }

    /// XEP-0191: blocklist, block, unblock. The blocklist is the default privacy list's jid
    /// items that deny everything ([`crate::blocking`]), so both protocols see one truth.
    pub(crate) fn process_blocking_iq(
        &mut self,
        req: &Request,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        let Some(payload) = stanza::iq_payload(&req.iq).cloned() else {
            return Err(RequestError::bad_request("one payload expected"));
        };
        self.privacy_loaded();
        let default_name = self.privacy.default.as_ref().map(|d| d.name.clone());
        let current = match &default_name {
            Some(n) => self
                .store
                .privacy_list(self.bare.as_str(), n)
                .map_err(|e| RequestError::storage("reading the default list", e))?,
            None => None,
        };
        match (req.iq.attr("type"), payload.name()) {
            (Some("get"), "blocklist") => {
                if let Some(s) = self.sessions.get_mut(&req.resource) {
                    s.blocklist = true;
                }
                let jids = current
                    .as_ref()
                    .map(blocking::blocked_jids)
                    .unwrap_or_default();
                self.answer(req, Some(blocking::blocking_items("blocklist", &jids)));
            }
            (Some("set"), "block" | "unblock") => {
                let max_items = self.router.config().privacy.max_items;
                let jids = blocking::request_jids(&payload, max_items)?;
                let block = payload.name() == "block";
                if block && jids.is_empty() {
                    return Err(RequestError::bad_request("nothing to block"));
                }
                let mut list = match current {
                    Some(l) => l,
                    // Nothing is blocked without a default list: unblocking changes nothing.
                    None if !block => {
                        self.answer(req, None);
                        return Ok(());
                    }
                    // A block creates the default list (or writes the default that went
                    // missing): one more list.
                    None => {
                        let names = self.list_names()?;
                        self.room_for_a_list(&names)?;
                        PrivacyList {
                            name: default_name
                                .clone()
                                .unwrap_or_else(|| new_blocklist_name(&names)),
                            items: Vec::new(),
                        }
                    }
                };
                let changed = if block {
                    blocking::block(&mut list, &jids, max_items)?
                } else {
                    blocking::unblock(&mut list, &jids)
                };
                if changed.is_empty() {
                    self.answer(req, None);
                    return Ok(());
                }
                // §3.5: "unblock all" is pushed as an empty <unblock/>, not as its items.
                let pushed = if !block && jids.is_empty() {
                    Vec::new()
                } else {
                    changed
                };
                self.write_blocklist(
                    req.clone(),
                    list,
                    default_name.is_none(),
                    block,
                    pushed,
                    ctx,
                );
            }
            _ => return Err(RequestError::bad_request("unknown blocking request")),
        }
        Ok(())
    }

    /// Writes the default list after a block or unblock (making it the default if it is new),
    /// then answers, applies it, and pushes: the XEP-0191 change (`pushed`, the items of the
    /// `<block/>` or `<unblock/>` push; none for unblock-all) to every resource that asked for
    /// the blocklist (§3.3–§3.5), a XEP-0016 push to all.
    #[allow(clippy::too_many_arguments)]
    fn write_blocklist(
        &mut self,
        req: Request,
        list: PrivacyList,
        make_default: bool,
        block: bool,
        pushed: Vec<String>,
        ctx: &mut Context<Self>,
    ) {
        let name = list.name.clone();
        let store = self.store.clone();
        let bare = self.bare.to_string();
        let default_name = name.clone();
        let written = self
            .list_actor(&name)
            .send(Replace(list))
            .into_actor(self)
            .then(move |r, act, _| {
                let r = match r {
                    Ok(Ok(compiled)) if make_default => store
                        .set_default_privacy_list(&bare, Some(&default_name))
                        .map(|_| (compiled, Some(store.flush())))
                        .map_err(|e| RequestError::storage("setting the default list", e)),
                    Ok(Ok(compiled)) => Ok((compiled, None)),
                    Ok(Err(e)) => Err(RequestError::storage("writing the blocklist", e)),
                    Err(e) => Err(e.into()),
                };
                async move {
                    let (compiled, flush) = r?;
                    if let Some(flushed) = flush {
                        flushed
                            .await
                            .map_err(|e| RequestError::storage("flushing the default list", e))?;
                    }
                    Ok::<_, RequestError>(compiled)
                }
                .into_actor(act)
            });
        self.wait_in_turn(ctx, written, move |r, act, _| match r {
            Ok(compiled) => {
                let before = act.effective_lists();
                for s in act.sessions.values_mut() {
                    if s.active.as_ref().is_some_and(|a| a.name == compiled.name) {
                        s.active = Some(compiled.clone());
                    }
                }
                act.privacy.default = Some(compiled);
                act.lists_changed(before);
                act.answer(&req, None);
                let what = if block { "block" } else { "unblock" };
                for s in act.sessions.values().filter(|s| s.blocklist) {
                    let push = Element::builder("iq", ns::JABBER_CLIENT)
                        .a("type", "set")
                        .a("id", format!("block-push-{}", act.privacy.pushes))
                        .a("to", s.full.to_string())
                        .append(blocking::blocking_items(what, &pushed))
                        .build();
                    s.link.send(push);
                }
                act.push_privacy_list(&name);
            }
            Err(why) => act.list_write_failed(&name, &req, why),
        });
    }
}
