//! cordial's storage layer.
//!
//! One trait per area ([`AccountStore`], [`OfflineStore`], [`VcardStore`], [`RosterStore`],
//! [`SubscriptionStore`], [`PrivacyStore`]), key encoding in [`keys`], and one implementation
//! file per area for the embedded engine ([sled](https://sled.rs)) under `sled_engine/`.
//! Nothing here knows about actors, sockets or XML parsing: values are opaque strings or plain
//! records.
//!
//! Durability: writes land in the engine's in-memory log at once; callers that are about to
//! tell a client that something succeeded call [`Store::flush`] first and answer an error if
//! it fails. Nothing is synced behind the callers' backs except by the store's own flusher.
//!
//! Failure: [`Store`] tracks the store's health ([`HealthReport`]): the first failed write or
//! flush starts an outage, during which writes are refused ([`StorageError::Unavailable`]),
//! and the store reopens itself once the disk takes writes again (see `store.rs`). Test builds
//! can fail it on command (feature `fault-injection`, module `faults`).

#[cfg(feature = "fault-injection")]
pub mod faults;
mod health;
pub mod keys;
mod sled_engine;
mod store;

use serde::{Deserialize, Serialize};

pub use health::HealthReport;
pub use store::Store;

/// What a flush returns: resolves once the writes are durable, or with the error.
pub type Flushed = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// A storage engine as the server uses it: every area, and the durability and health calls
/// around them. The server and its actors hold an [`Arc<dyn Storage>`](SharedStorage), so that
/// another engine (the cluster mode's PostgreSQL) can take the embedded one's place; [`Store`]
/// (sled) is the one there is today.
pub trait Storage:
    AccountStore
    + OfflineStore
    + RosterStore
    + SubscriptionStore
    + VcardStore
    + PrivacyStore
    + Send
    + Sync
{
    /// Makes every write this thread made so far durable; see [`Store::flush`].
    fn flush(&self) -> Flushed;
    /// Which opening of the engine is live; see [`Store::generation`].
    fn generation(&self) -> u64;
    /// The engine's health now.
    fn health(&self) -> HealthReport;
    /// Runs `hook` each time the engine comes back after an outage.
    fn on_recovered(&self, hook: Box<dyn Fn() + Send + Sync>);
    /// Every problem found in the stored state (`cordial check`).
    fn check(&self) -> Result<Vec<String>>;
}

/// How the server holds its storage.
pub type SharedStorage = std::sync::Arc<dyn Storage>;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("flushing to disk failed: {0}")]
    Flush(String),
    #[error("the database in {path} is in use by another process (is `cordial serve` running?)")]
    Locked { path: String },
    /// The store is refusing writes until it recovers from an earlier failure.
    #[error("storage is refusing writes until it recovers ({0})")]
    Unavailable(String),
}

impl StorageError {
    /// The store (or the disk under it) failed, rather than one record: the client should be
    /// told to try again later (`<resource-constraint/>`, RFC 6120 §8.3.3.18), and the failure
    /// is already logged once for the whole outage.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StorageError::Db(_) | StorageError::Flush(_) | StorageError::Unavailable(_)
        )
    }
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
///
/// The byte fields are stored as base64 strings: a record is read on every login, and a JSON
/// array of numbers took a sixth of a SCRAM login's CPU to parse. Records written as arrays by
/// earlier versions still read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramKeys {
    pub iterations: u32,
    #[serde(with = "bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "bytes")]
    pub stored_key: Vec<u8>,
    #[serde(with = "bytes")]
    pub server_key: Vec<u8>,
}

/// Byte strings in records: written as base64, read as base64 or as an array of numbers.
mod bytes {
    use base64::Engine as _;
    use serde::{de, Deserializer, Serializer};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("base64 or an array of bytes")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                B64.decode(v).map_err(E::custom)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_any(Bytes)
    }
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
    /// Every account's queue at once, by reading the keys only (for metrics).
    fn offline_totals(&self) -> Result<OfflineTotals>;
}

/// The offline queues of all accounts together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfflineTotals {
    /// Messages stored.
    pub messages: usize,
    /// Accounts with at least one message stored.
    pub queues: usize,
    /// The longest queue.
    pub longest: usize,
}

