//! RFC 6121 §8 delivery rules, own-resource presence, and offline storage (XEP-0160).

mod common;

use common::*;
use minidom::Element;

async fn pair() -> TestServer {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    s
}

fn chat(to: &str, text: &str) -> String {
    format!("<message to='{to}' type='chat'><body>{text}</body></message>")
}

/// RFC 6121 §8.5.3.1: a message to a connected full JID goes to that resource only.
#[actix_rt::test]
async fn rfc6121_8_5_3_1_full_jid_reaches_exactly_that_resource() {
    let s = pair().await;
    let mut phone = s.online("bob", "pw", "phone", 5).await;
    let mut desk = s.online("bob", "pw", "desk", 1).await;
    // Each of bob's resources learns the other's presence (§4.2.2).
    gather_exactly(&mut desk, &[&presence("available", "bob@localhost/phone")]).await;
    gather_exactly(&mut phone, &[&presence("available", "bob@localhost/desk")]).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost/desk", "to the desk")).await;
    let m = desk.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("to the desk"));
    alice.expect_quiet().await;
    desk.expect_quiet().await;
    phone.expect_quiet().await;
}

/// RFC 6121 §8.5.2.1.1: a message to the bare JID goes to the highest-priority resource(s);
/// a negative priority never receives bare-JID messages.
#[actix_rt::test]
async fn rfc6121_8_5_2_1_1_bare_jid_goes_to_highest_non_negative_priority() {
    let s = pair().await;
    let mut low = s.online("bob", "pw", "low", 1).await;
    let mut high = s.online("bob", "pw", "high", 10).await;
    let mut negative = s.online("bob", "pw", "neg", -1).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    // Each of bob's resources learns the presence of the other two (§4.2.2).
    let (l, h, n) = (
        presence("available", "bob@localhost/low"),
        presence("available", "bob@localhost/high"),
        presence("available", "bob@localhost/neg"),
    );
    gather_exactly(&mut low, &[&h, &n]).await;
    gather_exactly(&mut high, &[&l, &n]).await;
    gather_exactly(&mut negative, &[&l, &h]).await;
    alice.send(&chat("bob@localhost", "who gets this")).await;
    let m = high.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("who gets this"));
    alice.expect_quiet().await;
    high.expect_quiet().await;
    low.expect_quiet().await;
    negative.expect_quiet().await;
}

/// RFC 6121 §8.5.2.1.1: resources tied at the highest priority all receive the message.
#[actix_rt::test]
async fn rfc6121_8_5_2_1_1_equal_top_priorities_all_receive() {
    let s = pair().await;
    let mut a = s.online("bob", "pw", "a", 3).await;
    let mut b = s.online("bob", "pw", "b", 3).await;
    gather_exactly(&mut b, &[&presence("available", "bob@localhost/a")]).await;
    gather_exactly(&mut a, &[&presence("available", "bob@localhost/b")]).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost", "both")).await;
    alice.expect_quiet().await;
    for c in [&mut a, &mut b] {
        let m = c.expect_where(|e| e.name() == "message").await;
        assert_eq!(body(&m).as_deref(), Some("both"));
        c.expect_quiet().await;
    }
}

/// RFC 6121 §8.5.3.2.1: a chat to an unavailable full JID is treated as to the bare JID;
/// normal, headline and groupchat get `<service-unavailable/>`; an error is dropped.
#[actix_rt::test]
async fn rfc6121_8_5_3_2_1_absent_full_jid_rules_per_type() {
    let s = pair().await;
    let mut bob = s.online("bob", "pw", "home", 0).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost/gone", "rerouted")).await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("rerouted"));

    alice
        .send("<message to='bob@localhost/gone' type='groupchat' id='g1'><body>x</body></message>")
        .await;
    let e = alice
        .expect_where(|e| e.name() == "message" && e.attr("id") == Some("g1"))
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));

    // Only chat falls back to the bare JID: normal (also the default type) and headline are
    // answered, and never reach another resource.
    for (t, id) in [
        (" type='normal'", "n1"),
        ("", "n2"),
        (" type='headline'", "h1"),
    ] {
        alice
            .send(&format!(
                "<message to='bob@localhost/gone'{t} id='{id}'><body>x</body></message>"
            ))
            .await;
        let e = alice
            .expect_where(|e| e.name() == "message" && e.attr("id") == Some(id))
            .await;
        assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
        assert_eq!(e.attr("from"), Some("bob@localhost/gone"));
    }

    alice
        .send("<message to='bob@localhost/gone' type='error'><body>x</body></message>")
        .await;
    alice.expect_quiet().await;
    bob.expect_quiet().await;
}

