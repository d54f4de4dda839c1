//! RFC 6121 §3–§4 (RFC 3921 §5, §8, §9): subscriptions and presence, end to end through
//! scripted client sessions.

mod common;

use common::*;
use minidom::Element;

const R: &str = "jabber:iq:roster";

async fn server() -> TestServer {
    let s = TestServer::start().await;
    for u in ["juliet", "romeo", "nurse"] {
        s.add_user(u, "pw").await;
    }
    s
}

/// Logged in, roster requested (an interested resource), available.
async fn ready(s: &TestServer, user: &str, resource: &str) -> Client {
    let mut c = s.login(user, "pw", resource).await;
    c.iq("get", None, &format!("<query xmlns='{R}'/>")).await;
    c.send("<presence/>").await;
    c.own_presence().await;
    c
}

async fn roster_item(c: &mut Client, jid: &str) -> Option<Element> {
    let r = c.iq("get", None, &format!("<query xmlns='{R}'/>")).await;
    r.get_child("query", R)
        .unwrap()
        .children()
        .find(|i| i.attr("jid") == Some(jid))
        .cloned()
}

/// RFC 6121 §3.1 (RFC 3921 §8.2): the user subscribes, the contact approves. Pushes show
/// `ask='subscribe'` while pending, then "to" and "from"; the request arrives stamped with the
/// user's bare JID; on approval the user receives the contact's presence (§3.1.5).
#[actix_rt::test]
async fn rfc6121_3_1_subscribe_and_approve() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    romeo
        .send("<presence to='juliet@localhost/balcony' type='subscribe'><nick xmlns='http://jabber.org/protocol/nick'>Romeo</nick></presence>")
        .await;
    let [push] =
        <[Element; 1]>::try_from(gather_exactly(&mut romeo, &[&push_of("juliet@localhost")]).await)
            .unwrap();
    assert_eq!(sub(&push), ("none", Some("subscribe")));
    let req = gather_exactly(&mut juliet, &[&presence("subscribe", "romeo")]).await;
    assert_eq!(req[0].attr("from"), Some("romeo@localhost"));
    assert_eq!(req[0].attr("to"), Some("juliet@localhost"));
    assert!(
        req[0]
            .get_child("nick", "http://jabber.org/protocol/nick")
            .is_some(),
        "the request keeps its extensions"
    );
    // §3.1.3: no item for a pending inbound request alone.
    assert!(roster_item(&mut juliet, "romeo@localhost").await.is_none());
    juliet
        .send("<presence to='romeo@localhost' type='subscribed'/>")
        .await;
    let j = gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    assert_eq!(sub(&j[0]), ("from", None));
    let r = gather_exactly(
        &mut romeo,
        &[
            &push_of("juliet@localhost"),
            &presence("subscribed", "juliet@localhost"),
            &presence("available", "juliet@localhost/balcony"),
        ],
    )
    .await;
    assert_eq!(sub(&r[0]), ("to", None));
}

/// RFC 6121 §3.2 (RFC 3921 §8.2.1): the contact declines; the user's pending state ends.
#[actix_rt::test]
async fn rfc6121_3_2_contact_declines() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    romeo
        .send("<presence to='juliet@localhost' type='subscribe'/>")
        .await;
    gather_exactly(
        &mut romeo,
        &[&|e: &Element| push_of("juliet@localhost")(e) && sub(e).1 == Some("subscribe")],
    )
    .await;
    gather_exactly(&mut juliet, &[&presence("subscribe", "romeo")]).await;
    juliet
        .send("<presence to='romeo@localhost' type='unsubscribed'/>")
        .await;
    // No item for Juliet: a pending request alone has none (§3.1.3), so no push either.
    juliet.expect_quiet().await;
    let r = gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).1.is_none(),
            &presence("unsubscribed", "juliet@localhost"),
        ],
    )
    .await;
    assert_eq!(sub(&r[0]), ("none", None));
    // The request is answered: it is not redelivered at Juliet's next login.
    drop(juliet);
    let mut juliet = ready(&s, "juliet", "again").await;
    juliet.expect_quiet().await;
}

