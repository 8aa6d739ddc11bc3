//! The encrypted local store: one SQLCipher database per data directory, its
//! key in the OS keyring.
//!
//! Invariants kept here:
//! - the key never touches disk (it is generated in memory and saved only to
//!   the keyring; the file holds only SQLCipher's salt, which is not secret);
//! - a missing, wrong or unreadable key is an error that leaves the store file
//!   untouched — never a new empty store over an old one;
//! - an unencrypted database is refused, never opened.

mod error;
mod key;
pub mod migrate;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use ts_rs::TS;

pub use error::StoreError;
pub(crate) use key::CipherSettings;
use key::{StoreKey, SALT_LEN};

use crate::error::IpcError;
use crate::keyvault::KeyVault;
use crate::paths::store_file;

/// The first bytes of every unencrypted SQLite database.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// The smallest page size of any store (SQLCipher 4's default): an
/// encrypted store is a whole number of pages.
const PAGE_SIZE: u64 = 4096;

/// An open, decrypted, migrated store.
pub struct Store {
    conn: Connection,
    data_dir: PathBuf,
    db_path: PathBuf,
    /// Kept (zeroed on drop) to open [`Store::another_connection`]; the
    /// open connection holds the same key anyway.
    key: StoreKey,
    /// Last, so it is dropped after the connection has closed.
    _live: Registration,
}

/// Connections open to each store file in this process.
///
/// POSIX record locks belong to the process, and closing *any* descriptor
/// of a file drops all of them. Reading the store's header through a
/// descriptor of our own while a connection is open would silently drop
/// that connection's locks; another process (the CLI beside the app)
/// closing its connection would then believe it was the last, checkpoint
/// and delete the WAL under the app ("database disk image is malformed").
/// So the file is only ever opened outside SQLite while no connection to
/// it is open here.
static LIVE: std::sync::Mutex<std::collections::BTreeMap<PathBuf, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

struct Registration(PathBuf);

impl Registration {
    /// Counts a connection about to be opened to `db_path`. `alone` runs
    /// first, under the registry's lock, only when no connection to it is
    /// open in this process (it may open the file); its error registers
    /// nothing.
    fn claim<T>(
        db_path: &Path,
        alone: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<(Registration, Option<T>), StoreError> {
        let mut live = LIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let open_here = live.get(db_path).copied().unwrap_or(0);
        let checked = if open_here == 0 { Some(alone()?) } else { None };
        *live.entry(db_path.to_owned()).or_insert(0) += 1;
        Ok((Registration(db_path.to_owned()), checked))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = LIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = live.get_mut(&self.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.remove(&self.0);
            }
        }
    }
}

/// Where the store is and whether it could be opened; what the first screen
/// and `clinshare status` show.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StoreStatus {
    pub location: String,
    pub state: StoreState,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoreState {
    Open {
        #[ts(type = "number")]
        schema_version: i64,
        #[ts(type = "number")]
        latest_schema_version: i64,
        encrypted: bool,
        cipher_version: String,
    },
    NotInitialised,
    Unavailable {
        error: IpcError,
    },
}

impl Store {
    /// The keyring account for a data directory: derived from its absolute
    /// location, so two stores on one machine never share a key.
    pub fn keyring_account(data_dir: &Path) -> String {
        format!("store:{}", absolute(data_dir).display())
    }

    /// Create a new store in `data_dir`. Refuses when a store, or a keyring
    /// entry for one, already exists there.
    pub fn create(data_dir: &Path, vault: &dyn KeyVault) -> Result<Store, StoreError> {
        Self::create_with(data_dir, vault, CipherSettings::LargePagesSha256)
    }

