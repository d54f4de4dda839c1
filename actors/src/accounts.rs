//! Account credentials: salted SCRAM keys (RFC 5802, RFC 7677) derived once from a password.
//!
//! Only StoredKey and ServerKey are kept, for SHA-1 and SHA-256. Neither lets anyone log in
//! without the password; PLAIN logins are checked by deriving the SHA-256 StoredKey again.

use cordial_storage::{Credentials, ScramKeys};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The minimum iteration count RFC 7677 §4 asks for.
pub const MIN_ITERATIONS: u32 = 4096;

/// Derives StoredKey and ServerKey for one hash function (RFC 5802 §3). A macro rather than
/// a generic function: the digest traits' bounds are long and say nothing to a reader.
macro_rules! scram_keys {
    ($hash:ty, $password:expr, $salt:expr, $iterations:expr) => {{
        let mut salted = vec![0u8; <$hash as Digest>::output_size()];
        pbkdf2::pbkdf2_hmac::<$hash>($password, $salt, $iterations, &mut salted);
        let hmac = |msg: &[u8]| {
            let mut m =
                <Hmac<$hash> as Mac>::new_from_slice(&salted).expect("HMAC accepts any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let client_key = hmac(b"Client Key");
        ScramKeys {
            iterations: $iterations,
            salt: $salt.to_vec(),
            stored_key: <$hash as Digest>::digest(&client_key).to_vec(),
            server_key: hmac(b"Server Key"),
        }
    }};
}

/// Derives fresh credentials with new random salts.
pub fn derive_credentials(password: &str, iterations: u32) -> Credentials {
    let iterations = iterations.max(MIN_ITERATIONS);
    let mut rng = rand::thread_rng();
    let mut salt1 = [0u8; 16];
    let mut salt256 = [0u8; 16];
    rng.fill_bytes(&mut salt1);
    rng.fill_bytes(&mut salt256);
    Credentials {
        sha1: scram_keys!(Sha1, password.as_bytes(), &salt1, iterations),
        sha256: scram_keys!(Sha256, password.as_bytes(), &salt256, iterations),
    }
}

/// Checks a plain password (SASL PLAIN, XEP-0077) against the stored SHA-256 keys, in constant
/// time.
pub fn verify_password(credentials: &Credentials, password: &str) -> bool {
    let stored = &credentials.sha256;
    let again = scram_keys!(Sha256, password.as_bytes(), &stored.salt, stored.iterations);
    again.stored_key.ct_eq(&stored.stored_key).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_the_right_password_only() {
        let c = derive_credentials("s3cret", 4096);
        assert!(verify_password(&c, "s3cret"));
        assert!(!verify_password(&c, "s3cret "));
        assert_eq!(c.sha1.stored_key.len(), 20);
        assert_eq!(c.sha256.server_key.len(), 32);
        assert_ne!(c.sha1.salt, c.sha256.salt);
    }

    /// RFC 7677 §3's parameters (user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
    /// 4096 iterations); expected keys computed independently with Python's hashlib and hmac.
    #[test]
    fn rfc7677_parameters_give_the_reference_keys() {
        let salt = [
            91, 109, 153, 104, 157, 18, 53, 142, 236, 160, 75, 20, 18, 54, 250, 129,
        ];
        let k = scram_keys!(Sha256, b"pencil", &salt, 4096u32);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&k.stored_key),
            "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6"
        );
        assert_eq!(
            hex(&k.server_key),
            "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5"
        );
    }
}

/// Account operations shared by the command line, the admin socket and in-band registration.
mod ops {
    use std::sync::Arc;

    use cordial_storage::{Result, StorageError};
    use jid::BareJid;

    use super::derive_credentials;
    use crate::protocol::{DeleteAccount, ToAccount};
    use crate::router::Router;

    /// Creates an account; `Ok(false)` if it exists. Durable when this returns.
    pub async fn create_account(router: &Router, bare: &BareJid, password: &str) -> Result<bool> {
        let creds = derive_credentials(password, router.config().scram_iterations);
        durable(router, router.store.create_account(bare.as_str(), &creds)).await
    }

    /// Replaces an account's keys; `Ok(false)` if there is no such account. Durable when this
    /// returns.
    pub async fn change_password(router: &Router, bare: &BareJid, password: &str) -> Result<bool> {
        let creds = derive_credentials(password, router.config().scram_iterations);
        durable(router, router.store.set_credentials(bare.as_str(), &creds)).await
    }

    /// What a write answered, once it is on disk.
    async fn durable<T>(router: &Router, written: Result<T>) -> Result<T> {
        let answer = written?;
        router.store.flush().await?;
        Ok(answer)
    }

    /// Deletes an account and what is stored for it, and closes its sessions with
    /// `<not-authorized/>`. `Ok(false)` if there was no such account.
    pub async fn delete_account(router: &Arc<Router>, bare: &BareJid) -> Result<bool> {
        let (reply, result) = tokio::sync::oneshot::channel();
        let stopped = |e: &dyn std::fmt::Display| {
            StorageError::Flush(format!(
                "the account's actor stopped during the deletion: {e}"
            ))
        };
        router
            .account(bare)
            .send(ToAccount::Delete(DeleteAccount { reply }))
            .await
            .map_err(|e| stopped(&e))?
            .map_err(|_| stopped(&"it was retiring"))?;
        result.await.map_err(|e| stopped(&e))?
    }
}

pub use ops::{change_password, create_account, delete_account};
