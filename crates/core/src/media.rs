//! Importing photos and videos into the encrypted store.
//!
//! Every file goes through the sanitiser before anything is stored, and the
//! import fails closed: a file the sanitiser cannot clean with certainty is
//! rejected, never stored as it came. Only the sanitised bytes (and a
//! thumbnail made from them) enter the store; nothing is written to disk
//! outside it, so no plaintext copy of a photo is ever left behind.
//!
//! Paths are untrusted input (a drop event can be forged): symbolic links
//! are followed only to regular files inside the folder being walked, and
//! anything that is not a regular file is rejected before it is opened.

use clinshare_media::{Limits, MediaError, Removed, Sanitised, THUMBNAIL_PX};
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::session::Actor;
use crate::store::{Store, StoreError};

/// The result of importing one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Imported {
    /// Stored. Also a picture whose bytes retention had removed: they are
    /// back in its own record (the same id, so its referrals and receipts
    /// still name it), audited as a re-import.
    New { id: String, sha256: String },
    /// The same sanitised picture is already in the store: nothing was added.
    Duplicate { existing_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The sanitiser refused the file; `media_code` is its stable code.
    #[error("{message}")]
    Rejected {
        media_code: &'static str,
        message: String,
    },
    #[error("The file could not be read ({reason}).")]
    Unreadable { reason: String },
    #[error("The file is too large ({size} bytes; the limit is {limit} bytes).")]
    TooLarge { size: u64, limit: u64 },
    #[error("This is {what}, not a regular file; only files and folders can be imported.")]
    NotAFile { what: &'static str },
    #[error("The patient is not registered; nothing was imported.")]
    UnknownPatient,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ImportError {
    fn from(e: rusqlite::Error) -> Self {
        ImportError::Store(e.into())
    }
}

impl ErrorCode for ImportError {
    fn code(&self) -> &'static str {
        match self {
            ImportError::Rejected { .. } => "import.rejected",
            ImportError::Unreadable { .. } => "import.unreadable",
            ImportError::TooLarge { .. } => "import.too_large",
            ImportError::NotAFile { .. } => "import.not_a_file",
            ImportError::UnknownPatient => "import.unknown_patient",
            ImportError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            ImportError::Store(e) => e.class(),
            ImportError::Unreadable { .. } => ErrorClass::Environment,
            _ => ErrorClass::Refused,
        }
    }
}

impl ImportError {
    /// The most specific code: the sanitiser's for a rejected file (what
    /// the nurse can act on), otherwise [`ErrorCode::code`].
    pub fn detail_code(&self) -> &'static str {
        match self {
            ImportError::Rejected { media_code, .. } => media_code,
            other => other.code(),
        }
    }
}

/// Sanitise `source` and store it, with its audit entry, in one transaction.
pub fn import_bytes(
    store: &mut Store,
    actor: &Actor,
    source: &[u8],
    patient: Option<i64>,
) -> Result<Imported, ImportError> {
    import_with(store, actor, source, patient, &Limits::default())
}

fn import_with(
    store: &mut Store,
    actor: &Actor,
    source: &[u8],
    patient: Option<i64>,
    limits: &Limits,
) -> Result<Imported, ImportError> {
    // Checked first so that a wrong patient costs no sanitising.
    check_patient(store, patient)?;
    let prepared = prepare(source, limits)?;
    store_prepared(store, actor, prepared, patient)
}

/// A file that has been sanitised, verified and thumbnailed, ready to store.
/// Making one touches no store, so many can be made at once on other threads.
pub(crate) struct Prepared {
    clean: Sanitised,
    thumb: Option<Vec<u8>>,
    /// Why the picture has no thumbnail, when its decoder failed.
    thumb_error: Option<&'static str>,
    sha256: String,
}