/// RFC 3921 §8.3 / RFC 6121 §3.1: mutual subscription ends in "both" on both sides, and each
/// sees the other's presence.
#[actix_rt::test]
async fn rfc3921_8_3_mutual_subscription_is_both() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    let j = roster_item(&mut juliet, "romeo@localhost").await.unwrap();
    assert_eq!(j.attr("subscription"), Some("both"));
    let r = roster_item(&mut romeo, "juliet@localhost").await.unwrap();
    assert_eq!(r.attr("subscription"), Some("both"));
    // Presence broadcast now flows both ways.
    juliet.send("<presence><show>away</show></presence>").await;
    gather_exactly(
        &mut juliet,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    let p = gather_exactly(
        &mut romeo,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    assert!(p[0].get_child("show", "jabber:client").is_some());
}

/// RFC 6121 §3.3 (RFC 3921 §8.4): unsubscribing in a mutual subscription; the contact is told,
/// both items change, and the user receives unavailable from the contact (§3.3.3).
#[actix_rt::test]
async fn rfc6121_3_3_unsubscribe_mutual() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    romeo
        .send("<presence to='juliet@localhost' type='unsubscribe'/>")
        .await;
    let r = gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "from",
            &presence("unavailable", "juliet@localhost/balcony"),
        ],
    )
    .await;
    assert_eq!(sub(&r[0]), ("from", None));
    let j = gather_exactly(
        &mut juliet,
        &[
            &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "to",
            &presence("unsubscribe", "romeo@localhost"),
        ],
    )
    .await;
    assert_eq!(sub(&j[0]), ("to", None));
}

/// RFC 6121 §3.3 in the non-mutual case: both sides end at "none".
#[actix_rt::test]
async fn rfc6121_3_3_unsubscribe_one_way() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    romeo
        .send("<presence to='juliet@localhost' type='unsubscribe'/>")
        .await;
    // §3.3.3: Romeo no longer receives Juliet's presence; her server says she is gone.
    let r = gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "none",
            &presence("unavailable", "juliet@localhost/balcony"),
        ],
    )
    .await;
    assert_eq!(sub(&r[0]), ("none", None));
    let j = gather_exactly(
        &mut juliet,
        &[
            &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "none",
            &presence("unsubscribe", "romeo@localhost"),
        ],
    )
    .await;
    assert_eq!(sub(&j[0]), ("none", None));
}

/// RFC 6121 §3.2 (RFC 3921 §8.2.1 "cancelling"): the contact cancels the user's subscription
/// in a mutual subscription; the user gets unsubscribed and unavailable.
#[actix_rt::test]
async fn rfc6121_3_2_cancel_mutual() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    juliet
        .send("<presence to='romeo@localhost' type='unsubscribed'/>")
        .await;
    let j = gather_exactly(
        &mut juliet,
        &[&|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "to"],
    )
    .await;
    assert_eq!(sub(&j[0]), ("to", None));
    let r = gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "from",
            &presence("unsubscribed", "juliet@localhost"),
            &presence("unavailable", "juliet@localhost/balcony"),
        ],
    )
    .await;
    assert_eq!(sub(&r[0]), ("from", None));
}

