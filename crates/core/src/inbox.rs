//! The recipient's side: referrals addressed to the signed-in clinician's
//! teams. List them, open one, download its photos (each checked against
//! the SHA-256 and size the sender's manifest gave, and by the media
//! verifier, before it is kept), and acknowledge. Downloaded photos are
//! cached only in the encrypted store (`inbox_media`), never as files; the
//! cache of a referral whose consent was withdrawn is dropped as soon as
//! the server says so. Only photos are cached; the text of a referral is
//! fetched each time it is opened, and for a withdrawn one only its
//! reference is passed on (`minimised`), even from a server that still
//! sends more.

use clinshare_protocol::inbox::{InboxItem, InboxReferral};
use clinshare_protocol::referral::{MediaFormat, MediaItem};
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditAction, NewEntry};
use crate::session::Actor;
use crate::store::{Store, StoreError};
use crate::sync::{Client, SyncError};

fn audit_receive(
    store: &mut Store,
    actor: &Actor,
    action: AuditAction,
    details: serde_json::Value,
) -> Result<(), StoreError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action,
            patient_id: None,
            media_id: None,
            details,
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// Remove the cached photos of a referral (consent withdrawn).
fn forget(store: &Store, referral_id: &str) -> Result<usize, StoreError> {
    Ok(store.conn().execute(
        "DELETE FROM inbox_media WHERE referral_id = ?1",
        [referral_id],
    )?)
}

/// Referrals delivered to this clinician's teams, newest as the server
/// orders them. Cached photos of withdrawn ones are removed. (`&mut`
/// although only read: a `&Store` held across the request would make the
/// future not `Send`, as a connection is not `Sync`.)
pub async fn list(store: &mut Store, client: &Client) -> Result<Vec<InboxItem>, SyncError> {
    let items = client.inbox().await?;
    for i in items.iter().filter(|i| i.consent_withdrawn) {
        forget(store, &i.referral_id)?;
    }
    Ok(items)
}

/// What the screen may show of a referral whose consent was withdrawn:
/// that it was, when, and which referral it was; no identifier, name, date
/// of birth, question or photos. The server keeps and sends no more than
/// this; a server from before it erased them still sends them, and this
/// keeps them from reaching the screen.
pub fn minimised(mut r: InboxReferral) -> InboxReferral {
    if !r.item.consent_withdrawn {
        return r;
    }
    r.patient.value.clear();
    r.patient.family_name = None;
    r.patient.given_name = None;
    r.patient.date_of_birth = None;
    r.clinical_question.clear();
    r.media.clear();
    r
}

/// One referral's details (audited as received).
pub async fn open(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    referral_id: &str,
) -> Result<InboxReferral, SyncError> {
    let referral = minimised(client.inbox_open(referral_id).await?);
    if referral.item.consent_withdrawn {
        forget(store, referral_id)?;
    }
    audit_receive(
        store,
        actor,
        AuditAction::Receive,
        json!({"inbox_referral": referral_id, "stage": "opened"}),
    )?;
    Ok(referral)
}

/// A photo already downloaded, from the store.
pub fn cached(
    store: &Store,
    referral_id: &str,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT bytes FROM inbox_media WHERE referral_id = ?1 AND sha256 = ?2",
            [referral_id, sha256],
            |r| r.get(0),
        )
        .optional()?)
}