/// A contact's subscription state (RFC 6121 §2.1.2.5, Appendix A).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    #[default]
    None,
    To,
    From,
    Both,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }
}

/// One roster item (RFC 6121 §2.1.2) with the subscription state the server keeps for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterItem {
    /// The contact's JID, normalised.
    pub jid: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub subscription: Subscription,
    /// An outbound subscription request is pending (`ask='subscribe'`).
    #[serde(default)]
    pub ask: bool,
    /// The user pre-approved the contact's subscription (RFC 6121 §3.4, `approved='true'`).
    #[serde(default)]
    pub approved: bool,
}

/// A change to a roster since some version, for granular roster versioning (RFC 6121 §2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RosterChange {
    /// The item as it is now, changed last at `ver`.
    Set { item: RosterItem, ver: u64 },
    /// The item was removed at `ver` (a tombstone).
    Removed { jid: String, ver: u64 },
}

impl RosterChange {
    pub fn ver(&self) -> u64 {
        match self {
            RosterChange::Set { ver, .. } | RosterChange::Removed { ver, .. } => *ver,
        }
    }
}

/// A roster as stored: its current version and its live items, each with its last version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    pub ver: u64,
    pub items: Vec<(RosterItem, u64)>,
}

/// Rosters with granular versions: every change bumps the account's version, each item keeps
/// the version of its last change, and a removal leaves a tombstone until compaction.
/// Each write changes the item, its version and the account's counter in one transaction.
pub trait RosterStore {
    fn roster(&self, bare: &str) -> Result<Roster>;
    /// The account's current roster version, without reading the items.
    fn roster_version(&self, bare: &str) -> Result<u64>;
    fn roster_item(&self, bare: &str, contact: &str) -> Result<Option<RosterItem>>;
    /// Number of live items.
    fn roster_len(&self, bare: &str) -> Result<usize>;
    /// Adds or replaces an item; returns the new roster version.
    fn put_roster_item(&self, bare: &str, item: &RosterItem) -> Result<u64>;
    /// Removes an item, leaving a tombstone; `None` if there was no live item.
    fn remove_roster_item(&self, bare: &str, contact: &str) -> Result<Option<(RosterItem, u64)>>;
    /// The changes after version `since`, oldest first; `None` when the store can no longer
    /// say (tombstones compacted past it, or a version it never issued).
    fn roster_changes_since(&self, bare: &str, since: u64) -> Result<Option<Vec<RosterChange>>>;
    /// Drops tombstones older than the newest `keep_versions` versions.
    fn compact_roster(&self, bare: &str, keep_versions: u64) -> Result<()>;
}

/// Where an inbound subscription stanza waits for the user (RFC 6121 §3, RFC 3921 §9.4): one
/// slot per direction and kind, per contact, the newest stanza winning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InboxSlot {
    /// A pending `subscribe` (the state "Pending In"): kept, and redelivered at every
    /// available presence, until the user approves or denies it.
    Request,
    /// `subscribed` or `unsubscribed` that reached no available resource: delivered once.
    Answer,
    /// `unsubscribe` that reached no available resource: delivered once.
    Cancel,
}

impl InboxSlot {
    pub fn tag(self) -> u8 {
        match self {
            InboxSlot::Request => b'r',
            InboxSlot::Answer => b'a',
            InboxSlot::Cancel => b'c',
        }
    }

    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b'r' => Some(InboxSlot::Request),
            b'a' => Some(InboxSlot::Answer),
            b'c' => Some(InboxSlot::Cancel),
            _ => None,
        }
    }
}

/// A subscription stanza stored before it is routed to a local account, so that it reaches
/// that account even if the server dies right after the sender was told its state changed
/// (the transactional outbox). The receiver deletes the entry in the transaction that applies
/// the stanza; at startup the remaining entries are routed again (the state machine makes a
/// repeat harmless).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OutboxKey(pub u64);

/// What a subscription change does to the roster item.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ItemWrite {
    #[default]
    Keep,
    Put(RosterItem),
    /// Remove the live item, leaving a tombstone.
    Remove,
}