/// RFC 6121 §8.5.1: messages and iqs to an account that does not exist get
/// `<service-unavailable/>`; presence is silently dropped.
#[actix_rt::test]
async fn rfc6121_8_5_1_nonexistent_account_is_service_unavailable() {
    let s = pair().await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice
        .send("<message to='nobody@localhost' type='chat' id='m1'><body>hello?</body></message>")
        .await;
    let e = alice.expect_where(|e| e.attr("id") == Some("m1")).await;
    assert_eq!(e.attr("from"), Some("nobody@localhost"));
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
    let r = alice
        .iq(
            "get",
            Some("nobody@localhost/x"),
            "<ping xmlns='urn:xmpp:ping'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    alice.send("<presence to='nobody@localhost'/>").await;
    alice.expect_quiet().await;
    // The address is normalised (RFC 7622) before anything is routed or bounced.
    alice
        .send("<message to='NoBody@localhost' type='chat' id='m2'><body>hello?</body></message>")
        .await;
    let e = alice.expect_where(|e| e.attr("id") == Some("m2")).await;
    assert_eq!(e.attr("from"), Some("nobody@localhost"));
}

/// RFC 6120 §8.3.3.8: an invalid `to` gets `<jid-malformed/>`.
#[actix_rt::test]
async fn rfc6120_8_3_3_8_invalid_to_is_jid_malformed() {
    let s = pair().await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice
        .send("<message to='a@b@c' id='bad'><body>x</body></message>")
        .await;
    let e = alice.expect_where(|e| e.attr("id") == Some("bad")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("jid-malformed"));
}

/// Remote domains need server-to-server links, which are not built yet: the sender learns
/// that at once with `<remote-server-not-found/>` instead of a silent loss.
#[actix_rt::test]
async fn remote_domain_without_s2s_is_remote_server_not_found() {
    let s = pair().await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice
        .send("<message to='romeo@montague.example' id='r1'><body>x</body></message>")
        .await;
    let e = alice.expect_where(|e| e.attr("id") == Some("r1")).await;
    assert_eq!(
        error_condition(&e).as_deref(),
        Some("remote-server-not-found")
    );
}

/// XEP-0160 / RFC 6121 §8.5.2.1.1: a message to an account with no available resource is
/// stored, survives a restart, and arrives with a XEP-0203 delay stamp at the next available
/// presence — not before.
#[actix_rt::test]
async fn xep0160_offline_messages_survive_restart_and_arrive_with_delay() {
    let mut s = pair().await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost", "first")).await;
    alice.send(&chat("bob@localhost", "second")).await;
    alice
        .send("<message to='bob@localhost' type='headline'><body>news</body></message>")
        .await;
    alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    drop(alice);
    s.restart().await;

    let mut bob = s.login("bob", "pw", "r").await;
    bob.expect_quiet().await; // nothing before initial presence
    bob.send("<presence/>").await;
    // All that the initial presence brings: bob's own presence and the stored messages.
    let got = bob.until_ping().await;
    let shown: Vec<String> = got.iter().map(String::from).collect();
    let own = presence("available", "bob@localhost/r");
    assert_eq!(got.iter().filter(|e| own(e)).count(), 1, "{shown:#?}");
    let mut bodies = Vec::new();
    for e in got.iter().filter(|e| !own(e)) {
        assert_eq!(e.name(), "message", "{shown:#?}");
        let delay = e
            .get_child("delay", "urn:xmpp:delay")
            .expect("a delay stamp");
        assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z')));
        assert_eq!(e.attr("from"), Some("alice@localhost/r"));
        bodies.push(body(e).unwrap());
    }
    assert_eq!(
        bodies,
        ["first", "second"],
        "in order; the headline was not stored"
    );
    // Delivered once: a second login (after the first has logged out) gets nothing.
    bob.close().await;
    let mut again = s.login("bob", "pw", "r2").await;
    again.send("<presence/>").await;
    again.own_presence().await;
    again.expect_quiet().await;
}

/// XEP-0160: a negative-priority resource does not take the offline messages.
#[actix_rt::test]
async fn xep0160_negative_priority_does_not_flush_offline() {
    let s = pair().await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost", "kept")).await;
    alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    let mut shy = s.online("bob", "pw", "shy", -5).await;
    shy.expect_quiet().await;
    let mut bob = s.online("bob", "pw", "main", 0).await;
    let got = gather_exactly(
        &mut bob,
        &[
            &|e: &Element| e.name() == "message",
            &presence("available", "bob@localhost/shy"),
        ],
    )
    .await;
    assert_eq!(body(&got[0]).as_deref(), Some("kept"));
}

/// The per-account offline quota: beyond it, `<service-unavailable/>`.
#[actix_rt::test]
async fn offline_quota_full_is_service_unavailable() {
    let s = TestServer::start_with(|c| c.limits.offline_quota = 2).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    for i in 0..3 {
        alice
            .send(&format!(
                "<message to='bob@localhost' type='chat' id='q{i}'><body>{i}</body></message>"
            ))
            .await;
    }
    let e = alice.expect_where(|e| e.attr("id") == Some("q2")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
}

/// RFC 6121 §4.2.2 / §4.6.1: available presence reaches all of the user's resources (the
/// sender included); an abrupt disconnect produces unavailable to the others.
#[actix_rt::test]
async fn rfc6121_4_own_presence_and_unavailable_on_abrupt_disconnect() {
    let s = pair().await;
    let mut a = s.online("alice", "pw", "a", 0).await;
    let mut b = s.login("alice", "pw", "b").await;
    b.send("<presence><show>away</show></presence>").await;
    let p = a.expect_where(|e| e.name() == "presence").await;
    assert_eq!(p.attr("from"), Some("alice@localhost/b"));
    // b gets its own presence back, and a's (see the §4.2.2 test below).
    let mut froms: Vec<String> = b
        .until_ping()
        .await
        .iter()
        .map(|e| e.attr("from").unwrap().to_string())
        .collect();
    froms.sort();
    assert_eq!(froms, ["alice@localhost/a", "alice@localhost/b"]);
    drop(b); // the TCP connection just goes away
    let p = a.expect_where(|e| e.name() == "presence").await;
    assert_eq!(p.attr("from"), Some("alice@localhost/b"));
    assert_eq!(p.attr("type"), Some("unavailable"));
}

/// RFC 6120 §10.3.1: a message without `to` is for the sender's own bare JID.
#[actix_rt::test]
async fn rfc6120_10_3_1_message_without_to_goes_to_own_bare_jid() {
    let s = pair().await;
    let mut a = s.online("alice", "pw", "a", 0).await;
    a.send("<message type='chat'><body>note to self</body></message>")
        .await;
    let m = a.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("note to self"));
}

/// A UserActor exists only while its account is in use: it stops after `user_idle_secs`
/// without sessions, and a stanza arriving later spawns a fresh one that handles it.
#[actix_rt::test]
async fn user_actors_stop_when_idle_and_come_back_on_demand() {
    let s = TestServer::start_with(|c| c.limits.user_idle_secs = 1).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let bob = s.online("bob", "pw", "r", 0).await;
    assert!(s.handle().running_users() >= 1);
    bob.close().await;
    assert_eq!(s.running_users_down_to(0).await, 0, "bob's actor retired");
    let mut alice = s.online("alice", "pw", "r", 0).await;
    alice.send(&chat("bob@localhost", "after the nap")).await;
    alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("after the nap"));
}

