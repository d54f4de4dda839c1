//! The sled engine: one file per area.

mod accounts;
mod check;
mod flusher;
mod offline;
mod privacy;
mod roster;
mod subscriptions;
mod vcard;

use std::path::Path;

use crate::{Result, StorageError};

/// The sled-backed store. Cheap to clone (sled handles are reference counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    accounts: sled::Tree,
    offline: sled::Tree,
    vcards: sled::Tree,
    roster: sled::Tree,
    roster_meta: sled::Tree,
    inbox: sled::Tree,
    outbox: sled::Tree,
    privacy: sled::Tree,
    privacy_meta: sled::Tree,
    flusher: flusher::Flusher,
}

impl Store {
    /// Opens (or creates) the database in `dir`. Fails with [`StorageError::Locked`] when
    /// another process holds it: sled allows one process per database.
    pub fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StorageError::Locked {
                    path: dir.display().to_string(),
                }
            }
            sled::Error::Io(ref io) if io.to_string().contains("lock") => StorageError::Locked {
                path: dir.display().to_string(),
            },
            other => StorageError::Db(other),
        })?;
        Ok(Store {
            accounts: db.open_tree("accounts")?,
            offline: db.open_tree("offline")?,
            vcards: db.open_tree("vcards")?,
            roster: db.open_tree("roster")?,
            roster_meta: db.open_tree("roster_meta")?,
            inbox: db.open_tree("inbox")?,
            outbox: db.open_tree("outbox")?,
            privacy: db.open_tree("privacy")?,
            privacy_meta: db.open_tree("privacy_meta")?,
            flusher: flusher::Flusher::start(db.clone()),
            db,
        })
    }

    /// Makes every write so far durable. Call before acknowledging a change to a client.
    ///
    /// Group commit: concurrent callers share one `fsync` (see [`flusher`]). sled's own
    /// `flush_async` is not used: it runs on sled's thread pool, which its I/O also needs, and
    /// deadlocks under many concurrent flushes.
    pub async fn flush(&self) -> Result<()> {
        self.flusher.flush().await
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain records always serialise")
}

fn utf8(what: &str, bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
pub(crate) fn creds(tag: u8) -> crate::Credentials {
    let keys = crate::ScramKeys {
        iterations: 4096,
        salt: vec![tag; 16],
        stored_key: vec![tag; 32],
        server_key: vec![tag; 32],
    };
    crate::Credentials {
        sha1: keys.clone(),
        sha256: keys,
    }
}

#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}