    /// [`Store::create`] with the given cipher settings (tests make stores
    /// as earlier versions did).
    pub(crate) fn create_with(
        data_dir: &Path,
        vault: &dyn KeyVault,
        settings: CipherSettings,
    ) -> Result<Store, StoreError> {
        create_private_dir(data_dir)?;
        let data_dir = absolute(data_dir);
        let db_path = store_file(&data_dir);
        if fs::symlink_metadata(&db_path).is_ok() {
            return Err(StoreError::AlreadyExists { location: db_path });
        }
        let account = Self::keyring_account(&data_dir);
        if vault.load(&account)?.is_some() {
            return Err(StoreError::StoreFileMissing { location: db_path });
        }

        let key = StoreKey::generate(settings)?;
        vault.save(&account, &key.to_secret())?;

        let (live, _) = Registration::claim(&db_path, || Ok(()))?;
        let created = (|| {
            create_new_private_file(&db_path)?;
            let mut conn = Connection::open_with_flags(&db_path, open_flags())?;
            unlock(&conn, &key)?;
            configure(&conn)?;
            migrate::apply_pending(&mut conn)?;
            conn.execute(
                "INSERT INTO store_meta (id, store_id, created_at) VALUES (1, ?1, ?2)",
                rusqlite::params![random_id()?, crate::clock::now_rfc3339()],
            )?;
            Ok::<_, StoreError>(conn)
        })();

        match created {
            Ok(conn) => Ok(Store {
                conn,
                data_dir,
                db_path,
                key,
                _live: live,
            }),
            Err(e) => {
                // Nothing of value is in a half-created store: remove it and
                // its key so that setup can simply be run again.
                remove_store_files(&db_path);
                let _ = vault.delete(&account);
                Err(e)
            }
        }
    }

    /// Open the existing store in `data_dir`. Never creates anything.
    pub fn open(data_dir: &Path, vault: &dyn KeyVault) -> Result<Store, StoreError> {
        let data_dir = absolute(data_dir);
        let db_path = store_file(&data_dir);
        let account = Self::keyring_account(&data_dir);

        // The header is checked before any key is used, unless a
        // connection to this file is already open here (see `LIVE`): it
        // passed these checks then.
        let (live, header) = Registration::claim(&db_path, || read_header(&db_path))?;
        let header = match header {
            Some(Some(h)) => Some(h),
            Some(None) => {
                return Err(if vault.load(&account)?.is_some() {
                    StoreError::StoreFileMissing { location: db_path }
                } else {
                    StoreError::NotInitialised { location: db_path }
                });
            }
            None => None,
        };
        if let Some(header) = &header {
            if header.len < SALT_LEN as u64 {
                return Err(damaged(&db_path, "the file is empty or truncated"));
            }
            if &header.first16 == PLAINTEXT_HEADER {
                return Err(StoreError::NotEncrypted { location: db_path });
            }
            if header.len % PAGE_SIZE != 0 {
                return Err(damaged(&db_path, "the file is truncated"));
            }
        }

        let secret = vault
            .load(&account)?
            .ok_or_else(|| StoreError::KeyMissing {
                location: db_path.clone(),
            })?;
        let key = StoreKey::from_secret(&secret).ok_or_else(|| StoreError::KeyMismatch {
            location: db_path.clone(),
        })?;
        if let Some(header) = &header {
            if key.salt() != &header.first16 {
                return Err(StoreError::KeyMismatch { location: db_path });
            }
            if header.len % key.settings().page_size() != 0 {
                return Err(damaged(&db_path, "the file is truncated"));
            }
        }

        let mut conn = Connection::open_with_flags(&db_path, open_flags())?;
        unlock(&conn, &key)?;
        // The first read decrypts page 1. With the salt already matched, a
        // failure here means the file itself is damaged.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| classify(e, &db_path))?;
        migrate::guard_version(&conn, &db_path).map_err(|e| reclassify(e, &db_path))?;
        configure(&conn).map_err(|e| reclassify(e, &db_path))?;
        migrate::apply_pending(&mut conn)?;
        Ok(Store {
            conn,
            data_dir,
            db_path,
            key,
            _live: live,
        })
    }

    /// A second connection to this store, for work on another thread
    /// (reading the next referral's photos while this one uploads).
    pub fn another_connection(&self) -> Result<Store, StoreError> {
        let (live, _) = Registration::claim(&self.db_path, || Ok(()))?;
        let conn = Connection::open_with_flags(&self.db_path, open_flags())?;
        unlock(&conn, &self.key)?;
        configure(&conn).map_err(|e| reclassify(e, &self.db_path))?;
        Ok(Store {
            conn,
            data_dir: self.data_dir.clone(),
            db_path: self.db_path.clone(),
            key: self.key.clone(),
            _live: live,
        })
    }

