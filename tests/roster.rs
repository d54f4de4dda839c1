//! RFC 6121 §2: the roster, every error case, and granular roster versioning (§2.6).

mod common;

use common::*;
use minidom::Element;

const R: &str = "jabber:iq:roster";

async fn server() -> TestServer {
    let s = TestServer::start_with(|c| {
        c.roster.max_items = 3;
        c.roster.max_name_bytes = 20;
        c.roster.max_group_bytes = 10;
        c.roster.max_groups_per_item = 3;
    })
    .await;
    s.add_user("juliet", "pw").await;
    s.add_user("romeo", "pw").await;
    s
}

fn items(result: &Element) -> Vec<(String, Option<String>, Vec<String>, String)> {
    let q = result.get_child("query", R).expect("a roster query");
    q.children()
        .map(|i| {
            (
                i.attr("jid").unwrap().to_string(),
                i.attr("name").map(str::to_string),
                i.children().map(|g| g.text()).collect(),
                i.attr("subscription").unwrap_or("none").to_string(),
            )
        })
        .collect()
}

async fn get(c: &mut Client, ver: Option<&str>) -> Element {
    let ver = ver.map(|v| format!(" ver='{v}'")).unwrap_or_default();
    c.iq("get", None, &format!("<query xmlns='{R}'{ver}/>"))
        .await
}

async fn set(c: &mut Client, item: &str) -> Element {
    c.iq("set", None, &format!("<query xmlns='{R}'>{item}</query>"))
        .await
}

/// The next roster push: (ver, the pushed item).
async fn push(c: &mut Client) -> (String, Element) {
    let iq = c
        .expect_where(|e| e.name() == "iq" && e.attr("type") == Some("set"))
        .await;
    let q = iq.get_child("query", R).expect("a roster push");
    // RFC 6121 §2.1.6: a push comes from the account itself (no from, or the bare JID).
    assert!(iq.attr("from").is_none_or(|f| !f.contains('/')));
    let item = q.children().next().unwrap().clone();
    (
        q.attr("ver").expect("every push carries ver").to_string(),
        item,
    )
}

/// RFC 6121 §2.2, §2.6.1: an empty roster; `ver` only when the client asked with `ver`; the
/// stream features announce roster versioning.
#[actix_rt::test]
async fn rfc6121_2_2_get_empty_roster_and_rosterver_feature() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "balcony").await;
    assert!(j
        .features
        .as_ref()
        .unwrap()
        .get_child("ver", "urn:xmpp:features:rosterver")
        .is_some());
    let r = get(&mut j, None).await;
    assert_eq!(r.attr("type"), Some("result"));
    assert!(items(&r).is_empty());
    assert!(r.get_child("query", R).unwrap().attr("ver").is_none());
    let r = get(&mut j, Some("")).await;
    assert_eq!(r.get_child("query", R).unwrap().attr("ver"), Some("0"));
}

/// RFC 6121 §2.3, §2.4, §2.1.6: add and update; the result to the requester and one push per
/// change to every interested resource (and none to a resource that never asked).
#[actix_rt::test]
async fn rfc6121_2_3_add_and_2_4_update_push_to_interested_resources() {
    let s = server().await;
    let mut a = s.login("juliet", "pw", "a").await;
    let mut b = s.login("juliet", "pw", "b").await;
    let mut quiet = s.login("juliet", "pw", "quiet").await;
    get(&mut a, Some("")).await;
    get(&mut b, None).await;

    let r = set(
        &mut a,
        "<item jid='romeo@localhost' name='Romeo'><group>Friends</group></item>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    for c in [&mut a, &mut b] {
        let (ver, item) = push(c).await;
        assert_eq!(ver, "1");
        assert_eq!(item.attr("jid"), Some("romeo@localhost"));
        assert_eq!(item.attr("name"), Some("Romeo"));
        assert_eq!(item.attr("subscription"), Some("none"));
    }
    // Exactly one push per change (the requester first: its ping comes back once all that the
    // change caused is queued).
    a.expect_quiet().await;
    b.expect_quiet().await;
    set(
        &mut b,
        "<item jid='romeo@localhost' name='R'><group>Lovers</group><group>Verona</group></item>",
    )
    .await;
    for c in [&mut a, &mut b] {
        let (ver, item) = push(c).await;
        assert_eq!(ver, "2");
        assert_eq!(item.attr("name"), Some("R"));
        assert_eq!(item.children().count(), 2);
    }
    // Exactly one push per change, and none to the resource that never asked.
    b.expect_quiet().await;
    a.expect_quiet().await;
    quiet.expect_quiet().await;
    let r = get(&mut quiet, None).await;
    assert_eq!(
        items(&r),
        [(
            "romeo@localhost".into(),
            Some("R".into()),
            vec!["Lovers".into(), "Verona".into()],
            "none".into()
        )]
    );
}

