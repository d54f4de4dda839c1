//! jabber:iq:privacy (XEP-0016, RFC 3921 §10) for the UserActor: list names, lists, the active
//! list of each session and the account's default list, with the conflict rules of §10.2 and
//! §10.5, and a privacy list push to every connected resource after each change (§10.2 rule 10).
//!
//! Lists are written by their [`PrivacyListActor`]; the UserActor keeps the compiled snapshots
//! its sessions use, so deciding about a stanza never waits on another actor.

use std::sync::Arc;

use actix::prelude::*;
use cordial_storage::PrivacyList;
use minidom::Element;

use crate::account::{Request, UserActor};
use crate::error::{self, RequestError};
use crate::ns;
use crate::privacy::list_actor::PrivacyListActor;
use crate::privacy::{self, CompiledList, Direction, NS_PRIVACY};
use crate::protocol::{Remove, Replace, ToSession};
use crate::stanza;
use crate::xml::{BuildAttr, SetAttr};

impl UserActor {
    /// Loads the default list once.
    pub(crate) fn privacy_loaded(&mut self) {
        if self.privacy.loaded {
            return;
        }
        let store = &self.store;
        let bare = self.bare.as_str();
        let default = store
            .default_privacy_list(bare)
            .and_then(|name| match name {
                Some(n) => store.privacy_list(bare, &n),
                None => Ok(None),
            });
        match default {
            Ok(list) => {
                self.privacy.default = list.as_ref().map(CompiledList::compile);
                self.privacy.loaded = true;
            }
            Err(e) => error::log_storage(
                format_args!("reading the privacy lists of {}", self.bare),
                &e,
            ),
        }
    }

    /// The list that applies to a session: its active list, else the default (§10.2 rules
    /// 1–2).
    pub(crate) fn effective_list(&self, resource: &str) -> Option<Arc<CompiledList>> {
        self.sessions
            .get(resource)
            .and_then(|s| s.active.clone())
            .or_else(|| self.privacy.default.clone())
    }

    /// Loads what deciding needs: the default list, and the roster if a list in use has
    /// group or subscription items. Call before [`Self::allows`].
    pub(crate) fn privacy_ready(&mut self) {
        self.privacy_loaded();
        let needs_roster = self.privacy.default.iter().any(|l| l.needs_roster())
            || self
                .sessions
                .values()
                .any(|s| s.active.as_ref().is_some_and(|l| l.needs_roster()));
        if needs_roster {
            self.roster_current();
        }
    }

    /// Whether a stanza of kind `dir` exchanged with `other` may pass the list that applies to
    /// session `resource` (its active list, else the default), or with no session (`None`) the
    /// default list. No list, or no known `other`, lets everything pass.
    pub(crate) fn allows(
        &self,
        resource: Option<&str>,
        dir: Direction,
        other: Option<&str>,
    ) -> bool {
        let list = match resource {
            Some(r) => self.effective_list(r),
            None => self.privacy.default.clone(),
        };
        self.list_allows(list.as_ref(), dir, other)
    }

    /// Whether `list` lets the stanza pass (no list, or no known `other`: yes).
    fn list_allows(
        &self,
        list: Option<&Arc<CompiledList>>,
        dir: Direction,
        other: Option<&str>,
    ) -> bool {
        let (Some(list), Some(other)) = (list, other) else {
            return true;
        };
        list.allows_text(dir, other, &self.roster)
    }

    /// The list each session is under now, by resource.
    pub(crate) fn effective_lists(&self) -> Vec<(String, Option<Arc<CompiledList>>)> {
        self.sessions
            .keys()
            .map(|r| (r.clone(), self.effective_list(r)))
            .collect()
    }

