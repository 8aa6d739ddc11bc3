//! Consent withdrawn after a referral left: the server must be told, so the
//! recipients can no longer open the photos. The notice is written in the
//! same transaction as the withdrawal and sent by the next sync pass,
//! retried until the server confirms.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::ReferralError;
use crate::audit::{self, AuditAction, NewEntry};
use crate::consent::Consent;
use crate::session::Actor;
use crate::store::Store;

/// A withdrawal notice on a referral, as the outbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WithdrawalNotice {
    pub requested_at: String,
    /// Set once the server confirmed; until then the next sync sends it.
    pub sent_at: Option<String>,
}

/// States in which the referral may already be on the server.
const LEFT_OR_LEAVING: &str = "('sending', 'delivered', 'acknowledged')";

/// Record a notice for every referral of the patient that `consent` covered
/// and that has left (or is leaving) the laptop. Called inside the
/// withdrawal's transaction. Conservative: a referral whose team and photos
/// the consent covers gets a notice even if another consent also covered it.
pub(crate) fn note(
    tx: &Transaction<'_>,
    consent: &Consent,
    actor_id: i64,
) -> Result<Vec<String>, rusqlite::Error> {
    let mut stmt = tx.prepare(&format!(
        "SELECT id, team_name FROM referrals WHERE patient_id = ?1 AND state IN {LEFT_OR_LEAVING}"
    ))?;
    let candidates = stmt
        .query_map([consent.patient_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut noted = Vec::new();
    let now = crate::clock::now_rfc3339();
    for (id, team) in candidates {
        let team_covered = consent
            .recipient_team
            .as_ref()
            .is_none_or(|t| t.trim().to_lowercase() == team.trim().to_lowercase());
        let media_covered = consent.media_ids.is_empty() || {
            let mut m =
                tx.prepare_cached("SELECT media_id FROM referral_media WHERE referral_id = ?1")?;
            let ids = m
                .query_map([&id], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ids.iter().any(|x| consent.media_ids.contains(x))
        };
        if !(team_covered && media_covered) {
            continue;
        }
        let added = tx.execute(
            "INSERT INTO referral_withdrawals (referral_id, consent_id, requested_at, requested_by) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (referral_id) DO NOTHING",
            rusqlite::params![id, consent.id, now, actor_id],
        )?;
        if added > 0 {
            noted.push(id);
        }
    }
    Ok(noted)
}

/// A notice the server has not confirmed yet, for a referral it holds.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub referral_id: String,
    pub server_referral_id: String,
    pub patient_id: i64,
}

/// Notices to send now: the referral must have reached the server (a
/// referral still leaving gets its notice after delivery).
pub(crate) fn pending(store: &Store) -> Result<Vec<Pending>, ReferralError> {
    let mut stmt = store.conn().prepare(
        "SELECT r.id, r.server_referral_id, r.patient_id FROM referral_withdrawals w \
         JOIN referrals r ON r.id = w.referral_id \
         WHERE w.sent_at IS NULL AND r.server_referral_id IS NOT NULL \
           AND r.state IN ('delivered', 'acknowledged') ORDER BY w.requested_at",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Pending {
                referral_id: r.get(0)?,
                server_referral_id: r.get(1)?,
                patient_id: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The server confirmed the withdrawal (audited).
pub(crate) fn mark_sent(
    store: &mut Store,
    actor: &Actor,
    notice: &Pending,
) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "UPDATE referral_withdrawals SET sent_at = ?1, attempts = attempts + 1, last_error = NULL \
         WHERE referral_id = ?2 AND sent_at IS NULL",
        rusqlite::params![crate::clock::now_rfc3339(), notice.referral_id],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Share,
            patient_id: Some(notice.patient_id),
            media_id: None,
            details: json!({
                "referral": notice.referral_id,
                "stage": "consent_withdrawal_sent",
                "server_referral": notice.server_referral_id,
            }),
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// Sending failed; it is tried again on the next pass. `code` is an error
/// code, never a message that could hold patient data.
pub(crate) fn record_failure(
    store: &mut Store,
    referral_id: &str,
    code: &str,
) -> Result<(), ReferralError> {
    store.conn().execute(
        "UPDATE referral_withdrawals SET attempts = attempts + 1, last_error = ?1 \
         WHERE referral_id = ?2",
        rusqlite::params![code, referral_id],
    )?;
    Ok(())
}

/// The notice on one referral, if any.
pub(crate) fn notice(
    conn: &rusqlite::Connection,
    referral_id: &str,
) -> rusqlite::Result<Option<WithdrawalNotice>> {
    conn.query_row(
        "SELECT requested_at, sent_at FROM referral_withdrawals WHERE referral_id = ?1",
        [referral_id],
        |r| {
            Ok(WithdrawalNotice {
                requested_at: r.get(0)?,
                sent_at: r.get(1)?,
            })
        },
    )
    .optional()
}
