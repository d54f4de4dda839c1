//! When the disk fails: every write path answers an error or is durable, nothing acknowledged
//! is lost, and writes resume once the fault clears, without a restart.
//!
//! The store fails on command (the `fault-injection` feature of cordial-storage): flushes
//! fail as on a full disk (the write lands in memory, the sync fails), or writes fail before
//! they reach the engine (EIO). The real thing, a data dir on a tmpfs that fills up, is
//! `scripts/faults/run.sh`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use cordial_storage::faults::Fault;
use minidom::Element;

fn chat(to: &str, id: &str) -> String {
    format!("<message to='{to}' type='chat' id='{id}'><body>{id}</body></message>")
}

/// Waits until the store takes writes again (it recovers on its own, with backoff).
async fn storage_back(s: &TestServer) {
    let store = s.store();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.health().up {
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_error_with(el: &Element, name: &str, id: &str, condition: &str) -> bool {
    el.name() == name
        && el.attr("id") == Some(id)
        && error_condition(el).as_deref() == Some(condition)
        && el
            .get_child("error", "jabber:client")
            .and_then(|e| e.attr("type"))
            == Some("wait")
}

/// RFC 6120 §8.3.3.18 and the promise that nothing acknowledged is lost: while the disk is
/// full, a message to an offline account is bounced `<resource-constraint/>` (type wait) before
/// the client's next stanza is answered; once there is room again, messages are stored without
/// a restart, and the recipient gets every message that was not bounced.
#[actix_rt::test]
async fn rfc6120_8_3_3_18_a_full_disk_bounces_offline_messages_and_writes_resume() {
    let s = TestServer::start_with_store(|_| {}).await;
    s.add_user("romeo", "pw").await;
    s.add_user("juliet", "pw").await;
    let store = s.store().clone();
    let mut romeo = s.online("romeo", "pw", "r", 0).await;
    romeo.send(&chat("juliet@localhost", "before")).await;
    assert!(romeo.until_ping().await.is_empty());

    store.faults().fail_flushes(Fault::NoSpace);
    romeo.send(&chat("juliet@localhost", "full1")).await;
    romeo.send(&chat("juliet@localhost", "full2")).await;
    let got = romeo.until_ping().await;
    assert_eq!(got.len(), 2, "one bounce per message: {got:?}");
    assert!(is_error_with(
        &got[0],
        "message",
        "full1",
        "resource-constraint"
    ));
    assert!(is_error_with(
        &got[1],
        "message",
        "full2",
        "resource-constraint"
    ));
    let health = store.health();
    assert!(!health.up);
    assert!(health.last_error.unwrap().contains("No space left"));

    store.faults().clear();
    storage_back(&s).await;
    romeo.send(&chat("juliet@localhost", "after")).await;
    assert!(
        romeo.until_ping().await.is_empty(),
        "stored again, no bounce"
    );

    let mut juliet = s.login("juliet", "pw", "j").await;
    juliet.send("<presence/>").await;
    let ids: Vec<String> = juliet
        .until_ping()
        .await
        .into_iter()
        .filter(|e| e.name() == "message")
        .map(|e| e.attr("id").unwrap().to_string())
        .collect();
    assert!(ids.contains(&"before".to_string()), "{ids:?}");
    assert!(ids.contains(&"after".to_string()), "{ids:?}");
    // A bounced message may still have reached the disk (the sync failed, the data did not):
    // delivered at least once, never lost. Nothing else arrives.
    assert!(
        ids.iter()
            .all(|i| ["before", "full1", "full2", "after"].contains(&i.as_str())),
        "{ids:?}"
    );
}

/// Every request that writes is answered `<resource-constraint/>` while the disk fails, and
/// changes nothing anyone sees (no push, nothing routed); after the fault clears each works,
/// and what is stored is exactly what was acknowledged.
#[actix_rt::test]
async fn every_write_path_answers_resource_constraint_while_the_disk_fails_then_works() {
    let s = TestServer::start_with_store(|c| c.auth.registration = true).await;
    for u in ["romeo", "juliet", "nurse"] {
        s.add_user(u, "pw").await;
    }
    let store = s.store().clone();
    let mut romeo = s.online("romeo", "pw", "r", 0).await;
    romeo
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    let mut juliet = s.online("juliet", "pw", "j", 0).await;
    // A client that asked for its roster gets subscription requests (RFC 6121 §3.1.3).
    juliet
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;

    store.faults().fail_writes(Fault::Io);
    let requests = [
        (
            "roster set",
            "<query xmlns='jabber:iq:roster'><item jid='nurse@localhost' name='Nurse'/></query>",
        ),
        (
            "privacy list",
            "<query xmlns='jabber:iq:privacy'><list name='quiet'><item action='deny' order='1'><message/></item></list></query>",
        ),
        (
            "block",
            "<block xmlns='urn:xmpp:blocking'><item jid='tybalt@localhost'/></block>",
        ),
        ("vcard", "<vCard xmlns='vcard-temp'><FN>Romeo</FN></vCard>"),
        (
            "password",
            "<query xmlns='jabber:iq:register'><username>romeo</username><password>new</password></query>",
        ),
    ];
    for (what, payload) in requests {
        let id = romeo.id();
        romeo
            .send(&format!("<iq type='set' id='{id}'>{payload}</iq>"))
            .await;
        let got = romeo.until_ping().await;
        assert_eq!(got.len(), 1, "{what}: only the error, no push: {got:?}");
        assert!(
            is_error_with(&got[0], "iq", &id, "resource-constraint"),
            "{what}: {}",
            String::from(&got[0])
        );
    }
    // An outbound subscription request: the sender learns it failed, the contact sees nothing.
    romeo
        .send("<presence to='juliet@localhost' type='subscribe' id='sub1'/>")
        .await;
    let got = romeo.until_ping().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_error_with(
        &got[0],
        "presence",
        "sub1",
        "resource-constraint"
    ));
    assert!(juliet.until_ping().await.is_empty());
    assert!(store.health().refused_writes >= 6);

    store.faults().clear();
    storage_back(&s).await;
    for (what, payload) in requests {
        let r = romeo.iq("set", None, payload).await;
        assert_eq!(r.attr("type"), Some("result"), "{what} after recovery");
    }
    romeo
        .send("<presence to='juliet@localhost' type='subscribe'/>")
        .await;
    let request = juliet
        .expect_where(|e| e.name() == "presence" && e.attr("type") == Some("subscribe"))
        .await;
    assert_eq!(request.attr("from"), Some("romeo@localhost"));
    // The roster holds the acknowledged changes only: nurse (set after recovery) and juliet
    // (the pending request), nothing from the refused attempts twice.
    let roster = romeo
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    let mut items: Vec<String> = roster
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .map(|i| i.attr("jid").unwrap().to_string())
        .collect();
    items.sort();
    assert_eq!(items, ["juliet@localhost", "nurse@localhost"]);
    // The new password is the one that works.
    let mut again = Client::connect(s.addr()).await;
    again.negotiate_tls().await;
    assert!(again.auth_scram("romeo", "new", "SCRAM-SHA-256").await);
}

/// The admin view of the store: refusing while the disk fails, with the error, and up again
/// after, with the outage counted.
#[actix_rt::test]
async fn the_store_reports_its_outage_and_its_recovery() {
    let s = TestServer::start_with_store(|_| {}).await;
    s.add_user("romeo", "pw").await;
    let store = s.store().clone();
    assert!(store.health().up);
    store.faults().fail_flushes(Fault::Io);
    let mut romeo = s.online("romeo", "pw", "r", 0).await;
    let r = romeo
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:roster'><item jid='nurse@localhost'/></query>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("resource-constraint"));
    let h = store.health();
    assert!(!h.up && h.refusing_since.is_some());
    assert!(h.last_error.unwrap().contains("Input/output error"));
    store.faults().clear();
    storage_back(&s).await;
    let h = store.health();
    assert_eq!((h.outages, h.reopened), (1, 1));
    assert!(h.refusing_since.is_none());
}