pub(crate) fn prepare(source: &[u8], limits: &Limits) -> Result<Prepared, ImportError> {
    let clean = clinshare_media::sanitise(source, limits).map_err(rejected)?;
    let mut thumb_error = None;
    let thumb = match isolated::thumbnail(&clean.bytes, THUMBNAIL_PX, limits) {
        Ok(t) => Some(t),
        // Video: a poster frame from the system's ffmpeg, out of process.
        // Without one, and for a HEIF picture libheif cannot decode or
        // whose decoding process failed (the file itself passed the
        // sanitiser and verifier), the UI shows a placeholder and the file
        // is kept.
        Err(MediaError::ThumbnailUnavailable { .. }) => poster::poster(&clean.bytes, THUMBNAIL_PX),
        Err(e @ (MediaError::Undecodable { .. } | MediaError::DecoderFailed { .. }))
            if clean.format.is_bmff() =>
        {
            thumb_error = Some(e.code());
            None
        }
        Err(e) => return Err(rejected(e)),
    };
    let sha256 = clean.sha256_hex();
    Ok(Prepared {
        clean,
        thumb,
        thumb_error,
        sha256,
    })
}

pub(crate) fn check_patient(store: &Store, patient: Option<i64>) -> Result<(), ImportError> {
    match patient {
        Some(id) if !patient_exists(store, id)? => Err(ImportError::UnknownPatient),
        _ => Ok(()),
    }
}

/// Store a prepared file with its audit entry, in one transaction.
pub(crate) fn store_prepared(
    store: &mut Store,
    actor: &Actor,
    prepared: Prepared,
    patient: Option<i64>,
) -> Result<Imported, ImportError> {
    let Prepared {
        clean,
        thumb,
        thumb_error,
        sha256,
    } = prepared;
    let format = format_name(&clean);
    let removed = removed_summary(&clean.removed);
    let id = random_id()?;
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Inside the transaction, so that two imports of one photo cannot both
    // pass the check (the UNIQUE constraint is the last line).
    match existing(&tx, &sha256)? {
        Some(Existing { id, held: true, .. }) => {
            return Ok(Imported::Duplicate { existing_id: id })
        }
        // Purged by retention: a duplicate only in name, as the store no
        // longer holds the picture.
        Some(purged) => {
            restore_purged(&tx, actor, &purged, &clean.bytes, thumb, &format, &removed)?;
            tx.commit()?;
            return Ok(Imported::New {
                id: purged.id,
                sha256,
            });
        }
        None => {}
    }
    let size = clean.bytes.len() as i64;
    tx.execute(
        "INSERT INTO media (id, patient_id, sha256, format, width, height, orientation, \
         captured_at, imported_at, imported_by, has_thumbnail, size, removed_json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        rusqlite::params![
            id,
            patient,
            sha256,
            format,
            clean.width,
            clean.height,
            clean.orientation,
            clean.captured_at.as_ref().map(|c| match &c.offset {
                Some(o) => format!("{}{o}", c.local),
                None => c.local.clone(),
            }),
            crate::clock::now_rfc3339(),
            actor.id(),
            thumb.is_some(),
            size,
            removed.to_string(),
        ],
    )?;
    tx.execute(
        "INSERT INTO media_content (media_id, bytes, thumbnail) VALUES (?1, ?2, ?3)",
        rusqlite::params![id, clean.bytes, thumb],
    )?;
    // Ids, format and counts only: never file names or paths.
    let mut details = json!({"format": format, "size": size, "removed": removed});
    if let Some(code) = thumb_error {
        details["thumbnail_error"] = code.into();
    }
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Import,
            patient_id: patient,
            media_id: Some(&id),
            details,
        },
    )?;
    tx.commit()?;
    Ok(Imported::New { id, sha256 })
}

/// The record of a picture with this SHA-256, if any.
struct Existing {
    id: String,
    patient_id: Option<i64>,
    purged_at: Option<String>,
    /// The store holds its bytes: not purged, and its content whole.
    held: bool,
}