    /// Status of the store in `data_dir` without ever failing: errors become
    /// the `Unavailable` state with their code and message.
    pub fn probe(data_dir: &Path, vault: &dyn KeyVault) -> StoreStatus {
        let location = store_file(&absolute(data_dir)).display().to_string();
        match Store::open(data_dir, vault).and_then(|s| s.status()) {
            Ok(status) => status,
            Err(StoreError::NotInitialised { .. }) => StoreStatus {
                location,
                state: StoreState::NotInitialised,
            },
            Err(e) => StoreStatus {
                location,
                state: StoreState::Unavailable {
                    error: IpcError::from(&e),
                },
            },
        }
    }

    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let cipher_version: Option<String> = self
            .conn
            .query_row("PRAGMA cipher_version", [], |r| r.get(0))
            .ok();
        // Not by reading the file (see `LIVE`): an open store passed the
        // plaintext check when it was opened, so SQLCipher answering is
        // the test.
        let cipher_version = cipher_version.unwrap_or_default();
        Ok(StoreStatus {
            location: self.db_path.display().to_string(),
            state: StoreState::Open {
                schema_version: migrate::current_version(&self.conn)?,
                latest_schema_version: migrate::latest_version(),
                encrypted: !cipher_version.is_empty(),
                cipher_version,
            },
        })
    }

    /// Decrypt and check every page (slow on a large store: on demand only).
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        // First every page's HMAC (SQLCipher), then the b-tree structure.
        for pragma in ["PRAGMA cipher_integrity_check", "PRAGMA integrity_check"] {
            let problems = self
                .problems(pragma)
                .map_err(|e| damaged(&self.db_path, &format!("a page could not be read: {e}")))?;
            if !problems.is_empty() {
                return Err(damaged(
                    &self.db_path,
                    &format!(
                        "{} problem(s) found, first: {}",
                        problems.len(),
                        problems[0]
                    ),
                ));
            }
        }
        Ok(())
    }

    fn problems(&self, pragma: &str) -> Result<Vec<String>, rusqlite::Error> {
        let mut stmt = self.conn.prepare(pragma)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut problems = Vec::new();
        for row in rows {
            let line = row?;
            if line != "ok" {
                problems.push(line);
            }
        }
        Ok(problems)
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The database file (absolute).
    pub fn location(&self) -> &Path {
        &self.db_path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests;

fn open_flags() -> OpenFlags {
    // Deliberately no SQLITE_OPEN_CREATE: opening never makes a new file.
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn unlock(conn: &Connection, key: &StoreKey) -> Result<(), StoreError> {
    // SQLCipher logs "hmac check failed" to stderr on a bad page; our own
    // error says it better.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.execute_batch(&key.pragma())?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

struct Header {
    len: u64,
    first16: [u8; 16],
}

/// Length and first 16 bytes of the store file; `None` when it does not exist.
fn read_header(db_path: &Path) -> Result<Option<Header>, StoreError> {
    let io = |source| StoreError::Io {
        location: db_path.to_owned(),
        source,
    };
    let mut file = match fs::File::open(db_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    let mut first16 = [0u8; 16];
    let mut filled = 0;
    while filled < first16.len() {
        match file.read(&mut first16[filled..]).map_err(io)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(Some(Header { len, first16 }))
}

fn damaged(db_path: &Path, reason: &str) -> StoreError {
    StoreError::Damaged {
        location: db_path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Map SQLite's "not a database" / "corrupt" results to a damaged store.
fn classify(e: rusqlite::Error, db_path: &Path) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(NotADatabase) => damaged(db_path, "it cannot be decrypted: its first page is damaged"),
        Some(DatabaseCorrupt) => damaged(db_path, "its contents are corrupt"),
        _ => StoreError::Database(e),
    }
}

fn reclassify(e: StoreError, db_path: &Path) -> StoreError {
    match e {
        StoreError::Database(inner) => classify(inner, db_path),
        other => other,
    }
}

fn absolute(path: &Path) -> PathBuf {
    fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_owned())
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        location: dir.to_owned(),
        source,
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io)
}

fn create_new_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::AlreadyExists {
                location: path.to_owned(),
            },
            _ => StoreError::Io {
                location: path.to_owned(),
                source,
            },
        })
}

fn remove_store_files(db_path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
}

fn random_id() -> Result<String, StoreError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| StoreError::RandomUnavailable {
        detail: e.to_string(),
    })?;
    Ok(hex::encode(id))
}
