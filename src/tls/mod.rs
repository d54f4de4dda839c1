//! TLS for the client listeners, on OpenSSL (through the `openssl` crate that native-tls wraps:
//! native-tls cannot enable TLS 1.3 on its OpenSSL acceptor nor export keying material for
//! channel binding; see docs/tls.md for the decision and its measurements).
//!
//! - TLS 1.3 and 1.2 (1.0 and 1.1 refused), Mozilla's intermediate profile (v5);
//! - one certificate per served domain, chosen by SNI; the default domain's for a client that
//!   names no domain or an unknown one ([`certs`] reads them, [`dev`] makes the development
//!   certificate);
//! - ALPN `xmpp-client` on the direct TLS port (XEP-0368): a client that offers only other
//!   protocols is refused there; STARTTLS ignores ALPN;
//! - [`Tls::reload`] swaps every certificate at once (SIGHUP, the admin API); connections
//!   already up keep theirs.

mod certs;
mod dev;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use openssl::ex_data::Index;
use openssl::ssl::{
    AlpnError, NameType, SniError, Ssl, SslAcceptor, SslAcceptorBuilder, SslContext, SslMethod,
    SslMode, SslOptions, SslVersion,
};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::config::Config;
use certs::Identity;

/// The ALPN protocol of client-to-server XMPP over direct TLS (XEP-0368), in wire format.
const ALPN_XMPP_CLIENT: &[u8] = b"\x0bxmpp-client";

/// Days before a certificate expires from which each load and each daily check warns.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the development certificate to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot generate a development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate {file} is not usable: {why}")]
    Unusable { file: String, why: String },
    #[error("the certificate {file} does not cover the served domain {domain}")]
    NotCovering { file: String, domain: String },
    #[error(
        "no certificate for the served domain {0}: give it tls.domains.\"{0}\", a file in tls.cert_dir, or a tls.cert that covers it"
    )]
    Missing(String),
    #[error("TLS setup: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
}

/// One served domain's certificate, as the metrics and the expiry warning see it.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub domain: String,
    pub source: String,
    pub expires: std::time::SystemTime,
}

impl Certificate {
    /// Whole days from now until it expires (negative once it has).
    pub fn days_to_expiry(&self) -> i64 {
        let now = std::time::SystemTime::now();
        match self.expires.duration_since(now) {
            Ok(left) => (left.as_secs() / 86_400) as i64,
            Err(past) => -((past.duration().as_secs() / 86_400) as i64) - 1,
        }
    }
}

/// The TLS contexts in use: swapped whole by [`Tls::reload`].
struct Contexts {
    /// The default domain's; its SNI callback switches to the named domain's.
    default: SslContext,
    /// Each served domain's (lowercase), without the SNI switch.
    by_domain: Arc<HashMap<String, SslContext>>,
    default_domain: String,
    certificates: Vec<Certificate>,
}

impl Contexts {
    /// The context for the name a client asked for; the default domain's for no name or one
    /// we do not serve.
    fn for_name(&self, name: Option<&str>) -> &SslContext {
        name.map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .and_then(|n| self.by_domain.get(&n))
            .or_else(|| self.by_domain.get(&self.default_domain))
            .unwrap_or(&self.default)
    }
}

/// The server side of TLS for every client listener.
pub struct Tls {
    current: Arc<ArcSwap<Contexts>>,
}

/// Marks a connection accepted on the direct TLS port, for the ALPN callback.
fn direct_index() -> Index<Ssl, bool> {
    static INDEX: OnceLock<Index<Ssl, bool>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("an OpenSSL ex_data index"))
}

impl Tls {
    /// The certificates of `config` for every served domain; an error names the file or domain
    /// at fault.
    pub fn new(config: &Config) -> Result<Self, TlsError> {
        let contexts = contexts(config)?;
        warn_expiring(&contexts.certificates);
        Ok(Tls {
            current: Arc::new(ArcSwap::from_pointee(contexts)),
        })
    }

    /// Reads the certificates again and uses them for every new connection; on an error the
    /// ones in use stay.
    pub fn reload(&self, config: &Config) -> Result<(), TlsError> {
        let contexts = contexts(config)?;
        warn_expiring(&contexts.certificates);
        for c in &contexts.certificates {
            log::info!(
                "certificate for {} from {} ({} days to expiry)",
                c.domain,
                c.source,
                c.days_to_expiry()
            );
        }
        self.current.store(Arc::new(contexts));
        Ok(())
    }

