//! The server's Ed25519 signing key (directory and receipts), created on
//! first start in the data directory, and the random ids and secrets the
//! server hands out.

use std::io::Write;
use std::path::Path;

use clinshare_protocol::{canonical_json, key_id, Signed};
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fsutil;

pub const SIGNING_KEY_FILE: &str = "signing-key.ed25519";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the server signing key file {0} is damaged (expected 32 bytes)")]
    Damaged(String),
    #[error("cannot read or write the server signing key: {0}")]
    Io(#[from] std::io::Error),
    #[error("no system randomness: {0}")]
    Random(String),
}

pub struct ServerKeys {
    signing: SigningKey,
    key_id: String,
}

impl ServerKeys {
    /// Loads the key, or creates it (0600) when the file does not exist.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let seed = random_bytes::<32>()?;
                let mut f = fsutil::create_private(&path)?;
                f.write_all(&seed)?;
                f.sync_all()?;
                seed.to_vec()
            }
            Err(e) => return Err(e.into()),
        };
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Damaged(path.display().to_string()))?;
        Ok(Self::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let key_id = key_id(&signing.verifying_key().to_bytes());
        ServerKeys { signing, key_id }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().to_bytes())
    }

    /// Signs the canonical JSON of `payload`.
    pub fn sign<T: Serialize>(&self, payload: T) -> Result<Signed<T>, serde_json::Error> {
        let bytes = canonical_json(&payload)?;
        let signature = self.signing.sign(&bytes);
        Ok(Signed {
            payload,
            key_id: self.key_id.clone(),
            signature: hex::encode(signature.to_bytes()),
        })
    }
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(b)
}

/// A random 128-bit id in hex.
pub fn new_id() -> Result<String, KeyError> {
    Ok(hex::encode(random_bytes::<16>()?))
}

/// Secrets (tokens, enrolment codes) are stored only as their SHA-256: they
/// are long and random, so a slow hash adds nothing.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
