//! State shared by the commands: where the store is, the open store, who is
//! signed in, and the running import.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use clinshare_core::session::Actor;
use clinshare_core::{IpcError, OsKeyring, Store};

use crate::session::Session;
use crate::sync_worker::SyncWorker;

pub struct AppState {
    pub data_dir: PathBuf,
    pub vault: OsKeyring,
    pub started: Instant,
    store: Mutex<Option<Store>>,
    session: Mutex<Session>,
    /// Cancel flag of the import that is running, if one is.
    pub import: Mutex<Option<Arc<AtomicBool>>>,
    /// Sends the outbox in the background.
    pub sync: SyncWorker,
}

impl AppState {
    pub fn new(data_dir: PathBuf, started: Instant) -> Self {
        AppState {
            data_dir,
            vault: OsKeyring::new(),
            started,
            store: Mutex::new(None),
            session: Mutex::new(Session::default()),
            import: Mutex::new(None),
            sync: SyncWorker::default(),
        }
    }

    /// The open store, if any. A poisoned lock only means an earlier command
    /// panicked; the store itself is transactional, so carry on with it.
    pub fn store(&self) -> MutexGuard<'_, Option<Store>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Always taken before [`Self::store`] when both are needed.
    pub fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` as the signed-in clinician, if there is one and the app is
    /// not locked. An app idle for longer than the idle lock is locked here,
    /// whatever the screen did, so a forgotten laptop shows nothing.
    pub fn as_clinician<T>(
        &self,
        f: impl FnOnce(&mut Store, &Actor) -> Result<T, IpcError>,
    ) -> Result<T, IpcError> {
        let mut session = self.session();
        let mut guard = self.store();
        let store = guard.as_mut().ok_or_else(crate::session::signed_out)?;
        let actor = session.active_actor(store)?;
        f(store, &actor)
    }
}
