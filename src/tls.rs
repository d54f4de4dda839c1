//! TLS identity: the configured certificate, or a self-signed development certificate created
//! on first start and kept in the data dir.

use std::path::Path;

use crate::config::Config;

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
    #[error("the certificate or key is not usable: {0}")]
    Identity(#[from] native_tls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
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

/// The TLS acceptor for c2s: from `tls.cert`/`tls.key`, or the development certificate.
pub fn acceptor(config: &Config) -> Result<tokio_native_tls::TlsAcceptor, TlsError> {
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (read(c)?, read(k)?),
        _ => dev_certificate(config)?,
    };
    let identity = native_tls::Identity::from_pkcs8(&cert, &key)?;
    let acceptor = native_tls::TlsAcceptor::builder(identity)
        .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .build()?;
    Ok(acceptor.into())
}

fn dev_certificate(config: &Config) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let cert_path = config.data_dir.join("dev-cert.pem");
    let key_path = config.data_dir.join("dev-key.pem");
    if cert_path.exists() && key_path.exists() {
        log::warn!(
            "using the self-signed DEVELOPMENT certificate {} — clients cannot verify it; configure tls.cert and tls.key for production",
            cert_path.display()
        );
        return Ok((read(&cert_path)?, read(&key_path)?));
    }
    let mut names = config.domains.clone();
    names.push("127.0.0.1".into());
    let certified = rcgen::generate_simple_self_signed(names)?;
    let cert = certified.cert.pem().into_bytes();
    let key = certified.key_pair.serialize_pem().into_bytes();
    write_private(&cert_path, &cert)?;
    write_private(&key_path, &key)?;
    log::warn!(
        "generated a self-signed DEVELOPMENT certificate in {} for {:?} — for development only; configure tls.cert and tls.key for production",
        cert_path.display(),
        config.domains
    );
    Ok((cert, key))
}
