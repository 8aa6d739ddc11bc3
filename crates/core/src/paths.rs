//! Where the store lives on disk.

use std::path::{Path, PathBuf};

/// File name of the encrypted database inside a data directory.
pub const STORE_FILE: &str = "clinshare.db";

/// The platform's per-user data directory for ClinShare
/// (e.g. `~/.local/share/clinshare` on Linux).
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("clinshare")
}

/// The database file for a data directory.
pub fn store_file(data_dir: &Path) -> PathBuf {
    data_dir.join(STORE_FILE)
}