/// A downloaded photo with its format code (`jpeg`, `png`, ...), for the
/// screen to show.
pub fn cached_with_format(
    store: &Store,
    referral_id: &str,
    sha256: &str,
) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    Ok(store
        .conn()
        .query_row(
            "SELECT bytes, format FROM inbox_media WHERE referral_id = ?1 AND sha256 = ?2",
            [referral_id, sha256],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn format_code(f: MediaFormat) -> &'static str {
    match f {
        MediaFormat::Jpeg => "jpeg",
        MediaFormat::Png => "png",
        MediaFormat::Webp => "webp",
        MediaFormat::Heic => "heic",
        MediaFormat::Heif => "heif",
        MediaFormat::Avif => "avif",
        MediaFormat::Tiff => "tiff",
        MediaFormat::Mp4 => "mp4",
        MediaFormat::Mov => "mov",
    }
}

/// One photo of a referral: from the cache, or downloaded, checked and
/// kept in the store (audited). A file that does not match the manifest
/// is refused and not kept.
pub async fn photo(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    referral_id: &str,
    item: &MediaItem,
) -> Result<Vec<u8>, SyncError> {
    if let Some(bytes) = cached(store, referral_id, &item.sha256)? {
        return Ok(bytes);
    }
    let bytes = match client
        .inbox_media(referral_id, &item.sha256, item.size)
        .await
    {
        Ok(b) => b,
        Err(e) => {
            if matches!(&e, SyncError::Refused { status: 410, .. }) {
                forget(store, referral_id)?;
            }
            return Err(e);
        }
    };
    if bytes.len() as u64 != item.size || hex::encode(Sha256::digest(&bytes)) != item.sha256 {
        return Err(SyncError::DownloadMismatch);
    }
    // The sender's laptop and the server verified it; check again here, as
    // this copy is what the clinician will look at.
    clinshare_media::sniff(&bytes)
        .and_then(|f| clinshare_media::verify(&bytes, f))
        .map_err(|e| SyncError::DownloadRejected(e.to_string()))?;
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR IGNORE INTO inbox_media (referral_id, sha256, format, bytes, fetched_at, fetched_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            referral_id,
            item.sha256,
            format_code(item.format),
            bytes,
            crate::clock::now_rfc3339(),
            actor.id()
        ],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Receive,
            patient_id: None,
            media_id: None,
            details: json!({
                "inbox_referral": referral_id,
                "stage": "downloaded",
                "sha256": item.sha256,
            }),
        },
    )?;
    tx.commit().map_err(StoreError::from)?;
    Ok(bytes)
}

/// Acknowledge the referral for the team (audited here and on the server).
pub async fn acknowledge(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    referral_id: &str,
) -> Result<InboxItem, SyncError> {
    let item = client.inbox_ack(referral_id).await?;
    audit_receive(
        store,
        actor,
        AuditAction::Acknowledge,
        json!({"inbox_referral": referral_id}),
    )?;
    Ok(item)
}

#[cfg(test)]
mod tests {
    use clinshare_protocol::consent::{ConsentLevel, GivenBy};
    use clinshare_protocol::identifier::IdentifierKind;
    use clinshare_protocol::referral::{ConsentSummary, PatientRef, ReferralState, Urgency};

    use super::*;

    fn referral(withdrawn: bool) -> InboxReferral {
        InboxReferral {
            item: InboxItem {
                referral_id: "r1".into(),
                recipient_team: "t1".into(),
                urgency: Urgency::Routine,
                state: ReferralState::Delivered,
                delivered_at: "2026-12-01T10:00:00Z".into(),
                acknowledged_at: None,
                consent_withdrawn: withdrawn,
                consent_withdrawn_at: withdrawn.then(|| "2026-12-02T09:00:00Z".into()),
            },
            patient: PatientRef {
                kind: IdentifierKind::Nhs,
                value: "9434765919".into(),
                family_name: Some("Doe".into()),
                given_name: Some("Jane".into()),
                date_of_birth: Some("1972-04-15".into()),
            },
            consent: ConsentSummary {
                level: ConsentLevel::Care,
                given_by: GivenBy::Patient,
                recorded_by: "alice".into(),
                recorded_at: "2026-11-30T10:00:00Z".into(),
                recipient_team: Some("t1".into()),
                withdrawn: false,
            },
            clinical_question: "Pressure ulcer, left heel?".into(),
            media: vec![MediaItem {
                sha256: "a".repeat(64),
                size: 1,
                format: MediaFormat::Jpeg,
                body_site: Some("left_heel".into()),
                captured_at: None,
            }],
            sender_name: "alice".into(),
            sender_team: Some("t0".into()),
        }
    }

    /// An older server still sends a withdrawn referral's details: none of
    /// them gets past the laptop, while the reference and dates do.
    #[test]
    fn a_withdrawn_referral_keeps_only_its_reference() {
        let r = minimised(referral(true));
        let text = serde_json::to_string(&r).expect("json");
        for personal in [
            "9434765919",
            "Doe",
            "Jane",
            "1972-04-15",
            "ulcer",
            "left_heel",
        ] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
        assert_eq!(r.item.referral_id, "r1");
        assert_eq!(
            r.item.consent_withdrawn_at.as_deref(),
            Some("2026-12-02T09:00:00Z")
        );
        assert_eq!(r.sender_team.as_deref(), Some("t0"));
        // With consent, nothing is taken away.
        assert_eq!(minimised(referral(false)), referral(false));
    }
}
