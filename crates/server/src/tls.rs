//! TLS: the server's certificate and the pin the app checks.
//!
//! Without `--cert/--key`, the first start generates an ECDSA P-256 key and
//! a self-signed certificate into `DATA_DIR/tls/` and later starts reuse
//! them. The pin is the **lower-case hex SHA-256 of the certificate's
//! SubjectPublicKeyInfo (DER)**, so it survives re-issuing a certificate for
//! the same key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write TLS files: {0}")]
    Io(#[from] std::io::Error),
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("the key file holds no PEM private key")]
    NoKey,
    #[error("the certificate is not valid DER")]
    BadCertificate,
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Hex SHA-256 of the leaf certificate's SubjectPublicKeyInfo.
    pub pin: String,
    pub generated: bool,
}

pub fn default_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

impl TlsMaterial {
    /// Uses the configured pair, or the generated pair in the data directory
    /// (creating it on first start).
    pub fn load(data_dir: &Path, configured: Option<(&Path, &Path)>) -> Result<Self, TlsError> {
        if let Some((cert, key)) = configured {
            return Self::from_files(cert, key, false);
        }
        let (cert, key) = default_paths(data_dir);
        if cert.exists() && key.exists() {
            return Self::from_files(&cert, &key, false);
        }
        fsutil::create_private_dir(&data_dir.join("tls"))?;
        let generated = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .map_err(|e| TlsError::Generate(e.to_string()))?;
        write_new(&key, generated.key_pair.serialize_pem().as_bytes())?;
        write_new(&cert, generated.cert.pem().as_bytes())?;
        Self::from_files(&cert, &key, true)
    }

    fn from_files(cert: &Path, key: &Path, generated: bool) -> Result<Self, TlsError> {
        let cert_pem = std::fs::read(cert)?;
        let key_pem = std::fs::read(key)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TlsError::NoCertificate)?;
        let leaf = chain.first().ok_or(TlsError::NoCertificate)?;
        let pin = spki_pin(leaf).ok_or(TlsError::BadCertificate)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey)?;
        Ok(TlsMaterial {
            chain,
            key,
            pin,
            generated,
        })
    }

    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fsutil::create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

// The pin is computed in the protocol crate, where the app's check uses it too.
pub use clinshare_protocol::tls::{spki_der, spki_pin};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_a_pair_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = TlsMaterial::load(dir.path(), None).expect("generate");
        assert!(first.generated);
        assert_eq!(first.pin.len(), 64);
        let second = TlsMaterial::load(dir.path(), None).expect("reload");
        assert!(!second.generated);
        assert_eq!(first.pin, second.pin);
        assert!(first.server_config().is_ok());
    }

    #[test]
    fn the_pin_is_the_hash_of_the_key_pairs_spki() {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let from_cert = spki_pin(generated.cert.der()).expect("pin");
        use sha2::{Digest, Sha256};
        let from_key = hex::encode(Sha256::digest(generated.key_pair.public_key_der()));
        assert_eq!(from_cert, from_key);
    }

    #[test]
    fn garbage_has_no_pin() {
        assert_eq!(spki_pin(b""), None);
        assert_eq!(spki_pin(&[0x30, 0x82, 0xff]), None);
    }
}
