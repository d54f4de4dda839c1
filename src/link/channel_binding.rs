//! Channel binding data of a TLS connection (RFC 5056), for SCRAM-*-PLUS (RFC 5802 §6) and its
//! advertisement (XEP-0440).
//!
//! The TLS side computes it once, when the handshake completes; SASL reads it. Two types:
//! `tls-exporter` (RFC 9266: 32 bytes exported with the label "EXPORTER-Channel-Binding" and
//! no context; defined for TLS 1.3 only) and `tls-server-end-point` (RFC 5929 §4.1: the hash
//! of the server's certificate, SHA-256 when the certificate's signature uses MD5 or SHA-1,
//! else the signature's own hash).

/// What a TLS connection offers to bind to; both empty without TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// RFC 9266 `tls-exporter`; only over TLS 1.3.
    pub tls_exporter: Option<Vec<u8>>,
    /// RFC 5929 `tls-server-end-point`.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    pub const TLS_EXPORTER: &'static str = "tls-exporter";
    pub const TLS_SERVER_END_POINT: &'static str = "tls-server-end-point";

    /// The data for channel binding type `name`, if this connection has it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        match name {
            Self::TLS_EXPORTER => self.tls_exporter.as_deref(),
            Self::TLS_SERVER_END_POINT => self.tls_server_end_point.as_deref(),
            _ => None,
        }
    }

    /// The types this connection can bind to, preferred first, as advertised in `<sasl-channel-binding/>` (XEP-0440 §2).
    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        [Self::TLS_EXPORTER, Self::TLS_SERVER_END_POINT]
            .into_iter()
            .filter(|t| self.get(t).is_some())
    }

    /// Whether SCRAM-*-PLUS can be offered at all.
    pub fn any(&self) -> bool {
        self.types().next().is_some()
    }
}