/// One change of the subscription state machine for one contact, written atomically: the
/// roster item (and the account's roster version), the contact's inbox slots, stanzas to
/// route, and the outbox entry that carried the stanza being applied.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionWrite {
    pub contact: String,
    pub item: ItemWrite,
    /// Slots to set (`Some(xml)`) or clear (`None`).
    pub inbox: Vec<(InboxSlot, Option<String>)>,
    /// Stanzas (serialised) to keep in the outbox until their local receiver applies them.
    pub outbox: Vec<String>,
    pub delivered: Option<OutboxKey>,
}

/// What [`SubscriptionStore::write_subscription`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubscriptionWritten {
    /// The new roster version, when the item changed.
    pub ver: Option<u64>,
    /// The item as it was before, when it was removed.
    pub removed: Option<RosterItem>,
    /// Keys of the new outbox entries, in the order given.
    pub outbox: Vec<OutboxKey>,
}

/// Subscription state that is not a roster item: the per-contact inbox of pending requests and
/// undelivered notifications, and the outbox of routed subscription stanzas.
pub trait SubscriptionStore {
    fn write_subscription(&self, bare: &str, w: &SubscriptionWrite) -> Result<SubscriptionWritten>;
    /// The account's inbox: (contact, slot, stanza XML), grouped by contact.
    fn inbox(&self, bare: &str) -> Result<Vec<(String, InboxSlot, String)>>;
    /// Every outbox entry, oldest first.
    fn outbox(&self) -> Result<Vec<(OutboxKey, String)>>;
    /// Drops an outbox entry whose receiver does not exist (nothing to apply it to).
    fn outbox_done(&self, key: &OutboxKey) -> Result<()>;
}

/// vCard-temp (XEP-0054) documents, stored as serialised XML.
pub trait VcardStore {
    fn vcard(&self, bare: &str) -> Result<Option<String>>;
    fn set_vcard(&self, bare: &str, vcard_xml: &str) -> Result<()>;
}

/// Which stanzas a privacy item applies to (XEP-0016 §2.1: `<message/>`, `<iq/>`,
/// `<presence-in/>`, `<presence-out/>`). An item with none of them applies to every stanza,
/// outbound ones included (XEP-0016 §2.13, XEP-0191 §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyStanzas {
    pub message: bool,
    pub iq: bool,
    pub presence_in: bool,
    pub presence_out: bool,
}

impl PrivacyStanzas {
    /// No child element: everything.
    pub fn all(&self) -> bool {
        !(self.message || self.iq || self.presence_in || self.presence_out)
    }
}

/// What a privacy item matches (XEP-0016 §2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrivacyMatch {
    /// `type='jid'`: a full JID, bare JID, `domain/resource` or domain, normalised.
    Jid(String),
    /// `type='group'`: contacts in this roster group.
    Group(String),
    /// `type='subscription'`: contacts with this subscription (`none` includes non-contacts).
    Subscription(Subscription),
    /// No `type`: the fall-through item, matching everyone.
    FallThrough,
}

/// One privacy rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyItem {
    pub what: PrivacyMatch,
    pub allow: bool,
    /// Unique within the list; items are evaluated in increasing order.
    pub order: u32,
    pub stanzas: PrivacyStanzas,
}

/// A named privacy list, its items sorted by `order`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyList {
    pub name: String,
    pub items: Vec<PrivacyItem>,
}

/// Privacy lists (XEP-0016) and which one is the account's default. Each write is durable
/// after [`Store::flush`].
pub trait PrivacyStore {
    /// Every list of the account, by name.
    fn privacy_lists(&self, bare: &str) -> Result<Vec<PrivacyList>>;
    fn privacy_list(&self, bare: &str, name: &str) -> Result<Option<PrivacyList>>;
    /// The names of the account's lists, sorted (a key scan: no list is read).
    fn privacy_list_names(&self, bare: &str) -> Result<Vec<String>>;
    /// Creates or replaces the list of that name.
    fn put_privacy_list(&self, bare: &str, list: &PrivacyList) -> Result<()>;
    /// Removes a list (and clears the default if it was the default). Returns whether it
    /// existed.
    fn remove_privacy_list(&self, bare: &str, name: &str) -> Result<bool>;
    fn default_privacy_list(&self, bare: &str) -> Result<Option<String>>;
    /// Sets or clears (`None`) the default list.
    fn set_default_privacy_list(&self, bare: &str, name: Option<&str>) -> Result<()>;
}