/// RFC 6121 §2.5: removal pushes `subscription='remove'`; removing what is not there is
/// `<item-not-found/>` (§2.5.3).
#[actix_rt::test]
async fn rfc6121_2_5_remove_and_2_5_3_missing_item_is_item_not_found() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    get(&mut j, None).await;
    set(&mut j, "<item jid='romeo@localhost'/>").await;
    push(&mut j).await;
    let r = set(
        &mut j,
        "<item jid='romeo@localhost' subscription='remove'/>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    let (ver, item) = push(&mut j).await;
    assert_eq!(
        (ver.as_str(), item.attr("subscription")),
        ("2", Some("remove"))
    );
    let r = set(
        &mut j,
        "<item jid='romeo@localhost' subscription='remove'/>",
    )
    .await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
    assert!(items(&get(&mut j, None).await).is_empty());
}

/// RFC 6121 §2.3.3: more than one item and duplicate groups are `<bad-request/>`; an empty
/// group and over-long names or groups are `<not-acceptable/>`; nothing is stored.
#[actix_rt::test]
async fn rfc6121_2_3_3_set_error_cases() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    for (item, cond) in [
        (
            "<item jid='a@localhost'/><item jid='b@localhost'/>",
            "bad-request",
        ),
        (
            "<item jid='a@localhost'><group>G</group><group>G</group></item>",
            "bad-request",
        ),
        ("<item jid='a@localhost'><group/></item>", "not-acceptable"),
        (
            "<item jid='a@localhost' name='a name that is far too long'/>",
            "not-acceptable",
        ),
        (
            "<item jid='a@localhost'><group>much-too-long</group></item>",
            "not-acceptable",
        ),
    ] {
        let r = set(&mut j, item).await;
        assert_eq!(error_condition(&r).as_deref(), Some(cond), "{item}");
    }
    assert!(items(&get(&mut j, None).await).is_empty());
}

/// `roster.max_groups_per_item`: an item in more groups than the server allows is
/// `<not-acceptable/>` (like an over-long group name, RFC 6121 §2.3.3) with a text giving the
/// limit, and neither stored nor pushed; as many groups as the limit are fine, and an update
/// beyond it leaves the stored item as it was.
#[actix_rt::test]
async fn an_item_in_too_many_groups_is_not_acceptable() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    get(&mut j, None).await;
    let four = "<item jid='romeo@localhost'><group>a</group><group>b</group><group>c</group><group>d</group></item>";
    let r = set(&mut j, four).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    let text = r
        .get_child("error", "jabber:client")
        .unwrap()
        .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .unwrap()
        .text();
    assert!(text.contains("at most 3"), "{text}");
    j.expect_quiet().await;
    assert!(items(&get(&mut j, None).await).is_empty());

    let three =
        "<item jid='romeo@localhost'><group>a</group><group>b</group><group>c</group></item>";
    assert_eq!(set(&mut j, three).await.attr("type"), Some("result"));
    let (_, pushed) = push(&mut j).await;
    assert_eq!(pushed.children().count(), 3);
    let r = set(&mut j, four).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    j.expect_quiet().await;
    let got = items(&get(&mut j, None).await);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, ["a", "b", "c"]);
}

/// RFC 6121 §2.1.2.5: a `subscription` other than `remove` in a set is ignored.
#[actix_rt::test]
async fn rfc6121_2_1_2_5_subscription_attribute_in_set_is_ignored() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    let r = set(
        &mut j,
        "<item jid='romeo@localhost' subscription='both' ask='subscribe'/>",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    let got = items(&get(&mut j, None).await);
    assert_eq!(got[0].3, "none");
}

