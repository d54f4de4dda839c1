use sled::transaction::{ConflictableTransactionError, Transactional};

use super::{decode, encode, utf8, Engine};
use crate::{keys, AccountStore, Credentials, Result};

/// Every key stored for an account outside the accounts tree, per area.
struct AccountKeys {
    offline: Vec<sled::IVec>,
    roster: Vec<sled::IVec>,
    inbox: Vec<sled::IVec>,
    privacy: Vec<sled::IVec>,
}

impl Engine {
    fn account_keys(&self, bare: &str) -> Result<AccountKeys> {
        let prefix = keys::account_prefix(bare);
        let scan = |tree: &sled::Tree| -> Result<Vec<sled::IVec>> {
            Ok(tree
                .scan_prefix(&prefix)
                .keys()
                .collect::<std::result::Result<_, _>>()?)
        };
        Ok(AccountKeys {
            offline: scan(&self.offline)?,
            roster: scan(&self.roster)?,
            inbox: super::subscriptions::inbox_keys(self, bare)?,
            privacy: scan(&self.privacy)?,
        })
    }

    /// In one transaction: sets the account's credentials (`Some`, only if it does not exist:
    /// creation) or removes it (`None`: deletion), and removes everything else stored under its
    /// JID in every area (roster, roster version, inbox, offline, vCard, privacy lists and the
    /// blocklist), so that nothing of an earlier owner of the JID survives into a new account.
    /// Returns whether the account existed before.
    fn replace_account(&self, bare: &str, create: Option<&Credentials>) -> Result<bool> {
        let k = self.account_keys(bare)?;
        let account = keys::account(bare);
        self.forget_offline_count(bare);
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
                    let existed = match create {
                        // Creation changes nothing when the account exists.
                        Some(_) if accounts.get(&account)?.is_some() => return Ok(true),
                        Some(c) => accounts.insert(account.as_slice(), encode(c))?.is_some(),
                        None => accounts.remove(account.as_slice())?.is_some(),
                    };
                    for key in &k.offline {
                        offline.remove(key)?;
                    }
                    for key in &k.roster {
                        roster.remove(key)?;
                    }
                    roster_meta.remove(account.as_slice())?;
                    for key in &k.inbox {
                        inbox.remove(key)?;
                    }
                    vcards.remove(account.as_slice())?;
                    for key in &k.privacy {
                        privacy.remove(key)?;
                    }
                    privacy_meta.remove(account.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(existed)
                },
            )?;
        Ok(existed)
    }
}

impl AccountStore for Engine {
    fn create_account(&self, bare: &str, credentials: &Credentials) -> Result<bool> {
        Ok(!self.replace_account(bare, Some(credentials))?)
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
        self.replace_account(bare, None)
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

    /// Whatever an earlier owner of a JID left behind (written after its deletion by a
    /// writer that raced it) is gone when the JID is registered again.
    #[test]
    fn creating_an_account_clears_what_an_earlier_owner_left() {
        use crate::{OfflinePush, OfflineStore, VcardStore};
        let (_dir, store) = temp_store();
        assert!(store.create_account("a@x", &creds(1)).unwrap());
        assert!(store.delete_account("a@x").unwrap());
        let left = store.push_offline("a@x", "<message/>", 10).unwrap();
        assert_eq!(left, OfflinePush::Stored);
        store
            .set_vcard("a@x", "<vCard xmlns='vcard-temp'/>")
            .unwrap();
        assert!(store.create_account("a@x", &creds(2)).unwrap());
        assert!(store.offline_messages("a@x").unwrap().is_empty());
        assert_eq!(store.vcard("a@x").unwrap(), None);
        // Creation of an existing account changes nothing, not even its other areas.
        store.push_offline("a@x", "<message/>", 10).unwrap();
        assert!(!store.create_account("a@x", &creds(3)).unwrap());
        assert_eq!(store.offline_messages("a@x").unwrap().len(), 1);
        assert_eq!(store.credentials("a@x").unwrap(), Some(creds(2)));
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
