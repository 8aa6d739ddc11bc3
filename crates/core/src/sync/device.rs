//! This laptop's device key: an Ed25519 key pair made at enrolment, whose
//! private half is kept only in the OS keyring.

use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::keyvault::KeyVault;
use crate::store::StoreError;

fn account(data_dir: &Path) -> String {
    let abs = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    format!("device:{}", abs.display())
}

/// Make a new key pair and keep it in the keyring (replacing any earlier).
pub fn create(vault: &dyn KeyVault, data_dir: &Path) -> Result<SigningKey, StoreError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| StoreError::RandomUnavailable {
        detail: e.to_string(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    vault.save(&account(data_dir), &hex::encode(seed.as_ref()))?;
    Ok(key)
}

/// The key made at enrolment, if the keyring still has it.
pub fn load(vault: &dyn KeyVault, data_dir: &Path) -> Result<Option<SigningKey>, StoreError> {
    let Some(secret) = vault.load(&account(data_dir))? else {
        return Ok(None);
    };
    let seed: Option<[u8; 32]> = hex::decode(secret.as_str())
        .ok()
        .and_then(|b| b.try_into().ok());
    Ok(seed.map(|s| SigningKey::from_bytes(&s)))
}
