//! The account actor's side of delivery: it applies [`super::decide`] with everything it
//! knows (lists that need the roster, offline storage, answers on the account's behalf),
//! where the router's fast path ([`super::view`]) cannot.

use std::sync::Arc;

use actix::prelude::*;
use minidom::Element;

use super::{Audience, Candidate, Decision, Incoming};
use crate::account::UserActor;
use crate::privacy::Direction;
use crate::protocol::SharedPresence;
use crate::server_iq;
use crate::stanza::{self, DefinedCondition, ErrorType, Kind};
use crate::subscription::SubType;

impl UserActor {
    /// A stanza for the account, as the router classified it (`resource`: the one its `to`
    /// names, `None` for the bare JID).
    pub(crate) fn deliver(
        &mut self,
        stanza: Element,
        kind: Kind,
        resource: Option<&str>,
        ctx: &mut Context<Self>,
    ) {
        if kind == Kind::Presence {
            // Subscription stanzas and probes concern the account whatever the resource
            // (RFC 6121 §3, §4.3); other presence to an absent full JID is ignored (§8.5.3.2.3).
            let type_ = stanza::stanza_type(&stanza);
            let account_wide = type_ == "probe" || SubType::parse(type_).is_some();
            let target = match resource {
                Some(_) if account_wide => None,
                Some(r) if self.sessions.contains_key(r) => Some(r.to_string()),
                Some(_) => return,
                None => None,
            };
            return self.process_inbound_presence(stanza, target, ctx);
        }
        self.privacy_ready();
        match super::decide(&*self, Incoming::of(&stanza, kind, resource)) {
            Decision::Sessions(links) => crate::delivery::view::send_each(links, stanza),
            Decision::StoreOffline => self.store_offline(stanza, ctx),
            Decision::Refuse => self.router.bounce(
                &stanza,
                kind,
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
            ),
            Decision::OnBehalf => {
                let router = self.router.clone();
                let bare = self.bare.clone();
                self.wait_in_turn(
                    ctx,
                    async move { server_iq::on_behalf_of_account(&router, &bare, &stanza).await }
                        .into_actor(self),
                    |reply, act, _| {
                        if let Some(reply) = reply {
                            act.route(reply);
                        }
                    },
                );
            }
            Decision::Ignore => {}
        }
    }

    pub(crate) fn deliver_broadcast(&mut self, presence: &Arc<SharedPresence>) {
        if self.retired {
            return self
                .router
                .route_broadcast(self.bare.as_str(), presence, self.ticket());
        }
        if self.available().next().is_none() {
            return;
        }
        self.privacy_ready();
        // The sender as the stanza already carries it: nothing formatted per recipient.
        let from = presence.element.attr("from");
        crate::delivery::view::send_broadcast(
            super::broadcast(self, from),
            presence,
            self.bare.as_str(),
        );
    }
}

/// The account as RFC 6121 §8 and the privacy rules see it (see [`super::decide`]); the lists may
/// need the roster (call `privacy_ready` first).
impl Audience for UserActor {
    fn sessions(&self) -> impl Iterator<Item = Candidate<'_>> {
        self.sessions.iter().map(|(r, s)| Candidate {
            resource: r,
            available: s.available,
            priority: s.priority,
            link: &s.link,
        })
    }

    fn allows(&self, resource: Option<&str>, dir: Direction, from: Option<&str>) -> bool {
        UserActor::allows(self, resource, dir, from)
    }

    fn blocklisted(&self, resource: Option<&str>, from: &str) -> bool {
        let Some(default) = self.privacy.default.as_ref() else {
            return false;
        };
        let refusing = match resource {
            Some(r) => self.effective_list(r),
            None => Some(default.clone()),
        };
        default.refusal_is_blocklist(refusing.as_deref(), from)
    }
}
