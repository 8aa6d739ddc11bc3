//! Everything that can go wrong opening or creating the encrypted store.
//!
//! Messages are written for the person at the keyboard: what happened, that
//! nothing was changed, and what to do. They never contain key material.

use std::path::PathBuf;

use crate::error::{ErrorClass, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "The system keyring is not available, so the store key cannot be read or saved ({detail}). \
         ClinShare keeps its store key in the keyring. Sign in to a desktop session with a keyring \
         running (on Linux: GNOME Keyring or KWallet providing the Secret Service), unlock it, and \
         try again."
    )]
    KeyringUnavailable { detail: String },

    #[error(
        "This build of ClinShare has no persistent system keyring, so a store key would be lost \
         when the program exits. Refusing to continue; install a build with keyring support."
    )]
    KeyringNotPersistent,

    #[error(
        "No key for the store at {location} was found in your keyring. The store may belong to \
         another user account on this computer, or the keyring was reset. The store has not been \
         changed; sign in as the user who set it up, or restore the keyring."
    )]
    KeyMissing { location: PathBuf },

    #[error(
        "The key in your keyring does not match this store ({location}): the keyring entry belongs \
         to a different store. The store has not been changed."
    )]
    KeyMismatch { location: PathBuf },

    #[error(
        "The store at {location} is damaged ({reason}). It has not been changed; restore it from a \
         backup or ask your IT service desk for help."
    )]
    Damaged { location: PathBuf, reason: String },

    #[error(
        "The file at {location} is an unencrypted database. ClinShare only uses encrypted stores \
         and has not opened or changed it."
    )]
    NotEncrypted { location: PathBuf },

    #[error(
        "The store at {location} was written by a newer version of ClinShare (schema {found}; this \
         version knows up to {known}). Update ClinShare. The store has not been changed."
    )]
    NewerSchema {
        location: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("No store has been set up at {location} yet.")]
    NotInitialised { location: PathBuf },

    #[error(
        "A store already exists at {location}. ClinShare never creates a new store over an \
         existing one."
    )]
    AlreadyExists { location: PathBuf },

    #[error(
        "Your keyring holds a key for a store at {location}, but the store file is missing. If it \
         was moved or deleted, restore it from a backup. ClinShare will not create a new, empty \
         store in its place."
    )]
    StoreFileMissing { location: PathBuf },

    #[error("Could not read or write {location}: {source}")]
    Io {
        location: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("The system's random number generator failed ({detail}); no key was created.")]
    RandomUnavailable { detail: String },

    #[error("The store reported an error: {0}")]
    Database(#[from] rusqlite::Error),

    #[error(
        "Updating the store to schema {version} ({name}) failed; nothing was changed: {source}"
    )]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl ErrorCode for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::KeyringUnavailable { .. } => "keyring.unavailable",
            StoreError::KeyringNotPersistent => "keyring.not_persistent",
            StoreError::KeyMissing { .. } => "store.key_missing",
            StoreError::KeyMismatch { .. } => "store.key_mismatch",
            StoreError::Damaged { .. } => "store.damaged",
            StoreError::NotEncrypted { .. } => "store.not_encrypted",
            StoreError::NewerSchema { .. } => "store.newer_schema",
            StoreError::NotInitialised { .. } => "store.not_initialised",
            StoreError::AlreadyExists { .. } => "store.already_exists",
            StoreError::StoreFileMissing { .. } => "store.file_missing",
            StoreError::Io { .. } => "store.io",
            StoreError::RandomUnavailable { .. } => "system.random_unavailable",
            StoreError::Database(_) => "store.database",
            StoreError::Migration { .. } => "store.migration",
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            StoreError::AlreadyExists { .. } | StoreError::NotInitialised { .. } => {
                ErrorClass::Refused
            }
            _ => ErrorClass::Environment,
        }
    }
}
