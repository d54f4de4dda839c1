//! Authentication brute-force throttling, per IP address and per account.
//!
//! Each failed SASL exchange counts against the peer's IP address and the account it named.
//! Past a threshold, every further failure doubles a backoff (1 s, 2 s, 4 s, … up to a
//! maximum) during which attempts from that address, or for that account, are answered
//! `<temporary-auth-failure/>` (RFC 6120 §6.5.13) without checking any password, so guessing
//! stops paying. A record is forgotten once it has seen no failure for the maximum backoff.
//! The account side delays an attacker spread over many addresses; it slows the real user
//! only while attacks continue, and a success clears it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last: Instant,
    until: Option<Instant>,
    backoff: Duration,
}

pub struct Throttle {
    /// The thresholds and the longest backoff (seconds), changed live by [`Throttle::set_limits`].
    ip_threshold: AtomicU32,
    account_threshold: AtomicU32,
    max_secs: AtomicU64,
    ips: Mutex<HashMap<IpAddr, Record>>,
    accounts: Mutex<HashMap<String, Record>>,
    /// Addresses each account last logged in from: its backoff does not apply to them, so an
    /// attacker cannot lock the real user out of an account it uses from a known place.
    known: Mutex<HashMap<String, Vec<IpAddr>>>,
}

/// Known addresses remembered per account.
const KNOWN_PER_ACCOUNT: usize = 8;

/// Records kept per map before stale ones are swept.
const SWEEP_AT: usize = 65_536;

fn blocked<K, Q>(map: &Mutex<HashMap<K, Record>>, key: &Q, now: Instant) -> Option<Duration>
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let map = map.lock().expect("throttle lock");
    let until = map.get(key)?.until?;
    (until > now).then(|| until - now)
}