    /// After a change to lists: tells the ResourceActors, and applies XEP-0016 §2.11 /
    /// RFC 3921 §10.11: a contact that a session's new list newly blocks from its presence
    /// gets unavailable from that session, and one it newly lets see it gets its current
    /// presence.
    pub(crate) fn lists_changed(&mut self, before: Vec<(String, Option<Arc<CompiledList>>)>) {
        self.publish_lists();
        if !self.roster_current() {
            return;
        }
        let mut out = Vec::new();
        for (resource, old) in before {
            let Some(s) = self.sessions.get(&resource).filter(|s| s.available) else {
                continue;
            };
            let new = self.effective_list(&resource);
            let same = match (&old, &new) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if same {
                continue;
            }
            let mut audience: Vec<String> =
                self.presence_subscribers().map(str::to_string).collect();
            audience.extend(s.directed.iter().cloned());
            audience.sort();
            audience.dedup();
            for contact in audience {
                let was = self.list_allows(old.as_ref(), Direction::PresenceOut, Some(&contact));
                let is = self.list_allows(new.as_ref(), Direction::PresenceOut, Some(&contact));
                let mut p = match (was, is) {
                    (true, false) => stanza::unavailable_from(&s.full),
                    (false, true) => match &s.presence {
                        Some(p) => p.clone(),
                        None => continue,
                    },
                    _ => continue,
                };
                p.set("from", s.full.to_string());
                p.set("to", contact);
                out.push(p);
            }
        }
        // Part of the turn that changed the list: the client's next stanza waits for them
        // (RFC 6120 §10.1).
        for p in out {
            self.route(p);
        }
    }

    /// Tells each session's ResourceActor which list now applies to it (for the user's own
    /// outbound stanzas). Called after every change to lists, the default, or an active list.
    pub(crate) fn publish_lists(&self) {
        self.publish_view();
        for (r, s) in &self.sessions {
            s.session
                .do_send(ToSession::Privacy(self.effective_list(r)));
        }
    }

    /// [`Self::allows`] for a JID given as text, parsed only when a list applies.
    pub(crate) fn allows_jid(&self, resource: Option<&str>, dir: Direction, other: &str) -> bool {
        let has_list = match resource {
            Some(r) => self
                .sessions
                .get(r)
                .and_then(|s| s.active.as_ref())
                .is_some(),
            None => false,
        } || self.privacy.default.is_some();
        !has_list || self.allows(resource, dir, Some(other))
    }

    /// Whether `name` applies to a connected resource other than `resource`.
    fn list_used_by_others(&self, name: &str, resource: &str) -> bool {
        let default_name = self.privacy.default.as_ref().map(|d| d.name.as_str());
        self.sessions.iter().any(|(r, s)| {
            r != resource
                && match &s.active {
                    Some(a) => a.name == name,
                    None => default_name == Some(name),
                }
        })
    }

    /// Whether the default list applies to a connected resource other than `resource`.
    fn default_used_by_others(&self, resource: &str) -> bool {
        self.privacy.default.is_some()
            && self
                .sessions
                .iter()
                .any(|(r, s)| r != resource && s.active.is_none())
    }

    /// The stored list `name`: `<item-not-found/>` if there is none by that name (§10.3).
    fn existing_list(&self, name: &str) -> error::Result<PrivacyList> {
        self.store
            .privacy_list(self.bare.as_str(), name)
            .map_err(|e| RequestError::storage("reading a privacy list", e))?
            .ok_or_else(|| RequestError::ItemNotFound("no list by that name".into()))
    }

