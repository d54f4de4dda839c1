//! Fault injection for tests (feature `fault-injection`): writes, flushes or both fail with
//! ENOSPC or EIO on command, as they do on a full or failing disk, until cleared. While a fault
//! is set the store also cannot recover (its probe of the disk fails too), exactly as when the
//! disk is still full.

use std::sync::Mutex;

use crate::StorageError;

/// The errno a fault mimics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// ENOSPC: the disk is full.
    NoSpace,
    /// EIO: the disk failed.
    Io,
}

impl Fault {
    pub(crate) fn error(self) -> StorageError {
        let errno = match self {
            Fault::NoSpace => 28,
            Fault::Io => 5,
        };
        StorageError::Db(sled::Error::Io(std::io::Error::from_raw_os_error(errno)))
    }
}

/// The faults set on one store.
#[derive(Default)]
pub struct Faults {
    writes: Mutex<Option<Fault>>,
    flushes: Mutex<Option<Fault>>,
    stalled: std::sync::atomic::AtomicBool,
    /// The stall ends with this fault when the store nudges the engine (see
    /// [`Self::stall_flushes_until_nudged`]).
    until_nudged: Mutex<Option<Fault>>,
    stuck_after: Mutex<Option<std::time::Duration>>,
}

impl Faults {
    /// Every write fails with `fault` before it reaches the engine, until [`Self::clear`].
    pub fn fail_writes(&self, fault: Fault) {
        *self.writes.lock().expect("faults lock") = Some(fault);
    }

    /// Writes land in memory, but every flush fails with `fault` (what a full disk does),
    /// until [`Self::clear`].
    pub fn fail_flushes(&self, fault: Fault) {
        *self.flushes.lock().expect("faults lock") = Some(fault);
    }

    /// Every flush hangs until [`Self::clear`], as sled's can when the disk fills during a
    /// large write.
    pub fn stall_flushes(&self) {
        self.stalled
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Every flush hangs until the store nudges the engine, then fails with `fault`: what
    /// sled 0.34 does when a background write of its log fails (the flush waiting for it is
    /// not woken until another operation sees the error).
    pub fn stall_flushes_until_nudged(&self, fault: Fault) {
        *self.until_nudged.lock().expect("faults lock") = Some(fault);
        self.stall_flushes();
    }

    /// How long a flush may take before the store gives up on the process (default 30 s).
    pub fn stuck_after(&self, limit: std::time::Duration) {
        *self.stuck_after.lock().expect("faults lock") = Some(limit);
    }

    /// The disk is fine again.
    pub fn clear(&self) {
        *self.until_nudged.lock().expect("faults lock") = None;
        self.stalled
            .store(false, std::sync::atomic::Ordering::Release);
        *self.writes.lock().expect("faults lock") = None;
        *self.flushes.lock().expect("faults lock") = None;
    }

    pub(crate) fn write(&self) -> Option<Fault> {
        *self.writes.lock().expect("faults lock")
    }

    pub(crate) fn flush(&self) -> Option<Fault> {
        *self.flushes.lock().expect("faults lock")
    }

    /// The store nudged the engine: a stall that waits for it ends in its fault.
    pub(crate) fn nudged(&self) {
        if let Some(f) = self.until_nudged.lock().expect("faults lock").take() {
            *self.flushes.lock().expect("faults lock") = Some(f);
            self.stalled
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }

    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn stuck_limit(&self) -> Option<std::time::Duration> {
        *self.stuck_after.lock().expect("faults lock")
    }

    pub(crate) fn any(&self) -> Option<Fault> {
        self.write().or(self.flush())
    }
}
