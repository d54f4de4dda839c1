//! ResourceActor: one per bound resource (RFC 6120 §7).
//!
//! It owns the session after binding: every stanza the client sends passes through
//! [`FromClient`], where `from` is checked and stamped with the full JID (a client never chooses
//! its own `from`, RFC 6120 §8.1.2.1), `to` is classified once, and the stanza is handed to the
//! user's own [`UserActor`](crate::account::UserActor), the server's IQ handlers or the [`Router`]. Stanzas for the client
//! do not pass through here: the UserActor, or the router from the UserActor's published view,
//! puts them straight into the link's bounded queue.

use std::sync::Arc;

use actix::prelude::*;
use jid::FullJid;
use minidom::Element;

use crate::xml::SetAttr;

use crate::blocking::NS_BLOCKING;
use crate::error::RequestError;
use crate::in_order::Outstanding;
use crate::link::{LinkHandle, StreamClose, StreamCondition};
use crate::privacy::{self, CompiledList, Direction, NoRoster, NS_PRIVACY};
use crate::protocol::{
    Account, CheckOutbound, FromClient, Handled, LinkClosed, OutboundPresence, OwnPresence,
    PrivacyIq, RosterIq, ToAccount, ToSession, Unbind,
};
use crate::roster::NS_ROSTER;
use crate::router::Router;
use crate::server_iq;
use crate::stanza::{self, Kind, Target};

pub struct ResourceActor {
    full: FullJid,
    account: Account,
    router: Arc<Router>,
    link: LinkHandle,
    /// The privacy list that applies to this session, as the UserActor last published it.
    privacy: Option<Arc<CompiledList>>,
    /// What the client's earlier stanzas started in other actors and is not done yet: the
    /// next stanza waits for it (RFC 6120 §10.1, see [`crate::in_order`]).
    outstanding: Outstanding,
}

impl ResourceActor {
    pub fn new(full: FullJid, account: Account, router: Arc<Router>, link: LinkHandle) -> Self {
        ResourceActor {
            full,
            account,
            router,
            link,
            privacy: None,
            outstanding: Outstanding::default(),
        }
    }

    /// Answers a stanza the session refuses (RFC 6120 §8.3), as the account does.
    fn refuse(&self, stanza: &Element, e: RequestError) {
        if let Some(reply) = e.reply(stanza, &self.full) {
            self.link.send(reply);
        }
    }

    /// RFC 6120 §8.1.2.1: a `from` other than the session's own full or bare JID is a stream
    /// error, and the stanza is never delivered as sent.
    fn sent_from_own_jid(&self, stanza: &Element) -> bool {
        match stanza.attr("from") {
            None => true,
            Some(f) => match jid::Jid::new(f) {
                Ok(j) => j == self.full.clone() || j == self.full.to_bare(),
                Err(_) => false,
            },
        }
    }

