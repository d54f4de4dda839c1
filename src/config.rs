//! Configuration: a TOML file where every key has an embedded default, so `cordial serve` runs
//! with no file at all. Unknown keys are errors (a typo must not silently fall back to a
//! default), and every bad value names its key and the values it accepts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordial_actors::privacy::PrivacyLimits;
use cordial_actors::roster::RosterLimits;
use serde::Deserialize;

/// A configuration error: always says which key and what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid value {value:?} for `{key}`: expected {accepted}")]
    Invalid {
        key: &'static str,
        value: String,
        accepted: &'static str,
    },
}

/// A listening address, or `"off"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Listen::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid listen address {s:?}: expected an IP:port such as \"127.0.0.1:5222\", or \"off\""
            ))
        })
    }
}

impl Listen {
    pub fn parse(s: &str) -> Option<Listen> {
        if s == "off" {
            return Some(Listen(None));
        }
        s.parse().ok().map(|a| Listen(Some(a)))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Domains served; the first is the default for clients that omit `to`.
    pub domains: Vec<String>,
    /// Where sled keeps its files, the development certificate and the admin socket live.
    pub data_dir: PathBuf,
    pub c2s: C2s,
    pub web: Web,
    pub s2s: S2s,
    pub tls: Tls,
    pub auth: Auth,
    pub limits: Limits,
    pub roster: Roster,
    pub privacy: Privacy,
    /// The log filter of `cordial serve`, in `RUST_LOG` syntax (`"info"`, `"debug,sled=off"`);
    /// `RUST_LOG` wins when set. Read again on SIGHUP. Unset: `info,sled=off`.
    pub log_level: Option<String>,
}

/// Privacy lists (XEP-0016) and the blocking command (XEP-0191), which edits the default list.
/// The `[privacy]` keys, handed to the actors as their limits; a key left out keeps their
/// default.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// Lists per account; a set that would create one more (or a block that would create the
    /// default list) is refused with `<not-acceptable/>`.
    pub max_lists: usize,
    /// Items per list, the blocklist (the default list's deny-all jid items) included; a list,
    /// a `<block/>` or an `<unblock/>` with more, or a block that would take the default list
    /// beyond it, is refused with `<not-acceptable/>`.
    pub max_items: usize,
}

/// The `[roster]` keys, handed to the actors as their limits; a key left out keeps their
/// default.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Roster {
    /// Items per roster; a set beyond it is refused with `<not-allowed/>`.
    pub max_items: usize,
    /// Longest item name, in bytes (`<not-acceptable/>` beyond, RFC 6121 §2.3.3).
    pub max_name_bytes: usize,
    /// Longest group name, in bytes (`<not-acceptable/>` beyond).
    pub max_group_bytes: usize,
    /// Groups one item may be in (`<not-acceptable/>` beyond).
    pub max_groups_per_item: usize,
    /// Roster versions whose removals stay known for incremental sync (RFC 6121 §2.6); a
    /// client further behind gets the full roster.
    pub tombstone_horizon: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C2s {
    /// Client connections with STARTTLS (RFC 6120 §5).
    pub listen: Listen,
    /// Client connections with direct TLS (XEP-0368).
    pub tls_listen: Listen,
}

/// The HTTP side: XMPP over WebSocket (RFC 7395), XEP-0156 discovery, metrics and admin API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Where `cordial serve` listens for HTTP (WebSocket at `/xmpp-websocket`); "off" to disable.
    /// An app that embeds cordial mounts the same endpoints on its own server instead.
    pub listen: Listen,
    /// Serve HTTPS (and so `wss://`) on `listen`, with the certificates of `[tls]`, chosen by
    /// SNI, TLS 1.3 and 1.2. Off: plain HTTP, for a TLS-terminating reverse proxy in front.
    pub tls: bool,
    /// WebSocket connections from loopback addresses count as encrypted, so they may
    /// authenticate over plain `ws://`: for a TLS-terminating reverse proxy on the same host, or
    /// a browser on this machine. Connections over HTTPS always count as encrypted.
    pub trust_loopback: bool,
    /// Bearer token for `/admin` (Prometheus metrics and the JSON admin API); empty: no admin
    /// endpoints.
    pub admin_token: String,
}

