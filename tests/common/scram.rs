//! A SCRAM client (RFC 5802 §3, §5, §7), written from the RFC independently of rsasl, with its
//! channel binding (GS2 flag and binding data) set by the test: for the unit tests of
//! `src/link/sasl.rs` and the TLS tests, which bind to a real connection.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// ClientProof and ServerSignature (RFC 5802 §3) for one hash function.
macro_rules! proof_and_signature {
    ($hash:ty, $password:expr, $salt:expr, $iterations:expr, $auth_message:expr) => {{
        let mut salted = vec![0u8; <$hash as Digest>::output_size()];
        pbkdf2::pbkdf2_hmac::<$hash>($password, $salt, $iterations, &mut salted);
        let hmac = |key: &[u8], msg: &[u8]| {
            let mut m = <Hmac<$hash> as Mac>::new_from_slice(key).unwrap();
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = <$hash as Digest>::digest(&client_key).to_vec();
        let client_signature = hmac(&stored_key, $auth_message);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        (proof, hmac(&server_key, $auth_message))
    }};
}

/// What a client binds with: its GS2 flag (`n`, `y` or `p=<type>`) and the binding data it
/// read from its side of the connection (RFC 5802 §7 `cbind-input`: the GS2 header, then the
/// data with `p` only).
pub struct ScramClient {
    pub mechanism: &'static str,
    pub flag: String,
    pub cbind_data: Vec<u8>,
    pub password: &'static str,
}

impl ScramClient {
    pub fn plus(
        mechanism: &'static str,
        cb_type: &str,
        data: &[u8],
        password: &'static str,
    ) -> ScramClient {
        ScramClient {
            mechanism,
            flag: format!("p={cb_type}"),
            cbind_data: data.to_vec(),
            password,
        }
    }

    pub fn unbound(mechanism: &'static str, flag: &str, password: &'static str) -> ScramClient {
        ScramClient {
            mechanism,
            flag: flag.to_string(),
            cbind_data: Vec::new(),
            password,
        }
    }

    pub fn gs2_header(&self) -> String {
        format!("{},,", self.flag)
    }

    /// client-final-message-without-proof's `c=`: base64 of the GS2 header and binding data.
    fn channel_binding(&self) -> String {
        let mut input = self.gs2_header().into_bytes();
        if self.flag.starts_with("p=") {
            input.extend_from_slice(&self.cbind_data);
        }
        base64::engine::general_purpose::STANDARD.encode(input)
    }

    /// The client-final-message for this server-first-message, and the ServerSignature the
    /// server must then send (`v=`).
    pub fn final_message(&self, client_first_bare: &str, server_first: &str) -> (String, Vec<u8>) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let attr = |name: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {server_first}"))
        };
        let nonce = attr("r=");
        let salt = b64.decode(attr("s=")).unwrap();
        let iterations: u32 = attr("i=").parse().unwrap();
        let without_proof = format!("c={},r={nonce}", self.channel_binding());
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let (pw, msg) = (self.password.as_bytes(), auth_message.as_bytes());
        let (proof, signature) = if self.mechanism.starts_with("SCRAM-SHA-1") {
            proof_and_signature!(Sha1, pw, &salt, iterations, msg)
        } else {
            proof_and_signature!(Sha256, pw, &salt, iterations, msg)
        };
        (
            format!("{without_proof},p={}", b64.encode(proof)),
            signature,
        )
    }
}
