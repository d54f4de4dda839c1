use super::{utf8, Engine};
use crate::{keys, OfflinePush, OfflineStore, OfflineTotals, Result, StorageError};

impl Engine {
    /// The queue of `bare` changed in a way not counted here (messages removed, the account
    /// deleted): it is counted again on next use.
    pub(crate) fn forget_offline_count(&self, bare: &str) {
        self.offline_counts
            .lock()
            .expect("offline counts lock")
            .remove(bare);
    }
}

impl OfflineStore for Engine {
    fn push_offline(&self, bare: &str, stanza_xml: &str, quota: usize) -> Result<OfflinePush> {
        // The account's actor is the only writer of its queue, so the count read here still
        // holds when the message is inserted.
        let count = self.offline_count(bare)?;
        if count >= quota {
            return Ok(OfflinePush::QuotaExceeded);
        }
        let seq = self.db.generate_id()?;
        self.offline
            .insert(keys::offline(bare, seq), stanza_xml.as_bytes())?;
        self.offline_counts
            .lock()
            .expect("offline counts lock")
            .insert(bare.into(), count + 1);
        Ok(OfflinePush::Stored)
    }

    fn offline_messages(&self, bare: &str) -> Result<Vec<(u64, String)>> {
        self.offline
            .scan_prefix(keys::account_prefix(bare))
            .map(|kv| {
                let (k, v) = kv?;
                let seq = keys::offline_seq(&k)
                    .ok_or_else(|| StorageError::Corrupt("offline key".into()))?;
                Ok((seq, utf8("offline message", &v)?))
            })
            .collect()
    }

    fn remove_offline(&self, bare: &str, ids: &[u64]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(keys::offline(bare, *id));
        }
        self.forget_offline_count(bare);
        self.offline.apply_batch(batch)?;
        Ok(())
    }

    /// Counted once per account (a scan of its queue), then kept: a scan per stored message
    /// made a long queue quadratic, and while the disk is full every scan can make sled try
    /// (and fail) to rewrite the pages it reads.
    fn offline_count(&self, bare: &str) -> Result<usize> {
        if let Some(n) = self
            .offline_counts
            .lock()
            .expect("offline counts lock")
            .get(bare)
        {
            return Ok(*n);
        }
        let mut n = 0;
        for key in self.offline.scan_prefix(keys::account_prefix(bare)).keys() {
            key?;
            n += 1;
        }
        self.offline_counts
            .lock()
            .expect("offline counts lock")
            .insert(bare.into(), n);
        Ok(n)
    }

    fn offline_totals(&self) -> Result<OfflineTotals> {
        let mut totals = OfflineTotals::default();
        // Keys are the account prefix and 8 bytes of sequence number, grouped by account.
        let mut current: Option<Vec<u8>> = None;
        let mut run = 0;
        for key in self.offline.iter().keys() {
            let key = key?;
            let account = key
                .len()
                .checked_sub(8)
                .map(|n| &key[..n])
                .ok_or_else(|| StorageError::Corrupt("offline key".into()))?;
            if current.as_deref() != Some(account) {
                totals.longest = totals.longest.max(run);
                totals.queues += 1;
                current = Some(account.to_vec());
                run = 0;
            }
            run += 1;
            totals.messages += 1;
        }
        totals.longest = totals.longest.max(run);
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::super::temp_store;
    use crate::{OfflinePush, OfflineStore};

    #[test]
    fn messages_keep_order_and_quota_holds() {
        let (_dir, store) = temp_store();
        for i in 0..3 {
            let r = store.push_offline("b@x", &format!("<m{i}/>"), 3).unwrap();
            assert_eq!(r, OfflinePush::Stored);
        }
        assert_eq!(
            store.push_offline("b@x", "<m3/>", 3).unwrap(),
            OfflinePush::QuotaExceeded
        );
        let msgs = store.offline_messages("b@x").unwrap();
        let bodies: Vec<_> = msgs.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(bodies, ["<m0/>", "<m1/>", "<m2/>"]);
        store.remove_offline("b@x", &[msgs[0].0]).unwrap();
        assert_eq!(store.offline_count("b@x").unwrap(), 2);
        assert_eq!(store.offline_count("b@xy").unwrap(), 0);
    }

    #[test]
    fn totals_cover_every_queue() {
        let (_dir, store) = temp_store();
        assert_eq!(store.offline_totals().unwrap(), Default::default());
        for (who, n) in [("a@x", 2), ("b@x", 5), ("b@xy", 1)] {
            for i in 0..n {
                store.push_offline(who, &format!("<m{i}/>"), 10).unwrap();
            }
        }
        let t = store.offline_totals().unwrap();
        assert_eq!((t.messages, t.queues, t.longest), (8, 3, 5));
    }
}
