//! Subscription state beside the roster: the `inbox` tree (pending requests and undelivered
//! notifications, keyed by [`keys::inbox`]) and the `outbox` tree (subscription stanzas on
//! their way to a local account, keyed by a sequence number). A change of the state machine
//! writes the roster entry, the account's roster meta, inbox slots and outbox entries in one
//! transaction.

use sled::transaction::Transactional;

use super::roster::{tx_decode, Entry, Meta, TxError};
use super::{encode, utf8, Engine};
use crate::{
    keys, InboxSlot, ItemWrite, OutboxKey, Result, RosterItem, SubscriptionStore,
    SubscriptionWrite, SubscriptionWritten,
};

impl SubscriptionStore for Engine {
    fn write_subscription(&self, bare: &str, w: &SubscriptionWrite) -> Result<SubscriptionWritten> {
        let meta_key = keys::account(bare);
        let item_key = keys::roster(bare, &w.contact);
        let outbox_keys = w
            .outbox
            .iter()
            .map(|_| self.db.generate_id().map(OutboxKey))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let written = (&self.roster, &self.roster_meta, &self.inbox, &self.outbox).transaction(
            |(roster, roster_meta, inbox, outbox)| {
                let mut done = SubscriptionWritten {
                    outbox: outbox_keys.clone(),
                    ..Default::default()
                };
                if w.item != ItemWrite::Keep {
                    let mut meta: Meta = match roster_meta.get(&meta_key)? {
                        Some(v) => tx_decode("roster meta", &v)?,
                        None => Meta::default(),
                    };
                    let old: Option<Entry> = match roster.get(&item_key)? {
                        Some(v) => Some(tx_decode("roster entry", &v)?),
                        None => None,
                    };
                    let was_live = old.as_ref().is_some_and(|o| !o.removed);
                    let ver = meta.ver + 1;
                    let entry = match &w.item {
                        ItemWrite::Put(item) => {
                            if !was_live {
                                meta.live += 1;
                            }
                            Some(Entry {
                                ver,
                                removed: false,
                                item: item.clone(),
                            })
                        }
                        ItemWrite::Remove if was_live => {
                            meta.live = meta.live.saturating_sub(1);
                            done.removed = old.map(|o| o.item);
                            Some(Entry {
                                ver,
                                removed: true,
                                item: RosterItem {
                                    jid: w.contact.clone(),
                                    ..RosterItem::default()
                                },
                            })
                        }
                        _ => None,
                    };
                    if let Some(entry) = entry {
                        meta.ver = ver;
                        roster.insert(item_key.as_slice(), encode(&entry))?;
                        roster_meta.insert(meta_key.as_slice(), encode(&meta))?;
                        done.ver = Some(ver);
                    }
                }
                for (slot, xml) in &w.inbox {
                    let k = keys::inbox(bare, &w.contact, slot.tag());
                    match xml {
                        Some(x) => inbox.insert(k, x.as_bytes())?,
                        None => inbox.remove(k)?,
                    };
                }
                for (key, xml) in outbox_keys.iter().zip(&w.outbox) {
                    outbox.insert(&key.0.to_be_bytes(), xml.as_bytes())?;
                }
                if let Some(key) = &w.delivered {
                    outbox.remove(&key.0.to_be_bytes())?;
                }
                Ok::<_, TxError>(done)
            },
        )?;
        Ok(written)
    }

    fn inbox(&self, bare: &str) -> Result<Vec<(String, InboxSlot, String)>> {
        let mut out = Vec::new();
        for kv in self.inbox.scan_prefix(keys::account_prefix(bare)) {
            let (k, v) = kv?;
            let Some((contact, tag)) = keys::inbox_parts(bare, &k) else {
                log::warn!("skipping a malformed inbox key of {bare}");
                continue;
            };
            let Some(slot) = InboxSlot::from_tag(tag) else {
                log::warn!("skipping an inbox entry of {bare} with an unknown slot");
                continue;
            };
            out.push((
                utf8("inbox contact", contact)?,
                slot,
                utf8("inbox stanza", &v)?,
            ));
        }
        Ok(out)
    }

    fn outbox(&self) -> Result<Vec<(OutboxKey, String)>> {
        self.outbox
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let seq: [u8; 8] = k.as_ref().try_into().map_err(|_| {
                    crate::StorageError::Corrupt("outbox key is not a sequence number".into())
                })?;
                Ok((
                    OutboxKey(u64::from_be_bytes(seq)),
                    utf8("outbox stanza", &v)?,
                ))
            })
            .collect()
    }

    fn outbox_done(&self, key: &OutboxKey) -> Result<()> {
        self.outbox.remove(key.0.to_be_bytes())?;
        Ok(())
    }
}

/// Inbox keys of an account, for deleting the account.
pub(super) fn inbox_keys(store: &Engine, bare: &str) -> Result<Vec<sled::IVec>> {
    Ok(store
        .inbox
        .scan_prefix(keys::account_prefix(bare))
        .keys()
        .collect::<std::result::Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::super::temp_store;
    use crate::{
        InboxSlot, ItemWrite, RosterItem, RosterStore, SubscriptionStore, SubscriptionWrite,
    };

    #[test]
    fn one_change_writes_item_inbox_and_outbox_together() {
        let (_d, s) = temp_store();
        let item = RosterItem {
            jid: "romeo@x".into(),
            ask: true,
            ..Default::default()
        };
        let w = s
            .write_subscription(
                "juliet@x",
                &SubscriptionWrite {
                    contact: "romeo@x".into(),
                    item: ItemWrite::Put(item.clone()),
                    inbox: vec![(InboxSlot::Request, Some("<presence/>".into()))],
                    outbox: vec!["<a/>".into(), "<b/>".into()],
                    delivered: None,
                },
            )
            .unwrap();
        assert_eq!(w.ver, Some(1));
        assert_eq!(s.roster_item("juliet@x", "romeo@x").unwrap(), Some(item));
        assert_eq!(
            s.inbox("juliet@x").unwrap(),
            vec![("romeo@x".into(), InboxSlot::Request, "<presence/>".into())]
        );
        assert!(s.inbox("juliet@").unwrap().is_empty());
        let out = s.outbox().unwrap();
        assert_eq!(
            out.iter().map(|(_, x)| x.as_str()).collect::<Vec<_>>(),
            ["<a/>", "<b/>"]
        );
        assert_eq!(out[0].0, w.outbox[0]);
        // The receiver consumes an entry while clearing the slot, without touching the item.
        let w2 = s
            .write_subscription(
                "juliet@x",
                &SubscriptionWrite {
                    contact: "romeo@x".into(),
                    inbox: vec![(InboxSlot::Request, None)],
                    delivered: Some(w.outbox[0].clone()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(w2.ver, None);
        assert_eq!(s.roster_version("juliet@x").unwrap(), 1);
        assert!(s.inbox("juliet@x").unwrap().is_empty());
        assert_eq!(s.outbox().unwrap().len(), 1);
        let w3 = s
            .write_subscription(
                "juliet@x",
                &SubscriptionWrite {
                    contact: "romeo@x".into(),
                    item: ItemWrite::Remove,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(w3.ver, Some(2));
        assert!(w3.removed.unwrap().ask);
        assert_eq!(s.roster_len("juliet@x").unwrap(), 0);
    }
}
