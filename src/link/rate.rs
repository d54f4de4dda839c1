//! Per-connection stanza rate: a token bucket. A client that sends faster than
//! `limits.stanzas_per_sec` (after a burst of `limits.stanza_burst`) is not disconnected; the
//! link stops reading from its socket until the bucket refills, so TCP flow control slows the
//! sender and one client cannot keep a core busy for everyone else.

use std::time::Duration;

use tokio::time::Instant;

pub struct StanzaRate {
    /// Tokens per second; 0 turns the limit off.
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Whether this connection was already logged as paused.
    logged: bool,
}

impl StanzaRate {
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        StanzaRate {
            per_sec: f64::from(per_sec),
            burst,
            tokens: burst,
            last: now,
            logged: false,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.last = now;
    }

    /// When the next stanza may be read, or `None` if it may be read now.
    pub fn wait_until(&mut self, now: Instant) -> Option<Instant> {
        if self.per_sec == 0.0 {
            return None;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            return None;
        }
        let missing = 1.0 - self.tokens;
        Some(now + Duration::from_secs_f64(missing / self.per_sec))
    }

    /// Counts one stanza read.
    pub fn spend(&mut self) {
        if self.per_sec != 0.0 {
            self.tokens -= 1.0;
        }
    }

    /// True the first time reading is paused on this connection (to log it once).
    pub fn first_pause(&mut self) -> bool {
        !std::mem::replace(&mut self.logged, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads as many stanzas as the bucket allows at `now`.
    fn drain(rate: &mut StanzaRate, now: Instant) -> u32 {
        let mut n = 0;
        while rate.wait_until(now).is_none() {
            rate.spend();
            n += 1;
            assert!(n < 1_000_000, "the bucket never empties");
        }
        n
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut rate = StanzaRate::new(100, 20, t0);
        assert_eq!(drain(&mut rate, t0), 20, "the burst is available at once");
        let next = rate.wait_until(t0).expect("empty bucket must wait");
        assert_eq!(
            next - t0,
            Duration::from_millis(10),
            "one token per 1/100 s"
        );
        // A tenth of a second later, 10 more.
        assert_eq!(drain(&mut rate, t0 + Duration::from_millis(100)), 10);
        // A long silence refills only up to the burst.
        assert_eq!(drain(&mut rate, t0 + Duration::from_secs(60)), 20);
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let t0 = Instant::now();
        let mut rate = StanzaRate::new(0, 1, t0);
        for _ in 0..10_000 {
            assert!(rate.wait_until(t0).is_none());
            rate.spend();
        }
    }

    #[test]
    fn the_pause_is_logged_once() {
        let mut rate = StanzaRate::new(1, 1, Instant::now());
        assert!(rate.first_pause());
        assert!(!rate.first_pause());
    }
}
