//! Privacy lists: tree `privacy` (account prefix + list name -> JSON list) and `privacy_meta`
//! (account -> name of the default list).

use sled::transaction::{ConflictableTransactionError, Transactional};

use super::{decode, encode, utf8, Engine};
use crate::{keys, PrivacyList, PrivacyStore, Result};

fn list_key(bare: &str, name: &str) -> Vec<u8> {
    let mut k = keys::account_prefix(bare);
    k.extend_from_slice(name.as_bytes());
    k
}

impl PrivacyStore for Engine {
    fn privacy_lists(&self, bare: &str) -> Result<Vec<PrivacyList>> {
        self.privacy
            .scan_prefix(keys::account_prefix(bare))
            .values()
            .map(|v| decode("privacy list", &v?))
            .collect()
    }

    fn privacy_list(&self, bare: &str, name: &str) -> Result<Option<PrivacyList>> {
        self.privacy
            .get(list_key(bare, name))?
            .map(|v| decode("privacy list", &v))
            .transpose()
    }

    fn privacy_list_names(&self, bare: &str) -> Result<Vec<String>> {
        let prefix = keys::account_prefix(bare);
        self.privacy
            .scan_prefix(&prefix)
            .keys()
            .map(|k| utf8("privacy list name", &k?[prefix.len()..]))
            .collect()
    }

    fn put_privacy_list(&self, bare: &str, list: &PrivacyList) -> Result<()> {
        self.privacy
            .insert(list_key(bare, &list.name), encode(list))?;
        Ok(())
    }

    fn remove_privacy_list(&self, bare: &str, name: &str) -> Result<bool> {
        let existed = (&self.privacy, &self.privacy_meta).transaction(|(lists, meta)| {
            let existed = lists.remove(list_key(bare, name))?.is_some();
            if meta.get(keys::account(bare))?.as_deref() == Some(name.as_bytes()) {
                meta.remove(keys::account(bare))?;
            }
            Ok::<_, ConflictableTransactionError<()>>(existed)
        })?;
        Ok(existed)
    }

    fn default_privacy_list(&self, bare: &str) -> Result<Option<String>> {
        self.privacy_meta
            .get(keys::account(bare))?
            .map(|v| utf8("default privacy list", &v))
            .transpose()
    }

    fn set_default_privacy_list(&self, bare: &str, name: Option<&str>) -> Result<()> {
        match name {
            Some(n) => self
                .privacy_meta
                .insert(keys::account(bare), n.as_bytes())
                .map(|_| ())?,
            None => self.privacy_meta.remove(keys::account(bare)).map(|_| ())?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{creds, temp_store};
    use crate::*;

    fn list(name: &str, order: u32) -> PrivacyList {
        PrivacyList {
            name: name.into(),
            items: vec![PrivacyItem {
                what: PrivacyMatch::Jid("eve@x".into()),
                allow: false,
                order,
                stanzas: PrivacyStanzas::default(),
            }],
        }
    }

    #[test]
    fn lists_default_and_removal() {
        let (_d, s) = temp_store();
        s.put_privacy_list("a@x", &list("work", 1)).unwrap();
        s.put_privacy_list("a@x", &list("home", 2)).unwrap();
        // Another account whose name extends a@x's is not mixed in.
        s.put_privacy_list("a@xx", &list("other", 3)).unwrap();
        let names: Vec<_> = s
            .privacy_lists("a@x")
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["home", "work"]);
        assert_eq!(s.privacy_list_names("a@x").unwrap(), ["home", "work"]);
        s.put_privacy_list("a@x", &list("work", 7)).unwrap();
        assert_eq!(
            s.privacy_list("a@x", "work").unwrap(),
            Some(list("work", 7))
        );
        s.set_default_privacy_list("a@x", Some("work")).unwrap();
        assert_eq!(
            s.default_privacy_list("a@x").unwrap().as_deref(),
            Some("work")
        );
        assert!(s.remove_privacy_list("a@x", "work").unwrap());
        assert!(!s.remove_privacy_list("a@x", "work").unwrap());
        assert_eq!(s.default_privacy_list("a@x").unwrap(), None);
        assert_eq!(s.privacy_lists("a@x").unwrap().len(), 1);
        // Deleting the account deletes its lists.
        s.create_account("a@x", &creds(1)).unwrap();
        s.set_default_privacy_list("a@x", Some("home")).unwrap();
        s.delete_account("a@x").unwrap();
        assert!(s.privacy_lists("a@x").unwrap().is_empty());
        assert_eq!(s.default_privacy_list("a@x").unwrap(), None);
        assert_eq!(s.privacy_lists("a@xx").unwrap().len(), 1);
    }
}
