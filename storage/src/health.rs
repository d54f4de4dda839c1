//! Whether the store is taking writes, and what operators see of it.
//!
//! The store is either up or refusing writes since some moment, with the error that started
//! the outage. The log says so once when an outage starts and once when it ends, with the
//! number of writes refused in between: never a line per refused stanza.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// A snapshot of the store's health, for metrics and the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthReport {
    /// The store takes writes.
    pub up: bool,
    /// When the current outage started (`None` while up).
    pub refusing_since: Option<SystemTime>,
    /// The error that started the current outage, or ended the last one.
    pub last_error: Option<String>,
    /// Writes refused since the server started: each write or flush answered with an error
    /// because the store failed or was refusing.
    pub refused_writes: u64,
    /// Outages since the server started.
    pub outages: u64,
    /// How many times the store was reopened in process (each recovery opens it again).
    pub reopened: u64,
}

#[derive(Default)]
struct Outage {
    since: Option<(SystemTime, Instant)>,
    refused_at_start: u64,
    last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Health {
    down: AtomicBool,
    refused: AtomicU64,
    outages: AtomicU64,
    reopened: AtomicU64,
    outage: Mutex<Outage>,
}

impl Health {
    pub(crate) fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    /// A write (or the flush that was to make it durable) was refused.
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The store failed. Returns whether this started an outage (logged once, here).
    pub(crate) fn failed(&self, error: &str) -> bool {
        let mut o = self.outage.lock().expect("health lock");
        o.last_error = Some(error.to_string());
        if o.since.is_some() {
            return false;
        }
        o.since = Some((SystemTime::now(), Instant::now()));
        o.refused_at_start = self.refused.load(Ordering::Relaxed);
        self.outages.fetch_add(1, Ordering::Relaxed);
        self.down.store(true, Ordering::Release);
        log::error!("storage failed: {error}; refusing writes until it recovers");
        true
    }

    /// The store was reopened and takes writes again.
    pub(crate) fn recovered(&self) {
        let mut o = self.outage.lock().expect("health lock");
        self.reopened.fetch_add(1, Ordering::Relaxed);
        self.down.store(false, Ordering::Release);
        if let Some((_, started)) = o.since.take() {
            let refused = self.refused.load(Ordering::Relaxed) - o.refused_at_start;
            log::warn!(
                "storage recovered after {:.1} s; {refused} writes were refused meanwhile",
                started.elapsed().as_secs_f64()
            );
        }
    }

    pub(crate) fn report(&self) -> HealthReport {
        let o = self.outage.lock().expect("health lock");
        HealthReport {
            up: self.is_up(),
            refusing_since: o.since.map(|(t, _)| t),
            last_error: o.last_error.clone(),
            refused_writes: self.refused.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            reopened: self.reopened.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_once_and_counts_what_it_refused() {
        let h = Health::default();
        assert!(h.is_up());
        assert!(h.failed("No space left on device"));
        assert!(!h.failed("No space left on device"), "one outage, not two");
        h.refused();
        h.refused();
        let r = h.report();
        assert!(!r.up);
        assert!(r.refusing_since.is_some());
        assert_eq!((r.refused_writes, r.outages), (2, 1));
        h.recovered();
        let r = h.report();
        assert!(r.up && r.refusing_since.is_none());
        assert_eq!(r.last_error.as_deref(), Some("No space left on device"));
        assert!(
            h.failed("Input/output error"),
            "a later failure is a new outage"
        );
        assert_eq!(h.report().outages, 2);
    }
}