    /// XEP-0016 (RFC 3921 §10): a request of one of the account's resources.
    pub(crate) fn process_privacy_iq(
        &mut self,
        req: &Request,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        let Some(query) = stanza::iq_payload(&req.iq)
            .filter(|p| p.is("query", NS_PRIVACY))
            .cloned()
        else {
            return Err(RequestError::bad_request("exactly one <query/> expected"));
        };
        self.privacy_loaded();
        let children: Vec<&Element> = query.children().collect();
        match (req.iq.attr("type"), children.as_slice()) {
            (Some("get"), []) => self.privacy_names(req),
            (Some("get"), [one]) if one.name() == "list" => {
                let list = self.existing_list(one.attr("name").unwrap_or_default())?;
                let q = Element::builder("query", NS_PRIVACY)
                    .append(privacy::list_element(&list))
                    .build();
                self.answer(req, Some(q));
                Ok(())
            }
            (Some("get"), _) => Err(RequestError::bad_request(
                "a get asks for all names or for exactly one list",
            )),
            (Some("set"), [one]) => match one.name() {
                "active" => self.set_active(req, one.attr("name")),
                "default" => self.set_default(req, one.attr("name").map(str::to_string), ctx),
                "list" if one.children().next().is_none() => {
                    let name = one.attr("name").unwrap_or_default().to_string();
                    self.remove_list(req, name, ctx)
                }
                "list" => {
                    let list = privacy::parse_list(one, self.router.config().privacy.max_items)?;
                    self.replace_list(req, list, ctx)
                }
                _ => Err(RequestError::bad_request("unknown request")),
            },
            (Some("set"), _) => Err(RequestError::bad_request(
                "a set carries exactly one <active/>, <default/> or <list/>",
            )),
            _ => Ok(()),
        }
    }

    /// §10.3: the names of all lists, with the session's active list and the default.
    fn privacy_names(&self, req: &Request) -> error::Result<()> {
        let names = self.list_names()?;
        let mut q = Element::builder("query", NS_PRIVACY);
        let active = self
            .sessions
            .get(&req.resource)
            .and_then(|s| s.active.clone());
        q = q.append(match &active {
            Some(a) => Element::builder("active", NS_PRIVACY)
                .a("name", a.name.as_str())
                .build(),
            None => Element::bare("active", NS_PRIVACY),
        });
        q = q.append(match &self.privacy.default {
            Some(d) => Element::builder("default", NS_PRIVACY)
                .a("name", d.name.as_str())
                .build(),
            None => Element::bare("default", NS_PRIVACY),
        });
        for name in names {
            q = q.append(Element::builder("list", NS_PRIVACY).a("name", name).build());
        }
        self.answer(req, Some(q.build()));
        Ok(())
    }

    /// §10.4: activate a list for this session, or decline any (`name` absent).
    fn set_active(&mut self, req: &Request, name: Option<&str>) -> error::Result<()> {
        let list = match name {
            None => None,
            Some(n) => Some(CompiledList::compile(&self.existing_list(n)?)),
        };
        let before = self.effective_lists();
        if let Some(s) = self.sessions.get_mut(&req.resource) {
            s.active = list;
        }
        self.lists_changed(before);
        self.answer(req, None);
        Ok(())
    }

    /// §10.5: set or decline the default list; `<conflict/>` while the current default applies
    /// to another connected resource.
    fn set_default(
        &mut self,
        req: &Request,
        name: Option<String>,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        if self.default_used_by_others(&req.resource) {
            return Err(RequestError::Conflict(
                "the default list applies to another connected resource".into(),
            ));
        }
        let list = match &name {
            None => None,
            Some(n) => Some(CompiledList::compile(&self.existing_list(n)?)),
        };
        self.store
            .set_default_privacy_list(self.bare.as_str(), name.as_deref())
            .map_err(|e| RequestError::storage("setting the default list", e))?;
        let req = req.clone();
        self.flush_then(ctx, move |act, flushed| {
            if let Err(e) = flushed {
                let e = RequestError::storage("flushing the default list", e);
                return act.refuse_request(&req, e);
            }
            let before = act.effective_lists();
            act.privacy.default = list;
            act.lists_changed(before);
            act.answer(&req, None);
        });
        Ok(())
    }

    /// A list write or removal that did not happen, answered as [`Self::refuse`] does; its
    /// writer is let go, so that writers exist only for lists that are stored (at most
    /// `privacy.max_lists`, which every creation is checked against before its writer starts).
    pub(crate) fn list_write_failed(&mut self, name: &str, req: &Request, why: RequestError) {
        self.privacy.writers.remove(name);
        self.refuse_request(req, why);
    }

