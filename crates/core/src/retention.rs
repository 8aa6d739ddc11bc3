//! Retention of sent photos. Once the server has signed a receipt, the
//! laptop is no longer where the photo is needed: after the configured
//! period (`settings::retention_days`) its bytes and thumbnail are removed
//! from the store. The media record, the referral and its receipt stay, and
//! each purge is audited.
//!
//! Deletion is secure in two layers: every page of the store is encrypted
//! by SQLCipher, so freed pages never held plaintext; and the connection
//! runs with `secure_delete = ON`, so freed pages are overwritten with
//! zeros rather than left holding the old (encrypted) content. A checkpoint
//! afterwards moves the change out of the write-ahead log.

use rusqlite::TransactionBehavior;
use serde::Serialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::session::Actor;
use crate::settings;
use crate::store::{Store, StoreError};

/// What one purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct PurgeReport {
    /// Media whose bytes were removed.
    pub purged: Vec<String>,
    #[ts(type = "number")]
    pub bytes_freed: u64,
}

/// A sent photo that may be due for purging.
struct Candidate {
    media_id: String,
    patient_id: Option<i64>,
    /// The last of its referrals' deliveries.
    delivered_at: String,
    /// Its referrals' ids, comma-separated.
    referrals: String,
    size: i64,
    restored_at: Option<String>,
}

/// Remove the bytes of every photo whose referrals were all delivered
/// with a receipt at least `retention_days` before `now` (and, for a photo
/// imported again after a purge, that was restored at least that long
/// ago). A photo that is also part of a referral not yet delivered (a
/// draft, queued, blocked, failed) keeps its bytes.
pub fn purge_expired(
    store: &mut Store,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<PurgeReport, StoreError> {
    let days = settings::retention_days(store)?;
    let cutoff = now - time::Duration::days(i64::from(days));
    let candidates: Vec<Candidate> = {
        let mut stmt = store.conn().prepare(
            // Never touches media_content's bytes: grouping rows that
            // carry them would copy every sent photo into temporary storage.
            "SELECT m.id, m.patient_id, max(r.delivered_at), group_concat(r.id), m.size, \
             m.restored_at \
             FROM media m \
             JOIN referral_media rm ON rm.media_id = m.id \
             JOIN referrals r ON r.id = rm.referral_id \
             WHERE m.purged_at IS NULL \
               AND EXISTS (SELECT 1 FROM media_content c WHERE c.media_id = m.id) \
             GROUP BY m.id \
             HAVING sum(r.state NOT IN ('delivered', 'acknowledged') \
                        OR r.receipt_json IS NULL OR r.delivered_at IS NULL) = 0",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Candidate {
                    media_id: r.get(0)?,
                    patient_id: r.get(1)?,
                    delivered_at: r.get(2)?,
                    referrals: r.get(3)?,
                    size: r.get(4)?,
                    restored_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    let expired: Vec<_> = candidates
        .into_iter()
        .filter(|c| {
            let old = |at: &str| OffsetDateTime::parse(at, &Rfc3339).is_ok_and(|t| t <= cutoff);
            old(&c.delivered_at) && c.restored_at.as_deref().is_none_or(old)
        })
        .collect();
    let mut report = PurgeReport::default();
    if expired.is_empty() {
        return Ok(report);
    }
    let stamp = now.format(&Rfc3339).unwrap_or_default();
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    for Candidate {
        media_id,
        patient_id,
        referrals,
        size,
        ..
    } in expired
    {
        tx.execute("DELETE FROM media_content WHERE media_id = ?1", [&media_id])?;
        tx.execute(
            "UPDATE media SET purged_at = ?1, has_thumbnail = 0 WHERE id = ?2",
            rusqlite::params![stamp, media_id],
        )?;
        audit::append(
            &tx,
            &NewEntry {
                actor: actor.audit(),
                action: AuditAction::Purge,
                patient_id,
                media_id: Some(&media_id),
                details: json!({
                    "reason": "retention",
                    "retention_days": days,
                    "referrals": referrals.split(',').collect::<Vec<_>>(),
                }),
            },
        )?;
        report.bytes_freed += u64::try_from(size).unwrap_or(0);
        report.purged.push(media_id);
    }
    tx.commit()?;
    // Best effort: another connection reading keeps older frames alive,
    // and they are encrypted like every page.
    let _ = store
        .conn()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(report)
}