    /// The certificate of each served domain, as loaded.
    pub fn certificates(&self) -> Vec<Certificate> {
        self.current.load().certificates.clone()
    }

    /// Warns for each certificate within [`EXPIRY_WARNING_DAYS`] of expiry, with the days
    /// counted again from now.
    pub fn check_expiry(&self) {
        warn_expiring(&self.current.load().certificates);
    }

    /// An acceptor for the HTTPS listener (WebSocket, RFC 7395): the same profile and
    /// certificates, the certificate chosen by SNI from those in force at each handshake, so a
    /// reload reaches it too. No XMPP ALPN: the HTTP server speaks HTTP/1.1.
    pub fn https_acceptor(&self) -> Result<SslAcceptorBuilder, TlsError> {
        let config = self.current.load();
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
        b.set_mode(SslMode::RELEASE_BUFFERS);
        // A context needs a certificate of its own; each handshake switches to the current one.
        let start = config.for_name(None);
        if let (Some(cert), Some(key)) = (start.certificate(), start.private_key()) {
            b.set_certificate(cert)?;
            b.set_private_key(key)?;
        }
        let current = self.current.clone();
        b.set_servername_callback(move |ssl, _alert| {
            let contexts = current.load();
            let ctx = contexts.for_name(ssl.servername(NameType::HOST_NAME));
            ssl.set_ssl_context(ctx).map_err(|_| SniError::ALERT_FATAL)
        });
        Ok(b)
    }

    /// The client side of a handshake with `domain`'s server (s2s): TLS 1.2 or 1.3, SNI
    /// `domain`. The peer's certificate is not required to verify here: Server Dialback
    /// authenticates the domain whatever the certificate (XEP-0220 §1.2); SASL EXTERNAL, which
    /// relies on it, is not built yet. `ca_file` will add trusted authorities for that check.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        domain: &str,
        _ca_file: Option<&std::path::Path>,
    ) -> Result<SslStream<TcpStream>, std::io::Error> {
        use openssl::ssl::{SslConnector, SslVerifyMode};
        let mut b =
            SslConnector::builder(SslMethod::tls_client()).map_err(std::io::Error::other)?;
        b.set_min_proto_version(Some(SslVersion::TLS1_2))
            .map_err(std::io::Error::other)?;
        b.set_verify(SslVerifyMode::NONE);
        let ssl = b
            .build()
            .configure()
            .and_then(|c| c.verify_hostname(false).into_ssl(domain))
            .map_err(std::io::Error::other)?;
        let mut stream = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(std::io::Error::other)?;
        Ok(stream)
    }

    /// The server side of a handshake on `tcp`; `direct` on the direct TLS port (ALPN).
    pub async fn accept(
        &self,
        tcp: TcpStream,
        direct: bool,
    ) -> Result<SslStream<TcpStream>, std::io::Error> {
        let mut ssl = Ssl::new(&self.current.load().default).map_err(std::io::Error::other)?;
        ssl.set_ex_data(direct_index(), direct);
        let mut stream = SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
        Pin::new(&mut stream)
            .accept()
            .await
            .map_err(std::io::Error::other)?;
        Ok(stream)
    }
}

fn warn_expiring(certificates: &[Certificate]) {
    for c in certificates {
        let days = c.days_to_expiry();
        if days < 0 {
            log::error!(
                "the certificate for {} ({}) has EXPIRED: clients will refuse it",
                c.domain,
                c.source
            );
        } else if days <= EXPIRY_WARNING_DAYS {
            log::warn!(
                "the certificate for {} ({}) expires in {} days: renew it and send SIGHUP",
                c.domain,
                c.source,
                c.days_to_expiry()
            );
        }
    }
}

