//! [`Store`]: the handle the server holds. It wraps the engine with the promise the server
//! makes to clients: a write is either durable before it is acknowledged or answered with an
//! error, and a failed disk is recovered from in process, without a restart.
//!
//! - **Generations.** Each time the engine is opened it gets a new generation. A write
//!   remembers its generation (per thread, see [`WROTE_IN`]); its flush succeeds only if that
//!   generation is still the live one and none of its flushes has failed. Once a flush fails,
//!   no later flush of that generation succeeds: what sled did not write then is gone, and an
//!   answer of "ok" for it would be a lie.
//! - **Outage.** The first failure (ENOSPC, EIO, any engine error) marks the generation broken,
//!   starts an outage ([`crate::health`]) and a recovery thread. During the outage writes are
//!   refused at once with [`StorageError::Unavailable`], which the server answers
//!   `<resource-constraint/>`; reads go on from the broken engine's memory.
//! - **Recovery.** With backoff, the thread probes the disk (writes and syncs a file of a few
//!   segments), then closes the broken engine, opens the directory again, and checks that a
//!   write can be made durable. Then the store is up again, in a new generation, and the
//!   recovery hooks run (the router replays the subscription outbox). An engine that cannot be
//!   opened for any reason but I/O (corruption, a bug) is fatal: the server says so and exits
//!   non-zero, so that its supervisor restarts it, rather than serve logins while it keeps
//!   nothing.

use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures_channel::oneshot;

use crate::health::{Health, HealthReport};
use crate::sled_engine::Engine;
use crate::*;

thread_local! {
    /// The generation of the last write made on this thread since its last flush call (0:
    /// none). A write and the flush that acknowledges it are made by the same actor in one
    /// synchronous step, so the flush learns which generation it must make durable.
    static WROTE_IN: Cell<u64> = const { Cell::new(0) };
}

/// How often the flusher makes unacknowledged writes durable on its own (sled's own periodic
/// flush is off, so that every failed flush is seen here).
const BACKGROUND_FLUSH: Duration = Duration::from_millis(500);
/// Recovery backoff: first retry, and the longest wait between tries.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// What the recovery probe writes and syncs before the engine is opened again: room for a few
/// of the engine's segments.
const PROBE_BYTES: usize = 2 << 20;
const PROBE_FILE: &str = "recovery-probe";
/// A flush that has not returned after this long is nudged (see [`watchdog`]), and again each
/// time this much more has passed.
const NUDGE_AFTER: Duration = Duration::from_secs(1);
/// A flush that has not returned after this long never will: sled can hang for good when the
/// disk fills in the middle of a large write, holding its locks, so the engine cannot be
/// reopened in this process. The store then calls its fatal hook (exit for a restart).
const STUCK_AFTER: Duration = Duration::from_secs(30);

/// What runs when the store cannot be recovered in process.
type FatalHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    live: RwLock<Option<Arc<Live>>>,
    health: Health,
    flusher: mpsc::Sender<Ticket>,
    recovering: AtomicBool,
    /// When the flush in progress started (milliseconds since the store opened, plus one; 0:
    /// none), for the watchdog.
    flushing_since: AtomicU64,
    opened: std::time::Instant,
    /// The generation of the last engine opened.
    generations: AtomicU64,
    recovered_hooks: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    on_fatal: Mutex<FatalHook>,
    #[cfg(feature = "fault-injection")]
    faults: crate::faults::Faults,
}

/// One opened engine.
struct Live {
    engine: Engine,
    generation: u64,
    /// A flush or write of this generation failed: nothing more of it can be acknowledged.
    broken: AtomicBool,
    /// Written since the last flush.
    dirty: AtomicBool,
}

struct Ticket {
    generation: u64,
    done: oneshot::Sender<Result<()>>,
}

