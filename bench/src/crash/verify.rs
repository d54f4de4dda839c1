//! After a restart: every account read back over the protocol and held against the ledger.

use std::time::Duration;

use cordial_bench::client::{Error, Session, Target};
use minidom::Element;

use crate::ledger::{self, KEYS};
use crate::workers::{
    b_has_from, iq, login, stage_a, succeeded, until, Shared, NS_BLOCKING, NS_PRIVACY, NS_ROSTER,
};

pub async fn all(t: &Target, l: &Shared, round: usize, with_offline: bool) {
    if let Err(e) = checks(t, l, round, with_offline).await {
        l.lock()
            .unwrap()
            .inconsistent
            .push(format!("round {round}: reading the state back failed: {e}"));
    }
}

async fn checks(t: &Target, l: &Shared, round: usize, with_offline: bool) -> Result<(), Error> {
    let sizes = l.lock().unwrap().sizes();
    for i in 0..sizes.roster_users {
        roster(t, l, i, round).await?;
    }
    for i in 0..sizes.privacy_users {
        privacy(t, l, i, round).await?;
    }
    for p in 0..sizes.pairs {
        pair(t, l, p, round).await?;
    }
    if with_offline {
        for o in 0..sizes.offline {
            offline_messages(t, l, o, round).await?;
        }
    }
    Ok(())
}

async fn roster_of(s: &mut Session) -> Result<Element, Error> {
    let r = iq(
        s,
        "v",
        "get",
        None,
        &format!("<query xmlns='{NS_ROSTER}' ver=''/>"),
    )
    .await
    .and_then(succeeded)?;
    r.get_child("query", NS_ROSTER)
        .cloned()
        .ok_or_else(|| "roster result without a query".into())
}

fn item<'a>(roster: &'a Element, jid: &str) -> Option<&'a Element> {
    roster
        .children()
        .find(|i| i.name() == "item" && i.attr("jid") == Some(jid))
}

async fn roster(t: &Target, l: &Shared, i: usize, round: usize) -> Result<(), Error> {
    let user = ledger::roster_user(i);
    let mut s = login(t, &user, "verify").await?;
    let q = roster_of(&mut s).await?;
    s.close().await;
    let mut l = l.lock().unwrap();
    let ver: u64 = q.attr("ver").unwrap_or("").parse().unwrap_or(0);
    if ver < l.roster_ver[i] {
        let acked = l.roster_ver[i];
        l.inconsistent.push(format!(
            "round {round}: {user}: roster version {ver} below the acknowledged {acked}"
        ));
    }
    for k in 0..KEYS {
        let seen = item(&q, &ledger::contact(k)).map(|e| e.attr("name").unwrap_or("").to_string());
        let slot = l.roster.entry((i, k)).or_default();
        let before = slot.clone();
        if !slot.settle(seen.clone()) {
            l.lost.push(format!(
                "round {round}: {user}: item {}: acknowledged {:?} (in flight {:?}), found {seen:?}",
                ledger::contact(k),
                before.acked,
                before.pending
            ));
        }
    }
    Ok(())
}

