//! Rosters in two trees: `roster` holds one entry per contact (live item or tombstone, each with
//! the version of its last change), `roster_meta` one record per account (current version,
//! compaction floor, live item count). Every write touches both in one transaction.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::{decode, encode, Engine};
use crate::{
    keys, ItemWrite, Result, Roster, RosterChange, RosterItem, RosterStore, SubscriptionStore,
    SubscriptionWrite,
};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Meta {
    /// The account's roster version: the version of its latest change.
    pub(super) ver: u64,
    /// Changes after `floor` are all known; a client at a version below it gets the full roster.
    pub(super) floor: u64,
    /// Live items, so the size limit is checked without a scan.
    pub(super) live: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) ver: u64,
    #[serde(default)]
    pub(super) removed: bool,
    pub(super) item: RosterItem,
}

pub(super) type TxError = ConflictableTransactionError<String>;

pub(super) fn tx_decode<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> std::result::Result<T, TxError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ConflictableTransactionError::Abort(format!("{what}: {e}")))
}

impl Engine {
    fn roster_meta(&self, bare: &str) -> Result<Meta> {
        self.roster_meta
            .get(keys::account(bare))?
            .map(|v| decode("roster meta", &v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn roster_entries(&self, bare: &str) -> Result<Vec<Entry>> {
        self.roster
            .scan_prefix(keys::account_prefix(bare))
            .values()
            .map(|v| decode::<Entry>("roster entry", &v?))
            .collect()
    }
}

impl RosterStore for Engine {
    fn roster(&self, bare: &str) -> Result<Roster> {
        let meta = self.roster_meta(bare)?;
        let items = self
            .roster_entries(bare)?
            .into_iter()
            .filter(|e| !e.removed)
            .map(|e| (e.item, e.ver))
            .collect();
        Ok(Roster {
            ver: meta.ver,
            items,
        })
    }

    fn roster_version(&self, bare: &str) -> Result<u64> {
        Ok(self.roster_meta(bare)?.ver)
    }

    fn roster_item(&self, bare: &str, contact: &str) -> Result<Option<RosterItem>> {
        Ok(self
            .roster
            .get(keys::roster(bare, contact))?
            .map(|v| decode::<Entry>("roster entry", &v))
            .transpose()?
            .filter(|e| !e.removed)
            .map(|e| e.item))
    }

    fn roster_len(&self, bare: &str) -> Result<usize> {
        Ok(self.roster_meta(bare)?.live as usize)
    }

    fn put_roster_item(&self, bare: &str, item: &RosterItem) -> Result<u64> {
        let w = self.write_subscription(
            bare,
            &SubscriptionWrite {
                contact: item.jid.clone(),
                item: ItemWrite::Put(item.clone()),
                ..Default::default()
            },
        )?;
        Ok(w.ver.expect("a put always writes"))
    }

    fn remove_roster_item(&self, bare: &str, contact: &str) -> Result<Option<(RosterItem, u64)>> {
        let w = self.write_subscription(
            bare,
            &SubscriptionWrite {
                contact: contact.to_string(),
                item: ItemWrite::Remove,
                ..Default::default()
            },
        )?;
        Ok(w.removed.zip(w.ver))
    }

    fn roster_changes_since(&self, bare: &str, since: u64) -> Result<Option<Vec<RosterChange>>> {
        let meta = self.roster_meta(bare)?;
        if since > meta.ver || since < meta.floor {
            return Ok(None);
        }
        let mut changes: Vec<RosterChange> = self
            .roster_entries(bare)?
            .into_iter()
            .filter(|e| e.ver > since)
            .map(|e| match e.removed {
                true => RosterChange::Removed {
                    jid: e.item.jid,
                    ver: e.ver,
                },
                false => RosterChange::Set {
                    item: e.item,
                    ver: e.ver,
                },
            })
            .collect();
        changes.sort_by_key(RosterChange::ver);
        Ok(Some(changes))
    }

    fn compact_roster(&self, bare: &str, keep_versions: u64) -> Result<()> {
        let meta = self.roster_meta(bare)?;
        let horizon = meta.ver.saturating_sub(keep_versions);
        if horizon <= meta.floor {
            return Ok(());
        }
        let doomed: Vec<_> = self
            .roster
            .scan_prefix(keys::account_prefix(bare))
            .filter_map(|kv| {
                let (k, v) = kv.ok()?;
                let e: Entry = serde_json::from_slice(&v).ok()?;
                (e.removed && e.ver <= horizon).then_some(k)
            })
            .collect();
        let meta_key = keys::account(bare);
        (&self.roster, &self.roster_meta).transaction(|(roster, roster_meta)| {
            let mut m: Meta = match roster_meta.get(&meta_key)? {
                Some(v) => tx_decode("roster meta", &v)?,
                None => Meta::default(),
            };
            // Only tombstones at or below the horizon go; anything newer stays known.
            m.floor = m.floor.max(horizon);
            for k in &doomed {
                roster.remove(k)?;
            }
            roster_meta.insert(meta_key.as_slice(), encode(&m))?;
            Ok::<_, TxError>(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::temp_store;
    use crate::{RosterChange, RosterItem, RosterStore};

    fn item(jid: &str, name: &str) -> RosterItem {
        RosterItem {
            jid: jid.into(),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn versions_increase_and_changes_since_are_granular() {
        let (_dir, s) = temp_store();
        assert_eq!(s.put_roster_item("a@x", &item("b@x", "B")).unwrap(), 1);
        assert_eq!(s.put_roster_item("a@x", &item("c@x", "C")).unwrap(), 2);
        assert_eq!(s.put_roster_item("a@x", &item("b@x", "Bee")).unwrap(), 3);
        let (removed, ver) = s.remove_roster_item("a@x", "c@x").unwrap().unwrap();
        assert_eq!((removed.jid.as_str(), ver), ("c@x", 4));
        assert_eq!(s.remove_roster_item("a@x", "c@x").unwrap(), None);
        assert_eq!(s.roster_len("a@x").unwrap(), 1);
        let r = s.roster("a@x").unwrap();
        assert_eq!(r.ver, 4);
        assert_eq!(s.roster_version("a@x").unwrap(), 4);
        assert_eq!(r.items, vec![(item("b@x", "Bee"), 3)]);
        // Since version 2: b's update (3) and c's removal (4), in order.
        let c = s.roster_changes_since("a@x", 2).unwrap().unwrap();
        assert_eq!(
            c,
            vec![
                RosterChange::Set {
                    item: item("b@x", "Bee"),
                    ver: 3
                },
                RosterChange::Removed {
                    jid: "c@x".into(),
                    ver: 4
                },
            ]
        );
        assert_eq!(s.roster_changes_since("a@x", 4).unwrap(), Some(vec![]));
        assert_eq!(
            s.roster_changes_since("a@x", 9).unwrap(),
            None,
            "a version never issued"
        );
    }

    #[test]
    fn compaction_drops_old_tombstones_and_raises_the_floor() {
        let (_dir, s) = temp_store();
        for i in 0..5 {
            s.put_roster_item("a@x", &item(&format!("{i}@x"), "n"))
                .unwrap();
        }
        s.remove_roster_item("a@x", "0@x").unwrap(); // ver 6
        s.remove_roster_item("a@x", "1@x").unwrap(); // ver 7
        s.compact_roster("a@x", 1).unwrap(); // keep only changes after 6
        assert_eq!(
            s.roster_changes_since("a@x", 5).unwrap(),
            None,
            "compacted past"
        );
        let c = s.roster_changes_since("a@x", 6).unwrap().unwrap();
        assert_eq!(
            c,
            vec![RosterChange::Removed {
                jid: "1@x".into(),
                ver: 7
            }]
        );
        assert_eq!(s.roster_len("a@x").unwrap(), 3);
        // Re-adding after removal counts as live again.
        s.put_roster_item("a@x", &item("0@x", "again")).unwrap();
        assert_eq!(s.roster_len("a@x").unwrap(), 4);
    }
}