impl Store {
    /// Opens (or creates) the store in `dir`. Fails with [`StorageError::Locked`] when another
    /// process holds it: the embedded engine allows one process per database.
    pub fn open(dir: &Path) -> Result<Self> {
        let engine = open_when_released(dir)?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            live: RwLock::new(Some(Arc::new(Live::new(engine, 1)))),
            health: Health::default(),
            flusher: tx,
            recovering: AtomicBool::new(false),
            flushing_since: AtomicU64::new(0),
            opened: std::time::Instant::now(),
            generations: AtomicU64::new(1),
            recovered_hooks: Mutex::new(Vec::new()),
            on_fatal: Mutex::new(Arc::new(exit_on_fatal)),
            #[cfg(feature = "fault-injection")]
            faults: Default::default(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("cordial-flush".into())
            .spawn(move || flusher(weak, rx))
            .map_err(|e| StorageError::Flush(format!("starting the flusher: {e}")))?;
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("cordial-watchdog".into())
            .spawn(move || watchdog(weak))
            .map_err(|e| StorageError::Flush(format!("starting the watchdog: {e}")))?;
        Ok(Store { shared })
    }

    /// Makes every write this thread made so far durable. Call before acknowledging a change
    /// to a client; an error means the change may not be kept and must be answered as failed.
    ///
    /// Group commit: concurrent callers share one `fsync`. The generation is taken now, not
    /// when the future is first polled.
    pub fn flush(&self) -> impl Future<Output = Result<()>> + 'static {
        let generation = WROTE_IN.with(|w| w.replace(0));
        let (done, answer) = oneshot::channel();
        let queued = self.shared.flusher.send(Ticket { generation, done });
        async move {
            queued.map_err(|_| StorageError::Flush("the flusher has stopped".into()))?;
            answer
                .await
                .unwrap_or_else(|_| Err(StorageError::Flush("the flusher has stopped".into())))
        }
    }

    /// Which engine is open: starts at 1, one more each time the store is reopened after a
    /// failure. State read from the store before a reopen may hold changes that were answered
    /// with an error; whoever caches state reads it again when this changes.
    pub fn generation(&self) -> u64 {
        self.shared.generations.load(Ordering::Acquire)
    }

    /// The store's health now.
    pub fn health(&self) -> HealthReport {
        self.shared.health.report()
    }

    /// Runs `hook` (on the recovery thread) each time the store comes back after an outage.
    pub fn on_recovered(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.shared
            .recovered_hooks
            .lock()
            .expect("hooks lock")
            .push(Box::new(hook));
    }

    /// Replaces what happens when the store cannot be recovered in process (by default: the
    /// error is logged and the process exits with status 1, for its supervisor to restart it).
    pub fn on_fatal(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        *self.shared.on_fatal.lock().expect("fatal lock") = Arc::new(hook);
    }

    /// Every problem found in the stored state (see `cordial check`).
    pub fn check(&self) -> Result<Vec<String>> {
        self.read(|e| e.check())
    }

    /// The faults injected into this store (test builds).
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.shared.faults
    }

    fn live(&self) -> Result<Arc<Live>> {
        self.shared
            .live
            .read()
            .expect("live lock")
            .clone()
            .ok_or_else(|| self.unavailable())
    }

    fn unavailable(&self) -> StorageError {
        let report = self.shared.health.report();
        StorageError::Unavailable(
            report
                .last_error
                .unwrap_or_else(|| "the store is being reopened".into()),
        )
    }

    fn read<T>(&self, op: impl FnOnce(&Engine) -> Result<T>) -> Result<T> {
        let live = self.live()?;
        op(&live.engine).map_err(|e| self.shared.failed(&live, e))
    }

    fn write<T>(&self, op: impl FnOnce(&Engine) -> Result<T>) -> Result<T> {
        let health = &self.shared.health;
        if !health.is_up() {
            health.refused();
            return Err(self.unavailable());
        }
        let live = self.live()?;
        if live.broken.load(Ordering::Acquire) {
            health.refused();
            return Err(self.unavailable());
        }
        let refused = |e: StorageError| {
            let e = self.shared.failed(&live, e);
            if e.is_outage() {
                health.refused();
            }
            e
        };
        #[cfg(feature = "fault-injection")]
        if let Some(f) = self.shared.faults.write() {
            return Err(refused(f.error()));
        }
        let out = op(&live.engine).map_err(refused)?;
        live.dirty.store(true, Ordering::Release);
        WROTE_IN.with(|w| w.set(live.generation));
        Ok(out)
    }
}