    fn process(&mut self, mut stanza: Element, ctx: &mut Context<Self>) {
        let Some(kind) = stanza::kind(&stanza) else {
            // The link only passes stanzas; anything else is a bug there.
            log::error!("resource actor got a non-stanza <{}>", stanza.name());
            return;
        };
        if !self.sent_from_own_jid(&stanza) {
            log::info!(
                "{} sent a stanza with from={:?}; closing",
                self.full,
                stanza.attr("from")
            );
            self.link.close(StreamClose::new(
                StreamCondition::InvalidFrom,
                "The from address does not match the session's JID".to_string(),
            ));
            return;
        }
        stanza.set("from", self.full.as_str().to_owned());
        // RFC 6120 §8.2.3: an iq's type is get, set, result or error, and a request carries an
        // id to be answered with; anything else is answered <bad-request/> (§8.3.3.1) and goes
        // no further (as Prosody does).
        if kind == Kind::Iq {
            let valid = match stanza.attr("type") {
                Some("get" | "set") => stanza.attr("id").is_some(),
                Some("result" | "error") => true,
                _ => false,
            };
            if !valid {
                return self.refuse(
                    &stanza,
                    RequestError::bad_request(
                        "An iq needs a type of get, set, result or error, and a request an id",
                    ),
                );
            }
        }
        let target = match stanza::classify(stanza.attr("to"), |d| self.router.config().hosts(d)) {
            Ok(t) => t,
            Err(stanza::MalformedJid) => {
                return self.refuse(
                    &stanza,
                    RequestError::JidMalformed("The to address is not a valid JID".into()),
                )
            }
        };
        // From here on `to` is in normalised form (RFC 7622), so that what is routed, what
        // privacy lists compare and the `from` of any error bounced back all agree.
        let normalised = match &target {
            Target::Bare(b) => Some(b.as_str()),
            Target::Full(f) => Some(f.as_str()),
            Target::Remote(j) | Target::Host(j) => Some(j.as_str()),
            Target::None => None,
        };
        if let Some(n) = normalised.filter(|n| stanza.attr("to") != Some(n)) {
            stanza.set("to", n.to_string());
        }
        // RFC 6121 §2.1.5: a roster iq with no `to`, or to the user's own bare JID, is the
        // user's own roster, owned by the UserActor.
        let own_bare = matches!(&target, Target::Bare(b) if *b == self.full.to_bare());
        if kind == Kind::Iq && (target == Target::None || own_bare) {
            match stanza::iq_payload(&stanza) {
                Some(p) if p.is("query", NS_ROSTER) => {
                    return self.account.do_send(ToAccount::RosterIq(RosterIq {
                        full: self.full.clone(),
                        iq: stanza,
                        ticket: self.outstanding.ticket(),
                    }))
                }
                // XEP-0016: privacy lists are the account's, kept by the UserActor.
                Some(p) if p.is("query", NS_PRIVACY) || p.ns() == NS_BLOCKING => {
                    return self.account.do_send(ToAccount::PrivacyIq(PrivacyIq {
                        full: self.full.clone(),
                        iq: stanza,
                        ticket: self.outstanding.ticket(),
                    }))
                }
                _ => {}
            }
        }
        match (kind, &target) {
            // RFC 6121 §4.2, §4.4: presence without `to` is the user's own broadcast.
            (Kind::Presence, Target::None) => {
                self.account.do_send(ToAccount::OwnPresence(OwnPresence {
                    full: self.full.clone(),
                    presence: stanza,
                    ticket: self.outstanding.ticket(),
                }))
            }
            // RFC 6120 §10.3.3: an iq without `to` is handled by the server for the account.
            (Kind::Iq, Target::None) | (Kind::Iq, Target::Host(_)) => {
                if !matches!(stanza.attr("type"), Some("get") | Some("set")) {
                    // Results and errors addressed to the server: nothing waits for them.
                    return;
                }
                let router = self.router.clone();
                let full = self.full.clone();
                let link = self.link.clone();
                ctx.wait(
                    async move {
                        if let Some(reply) =
                            server_iq::handle_for_session(&router, &full, &stanza).await
                        {
                            link.send(reply);
                        }
                    }
                    .into_actor(self),
                );
            }
            // RFC 6120 §10.3.1: a message without `to` is treated as addressed to the sender's
            // bare JID.
            (Kind::Message, Target::None) => {
                stanza.set("to", self.full.to_bare().to_string());
                self.router
                    .route_with(stanza, Some(self.outstanding.ticket()));
            }
            (Kind::Message, Target::Host(_)) => {
                self.refuse(&stanza, RequestError::ServiceUnavailable)
            }
            // Directed presence to the server itself carries no meaning; ignored.
            (Kind::Presence, Target::Host(_)) => {}
            // Directed presence and subscription stanzas: the UserActor tracks the first and
            // runs the state machine for the second (RFC 6121 §3, §4.6).
            (Kind::Presence, Target::Bare(_) | Target::Full(_) | Target::Remote(_)) => {
                let to = match target {
                    Target::Bare(b) => b.into(),
                    Target::Full(f) => f.into(),
                    Target::Remote(j) => j,
                    Target::None | Target::Host(_) => unreachable!("matched above"),
                };
                self.account
                    .do_send(ToAccount::OutboundPresence(OutboundPresence {
                        full: self.full.clone(),
                        to,
                        presence: stanza,
                        ticket: self.outstanding.ticket(),
                    }))
            }
            (_, Target::Bare(_)) | (_, Target::Full(_)) | (_, Target::Remote(_)) => {
                self.route_outbound(stanza, kind, target)
            }
        }
    }
}

impl ResourceActor {
    /// A message or iq to someone else. Privacy items for every stanza kind also hold the
    /// user's own outbound stanzas (XEP-0016 §2.13, XEP-0191 §3.3): those are answered
    /// `<not-acceptable/>` with `<blocked/>`. Lists that need the roster to decide are checked
    /// by the UserActor, which holds it.
    /// Routes a stanza of the client's, holding its next one until the receiver is done
    /// (see [`crate::in_order`]).
    fn route_in_turn(&self, stanza: Element, kind: Kind, target: Target) {
        self.router
            .route_to(stanza, kind, target, Some(self.outstanding.ticket()))
    }

    fn route_outbound(&self, stanza: Element, kind: Kind, target: Target) {
        let Some(list) = self.privacy.as_ref().filter(|l| l.has_outbound_items()) else {
            return self.route_in_turn(stanza, kind, target);
        };
        if let Some(allow) = list.fixed(Direction::Outbound) {
            if allow {
                return self.route_in_turn(stanza, kind, target);
            }
            if let Some(e) = privacy::blocked_error(&stanza) {
                self.link.send(e);
            }
            return;
        }
        if list.needs_roster() {
            return self
                .account
                .do_send(ToAccount::CheckOutbound(CheckOutbound {
                    stanza,
                    kind,
                    target,
                    resource: self.full.resource().to_string(),
                    ticket: self.outstanding.ticket(),
                }));
        }
        let to = match &target {
            Target::Bare(b) => jid::Jid::from(b.clone()),
            Target::Full(f) => jid::Jid::from(f.clone()),
            Target::Remote(j) => j.clone(),
            Target::None | Target::Host(_) => return self.route_in_turn(stanza, kind, target),
        };
        if list.allows(Direction::Outbound, &to, &NoRoster) {
            self.route_in_turn(stanza, kind, target)
        } else if let Some(e) = privacy::blocked_error(&stanza) {
            self.link.send(e);
        }
    }
}

