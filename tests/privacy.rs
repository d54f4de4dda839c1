//! Privacy lists (XEP-0016, RFC 3921 §10) through scripted sessions: managing lists, the
//! conflict rules, and enforcement on messages, iq, presence in and out, offline storage and
//! the user's own outbound stanzas.

mod common;

use common::*;
use minidom::Element;

const P: &str = "jabber:iq:privacy";

async fn server() -> TestServer {
    server_with(|_| {}).await
}

async fn server_with(tweak: impl FnOnce(&mut cordial::config::Config)) -> TestServer {
    let s = TestServer::start_with(tweak).await;
    for u in ["juliet", "romeo", "tybalt", "nurse"] {
        s.add_user(u, "pw").await;
    }
    s
}

fn q(inner: &str) -> String {
    format!("<query xmlns='{P}'>{inner}</query>")
}

async fn set_list(c: &mut Client, name: &str, items: &str) -> Element {
    c.iq(
        "set",
        None,
        &q(&format!("<list name='{name}'>{items}</list>")),
    )
    .await
}

async fn ok(c: &mut Client, payload: &str) {
    let r = c.iq("set", None, &q(payload)).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
}

/// Two attributes of each item of the list in a privacy get result.
fn list_items(result: &Element, a: &str, b: &str) -> Vec<(String, String)> {
    result
        .get_child("query", P)
        .unwrap()
        .get_child("list", P)
        .unwrap()
        .children()
        .map(|i| {
            (
                i.attr(a).unwrap().to_string(),
                i.attr(b).unwrap().to_string(),
            )
        })
        .collect()
}

fn chat(to: &str, text: &str) -> String {
    format!("<message type='chat' to='{to}'><body>{text}</body></message>")
}

fn is_message(text: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| e.name() == "message" && body(e).as_deref() == Some(text)
}

/// The XEP-0016 push of a list change: an iq set naming the list (RFC 3921 §10.2 rule 10).
fn list_push(name: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| {
        e.name() == "iq"
            && e.attr("type") == Some("set")
            && e.get_child("query", P)
                .and_then(|q| q.get_child("list", P))
                .is_some_and(|l| l.attr("name") == Some(name))
    }
}

