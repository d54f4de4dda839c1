use sled::transaction::{ConflictableTransactionError, Transactional};

use super::{decode, encode, utf8, Store};
use crate::{keys, AccountStore, Credentials, Result};

impl AccountStore for Store {
    fn create_account(&self, bare: &str, credentials: &Credentials) -> Result<bool> {
        let created = self.accounts.compare_and_swap(
            keys::account(bare),
            None::<&[u8]>,
            Some(encode(credentials)),
        )?;
        Ok(created.is_ok())
    }

    fn credentials(&self, bare: &str) -> Result<Option<Credentials>> {
        self.accounts
            .get(keys::account(bare))?
            .map(|v| decode("account credentials", &v))
            .transpose()
    }

    fn set_credentials(&self, bare: &str, credentials: &Credentials) -> Result<bool> {
        let key = keys::account(bare);
        let new = encode(credentials);
        let res = self
            .accounts
            .fetch_and_update(&key, |old| old.map(|_| new.clone()))?;
        Ok(res.is_some())
    }

    fn delete_account(&self, bare: &str) -> Result<bool> {
        let prefix = keys::account_prefix(bare);
        let offline_keys: Vec<_> = self
            .offline
            .scan_prefix(&prefix)
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        let roster_keys: Vec<_> = self
            .roster
            .scan_prefix(&prefix)
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        let inbox_keys = super::subscriptions::inbox_keys(self, bare)?;
        let privacy_keys: Vec<_> = self
            .privacy
            .scan_prefix(&prefix)
            .keys()
            .collect::<std::result::Result<_, _>>()?;
        let existed = (
            &self.accounts,
            &self.offline,
            &self.vcards,
            &self.roster,
            &self.roster_meta,
            &self.inbox,
            &self.privacy,
            &self.privacy_meta,
        )
            .transaction(
                |(accounts, offline, vcards, roster, roster_meta, inbox, privacy, privacy_meta)| {
                    let existed = accounts.remove(keys::account(bare))?.is_some();
                    for k in &offline_keys {
                        offline.remove(k)?;
                    }
                    for k in &roster_keys {
                        roster.remove(k)?;
                    }
                    roster_meta.remove(keys::account(bare))?;
                    for k in &inbox_keys {
                        inbox.remove(k)?;
                    }
                    vcards.remove(keys::account(bare))?;
                    for k in &privacy_keys {
                        privacy.remove(k)?;
                    }
                    privacy_meta.remove(keys::account(bare))?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                },
            )?;
        Ok(existed)
    }

    fn account_exists(&self, bare: &str) -> Result<bool> {
        Ok(self.accounts.contains_key(keys::account(bare))?)
    }

    fn accounts(&self) -> Result<Vec<String>> {
        self.accounts
            .iter()
            .keys()
            .map(|k| utf8("account key", &k?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{creds, temp_store};
    use crate::AccountStore;

    #[test]
    fn create_is_exclusive_and_delete_removes() {
        let (_dir, store) = temp_store();
        assert!(store.create_account("a@x", &creds(1)).unwrap());
        assert!(!store.create_account("a@x", &creds(2)).unwrap());
        assert_eq!(store.credentials("a@x").unwrap(), Some(creds(1)));
        assert!(store.set_credentials("a@x", &creds(3)).unwrap());
        assert!(!store.set_credentials("nobody@x", &creds(3)).unwrap());
        assert_eq!(store.accounts().unwrap(), vec!["a@x".to_string()]);
        assert!(store.delete_account("a@x").unwrap());
        assert!(!store.delete_account("a@x").unwrap());
        assert!(!store.account_exists("a@x").unwrap());
    }

    #[test]
    fn credentials_written_as_number_arrays_by_earlier_versions_still_read() {
        let (_dir, store) = temp_store();
        let old = creds(7);
        let keys = |k: &crate::ScramKeys| {
            serde_json::json!({
                "iterations": k.iterations,
                "salt": k.salt,
                "stored_key": k.stored_key,
                "server_key": k.server_key,
            })
        };
        let record = serde_json::json!({"sha1": keys(&old.sha1), "sha256": keys(&old.sha256)});
        assert!(record.to_string().contains("[7,7,7"), "{record}");
        store
            .accounts
            .insert(crate::keys::account("old@x"), record.to_string().as_bytes())
            .unwrap();
        assert_eq!(store.credentials("old@x").unwrap(), Some(old));
        // Written again, the keys are base64.
        assert!(store.set_credentials("old@x", &creds(7)).unwrap());
        let raw = store
            .accounts
            .get(crate::keys::account("old@x"))
            .unwrap()
            .unwrap();
        let text = std::str::from_utf8(&raw).unwrap();
        assert!(text.contains("\"salt\":\"BwcH"), "{text}");
        assert_eq!(store.credentials("old@x").unwrap(), Some(creds(7)));
    }
}
