//! Local clinician accounts. Passphrases are hashed with Argon2id; the
//! passphrase itself is never stored or logged.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{ErrorClass, ErrorCode};
use crate::store::{Store, StoreError};

/// Shortest passphrase accepted (NCSC guidance favours long passphrases over
/// complexity rules).
pub const MIN_PASSPHRASE_CHARS: usize = 12;
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(pub i64);

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("Enter a name for the account (1 to {MAX_NAME_CHARS} characters).")]
    InvalidName,
    #[error("The passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long.")]
    WeakPassphrase,
    #[error("An account with this name already exists.")]
    DuplicateName,
    #[error("The name or passphrase is not right.")]
    BadCredentials,
    #[error("Hashing the passphrase failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErrorCode for UserError {
    fn code(&self) -> &'static str {
        match self {
            UserError::InvalidName => "user.invalid_name",
            UserError::WeakPassphrase => "user.weak_passphrase",
            UserError::DuplicateName => "user.duplicate_name",
            UserError::BadCredentials => "user.bad_credentials",
            UserError::Hash(_) => "user.hash_failed",
            UserError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            UserError::Hash(_) => ErrorClass::Environment,
            UserError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

/// Check a new account's name and passphrase without touching any store.
pub fn validate_new(name: &str, passphrase: &str) -> Result<(), UserError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(UserError::InvalidName);
    }
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(UserError::WeakPassphrase);
    }
    Ok(())
}

/// Add a clinician account. The account and its audit entry are written in
/// one transaction.
pub fn add(store: &Store, name: &str, passphrase: &str) -> Result<UserId, UserError> {
    validate_new(name, passphrase)?;
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| UserError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| UserError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(passphrase.as_bytes(), &salt)
        .map_err(|e| UserError::Hash(e.to_string()))?
        .to_string();
    // `unchecked_transaction` because the store is shared immutably here;
    // nothing else uses this connection while the account is written.
    let tx = store
        .conn()
        .unchecked_transaction()
        .map_err(|e| UserError::Store(e.into()))?;
    let result = tx.execute(
        "INSERT INTO users (name, passphrase_hash, created_at) VALUES (?1, ?2, ?3)",
        rusqlite::params![name.trim(), hash, crate::clock::now_rfc3339()],
    );
    let id = match result {
        Ok(_) => tx.last_insert_rowid(),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            return Err(UserError::DuplicateName)
        }
        Err(e) => return Err(UserError::Store(e.into())),
    };
    // The first account is created by the person setting up the laptop, so
    // the new account is its own actor.
    crate::audit::append(
        &tx,
        &crate::audit::NewEntry {
            actor: crate::audit::AuditActor {
                user_id: Some(id),
                name: name.trim(),
            },
            action: crate::audit::AuditAction::UserCreate,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({}),
        },
    )?;
    tx.commit().map_err(|e| UserError::Store(e.into()))?;
    Ok(UserId(id))
}

/// Check a name and passphrase. The same error is returned for an unknown
/// name and a wrong passphrase, so the answer does not reveal which accounts exist.
pub fn verify(store: &Store, name: &str, passphrase: &str) -> Result<UserId, UserError> {
    let row: Option<(i64, String)> = match store.conn().query_row(
        "SELECT id, passphrase_hash FROM users WHERE name = ?1 AND disabled_at IS NULL",
        [name.trim()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ) {
        Ok(row) => Some(row),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => return Err(UserError::Store(e.into())),
    };
    let Some((id, hash)) = row else {
        return Err(UserError::BadCredentials);
    };
    let parsed = PasswordHash::new(&hash).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .verify_password(passphrase.as_bytes(), &parsed)
        .map_err(|_| UserError::BadCredentials)?;
    Ok(UserId(id))
}

/// How many accounts the store has.
pub fn count(store: &Store) -> Result<i64, UserError> {
    Ok(store
        .conn()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .map_err(StoreError::from)?)
}