/// RFC 6121 §2.5.2 (RFC 3921 §8.6): removing an item with a "both" subscription cancels both
/// directions; the contact's item goes to "none" and each side sees the other go unavailable.
#[actix_rt::test]
async fn rfc6121_2_5_2_remove_item_cancels_all_subscriptions() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    let r = romeo
        .iq(
            "set",
            None,
            &format!(
                "<query xmlns='{R}'><item jid='juliet@localhost' subscription='remove'/></query>"
            ),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "remove",
            &presence("unavailable", "juliet@localhost/balcony"),
        ],
    )
    .await;
    // RFC 6121 §3.3.3, §3.2.3: each of the two cancellations is pushed to Juliet.
    gather_exactly(
        &mut juliet,
        &[
            &presence("unsubscribe", "romeo@localhost"),
            &presence("unsubscribed", "romeo@localhost"),
            &presence("unavailable", "romeo@localhost/orchard"),
            &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "to",
            &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "none",
        ],
    )
    .await;
    let j = roster_item(&mut juliet, "romeo@localhost").await.unwrap();
    assert_eq!(j.attr("subscription"), Some("none"));
    assert_eq!(j.attr("ask"), None);
}

/// RFC 6121 §3.1.3, RFC 3921 §9.4: a request to an offline contact is stored, survives a
/// restart, is delivered at the contact's next available presence, and again at the one after
/// until answered; the answer reaches the offline requester at its next login.
#[actix_rt::test]
async fn rfc6121_3_1_3_request_to_offline_contact_survives_restart() {
    let mut s = server().await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    romeo
        .send(
            "<presence to='juliet@localhost' type='subscribe'><status>It is I</status></presence>",
        )
        .await;
    gather_exactly(&mut romeo, &[&push_of("juliet@localhost")]).await;
    drop(romeo);
    s.restart().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let req = gather_exactly(&mut juliet, &[&presence("subscribe", "romeo@localhost")]).await;
    assert_eq!(
        req[0].get_child("status", "jabber:client").unwrap().text(),
        "It is I"
    );
    // Logged out (the server has answered her closing tag) before she logs in again.
    juliet.close().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    gather_exactly(&mut juliet, &[&presence("subscribe", "romeo@localhost")]).await;
    juliet
        .send("<presence to='romeo@localhost' type='subscribed'/>")
        .await;
    gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    // Romeo was offline: the approval waits for him; his initial presence then probes Juliet.
    let mut romeo = ready(&s, "romeo", "orchard").await;
    gather_exactly(
        &mut romeo,
        &[
            &presence("subscribed", "juliet@localhost"),
            &presence("available", "juliet@localhost/balcony"),
        ],
    )
    .await;
    let item = roster_item(&mut romeo, "juliet@localhost").await.unwrap();
    assert_eq!(item.attr("subscription"), Some("to"));
    assert_eq!(item.attr("ask"), None);
}

/// RFC 6121 §4.6.1: an abrupt TCP close broadcasts unavailable to the contacts.
#[actix_rt::test]
async fn rfc6121_4_6_1_abrupt_disconnect_broadcasts_unavailable() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    drop(juliet);
    gather_exactly(
        &mut romeo,
        &[&presence("unavailable", "juliet@localhost/balcony")],
    )
    .await;
}