fn existing(conn: &rusqlite::Connection, sha256: &str) -> Result<Option<Existing>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT m.id, m.patient_id, m.purged_at, {HELD} FROM media m WHERE m.sha256 = ?1"
            ),
            [sha256],
            |r| {
                Ok(Existing {
                    id: r.get(0)?,
                    patient_id: r.get(1)?,
                    purged_at: r.get(2)?,
                    held: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Whether the store holds the picture of the media row `m`: its bytes are
/// there (not purged by retention) and as long as when they were imported.
/// Reads no blob: SQLite keeps a BLOB's length in the row's header.
const HELD: &str = "(m.purged_at IS NULL AND EXISTS (SELECT 1 FROM media_content c \
                    WHERE c.media_id = m.id AND length(c.bytes) = m.size))";

/// Whether the store holds, unpurged, the picture with this SHA-256 under
/// this id: what deleting an original rests on.
pub(crate) fn holds(
    conn: &rusqlite::Connection,
    id: &str,
    sha256: &str,
) -> Result<bool, StoreError> {
    Ok(existing(conn, sha256)?.is_some_and(|e| e.held && e.id == id))
}

/// Put a purged picture's bytes back into its own record rather than a new
/// one: its SHA-256 is the record's (and unique), so the referrals and
/// receipts that name the record stay true. The record keeps its patient
/// and annotations; the audit entry says it is a re-import after a purge.
fn restore_purged(
    tx: &rusqlite::Transaction<'_>,
    actor: &Actor,
    record: &Existing,
    bytes: &[u8],
    thumb: Option<Vec<u8>>,
    format: &str,
    removed: &serde_json::Value,
) -> Result<(), ImportError> {
    let has_thumbnail = thumb.is_some();
    tx.execute(
        "INSERT INTO media_content (media_id, bytes, thumbnail) VALUES (?1, ?2, ?3) \
         ON CONFLICT (media_id) DO UPDATE SET bytes = excluded.bytes, thumbnail = excluded.thumbnail",
        rusqlite::params![record.id, bytes, thumb],
    )?;
    tx.execute(
        // Retention counts from now again (`retention::purge_expired`).
        "UPDATE media SET purged_at = NULL, has_thumbnail = ?2, restored_at = ?3 WHERE id = ?1",
        rusqlite::params![record.id, has_thumbnail, crate::clock::now_rfc3339()],
    )?;
    audit::append(
        tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Import,
            patient_id: record.patient_id,
            media_id: Some(&record.id),
            details: json!({
                "format": format,
                "size": bytes.len(),
                "removed": removed,
                "reimport": true,
                "purged_at": record.purged_at,
            }),
        },
    )?;
    Ok(())
}

fn rejected(e: MediaError) -> ImportError {
    ImportError::Rejected {
        media_code: e.code(),
        message: e.to_string(),
    }
}

fn patient_exists(store: &Store, id: i64) -> Result<bool, StoreError> {
    Ok(store.conn().query_row(
        "SELECT EXISTS (SELECT 1 FROM patients WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?)
}

/// The format's stable lower-case name (`jpeg`, `heic`, `3gp`, ...).
fn format_name(s: &Sanitised) -> String {
    serde_json::to_value(s.format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| s.format.to_string())
}

/// Kinds and counts of what was removed; the structural details are left
/// out, as they say nothing a reviewer needs.
fn removed_summary(removed: &[Removed]) -> serde_json::Value {
    let mut kinds: Vec<(String, u32)> = Vec::new();
    for r in removed {
        let kind = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += r.count,
            None => kinds.push((kind, r.count)),
        }
    }
    serde_json::Value::Array(
        kinds
            .into_iter()
            .map(|(kind, count)| json!({"kind": kind, "count": count}))
            .collect(),
    )
}

pub(crate) fn random_id() -> Result<String, StoreError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| StoreError::RandomUnavailable {
        detail: e.to_string(),
    })?;
    Ok(hex::encode(id))
}

// --- Reading back ------------------------------------------------------------

/// One stored item, as lists show it (no blobs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct MediaSummary {
    pub id: String,
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub captured_at: Option<String>,
    pub imported_at: String,
    #[ts(type = "number")]
    pub size: i64,
    pub has_thumbnail: bool,
    /// The first 12 hex digits of the SHA-256, enough to tell items apart.
    pub sha256_prefix: String,
    pub body_site: Option<BodySite>,
    pub body_site_detail: Option<String>,
    pub notes: Option<String>,
}