/// Server-to-server federation (RFC 6120, XEP-0220, XEP-0178): see docs/federation.md.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S2s {
    /// Where other servers connect (STARTTLS); "off" to refuse federation inbound. On loopback
    /// by default: nothing is exposed until configured.
    pub listen: Listen,
    /// Per-domain addresses ("host:port" or an IP) tried instead of DNS for that domain.
    pub routes: std::collections::BTreeMap<String, String>,
    /// DNS servers ("ip:port") for finding other servers; empty: the system's
    /// (/etc/resolv.conf). A server restart applies a change.
    pub nameservers: Vec<SocketAddr>,
    /// Refuse Server Dialback: a peer must present a certificate valid for its domain.
    pub require_valid_certificates: bool,
    /// PEM file of certificate authorities trusted for peers' certificates, besides the
    /// system's (for private deployments and tests).
    pub ca_file: Option<PathBuf>,
    /// Stanzas queued for a remote domain while its stream is being set up; more are bounced
    /// with `<resource-constraint/>`.
    pub queue: usize,
    /// Seconds to set up a stream (connect, TLS, authentication, dialback verification) before
    /// queued stanzas are bounced with `<remote-server-timeout/>`.
    pub connect_timeout_secs: u64,
    /// Seconds an outgoing stream may stay idle before it is closed.
    pub idle_secs: u64,
    /// Incoming streams from one peer domain at once.
    pub max_streams_per_peer: usize,
}

impl Default for S2s {
    fn default() -> Self {
        S2s {
            listen: Listen(Some(([127, 0, 0, 1], 5269).into())),
            routes: Default::default(),
            nameservers: Vec::new(),
            require_valid_certificates: false,
            ca_file: None,
            queue: 1000,
            connect_timeout_secs: 30,
            idle_secs: 600,
            max_streams_per_peer: 8,
        }
    }
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen: Listen(Some(([127, 0, 0, 1], 5280).into())),
            tls: false,
            trust_loopback: true,
            admin_token: String::new(),
        }
    }
}

/// Certificates, as operators have them (see docs/tls.md). For each served domain the first
/// that exists is used: its `[tls.domains."DOMAIN"]` entry; a certificate in `cert_dir` found
/// by the domain's name, or its parent's for a wildcard; `cert`/`key`. With none of the three
/// configured, a self-signed development certificate is generated in the data dir. Read again
/// on SIGHUP.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain (the certificate first, then its intermediates), for every domain
    /// not given its own.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: Option<PathBuf>,
    /// A directory scanned by domain name as Prosody does: `DOMAIN.crt` + `DOMAIN.key`,
    /// `DOMAIN/fullchain.pem` + `DOMAIN/privkey.pem` (certbot's live directory), or `DOMAIN.pem`
    /// holding both.
    pub cert_dir: Option<PathBuf>,
    /// A certificate and key for one domain.
    pub domains: std::collections::BTreeMap<String, TlsIdentity>,
}

