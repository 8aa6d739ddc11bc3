//! The audit trail: an append-only, hash-chained log of who did what.
//!
//! Each entry's hash is SHA-256 over a canonical encoding of all its fields
//! and the previous entry's hash, so changing, removing or reordering an
//! entry breaks the chain and [`verify`] names where. Triggers refuse UPDATE
//! and DELETE on the table as a second line; someone with raw SQL access can
//! drop them, which `verify` also reports.
//!
//! What the chain cannot do on its own: the hash has no secret key, so
//! someone who rewrites *every* later entry and the head row consistently
//! is not detected locally. Sending the head hash to the server (sync) is
//! what anchors it.
//!
//! Domain functions call [`append`] inside the same transaction as the
//! change they record, so there is never a change without its entry, or an
//! entry for a change that was rolled back.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::store::{Store, StoreError};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the canonical encoding, so a future change of it is explicit.
const DOMAIN: &[u8] = b"clinshare.audit.v1\0";

const TRIGGERS: [&str; 2] = ["audit_log_no_update", "audit_log_no_delete"];

/// What was done. Codes are stored and shown: add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    SignOut,
    Lock,
    Unlock,
    PatientCreate,
    PatientEdit,
    Import,
    View,
    Tag,
    ConsentRecord,
    ConsentWithdraw,
    Delete,
    Export,
    Share,
    SettingsChange,
    UserCreate,
    Enrol,
    /// A referral addressed to this user's team was opened or its photos
    /// downloaded into the store.
    Receive,
    /// A referral addressed to this user's team was acknowledged.
    Acknowledge,
    /// Retention removed a sent photo's bytes.
    Purge,
    /// A photo cleaned by an older release was cleaned again under the
    /// current rules before sending (`referrals/reclean.rs`).
    Reclean,
}

impl AuditAction {
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign_in",
            AuditAction::SignInFailed => "sign_in_failed",
            AuditAction::SignOut => "sign_out",
            AuditAction::Lock => "lock",
            AuditAction::Unlock => "unlock",
            AuditAction::PatientCreate => "patient_create",
            AuditAction::PatientEdit => "patient_edit",
            AuditAction::Import => "import",
            AuditAction::View => "view",
            AuditAction::Tag => "tag",
            AuditAction::ConsentRecord => "consent_record",
            AuditAction::ConsentWithdraw => "consent_withdraw",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
            AuditAction::Share => "share",
            AuditAction::SettingsChange => "settings_change",
            AuditAction::UserCreate => "user_create",
            AuditAction::Enrol => "enrol",
            AuditAction::Receive => "receive",
            AuditAction::Acknowledge => "acknowledge",
            AuditAction::Purge => "purge",
            AuditAction::Reclean => "reclean",
        }
    }
}

/// Who the entry is about: a signed-in user, or (for a failed sign-in) only
/// the name that was typed.
#[derive(Debug, Clone, Copy)]
pub struct AuditActor<'a> {
    pub user_id: Option<i64>,
    pub name: &'a str,
}

/// An entry to append. `details` must hold ids and codes only, never patient
/// names or identifiers: the trail is read by administrators.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub actor: AuditActor<'a>,
    pub action: AuditAction,
    pub patient_id: Option<i64>,
    pub media_id: Option<&'a str>,
    pub details: serde_json::Value,
}

/// A stored entry, as the UI and `clinshare` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AuditEntry {
    #[ts(type = "number")]
    pub seq: i64,
    pub at: String,
    #[ts(type = "number | null")]
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
    pub media_id: Option<String>,
    /// JSON text, exactly as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Append an entry; returns its sequence number. Call it on the transaction
/// that makes the change being recorded.
pub fn append(conn: &Connection, entry: &NewEntry<'_>) -> Result<i64, StoreError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let at = crate::clock::now_rfc3339();
    let fields = [
        Value::Integer(seq),
        Value::Text(at),
        entry.actor.user_id.map_or(Value::Null, Value::Integer),
        Value::Text(entry.actor.name.to_owned()),
        Value::Text(entry.action.code().to_owned()),
        entry.patient_id.map_or(Value::Null, Value::Integer),
        entry
            .media_id
            .map_or(Value::Null, |m| Value::Text(m.to_owned())),
        Value::Text(entry.details.to_string()),
        Value::Text(prev_hash),
    ];
    let hash = entry_hash(&fields);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor_id, actor_name, action, patient_id, media_id, \
         details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        rusqlite::params![
            fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7],
            fields[8], hash
        ],
    )?;
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        rusqlite::params![seq, hash],
    )?;
    Ok(seq)
}

/// Append an entry in a transaction of its own (for events that change
/// nothing else, such as a failed sign-in).
pub fn record(store: &mut Store, entry: &NewEntry<'_>) -> Result<i64, StoreError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let seq = append(&tx, entry)?;
    tx.commit()?;
    Ok(seq)
}