    /// The list's single writer, started on first use. Callers check `privacy.max_lists`
    /// before a write creates a list.
    pub(crate) fn list_actor(&mut self, name: &str) -> Addr<PrivacyListActor> {
        if let Some(a) = self.privacy.writers.get(name).filter(|a| a.connected()) {
            return a.clone();
        }
        let a = PrivacyListActor::new(self.bare.to_string(), name.to_string(), self.store.clone())
            .start();
        self.privacy.writers.insert(name.to_string(), a.clone());
        a
    }

    /// Applies a list that was written (`Some`) or removed (`None`) under `name`: sessions
    /// using it switch to the new definition or to none (§10.2 rule 8), and the default
    /// follows.
    fn list_written(&mut self, name: &str, compiled: Option<Arc<CompiledList>>) {
        let before = self.effective_lists();
        for s in self.sessions.values_mut() {
            if s.active.as_ref().is_some_and(|a| a.name == name) {
                s.active = compiled.clone();
            }
        }
        if self
            .privacy
            .default
            .as_ref()
            .is_some_and(|d| d.name == name)
        {
            self.privacy.default = compiled;
        }
        self.lists_changed(before);
    }

    /// §10.6, §10.7: create or replace a list. The requester gets its result, then every
    /// connected resource a push (§10.2 rule 10).
    fn replace_list(
        &mut self,
        req: &Request,
        list: PrivacyList,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        let names = self.list_names()?;
        if !names.contains(&list.name) {
            self.room_for_a_list(&names)?;
        }
        let name = list.name.clone();
        self.write_list(&name, Replace(list), req, ctx, |act, compiled, name| {
            act.list_written(name, Some(compiled))
        });
        Ok(())
    }

    /// Hands `msg` to the writer of list `name` and, once what it wrote is durable, runs
    /// `written` and answers the request; a write that failed is answered with its error and
    /// its writer let go ([`Self::list_write_failed`]).
    fn write_list<M, T>(
        &mut self,
        name: &str,
        msg: M,
        req: &Request,
        ctx: &mut Context<Self>,
        written: impl FnOnce(&mut Self, T, &str) + 'static,
    ) where
        M: Message<Result = cordial_storage::Result<T>> + Send + 'static,
        T: Send + 'static,
        PrivacyListActor: Handler<M>,
    {
        let (name, req) = (name.to_string(), req.clone());
        let sent = self.list_actor(&name).send(msg).into_actor(self);
        self.wait_in_turn(ctx, sent, move |r, act, _| {
            let failed = match r {
                Ok(Ok(done)) => {
                    written(act, done, &name);
                    act.answer(&req, None);
                    return act.push_privacy_list(&name);
                }
                Ok(Err(e)) => RequestError::storage("writing a privacy list", e),
                Err(e) => e.into(),
            };
            act.list_write_failed(&name, &req, failed)
        });
    }

    /// §10.8: remove a list; `<conflict/>` while it applies to another connected resource,
    /// `<item-not-found/>` if there is none by that name.
    fn remove_list(
        &mut self,
        req: &Request,
        name: String,
        ctx: &mut Context<Self>,
    ) -> error::Result<()> {
        if self.list_used_by_others(&name, &req.resource) {
            return Err(RequestError::Conflict(
                "the list applies to another connected resource".into(),
            ));
        }
        self.existing_list(&name)?;
        self.write_list(&name, Remove, req, ctx, |act, _, name| {
            act.privacy.writers.remove(name);
            act.list_written(name, None);
        });
        Ok(())
    }

    /// §10.2 rule 10: the list's name to every connected resource.
    pub(crate) fn push_privacy_list(&mut self, name: &str) {
        self.privacy.pushes += 1;
        for s in self.sessions.values() {
            let push = Element::builder("iq", ns::JABBER_CLIENT)
                .a("type", "set")
                .a("id", format!("privacy-push-{}", self.privacy.pushes))
                .a("to", s.full.to_string())
                .append(
                    Element::builder("query", NS_PRIVACY)
                        .append(Element::builder("list", NS_PRIVACY).a("name", name).build())
                        .build(),
                )
                .build();
            s.link.send(push);
        }
    }
}
