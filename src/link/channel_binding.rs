//! Channel binding data of a TLS connection (RFC 5056), for SCRAM-*-PLUS (RFC 5802 §6) and its
//! advertisement (XEP-0440).
//!
//! The TLS side computes it once, when the handshake completes; SASL reads it. Three types:
//! `tls-exporter` (RFC 9266: 32 bytes exported with the label "EXPORTER-Channel-Binding" and
//! no context; defined for TLS 1.3 only), `tls-server-end-point` (RFC 5929 §4.1: the hash
//! of the server's certificate, SHA-256 when the certificate's signature uses MD5 or SHA-1,
//! else the signature's own hash), and `tls-unique` (RFC 5929 §3: the first Finished message
//! of the handshake) over TLS 1.2 only, and only with the extended master secret (RFC 7627,
//! against the triple handshake) and no renegotiation: what clients limited to it (slixmpp and
//! nbxmpp on TLS 1.2, as Python's ssl offers nothing else) bind with, and what Prosody and
//! ejabberd offer.

/// What a TLS connection offers to bind to; both empty without TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// RFC 9266 `tls-exporter`; only over TLS 1.3.
    pub tls_exporter: Option<Vec<u8>>,
    /// RFC 5929 `tls-server-end-point`.
    pub tls_server_end_point: Option<Vec<u8>>,
    /// RFC 5929 `tls-unique`; only over TLS 1.2 with the extended master secret.
    pub tls_unique: Option<Vec<u8>>,
}

impl ChannelBindings {
    pub const TLS_EXPORTER: &'static str = "tls-exporter";
    pub const TLS_SERVER_END_POINT: &'static str = "tls-server-end-point";
    pub const TLS_UNIQUE: &'static str = "tls-unique";

    /// The data for channel binding type `name`, if this connection has it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        match name {
            Self::TLS_EXPORTER => self.tls_exporter.as_deref(),
            Self::TLS_SERVER_END_POINT => self.tls_server_end_point.as_deref(),
            Self::TLS_UNIQUE => self.tls_unique.as_deref(),
            _ => None,
        }
    }

    /// The types this connection can bind to, preferred first, as advertised in `<sasl-channel-binding/>` (XEP-0440 §2).
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            Self::TLS_EXPORTER,
            Self::TLS_SERVER_END_POINT,
            Self::TLS_UNIQUE,
        ]
        .into_iter()
        .filter(|t| self.get(t).is_some())
    }

    /// Whether SCRAM-*-PLUS can be offered at all.
    pub fn any(&self) -> bool {
        self.types().next().is_some()
    }
}

impl ChannelBindings {
    /// The bindings of an established TLS connection: `tls-exporter` over TLS 1.3 only (RFC 9266
    /// §2 leaves TLS 1.2 without it); `tls-server-end-point` from the certificate this server
    /// presented, unless its signature algorithm names no single hash (Ed25519, RSA-PSS), for
    /// which RFC 5929 §4.1 defines none.
    pub fn from_ssl(ssl: &openssl::ssl::SslRef) -> Self {
        let tls_exporter = (ssl.version2() == Some(openssl::ssl::SslVersion::TLS1_3))
            .then(|| {
                let mut out = vec![0; 32];
                ssl.export_keying_material(&mut out, "EXPORTER-Channel-Binding", None)
                    .ok()
                    .map(|()| out)
            })
            .flatten();
        let tls_server_end_point = ssl.certificate().and_then(server_end_point);
        let tls_unique = (ssl.version2() == Some(openssl::ssl::SslVersion::TLS1_2)
            && ssl.extms_support() == Some(true))
        .then(|| {
            // The first Finished of the handshake: the client's on a full handshake, ours on
            // a resumed one.
            let mut out = vec![0; 64];
            let n = if ssl.session_reused() {
                ssl.finished(&mut out)
            } else {
                ssl.peer_finished(&mut out)
            };
            out.truncate(n);
            (n > 0 && n <= 64).then_some(out)
        })
        .flatten();
        ChannelBindings {
            tls_exporter,
            tls_server_end_point,
            tls_unique,
        }
    }
}

/// RFC 5929 §4.1: the certificate's hash with its signature's hash function, SHA-256 where
/// that is MD5 or SHA-1.
fn server_end_point(cert: &openssl::x509::X509Ref) -> Option<Vec<u8>> {
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    let algorithms = cert
        .signature_algorithm()
        .object()
        .nid()
        .signature_algorithms()?;
    let digest = match algorithms.digest {
        Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
        other => MessageDigest::from_nid(other)?,
    };
    cert.digest(digest).ok().map(|d| d.to_vec())
}