/// RFC 6121 §3.4: pre-approval, advertised as a stream feature; the later request is approved
/// without reaching the contact.
#[actix_rt::test]
async fn rfc6121_3_4_pre_approval_end_to_end() {
    let s = server().await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(c.auth_scram("juliet", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    assert!(c
        .features
        .as_ref()
        .unwrap()
        .get_child("sub", "urn:xmpp:features:pre-approval")
        .is_some());
    drop(c);
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    juliet
        .send("<presence to='romeo@localhost' type='subscribed'/>")
        .await;
    let j = gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    assert_eq!(item(&j[0]).attr("approved"), Some("true"));
    assert_eq!(sub(&j[0]), ("none", None));
    romeo.expect_quiet().await;
    romeo
        .send("<presence to='juliet@localhost' type='subscribe'/>")
        .await;
    gather_exactly(
        &mut romeo,
        &[
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).1 == Some("subscribe"),
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "to",
            &presence("subscribed", "juliet@localhost"),
            &presence("available", "juliet@localhost/balcony"),
        ],
    )
    .await;
    let j = gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    assert_eq!(sub(&j[0]), ("from", None));
    assert_eq!(item(&j[0]).attr("approved"), None);
}

/// RFC 6121 §3.4: a pre-approval is cancelled with `unsubscribed` (Appendix A.2.4, "None +
/// Pre-Approved" -> "None"); the contact's later request then reaches the user as a request.
#[actix_rt::test]
async fn rfc6121_3_4_pre_approval_cancelled_by_unsubscribed() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    juliet
        .send("<presence to='romeo@localhost' type='subscribed'/>")
        .await;
    let j = gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    assert_eq!(item(&j[0]).attr("approved"), Some("true"));
    juliet
        .send("<presence to='romeo@localhost' type='unsubscribed'/>")
        .await;
    let j = gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    assert_eq!(item(&j[0]).attr("approved"), None);
    assert_eq!(sub(&j[0]), ("none", None));
    // Neither the pre-approval nor its cancellation reaches romeo.
    romeo.expect_quiet().await;
    romeo
        .send("<presence to='juliet@localhost' type='subscribe'/>")
        .await;
    let r = gather_exactly(&mut romeo, &[&push_of("juliet@localhost")]).await;
    assert_eq!(sub(&r[0]), ("none", Some("subscribe")));
    gather_exactly(&mut juliet, &[&presence("subscribe", "romeo@localhost")]).await;
}

/// RFC 6121 §3.1.3: a request from a contact that is already subscribed is answered with
/// `subscribed` by the server and never shown to the user; the contact's server, already in
/// "To", keeps its state (Appendix A.3.3) and asks nothing again.
#[actix_rt::test]
async fn rfc6121_3_1_3_repeated_request_is_answered_by_the_server() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    romeo
        .send("<presence to='juliet@localhost' type='subscribe'/>")
        .await;
    romeo.expect_quiet().await;
    juliet.expect_quiet().await;
    let item = roster_item(&mut romeo, "juliet@localhost").await.unwrap();
    assert_eq!(item.attr("subscription"), Some("to"));
    assert_eq!(item.attr("ask"), None);
}

/// RFC 6121 §4.2.2, §4.3.2: initial presence probes the contacts; an online contact's presence
/// reaches the new resource; an offline one answers unavailable with the time of its logout.
#[actix_rt::test]
async fn rfc6121_4_3_probes_answered_on_behalf_of_contacts() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    drop(romeo);
    let mut romeo = ready(&s, "romeo", "garden").await;
    gather_exactly(
        &mut romeo,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    // Both logged out (the server answered their closing tags) before Romeo comes back.
    juliet.close().await;
    romeo.close().await;
    let mut romeo = ready(&s, "romeo", "garden").await;
    let p = gather_exactly(&mut romeo, &[&presence("unavailable", "juliet@localhost")]).await;
    assert!(p[0].get_child("delay", "urn:xmpp:delay").is_some());
}

/// RFC 6121 §4.6: directed presence to a non-contact is followed by unavailable at logout.
#[actix_rt::test]
async fn rfc6121_4_6_directed_presence_gets_unavailable_at_logout() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut nurse = ready(&s, "nurse", "kitchen").await;
    juliet.send("<presence to='nurse@localhost'/>").await;
    juliet.expect_quiet().await;
    gather_exactly(
        &mut nurse,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    juliet.send("<presence type='unavailable'/>").await;
    // Her own unavailable comes back to her too (§4.5.2).
    gather_exactly(
        &mut juliet,
        &[&presence("unavailable", "juliet@localhost/balcony")],
    )
    .await;
    gather_exactly(
        &mut nurse,
        &[&presence("unavailable", "juliet@localhost/balcony")],
    )
    .await;
}

