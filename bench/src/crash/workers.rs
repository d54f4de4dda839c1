//! The load: each worker owns its accounts, runs one operation at a time, writes what it sends
//! into the ledger before sending and what the server acknowledged after. Workers end on the
//! first I/O error (the server was killed) and are aborted by the driver after the kill.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cordial_bench::client::{self, Error, Session, Target};
use minidom::Element;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

use crate::ledger::{self, Ledger, KEYS};

pub const NS_ROSTER: &str = "jabber:iq:roster";
pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
pub const NS_PRIVACY: &str = "jabber:iq:privacy";
/// How long any single answer may take while the server runs.
pub const TIMEOUT: Duration = Duration::from_secs(15);

pub type Shared = Arc<Mutex<Ledger>>;

pub fn spawn_all(target: &Target, ledger: &Shared, seed: u64) -> Vec<JoinHandle<()>> {
    let sizes = ledger.lock().unwrap().sizes();
    let rng = |n: usize| StdRng::seed_from_u64(seed.wrapping_add(n as u64));
    let (t, l) = (target, ledger);
    let mut tasks = Vec::new();
    for i in 0..sizes.roster_users {
        tasks.push(tokio::spawn(run(roster(t.clone(), l.clone(), i, rng(i)))));
    }
    for i in 0..sizes.privacy_users {
        tasks.push(tokio::spawn(run(privacy(
            t.clone(),
            l.clone(),
            i,
            rng(100 + i),
        ))));
    }
    for i in 0..sizes.pairs {
        tasks.push(tokio::spawn(run(pair(t.clone(), l.clone(), i))));
    }
    for i in 0..sizes.offline {
        tasks.push(tokio::spawn(run(offline_sender(
            t.clone(),
            l.clone(),
            i,
            rng(200 + i),
        ))));
    }
    tasks
}

async fn run(f: impl std::future::Future<Output = Result<(), Error>>) {
    // An error here is the kill (or a timeout, which the verification then explains).
    let _ = f.await;
}

/// Logs in with `resource`, within [`TIMEOUT`].
pub async fn login(t: &Target, user: &str, resource: &str) -> Result<Session, Error> {
    tokio::time::timeout(TIMEOUT, client::login(t, user, resource, None))
        .await
        .map_err(|_| "login timed out")?
}

/// The next element that matches, within [`TIMEOUT`]; others are skipped.
pub async fn until(s: &mut Session, pred: impl Fn(&Element) -> bool) -> Result<Element, Error> {
    tokio::time::timeout(TIMEOUT, s.reader.until(pred))
        .await
        .map_err(|_| Error::from("no answer in time"))?
}

/// Sends an iq and returns its reply (result or error), skipping everything else.
pub async fn iq(
    s: &mut Session,
    id: &str,
    type_: &str,
    to: Option<&str>,
    payload: &str,
) -> Result<Element, Error> {
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    s.send(&format!("<iq type='{type_}' id='{id}'{to}>{payload}</iq>"))
        .await?;
    until(s, |e| e.name() == "iq" && e.attr("id") == Some(id)).await
}

/// An iq reply that must be a result: `iq(..).await.and_then(succeeded)`.
pub fn succeeded(reply: Element) -> Result<Element, Error> {
    if reply.attr("type") != Some("result") {
        let id = reply.attr("id").unwrap_or_default();
        return Err(format!("iq {id} failed: {}", String::from(&reply)).into());
    }
    Ok(reply)
}

/// The roster item a push carries, if `e` is a roster push for `jid`.
pub fn pushed_item<'a>(e: &'a Element, jid: &str) -> Option<&'a Element> {
    if e.name() != "iq" || e.attr("type") != Some("set") {
        return None;
    }
    e.get_child("query", NS_ROSTER)?
        .children()
        .find(|i| i.name() == "item" && i.attr("jid") == Some(jid))
}

/// A pair's stage as account a sees its item for b: 0 none, 1 request pending, 2 subscribed.
pub fn stage_a(item: Option<&Element>) -> u64 {
    match item {
        Some(i) if matches!(i.attr("subscription"), Some("to") | Some("both")) => 2,
        Some(i) if i.attr("ask") == Some("subscribe") => 1,
        _ => 0,
    }
}