impl Live {
    fn new(engine: Engine, generation: u64) -> Self {
        Live {
            engine,
            generation,
            broken: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
        }
    }
}

impl Shared {
    /// Records a failure of `live`: an engine error breaks the generation, starts an outage and
    /// the recovery; a record that does not decode is that record's problem only.
    fn failed(self: &Arc<Self>, live: &Live, e: StorageError) -> StorageError {
        if matches!(e, StorageError::Db(_) | StorageError::Flush(_)) {
            live.broken.store(true, Ordering::Release);
            self.health.failed(&e.to_string());
            self.start_recovery();
        }
        e
    }

    fn start_recovery(self: &Arc<Self>) {
        if self.recovering.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("cordial-recover".into())
            .spawn(move || recover(weak));
        if let Err(e) = spawned {
            self.fatal(&format!("cannot start the storage recovery: {e}"));
        }
    }

    fn fatal(&self, why: &str) {
        let hook = self.on_fatal.lock().expect("fatal lock").clone();
        hook(why);
    }

    /// Wakes a flush stuck in the engine (see [`watchdog`]).
    fn nudge(&self) {
        log::debug!("a flush is taking long; nudging the engine");
        #[cfg(feature = "fault-injection")]
        self.faults.nudged();
        let live = self.live.read().expect("live lock").clone();
        if let Some(live) = live {
            if let Err(e) = live.engine.nudge() {
                log::debug!("the nudge failed too: {e}");
            }
        }
    }

    fn stuck_after(&self) -> Duration {
        #[cfg(feature = "fault-injection")]
        if let Some(limit) = self.faults.stuck_limit() {
            return limit;
        }
        STUCK_AFTER
    }

    /// The injected fault a flush or the recovery must report (test builds).
    fn injected(&self, flush: bool) -> Option<StorageError> {
        #[cfg(feature = "fault-injection")]
        {
            let f = if flush {
                self.faults.flush()
            } else {
                self.faults.any()
            };
            f.map(|f| f.error())
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = flush;
            None
        }
    }
}

fn exit_on_fatal(why: &str) {
    log::error!("storage cannot be recovered in process: {why}; exiting for a restart");
    std::process::exit(1);
}