/// RFC 6121 §8.5.1: presence to an account that does not exist is dropped; a subscription
/// request to one is answered `unsubscribed`, so it never stays pending.
#[actix_rt::test]
async fn rfc6121_8_5_1_presence_to_nonexistent_account() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    juliet.send("<presence to='ghost@localhost'/>").await;
    juliet.expect_quiet().await;
    juliet
        .send("<presence to='ghost@localhost' type='subscribe'/>")
        .await;
    gather_exactly(
        &mut juliet,
        &[
            &presence("unsubscribed", "ghost@localhost"),
            &|e: &Element| push_of("ghost@localhost")(e) && sub(e).1 == Some("subscribe"),
            &|e: &Element| push_of("ghost@localhost")(e) && sub(e).1.is_none(),
        ],
    )
    .await;
}

/// Deleting an account unsubscribes it from every contact: their items change, with pushes.
#[actix_rt::test]
async fn deleting_an_account_unsubscribes_its_contacts() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    let bare = jid::BareJid::new("juliet@localhost").unwrap();
    assert!(s.handle().delete_user(&bare).await.unwrap());
    // Both of Juliet's subscriptions are cancelled as by a removal (§2.5.2): the unsubscribe
    // and unsubscribed, one push each, and her unavailable.
    gather_exactly(
        &mut romeo,
        &[
            &presence("unsubscribe", "juliet@localhost"),
            &presence("unsubscribed", "juliet@localhost"),
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "to",
            &|e: &Element| push_of("juliet@localhost")(e) && sub(e).0 == "none",
            &presence("unavailable", "juliet@localhost/balcony"),
        ],
    )
    .await;
}

/// RFC 6121 §4.7.2.3: a resource with negative priority gets presence but no bare-JID
/// messages; a presence error from a contact stops broadcasts to it (§4.6.x note).
#[actix_rt::test]
async fn rfc6121_4_presence_error_stops_broadcasts() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    romeo
        .send("<presence to='juliet@localhost' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
        .await;
    // Handled once romeo's ping comes back (RFC 6120 §10.1), Juliet's actor included.
    romeo.expect_quiet().await;
    juliet.send("<presence><show>dnd</show></presence>").await;
    // The error romeo addressed to her, then her own presence back.
    gather_exactly(
        &mut juliet,
        &[
            &presence("error", "romeo@localhost/orchard"),
            &presence("available", "juliet@localhost/balcony"),
        ],
    )
    .await;
    romeo.expect_quiet().await;
}

/// A contact whose account went idle (its UserActor retired) and came back still gets the
/// user's presence changes: the user's actor does not keep delivering through the contact's
/// old actor.
#[actix_rt::test]
async fn a_contact_back_after_its_actor_retired_still_gets_presence_changes() {
    let s = TestServer::start_with(|c| c.limits.user_idle_secs = 1).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    for c in [&mut alice, &mut bob] {
        c.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    }
    subscribe(&mut bob, "bob@localhost", &mut alice, "alice@localhost").await;
    let status = |text: &'static str| {
        move |e: &Element| {
            e.name() == "presence"
                && e.get_child("status", "jabber:client")
                    .is_some_and(|s| s.text() == text)
        }
    };
    alice
        .send("<presence><status>one</status></presence>")
        .await;
    bob.expect_where(status("one")).await;
    bob.close().await;
    assert_eq!(s.running_users_down_to(1).await, 1, "bob's actor retired");
    let mut bob = s.online("bob", "pw", "r", 0).await;
    // Bob's initial presence probes alice: her current presence.
    bob.expect_where(status("one")).await;
    alice
        .send("<presence><status>two</status></presence>")
        .await;
    bob.expect_where(status("two")).await;
}