/// Whether account b's item for a says a is subscribed to b.
pub fn b_has_from(item: Option<&Element>) -> bool {
    matches!(
        item.and_then(|i| i.attr("subscription")),
        Some("from") | Some("both")
    )
}

async fn roster(t: Target, l: Shared, i: usize, mut rng: StdRng) -> Result<(), Error> {
    let mut s = login(&t, &ledger::roster_user(i), "work").await?;
    iq(
        &mut s,
        "get",
        "get",
        None,
        &format!("<query xmlns='{NS_ROSTER}' ver=''/>"),
    )
    .await
    .and_then(succeeded)?;
    for n in 0u64.. {
        let k = rng.gen_range(0..KEYS);
        let jid = ledger::contact(k);
        let (value, last_ver) = {
            let mut l = l.lock().unwrap();
            let slot = l.roster.entry((i, k)).or_default();
            let value = match slot.acked.is_some() && rng.gen_bool(0.3) {
                true => None,
                false => Some(format!("n{n}-{}", rng.gen::<u32>())),
            };
            slot.send(value.clone());
            (value, l.roster_ver[i])
        };
        let item = match &value {
            Some(name) => format!(
                "<item jid='{jid}' name='{name}'><group>g{}</group></item>",
                n % 3
            ),
            None => format!("<item jid='{jid}' subscription='remove'/>"),
        };
        let id = format!("r{n}");
        s.send(&format!(
            "<iq type='set' id='{id}'><query xmlns='{NS_ROSTER}'>{item}</query></iq>"
        ))
        .await?;
        // The reply, and on the way the push of this change with its version.
        let mut pushed_ver = None;
        let is_reply = |e: &Element| e.attr("id") == Some(id.as_str());
        let reply = loop {
            let e = until(&mut s, |e| is_reply(e) || pushed_item(e, &jid).is_some()).await?;
            if is_reply(&e) {
                break e;
            }
            pushed_ver = e
                .get_child("query", NS_ROSTER)
                .and_then(|q| q.attr("ver"))
                .and_then(|v| v.parse::<u64>().ok());
        };
        if reply.attr("type") != Some("result") {
            return Err(format!("roster set refused: {}", String::from(&reply)).into());
        }
        let mut l = l.lock().unwrap();
        l.roster.get_mut(&(i, k)).expect("sent above").ack();
        l.count("roster", 1);
        match pushed_ver {
            Some(v) if v > last_ver => l.roster_ver[i] = v,
            Some(v) => l.inconsistent.push(format!(
                "{}: roster push version {v} not above the acknowledged {last_ver}",
                ledger::roster_user(i)
            )),
            // The push may come after the result; versions are still checked at verification.
            _ => {}
        }
    }
    Ok(())
}

async fn privacy(t: Target, l: Shared, i: usize, mut rng: StdRng) -> Result<(), Error> {
    let mut s = login(&t, &ledger::privacy_user(i), "work").await?;
    for n in 0u64.. {
        let id = format!("p{n}");
        // The entity blocked or unblocked, or None for an edit of the list.
        let entity = rng.gen_bool(0.7).then(|| rng.gen_range(0..KEYS));
        let payload = if let Some(k) = entity {
            let mut l = l.lock().unwrap();
            let slot = l.blocked.entry((i, k)).or_default();
            let block = !slot.acked;
            slot.send(block);
            let verb = if block { "block" } else { "unblock" };
            format!(
                "<{verb} xmlns='{NS_BLOCKING}'><item jid='{}'/></{verb}>",
                ledger::blocked_entity(k)
            )
        } else {
            let mut l = l.lock().unwrap();
            let slot = &mut l.list[i];
            let items = match slot.acked > 0 && rng.gen_bool(0.2) {
                true => 0,
                false => (slot.acked % 6) + 1,
            };
            slot.send(items);
            let body: String = (0..items)
                .map(|o| {
                    format!("<item type='jid' value='x{o}@example.net' action='deny' order='{o}'/>")
                })
                .collect();
            format!("<query xmlns='{NS_PRIVACY}'><list name='crash'>{body}</list></query>")
        };
        iq(&mut s, &id, "set", None, &payload)
            .await
            .and_then(succeeded)?;
        let mut l = l.lock().unwrap();
        match entity {
            Some(k) => l.blocked.get_mut(&(i, k)).expect("sent above").ack(),
            None => l.list[i].ack(),
        }
        l.count("privacy", 1);
    }
    Ok(())
}

