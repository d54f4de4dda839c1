//! Server Dialback keys (XEP-0220 §2.1, generated as XEP-0185 §3 recommends): the originating
//! server's key for one stream is an HMAC-SHA256 over the receiving server, the originating
//! server and the stream id, keyed by the SHA-256 of a secret only this process knows. The
//! receiving server asks us (the authoritative server) to check it over a stream of its own:
//! we compute it again, so nothing is stored.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The secret behind every key this process hands out (a restart invalidates keys in flight,
/// which only makes the peers verify again).
pub struct Secret([u8; 32]);

impl Secret {
    pub fn random() -> Secret {
        Secret(rand::random())
    }

    /// XEP-0185 §3: `HMAC-SHA256(SHA256(secret), receiving ' ' originating ' ' stream_id)`,
    /// both in lowercase hex.
    pub fn key(&self, receiving: &str, originating: &str, stream_id: &str) -> String {
        let hashed = hex(&Sha256::digest(self.0));
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(hashed.as_bytes()).expect("any key length");
        mac.update(receiving.as_bytes());
        mac.update(b" ");
        mac.update(originating.as_bytes());
        mac.update(b" ");
        mac.update(stream_id.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `key` is the one we would hand out for this stream, compared in constant time.
    pub fn verify(&self, receiving: &str, originating: &str, stream_id: &str, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        let ours = self.key(receiving, originating, stream_id);
        bool::from(ours.as_bytes().ct_eq(key.trim().as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_verifies_for_its_stream_only() {
        let s = Secret::random();
        let k = s.key("b.test", "a.test", "s1");
        assert_eq!(k.len(), 64);
        assert!(s.verify("b.test", "a.test", "s1", &k));
        assert!(!s.verify("b.test", "a.test", "s2", &k));
        assert!(!s.verify("c.test", "a.test", "s1", &k));
        assert!(!s.verify("b.test", "a.test", "s1", "00"));
        assert!(!Secret::random().verify("b.test", "a.test", "s1", &k));
    }
}
