//! Photos cleaned by an older release, cleaned again before they are sent.
//!
//! The sanitiser's rules only grow stricter, and the verifier that the gate
//! and the server run follows them: a video an earlier release stored with
//! its handler still named "Core Media Video", or a HEIF still holding a
//! depth map, would now be blocked at send time although nothing about it
//! changed since the nurse imported it. So when the gate blocks a referral
//! only because photos fail the metadata check, each such photo is run
//! through the current sanitiser again, from its stored (once-cleaned)
//! bytes, and replaced in one transaction with its audit entry; the gate
//! then runs again on what is stored now. The sanitiser copies the coded
//! picture and the media data byte for byte, so what goes is still the
//! picture the clinician chose.
//!
//! Nothing here relaxes the gate: a photo is cleaned again only when its
//! bytes still hash to the SHA-256 recorded at import (otherwise the gate's
//! `referral.media_altered` must stand), only when the verifier refused it
//! for metadata (`media.verification_failed`), and only with a copy that
//! passes the same structural verifier the gate and the server run.

use clinshare_media::{Format, Limits, MediaError, Removed, Sanitised, Verification};
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{GateOutcome, ReferralError};
use crate::audit::{self, AuditAction, NewEntry};
use crate::session::Actor;
use crate::store::Store;

/// The gate's reason for a photo the verifier refused.
const FAILED_VERIFICATION: &str = "referral.media_failed_verification";

/// What re-cleaning did for one photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reclean {
    /// Cleaned again and replaced in the store (audited).
    Replaced,
    /// Passes the current verifier as stored: nothing to do.
    Current,
    /// Left exactly as it was; the gate blocks it with its own reason.
    Kept(Kept),
}

/// Why a photo was left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// No longer in the store (deleted, or purged by retention).
    Missing,
    /// Its bytes no longer hash to the import's SHA-256: not the photo the
    /// clinician chose, so it must not be made to look like it.
    Altered,
    /// The verifier refused it for something other than metadata (damage,
    /// size): cleaning again would not help.
    NotMetadata,
    /// The current sanitiser refuses it, or its copy fails the verifier.
    Uncleanable,
    /// Its clean copy is, byte for byte, another photo already in the store
    /// (the same picture imported again by this release). SHA-256 is a
    /// photo's identity and unique: the two records are not merged here.
    Duplicate,
    /// Changed by another connection since it was read (another reader
    /// cleaned it first): the gate's second run reads what is there now.
    Changed,
}

/// The photos a blocked referral waits for only because the verifier
/// refuses them; none when anything else blocks it too (it would not go
/// anyway, and the gate runs again on the next pass).
pub(crate) fn legacy_photos(outcome: &GateOutcome) -> Vec<&str> {
    let GateOutcome::Blocked(blocks) = outcome else {
        return Vec::new();
    };
    let mut ids: Vec<&str> = Vec::new();
    for b in blocks {
        match (b.code.as_str(), b.media_id.as_deref()) {
            (FAILED_VERIFICATION, Some(id)) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => return Vec::new(),
        }
    }
    ids
}

/// Clean again the photos that alone block `referral` (see
/// [`legacy_photos`]); true when any was replaced, so the gate should run
/// again.
pub(crate) fn reclean_blocked(
    store: &mut Store,
    actor: &Actor,
    referral: &str,
    outcome: &GateOutcome,
) -> Result<bool, ReferralError> {
    let mut replaced = false;
    for media_id in legacy_photos(outcome) {
        replaced |= reclean_photo(store, actor, referral, media_id)? == Reclean::Replaced;
    }
    Ok(replaced)
}

/// A stored photo as re-cleaning needs it.
struct Stored {
    bytes: Vec<u8>,
    sha256: String,
    patient_id: Option<i64>,
}

/// Clean one photo of `referral` again if the current verifier refuses it
/// for metadata and the current sanitiser can; replace it, audited.
pub(crate) fn reclean_photo(
    store: &mut Store,
    actor: &Actor,
    referral: &str,
    media_id: &str,
) -> Result<Reclean, ReferralError> {
    let Some(stored) = read(store, media_id)? else {
        return Ok(Reclean::Kept(Kept::Missing));
    };
    if hex::encode(Sha256::digest(&stored.bytes)) != stored.sha256 {
        return Ok(Reclean::Kept(Kept::Altered));
    }
    match cleaned(&stored.bytes) {
        Ok(None) => Ok(Reclean::Current),
        Ok(Some(clean)) => replace(store, actor, referral, media_id, &stored, &clean),
        Err(why) => Ok(Reclean::Kept(why)),
    }
}

