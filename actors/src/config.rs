//! The part of the configuration the actors need. The `cordial` crate builds it from TOML.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct ActorsConfig {
    /// The domains this server hosts (the first is the default).
    pub domains: Vec<String>,
    /// Stored offline messages per account before new ones are refused (XEP-0160).
    pub offline_quota: usize,
    /// Largest vCard (serialised bytes) a user may store (XEP-0054).
    pub vcard_max_bytes: usize,
    /// Stanzas queued towards one client before it is disconnected as a slow reader.
    pub outbound_queue: usize,
    /// How long a UserActor with no session lives on before it stops.
    pub user_idle: Duration,
    /// Whether in-band registration (XEP-0077) is on: account creation before authentication,
    /// password change and cancellation after.
    pub registration: bool,
    /// SCRAM iteration count for new or changed passwords (>= 4096).
    pub scram_iterations: u32,
    /// Roster size and length limits, and the tombstone horizon of roster versioning.
    pub roster: crate::roster::RosterLimits,
    /// Privacy lists per account and items per list (the blocklist included).
    pub privacy: crate::privacy::PrivacyLimits,
}

impl ActorsConfig {
    pub fn hosts(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            domains: vec!["localhost".into()],
            offline_quota: 1000,
            vcard_max_bytes: 64 * 1024,
            outbound_queue: 1024,
            user_idle: Duration::from_secs(60),
            registration: false,
            scram_iterations: 4096,
            roster: crate::roster::RosterLimits::default(),
            privacy: crate::privacy::PrivacyLimits::default(),
        }
    }
}
