//! What every command gets: where the store is, who is acting, how to print.

use std::path::PathBuf;

use clinshare_core::{paths, OsKeyring};

pub struct Context {
    pub data_dir: PathBuf,
    pub user: Option<String>,
    pub json: bool,
    pub vault: OsKeyring,
}

impl Context {
    pub fn new(data_dir: Option<PathBuf>, user: Option<String>, json: bool) -> Self {
        Context {
            data_dir: data_dir.unwrap_or_else(paths::default_data_dir),
            user,
            json,
            vault: OsKeyring::new(),
        }
    }
}

impl Context {
    pub fn vault_backend(&self) -> &'static str {
        use clinshare_core::KeyVault;
        self.vault.backend()
    }
}