impl Handler<ToSession> for ResourceActor {
    type Result = ();

    fn handle(&mut self, msg: ToSession, _: &mut Context<Self>) {
        match msg {
            ToSession::Close(why) => {
                self.link.close(why);
            }
            ToSession::Privacy(list) => self.privacy = list,
        }
    }
}

impl Actor for ResourceActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        log::debug!("session {} ended", self.full);
    }
}

impl Handler<FromClient> for ResourceActor {
    type Result = ();

    fn handle(&mut self, msg: FromClient, ctx: &mut Context<Self>) {
        if self.outstanding.is_settled() {
            return self.process(msg.0, ctx);
        }
        ctx.wait(
            self.outstanding
                .settled()
                .into_actor(self)
                .map(move |(), act, ctx| act.process(msg.0, ctx)),
        );
    }
}

impl Handler<Handled> for ResourceActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Handled, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(self.outstanding.settled().into_actor(self)))
    }
}

impl Handler<LinkClosed> for ResourceActor {
    type Result = ();

    fn handle(&mut self, _: LinkClosed, ctx: &mut Context<Self>) {
        self.account.do_send(ToAccount::Unbind(Unbind {
            full: self.full.clone(),
            session: ctx.address().recipient(),
        }));
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::hooks::{Hold, Probe};
    use crate::link::link_pair;

    /// Run every actor and task of this (single-threaded) test runtime until none has
    /// anything left to do: not a wait for time, a wait for quiescence.
    async fn settle() {
        for _ in 0..2000 {
            tokio::task::yield_now().await;
        }
    }

    /// However fast a client sends, its session has at most one stanza of its own in its
    /// UserActor's mailbox (the rest waits in the session's mailbox, and from there in the
    /// link and the socket, whose reads stop when that fills): while the UserActor is busy it
    /// gets one, and once it is free every stanza is answered, in order.
    #[actix_rt::test]
    async fn a_session_never_floods_its_account_actor() {
        let dir = tempfile::tempdir().unwrap();
        let store = cordial_storage::Store::open(dir.path()).unwrap();
        // The router's account actors, spawned so that the test holds the actor's address
        // (for its test hooks).
        let spawned = Arc::new(std::sync::Mutex::new(None));
        let keep = spawned.clone();
        let spawn: crate::router::SpawnAccount =
            Box::new(move |router, bare, delivery, arbiter| {
                let addr = crate::account::start(router, bare, delivery, arbiter);
                *keep.lock().unwrap() = Some(addr.clone());
                addr.recipient()
            });
        let router = Router::new(
            crate::ActorsConfig::default(),
            Arc::new(store),
            Vec::new(),
            spawn,
            Box::new(crate::router::NoRemoteDomains),
        );
        let full: FullJid = "alice@localhost/r".parse().unwrap();
        let account = router.account(&full.to_bare());
        let user = spawned.lock().unwrap().clone().expect("spawned");
        let (link, mut out) = link_pair(1000);
        let link_probe = link.clone();
        let session =
            ResourceActor::new(full.clone(), account.clone(), router.clone(), link.clone()).start();
        let bind = crate::protocol::Bind {
            full,
            session: session.clone().recipient(),
            link,
        };
        account.send(ToAccount::Bind(bind)).await.unwrap().unwrap();
        let (release, held) = tokio::sync::oneshot::channel();
        user.do_send(Hold(held));
        for i in 0..100 {
            let iq: Element = format!(
                "<iq xmlns='jabber:client' type='get' id='r{i}'><query xmlns='jabber:iq:roster'/></iq>"
            )
            .parse()
            .unwrap();
            session.do_send(FromClient(iq));
        }
        settle().await;
        // Behind everything the session handed over while the actor was busy: when the actor
        // gets to it, only what came before it has been answered.
        let probe = user.send(Probe(link_probe));
        release.send(()).unwrap();
        assert_eq!(
            probe.await.unwrap(),
            1,
            "one stanza of the session waited in the account actor's mailbox"
        );
        for i in 0..100 {
            let crate::link::Outbound(xml) = out.stanzas.recv().await.unwrap();
            let reply: Element = xml.parse().unwrap();
            assert_eq!(reply.attr("id"), Some(format!("r{i}").as_str()));
            assert_eq!(reply.attr("type"), Some("result"));
        }
    }
}