/// Each served domain's identity, in the order of [`config::Tls`](crate::config::Tls).
fn identities(config: &Config) -> Result<Vec<(String, Arc<Identity>)>, TlsError> {
    let tls = &config.tls;
    if tls.cert.is_none() && tls.cert_dir.is_none() && tls.domains.is_empty() {
        let dev = Arc::new(dev::identity(config)?);
        return Ok(config
            .domains
            .iter()
            .map(|d| (d.clone(), dev.clone()))
            .collect());
    }
    let fallback = match (&tls.cert, &tls.key) {
        (Some(c), Some(k)) => Some(Arc::new(certs::load(c, k)?)),
        _ => None,
    };
    let mut out = Vec::new();
    for domain in &config.domains {
        let identity = if let Some(own) = tls.domains.get(domain) {
            Arc::new(certs::load(&own.cert, &own.key)?)
        } else if let Some(found) = tls
            .cert_dir
            .as_deref()
            .and_then(|dir| certs::find_in_dir(dir, domain))
        {
            Arc::new(found?)
        } else if let Some(f) = &fallback {
            f.clone()
        } else {
            return Err(TlsError::Missing(domain.clone()));
        };
        if !certs::covers(identity.leaf(), domain) {
            return Err(TlsError::NotCovering {
                file: identity.source.clone(),
                domain: domain.clone(),
            });
        }
        out.push((domain.clone(), identity));
    }
    Ok(out)
}

/// A context for one certificate: TLS 1.2 and 1.3 on Mozilla's intermediate profile, buffers
/// released while a connection is idle, ALPN for the direct TLS port.
fn builder(identity: &Identity) -> Result<SslAcceptorBuilder, TlsError> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    // An idle session (most of them, most of the time) holds no TLS read/write buffers.
    b.set_mode(SslMode::RELEASE_BUFFERS);
    // No renegotiation (TLS 1.2): the channel's identity, which tls-unique binds to, stays
    // that of its one handshake.
    b.set_options(SslOptions::NO_RENEGOTIATION);
    b.set_certificate(identity.leaf())?;
    for c in &identity.chain[1..] {
        b.add_extra_chain_cert(c.clone())?;
    }
    b.set_private_key(&identity.key)?;
    b.check_private_key()?;
    b.set_alpn_select_callback(|ssl, offered| {
        if !ssl.ex_data(direct_index()).copied().unwrap_or(false) {
            // STARTTLS: the stream is already XMPP; ALPN is not acknowledged.
            return Err(AlpnError::NOACK);
        }
        openssl::ssl::select_next_proto(ALPN_XMPP_CLIENT, offered).ok_or(AlpnError::ALERT_FATAL)
    });
    Ok(b)
}

fn contexts(config: &Config) -> Result<Contexts, TlsError> {
    let identities = identities(config)?;
    // Domains sharing one identity share its context.
    let mut built: Vec<(*const Identity, SslContext)> = Vec::new();
    let mut by_domain: HashMap<String, SslContext> = HashMap::new();
    let mut certificates = Vec::new();
    for (domain, identity) in &identities {
        let ptr = Arc::as_ptr(identity);
        let ctx = match built.iter().find(|(p, _)| *p == ptr) {
            Some((_, ctx)) => ctx.clone(),
            None => {
                let ctx = builder(identity)?.build().into_context();
                built.push((ptr, ctx.clone()));
                ctx
            }
        };
        by_domain.insert(domain.to_ascii_lowercase(), ctx);
        certificates.push(Certificate {
            domain: domain.clone(),
            source: identity.source.clone(),
            expires: certs::expiry(identity.leaf())?,
        });
    }
    // The default domain's context, with the SNI switch added (its own copy: a context's
    // callbacks are set on its builder).
    let mut b = builder(&identities[0].1)?;
    let by_domain = Arc::new(by_domain);
    let switch = by_domain.clone();
    b.set_servername_callback(move |ssl, _alert| {
        let Some(name) = ssl.servername(NameType::HOST_NAME) else {
            return Ok(());
        };
        if let Some(ctx) = switch.get(&name.trim_end_matches('.').to_ascii_lowercase()) {
            ssl.set_ssl_context(ctx)
                .map_err(|_| SniError::ALERT_FATAL)?;
        }
        // An unknown name keeps the default domain's certificate.
        Ok(())
    });
    Ok(Contexts {
        default: b.build().into_context(),
        by_domain,
        default_domain: config.domains[0].to_ascii_lowercase(),
        certificates,
    })
}
