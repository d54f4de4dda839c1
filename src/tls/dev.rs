//! The self-signed development certificate: created on first start when no certificate is
//! configured, kept in the data dir, and created again when the served domains are no longer
//! all covered by it.

use std::path::Path;

use super::certs::{self, Identity};
use super::TlsError;
use crate::config::Config;

/// The development identity for every served domain (and 127.0.0.1).
pub(super) fn identity(config: &Config) -> Result<Identity, TlsError> {
    let cert_path = config.data_dir.join("dev-cert.pem");
    let key_path = config.data_dir.join("dev-key.pem");
    if cert_path.exists() && key_path.exists() {
        let kept = certs::load(&cert_path, &key_path)?;
        if config.domains.iter().all(|d| certs::covers(kept.leaf(), d)) {
            log::warn!(
                "using the self-signed DEVELOPMENT certificate {}: clients cannot verify it; configure tls.cert and tls.key (or tls.cert_dir) for production",
                cert_path.display()
            );
            return Ok(kept);
        }
        log::info!(
            "the development certificate {} does not cover every served domain; making a new one",
            cert_path.display()
        );
    }
    let mut names = config.domains.clone();
    names.push("127.0.0.1".into());
    let certified = rcgen::generate_simple_self_signed(names)?;
    write_private(&cert_path, certified.cert.pem().as_bytes())?;
    write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
    log::warn!(
        "generated a self-signed DEVELOPMENT certificate in {} for {:?} and 127.0.0.1: for development only; configure tls.cert and tls.key (or tls.cert_dir) for production",
        cert_path.display(),
        config.domains
    );
    certs::load(&cert_path, &key_path)
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)
}
