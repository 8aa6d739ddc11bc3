//! The approved server this laptop is enrolled with: its address, the pin
//! of its TLS key and its signing key. The device's private key lives in the
//! OS keyring, never in the store.

use rusqlite::OptionalExtension;
use serde::Serialize;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::session::Actor;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Enrolment {
    pub server_url: String,
    /// Hex SHA-256 of the server's TLS public key (SPKI), as the
    /// administrator gave it.
    pub spki_sha256: String,
    pub device_id: String,
    /// Hex Ed25519 public key that signs the directory and receipts.
    pub server_signing_key: String,
    pub server_key_id: String,
    pub enrolled_at: String,
}

/// Record a completed enrolment (audited); replaces an earlier one.
pub fn save(store: &mut Store, actor: &Actor, e: &Enrolment) -> Result<(), StoreError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO enrolment (id, server_url, spki_sha256, device_id, server_signing_key, \
         server_key_id, enrolled_at, enrolled_by) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET server_url = excluded.server_url,
             spki_sha256 = excluded.spki_sha256, device_id = excluded.device_id,
             server_signing_key = excluded.server_signing_key,
             server_key_id = excluded.server_key_id, enrolled_at = excluded.enrolled_at,
             enrolled_by = excluded.enrolled_by",
        rusqlite::params![
            e.server_url,
            e.spki_sha256,
            e.device_id,
            e.server_signing_key,
            e.server_key_id,
            e.enrolled_at,
            actor.id()
        ],
    )?;
    // A directory signed by another server must not survive a re-enrolment.
    tx.execute("DELETE FROM directory_cache", [])?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Enrol,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({"server": e.server_url, "device_id": e.device_id}),
        },
    )?;
    tx.commit()?;
    Ok(())
}

pub fn get(store: &Store) -> Result<Option<Enrolment>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT server_url, spki_sha256, device_id, server_signing_key, server_key_id, \
             enrolled_at FROM enrolment WHERE id = 1",
            [],
            |r| {
                Ok(Enrolment {
                    server_url: r.get(0)?,
                    spki_sha256: r.get(1)?,
                    device_id: r.get(2)?,
                    server_signing_key: r.get(3)?,
                    server_key_id: r.get(4)?,
                    enrolled_at: r.get(5)?,
                })
            },
        )
        .optional()?)
}