/// The photo's bytes, recorded SHA-256 and patient, unless purged.
fn read(store: &Store, media_id: &str) -> Result<Option<Stored>, ReferralError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT c.bytes, m.sha256, m.patient_id FROM media m \
             JOIN media_content c ON c.media_id = m.id \
             WHERE m.id = ?1 AND m.purged_at IS NULL",
            [media_id],
            |r| {
                Ok(Stored {
                    bytes: r.get(0)?,
                    sha256: r.get(1)?,
                    patient_id: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// `None` when the bytes pass the current verifier; else their copy from
/// the current sanitiser, checked as the gate checks it. Done before any
/// transaction: sanitising a video takes a while, and other connections
/// write meanwhile.
fn cleaned(bytes: &[u8]) -> Result<Option<Sanitised>, Kept> {
    let format = clinshare_media::sniff(bytes).map_err(|_| Kept::NotMetadata)?;
    match clinshare_media::verify_structure(bytes, format) {
        Ok(_) => return Ok(None),
        Err(MediaError::VerificationFailed { .. }) => {}
        Err(_) => return Err(Kept::NotMetadata),
    }
    // Structure, as the gate and the server verify: the pixels are the ones
    // decoded at import, copied byte for byte.
    let clean = clinshare_media::sanitise_with(bytes, &Limits::default(), Verification::Structure)
        .map_err(|_| Kept::Uncleanable)?;
    if clean.format != format || clinshare_media::verify_structure(&clean.bytes, format).is_err() {
        return Err(Kept::Uncleanable);
    }
    Ok(Some(clean))
}

/// Replace the photo's bytes, SHA-256 and size with the clean copy's, in
/// one transaction with the audit entry; nothing if the record changed
/// since it was read or the copy's SHA-256 is another record's.
fn replace(
    store: &mut Store,
    actor: &Actor,
    referral: &str,
    media_id: &str,
    stored: &Stored,
    clean: &Sanitised,
) -> Result<Reclean, ReferralError> {
    let sha256 = clean.sha256_hex();
    let removed = removed_summary(&clean.removed);
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now: Option<(String, String)> = tx
        .query_row(
            "SELECT sha256, removed_json FROM media WHERE id = ?1 AND purged_at IS NULL",
            [media_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((current, removed_before)) = now.filter(|(s, _)| *s == stored.sha256) else {
        return Ok(Reclean::Kept(Kept::Changed));
    };
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM media WHERE sha256 = ?1 AND id <> ?2)",
        rusqlite::params![sha256, media_id],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(Reclean::Kept(Kept::Duplicate));
    }
    let size = clean.bytes.len() as i64;
    tx.execute(
        "UPDATE media SET sha256 = ?1, size = ?2, removed_json = ?3 WHERE id = ?4",
        rusqlite::params![
            sha256,
            size,
            merged(&removed_before, &removed).to_string(),
            media_id
        ],
    )?;
    tx.execute(
        "UPDATE media_content SET bytes = ?1 WHERE media_id = ?2",
        rusqlite::params![clean.bytes, media_id],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Reclean,
            patient_id: stored.patient_id,
            media_id: Some(media_id),
            // Ids, the format, sizes and the kinds removed: never names.
            // The SHA-256s tie the record to what was hashed at import and
            // to what the server's receipt will name.
            details: json!({
                "referral": referral,
                "format": format_name(clean.format),
                "previous_sha256": current,
                "sha256": sha256,
                "previous_size": stored.bytes.len(),
                "size": size,
                "removed": removed,
                "rules": "current",
            }),
        },
    )?;
    tx.commit()?;
    Ok(Reclean::Replaced)
}

/// The format's stable lower-case name (`heic`, `mov`, ...), as import
/// records it.
fn format_name(format: Format) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format.to_string())
}

/// Kinds and counts of what was removed, as import records them
/// (`[{"kind": "user_data", "count": 2}]`).
fn removed_summary(removed: &[Removed]) -> serde_json::Value {
    let mut kinds = serde_json::Value::Array(Vec::new());
    for r in removed {
        let kind = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        add_kind(&mut kinds, &kind, u64::from(r.count));
    }
    kinds
}

/// What import removed with what re-cleaning removed now: the record keeps
/// the account of everything taken out of the file.
fn merged(before: &str, now: &serde_json::Value) -> serde_json::Value {
    let mut all = serde_json::from_str::<serde_json::Value>(before)
        .ok()
        .filter(serde_json::Value::is_array)
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    for entry in now.as_array().into_iter().flatten() {
        let kind = entry["kind"].as_str().unwrap_or_default();
        add_kind(&mut all, kind, entry["count"].as_u64().unwrap_or(0));
    }
    all
}

fn add_kind(kinds: &mut serde_json::Value, kind: &str, count: u64) {
    let Some(list) = kinds.as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|e| e["kind"] == kind) {
        Some(e) => e["count"] = json!(e["count"].as_u64().unwrap_or(0) + count),
        None => list.push(json!({"kind": kind, "count": count})),
    }
}
