//! `cordial check`: the stored state's own invariants, read with the server stopped.

use std::collections::{BTreeMap, HashSet};

use super::roster::{Entry, Meta};
use super::{decode, Engine};
use crate::{Credentials, PrivacyList, Result};

/// The account part of a per-account key (`bare || 0x00 || suffix`).
fn owner(key: &[u8]) -> Option<&[u8]> {
    key.iter().position(|b| *b == 0).map(|i| &key[..i])
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Engine {
    /// Every problem found in the stored state, in words; empty when it is consistent:
    /// records decode, every per-account record belongs to an existing account, each roster
    /// has its version record, every roster entry carries a version no higher than the roster's
    /// and no two entries of a roster share one (versions strictly increase with each change),
    /// the live-item count matches, and a default privacy list exists.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut accounts = HashSet::new();
        for kv in self.accounts.iter() {
            let (k, v) = kv?;
            if let Err(e) = decode::<Credentials>("account", &v) {
                problems.push(format!("account {}: {e}", show(&k)));
            }
            accounts.insert(k.to_vec());
        }
        let mut metas = BTreeMap::new();
        for kv in self.roster_meta.iter() {
            let (k, v) = kv?;
            match decode::<Meta>("roster meta", &v) {
                Ok(m) => {
                    if m.floor > m.ver {
                        problems.push(format!(
                            "roster of {}: floor {} above version {}",
                            show(&k),
                            m.floor,
                            m.ver
                        ));
                    }
                    metas.insert(k.to_vec(), m);
                }
                Err(e) => problems.push(format!("roster meta of {}: {e}", show(&k))),
            }
            if !accounts.contains(k.as_ref()) {
                problems.push(format!("roster meta of missing account {}", show(&k)));
            }
        }
        let mut seen: BTreeMap<Vec<u8>, (u64, HashSet<u64>)> = BTreeMap::new();
        for kv in self.roster.iter() {
            let (k, v) = kv?;
            let Some(bare) = owner(&k) else {
                problems.push(format!("roster key without an account: {}", show(&k)));
                continue;
            };
            let entry = match decode::<Entry>("roster entry", &v) {
                Ok(e) => e,
                Err(e) => {
                    problems.push(format!("roster of {}: {e}", show(bare)));
                    continue;
                }
            };
            let contact = &k[bare.len() + 1..];
            if entry.item.jid.as_bytes() != contact {
                problems.push(format!(
                    "roster of {}: entry {} holds the item of {}",
                    show(bare),
                    show(contact),
                    entry.item.jid
                ));
            }
            let Some(meta) = metas.get(bare) else {
                problems.push(format!("roster of {} has no version record", show(bare)));
                continue;
            };
            if entry.ver == 0 || entry.ver > meta.ver {
                problems.push(format!(
                    "roster of {}: item {} has version {} (roster version {})",
                    show(bare),
                    entry.item.jid,
                    entry.ver,
                    meta.ver
                ));
            }
            let (live, vers) = seen.entry(bare.to_vec()).or_default();
            if !vers.insert(entry.ver) {
                problems.push(format!(
                    "roster of {}: two entries share version {}",
                    show(bare),
                    entry.ver
                ));
            }
            if !entry.removed {
                *live += 1;
            }
        }
        for (bare, meta) in &metas {
            let live = seen.get(bare).map(|(l, _)| *l).unwrap_or(0);
            if live != meta.live {
                problems.push(format!(
                    "roster of {}: {} live items, its record says {}",
                    show(bare),
                    live,
                    meta.live
                ));
            }
        }
        for (tree, name) in [
            (&self.offline, "offline message"),
            (&self.inbox, "stored subscription request"),
            (&self.privacy, "privacy list"),
        ] {
            for k in tree.iter().keys() {
                let k = k?;
                match owner(&k) {
                    Some(bare) if accounts.contains(bare) => {}
                    _ => problems.push(format!("{name} of a missing account: {}", show(&k))),
                }
            }
        }
        for kv in self.privacy.iter() {
            let (k, v) = kv?;
            if let Err(e) = decode::<PrivacyList>("privacy list", &v) {
                problems.push(format!("{}: {e}", show(&k)));
            }
        }
        for kv in self.privacy_meta.iter() {
            let (k, v) = kv?;
            let mut key = k.to_vec();
            key.push(0);
            key.extend_from_slice(&v);
            if !self.privacy.contains_key(&key)? {
                problems.push(format!(
                    "default privacy list {} of {} does not exist",
                    show(&v),
                    show(&k)
                ));
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{creds, encode, temp_store};
    use crate::*;

    #[test]
    fn a_consistent_store_passes_and_each_broken_invariant_is_reported() {
        let (_dir, store) = temp_store();
        store.create_account("a@x", &creds(1)).unwrap();
        let item = |jid: &str| RosterItem {
            jid: jid.into(),
            name: None,
            groups: vec![],
            subscription: Subscription::None,
            ask: false,
            approved: false,
        };
        store.put_roster_item("a@x", &item("b@x")).unwrap();
        store.put_roster_item("a@x", &item("c@x")).unwrap();
        assert_eq!(store.check().unwrap(), Vec::<String>::new());

        // An entry whose version is above the roster's (a lost version record update).
        let mut e: super::Entry = super::decode(
            "roster entry",
            &store
                .roster
                .get(keys::roster("a@x", "c@x"))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        e.ver = 99;
        store
            .roster
            .insert(keys::roster("a@x", "c@x"), encode(&e))
            .unwrap();
        // A default list that does not exist, and an offline message of nobody.
        store.set_default_privacy_list("a@x", Some("gone")).unwrap();
        store
            .offline
            .insert(keys::offline("ghost@x", 1), "<message/>")
            .unwrap();
        let problems = store.check().unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("version 99"), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("ghost@x")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("gone")), "{problems:?}");
    }
}