/// Stored media, newest first (by capture time where the device recorded
/// one, else by import time). `patient`: `None` all, `Some(None)`
/// the Unassigned tray, `Some(Some(id))` one patient's.
pub fn list(store: &Store, patient: Option<Option<i64>>) -> Result<Vec<MediaSummary>, StoreError> {
    let filter = match patient {
        None => "1",
        Some(None) => "patient_id IS NULL",
        Some(Some(_)) => "patient_id = ?1",
    };
    let sql = format!(
        "SELECT id, patient_id, format, width, height, captured_at, imported_at, size, \
         has_thumbnail, substr(sha256, 1, 12), body_site, body_site_detail, notes \
         FROM media WHERE {filter} \
         ORDER BY coalesce(captured_at, imported_at) DESC, rowid DESC"
    );
    let mut stmt = store.conn().prepare(&sql)?;
    let map = |r: &rusqlite::Row<'_>| {
        Ok(MediaSummary {
            id: r.get(0)?,
            patient_id: r.get(1)?,
            format: r.get(2)?,
            width: r.get(3)?,
            height: r.get(4)?,
            captured_at: r.get(5)?,
            imported_at: r.get(6)?,
            size: r.get(7)?,
            has_thumbnail: r.get(8)?,
            sha256_prefix: r.get(9)?,
            body_site: r
                .get::<_, Option<String>>(10)?
                .and_then(|c| BodySite::from_code(&c)),
            body_site_detail: r.get(11)?,
            notes: r.get(12)?,
        })
    };
    let rows = match patient {
        Some(Some(id)) => stmt.query_map([id], map)?.collect::<Result<Vec<_>, _>>(),
        _ => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>(),
    };
    Ok(rows?)
}

/// A picture as a webview can show it, by its stored format name: a
/// HEIF/HEIC/AVIF or TIFF picture (which WebKitGTK cannot draw) as a JPEG
/// preview (long edge 1600 px) made in memory, anything else unchanged;
/// with its MIME type.
pub fn viewable(bytes: Vec<u8>, format: &str) -> (Vec<u8>, &'static str) {
    if matches!(format, "heic" | "heif" | "avif" | "tiff") {
        if let Ok(preview) =
            isolated::thumbnail(&bytes, clinshare_media::PREVIEW_PX, &Limits::default())
        {
            return (preview, "image/jpeg");
        }
    }
    (bytes, mime_of(format))
}

/// The MIME type of a stored format name.
pub fn mime_of(format: &str) -> &'static str {
    match format {
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" | "heif" => "image/heif",
        "avif" => "image/avif",
        "tiff" => "image/tiff",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "3gp" => "video/3gpp",
        _ => "application/octet-stream",
    }
}

/// The stored format of an item (`jpeg`, `heic`, ...); `None` for an unknown id.
pub fn format_of(store: &Store, id: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .conn()
        .query_row("SELECT format FROM media WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// The thumbnail of an item; `None` for an unknown id or when it has none.
/// Not audited: thumbnails are what lists show.
pub fn thumbnail(store: &Store, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT thumbnail FROM media_content WHERE media_id = ?1",
            [id],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()?
        .flatten())
}

/// The full sanitised file; `None` for an unknown id. Viewing a full
/// picture is audited, in the same transaction as the read.
pub fn bytes(store: &mut Store, actor: &Actor, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: Option<(Vec<u8>, Option<i64>)> = tx
        .query_row(
            "SELECT c.bytes, m.patient_id FROM media m \
             JOIN media_content c ON c.media_id = m.id WHERE m.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((data, patient_id)) = found else {
        return Ok(None);
    };
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::View,
            patient_id,
            media_id: Some(id),
            details: json!({}),
        },
    )?;
    tx.commit()?;
    Ok(Some(data))
}

mod annotate;
mod batch;
pub mod isolated;
mod poster;
mod smaller_copy;

pub use annotate::{annotate, assign, AnnotateError, BodySite, MediaNotes};
pub use batch::{
    import_paths, import_paths_with, FileOutcome, ImportControl, ImportReport, Outcome, Progress,
};
pub use smaller_copy::{smaller_copy, SmallerCopyError};

#[cfg(test)]
mod tests;