/// RFC 6121 §2.1.5 / §2.3.3: a roster iq to another user's JID (or, for that user, from
/// another user) is `<forbidden/>`, and that roster is untouched.
#[actix_rt::test]
async fn rfc6121_2_1_5_roster_of_another_user_is_forbidden() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    let r = j
        .iq(
            "get",
            Some("romeo@localhost"),
            &format!("<query xmlns='{R}'/>"),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("forbidden"));
    let r = j
        .iq(
            "set",
            Some("romeo@localhost"),
            &format!("<query xmlns='{R}'><item jid='tybalt@localhost'/></query>"),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("forbidden"));
    let mut romeo = s.login("romeo", "pw", "r").await;
    assert!(items(&get(&mut romeo, None).await).is_empty());
    // A roster iq to one's own bare JID is one's own roster.
    let r = j
        .iq(
            "get",
            Some("juliet@localhost"),
            &format!("<query xmlns='{R}'/>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

/// The roster size limit answers `<not-allowed/>` with a text saying why; updates of existing
/// items still work at the limit. The account's own JID is allowed as an item.
#[actix_rt::test]
async fn roster_size_limit_is_not_allowed_and_own_jid_is_allowed() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    for who in ["juliet@localhost", "b@localhost", "c@localhost"] {
        assert_eq!(
            set(&mut j, &format!("<item jid='{who}'/>"))
                .await
                .attr("type"),
            Some("result")
        );
    }
    let r = set(&mut j, "<item jid='d@localhost'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-allowed"));
    let text = r
        .get_child("error", "jabber:client")
        .unwrap()
        .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .unwrap()
        .text();
    assert!(text.contains("at most 3"), "{text}");
    assert_eq!(
        set(&mut j, "<item jid='b@localhost' name='B'/>")
            .await
            .attr("type"),
        Some("result")
    );
}

/// A subscription request or pre-approval that would add an item to a full roster is refused
/// like a roster set (`<not-allowed/>` as a presence error), and nothing reaches the contact.
#[actix_rt::test]
async fn subscription_to_a_new_contact_respects_the_roster_limit() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    for who in ["a@localhost", "b@localhost", "c@localhost"] {
        set(&mut j, &format!("<item jid='{who}'/>")).await;
    }
    let mut romeo = s.online("romeo", "pw", "r", 0).await;
    for t in ["subscribe", "subscribed"] {
        j.send(&format!("<presence to='romeo@localhost' type='{t}'/>"))
            .await;
        let e = j
            .expect_where(|e| e.name() == "presence" && e.attr("type") == Some("error"))
            .await;
        assert_eq!(error_condition(&e).as_deref(), Some("not-allowed"), "{t}");
        assert_eq!(e.attr("from"), Some("romeo@localhost"));
    }
    // Only the errors, and nothing reached romeo.
    j.expect_quiet().await;
    romeo.expect_quiet().await;
    let names: Vec<String> = items(&get(&mut j, None).await)
        .into_iter()
        .map(|i| i.0)
        .collect();
    assert_eq!(names, ["a@localhost", "b@localhost", "c@localhost"]);
    // Subscribing to a contact already in the roster still works at the limit.
    j.send("<presence to='a@localhost' type='subscribe'/>")
        .await;
    let push = j.expect_where(|e| e.name() == "iq").await;
    let item = push
        .get_child("query", R)
        .unwrap()
        .get_child("item", R)
        .unwrap();
    assert_eq!(item.attr("ask"), Some("subscribe"));
}

/// RFC 6121 §2.6.3: with the current `ver` the result is empty and nothing follows.
#[actix_rt::test]
async fn rfc6121_2_6_3_current_ver_gets_an_empty_result() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    set(&mut j, "<item jid='romeo@localhost'/>").await;
    let r = get(&mut j, Some("1")).await;
    assert_eq!(r.attr("type"), Some("result"));
    assert!(r.children().next().is_none(), "no <query/> at all");
    j.expect_quiet().await;
}