/// The hash of an entry: SHA-256 over a domain tag and each field in
/// column order (seq … prev_hash), every field as a presence byte, a
/// big-endian u64 length and its text.
fn entry_hash(fields: &[Value]) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    for f in fields {
        match canonical(f) {
            None => h.update([0u8]),
            Some(bytes) => {
                h.update([1u8]);
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(&bytes);
            }
        }
    }
    hex::encode(h.finalize())
}

/// Every SQLite value as bytes, so a field whose type was changed still
/// hashes (and mismatches) rather than failing to read.
fn canonical(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Real(r) => Some(r.to_string().into_bytes()),
        Value::Text(t) => Some(t.as_bytes().to_vec()),
        Value::Blob(b) => Some(b.clone()),
    }
}

fn as_text(v: &Value) -> String {
    canonical(v)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        _ => None,
    }
}

/// What [`verify`] found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's contents do not give its stored hash: it was edited.
    HashMismatch,
    /// Sequence numbers skip: entries were deleted.
    Gap,
    /// The entry does not point at the one before it: entries were removed,
    /// inserted or reordered.
    ChainBreak,
    /// The trail ends before the newest entry ever written.
    Truncated,
    /// The triggers that refuse edits are gone.
    TriggersMissing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AuditProblem {
    #[ts(type = "number | null")]
    pub seq: Option<i64>,
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct VerifyReport {
    #[ts(type = "number")]
    pub entries: i64,
    #[ts(type = "number | null")]
    pub last_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub problems: Vec<AuditProblem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walk the whole trail and report every place where it was tampered with.
pub fn verify(store: &Store) -> Result<VerifyReport, StoreError> {
    let conn = store.conn();
    let mut problems = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor_id, actor_name, action, patient_id, media_id, details, \
         prev_hash, hash FROM audit_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut entries = 0i64;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut last_seq = None;
    while let Some(row) = rows.next()? {
        let fields: Vec<Value> = (0..10).map(|i| row.get(i)).collect::<Result<_, _>>()?;
        let seq = as_int(&fields[0]).unwrap_or(0);
        let stored_prev = as_text(&fields[8]);
        let stored_hash = as_text(&fields[9]);
        entries += 1;

        let mut out_of_place = false;
        if seq != expected_seq {
            let after = expected_seq - 1;
            let missing = if seq == expected_seq + 1 {
                format!("entry {expected_seq} is missing")
            } else {
                format!("entries {expected_seq} to {} are missing", seq - 1)
            };
            problems.push(AuditProblem {
                seq: Some(after),
                kind: ProblemKind::Gap,
                message: format!("gap after seq {after}: {missing} (deleted)"),
            });
        } else if stored_prev != prev_hash {
            // A gap already explains a broken link, so only report it here.
            out_of_place = true;
            problems.push(AuditProblem {
                seq: Some(seq),
                kind: ProblemKind::ChainBreak,
                message: format!(
                    "chain break at seq {seq}: it does not follow the entry before it \
                     (entries removed, inserted or reordered)"
                ),
            });
        }
        // An entry moved to another place would also hash differently;
        // the chain break already names it.
        if !out_of_place && entry_hash(&fields[..9]) != stored_hash {
            problems.push(AuditProblem {
                seq: Some(seq),
                kind: ProblemKind::HashMismatch,
                message: format!(
                    "hash mismatch at seq {seq}: the entry was changed after it was written"
                ),
            });
        }
        prev_hash = stored_hash;
        expected_seq = seq + 1;
        last_seq = Some(seq);
    }
    drop(rows);
    drop(stmt);

    let head: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let end_matches = match (&head, last_seq) {
        (None, None) => true,
        (Some((s, h)), Some(last)) => *s == last && *h == prev_hash,
        _ => false,
    };
    if !end_matches {
        let written = head.as_ref().map_or(0, |h| h.0);
        let found = last_seq.unwrap_or(0);
        problems.push(AuditProblem {
            seq: Some(found),
            kind: ProblemKind::Truncated,
            message: format!(
                "the trail ends at seq {found}, but the newest entry written was seq {written} \
                 (entries removed from the end, or the head record changed)"
            ),
        });
    }

    for name in TRIGGERS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if !present {
            problems.push(AuditProblem {
                seq: None,
                kind: ProblemKind::TriggersMissing,
                message: format!("the protective trigger {name} has been removed from the store"),
            });
        }
    }

    Ok(VerifyReport {
        entries,
        last_seq,
        head_hash: head.map(|h| h.1),
        problems,
    })
}

/// The newest entries, newest first (at most `limit`).
pub fn recent(store: &Store, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = store.conn().prepare(
        "SELECT seq, at, actor_id, actor_name, action, patient_id, media_id, details, \
         prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor_id: r.get(2)?,
            actor_name: r.get(3)?,
            action: r.get(4)?,
            patient_id: r.get(5)?,
            media_id: r.get(6)?,
            details: r.get(7)?,
            prev_hash: r.get(8)?,
            hash: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
