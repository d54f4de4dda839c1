//! Certificates and keys from PEM files, as certbot, acme.sh and Prosody's certificate
//! directories have them, and whether a certificate covers a domain (RFC 6125 §6.4).

use std::path::{Path, PathBuf};

use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Ref, X509};

use super::TlsError;

/// A certificate chain (the server's certificate first) and its private key.
pub struct Identity {
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
    /// Where it came from, for the log and errors.
    pub source: String,
}

impl Identity {
    /// The server's own certificate.
    pub fn leaf(&self) -> &X509Ref {
        &self.chain[0]
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A chain from `cert` and its key from `key` (which may be the same file): the key in PKCS#8,
/// PKCS#1 (RSA) or SEC1 (EC) PEM, unencrypted. Refused when the key is not the certificate's.
pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let source = if cert == key {
        cert.display().to_string()
    } else {
        format!("{} + {}", cert.display(), key.display())
    };
    let bad = |why: String| TlsError::Unusable {
        file: source.clone(),
        why,
    };
    let chain = X509::stack_from_pem(&read(cert)?)
        .map_err(|e| bad(format!("no PEM certificate read: {e}")))?;
    if chain.is_empty() {
        return Err(bad("the file holds no certificate".into()));
    }
    let key = PKey::private_key_from_pem(&read(key)?).map_err(|e| {
        bad(format!(
            "no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1) read: {e}"
        ))
    })?;
    let leaf_key = chain[0]
        .public_key()
        .map_err(|e| bad(format!("the certificate's public key: {e}")))?;
    if !leaf_key.public_eq(&key) {
        return Err(bad("the private key does not match the certificate".into()));
    }
    Ok(Identity { chain, key, source })
}

/// The identity for `domain` in a certificate directory, looked up by name as Prosody does:
/// `D.crt` + `D.key`, `D/fullchain.pem` + `D/privkey.pem`, `live/D/…` (certbot's layout),
/// `D.pem` holding both; then the same for the parent domain, when its certificate covers
/// `domain` (a wildcard). `None` when no such files exist.
pub fn find_in_dir(dir: &Path, domain: &str) -> Option<Result<Identity, TlsError>> {
    let parent = domain
        .split_once('.')
        .map(|(_, p)| p)
        .filter(|p| p.contains('.'));
    for name in std::iter::once(domain).chain(parent) {
        for (cert, key) in candidates(dir, name) {
            if !cert.is_file() || !key.is_file() {
                continue;
            }
            let found = load(&cert, &key);
            if name != domain && found.as_ref().is_ok_and(|i| !covers(i.leaf(), domain)) {
                continue;
            }
            return Some(found);
        }
    }
    None
}

fn candidates(dir: &Path, name: &str) -> [(PathBuf, PathBuf); 4] {
    let sub = dir.join(name);
    let live = dir.join("live").join(name);
    [
        (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        ),
        (sub.join("fullchain.pem"), sub.join("privkey.pem")),
        (live.join("fullchain.pem"), live.join("privkey.pem")),
        (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.pem")),
        ),
    ]
}

/// Whether `cert` names `domain` (RFC 6125 §6.4): a DNS subjectAltName equal to it, or a
/// wildcard `*.parent` standing for exactly one label; the subject's common name only when the
/// certificate has no DNS subjectAltName at all. Case does not matter.
pub fn covers(cert: &X509Ref, domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let dns_names: Vec<String> = cert
        .subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if !dns_names.is_empty() {
        return dns_names.iter().any(|n| name_matches(n, &domain));
    }
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok())
        .any(|cn| name_matches(&cn.to_ascii_lowercase(), &domain))
}

fn name_matches(pattern: &str, domain: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(parent) => domain
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == domain,
    }
}

/// When `cert` expires.
pub fn expiry(cert: &X509Ref) -> Result<std::time::SystemTime, TlsError> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0)?;
    let diff = epoch.diff(cert.not_after())?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_stand_for_one_label() {
        assert!(name_matches("*.example.org", "chat.example.org"));
        assert!(!name_matches("*.example.org", "example.org"));
        assert!(!name_matches("*.example.org", "a.chat.example.org"));
        assert!(name_matches("example.org", "example.org"));
        assert!(!name_matches("example.org", "chat.example.org"));
    }

    fn self_signed(names: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        (dir, cert, key)
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (_a, cert, _) = self_signed(&["a.test"]);
        let (_b, _, other_key) = self_signed(&["a.test"]);
        let e = load(&cert, &other_key).err().expect("refused");
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    #[test]
    fn coverage_follows_the_subject_alt_names() {
        let (_d, cert, key) = self_signed(&["a.test", "*.b.test"]);
        let id = load(&cert, &key).unwrap();
        assert!(covers(id.leaf(), "a.test"));
        assert!(covers(id.leaf(), "A.Test"));
        assert!(covers(id.leaf(), "chat.b.test"));
        assert!(!covers(id.leaf(), "b.test"));
        assert!(!covers(id.leaf(), "c.test"));
        let left = expiry(id.leaf())
            .unwrap()
            .duration_since(std::time::SystemTime::now());
        assert!(left.unwrap().as_secs() > 365 * 86_400);
    }
}
