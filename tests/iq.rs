//! IQ handling: the server's own namespaces, iqs on behalf of accounts, and routing rules.

mod common;

use common::*;

/// XEP-0030: the server's feature list is exactly what is implemented.
#[actix_rt::test]
async fn xep0030_disco_info_lists_exactly_the_implemented_features() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq(
            "get",
            Some(DOMAIN),
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    let q = r
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap();
    let ident = q
        .get_child("identity", "http://jabber.org/protocol/disco#info")
        .unwrap();
    assert_eq!(
        (ident.attr("category"), ident.attr("type")),
        (Some("server"), Some("im"))
    );
    let mut features: Vec<_> = q
        .children()
        .filter(|c| c.name() == "feature")
        .map(|f| f.attr("var").unwrap().to_string())
        .collect();
    features.sort();
    assert_eq!(
        features,
        [
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "jabber:iq:privacy",
            "jabber:iq:version",
            "msgoffline",
            "urn:xmpp:blocking",
            "urn:xmpp:ping",
            "vcard-temp",
        ]
    );
    // ...and each of them answers.
    for payload in [
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
        "<ping xmlns='urn:xmpp:ping'/>",
        "<vCard xmlns='vcard-temp'/>",
    ] {
        assert_eq!(
            a.iq("get", Some(DOMAIN), payload).await.attr("type"),
            Some("result"),
            "{payload}"
        );
    }
    // Privacy lists are the account's: asked without a `to` (XEP-0016).
    let r = a
        .iq("get", None, "<query xmlns='jabber:iq:privacy'/>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

/// With registration on, disco#info also lists jabber:iq:register.
#[actix_rt::test]
async fn xep0030_registration_feature_only_when_enabled() {
    let s = TestServer::start_with(|c| c.auth.registration = true).await;
    s.add_user("alice", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq(
            "get",
            None,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    let q = r
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap();
    assert!(q
        .children()
        .any(|f| f.attr("var") == Some("jabber:iq:register")));
}

/// XEP-0092: software version.
#[actix_rt::test]
async fn xep0092_version() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq("get", Some(DOMAIN), "<query xmlns='jabber:iq:version'/>")
        .await;
    let q = r.get_child("query", "jabber:iq:version").unwrap();
    assert_eq!(
        q.get_child("name", "jabber:iq:version").unwrap().text(),
        "cordial"
    );
    assert_eq!(
        q.get_child("version", "jabber:iq:version").unwrap().text(),
        env!("CARGO_PKG_VERSION")
    );
}

/// RFC 6120 §8.2.3 / §8.3.3.19: an unknown namespace at the server is `<service-unavailable/>`;
/// an iq with two payloads is `<bad-request/>`; results and errors are never answered.
#[actix_rt::test]
async fn rfc6120_8_2_3_server_iq_rules() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq("get", Some(DOMAIN), "<query xmlns='urn:example:unknown'/>")
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    let r = a
        .iq(
            "get",
            None,
            "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("bad-request"));
    a.send("<iq type='result' id='x1' to='localhost'/>").await;
    a.send("<iq type='error' id='x2' to='bob@localhost/nowhere'><error type='cancel'/></iq>")
        .await;
    a.expect_quiet().await;
}

/// RFC 6121 §8.5.2.1.3: an iq to a bare JID is answered by the server on the account's behalf;
/// `<service-unavailable/>` for namespaces it does not handle.
#[actix_rt::test]
async fn rfc6121_8_5_2_1_3_iq_to_bare_jid_is_answered_by_the_server() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq(
            "get",
            Some("bob@localhost"),
            "<query xmlns='urn:example:unknown'/>",
        )
        .await;
    assert_eq!(r.attr("from"), Some("bob@localhost"));
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    let r = a
        .iq(
            "get",
            Some("bob@localhost"),
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    let q = r
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap();
    let ident = q
        .get_child("identity", "http://jabber.org/protocol/disco#info")
        .unwrap();
    assert_eq!(ident.attr("category"), Some("account"));
    a.expect_quiet().await;
    bob.expect_quiet().await;
}

/// RFC 6121 §8.5.3: an iq to a connected full JID is routed; to an absent one it is
/// `<service-unavailable/>`; a result routed back reaches the requester.
#[actix_rt::test]
async fn rfc6121_8_5_3_iq_to_full_jid() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    a.send("<iq type='get' id='v1' to='bob@localhost/r'><query xmlns='jabber:iq:version'/></iq>")
        .await;
    let q = bob.expect_where(|e| e.name() == "iq").await;
    assert_eq!(q.attr("from"), Some("alice@localhost/r"));
    bob.send("<iq type='result' id='v1' to='alice@localhost/r'><query xmlns='jabber:iq:version'><name>bobclient</name></query></iq>").await;
    let r = a.expect_where(|e| e.attr("id") == Some("v1")).await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("from"), Some("bob@localhost/r"));
    let r = a
        .iq(
            "get",
            Some("bob@localhost/elsewhere"),
            "<query xmlns='jabber:iq:version'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
}

/// XEP-0054: set and get one's own vCard, get another user's (`<item-not-found/>` where there
/// is none), only the owner may set, and the size limit answers `<not-acceptable/>`. Stored
/// durably: it survives a restart.
#[actix_rt::test]
async fn xep0054_vcards() {
    let mut s = TestServer::start_with(|c| c.limits.vcard_max_bytes = 2000).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    s.add_user("carol", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a
        .iq(
            "set",
            None,
            "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN></vCard>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let big = "w".repeat(3000);
    let r = a
        .iq(
            "set",
            None,
            &format!("<vCard xmlns='vcard-temp'><NOTE>{big}</NOTE></vCard>"),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    drop(a);
    s.restart().await;

    let mut b = s.online("bob", "pw", "r", 0).await;
    let r = b
        .iq(
            "get",
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    let fn_ = r
        .get_child("vCard", "vcard-temp")
        .unwrap()
        .get_child("FN", "vcard-temp")
        .unwrap()
        .text();
    assert_eq!(fn_, "Alice Liddell");
    let r = b
        .iq(
            "set",
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("forbidden"));
    // §3.3: a vCard that does not exist is an error to anyone else (bob has none)...
    let r = b
        .iq(
            "get",
            Some("carol@localhost"),
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
    // ...and an empty vCard to the account itself (§3.1).
    let r = b.iq("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(
        r.get_child("vCard", "vcard-temp")
            .map(|v| v.children().count()),
        Some(0)
    );
    let mut a = s.online("alice", "pw", "r", 0).await;
    let r = a.iq("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(
        r.get_child("vCard", "vcard-temp")
            .unwrap()
            .get_child("FN", "vcard-temp")
            .unwrap()
            .text(),
        "Alice Liddell"
    );
}

/// XEP-0030 §3.2 and §7: disco#info (and disco#items) on a node that the server or the account
/// does not have is `<item-not-found/>`, and the same query without the node still answers.
#[actix_rt::test]
async fn xep0030_unknown_node_is_item_not_found() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    for (to, payload) in [
        (
            Some(DOMAIN),
            "<query xmlns='http://jabber.org/protocol/disco#info' node='urn:example:nowhere'/>",
        ),
        (
            None,
            "<query xmlns='http://jabber.org/protocol/disco#info' node='urn:example:nowhere'/>",
        ),
        (
            Some(DOMAIN),
            "<query xmlns='http://jabber.org/protocol/disco#items' node='urn:example:nowhere'/>",
        ),
        (
            Some("bob@localhost"),
            "<query xmlns='http://jabber.org/protocol/disco#info' node='urn:example:nowhere'/>",
        ),
    ] {
        let r = a.iq("get", to, payload).await;
        assert_eq!(
            error_condition(&r).as_deref(),
            Some("item-not-found"),
            "{to:?} {payload}"
        );
        let err = r.get_child("error", "jabber:client").unwrap();
        assert_eq!(err.attr("type"), Some("cancel"), "{to:?} {payload}");
    }
    for to in [Some(DOMAIN), Some("bob@localhost")] {
        let r = a
            .iq(
                "get",
                to,
                "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            )
            .await;
        assert_eq!(r.attr("type"), Some("result"), "{to:?}");
    }
    // The server answers for bob's bare JID: bob's client sees nothing of it.
    a.expect_quiet().await;
    bob.expect_quiet().await;
}

/// RFC 6120 §8.2.3, §8.3.3.1: an iq whose type is not get, set, result or error (or that has
/// none), and a request without an id, are answered `<bad-request/>` and go no further, to the
/// server or to another user.
#[actix_rt::test]
async fn rfc6120_8_2_3_an_iq_of_unknown_type_or_without_id_is_a_bad_request() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut a = s.online("alice", "pw", "r", 0).await;
    let mut b = s.online("bob", "pw", "r", 0).await;
    for (to, id) in [
        ("", "f1"),
        (" to='localhost'", "f2"),
        (" to='bob@localhost/r'", "f3"),
    ] {
        a.send(&format!(
            "<iq type='fetch' id='{id}'{to}><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
        let e = a.expect_where(|e| e.attr("id") == Some(id)).await;
        assert_eq!(error_condition(&e).as_deref(), Some("bad-request"), "{id}");
        assert_eq!(e.attr("to"), Some("alice@localhost/r"));
    }
    a.send("<iq id='t1' to='bob@localhost/r'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let e = a.expect_where(|e| e.attr("id") == Some("t1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("bad-request"));
    a.send("<iq type='get' to='bob@localhost/r'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let e = a.expect_element().await;
    assert_eq!(error_condition(&e).as_deref(), Some("bad-request"));
    assert!(a.until_ping().await.is_empty());
    // None of them reached Bob.
    assert!(b.until_ping().await.is_empty());
}