/// A certificate chain and its key, both PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Require TLS before SASL (and before in-band registration). Turn off only for loopback
    /// benchmarking: credentials then cross the wire in the clear.
    pub require_tls: bool,
    /// Failed SASL attempts allowed on one stream before it is closed (RFC 6120 §6.4.5).
    pub max_attempts: u32,
    /// PBKDF2 iterations for new passwords (RFC 7677 asks for at least 4096).
    pub scram_iterations: u32,
    /// In-band registration (XEP-0077): account creation before login, password change and
    /// cancellation after.
    pub registration: bool,
    /// Failed logins from one IP address before it backs off (0: never).
    pub ip_failures_before_backoff: u32,
    /// Failed logins naming one account before it backs off (0: never).
    pub account_failures_before_backoff: u32,
    /// The longest backoff; a record without failures for this long is forgotten.
    pub backoff_max_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest stanza, in bytes of names, attributes and text (RFC 6120 §13.12).
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside a stanza.
    pub max_depth: usize,
    /// Stanzas queued to a client before it is disconnected as not reading.
    pub outbound_queue: usize,
    /// Offline messages stored per account (XEP-0160).
    pub offline_quota: usize,
    /// Largest vCard (XEP-0054), in bytes.
    pub vcard_max_bytes: usize,
    /// Seconds of silence before the server checks on a client; the stream is closed with
    /// `<connection-timeout/>` if the silence lasts as long again.
    pub idle_timeout_secs: u64,
    /// Seconds a client has to complete authentication and binding.
    pub negotiation_timeout_secs: u64,
    /// Seconds a closed connection still reads and discards what the client sends, until the
    /// client closes too (lingering close): a client whose input we stopped reading (an
    /// oversized stanza, say) then reads our stream error instead of a connection reset
    /// (RFC 6120 §4.4). A client can make the server read for this long at most, at its own
    /// sending rate; nothing read is kept. 0: close at once.
    pub linger_secs: u64,
    /// Seconds an account's actor lives on after its last session ends.
    pub user_idle_secs: u64,
    /// Open client connections from one IP address; more are closed with
    /// `<policy-violation/>` (0: no limit).
    pub max_connections_per_ip: usize,
    /// Loopback addresses (127.0.0.0/8, ::1) are exempt from `max_connections_per_ip`, for
    /// local gateways and benchmarks.
    pub loopback_exempt: bool,
    /// Stanzas per second one connection may send, sustained; faster senders are not cut off,
    /// the server stops reading from them until they are within the rate (0: no limit).
    pub stanzas_per_sec: u32,
    /// Stanzas one connection may send at once before `stanzas_per_sec` applies.
    pub stanza_burst: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domains: vec!["localhost".into()],
            data_dir: PathBuf::from("./cordial-data"),
            c2s: C2s::default(),
            web: Web::default(),
            s2s: S2s::default(),
            tls: Tls::default(),
            auth: Auth::default(),
            limits: Limits::default(),
            roster: Roster::default(),
            privacy: Privacy::default(),
            log_level: None,
        }
    }
}

impl Default for Privacy {
    fn default() -> Self {
        let PrivacyLimits {
            max_lists,
            max_items,
        } = PrivacyLimits::default();
        Privacy {
            max_lists,
            max_items,
        }
    }
}

impl Privacy {
    fn limits(&self) -> PrivacyLimits {
        let Privacy {
            max_lists,
            max_items,
        } = *self;
        PrivacyLimits {
            max_lists,
            max_items,
        }
    }
}

impl Default for Roster {
    fn default() -> Self {
        let RosterLimits {
            max_items,
            max_name_bytes,
            max_group_bytes,
            max_groups_per_item,
            tombstone_horizon,
        } = RosterLimits::default();
        Roster {
            max_items,
            max_name_bytes,
            max_group_bytes,
            max_groups_per_item,
            tombstone_horizon,
        }
    }
}

impl Roster {
    fn limits(&self) -> RosterLimits {
        let Roster {
            max_items,
            max_name_bytes,
            max_group_bytes,
            max_groups_per_item,
            tombstone_horizon,
        } = *self;
        RosterLimits {
            max_items,
            max_name_bytes,
            max_group_bytes,
            max_groups_per_item,
            tombstone_horizon,
        }
    }
}

impl Default for C2s {
    fn default() -> Self {
        C2s {
            listen: Listen(Some(([127, 0, 0, 1], 5222).into())),
            tls_listen: Listen(Some(([127, 0, 0, 1], 5223).into())),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            require_tls: true,
            max_attempts: 3,
            scram_iterations: 4096,
            registration: false,
            ip_failures_before_backoff: 10,
            account_failures_before_backoff: 5,
            backoff_max_secs: 300,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
            outbound_queue: 10_000,
            offline_quota: 1000,
            vcard_max_bytes: 64 * 1024,
            idle_timeout_secs: 300,
            negotiation_timeout_secs: 60,
            linger_secs: 5,
            user_idle_secs: 60,
            max_connections_per_ip: 256,
            loopback_exempt: true,
            stanzas_per_sec: 200,
            stanza_burst: 1000,
        }
    }
}

fn invalid(key: &'static str, value: impl ToString, accepted: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        accepted,
    }
}

fn in_range<T: PartialOrd + ToString>(
    key: &'static str,
    v: T,
    lo: T,
    hi: T,
    accepted: &'static str,
) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(invalid(key, v, accepted));
    }
    Ok(())
}

