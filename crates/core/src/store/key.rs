//! The store key: 256 random bits plus the 128-bit SQLCipher salt, and the
//! cipher settings the store was made with.
//!
//! All are generated here and kept together in the keyring. Choosing the salt
//! ourselves (SQLCipher stores it in the first 16 bytes of the file) lets us
//! tell "this keyring entry belongs to another store" apart from "this store
//! is damaged" before trying to decrypt anything.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::StoreError;

pub(crate) const SALT_LEN: usize = 16;

/// How pages are encrypted; the keyring record's version says which. Both
/// are AES-256-CBC with a per-page HMAC, keyed by the raw 256-bit key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Zeroize)]
pub(crate) enum CipherSettings {
    /// SQLCipher 4's defaults: 4 KiB pages, HMAC-SHA512 (stores made
    /// before version 2 of the record).
    Sqlcipher4Defaults,
    /// 16 KiB pages and HMAC-SHA256: photos are most of the store, and
    /// SQLCipher's work per page (and SHA-512 without CPU support) made
    /// reading them the slowest step of sending (~2.4x slower, measured).
    LargePagesSha256,
}

impl CipherSettings {
    pub(crate) fn page_size(self) -> u64 {
        match self {
            CipherSettings::Sqlcipher4Defaults => 4096,
            CipherSettings::LargePagesSha256 => 16384,
        }
    }

    fn record_version(self) -> u32 {
        match self {
            CipherSettings::Sqlcipher4Defaults => 1,
            CipherSettings::LargePagesSha256 => 2,
        }
    }
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct StoreKey {
    pub(super) key: [u8; 32],
    salt: [u8; SALT_LEN],
    settings: CipherSettings,
}

/// What is written to the keyring (hex, versioned so the format can evolve:
/// version 1 is a store with SQLCipher 4's defaults, 2 one with
/// [`CipherSettings::LargePagesSha256`]).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyringRecord {
    v: u32,
    key: String,
    salt: String,
}

impl StoreKey {
    /// A new key, for a store made with `settings`.
    pub(crate) fn generate(settings: CipherSettings) -> Result<StoreKey, StoreError> {
        let mut k = StoreKey {
            key: [0; 32],
            salt: [0; SALT_LEN],
            settings,
        };
        getrandom::fill(&mut k.key).map_err(|e| rng_failed(&e))?;
        getrandom::fill(&mut k.salt).map_err(|e| rng_failed(&e))?;
        Ok(k)
    }

    pub(crate) fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    pub(crate) fn settings(&self) -> CipherSettings {
        self.settings
    }

    /// The secret as stored in the keyring.
    pub(crate) fn to_secret(&self) -> Zeroizing<String> {
        let record = KeyringRecord {
            v: self.settings.record_version(),
            key: hex::encode(self.key),
            salt: hex::encode(self.salt),
        };
        Zeroizing::new(serde_json::to_string(&record).expect("a record of strings serialises"))
    }

    /// Parse a keyring secret; `None` when it is not one of ours.
    pub(crate) fn from_secret(secret: &str) -> Option<StoreKey> {
        let record: KeyringRecord = serde_json::from_str(secret).ok()?;
        let settings = match record.v {
            1 => CipherSettings::Sqlcipher4Defaults,
            2 => CipherSettings::LargePagesSha256,
            _ => return None,
        };
        let mut k = StoreKey {
            key: [0; 32],
            salt: [0; SALT_LEN],
            settings,
        };
        hex::decode_to_slice(&record.key, &mut k.key).ok()?;
        hex::decode_to_slice(&record.salt, &mut k.salt).ok()?;
        Some(k)
    }

    /// `PRAGMA key` with a raw key and explicit salt (no passphrase KDF runs
    /// on open, and the file gets exactly our salt), then the cipher
    /// settings, which must be set before the first page is read.
    pub(crate) fn pragma(&self) -> Zeroizing<String> {
        let mut hexed = Zeroizing::new(String::with_capacity(96));
        hexed.push_str(&hex::encode(self.key));
        hexed.push_str(&hex::encode(self.salt));
        let settings = match self.settings {
            CipherSettings::Sqlcipher4Defaults => "",
            CipherSettings::LargePagesSha256 => {
                " PRAGMA cipher_page_size = 16384; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;"
            }
        };
        Zeroizing::new(format!("PRAGMA key = \"x'{}'\";{settings}", hexed.as_str()))
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
        for settings in [
            CipherSettings::Sqlcipher4Defaults,
            CipherSettings::LargePagesSha256,
        ] {
            let a = StoreKey::generate(settings).expect("rng");
            let b = StoreKey::generate(settings).expect("rng");
            assert_ne!(a.key, b.key);
            assert_ne!(a.salt, b.salt);
            let back = StoreKey::from_secret(&a.to_secret()).expect("parses");
            assert_eq!(back.key, a.key);
            assert_eq!(back.salt, a.salt);
            assert_eq!(back.settings, settings);
        }
    }

    #[test]
    fn foreign_secrets_are_not_keys() {
        assert!(StoreKey::from_secret("hunter2").is_none());
        assert!(StoreKey::from_secret(r#"{"v":3,"key":"00","salt":"00"}"#).is_none());
        assert!(StoreKey::from_secret(r#"{"v":1,"key":"zz","salt":"00"}"#).is_none());
    }
}
