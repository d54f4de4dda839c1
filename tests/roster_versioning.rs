//! Property test of granular roster versioning (RFC 6121 §2.6): random sequences of roster
//! sets, updates and removals, interleaved with a client that disconnects, keeps its cached
//! roster and `ver`, and reconnects, and with restarts of the server. After every reconnect the
//! client's roster (cache + the pushes it gets) must equal the server's.

mod common;

use std::collections::BTreeMap;

use common::*;
use minidom::Element;
use proptest::prelude::*;

const R: &str = "jabber:iq:roster";

#[derive(Clone, Debug)]
enum Op {
    Set { contact: u8, name: u8, groups: u8 },
    Remove { contact: u8 },
    Reconnect,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..6, 0u8..3, 0u8..4).prop_map(|(contact, name, groups)| Op::Set { contact, name, groups }),
        2 => (0u8..6).prop_map(|contact| Op::Remove { contact }),
        2 => Just(Op::Reconnect),
        1 => Just(Op::Restart),
    ]
}

/// contact JID -> (name, groups)
type RosterModel = BTreeMap<String, (Option<String>, Vec<String>)>;

fn contact(i: u8) -> String {
    format!("c{i}@localhost")
}

fn item_state(item: &Element) -> (Option<String>, Vec<String>) {
    let mut groups: Vec<String> = item.children().map(|g| g.text()).collect();
    groups.sort();
    (item.attr("name").map(str::to_string), groups)
}

/// Applies a push to the cache, returning its `ver`.
fn apply_push(cache: &mut RosterModel, iq: &Element) -> String {
    let q = iq.get_child("query", R).expect("push query");
    let item = q.children().next().expect("push item");
    let jid = item.attr("jid").unwrap().to_string();
    if item.attr("subscription") == Some("remove") {
        cache.remove(&jid);
    } else {
        cache.insert(jid, item_state(item));
    }
    q.attr("ver").expect("push ver").to_string()
}

/// Connects the caching client and syncs: a get with its `ver`, then the pushes that follow.
/// A second get without `ver` — handled by the UserActor after the first — returns the server's
/// full roster, which is what the cache must now equal.
async fn sync(s: &TestServer, cache: &mut RosterModel, ver: &mut Option<String>) -> RosterModel {
    let mut c = s.login("juliet", "pw", "cache").await;
    let v = ver.clone().unwrap_or_default();
    c.send(&format!(
        "<iq type='get' id='sync'><query xmlns='{R}' ver='{v}'/></iq>"
    ))
    .await;
    c.send(&format!(
        "<iq type='get' id='truth'><query xmlns='{R}'/></iq>"
    ))
    .await;
    let truth = loop {
        let e = c.expect_element().await;
        match (e.attr("id"), e.attr("type")) {
            (Some("sync"), Some("result")) => {
                if let Some(q) = e.get_child("query", R) {
                    // Full roster: replaces the cache.
                    cache.clear();
                    for item in q.children() {
                        cache.insert(item.attr("jid").unwrap().to_string(), item_state(item));
                    }
                    *ver = Some(
                        q.attr("ver")
                            .expect("ver in a versioned full roster")
                            .to_string(),
                    );
                }
            }
            (_, Some("set")) => *ver = Some(apply_push(cache, &e)),
            (Some("truth"), Some("result")) => {
                let q = e.get_child("query", R).unwrap();
                break q
                    .children()
                    .map(|i| (i.attr("jid").unwrap().to_string(), item_state(i)))
                    .collect::<RosterModel>();
            }
            other => panic!("unexpected {other:?}: {}", String::from(&e)),
        }
    };
    drop(c);
    truth
}

async fn run(ops: Vec<Op>) {
    let mut s = TestServer::start_with(|c| c.roster.tombstone_horizon = 4).await;
    s.add_user("juliet", "pw").await;
    let mut model = RosterModel::new();
    let mut cache = RosterModel::new();
    let mut ver: Option<String> = None;
    let mut writer = Some(s.login("juliet", "pw", "writer").await);
    for op in ops {
        match op {
            Op::Set {
                contact: i,
                name,
                groups,
            } => {
                let name_attr = match name {
                    0 => String::new(),
                    n => format!(" name='n{n}'"),
                };
                let gs: Vec<String> = (0..groups).map(|g| format!("g{g}")).collect();
                let xml: String = gs.iter().map(|g| format!("<group>{g}</group>")).collect();
                let w = writer.as_mut().unwrap();
                let r = w
                    .iq(
                        "set",
                        None,
                        &format!(
                            "<query xmlns='{R}'><item jid='{}'{name_attr}>{xml}</item></query>",
                            contact(i)
                        ),
                    )
                    .await;
                assert_eq!(r.attr("type"), Some("result"));
                model.insert(contact(i), ((name > 0).then(|| format!("n{name}")), gs));
            }
            Op::Remove { contact: i } => {
                let w = writer.as_mut().unwrap();
                let r = w
                    .iq(
                        "set",
                        None,
                        &format!(
                            "<query xmlns='{R}'><item jid='{}' subscription='remove'/></query>",
                            contact(i)
                        ),
                    )
                    .await;
                if model.remove(&contact(i)).is_some() {
                    assert_eq!(r.attr("type"), Some("result"));
                } else {
                    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
                }
            }
            Op::Reconnect => {
                let truth = sync(&s, &mut cache, &mut ver).await;
                assert_eq!(truth, model, "the server's roster is the model");
                assert_eq!(
                    cache, truth,
                    "cache + pushes equal the server's roster (ver {ver:?})"
                );
            }
            Op::Restart => {
                drop(writer.take());
                s.restart().await;
                writer = Some(s.login("juliet", "pw", "writer").await);
            }
        }
    }
    let truth = sync(&s, &mut cache, &mut ver).await;
    assert_eq!(truth, model);
    assert_eq!(cache, truth);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn rfc6121_2_6_cached_roster_plus_pushes_equals_the_server(ops in prop::collection::vec(op(), 1..30)) {
        actix_rt::System::new().block_on(run(ops));
    }
}