impl Config {
    /// Reads a TOML file; keys it omits keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<inline>".into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value against what it accepts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.domains.is_empty() {
            return Err(invalid(
                "domains",
                "[]",
                "a list of at least one domain name",
            ));
        }
        for d in &self.domains {
            let ok =
                jid::BareJid::new(d).is_ok_and(|j| j.node().is_none() && j.domain().as_str() == d);
            if !ok {
                return Err(invalid(
                    "domains",
                    d,
                    "lowercase domain names such as \"localhost\" or \"example.org\"",
                ));
            }
        }
        let token = &self.web.admin_token;
        if !token.is_empty() && (token.len() < 16 || token.chars().any(|c| c.is_whitespace())) {
            return Err(invalid(
                "web.admin_token",
                "(not shown)",
                "empty (no admin endpoints) or at least 16 characters without spaces",
            ));
        }
        let l = &self.limits;
        in_range(
            "limits.max_stanza_bytes",
            l.max_stanza_bytes,
            4096,
            64 << 20,
            "an integer from 4096 to 67108864",
        )?;
        in_range(
            "limits.max_depth",
            l.max_depth,
            8,
            1024,
            "an integer from 8 to 1024",
        )?;
        in_range(
            "limits.outbound_queue",
            l.outbound_queue,
            16,
            1 << 20,
            "an integer from 16 to 1048576",
        )?;
        in_range(
            "limits.offline_quota",
            l.offline_quota,
            0,
            1 << 20,
            "an integer from 0 to 1048576",
        )?;
        in_range(
            "limits.vcard_max_bytes",
            l.vcard_max_bytes,
            0,
            16 << 20,
            "an integer from 0 to 16777216",
        )?;
        in_range(
            "limits.idle_timeout_secs",
            l.idle_timeout_secs,
            10,
            86400,
            "an integer from 10 to 86400",
        )?;
        in_range(
            "limits.negotiation_timeout_secs",
            l.negotiation_timeout_secs,
            5,
            3600,
            "an integer from 5 to 3600",
        )?;
        in_range(
            "limits.linger_secs",
            l.linger_secs,
            0,
            60,
            "an integer from 0 to 60",
        )?;
        in_range(
            "limits.stanza_burst",
            l.stanza_burst,
            1,
            1 << 20,
            "an integer from 1 to 1048576",
        )?;
        in_range(
            "roster.max_groups_per_item",
            self.roster.max_groups_per_item,
            1,
            10_000,
            "an integer from 1 to 10000",
        )?;
        in_range(
            "privacy.max_lists",
            self.privacy.max_lists,
            1,
            10_000,
            "an integer from 1 to 10000",
        )?;
        in_range(
            "privacy.max_items",
            self.privacy.max_items,
            1,
            100_000,
            "an integer from 1 to 100000",
        )?;
        in_range(
            "auth.max_attempts",
            self.auth.max_attempts,
            1,
            10,
            "an integer from 1 to 10",
        )?;
        in_range(
            "auth.backoff_max_secs",
            self.auth.backoff_max_secs,
            1,
            86_400,
            "a number of seconds from 1 to 86400",
        )?;
        in_range(
            "auth.scram_iterations",
            self.auth.scram_iterations,
            4096,
            1_000_000,
            "an integer from 4096 to 1000000",
        )?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(invalid(
                "tls.cert",
                format!("{:?} / tls.key = {:?}", self.tls.cert, self.tls.key),
                "both tls.cert and tls.key, or neither (a development certificate is generated)",
            ));
        }
        in_range(
            "s2s.connect_timeout_secs",
            self.s2s.connect_timeout_secs,
            1,
            600,
            "a number of seconds from 1 to 600",
        )?;
        in_range(
            "s2s.queue",
            self.s2s.queue,
            1,
            1_000_000,
            "an integer from 1 to 1000000",
        )?;
        if let Some((d, _)) = self
            .s2s
            .routes
            .iter()
            .find(|(_, a)| crate::s2s::parse_route(a).is_none())
        {
            return Err(invalid(
                "s2s.routes",
                d,
                "\"host:port\" or an IP address for each domain",
            ));
        }
        if let Some(d) = self.tls.domains.keys().find(|d| !self.domains.contains(d)) {
            return Err(invalid(
                "tls.domains",
                d,
                "a domain this server serves (one of `domains`)",
            ));
        }
        if self.c2s.listen.0.is_none() && self.c2s.tls_listen.0.is_none() {
            return Err(invalid(
                "c2s.listen",
                "off",
                "an address for c2s.listen or c2s.tls_listen",
            ));
        }
        Ok(())
    }

    pub fn default_domain(&self) -> &str {
        &self.domains[0]
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.idle_timeout_secs)
    }

    /// How long a closed connection reads on (see [`Limits::linger_secs`]).
    pub fn linger(&self) -> Duration {
        Duration::from_secs(self.limits.linger_secs)
    }

    /// The part the actors need.
    pub(crate) fn actors_config(&self) -> cordial_actors::ActorsConfig {
        cordial_actors::ActorsConfig {
            domains: self.domains.clone(),
            offline_quota: self.limits.offline_quota,
            vcard_max_bytes: self.limits.vcard_max_bytes,
            outbound_queue: self.limits.outbound_queue,
            registration: self.auth.registration,
            scram_iterations: self.auth.scram_iterations,
            user_idle: Duration::from_secs(self.limits.user_idle_secs),
            roster: self.roster.limits(),
            privacy: self.privacy.limits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.domains, ["localhost"]);
        assert_eq!(c.c2s.listen.0.unwrap().port(), 5222);
        assert_eq!(c.c2s.tls_listen.0.unwrap().port(), 5223);
        assert!(c.auth.require_tls);
        assert_eq!(c.limits.max_stanza_bytes, 262144);
        assert_eq!(c.limits.offline_quota, 1000);
        assert_eq!(c.roster.max_groups_per_item, 64);
        assert_eq!(c.privacy.max_lists, 50);
        assert_eq!(c.privacy.max_items, 1000);
        let a = c.actors_config();
        assert_eq!(a.roster.max_groups_per_item, 64);
        assert_eq!((a.privacy.max_lists, a.privacy.max_items), (50, 1000));
    }

    #[test]
    fn privacy_and_group_limits_are_read_and_checked() {
        let c = Config::from_toml(
            "[privacy]\nmax_lists = 3\nmax_items = 20\n[roster]\nmax_groups_per_item = 5\n",
        )
        .unwrap();
        let a = c.actors_config();
        assert_eq!((a.privacy.max_lists, a.privacy.max_items), (3, 20));
        assert_eq!(a.roster.max_groups_per_item, 5);
        for (toml, key) in [
            ("[privacy]\nmax_lists = 0\n", "privacy.max_lists"),
            ("[privacy]\nmax_items = 0\n", "privacy.max_items"),
            (
                "[roster]\nmax_groups_per_item = 0\n",
                "roster.max_groups_per_item",
            ),
        ] {
            let e = Config::from_toml(toml).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("from 1 to"), "{e}");
        }
    }

    #[test]
    fn the_linger_is_five_seconds_can_be_off_and_is_bounded() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.linger(), Duration::from_secs(5));
        let off = Config::from_toml("[limits]\nlinger_secs = 0\n").unwrap();
        assert!(off.linger().is_zero());
        let e = Config::from_toml("[limits]\nlinger_secs = 61\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.linger_secs") && e.contains("0 to 60"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_what_it_accepts() {
        let e = Config::from_toml("[limits]\nmax_stanza_bytes = 10\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.max_stanza_bytes") && e.contains("4096 to"),
            "{e}"
        );
        let e = Config::from_toml("[c2s]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen") && e.contains("\"off\""), "{e}");
        let e = Config::from_toml("[auth]\nrequire_tls = \"maybe\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("require_tls") && e.contains("bool"), "{e}");
        let e = Config::from_toml("domians = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("domians") && e.contains("domains"), "{e}");
        let e = Config::from_toml("[roster]\nmax_itmes = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_itmes") && e.contains("max_items"), "{e}");
        let e = Config::from_toml("domains = [\"Not A Domain\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`domains`"), "{e}");
        let e = Config::from_toml("[web]\nadmin_token = \"short\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("web.admin_token") && e.contains("16") && !e.contains("short"),
            "{e}"
        );
    }
}
