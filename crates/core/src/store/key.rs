//! The store key: 256 random bits plus the 128-bit SQLCipher salt.
//!
//! Both are generated here and kept together in the keyring. Choosing the salt
//! ourselves (SQLCipher stores it in the first 16 bytes of the file) lets us
//! tell "this keyring entry belongs to another store" apart from "this store
//! is damaged" before trying to decrypt anything.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::StoreError;

pub(crate) const SALT_LEN: usize = 16;

#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct StoreKey {
    pub(super) key: [u8; 32],
    salt: [u8; SALT_LEN],
}

/// What is written to the keyring (hex, versioned so the format can evolve).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyringRecord {
    v: u32,
    key: String,
    salt: String,
}

impl StoreKey {
    pub(crate) fn generate() -> Result<StoreKey, StoreError> {
        let mut k = StoreKey {
            key: [0; 32],
            salt: [0; SALT_LEN],
        };
        getrandom::fill(&mut k.key).map_err(|e| rng_failed(&e))?;
        getrandom::fill(&mut k.salt).map_err(|e| rng_failed(&e))?;
        Ok(k)
    }

    pub(crate) fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The secret as stored in the keyring.
    pub(crate) fn to_secret(&self) -> Zeroizing<String> {
        let record = KeyringRecord {
            v: 1,
            key: hex::encode(self.key),
            salt: hex::encode(self.salt),
        };
        Zeroizing::new(serde_json::to_string(&record).expect("a record of strings serialises"))
    }

    /// Parse a keyring secret; `None` when it is not one of ours.
    pub(crate) fn from_secret(secret: &str) -> Option<StoreKey> {
        let record: KeyringRecord = serde_json::from_str(secret).ok()?;
        if record.v != 1 {
            return None;
        }
        let mut k = StoreKey {
            key: [0; 32],
            salt: [0; SALT_LEN],
        };
        hex::decode_to_slice(&record.key, &mut k.key).ok()?;
        hex::decode_to_slice(&record.salt, &mut k.salt).ok()?;
        Some(k)
    }

    /// `PRAGMA key` with a raw key and explicit salt: no passphrase KDF runs
    /// on open, and the file gets exactly our salt.
    pub(crate) fn pragma(&self) -> Zeroizing<String> {
        let mut hexed = Zeroizing::new(String::with_capacity(96));
        hexed.push_str(&hex::encode(self.key));
        hexed.push_str(&hex::encode(self.salt));
        Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hexed.as_str()))
    }
}

fn rng_failed(e: &getrandom::Error) -> StoreError {
    StoreError::RandomUnavailable {
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trips_and_keys_differ() {
        let a = StoreKey::generate().expect("rng");
        let b = StoreKey::generate().expect("rng");
        assert_ne!(a.key, b.key);
        assert_ne!(a.salt, b.salt);
        let back = StoreKey::from_secret(&a.to_secret()).expect("parses");
        assert_eq!(back.key, a.key);
        assert_eq!(back.salt, a.salt);
    }

    #[test]
    fn foreign_secrets_are_not_keys() {
        assert!(StoreKey::from_secret("hunter2").is_none());
        assert!(StoreKey::from_secret(r#"{"v":2,"key":"00","salt":"00"}"#).is_none());
        assert!(StoreKey::from_secret(r#"{"v":1,"key":"zz","salt":"00"}"#).is_none());
    }
}
