//! State shared by the commands: where the store is and, once opened, the store.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use clinshare_core::{OsKeyring, Store};

pub struct AppState {
    pub data_dir: PathBuf,
    pub vault: OsKeyring,
    pub started: Instant,
    store: Mutex<Option<Store>>,
}

impl AppState {
    pub fn new(data_dir: PathBuf, started: Instant) -> Self {
        AppState {
            data_dir,
            vault: OsKeyring::new(),
            started,
            store: Mutex::new(None),
        }
    }

    /// The open store, if any. A poisoned lock only means an earlier command
    /// panicked; the store itself is transactional, so carry on with it.
    pub fn store(&self) -> MutexGuard<'_, Option<Store>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}