fn presence_to(to: &str, type_: &str) -> String {
    format!("<presence to='{to}' type='{type_}'/>")
}

async fn pair(t: Target, l: Shared, p: usize) -> Result<(), Error> {
    let (a, b) = (ledger::pair_a(p), ledger::pair_b(p));
    let (a_jid, b_jid) = (ledger::bare(&a), ledger::bare(&b));
    let mut sa = login(&t, &a, "work").await?;
    let mut sb = login(&t, &b, "work").await?;
    for s in [&mut sa, &mut sb] {
        iq(
            s,
            "get",
            "get",
            None,
            &format!("<query xmlns='{NS_ROSTER}'/>"),
        )
        .await
        .and_then(succeeded)?;
        s.send("<presence/>").await?;
    }
    loop {
        let stage = {
            let mut l = l.lock().unwrap();
            let pair = &mut l.pairs[p];
            pair.sent = pair.acked + 1;
            pair.acked % 3
        };
        match stage {
            0 => {
                sa.send(&presence_to(&b_jid, "subscribe")).await?;
                until(&mut sa, |e| stage_a(pushed_item(e, &b_jid)) == 1).await?;
            }
            1 => {
                // The request reaches b live, or again at b's initial presence if it was
                // stored before a kill (the verification after each restart checks that).
                until(&mut sb, |e| {
                    e.name() == "presence"
                        && e.attr("type") == Some("subscribe")
                        && e.attr("from") == Some(a_jid.as_str())
                })
                .await?;
                sb.send(&presence_to(&a_jid, "subscribed")).await?;
                until(&mut sb, |e| b_has_from(pushed_item(e, &a_jid))).await?;
                until(&mut sa, |e| stage_a(pushed_item(e, &b_jid)) == 2).await?;
            }
            _ => {
                sa.send(&presence_to(&b_jid, "unsubscribe")).await?;
                until(&mut sa, |e| {
                    pushed_item(e, &b_jid).is_some_and(|i| stage_a(Some(i)) == 0)
                })
                .await?;
                until(&mut sb, |e| {
                    pushed_item(e, &a_jid).is_some_and(|i| !b_has_from(Some(i)))
                })
                .await?;
            }
        }
        let mut l = l.lock().unwrap();
        l.pairs[p].acked += 1;
        l.count("subscription", 1);
    }
}

async fn offline_sender(t: Target, l: Shared, o: usize, mut rng: StdRng) -> Result<(), Error> {
    let rcpt = ledger::bare(&ledger::offline_rcpt(o));
    let mut s = login(&t, &ledger::offline_sender(o), "work").await?;
    for n in 0u64.. {
        let batch: Vec<u64> = {
            let mut l = l.lock().unwrap();
            let off = &mut l.offline[o];
            let count = rng.gen_range(1..=5);
            let ids: Vec<u64> = (off.next..off.next + count).collect();
            off.next += count;
            off.sent.extend(&ids);
            ids
        };
        let mut out = String::new();
        for id in &batch {
            out.push_str(&format!(
                "<message to='{rcpt}' id='m{id}' type='chat'><body>m{id}</body></message>"
            ));
        }
        s.send(&out).await?;
        // The answer to the iq that follows the messages is the acknowledgement (RFC 6120
        // §10.1: the messages before it are processed, i.e. stored durably). Every other batch
        // asks the recipient's account, whose actor handles the iq after the messages; the
        // others ping the server, which answers by itself once the messages are stored.
        let (to, payload) = match n % 2 {
            0 => (
                Some(rcpt.as_str()),
                "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            ),
            _ => (None, "<ping xmlns='urn:xmpp:ping'/>"),
        };
        iq(&mut s, &format!("a{n}"), "get", to, payload)
            .await
            .and_then(succeeded)?;
        let mut l = l.lock().unwrap();
        l.offline[o].acked.extend(&batch);
        l.count("offline message", batch.len() as u64);
    }
    Ok(())
}