/// RFC 6121 §2.6.3, granular: with an older `ver` the server still knows, the result is empty
/// and exactly the missed changes follow as pushes, in version order — additions, updates and
/// removals — with the final state only for items changed several times.
#[actix_rt::test]
async fn rfc6121_2_6_3_older_ver_gets_exactly_the_missed_pushes() {
    let s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    set(&mut j, "<item jid='a@localhost' name='A'/>").await; // 1
    set(&mut j, "<item jid='b@localhost' name='B'/>").await; // 2
                                                             // The client caches the roster at version 2.
    set(&mut j, "<item jid='c@localhost' name='C'/>").await; // 3
    set(&mut j, "<item jid='a@localhost' name='A1'/>").await; // 4
    set(&mut j, "<item jid='b@localhost' subscription='remove'/>").await; // 5
    set(&mut j, "<item jid='a@localhost' name='A2'/>").await; // 6
    drop(j);
    let mut j = s.login("juliet", "pw", "r2").await;
    let r = get(&mut j, Some("2")).await;
    assert!(r.children().next().is_none());
    let mut got = Vec::new();
    for _ in 0..3 {
        let (ver, item) = push(&mut j).await;
        got.push((
            ver,
            item.attr("jid").unwrap().to_string(),
            item.attr("name")
                .or(item.attr("subscription"))
                .map(str::to_string),
        ));
    }
    assert_eq!(
        got,
        [
            ("3".into(), "c@localhost".into(), Some("C".into())),
            ("5".into(), "b@localhost".into(), Some("remove".into())),
            ("6".into(), "a@localhost".into(), Some("A2".into())),
        ]
    );
    j.expect_quiet().await;
}

/// RFC 6121 §2.6.3: `ver=''`, a version never issued, garbage, and a version whose tombstones
/// were compacted away all get the full roster with the current `ver`.
#[actix_rt::test]
async fn rfc6121_2_6_3_unknown_or_compacted_ver_gets_the_full_roster() {
    let s = TestServer::start_with(|c| c.roster.tombstone_horizon = 1).await;
    s.add_user("juliet", "pw").await;
    let mut j = s.login("juliet", "pw", "r").await;
    set(&mut j, "<item jid='a@localhost'/>").await; // 1
    set(&mut j, "<item jid='b@localhost'/>").await; // 2
    set(&mut j, "<item jid='a@localhost' subscription='remove'/>").await; // 3
    set(&mut j, "<item jid='b@localhost' subscription='remove'/>").await; // 4, compacts ver <= 3
    set(&mut j, "<item jid='c@localhost'/>").await; // 5
    for ver in ["", "77", "not-a-version", "1"] {
        let r = get(&mut j, Some(ver)).await;
        let q = r
            .get_child("query", R)
            .unwrap_or_else(|| panic!("full roster for ver={ver:?}"));
        assert_eq!(q.attr("ver"), Some("5"), "ver={ver:?}");
        assert_eq!(items(&r).len(), 1);
    }
    // Version 3 is still covered: b's removal (4) and c (5) are known.
    let r = get(&mut j, Some("3")).await;
    assert!(r.children().next().is_none());
}

/// Versions and items survive a restart, and keep increasing after it.
#[actix_rt::test]
async fn roster_and_versions_survive_restart() {
    let mut s = server().await;
    let mut j = s.login("juliet", "pw", "r").await;
    set(&mut j, "<item jid='romeo@localhost' name='Romeo'/>").await;
    set(&mut j, "<item jid='nurse@localhost'/>").await;
    drop(j);
    s.restart().await;
    let mut j = s.login("juliet", "pw", "r").await;
    let r = get(&mut j, Some("")).await;
    assert_eq!(r.get_child("query", R).unwrap().attr("ver"), Some("2"));
    assert_eq!(items(&r).len(), 2);
    set(&mut j, "<item jid='nurse@localhost' name='Nurse'/>").await;
    let (ver, _) = push(&mut j).await;
    assert_eq!(ver, "3");
    let r = get(&mut j, Some("2")).await;
    assert!(r.children().next().is_none());
    let (ver, item) = push(&mut j).await;
    assert_eq!((ver.as_str(), item.attr("name")), ("3", Some("Nurse")));
}

/// An account deleted and created again under the same name starts with an empty roster, even
/// while the server still holds the old account's roster in memory.
#[actix_rt::test]
async fn a_recreated_account_has_an_empty_roster() {
    let s = server().await;
    let mut c = s.login("juliet", "pw", "balcony").await;
    get(&mut c, None).await;
    c.iq(
        "set",
        None,
        &format!("<query xmlns='{R}'><item jid='nurse@localhost'/></query>"),
    )
    .await;
    let bare = jid::BareJid::new("juliet@localhost").unwrap();
    assert!(s.handle().delete_user(&bare).await.unwrap());
    assert_eq!(c.expect_element().await.attr("id"), Some("push-1"));
    assert_eq!(c.expect_stream_error().await, "not-authorized");
    s.add_user("juliet", "pw2").await;
    let mut c = s.login("juliet", "pw2", "balcony").await;
    assert!(items(&get(&mut c, Some("")).await).is_empty());
}
