//! The sled engine: one file per area. [`crate::Store`] wraps it with health tracking and
//! in-process recovery; nothing outside this crate sees it.

mod accounts;
mod check;
mod offline;
mod privacy;
mod roster;
mod subscriptions;
mod vcard;

use std::path::Path;

use crate::{Result, StorageError};

/// How big sled's log segments are. sled's default (512 KiB) keeps up to a segment per tree
/// half-empty; smaller segments are cleaned sooner, so a small disk holds more.
const SEGMENT_SIZE: usize = 512 * 1024;

/// One open sled database and its trees.
pub(crate) struct Engine {
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
}

impl Engine {
    /// Opens (or creates) the database in `dir`. Fails with [`StorageError::Locked`] when
    /// another process (or a not yet released earlier handle) holds it.
    ///
    /// sled's own periodic flush is off: every flush goes through the store's flusher, so that
    /// a failed write to disk is always seen by someone who can answer for it.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .segment_size(SEGMENT_SIZE)
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StorageError::Locked {
                        path: dir.display().to_string(),
                    }
                }
                sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                    StorageError::Locked {
                        path: dir.display().to_string(),
                    }
                }
                other => StorageError::Db(other),
            })?;
        Ok(Engine {
            accounts: db.open_tree("accounts")?,
            offline: db.open_tree("offline")?,
            vcards: db.open_tree("vcards")?,
            roster: db.open_tree("roster")?,
            roster_meta: db.open_tree("roster_meta")?,
            inbox: db.open_tree("inbox")?,
            outbox: db.open_tree("outbox")?,
            privacy: db.open_tree("privacy")?,
            privacy_meta: db.open_tree("privacy_meta")?,
            db,
        })
    }

    /// Writes everything so far to disk and syncs it.
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
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
pub(crate) fn temp_store() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Engine::open(dir.path()).unwrap();
    (dir, store)
}
