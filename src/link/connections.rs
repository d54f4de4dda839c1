//! The per-address connection limit (`limits.max_connections_per_ip`): a place for each open
//! connection, given back when it closes. Enforced at accept, before any byte is read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Open connections per IP address.
type OpenCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Open connections per IP address, against `limits.max_connections_per_ip`.
pub struct Connections {
    /// Changed live by [`Connections::set_limits`].
    max: AtomicUsize,
    loopback_exempt: AtomicBool,
    open: OpenCounts,
}

/// A place for a connection; dropping it frees the place. Exempt connections are not counted.
pub struct Slot(Option<(IpAddr, OpenCounts)>);

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((ip, open)) = &self.0 else {
            return;
        };
        let mut open = open.lock().expect("connections lock");
        if let Some(n) = open.get_mut(ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(ip);
            }
        }
    }
}

impl Connections {
    pub fn new(max: usize, loopback_exempt: bool) -> Connections {
        Connections {
            max: AtomicUsize::new(max),
            loopback_exempt: AtomicBool::new(loopback_exempt),
            open: Arc::default(),
        }
    }

    /// A new limit (a configuration reload): connections already open stay, and count.
    pub fn set_limits(&self, max: usize, loopback_exempt: bool) {
        self.max.store(max, Ordering::Relaxed);
        self.loopback_exempt
            .store(loopback_exempt, Ordering::Relaxed);
    }

    /// A place for a new connection from `ip`, or `None` when the address is at its limit
    /// (logged once each time the address reaches it).
    pub fn enter(&self, ip: IpAddr) -> Option<Slot> {
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 || (self.loopback_exempt.load(Ordering::Relaxed) && ip.is_loopback()) {
            return Some(Slot(None));
        }
        let mut open = self.open.lock().expect("connections lock");
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        if *n == max {
            log::warn!("{ip}: reached {max} open connections; refusing more");
        }
        Some(Slot(Some((ip, self.open.clone()))))
    }
}