/// RFC 3921 §10.3–§10.8: names with active and default, one list, set, activate, default,
/// remove; pushes to every connected resource; the error cases.
#[actix_rt::test]
async fn managing_lists() {
    let s = server().await;
    let mut a = s.login("juliet", "pw", "a").await;
    let mut b = s.login("juliet", "pw", "b").await;
    let r = a.iq("get", None, &q("")).await;
    let query = r.get_child("query", P).unwrap();
    assert!(query.get_child("list", P).is_none());
    assert!(query.get_child("active", P).unwrap().attr("name").is_none());

    let r = set_list(
        &mut a,
        "work",
        "<item type='jid' value='tybalt@localhost' action='deny' order='1'><message/></item>\
         <item action='allow' order='2'/>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    // §10.2 rule 10: a push with only the name, to every connected resource.
    for c in [&mut a, &mut b] {
        let push = c
            .expect_where(|e| e.name() == "iq" && e.attr("type") == Some("set"))
            .await;
        let list = push
            .get_child("query", P)
            .unwrap()
            .get_child("list", P)
            .unwrap();
        assert_eq!(list.attr("name"), Some("work"));
        assert!(list.children().next().is_none());
    }
    // One push each.
    a.expect_quiet().await;
    b.expect_quiet().await;
    let r = a.iq("get", None, &q("<list name='work'/>")).await;
    let items = list_items(&r, "order", "action");
    assert_eq!(
        items,
        [("1".into(), "deny".into()), ("2".into(), "allow".into())]
    );

    // Errors: unknown list, duplicate order, two lists in one get.
    for (type_, payload, cond) in [
        ("get", "<list name='nope'/>", "item-not-found"),
        ("set", "<active name='nope'/>", "item-not-found"),
        ("set", "<default name='nope'/>", "item-not-found"),
        ("set", "<list name='nope'/>", "item-not-found"),
        (
            "set",
            "<list name='x'><item action='deny' order='1'/><item action='allow' order='1'/></list>",
            "bad-request",
        ),
        (
            "set",
            "<list name='x'><item action='deny' order='-2'/></list>",
            "bad-request",
        ),
        (
            "get",
            "<list name='work'/><list name='home'/>",
            "bad-request",
        ),
    ] {
        let r = a.iq(type_, None, &q(payload)).await;
        assert_eq!(error_condition(&r).as_deref(), Some(cond), "{payload}");
    }

    ok(&mut a, "<active name='work'/>").await;
    ok(&mut b, "<default name='work'/>").await;
    let r = a.iq("get", None, &q("")).await;
    let query = r.get_child("query", P).unwrap();
    assert_eq!(
        query.get_child("active", P).unwrap().attr("name"),
        Some("work")
    );
    assert_eq!(
        query.get_child("default", P).unwrap().attr("name"),
        Some("work")
    );
    assert_eq!(query.children().filter(|c| c.name() == "list").count(), 1);
}

/// RFC 3921 §10.2 rule 11, §10.5, §10.8: removing a list another resource has active, or
/// changing or declining the default while another resource uses it, is `<conflict/>` and
/// changes nothing; the same request from the only user of the list succeeds.
#[actix_rt::test]
async fn conflicts() {
    let s = server().await;
    let mut a = s.login("juliet", "pw", "a").await;
    let mut b = s.login("juliet", "pw", "b").await;
    set_list(&mut a, "one", "<item action='deny' order='1'><iq/></item>").await;
    set_list(&mut a, "two", "<item action='allow' order='1'/>").await;
    ok(&mut b, "<active name='one'/>").await;
    let r = a.iq("set", None, &q("<list name='one'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("conflict"));
    // a has no active list: the default applies to it once there is one.
    ok(&mut a, "<default name='two'/>").await;
    for payload in ["<default name='one'/>", "<default/>"] {
        let r = b.iq("set", None, &q(payload)).await;
        assert_eq!(
            error_condition(&r).as_deref(),
            Some("conflict"),
            "{payload}"
        );
    }
    let r = b.iq("set", None, &q("<list name='two'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("conflict"));
    // b stops using "one": a may remove it; a is the only user of the default.
    ok(&mut b, "<active/>").await;
    let r = b.iq("set", None, &q("<default name='one'/>")).await;
    assert_eq!(
        error_condition(&r).as_deref(),
        Some("conflict"),
        "a still uses the default"
    );
    ok(&mut b, "<active name='two'/>").await;
    ok(&mut a, "<list name='one'/>").await;
    ok(&mut a, "<default/>").await;
    let r = a.iq("get", None, &q("<list name='one'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
}

/// RFC 3921 §10.9, §10.12, §10.14: a jid item denies messages and iq from one entity; the
/// message is dropped without an error, an iq get is answered `<service-unavailable/>`; others
/// still get through.
#[actix_rt::test]
async fn jid_item_blocks_messages_and_iq_silently() {
    let s = server().await;
    let mut juliet = s.online("juliet", "pw", "balcony", 0).await;
    let mut tybalt = s.online("tybalt", "pw", "street", 0).await;
    let mut nurse = s.online("nurse", "pw", "kitchen", 0).await;
    set_list(
        &mut juliet,
        "nocapulet",
        "<item type='jid' value='tybalt@localhost' action='deny' order='5'><message/><iq/></item>",
    )
    .await;
    ok(&mut juliet, "<active name='nocapulet'/>").await;
    gather_exactly(&mut juliet, &[&list_push("nocapulet")]).await;
    tybalt.send(&chat("juliet@localhost/balcony", "full")).await;
    tybalt.send(&chat("juliet@localhost", "bare")).await;
    let r = tybalt
        .iq(
            "get",
            Some("juliet@localhost/balcony"),
            "<query xmlns='jabber:iq:version'/>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    nurse
        .send(&chat("juliet@localhost", "from the nurse"))
        .await;
    juliet.expect_where(is_message("from the nurse")).await;
    tybalt.expect_quiet().await;
    nurse.expect_quiet().await;
    juliet.expect_quiet().await;
}

/// A blocked sender whose message would have been stored offline: the default list applies
/// when the user has no session, and nothing is stored.
#[actix_rt::test]
async fn default_list_blocks_offline_storage() {
    let mut s = server().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    set_list(
        &mut juliet,
        "strict",
        "<item type='jid' value='tybalt@localhost' action='deny' order='1'/>",
    )
    .await;
    ok(&mut juliet, "<default name='strict'/>").await;
    juliet.close().await;
    let mut tybalt = s.online("tybalt", "pw", "street", 0).await;
    let mut nurse = s.online("nurse", "pw", "kitchen", 0).await;
    tybalt.send(&chat("juliet@localhost", "stored?")).await;
    nurse.send(&chat("juliet@localhost", "kept")).await;
    // Both have been handled once the nurse's ping comes back.
    nurse.iq("get", None, "<ping xmlns='urn:xmpp:ping'/>").await;
    tybalt
        .iq("get", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    // The default list survives a restart.
    s.restart().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    juliet.send("<presence/>").await;
    let got = gather_exactly(
        &mut juliet,
        &[
            &|e: &Element| e.name() == "message",
            &presence("available", "juliet@localhost/balcony"),
        ],
    )
    .await;
    assert_eq!(body(&got[0]).as_deref(), Some("kept"));
    let r = juliet.iq("get", None, &q("")).await;
    let d = r
        .get_child("query", P)
        .unwrap()
        .get_child("default", P)
        .unwrap();
    assert_eq!(d.attr("name"), Some("strict"));
}

/// RFC 3921 §10.10–§10.11: presence-in and presence-out items between mutual contacts, and a
/// group item.
#[actix_rt::test]
async fn presence_in_and_out() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence/>").await;

    // Juliet hides her presence from romeo (by subscription state "both").
    set_list(
        &mut juliet,
        "hide",
        "<item type='subscription' value='both' action='deny' order='1'><presence-out/></item>",
    )
    .await;
    ok(&mut juliet, "<active name='hide'/>").await;
    gather_exactly(&mut juliet, &[&list_push("hide")]).await;
    // Newly hidden: romeo is told she is gone (§10.11), then hears nothing more.
    gather_exactly(
        &mut romeo,
        &[&presence("unavailable", "juliet@localhost/balcony")],
    )
    .await;
    juliet.send("<presence><show>away</show></presence>").await;
    gather_exactly(
        &mut juliet,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    romeo.expect_quiet().await;
    // Romeo's presence still reaches her.
    romeo.send("<presence><show>chat</show></presence>").await;
    gather_exactly(
        &mut romeo,
        &[&presence("available", "romeo@localhost/orchard")],
    )
    .await;
    gather_exactly(
        &mut juliet,
        &[&presence("available", "romeo@localhost/orchard")],
    )
    .await;

    // Now by group, presence-in: romeo is put in "Montagues".
    juliet
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:roster'><item jid='romeo@localhost'><group>Montagues</group></item></query>",
        )
        .await;
    set_list(
        &mut juliet,
        "deaf",
        "<item type='group' value='Montagues' action='deny' order='1'><presence-in/></item>",
    )
    .await;
    ok(&mut juliet, "<active name='deaf'/>").await;
    gather_exactly(
        &mut juliet,
        &[&push_of("romeo@localhost"), &list_push("deaf")],
    )
    .await;
    // "hide" no longer applies: Romeo is sent her current presence (§10.11).
    let p = gather_exactly(
        &mut romeo,
        &[&presence("available", "juliet@localhost/balcony")],
    )
    .await;
    assert_eq!(
        p[0].get_child("show", "jabber:client").map(|s| s.text()),
        Some("away".to_string())
    );
    romeo.send("<presence><show>dnd</show></presence>").await;
    gather_exactly(
        &mut romeo,
        &[&presence("available", "romeo@localhost/orchard")],
    )
    .await;
    juliet.expect_quiet().await;
    // Her own presence goes out again.
    juliet.send("<presence/>").await;
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
    assert!(p[0].get_child("show", "jabber:client").is_none());
}

/// XEP-0016 §2.13 / XEP-0191 §3.3: with an item for every stanza kind, the user's own message
/// or iq to the blocked entity is answered `<not-acceptable/>` with `<blocked/>`, and nothing
/// reaches the entity. Checked with a jid item and with a subscription item (decided with the
/// roster).
#[actix_rt::test]
async fn own_outbound_stanza_to_blocked_entity_is_not_acceptable() {
    let s = server().await;
    let mut juliet = s.online("juliet", "pw", "balcony", 0).await;
    let mut tybalt = s.online("tybalt", "pw", "street", 0).await;
    for (name, item) in [
        (
            "byjid",
            "<item type='jid' value='tybalt@localhost' action='deny' order='1'/>",
        ),
        (
            "bysub",
            "<item type='subscription' value='none' action='deny' order='1'/>",
        ),
    ] {
        set_list(&mut juliet, name, item).await;
        ok(&mut juliet, &format!("<active name='{name}'/>")).await;
        gather_exactly(&mut juliet, &[&list_push(name)]).await;
        juliet.send(&chat("tybalt@localhost", name)).await;
        let e = juliet
            .expect_where(|e| e.name() == "message" && e.attr("type") == Some("error"))
            .await;
        assert_eq!(
            error_condition(&e).as_deref(),
            Some("not-acceptable"),
            "{name}"
        );
        let err = e.get_child("error", "jabber:client").unwrap();
        assert!(err
            .get_child("blocked", "urn:xmpp:blocking:errors")
            .is_some());
        let r = juliet
            .iq(
                "get",
                Some("tybalt@localhost/street"),
                "<query xmlns='jabber:iq:version'/>",
            )
            .await;
        assert_eq!(
            error_condition(&r).as_deref(),
            Some("not-acceptable"),
            "{name}"
        );
        juliet.expect_quiet().await;
        tybalt.expect_quiet().await;
    }
    ok(&mut juliet, "<active/>").await;
    juliet.send(&chat("tybalt@localhost", "open again")).await;
    tybalt.expect_where(is_message("open again")).await;
}

/// XEP-0016 §2.11 / RFC 3921 §10.11: when a list newly blocks presence-out to a contact, the
/// contact receives unavailable from the session; when the block goes away, its current
/// presence.
#[actix_rt::test]
async fn blocking_presence_out_sends_unavailable_and_unblocking_sends_presence() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence><show>away</show></presence>").await;

    set_list(
        &mut juliet,
        "hide",
        "<item type='jid' value='romeo@localhost' action='deny' order='1'><presence-out/></item>",
    )
    .await;
    // Defining a list changes nothing until it applies.
    gather_exactly(&mut juliet, &[&list_push("hide")]).await;
    romeo.expect_quiet().await;
    ok(&mut juliet, "<active name='hide'/>").await;
    let p = romeo
        .expect_where(|e| {
            e.name() == "presence" && e.attr("from") == Some("juliet@localhost/balcony")
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"));
    ok(&mut juliet, "<active/>").await;
    let p = romeo
        .expect_where(|e| {
            e.name() == "presence" && e.attr("from") == Some("juliet@localhost/balcony")
        })
        .await;
    assert_eq!(p.attr("type"), None);
    assert_eq!(
        p.get_child("show", "jabber:client")
            .map(|s| s.text())
            .as_deref(),
        Some("away")
    );
    juliet.expect_quiet().await;
    romeo.expect_quiet().await;
}

const B: &str = "urn:xmpp:blocking";

fn blocklist(r: &Element) -> Vec<String> {
    r.get_child("blocklist", B)
        .expect("a blocklist")
        .children()
        .map(|i| i.attr("jid").unwrap().to_string())
        .collect()
}

fn block_push(kind: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| {
        e.name() == "iq" && e.attr("type") == Some("set") && e.get_child(kind, B).is_some()
    }
}

/// XEP-0191: blocklist, block, unblock, unblock-all; pushes only to resources that asked for
/// the blocklist; a blocked contact's messages are dropped and the user's own are answered
/// `<not-acceptable/>`; the contact sees the user go unavailable and come back.
#[actix_rt::test]
async fn xep0191_block_and_unblock() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence/>").await;
    let mut other = s.login("juliet", "pw", "other").await;

    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert!(blocklist(&r).is_empty());
    let r = juliet
        .iq(
            "set",
            None,
            &format!("<block xmlns='{B}'><item jid='romeo@localhost'/></block>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    // XEP-0191 §3.3 and, the blocklist being the default list, the XEP-0016 push of its name.
    let got = gather_exactly(
        &mut juliet,
        &[&block_push("block"), &list_push("blocklist")],
    )
    .await;
    let push = &got[0];
    let item = push
        .get_child("block", B)
        .unwrap()
        .get_child("item", B)
        .unwrap();
    assert_eq!(item.attr("jid"), Some("romeo@localhost"));
    // Romeo sees her go offline (XEP-0191 §3.3).
    let p = romeo
        .expect_where(|e| {
            e.name() == "presence" && e.attr("from") == Some("juliet@localhost/balcony")
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"));
    // The other resource never asked for the blocklist: only the XEP-0016 push.
    let p = other.expect_where(|e| e.name() == "iq").await;
    assert!(p.get_child("query", P).is_some());
    other.expect_quiet().await;

    romeo.send(&chat("juliet@localhost", "hello?")).await;
    juliet.send(&chat("romeo@localhost", "go away")).await;
    let e = juliet
        .expect_where(|e| e.name() == "message" && e.attr("type") == Some("error"))
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("not-acceptable"));
    juliet.expect_quiet().await;
    // XEP-0191 §3.6: the blocked sender is told <service-unavailable/>, nothing more.
    let e = romeo
        .expect_where(|e| e.name() == "message" && e.attr("type") == Some("error"))
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
    assert!(romeo.until_ping().await.is_empty());

    // XEP-0016 sees the same truth: a default list with a deny-all jid item.
    let r = juliet.iq("get", None, &q("")).await;
    let d = r
        .get_child("query", P)
        .unwrap()
        .get_child("default", P)
        .unwrap();
    assert_eq!(d.attr("name"), Some("blocklist"));

    let r = juliet
        .iq("set", None, &format!("<unblock xmlns='{B}'/>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    gather_exactly(
        &mut juliet,
        &[&block_push("unblock"), &list_push("blocklist")],
    )
    .await;
    let p = romeo
        .expect_where(|e| {
            e.name() == "presence" && e.attr("from") == Some("juliet@localhost/balcony")
        })
        .await;
    assert_eq!(p.attr("type"), None);
    romeo.send(&chat("juliet@localhost", "again")).await;
    juliet.expect_where(is_message("again")).await;
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert!(blocklist(&r).is_empty());
    // Malformed requests.
    for payload in [
        format!("<block xmlns='{B}'/>"),
        format!("<block xmlns='{B}'><item jid='a@b@c'/></block>"),
    ] {
        let r = juliet.iq("set", None, &payload).await;
        assert_eq!(
            error_condition(&r).as_deref(),
            Some("bad-request"),
            "{payload}"
        );
    }
}

/// XEP-0191 §6: a block made with either protocol is seen by the other; XEP-0191 adds its items
/// before the default list's own items, and unblock-all removes only deny-all jid items.
#[actix_rt::test]
async fn blocking_command_and_privacy_lists_are_one_truth() {
    let s = server().await;
    let mut juliet = s.online("juliet", "pw", "balcony", 0).await;
    let mut tybalt = s.online("tybalt", "pw", "street", 0).await;
    set_list(
        &mut juliet,
        "mine",
        "<item type='jid' value='nurse@localhost' action='deny' order='3'/>\
         <item type='subscription' value='none' action='deny' order='7'><iq/></item>",
    )
    .await;
    ok(&mut juliet, "<default name='mine'/>").await;
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert_eq!(blocklist(&r), ["nurse@localhost"]);
    juliet
        .iq(
            "set",
            None,
            &format!("<block xmlns='{B}'><item jid='tybalt@localhost'/></block>"),
        )
        .await;
    let r = juliet.iq("get", None, &q("<list name='mine'/>")).await;
    let items = list_items(&r, "value", "order");
    assert_eq!(
        items,
        [
            ("tybalt@localhost".into(), "0".into()),
            ("nurse@localhost".into(), "4".into()),
            ("none".into(), "8".into())
        ]
    );
    tybalt.send(&chat("juliet@localhost", "blocked")).await;
    tybalt
        .iq("get", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    // The pushes of the list's two changes (its definition and the block) are expected; the
    // message is not.
    gather_exactly(
        &mut juliet,
        &[&list_push("mine"), &list_push("mine"), &block_push("block")],
    )
    .await;
    juliet
        .iq("set", None, &format!("<unblock xmlns='{B}'/>"))
        .await;
    let r = juliet.iq("get", None, &q("<list name='mine'/>")).await;
    let list = r
        .get_child("query", P)
        .unwrap()
        .get_child("list", P)
        .unwrap();
    assert_eq!(list.children().count(), 1);
    assert_eq!(
        list.children().next().unwrap().attr("type"),
        Some("subscription")
    );
}

/// Checks exactly what a change of Juliet's active list sends besides its answer: to her,
/// `push` (the XEP-0016 push of the list `case` after it was defined); to Romeo, `to_romeo`
/// (`unavailable` when the change newly blocks her presence from him, `available` when it newly
/// lets him see it: RFC 3921 §10.11). What is expected is waited for, then nothing more may
/// arrive on either side.
async fn after_list_change(
    juliet: &mut Client,
    romeo: &mut Client,
    push: bool,
    to_romeo: Option<&'static str>,
) {
    if push {
        gather(juliet, &[&list_push("case")]).await;
    }
    juliet.expect_quiet().await;
    // Waited for rather than expected before a ping's answer: see
    // rfc6120_10_1_the_presence_a_list_change_sends_is_done_before_the_next_stanza.
    if let Some(type_) = to_romeo {
        gather(romeo, &[&presence(type_, "juliet@localhost/balcony")]).await;
    }
    romeo.expect_quiet().await;
}

/// Each item kind (jid, group, subscription, fall-through) with each stanza kind (message, iq,
/// presence-in, presence-out): the kind named is blocked, the others still pass.
#[actix_rt::test]
async fn every_item_kind_with_every_stanza_kind() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence/>").await;
    juliet
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:roster'><item jid='romeo@localhost'><group>Friends</group></item></query>",
        )
        .await;
    gather_exactly(&mut juliet, &[&push_of("romeo@localhost")]).await;
    let items = [
        "type='jid' value='romeo@localhost'",
        "type='group' value='Friends'",
        "type='subscription' value='both'",
        "",
    ];
    let kinds = ["message", "iq", "presence-in", "presence-out"];
    let from_romeo = |e: &Element| {
        e.attr("from")
            .is_some_and(|f| f.starts_with("romeo@localhost"))
    };
    for item in items {
        for kind in kinds {
            let case = format!("{item} <{kind}/>");
            set_list(
                &mut juliet,
                "case",
                &format!("<item {item} action='deny' order='1'><{kind}/></item>"),
            )
            .await;
            ok(&mut juliet, "<active name='case'/>").await;
            // Every item matches Romeo (his JID, his group, "both", or all).
            let hides = kind == "presence-out";
            after_list_change(
                &mut juliet,
                &mut romeo,
                true,
                hides.then_some("unavailable"),
            )
            .await;
            for probe in kinds {
                let blocked = probe == kind;
                match probe {
                    "message" => {
                        romeo.send(&chat("juliet@localhost/balcony", &case)).await;
                        romeo.expect_quiet().await;
                        let got = juliet.until_ping().await;
                        let shown: Vec<String> = got.iter().map(String::from).collect();
                        if blocked {
                            assert!(got.is_empty(), "{case}: message {shown:?}");
                        } else {
                            assert_eq!(got.len(), 1, "{case}: message {shown:?}");
                            assert!(is_message_from_romeo(&got[0]), "{case}: {shown:?}");
                        }
                    }
                    "iq" => {
                        romeo
                            .send("<iq type='get' id='v1' to='juliet@localhost/balcony'><query xmlns='jabber:iq:version'/></iq>")
                            .await;
                        if !blocked {
                            // Juliet's client gets it and answers.
                            let q = juliet
                                .expect_where(|e| e.name() == "iq" && from_romeo(e))
                                .await;
                            juliet
                                .send(&format!(
                                    "<iq type='result' to='{}' id='{}'/>",
                                    q.attr("from").unwrap(),
                                    q.attr("id").unwrap()
                                ))
                                .await;
                        }
                        let r = romeo
                            .expect_where(|e| e.name() == "iq" && e.attr("id") == Some("v1"))
                            .await;
                        let want = if blocked {
                            Some("error")
                        } else {
                            Some("result")
                        };
                        assert_eq!(r.attr("type"), want, "{case}: iq");
                        if blocked {
                            assert_eq!(
                                error_condition(&r).as_deref(),
                                Some("service-unavailable"),
                                "{case}"
                            );
                        }
                    }
                    "presence-in" => {
                        romeo.send("<presence><status>in</status></presence>").await;
                        gather_exactly(
                            &mut romeo,
                            &[&presence("available", "romeo@localhost/orchard")],
                        )
                        .await;
                        // Waited for when it passes: a broadcast can reach the contact after
                        // the sender's ping is answered (see
                        // rfc6120_10_1_a_presence_broadcast_is_done_before_the_next_stanza).
                        if !blocked {
                            gather(
                                &mut juliet,
                                &[&presence("available", "romeo@localhost/orchard")],
                            )
                            .await;
                        }
                        let got = juliet.until_ping().await;
                        let shown: Vec<String> = got.iter().map(String::from).collect();
                        assert!(got.is_empty(), "{case}: presence-in {shown:?}");
                    }
                    _ => {
                        juliet
                            .send("<presence><status>out</status></presence>")
                            .await;
                        gather_exactly(
                            &mut juliet,
                            &[&presence("available", "juliet@localhost/balcony")],
                        )
                        .await;
                        if !blocked {
                            gather(
                                &mut romeo,
                                &[&presence("available", "juliet@localhost/balcony")],
                            )
                            .await;
                        }
                        let got = romeo.until_ping().await;
                        let shown: Vec<String> = got.iter().map(String::from).collect();
                        assert!(got.is_empty(), "{case}: presence-out {shown:?}");
                    }
                }
                juliet.expect_quiet().await;
                romeo.expect_quiet().await;
            }
            ok(&mut juliet, "<active/>").await;
            after_list_change(&mut juliet, &mut romeo, false, hides.then_some("available")).await;
        }
    }
}

/// RFC 6120 §10.1 with RFC 3921 §10.11: the presence that a change of the active list sends
/// a contact (unavailable when the list newly hides the user from him, her current presence
/// when it lets him see her again) is part of handling that change, so it is queued for the
/// contact before the user's next stanza is answered, as every other effect of a stanza is.
/// Checked over several rounds: the contact's ping, sent after the user's was answered, comes
/// back after the presence.
#[actix_rt::test]
async fn rfc6120_10_1_the_presence_a_list_change_sends_is_done_before_the_next_stanza() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence/>").await;
    set_list(
        &mut juliet,
        "hide",
        "<item type='jid' value='romeo@localhost' action='deny' order='1'><presence-out/></item>",
    )
    .await;
    gather_exactly(&mut juliet, &[&list_push("hide")]).await;
    for round in 0..100 {
        for (change, type_) in [
            ("<active name='hide'/>", "unavailable"),
            ("<active/>", "available"),
        ] {
            ok(&mut juliet, change).await;
            juliet.expect_quiet().await;
            let got = romeo.until_ping().await;
            let shown: Vec<String> = got.iter().map(String::from).collect();
            assert_eq!(got.len(), 1, "round {round}, {change}: {shown:?}");
            assert!(
                presence(type_, "juliet@localhost/balcony")(&got[0]),
                "round {round}, {change}: {shown:?}"
            );
        }
    }
}

/// RFC 6120 §10.1: a contact's presence broadcast is part of handling his presence stanza,
/// so it is queued for the user before his next stanza is answered, also when the user's
/// active list has to let it in (an item by subscription, decided with the roster, for
/// messages only: presence passes). Checked
/// over several rounds: the user's ping, sent after the contact's was answered, comes back
/// after the broadcast.
#[actix_rt::test]
async fn rfc6120_10_1_a_presence_broadcast_is_done_before_the_next_stanza() {
    let s = server().await;
    let (mut juliet, mut romeo) = lovers(&s, "<presence/>").await;
    set_list(
        &mut juliet,
        "case",
        "<item type='subscription' value='both' action='deny' order='1'><message/></item>",
    )
    .await;
    ok(&mut juliet, "<active name='case'/>").await;
    gather_exactly(&mut juliet, &[&list_push("case")]).await;
    romeo.expect_quiet().await;
    for round in 0..200 {
        romeo
            .send(&format!("<presence><status>{round}</status></presence>"))
            .await;
        gather_exactly(
            &mut romeo,
            &[&presence("available", "romeo@localhost/orchard")],
        )
        .await;
        let got = juliet.until_ping().await;
        let shown: Vec<String> = got.iter().map(String::from).collect();
        assert_eq!(got.len(), 1, "round {round}: {shown:?}");
        assert_eq!(
            got[0]
                .get_child("status", "jabber:client")
                .map(|s| s.text()),
            Some(round.to_string()),
            "round {round}: {shown:?}"
        );
    }
}

fn is_message_from_romeo(e: &Element) -> bool {
    e.name() == "message" && e.attr("from") == Some("romeo@localhost/orchard")
}

/// Juliet (available with `presence`) and romeo (available), subscribed to each other both
/// ways, each with the roster requested, and with everything up to here read.
async fn lovers(s: &TestServer, presence: &str) -> (Client, Client) {
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    juliet
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    juliet.send(presence).await;
    juliet.own_presence().await;
    let mut romeo = s.login("romeo", "pw", "orchard").await;
    romeo
        .iq("get", None, "<query xmlns='jabber:iq:roster'/>")
        .await;
    romeo.send("<presence/>").await;
    romeo.own_presence().await;
    subscribe(
        &mut juliet,
        "juliet@localhost",
        &mut romeo,
        "romeo@localhost",
    )
    .await;
    subscribe(
        &mut romeo,
        "romeo@localhost",
        &mut juliet,
        "juliet@localhost",
    )
    .await;
    juliet.expect_quiet().await;
    romeo.expect_quiet().await;
    (juliet, romeo)
}

/// XEP-0191 §3.5: after "unblock all" the resources that asked for the blocklist get an iq set
/// with an empty `<unblock/>` (not the list of what was blocked); besides it they get only the
/// XEP-0016 push of the default list's name.
#[actix_rt::test]
async fn xep0191_3_5_unblock_all_pushes_an_empty_unblock() {
    let s = server().await;
    let mut watcher = s.login("juliet", "pw", "watcher").await;
    let mut actor = s.login("juliet", "pw", "actor").await;
    let r = watcher
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert!(blocklist(&r).is_empty());
    let r = actor
        .iq(
            "set",
            None,
            &format!(
                "<block xmlns='{B}'><item jid='romeo@localhost'/><item jid='tybalt@localhost'/></block>"
            ),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    gather_exactly(&mut actor, &[&list_push("blocklist")]).await;
    gather_exactly(
        &mut watcher,
        &[&block_push("block"), &list_push("blocklist")],
    )
    .await;

    let r = actor
        .iq("set", None, &format!("<unblock xmlns='{B}'/>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    // The resource that never asked for the blocklist gets only the XEP-0016 push.
    let got = actor.until_ping().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].get_child("query", P).is_some());
    // Its ping answered, the unblock is done: all it sent the watcher is queued.
    let got = watcher.until_ping().await;
    let shown: Vec<String> = got.iter().map(String::from).collect();
    assert_eq!(got.len(), 2, "{shown:?}");
    let unblock = got
        .iter()
        .find(|e| block_push("unblock")(e))
        .unwrap_or_else(|| panic!("no unblock push: {shown:?}"));
    assert_eq!(unblock.attr("to"), Some("juliet@localhost/watcher"));
    let payload = unblock.get_child("unblock", B).unwrap();
    assert_eq!(payload.children().count(), 0, "{shown:?}");
    assert!(
        got.iter().any(|e| e.get_child("query", P).is_some()),
        "{shown:?}"
    );
    let r = watcher
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert!(blocklist(&r).is_empty());
}

/// The text of an error reply.
fn error_text(r: &Element) -> String {
    r.get_child("error", "jabber:client")
        .and_then(|e| e.get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas"))
        .map(|t| t.text())
        .unwrap_or_default()
}

/// The names of the account's lists (a names get).
async fn list_names(c: &mut Client) -> Vec<String> {
    let r = c.iq("get", None, &q("")).await;
    r.get_child("query", P)
        .unwrap()
        .children()
        .filter(|c| c.name() == "list")
        .map(|l| l.attr("name").unwrap().to_string())
        .collect()
}

fn block_of(jids: &[String]) -> String {
    let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
    format!("<block xmlns='{B}'>{items}</block>")
}

/// `privacy.max_items` bounds the blocklist (the default list's items): a `<block/>` that
/// would take it beyond the limit is `<not-acceptable/>` with a text giving the limit, and
/// nothing of it is stored or pushed, whether the request alone is too big or the list
/// already holds blocks.
#[actix_rt::test]
async fn block_beyond_the_limit_is_not_acceptable_and_nothing_is_stored() {
    let s = server_with(|c| c.privacy.max_items = 5).await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    let mut watcher = s.login("juliet", "pw", "watcher").await;
    watcher
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    let six: Vec<String> = (0..6).map(|n| format!("u{n}@localhost")).collect();
    let r = juliet.iq("set", None, &block_of(&six)).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    assert!(error_text(&r).contains("at most 5"), "{}", error_text(&r));
    juliet.expect_quiet().await;
    watcher.expect_quiet().await;
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert!(blocklist(&r).is_empty());
    assert!(list_names(&mut juliet).await.is_empty(), "no list created");

    let r = juliet.iq("set", None, &block_of(&six[..3])).await;
    assert_eq!(r.attr("type"), Some("result"));
    // Juliet asked for the blocklist too (above): both pushes, like the watcher.
    gather_exactly(
        &mut juliet,
        &[&block_push("block"), &list_push("blocklist")],
    )
    .await;
    gather_exactly(
        &mut watcher,
        &[&block_push("block"), &list_push("blocklist")],
    )
    .await;
    // Three blocked, one of them again and three new: six in all.
    let r = juliet.iq("set", None, &block_of(&six[2..])).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    juliet.expect_quiet().await;
    watcher.expect_quiet().await;
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert_eq!(blocklist(&r), six[..3]);
    // Up to the limit still works.
    let r = juliet.iq("set", None, &block_of(&six[3..5])).await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert_eq!(blocklist(&r).len(), 5);
    // A XEP-0016 list beyond the limit is refused the same way.
    let items: String = (0..6)
        .map(|n| format!("<item action='deny' order='{n}'><iq/></item>"))
        .collect();
    let r = set_list(&mut juliet, "long", &items).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    assert!(!list_names(&mut juliet).await.contains(&"long".to_string()));
}

/// A `<block/>` naming the same JIDs many times (in different spellings of one JID) blocks
/// each once: the blocklist, the push and the default list hold every JID once, in the order
/// of the request.
#[actix_rt::test]
async fn a_big_block_with_duplicates_is_stored_once_each() {
    let s = server().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    let distinct: Vec<String> = (0..300).map(|n| format!("u{n}@localhost")).collect();
    let mut request = Vec::new();
    for round in 0..3 {
        for (n, j) in distinct.iter().enumerate() {
            // The node is case-folded (RFC 7622): U7@localhost is u7@localhost.
            request.push(if round == 1 {
                format!("U{n}@localhost")
            } else {
                j.clone()
            });
        }
    }
    let r = juliet.iq("set", None, &block_of(&request)).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let push = juliet.expect_where(block_push("block")).await;
    let pushed: Vec<String> = push
        .get_child("block", B)
        .unwrap()
        .children()
        .map(|i| i.attr("jid").unwrap().to_string())
        .collect();
    assert_eq!(pushed, distinct);
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert_eq!(blocklist(&r), distinct);
    let r = juliet.iq("get", None, &q("<list name='blocklist'/>")).await;
    let items = list_items(&r, "value", "order");
    let want: Vec<(String, String)> = distinct
        .iter()
        .enumerate()
        .map(|(n, j)| (j.clone(), n.to_string()))
        .collect();
    assert_eq!(items, want);
}

/// `privacy.max_lists` bounds the lists of an account: a set that would create one more is
/// `<not-acceptable/>` and creates nothing; replacing an existing list still works, and so
/// does creating one after a removal. A block that would have to create the default list is
/// refused the same way.
#[actix_rt::test]
async fn too_many_lists_is_not_acceptable() {
    let s = server_with(|c| c.privacy.max_lists = 2).await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    for name in ["one", "two"] {
        let r = set_list(&mut juliet, name, "<item action='allow' order='1'/>").await;
        assert_eq!(r.attr("type"), Some("result"), "{name}");
    }
    gather_exactly(&mut juliet, &[&list_push("one"), &list_push("two")]).await;
    let r = set_list(&mut juliet, "three", "<item action='allow' order='1'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    assert!(error_text(&r).contains("at most 2"), "{}", error_text(&r));
    // No push for a refused set.
    juliet.expect_quiet().await;
    assert_eq!(list_names(&mut juliet).await, ["one", "two"]);
    // No default list yet: blocking would create a third list.
    let r = juliet
        .iq("set", None, &block_of(&["romeo@localhost".to_string()]))
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    assert_eq!(list_names(&mut juliet).await, ["one", "two"]);
    let r = set_list(&mut juliet, "two", "<item action='deny' order='1'/>").await;
    assert_eq!(r.attr("type"), Some("result"));
    ok(&mut juliet, "<list name='one'/>").await;
    let r = set_list(&mut juliet, "three", "<item action='allow' order='1'/>").await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(list_names(&mut juliet).await, ["three", "two"]);
}

/// A block puts its items first by shifting the default list's orders up by the number of new
/// blocks (XEP-0191 §5 of its relation to privacy lists). When that would take an order past
/// the largest one the server keeps (2^32 - 1), the block is `<not-acceptable/>`: nothing
/// panics or wraps, the list is unchanged, and after a restart it reads back and can be set
/// again as it was read.
#[actix_rt::test]
async fn a_block_that_would_shift_orders_past_the_maximum_is_refused() {
    let mut s = server().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    let items = "<item type='jid' value='nurse@localhost' action='deny' order='4294967294'/>                 <item action='allow' order='4294967295'/>";
    let r = set_list(&mut juliet, "mine", items).await;
    assert_eq!(r.attr("type"), Some("result"));
    ok(&mut juliet, "<default name='mine'/>").await;
    gather_exactly(&mut juliet, &[&list_push("mine")]).await;
    let r = juliet
        .iq(
            "set",
            None,
            &block_of(&[
                "romeo@localhost".to_string(),
                "tybalt@localhost".to_string(),
            ]),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    juliet.expect_quiet().await;
    let want = [
        ("nurse@localhost".to_string(), "4294967294".to_string()),
        ("allow".to_string(), "4294967295".to_string()),
    ];
    let read = |r: &Element| -> Vec<(String, String)> {
        r.get_child("query", P)
            .unwrap()
            .get_child("list", P)
            .unwrap()
            .children()
            .map(|i| {
                (
                    i.attr("value").or(i.attr("action")).unwrap().to_string(),
                    i.attr("order").unwrap().to_string(),
                )
            })
            .collect()
    };
    let r = juliet.iq("get", None, &q("<list name='mine'/>")).await;
    assert_eq!(read(&r), want);
    // The session still works, and so does a restart.
    juliet.close().await;
    s.restart().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    let r = juliet.iq("get", None, &q("<list name='mine'/>")).await;
    assert_eq!(read(&r), want);
    // The list as read is a valid set.
    let list = r
        .get_child("query", P)
        .unwrap()
        .get_child("list", P)
        .unwrap();
    let r = juliet.iq("set", None, &q(&String::from(list))).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let r = juliet
        .iq("get", None, &format!("<blocklist xmlns='{B}'/>"))
        .await;
    assert_eq!(blocklist(&r), ["nurse@localhost"]);
}

/// A block without a default list creates one (XEP-0191 through XEP-0016); when the user
/// already has a list named `blocklist` that is not the default, that list is left as it was
/// and the new default list takes the next free name.
#[actix_rt::test]
async fn a_block_leaves_a_users_own_list_named_blocklist_alone() {
    let s = server().await;
    let mut juliet = s.login("juliet", "pw", "balcony").await;
    let r = set_list(
        &mut juliet,
        "blocklist",
        "<item type='jid' value='nurse@localhost' action='allow' order='5'><message/></item>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = juliet
        .iq("set", None, &block_of(&["romeo@localhost".to_string()]))
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let r = juliet.iq("get", None, &q("<list name='blocklist'/>")).await;
    assert_eq!(
        list_items(&r, "value", "order"),
        [("nurse@localhost".to_string(), "5".to_string())]
    );
    let r = juliet.iq("get", None, &q("")).await;
    let d = r
        .get_child("query", P)
        .unwrap()
        .get_child("default", P)
        .unwrap();
    assert_eq!(d.attr("name"), Some("blocklist-2"));
    let r = juliet
        .iq("get", None, &q("<list name='blocklist-2'/>"))
        .await;
    assert_eq!(
        list_items(&r, "value", "order"),
        [("romeo@localhost".to_string(), "0".to_string())]
    );
}

/// XEP-0191 §3.6: a message from a JID the user blocks with the blocking command is answered
/// `<service-unavailable/>`, to the bare JID, to a full JID and when the user is offline (and
/// nothing is stored); a message refused by another XEP-0016 rule stays silent (RFC 3921
/// §10.14). The blocklist is the default list's deny-all jid items, so the two agree.
#[actix_rt::test]
async fn xep0191_3_6_a_blocked_sender_is_told_service_unavailable() {
    let s = server().await;
    let mut juliet = s.online("juliet", "pw", "balcony", 0).await;
    let mut tybalt = s.online("tybalt", "pw", "street", 0).await;
    let mut nurse = s.online("nurse", "pw", "kitchen", 0).await;
    let r = juliet
        .iq(
            "set",
            None,
            "<block xmlns='urn:xmpp:blocking'><item jid='tybalt@localhost'/></block>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    // A XEP-0016 rule in the same default list that refuses only the nurse's messages.
    let r = juliet
        .iq(
            "get",
            None,
            "<query xmlns='jabber:iq:privacy'><list name='blocklist'/></query>",
        )
        .await;
    let items: String = r
        .get_child("query", P)
        .unwrap()
        .get_child("list", P)
        .unwrap()
        .children()
        .map(String::from)
        .collect();
    let r = set_list(
        &mut juliet,
        "blocklist",
        &format!(
            "{items}<item type='jid' value='nurse@localhost' action='deny' order='1000'><message/></item>"
        ),
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    // The pushes of the block and of the list's redefinition.
    gather_exactly(
        &mut juliet,
        &[&list_push("blocklist"), &list_push("blocklist")],
    )
    .await;
    for (to, id) in [
        ("juliet@localhost", "b1"),
        ("juliet@localhost/balcony", "f1"),
        ("juliet@localhost/gone", "g1"),
    ] {
        tybalt
            .send(&format!(
                "<message type='chat' to='{to}' id='{id}'><body>open up</body></message>"
            ))
            .await;
        let e = tybalt.expect_where(|e| e.attr("id") == Some(id)).await;
        assert_eq!(
            error_condition(&e).as_deref(),
            Some("service-unavailable"),
            "{id}"
        );
    }
    nurse
        .send(&chat("juliet@localhost", "silently dropped"))
        .await;
    assert!(
        nurse.until_ping().await.is_empty(),
        "XEP-0016 refusals stay silent"
    );
    let got = juliet.until_ping().await;
    assert!(got.is_empty(), "nothing reached Juliet: {got:?}");
    // Offline: the blocked sender is told too, and nothing is stored.
    juliet.close().await;
    tybalt
        .send("<message type='chat' to='juliet@localhost' id='o1'><body>later?</body></message>")
        .await;
    let e = tybalt.expect_where(|e| e.attr("id") == Some("o1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("service-unavailable"));
    let stored = cordial_storage::OfflineStore::offline_messages(
        &**s.handle().storage(),
        "juliet@localhost",
    )
    .unwrap();
    assert!(stored.is_empty());
}