/// Long tokens (a body far longer than the parser's 8 KiB token limit, with character
/// references across it, and a long attribute value) reach the recipient intact: the
/// parser's buffer grows on demand instead of being reserved up front.
#[actix_rt::test]
async fn long_text_and_attribute_values_are_delivered_intact() {
    let s = pair().await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let text: String = (0..3000).map(|i| format!("{i} <&> ")).collect();
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let id = "i".repeat(4000);
    alice
        .send(&format!(
            "<message to='bob@localhost' id='{id}' type='chat'><body>{escaped}</body></message>"
        ))
        .await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(m.attr("id"), Some(id.as_str()));
    assert_eq!(body(&m).as_deref(), Some(text.as_str()));
}

/// RFC 6120 §10.1 and XEP-0160: when the server answers a client's iq, the messages the client
/// sent before it to users who are offline are stored (durably: the crash test kills the server
/// right after such answers). Checked in the store itself as soon as the answer arrives.
#[actix_rt::test]
async fn rfc6120_10_1_offline_messages_are_stored_before_a_later_iq_is_answered() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let offline: Vec<String> = (0..40).map(|i| format!("offline{i}")).collect();
    for u in &offline {
        s.add_user(u, "pw").await;
    }
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let store = s.handle().storage().clone();
    for round in 0..5 {
        let mut burst = String::new();
        for u in &offline {
            burst.push_str(&chat(&format!("{u}@localhost"), &format!("{round}")));
        }
        alice.send(&burst).await;
        alice.expect_quiet().await;
        for u in &offline {
            let stored =
                cordial_storage::OfflineStore::offline_messages(&*store, &format!("{u}@localhost"))
                    .unwrap();
            assert_eq!(
                stored.len(),
                round + 1,
                "{u}: every message sent before the iq is stored when it is answered"
            );
        }
    }
}

/// RFC 6121 §4.2.2: initial presence from a resource goes to every available resource of the
/// account, itself included, and the new resource receives the current presence of the others.
#[actix_rt::test]
async fn rfc6121_4_2_2_a_new_resource_learns_the_presence_of_the_others() {
    let s = pair().await;
    let mut phone = s.login("bob", "pw", "phone").await;
    phone
        .send("<presence><show>away</show><status>on the move</status></presence>")
        .await;
    let own = phone.until_ping().await;
    assert_eq!(own.len(), 1, "{own:?}");
    let mut desk = s.login("bob", "pw", "desk").await;
    desk.send("<presence><status>at the desk</status></presence>")
        .await;
    let got = desk.until_ping().await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|e| {
            assert_eq!(e.name(), "presence", "{}", String::from(e));
            assert_eq!(e.attr("type"), None);
            let status = e.get_child("status", "jabber:client").map(|s| s.text());
            (e.attr("from").unwrap().to_string(), status.unwrap())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("bob@localhost/desk".to_string(), "at the desk".to_string()),
            ("bob@localhost/phone".to_string(), "on the move".to_string()),
        ]
    );
    let at_phone = phone.until_ping().await;
    assert_eq!(at_phone.len(), 1);
    assert_eq!(at_phone[0].attr("from"), Some("bob@localhost/desk"));
}