impl Throttle {
    /// A threshold of 0 turns that side off.
    pub fn new(ip_threshold: u32, account_threshold: u32, max: Duration) -> Throttle {
        Throttle {
            ip_threshold: AtomicU32::new(ip_threshold),
            account_threshold: AtomicU32::new(account_threshold),
            max_secs: AtomicU64::new(max.as_secs()),
            ips: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// New thresholds and longest backoff (a configuration reload); records kept so far stay.
    pub fn set_limits(&self, ip_threshold: u32, account_threshold: u32, max: Duration) {
        self.ip_threshold.store(ip_threshold, Ordering::Relaxed);
        self.account_threshold
            .store(account_threshold, Ordering::Relaxed);
        self.max_secs.store(max.as_secs(), Ordering::Relaxed);
    }

    fn max(&self) -> Duration {
        Duration::from_secs(self.max_secs.load(Ordering::Relaxed))
    }

    /// The time left before `ip` may try again, if it is backing off.
    pub fn ip_blocked(&self, ip: IpAddr) -> Option<Duration> {
        blocked(&self.ips, &ip, Instant::now())
    }

    /// The time left before `ip` may try `account` again, if the account is backing off and
    /// `ip` is not an address the account logged in from before.
    pub fn account_blocked(&self, account: &str, ip: IpAddr) -> Option<Duration> {
        let left = blocked(&self.accounts, account, Instant::now())?;
        let known = self.known.lock().expect("throttle lock");
        let from_known = known.get(account).is_some_and(|ips| ips.contains(&ip));
        (!from_known).then_some(left)
    }

    /// Counts a failed exchange. Returns the backoffs (address, account) that started or grew,
    /// for logging.
    pub fn failed(
        &self,
        ip: IpAddr,
        account: Option<&str>,
    ) -> (Option<Duration>, Option<Duration>) {
        let now = Instant::now();
        let ip_backoff = self.count(
            &self.ips,
            ip,
            self.ip_threshold.load(Ordering::Relaxed),
            now,
        );
        let account_backoff = match account {
            Some(a) => self.count(
                &self.accounts,
                a.to_string(),
                self.account_threshold.load(Ordering::Relaxed),
                now,
            ),
            None => None,
        };
        (ip_backoff, account_backoff)
    }

    /// A successful login clears the account's record (not the address's) and remembers the
    /// address as one the account uses.
    pub fn succeeded(&self, account: &str, ip: IpAddr) {
        self.accounts.lock().expect("throttle lock").remove(account);
        let mut known = self.known.lock().expect("throttle lock");
        let ips = known.entry(account.to_string()).or_default();
        if !ips.contains(&ip) {
            if ips.len() == KNOWN_PER_ACCOUNT {
                ips.remove(0);
            }
            ips.push(ip);
        }
    }

    fn count<K: std::hash::Hash + Eq>(
        &self,
        map: &Mutex<HashMap<K, Record>>,
        key: K,
        threshold: u32,
        now: Instant,
    ) -> Option<Duration> {
        if threshold == 0 {
            return None;
        }
        let mut map = map.lock().expect("throttle lock");
        if map.len() >= SWEEP_AT {
            let max = self.max();
            map.retain(|_, r| now.duration_since(r.last) < max);
        }
        let r = map.entry(key).or_insert(Record {
            failures: 0,
            last: now,
            until: None,
            backoff: Duration::ZERO,
        });
        if now.duration_since(r.last) >= self.max() {
            r.failures = 0;
            r.until = None;
            r.backoff = Duration::ZERO;
        }
        r.failures += 1;
        r.last = now;
        if r.failures < threshold {
            return None;
        }
        let doublings = (r.failures - threshold).min(20);
        let backoff = Duration::from_secs(1u64 << doublings).min(self.max());
        r.until = Some(now + backoff);
        // Reported only when it grows, so an attack at the maximum is not logged per attempt.
        let grew = backoff > r.backoff;
        r.backoff = backoff;
        grew.then_some(backoff)
    }
}

/// The account a SASL client message names: PLAIN's authcid, SCRAM's `n=` (RFC 5802 §5.1,
/// with `=2C`/`=3D` decoded). `None` if the message names none.
pub fn claimed_user(mechanism: &str, first: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(first).ok()?;
    let user = if mechanism == "PLAIN" {
        text.split('\0').nth(1)?.to_string()
    } else {
        let name = text.split(',').skip(2).find_map(|a| a.strip_prefix("n="))?;
        name.replace("=2C", ",").replace("=3D", "=")
    };
    (!user.is_empty()).then(|| user.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_threshold_and_doubles() {
        let t = Throttle::new(3, 2, Duration::from_secs(300));
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(t.failed(ip, None), (None, None));
        assert_eq!(t.failed(ip, Some("alice")), (None, None));
        assert!(t.ip_blocked(ip).is_none());
        assert_eq!(
            t.failed(ip, Some("alice")),
            (Some(Duration::from_secs(1)), Some(Duration::from_secs(1)))
        );
        assert!(t.ip_blocked(ip).is_some());
        let home: IpAddr = [10, 0, 0, 9].into();
        assert!(t.account_blocked("alice", ip).is_some());
        assert!(t.account_blocked("alice", home).is_some());
        assert!(t.ip_blocked([10, 0, 0, 2].into()).is_none());
        assert_eq!(t.failed(ip, None).0, Some(Duration::from_secs(2)));
        t.succeeded("alice", home);
        assert!(t.account_blocked("alice", ip).is_none());
        // While attacks go on, the address alice logged in from is not locked out.
        t.failed(ip, Some("alice"));
        t.failed(ip, Some("alice"));
        assert!(t.account_blocked("alice", ip).is_some());
        assert!(t.account_blocked("alice", home).is_none());
    }

    #[test]
    fn the_account_is_read_from_the_first_message() {
        assert_eq!(
            claimed_user("PLAIN", b"\0Alice\0pw").as_deref(),
            Some("alice")
        );
        assert_eq!(
            claimed_user("SCRAM-SHA-1", b"n,,n=bob=2Cx,r=abc").as_deref(),
            Some("bob,x")
        );
        assert_eq!(claimed_user("SCRAM-SHA-256", b"garbage"), None);
    }
}
