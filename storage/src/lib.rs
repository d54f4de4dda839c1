//! cordial's storage layer.
//!
//! One trait per area ([`AccountStore`], [`OfflineStore`], [`VcardStore`]), key encoding in
//! [`keys`], and one implementation file per area for the embedded engine ([sled](https://sled.rs))
//! under `sled/`. Nothing here knows about actors, sockets or XML parsing: values are opaque
//! strings or plain records.
//!
//! Durability: writes land in sled's in-memory log at once; callers that are about to tell a
//! client that something succeeded call [`Store::flush`] first. sled syncs only every 500 ms on
//! its own, so an acknowledgement without a flush can be lost on a crash.

pub mod keys;
mod sled_engine;

use serde::{Deserialize, Serialize};

pub use sled_engine::Store;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("the database in {path} is in use by another process (is `cordial serve` running?)")]
    Locked { path: String },
}

impl<E: std::fmt::Debug> From<sled::transaction::TransactionError<E>> for StorageError {
    fn from(e: sled::transaction::TransactionError<E>) -> Self {
        match e {
            sled::transaction::TransactionError::Storage(e) => StorageError::Db(e),
            sled::transaction::TransactionError::Abort(e) => {
                StorageError::Corrupt(format!("transaction aborted: {e:?}"))
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// The salted SCRAM keys of one hash function (RFC 5802 §3). The password itself, and the
/// SaltedPassword or ClientKey (both password-equivalent), are never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramKeys {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// What is stored for an account's password: SCRAM keys for SHA-1 and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub sha1: ScramKeys,
    pub sha256: ScramKeys,
}

/// Accounts, keyed by bare JID (`node@domain`, already normalised by the caller).
pub trait AccountStore {
    /// Creates the account; `false` if it already exists (nothing is changed then).
    fn create_account(&self, bare: &str, credentials: &Credentials) -> Result<bool>;
    fn credentials(&self, bare: &str) -> Result<Option<Credentials>>;
    /// Replaces the credentials; `false` if there is no such account.
    fn set_credentials(&self, bare: &str, credentials: &Credentials) -> Result<bool>;
    /// Deletes the account and everything stored for it; `false` if there was none.
    fn delete_account(&self, bare: &str) -> Result<bool>;
    fn account_exists(&self, bare: &str) -> Result<bool>;
    /// All accounts, sorted.
    fn accounts(&self) -> Result<Vec<String>>;
}

/// Outcome of [`OfflineStore::push_offline`].
#[derive(Debug, PartialEq, Eq)]
pub enum OfflinePush {
    Stored,
    QuotaExceeded,
}

/// Messages stored for accounts that had no available resource (XEP-0160), in arrival order.
pub trait OfflineStore {
    fn push_offline(&self, bare: &str, stanza_xml: &str, quota: usize) -> Result<OfflinePush>;
    /// The stored messages, oldest first, each with the id to pass to [`Self::remove_offline`].
    fn offline_messages(&self, bare: &str) -> Result<Vec<(u64, String)>>;
    fn remove_offline(&self, bare: &str, ids: &[u64]) -> Result<()>;
    fn offline_count(&self, bare: &str) -> Result<usize>;
}

/// vCard-temp (XEP-0054) documents, stored as serialised XML.
pub trait VcardStore {
    fn vcard(&self, bare: &str) -> Result<Option<String>>;
    fn set_vcard(&self, bare: &str, vcard_xml: &str) -> Result<()>;
}