/// RFC 6120 §10.1, RFC 6121 §3.3.3: what slixmpp's `del_roster_item` does. Romeo and Juliet are
/// mutual contacts; Romeo sends `unsubscribe` and, without waiting, the roster removal. Juliet's
/// server answers the unsubscribe with her unavailable presence, and that must reach Romeo before
/// the removal push: a client that creates roster entries for presence it receives (slixmpp
/// does) would otherwise put Juliet back in his roster. The effects of Romeo's first stanza,
/// on his account and on his local contact's, all come before those of his second.
#[actix_rt::test]
async fn rfc6120_10_1_an_unsubscribe_is_finished_before_the_removal_sent_after_it() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    // Several rounds: a race that is lost now and then must not be missed.
    for round in 0..10 {
        subscribe(
            &mut romeo,
            "romeo@localhost",
            &mut juliet,
            "juliet@localhost",
        )
        .await;
        subscribe(
            &mut juliet,
            "juliet@localhost",
            &mut romeo,
            "romeo@localhost",
        )
        .await;
        // The subscriptions left nothing unread.
        romeo.expect_quiet().await;
        juliet.expect_quiet().await;
        let id = format!("remove-{round}");
        romeo
            .send(&format!(
                "<presence to='juliet@localhost' type='unsubscribe'/>\
                 <iq type='set' id='{id}'><query xmlns='{R}'>\
                 <item jid='juliet@localhost' subscription='remove'/></query></iq>"
            ))
            .await;
        let got = romeo.until_ping().await;
        let what: Vec<String> = got
            .iter()
            .map(|e| match (e.name(), e.attr("type")) {
                ("iq", Some("set")) => format!("push {}", sub(e).0),
                ("iq", Some(t)) => format!("iq {t} {}", e.attr("id").unwrap_or("")),
                (n, t) => format!(
                    "{n} {} from {}",
                    t.unwrap_or("available"),
                    e.attr("from").unwrap_or("")
                ),
            })
            .collect();
        let unavailable = "presence unavailable from juliet@localhost/balcony".to_string();
        let removed = "push remove".to_string();
        // Exactly these, with Juliet's unavailable before the removal push.
        let mut sorted = what.clone();
        sorted.sort();
        let mut expected = vec![
            "push from".to_string(),
            unavailable.clone(),
            removed.clone(),
            format!("iq result {id}"),
        ];
        expected.sort();
        assert_eq!(sorted, expected, "round {round}: {what:?}");
        let at = |w: &String| what.iter().position(|x| x == w).unwrap();
        assert!(
            at(&unavailable) < at(&removed),
            "round {round}: Juliet's unavailable came after the removal push: {what:?}"
        );
        // Juliet saw the unsubscribe and, after the removal, the cancellation of her own
        // subscription and Romeo's unavailable, each change pushed; then the next round starts
        // clean.
        gather_exactly(
            &mut juliet,
            &[
                &presence("unsubscribe", "romeo@localhost"),
                &presence("unsubscribed", "romeo@localhost"),
                &presence("unavailable", "romeo@localhost/orchard"),
                &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "to",
                &|e: &Element| push_of("romeo@localhost")(e) && sub(e).0 == "none",
            ],
        )
        .await;
    }
}

/// RFC 6120 §10.1 across stanza kinds: a directed presence (which goes through the sender's
/// account) and a message (which does not) sent one after the other to the same full JID
/// arrive in that order, every time.
#[actix_rt::test]
async fn rfc6120_10_1_directed_presence_then_message_arrive_in_order() {
    let s = server().await;
    let mut juliet = ready(&s, "juliet", "balcony").await;
    let mut romeo = ready(&s, "romeo", "orchard").await;
    let mut burst = String::new();
    for i in 0..40 {
        burst.push_str(&format!(
            "<presence to='juliet@localhost/balcony'><status>{i}</status></presence>\
             <message to='juliet@localhost/balcony' type='chat'><body>{i}</body></message>"
        ));
    }
    romeo.send(&burst).await;
    for i in 0..40 {
        let p = juliet.expect_element().await;
        assert_eq!(p.name(), "presence", "stanza {i}: {}", String::from(&p));
        assert_eq!(
            p.get_child("status", "jabber:client").map(|s| s.text()),
            Some(i.to_string())
        );
        let m = juliet.expect_element().await;
        assert_eq!(m.name(), "message", "stanza {i}: {}", String::from(&m));
        assert_eq!(body(&m), Some(i.to_string()));
    }
}
