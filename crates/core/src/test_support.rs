//! Helpers shared by the unit tests of the store and the domain modules.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::keyvault::KeyVault;
use crate::store::{Store, StoreError};

/// An in-process key vault: the store logic without the OS keyring.
#[derive(Default)]
pub(crate) struct MemoryVault {
    entries: Mutex<HashMap<String, String>>,
    broken: bool,
}

impl MemoryVault {
    pub(crate) fn broken() -> Self {
        MemoryVault {
            broken: true,
            ..Default::default()
        }
    }
    pub(crate) fn get(&self, account: &str) -> Option<String> {
        self.entries.lock().expect("lock").get(account).cloned()
    }
    pub(crate) fn put(&self, account: &str, secret: String) {
        self.entries
            .lock()
            .expect("lock")
            .insert(account.to_owned(), secret);
    }
}

impl KeyVault for MemoryVault {
    fn load(&self, account: &str) -> Result<Option<Zeroizing<String>>, StoreError> {
        if self.broken {
            return Err(StoreError::KeyringUnavailable {
                detail: "no keyring in this test".into(),
            });
        }
        Ok(self.get(account).map(Zeroizing::new))
    }
    fn save(&self, account: &str, secret: &str) -> Result<(), StoreError> {
        if self.broken {
            return Err(StoreError::KeyringUnavailable {
                detail: "no keyring in this test".into(),
            });
        }
        self.put(account, secret.to_owned());
        Ok(())
    }
    fn delete(&self, account: &str) -> Result<(), StoreError> {
        self.entries.lock().expect("lock").remove(account);
        Ok(())
    }
    fn backend(&self) -> &'static str {
        "memory (tests)"
    }
}

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub(crate) fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::default();
    let store = Store::create(dir.path(), &vault).expect("create");
    (dir, store)
}

/// A clinician account and a signed-in actor for it, without the cost of
/// hashing a passphrase.
pub(crate) fn actor(store: &Store, name: &str) -> crate::session::Actor {
    store
        .conn()
        .execute(
            "INSERT INTO users (name, passphrase_hash, created_at) VALUES (?1, 'test', 'test')",
            [name],
        )
        .expect("user");
    crate::session::Actor::for_tests(store.conn().last_insert_rowid(), name)
}

/// Count the rows of a table.
pub(crate) fn count(store: &Store, table: &str) -> i64 {
    store
        .conn()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}