/// The flusher thread: answers flush tickets, many per `fsync` under load, and flushes
/// unacknowledged writes every [`BACKGROUND_FLUSH`]. It ends with the store.
fn flusher(shared: Weak<Shared>, tickets: mpsc::Receiver<Ticket>) {
    loop {
        let waiting: Vec<Ticket> = match tickets.recv_timeout(BACKGROUND_FLUSH) {
            Ok(first) => std::iter::once(first).chain(tickets.try_iter()).collect(),
            Err(mpsc::RecvTimeoutError::Timeout) => Vec::new(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let live = shared.live.read().expect("live lock").clone();
        let Some(live) = live else {
            for t in waiting {
                shared.health.refused();
                let _ = t.done.send(Err(StorageError::Unavailable(
                    "the store is being reopened".into(),
                )));
            }
            continue;
        };
        if waiting.is_empty() && !live.dirty.load(Ordering::Acquire) {
            continue;
        }
        let outcome = flush_live(&shared, &live);
        for t in waiting {
            let answer = if t.generation != 0 && t.generation != live.generation {
                shared.health.refused();
                Err(StorageError::Unavailable(
                    "the store was reopened after a failure".into(),
                ))
            } else {
                outcome.clone().map_err(|e| {
                    shared.health.refused();
                    StorageError::Unavailable(e)
                })
            };
            let _ = t.done.send(answer);
        }
    }
}

/// One flush of the live generation, unless it is already broken.
fn flush_live(shared: &Arc<Shared>, live: &Live) -> std::result::Result<(), String> {
    if live.broken.load(Ordering::Acquire) {
        return Err(shared
            .health
            .report()
            .last_error
            .unwrap_or_else(|| "an earlier flush failed".into()));
    }
    live.dirty.store(false, Ordering::Release);
    let started = shared.opened.elapsed().as_millis() as u64 + 1;
    shared.flushing_since.store(started, Ordering::Release);
    #[cfg(feature = "fault-injection")]
    while shared.faults.stalled() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let result = match shared.injected(true) {
        Some(e) => Err(e),
        None => live.engine.flush(),
    };
    shared.flushing_since.store(0, Ordering::Release);
    result.map_err(|e| {
        let e = shared.failed(live, StorageError::Flush(e.to_string()));
        e.to_string()
    })
}

/// The watchdog thread, for a flush that does not return.
///
/// sled 0.34 can leave a flush waiting for ever: when a background write of its log fails
/// (ENOSPC) on the path that does not wake the threads waiting for the log to be stable, the
/// flush only wakes when another operation sees the error and wakes them. So after
/// [`NUDGE_AFTER`] the watchdog makes such an operation (a one-byte write), and the flush
/// returns the error. A flush still not back after [`STUCK_AFTER`] is fatal. The thread ends
/// with the store, or after calling the fatal hook once.
fn watchdog(shared: Weak<Shared>) {
    let mut nudged_at = 0;
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let limit = shared.stuck_after();
        let since = shared.flushing_since.load(Ordering::Acquire);
        if since != 0 {
            let now = shared.opened.elapsed().as_millis() as u64 + 1;
            let waited = now.saturating_sub(since);
            let nudge_every = NUDGE_AFTER.as_millis() as u64;
            if waited >= nudge_every && now.saturating_sub(nudged_at) >= nudge_every {
                nudged_at = now;
                shared.nudge();
            }
            if waited >= limit.as_millis() as u64 {
                shared.health.failed("a flush to disk never returned");
                return shared.fatal(&format!(
                    "a flush to disk has not returned for {} s; the engine is stuck",
                    limit.as_secs_f32()
                ));
            }
        }
        drop(shared);
        std::thread::sleep((limit / 10).min(NUDGE_AFTER / 4));
    }
}

/// The recovery thread: waits with backoff until the disk takes writes, then opens the engine
/// again (see the module's documentation).
fn recover(shared: Weak<Shared>) {
    let mut wait = RETRY_FIRST;
    loop {
        std::thread::sleep(wait);
        wait = (wait * 2).min(RETRY_MAX);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match try_reopen(&shared) {
            Ok(()) => {
                shared.health.recovered();
                shared.recovering.store(false, Ordering::Release);
                for hook in shared.recovered_hooks.lock().expect("hooks lock").iter() {
                    hook();
                }
                return;
            }
            Err(Reopen::NotYet(why)) => log::debug!("storage not recovered yet: {why}"),
            Err(Reopen::Fatal(why)) => {
                shared.recovering.store(false, Ordering::Release);
                return shared.fatal(&why);
            }
        }
    }
}

enum Reopen {
    NotYet(String),
    Fatal(String),
}

fn try_reopen(shared: &Shared) -> std::result::Result<(), Reopen> {
    if let Some(e) = shared.injected(false) {
        return Err(Reopen::NotYet(e.to_string()));
    }
    probe(&shared.dir).map_err(|e| Reopen::NotYet(format!("probing the disk: {e}")))?;
    // The broken engine must be closed before the directory can be opened again (the engine
    // locks it). Reads fail with "unavailable" for the few milliseconds this takes.
    if let Some(old) = shared.live.write().expect("live lock").take() {
        wait_for_last_handle(old);
    }
    let engine = match open_when_released(&shared.dir) {
        Ok(e) => e,
        Err(e @ (StorageError::Locked { .. } | StorageError::Flush(_))) => {
            return Err(Reopen::NotYet(e.to_string()))
        }
        Err(StorageError::Db(sled::Error::Io(e))) => {
            return Err(Reopen::NotYet(format!("opening: {e}")))
        }
        Err(e) => {
            return Err(Reopen::Fatal(format!(
                "opening {}: {e}",
                shared.dir.display()
            )))
        }
    };
    engine
        .flush()
        .map_err(|e| Reopen::NotYet(format!("a flush after opening: {e}")))?;
    let generation = shared.generations.fetch_add(1, Ordering::AcqRel) + 1;
    *shared.live.write().expect("live lock") = Some(Arc::new(Live::new(engine, generation)));
    Ok(())
}

/// Opens the engine, waiting up to a second for a handle of this process to release it (an
/// engine closes on whichever thread drops its last handle, sometimes just after the store).
fn open_when_released(dir: &Path) -> Result<Engine> {
    let mut tries = 0;
    loop {
        match Engine::open(dir) {
            Err(StorageError::Locked { .. }) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Waits (briefly) until no operation holds the engine any more, then drops it.
fn wait_for_last_handle(mut live: Arc<Live>) {
    for _ in 0..500 {
        match Arc::try_unwrap(live) {
            Ok(l) => return drop(l),
            Err(still) => live = still,
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    log::warn!("a storage operation still holds the broken engine; reopening anyway");
}

/// Writes and syncs a file of [`PROBE_BYTES`] in `dir`, then removes it.
fn probe(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    written
}

impl Storage for Store {
    fn flush(&self) -> Flushed {
        Box::pin(Store::flush(self))
    }

    fn generation(&self) -> u64 {
        Store::generation(self)
    }

    fn health(&self) -> HealthReport {
        Store::health(self)
    }

    fn on_recovered(&self, hook: Box<dyn Fn() + Send + Sync>) {
        Store::on_recovered(self, hook)
    }

    fn check(&self) -> Result<Vec<String>> {
        Store::check(self)
    }
}

/// The per-area traits, each operation a read or a write of the live engine.
macro_rules! delegate {
    ($trait:ident { $($mode:ident fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        impl $trait for Store {
            $(fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                self.$mode(|e| $trait::$name(e $(, $arg)*))
            })*
        }
    };
}

delegate!(AccountStore {
    write fn create_account(&self, bare: &str, credentials: &Credentials) -> bool;
    read fn credentials(&self, bare: &str) -> Option<Credentials>;
    write fn set_credentials(&self, bare: &str, credentials: &Credentials) -> bool;
    write fn delete_account(&self, bare: &str) -> bool;
    read fn account_exists(&self, bare: &str) -> bool;
    read fn accounts(&self) -> Vec<String>;
});

delegate!(OfflineStore {
    write fn push_offline(&self, bare: &str, stanza_xml: &str, quota: usize) -> OfflinePush;
    read fn offline_messages(&self, bare: &str) -> Vec<(u64, String)>;
    write fn remove_offline(&self, bare: &str, ids: &[u64]) -> ();
    read fn offline_count(&self, bare: &str) -> usize;
    read fn offline_totals(&self) -> OfflineTotals;
});

delegate!(RosterStore {
    read fn roster(&self, bare: &str) -> Roster;
    read fn roster_version(&self, bare: &str) -> u64;
    read fn roster_item(&self, bare: &str, contact: &str) -> Option<RosterItem>;
    read fn roster_len(&self, bare: &str) -> usize;
    write fn put_roster_item(&self, bare: &str, item: &RosterItem) -> u64;
    write fn remove_roster_item(&self, bare: &str, contact: &str) -> Option<(RosterItem, u64)>;
    read fn roster_changes_since(&self, bare: &str, since: u64) -> Option<Vec<RosterChange>>;
    write fn compact_roster(&self, bare: &str, keep_versions: u64) -> ();
});

delegate!(SubscriptionStore {
    write fn write_subscription(&self, bare: &str, w: &SubscriptionWrite) -> SubscriptionWritten;
    read fn inbox(&self, bare: &str) -> Vec<(String, InboxSlot, String)>;
    read fn outbox(&self) -> Vec<(OutboxKey, String)>;
    write fn outbox_done(&self, key: &OutboxKey) -> ();
});

delegate!(VcardStore {
    read fn vcard(&self, bare: &str) -> Option<String>;
    write fn set_vcard(&self, bare: &str, vcard_xml: &str) -> ();
});

delegate!(PrivacyStore {
    read fn privacy_lists(&self, bare: &str) -> Vec<PrivacyList>;
    read fn privacy_list(&self, bare: &str, name: &str) -> Option<PrivacyList>;
    read fn privacy_list_names(&self, bare: &str) -> Vec<String>;
    write fn put_privacy_list(&self, bare: &str, list: &PrivacyList) -> ();
    write fn remove_privacy_list(&self, bare: &str, name: &str) -> bool;
    read fn default_privacy_list(&self, bare: &str) -> Option<String>;
    write fn set_default_privacy_list(&self, bare: &str, name: Option<&str>) -> ();
});

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny executor for one future, so the tests need no async runtime.
    pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            match f.as_mut().poll(&mut cx) {
                Poll::Ready(v) => return v,
                Poll::Pending => std::thread::park(),
            }
        }
    }

    fn temp() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Many concurrent flushes all complete (sled's flush_async deadlocks here).
    #[test]
    fn many_concurrent_flushes_complete() {
        let (_dir, store) = temp();
        let mut handles = Vec::new();
        for i in 0..300u32 {
            let s = store.clone();
            handles.push(std::thread::spawn(move || {
                s.set_vcard(&format!("u{i}@x"), "<vCard xmlns='vcard-temp'/>")
                    .unwrap();
                block_on(s.flush()).unwrap();
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            store.vcard("u299@x").unwrap().as_deref(),
            Some("<vCard xmlns='vcard-temp'/>")
        );
    }

    /// What is acknowledged survives closing and opening the store again.
    #[test]
    fn a_flushed_write_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.push_offline("b@x", "<m/>", 10).unwrap();
            block_on(store.flush()).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.offline_count("b@x").unwrap(), 1);
        assert!(store.health().up);
    }
}

#[cfg(all(test, feature = "fault-injection"))]
mod fault_tests {
    use super::tests::block_on;
    use super::*;
    use crate::faults::Fault;

    fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A full disk at flush time: the flush fails, every later flush of that generation fails
    /// (never an "ok" for a write that may be gone), writes are refused during the outage, and
    /// the store takes writes again once the disk has room, without being reopened by hand.
    #[test]
    fn a_failed_flush_is_never_followed_by_a_false_ok_and_the_store_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let recovered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = recovered.clone();
        store.on_recovered(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        store.push_offline("b@x", "<kept/>", 10).unwrap();
        block_on(store.flush()).unwrap();

        store.faults().fail_flushes(Fault::NoSpace);
        store.push_offline("b@x", "<lost/>", 10).unwrap();
        let failed = block_on(store.flush()).unwrap_err();
        assert!(failed.is_outage(), "{failed}");
        assert!(!store.health().up);
        // A write made before the failure, flushed after it: refused, not "ok".
        let late = block_on(store.flush());
        assert!(
            late.is_err(),
            "a later flush of a broken generation must fail"
        );
        let refused = store.push_offline("b@x", "<refused/>", 10).unwrap_err();
        assert!(matches!(refused, StorageError::Unavailable(_)), "{refused}");
        assert!(store.health().refused_writes >= 1);

        store.faults().clear();
        wait_until("the store recovers", || store.health().up);
        assert_eq!(recovered.load(Ordering::SeqCst), 1);
        store.push_offline("b@x", "<after/>", 10).unwrap();
        block_on(store.flush()).unwrap();
        let kept: Vec<String> = store
            .offline_messages("b@x")
            .unwrap()
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(kept.contains(&"<kept/>".to_string()));
        assert!(kept.contains(&"<after/>".to_string()));
        assert!(!kept.contains(&"<refused/>".to_string()));
        let report = store.health();
        assert_eq!((report.outages, report.reopened), (1, 1));
    }

    /// An I/O error on a write is refused at once and starts the same recovery.
    #[test]
    fn a_failed_write_is_refused_and_the_store_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.faults().fail_writes(Fault::Io);
        let e = store.set_vcard("a@x", "<v/>").unwrap_err();
        assert!(e.is_outage());
        assert!(store.set_vcard("a@x", "<v/>").is_err());
        store.faults().clear();
        wait_until("the store recovers", || store.health().up);
        store.set_vcard("a@x", "<v/>").unwrap();
        block_on(store.flush()).unwrap();
        assert_eq!(store.vcard("a@x").unwrap().as_deref(), Some("<v/>"));
    }

    /// A flush whose write was made before the store was reopened fails, even though the live
    /// generation is healthy: its write belonged to the broken one.
    #[test]
    fn a_flush_of_a_write_from_before_the_reopen_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.push_offline("b@x", "<m/>", 10).unwrap();
        // The flush is asked for now (as an actor does right after its write) ...
        store.faults().fail_flushes(Fault::NoSpace);
        let pending = store.flush();
        // ... whatever happens before it is answered.
        let e = block_on(pending).unwrap_err();
        assert!(e.is_outage());
        store.faults().clear();
        wait_until("the store recovers", || store.health().up);
        store.push_offline("b@x", "<n/>", 10).unwrap();
        WROTE_IN.with(|w| w.set(1));
        assert!(block_on(store.flush()).is_err(), "generation 1 is gone");
    }

    /// A flush that hangs (sled's can, when the disk fills in a large write) is not waited on
    /// for ever: the store gives up on the process, so that its supervisor restarts it.
    #[test]
    fn a_flush_that_never_returns_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        store.on_fatal(move |why| tx.lock().unwrap().send(why.to_owned()).unwrap());
        store.faults().stuck_after(Duration::from_millis(200));
        store.push_offline("b@x", "<m/>", 10).unwrap();
        store.faults().stall_flushes();
        let pending = store.flush();
        let why = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the fatal hook ran");
        assert!(why.contains("has not returned"), "{why}");
        assert!(!store.health().up);
        assert!(rx.try_recv().is_err(), "the fatal hook runs once");
        store.faults().clear();
        drop(block_on(pending));
    }

    /// sled can leave a flush waiting after a failed background write until another operation
    /// wakes it: the watchdog's nudge does, the flush reports the failure, and the store
    /// recovers once the disk takes writes.
    #[test]
    fn a_flush_left_waiting_by_the_engine_is_woken_and_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let tx = Mutex::new(tx);
        store.on_fatal(move |why| tx.lock().unwrap().send(why.to_owned()).unwrap());
        store.push_offline("b@x", "<m/>", 10).unwrap();
        store.faults().stall_flushes_until_nudged(Fault::NoSpace);
        let e = block_on(store.flush()).unwrap_err();
        assert!(e.is_outage(), "{e}");
        assert!(!store.health().up);
        store.faults().clear();
        wait_until("the store recovers", || store.health().up);
        store.push_offline("b@x", "<n/>", 10).unwrap();
        block_on(store.flush()).unwrap();
        assert!(rx.try_recv().is_err(), "not fatal");
    }
}