async fn privacy(t: &Target, l: &Shared, i: usize, round: usize) -> Result<(), Error> {
    let user = ledger::privacy_user(i);
    let mut s = login(t, &user, "verify").await?;
    let blocklist = iq(
        &mut s,
        "b",
        "get",
        None,
        &format!("<blocklist xmlns='{NS_BLOCKING}'/>"),
    )
    .await
    .and_then(succeeded)?;
    let list = iq(
        &mut s,
        "l",
        "get",
        None,
        &format!("<query xmlns='{NS_PRIVACY}'><list name='crash'/></query>"),
    )
    .await?;
    s.close().await;
    let blocked: Vec<String> = blocklist
        .get_child("blocklist", NS_BLOCKING)
        .map(|b| {
            b.children()
                .filter_map(|i| i.attr("jid"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let items = match list.attr("type") {
        Some("result") => list
            .get_child("query", NS_PRIVACY)
            .and_then(|q| q.get_child("list", NS_PRIVACY))
            .map(|l| l.children().filter(|i| i.name() == "item").count())
            .unwrap_or(0),
        _ if String::from(&list).contains("item-not-found") => 0,
        _ => return Err(format!("privacy list get failed: {}", String::from(&list)).into()),
    };
    let mut l = l.lock().unwrap();
    for k in 0..KEYS {
        let seen = blocked.contains(&ledger::blocked_entity(k));
        let slot = l.blocked.entry((i, k)).or_default();
        let before = slot.clone();
        if !slot.settle(seen) {
            l.lost.push(format!(
                "round {round}: {user}: block of {}: acknowledged {} (in flight {:?}), found {seen}",
                ledger::blocked_entity(k),
                before.acked,
                before.pending
            ));
        }
    }
    let before = l.list[i].clone();
    if !l.list[i].settle(items) {
        l.lost.push(format!(
            "round {round}: {user}: list 'crash': acknowledged {} items (in flight {:?}), found {items}",
            before.acked, before.pending
        ));
    }
    Ok(())
}

async fn pair(t: &Target, l: &Shared, p: usize, round: usize) -> Result<(), Error> {
    let (a, b) = (ledger::pair_a(p), ledger::pair_b(p));
    let (a_jid, b_jid) = (ledger::bare(&a), ledger::bare(&b));
    let mut sa = login(t, &a, "verify").await?;
    let mut sb = login(t, &b, "verify").await?;
    // Both sides must agree; a stanza between them that the server had stored before the kill
    // may still be on its way (the outbox is replayed at startup), so allow it a moment.
    let mut tries = 0;
    let (stage, b_from) = loop {
        let qa = roster_of(&mut sa).await?;
        let qb = roster_of(&mut sb).await?;
        let stage = stage_a(item(&qa, &b_jid));
        let b_from = b_has_from(item(&qb, &a_jid));
        if (stage == 2) == b_from || tries == 20 {
            break (stage, b_from);
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if (stage == 2) != b_from {
        l.lock().unwrap().inconsistent.push(format!(
            "round {round}: {a} sees stage {stage} towards {b}, but {b} {} from {a}",
            if b_from {
                "has a subscription"
            } else {
                "has no subscription"
            }
        ));
    }
    if stage == 1 {
        // The stored request must come again at b's initial presence.
        sb.send("<presence/>").await?;
        let again = until(&mut sb, |e| {
            e.name() == "presence"
                && e.attr("type") == Some("subscribe")
                && e.attr("from") == Some(a_jid.as_str())
        })
        .await;
        if again.is_err() {
            l.lock().unwrap().lost.push(format!(
                "round {round}: {a} -> {b}: pending request not redelivered at {b}'s presence"
            ));
        }
    }
    sa.close().await;
    sb.close().await;
    let mut l = l.lock().unwrap();
    let pair = &mut l.pairs[p];
    let (acked, sent) = (pair.acked, pair.sent);
    if stage == sent % 3 {
        pair.acked = sent;
    } else if stage == acked % 3 {
        pair.sent = acked;
    } else {
        l.lost.push(format!(
            "round {round}: {a} -> {b}: acknowledged stage {} (in flight {}), found {stage}",
            acked % 3,
            sent % 3
        ));
        // Go on from what the server holds.
        let pair = &mut l.pairs[p];
        pair.acked = acked - acked % 3 + stage;
        pair.sent = pair.acked;
    }
    Ok(())
}

async fn offline_messages(t: &Target, l: &Shared, o: usize, round: usize) -> Result<(), Error> {
    let user = ledger::offline_rcpt(o);
    let mut s = login(t, &user, "verify").await?;
    s.send("<presence/>").await?;
    // Stored messages come right after the initial presence; collect until the stream is quiet.
    let mut got = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(1500), s.reader.next()).await {
        match next? {
            Some(e) if e.name() == "message" => got.push(e),
            Some(_) => {}
            None => break,
        }
    }
    s.close().await;
    let mut l = l.lock().unwrap();
    let mut dup = Vec::new();
    let mut unknown = Vec::new();
    let off = &mut l.offline[o];
    for m in &got {
        let id = m
            .attr("id")
            .and_then(|i| i.strip_prefix('m'))
            .and_then(|i| i.parse::<u64>().ok());
        match id {
            Some(id) if !off.sent.contains(&id) && !off.delivered.contains(&id) => unknown.push(id),
            Some(id) if !off.delivered.insert(id) => dup.push(id),
            Some(_) => {}
            None => unknown.push(u64::MAX),
        }
    }
    let missing: Vec<u64> = off
        .acked
        .iter()
        .copied()
        .filter(|id| !off.delivered.contains(id))
        .collect();
    off.acked.clear();
    off.sent.clear();
    let n = got.len();
    if !missing.is_empty() {
        l.lost.push(format!(
            "round {round}: {user}: {} acknowledged offline messages not delivered (first ids {:?})",
            missing.len(),
            &missing[..missing.len().min(10)]
        ));
    }
    if !dup.is_empty() || !unknown.is_empty() {
        l.inconsistent.push(format!(
            "round {round}: {user}: of {n} offline messages, duplicated {dup:?}, never sent {unknown:?}"
        ));
    }
    Ok(())
}
