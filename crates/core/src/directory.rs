//! The signed directory of teams this laptop may send to, cached in the
//! store for offline use. The server's signature is checked when a
//! directory arrives and again whenever it is read, so an entry edited in
//! the store (or a directory from another server) is never trusted; an
//! older version never replaces a newer one (no rollback).

use clinshare_protocol::directory::{Directory, DirectoryTeam, SignedDirectory};
use clinshare_protocol::{canonical_json, key_id, Signed, PROTOCOL_VERSION};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rusqlite::OptionalExtension;
use serde::Serialize;
use ts_rs::TS;

use crate::error::{ErrorClass, ErrorCode};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("This laptop is not enrolled with an approved server yet, so there is no directory of recipients.")]
    NotEnrolled,
    #[error("No directory of recipients has been fetched yet: connect to the network once so ClinShare can fetch it.")]
    NotFetched,
    #[error("The directory of recipients is not signed by the approved server; it was not used. Fetch it again.")]
    BadSignature,
    #[error(
        "The directory offered (version {offered}) is older than the one already held (version {held}); it was not used."
    )]
    Rollback { offered: i64, held: i64 },
    #[error(
        "The directory speaks protocol version {0}, which this version of ClinShare does not."
    )]
    Protocol(u32),
    #[error("The directory could not be read or written ({0}).")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DirectoryError {
    fn from(e: rusqlite::Error) -> Self {
        DirectoryError::Store(e.into())
    }
}

impl ErrorCode for DirectoryError {
    fn code(&self) -> &'static str {
        match self {
            DirectoryError::NotEnrolled => "directory.not_enrolled",
            DirectoryError::NotFetched => "directory.not_fetched",
            DirectoryError::BadSignature => "directory.bad_signature",
            DirectoryError::Rollback { .. } => "directory.rollback",
            DirectoryError::Protocol(_) => "directory.protocol",
            DirectoryError::Unreadable(_) => "directory.unreadable",
            DirectoryError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            DirectoryError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

/// A recipient team as the composer lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Recipient {
    pub team_id: String,
    pub name: String,
    pub organisation: String,
    pub clinicians: Vec<String>,
    /// The largest file the team takes, if it sets a limit.
    #[ts(type = "number | null")]
    pub max_file_bytes: Option<u64>,
}

/// The cached directory, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub directory: Directory,
    /// When it was fetched (RFC 3339), to show its age.
    pub fetched_at: String,
}

impl Cached {
    /// The team, if it is still listed and accepts referrals.
    pub fn team(&self, team_id: &str) -> Option<&DirectoryTeam> {
        self.directory
            .teams
            .iter()
            .find(|t| t.team_id == team_id && t.accepts_referrals)
    }

    /// Teams that accept referrals, by name.
    pub fn recipients(&self) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = self
            .directory
            .teams
            .iter()
            .filter(|t| t.accepts_referrals)
            .map(|t| Recipient {
                team_id: t.team_id.clone(),
                name: t.name.clone(),
                organisation: t.organisation.clone(),
                clinicians: t.clinicians.iter().map(|c| c.name.clone()).collect(),
                max_file_bytes: t.max_file_bytes,
            })
            .collect();
        out.sort_by_key(|r| r.name.to_lowercase());
        out
    }
}

/// The enrolled server's signing key (hex), if enrolled.
pub fn server_key(store: &Store) -> Result<Option<String>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT server_signing_key FROM enrolment WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Check a directory's signature against the server's key (hex).
pub fn verify(signed: &SignedDirectory, server_key_hex: &str) -> Result<(), DirectoryError> {
    verify_inner(signed, server_key_hex)
}

/// Whether `signed` carries the server's signature (key given in hex) over
/// its payload's canonical bytes: directories and receipts alike.
pub fn verify_signed<T: Serialize>(signed: &Signed<T>, server_key_hex: &str) -> bool {
    verify_inner(signed, server_key_hex).is_ok()
}

fn verify_inner<T: Serialize>(
    signed: &Signed<T>,
    server_key_hex: &str,
) -> Result<(), DirectoryError> {
    let key: [u8; 32] = hex::decode(server_key_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(DirectoryError::BadSignature)?;
    if signed.key_id != key_id(&key) {
        return Err(DirectoryError::BadSignature);
    }
    let key = VerifyingKey::from_bytes(&key).map_err(|_| DirectoryError::BadSignature)?;
    let sig: [u8; 64] = hex::decode(&signed.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(DirectoryError::BadSignature)?;
    let bytes = canonical_json(&signed.payload).map_err(|_| DirectoryError::BadSignature)?;
    key.verify(&bytes, &Signature::from_bytes(&sig))
        .map_err(|_| DirectoryError::BadSignature)
}

/// Keep a freshly fetched directory, after checking its signature, its
/// protocol version and that it is not older than the one held.
pub fn store_fetched(store: &mut Store, signed: &SignedDirectory) -> Result<(), DirectoryError> {
    let key = server_key(store)?.ok_or(DirectoryError::NotEnrolled)?;
    verify(signed, &key)?;
    let d = &signed.payload;
    if d.protocol_version != PROTOCOL_VERSION {
        return Err(DirectoryError::Protocol(d.protocol_version));
    }
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let held: Option<i64> = tx
        .query_row(
            "SELECT version FROM directory_cache WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(held) = held.filter(|h| *h > d.version) {
        return Err(DirectoryError::Rollback {
            offered: d.version,
            held,
        });
    }
    let json =
        serde_json::to_string(signed).map_err(|e| DirectoryError::Unreadable(e.to_string()))?;
    tx.execute(
        "INSERT INTO directory_cache (id, version, issued_at, fetched_at, signed_json)
         VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at,
             fetched_at = excluded.fetched_at, signed_json = excluded.signed_json",
        rusqlite::params![d.version, d.issued_at, crate::clock::now_rfc3339(), json],
    )?;
    tx.commit()?;
    Ok(())
}

/// The cached directory, its signature checked again.
pub fn current(store: &Store) -> Result<Cached, DirectoryError> {
    let key = server_key(store)?.ok_or(DirectoryError::NotEnrolled)?;
    let row: Option<(String, String)> = store
        .conn()
        .query_row(
            "SELECT signed_json, fetched_at FROM directory_cache WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (json, fetched_at) = row.ok_or(DirectoryError::NotFetched)?;
    let signed: SignedDirectory =
        serde_json::from_str(&json).map_err(|e| DirectoryError::Unreadable(e.to_string()))?;
    verify(&signed, &key)?;
    Ok(Cached {
        directory: signed.payload,
        fetched_at,
    })
}
