//! Where the store key lives: the operating system's credential store.
//!
//! The key never touches disk. `keyring` 3 silently falls back to an in-memory
//! mock when no platform backend is compiled in, which would lose the key at
//! exit and leave an unreadable store; [`OsKeyring`] therefore checks, on every
//! write, that the credential really is a platform one and reads it back
//! through a fresh handle.

use std::any::Any;

use zeroize::Zeroizing;

use crate::store::StoreError;

/// Keyring service name under which ClinShare keeps its secrets.
pub const SERVICE: &str = "ClinShare";

/// A place to keep secrets that survives the process. Implemented by the OS
/// keyring; tests of the store logic may use their own implementation.
pub trait KeyVault: Send + Sync {
    /// The secret for `account`, or `None` when there is no entry.
    fn load(&self, account: &str) -> Result<Option<Zeroizing<String>>, StoreError>;
    /// Create or replace the secret for `account`.
    fn save(&self, account: &str, secret: &str) -> Result<(), StoreError>;
    /// Remove the entry for `account`; removing a missing entry is not an error.
    fn delete(&self, account: &str) -> Result<(), StoreError>;
    /// A short, human name of the backend for status screens.
    fn backend(&self) -> &'static str;
}

/// The operating system's keyring: Secret Service on Linux, Keychain on
/// macOS, Credential Manager on Windows.
#[derive(Debug, Clone)]
pub struct OsKeyring {
    service: String,
}

impl Default for OsKeyring {
    fn default() -> Self {
        OsKeyring {
            service: SERVICE.to_owned(),
        }
    }
}

impl OsKeyring {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(&self.service, account).map_err(unavailable)
    }
}

/// True when the credential comes from a real, persistent platform store
/// rather than keyring's in-memory mock.
fn is_platform_credential(credential: &dyn Any) -> bool {
    #[cfg(target_os = "linux")]
    {
        credential
            .downcast_ref::<keyring::secret_service::SsCredential>()
            .is_some()
    }
    #[cfg(target_os = "macos")]
    {
        credential
            .downcast_ref::<keyring::macos::MacCredential>()
            .is_some()
    }
    #[cfg(target_os = "windows")]
    {
        credential
            .downcast_ref::<keyring::windows::WinCredential>()
            .is_some()
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        let _ = credential;
        false
    }
}

fn unavailable(e: keyring::Error) -> StoreError {
    // The platform error text says which service failed (e.g. "no D-Bus
    // session"); it never contains the secret.
    StoreError::KeyringUnavailable {
        detail: e.to_string(),
    }
}

impl KeyVault for OsKeyring {
    fn load(&self, account: &str) -> Result<Option<Zeroizing<String>>, StoreError> {
        let entry = self.entry(account)?;
        if !is_platform_credential(entry.get_credential()) {
            return Err(StoreError::KeyringNotPersistent);
        }
        match entry.get_password() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn save(&self, account: &str, secret: &str) -> Result<(), StoreError> {
        let entry = self.entry(account)?;
        if !is_platform_credential(entry.get_credential()) {
            return Err(StoreError::KeyringNotPersistent);
        }
        entry.set_password(secret).map_err(unavailable)?;
        // Read back through a new handle: proves the secret reached the
        // platform store and is not just held by this object.
        let check = self.entry(account)?.get_password().map_err(unavailable)?;
        if check.as_str() != secret {
            return Err(StoreError::KeyringNotPersistent);
        }
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), StoreError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn backend(&self) -> &'static str {
        if cfg!(target_os = "linux") {
            "Secret Service"
        } else if cfg!(target_os = "macos") {
            "macOS Keychain"
        } else if cfg!(target_os = "windows") {
            "Windows Credential Manager"
        } else {
            "unsupported"
        }
    }
}
