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

/// The layout of a database created now: 256 KiB log segments, compressed. sled keeps up to a
/// segment per tree partly empty and cleans smaller segments sooner; compression (zstd) shrinks
/// stanzas to about a third. Together a small disk holds about twice (random text) to four
/// times (natural text) as many offline messages as sled's defaults (512 KiB, uncompressed).
/// Smaller segments would turn more values into separate blob files (anything over a quarter
/// of a segment), so 256 KiB is the floor. See docs/faults.md.
const LAYOUT: Layout = Layout {
    segment_size: 256 * 1024,
    compressed: true,
};

/// The part of sled's configuration that is fixed when a database is created: sled refuses to
/// open a database with any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub segment_size: usize,
    pub compressed: bool,
}

impl Layout {
    /// The layout a database in `dir` was created with, from sled's `conf` file (None: a new
    /// database, or a `conf` that sled itself would ignore). Databases created by earlier
    /// versions of cordial (512 KiB, uncompressed) keep opening with their own layout.
    pub(crate) fn of(dir: &Path) -> Result<Option<Layout>> {
        let bytes = match std::fs::read(dir.join("conf")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if bytes.len() <= 8 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len() - 4]);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": ").map(str::trim))
                .map(str::to_owned)
        };
        let corrupt =
            || StorageError::Corrupt(format!("{}: unreadable", dir.join("conf").display()));
        let segment_size = field("segment_size")
            .and_then(|v| v.parse().ok())
            .ok_or_else(corrupt)?;
        let compressed = field("use_compression")
            .and_then(|v| v.parse().ok())
            .ok_or_else(corrupt)?;
        Ok(Some(Layout {
            segment_size,
            compressed,
        }))
    }
}

/// One open sled database and its trees.
pub(crate) struct Engine {
    db: sled::Db,
    /// sled's log file, synced after each flush: sled itself only writes its pages out
    /// (`sync_file_range`), which survives a killed process but not a power cut.
    log: std::fs::File,
    accounts: sled::Tree,
    offline: sled::Tree,
    vcards: sled::Tree,
    roster: sled::Tree,
    roster_meta: sled::Tree,
    inbox: sled::Tree,
    outbox: sled::Tree,
    privacy: sled::Tree,
    privacy_meta: sled::Tree,
    /// Offline messages per account, counted on first use (see `offline_count`).
    offline_counts: std::sync::Mutex<std::collections::HashMap<Box<str>, usize>>,
}

impl Engine {
    /// Opens (or creates) the database in `dir`. Fails with [`StorageError::Locked`] when
    /// another process (or a not yet released earlier handle) holds it.
    ///
    /// sled's own periodic flush is off: every flush goes through the store's flusher, so that
    /// a failed write to disk is always seen by someone who can answer for it.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let layout = Layout::of(dir)?.unwrap_or(LAYOUT);
        let db = sled::Config::new()
            .path(dir)
            .segment_size(layout.segment_size)
            .use_compression(layout.compressed)
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
        let log = std::fs::File::open(dir.join("db")).map_err(io)?;
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
            log,
            offline_counts: Default::default(),
            db,
        })
    }

    /// A one-byte write that no reader sees: it wakes a flush that sled left waiting after a
    /// failed background write (see `store::watchdog`).
    pub(crate) fn nudge(&self) -> Result<()> {
        self.db.insert(b"cordial-nudge", &[0u8][..])?;
        Ok(())
    }

    /// Writes everything so far to disk and syncs it.
    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        self.log.sync_data().map_err(io)?;
        Ok(())
    }
}

fn io(e: std::io::Error) -> StorageError {
    StorageError::Db(sled::Error::Io(e))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A new database gets the compact layout.
    #[test]
    fn a_new_database_is_created_with_the_compact_layout() {
        let (dir, engine) = temp_store();
        drop(engine);
        assert_eq!(Layout::of(dir.path()).unwrap(), Some(LAYOUT));
    }

    /// A database created with sled's defaults (cordial before the compact layout) still opens,
    /// with its data, and keeps its layout.
    #[test]
    fn a_database_with_the_earlier_layout_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new()
                .path(dir.path())
                .segment_size(512 * 1024)
                .open()
                .unwrap();
            db.open_tree("vcards")
                .unwrap()
                .insert("a@x", "<v/>")
                .unwrap();
            db.flush().unwrap();
        }
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(
            engine.vcards.get("a@x").unwrap().as_deref(),
            Some(&b"<v/>"[..])
        );
        drop(engine);
        let layout = Layout::of(dir.path()).unwrap().unwrap();
        assert_eq!(layout.segment_size, 512 * 1024);
        assert!(!layout.compressed);
    }
}
