//! Consent to clinical photography and its uses, in the Institute of Medical
//! Illustrators' levels, and the question the send-time gate asks:
//! [`sharing_allowed`].
//!
//! Rules kept here (and, where SQLite can, by the schema too):
//! - `care` consent names the recipient team; a best-interests decision
//!   gives its reason; a drawn signature is kept as bytes in the store or as
//!   a media id, never as a file.
//! - The terms of a consent never change. Withdrawal is final: a withdrawn
//!   consent cannot be restored; a new consent must be recorded.
//! - Levels are ordered record < care < teaching < publication. Sharing for
//!   care needs `care` or higher; a consent that names a recipient team
//!   covers only that team; one linked to particular photos covers only
//!   those photos.

use rusqlite::Row;
use serde::Serialize;
use time::Date;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::patients::{self, format_date};
use crate::session::Actor;
use crate::store::{Store, StoreError};

const MAX_TEXT_CHARS: usize = 500;
const MAX_SIGNATURE_BYTES: usize = 256 * 1024;

pub use clinshare_protocol::consent::{ConsentLevel, ConsentMethod, GivenBy};

/// A consent to record.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub patient_id: i64,
    pub level: ConsentLevel,
    pub given_by: GivenBy,
    /// Required for a best-interests decision.
    pub reason: Option<String>,
    pub method: ConsentMethod,
    /// The signed form (written) or a photographed signature.
    pub evidence_media_id: Option<String>,
    /// A signature drawn on screen, as SVG path data.
    pub signature_svg: Option<Vec<u8>>,
    /// Required for `care`.
    pub recipient_team: Option<String>,
    /// Last day covered.
    pub expires_on: Option<Date>,
    /// Photos covered; empty means all of the patient's photos.
    pub media_ids: Vec<String>,
}

/// A recorded consent, as the UI and `clinshare` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Consent {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub patient_id: i64,
    pub level: ConsentLevel,
    pub given_by: GivenBy,
    pub best_interests_reason: Option<String>,
    pub method: ConsentMethod,
    pub evidence_media_id: Option<String>,
    pub has_drawn_signature: bool,
    pub recipient_team: Option<String>,
    pub expires_on: Option<String>,
    pub media_ids: Vec<String>,
    pub recorded_at: String,
    #[ts(type = "number")]
    pub recorded_by: i64,
    pub withdrawn_at: Option<String>,
    pub withdrawal_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("No patient with id {0} is registered; nothing was recorded.")]
    PatientNotFound(i64),
    #[error(
        "Consent for sharing for care must name the recipient team (--recipient TEAM); nothing \
         was recorded."
    )]
    RecipientRequired,
    #[error(
        "A best-interests decision must give the reason it is in the patient's best interests \
         (--reason TEXT); nothing was recorded."
    )]
    ReasonRequired,
    #[error(
        "Consent by signature needs the signature: a drawn signature or the media id of the \
         signed form; nothing was recorded."
    )]
    SignatureRequired,
    #[error("The {field} is too long or contains control characters; nothing was recorded.")]
    InvalidText { field: &'static str },
    #[error("The expiry date {typed} has already passed; nothing was recorded.")]
    ExpiryInPast { typed: String },
    #[error("No consent with id {0} exists.")]
    NotFound(i64),
    #[error(
        "Consent {0} was already withdrawn, and a withdrawal is final. To allow use again, record \
         a new consent."
    )]
    AlreadyWithdrawn(i64),
    #[error("Give the reason for the withdrawal; nothing was changed.")]
    WithdrawalReasonRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ConsentError {
    fn from(e: rusqlite::Error) -> Self {
        ConsentError::Store(e.into())
    }
}

impl ErrorCode for ConsentError {
    fn code(&self) -> &'static str {
        match self {
            ConsentError::PatientNotFound(_) => "patient.not_found",
            ConsentError::RecipientRequired => "consent.recipient_required",
            ConsentError::ReasonRequired => "consent.reason_required",
            ConsentError::SignatureRequired => "consent.signature_required",
            ConsentError::InvalidText { .. } => "consent.invalid_text",
            ConsentError::ExpiryInPast { .. } => "consent.expiry_in_past",
            ConsentError::NotFound(_) => "consent.not_found",
            ConsentError::AlreadyWithdrawn(_) => "consent.withdrawn",
            ConsentError::WithdrawalReasonRequired => "consent.withdrawal_reason_required",
            ConsentError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            ConsentError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

fn clean(text: Option<&str>, field: &'static str) -> Result<Option<String>, ConsentError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > MAX_TEXT_CHARS || t.chars().any(char::is_control) => {
            Err(ConsentError::InvalidText { field })
        }
        Some(t) => Ok(Some(t.to_owned())),
    }
}

/// Record a consent (audited in the same transaction).
pub fn record(store: &mut Store, actor: &Actor, new: NewConsent) -> Result<Consent, ConsentError> {
    if patients::get(store, new.patient_id)
        .map_err(|e| match e {
            patients::PatientError::Store(s) => ConsentError::Store(s),
            _ => ConsentError::PatientNotFound(new.patient_id),
        })?
        .is_none()
    {
        return Err(ConsentError::PatientNotFound(new.patient_id));
    }
    let recipient = clean(new.recipient_team.as_deref(), "recipient team")?;
    let reason = clean(new.reason.as_deref(), "reason")?;
    let evidence = clean(new.evidence_media_id.as_deref(), "media id")?;
    if new.level == ConsentLevel::Care && recipient.is_none() {
        return Err(ConsentError::RecipientRequired);
    }
    if new.given_by == GivenBy::BestInterests && reason.is_none() {
        return Err(ConsentError::ReasonRequired);
    }
    let signature = new.signature_svg.filter(|s| !s.is_empty());
    if signature
        .as_ref()
        .is_some_and(|s| s.len() > MAX_SIGNATURE_BYTES)
    {
        return Err(ConsentError::InvalidText { field: "signature" });
    }
    if new.method == ConsentMethod::Signature && evidence.is_none() && signature.is_none() {
        return Err(ConsentError::SignatureRequired);
    }
    if let Some(d) = new.expires_on {
        if d < patients::today() {
            return Err(ConsentError::ExpiryInPast {
                typed: format_date(d),
            });
        }
    }
    let mut media_ids = Vec::new();
    for m in &new.media_ids {
        if let Some(m) = clean(Some(m), "media id")? {
            if !media_ids.contains(&m) {
                media_ids.push(m);
            }
        }
    }

    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO consents (patient_id, level, given_by, best_interests_reason, method, \
         evidence_media_id, signature_svg, recipient_team, expires_on, recorded_at, recorded_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            new.patient_id,
            new.level.code(),
            new.given_by.code(),
            // Only a best-interests decision carries a reason.
            if new.given_by == GivenBy::BestInterests {
                reason
            } else {
                None
            },
            new.method.code(),
            evidence,
            signature,
            recipient,
            new.expires_on.map(format_date),
            crate::clock::now_rfc3339(),
            actor.id()
        ],
    )?;
    let id = tx.last_insert_rowid();
    for m in &media_ids {
        tx.execute(
            "INSERT INTO consent_media (consent_id, media_id) VALUES (?1, ?2)",
            rusqlite::params![id, m],
        )?;
    }
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::ConsentRecord,
            patient_id: Some(new.patient_id),
            media_id: None,
            details: serde_json::json!({
                "consent_id": id,
                "level": new.level.code(),
                "given_by": new.given_by.code(),
                "method": new.method.code(),
                "media_ids": media_ids,
            }),
        },
    )?;
    tx.commit()?;
    get(store, id)?.ok_or(ConsentError::NotFound(id))
}

/// Withdraw a consent (final; audited in the same transaction).
pub fn withdraw(
    store: &mut Store,
    actor: &Actor,
    consent_id: i64,
    reason: &str,
) -> Result<Consent, ConsentError> {
    let reason = clean(Some(reason), "reason")?.ok_or(ConsentError::WithdrawalReasonRequired)?;
    let current = get(store, consent_id)?.ok_or(ConsentError::NotFound(consent_id))?;
    if current.withdrawn_at.is_some() {
        return Err(ConsentError::AlreadyWithdrawn(consent_id));
    }
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "UPDATE consents SET withdrawn_at = ?1, withdrawn_by = ?2, withdrawal_reason = ?3 \
         WHERE id = ?4 AND withdrawn_at IS NULL",
        rusqlite::params![crate::clock::now_rfc3339(), actor.id(), reason, consent_id],
    )?;
    // Referrals that already left are told about it by the next sync; the
    // notice is part of the withdrawal, so neither exists without the other.
    let notified = crate::referrals::withdrawal::note(&tx, &current, actor.id())?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::ConsentWithdraw,
            patient_id: Some(current.patient_id),
            media_id: None,
            details: serde_json::json!({"consent_id": consent_id, "referrals": notified}),
        },
    )?;
    tx.commit()?;
    get(store, consent_id)?.ok_or(ConsentError::NotFound(consent_id))
}

const COLUMNS: &str = "id, patient_id, level, given_by, best_interests_reason, method, \
     evidence_media_id, signature_svg IS NOT NULL, recipient_team, expires_on, recorded_at, \
     recorded_by, withdrawn_at, withdrawal_reason";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Consent> {
    fn code<T>(r: &Row<'_>, i: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
        let s: String = r.get(i)?;
        parse(&s).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                format!("unknown code {s:?}").into(),
            )
        })
    }
    Ok(Consent {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        level: code(r, 2, ConsentLevel::from_code)?,
        given_by: code(r, 3, GivenBy::from_code)?,
        best_interests_reason: r.get(4)?,
        method: code(r, 5, ConsentMethod::from_code)?,
        evidence_media_id: r.get(6)?,
        has_drawn_signature: r.get(7)?,
        recipient_team: r.get(8)?,
        expires_on: r.get(9)?,
        media_ids: Vec::new(),
        recorded_at: r.get(10)?,
        recorded_by: r.get(11)?,
        withdrawn_at: r.get(12)?,
        withdrawal_reason: r.get(13)?,
    })
}

fn with_media(store: &Store, mut c: Consent) -> Result<Consent, ConsentError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT media_id FROM consent_media WHERE consent_id = ?1 ORDER BY media_id")?;
    c.media_ids = stmt
        .query_map([c.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(c)
}

pub fn get(store: &Store, id: i64) -> Result<Option<Consent>, ConsentError> {
    let mut stmt = store
        .conn()
        .prepare(&format!("SELECT {COLUMNS} FROM consents WHERE id = ?1"))?;
    let mut rows = stmt.query_map([id], from_row)?;
    match rows.next() {
        Some(c) => Ok(Some(with_media(store, c?)?)),
        None => Ok(None),
    }
}

/// A patient's consents, oldest first.
pub fn for_patient(store: &Store, patient_id: i64) -> Result<Vec<Consent>, ConsentError> {
    let mut stmt = store.conn().prepare(&format!(
        "SELECT {COLUMNS} FROM consents WHERE patient_id = ?1 ORDER BY id"
    ))?;
    let rows: Vec<Consent> = stmt
        .query_map([patient_id], from_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(|c| with_media(store, c)).collect()
}

/// Why a consent does not cover a particular sharing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The patient has no consent recorded at all.
    Missing,
    Withdrawn {
        #[ts(type = "number")]
        consent_id: i64,
    },
    Expired {
        #[ts(type = "number")]
        consent_id: i64,
        expired_after: String,
    },
    LevelTooLow {
        #[ts(type = "number")]
        consent_id: i64,
        level: ConsentLevel,
    },
    OtherRecipient {
        #[ts(type = "number")]
        consent_id: i64,
        recipient_team: String,
    },
    MediaNotCovered {
        #[ts(type = "number")]
        consent_id: i64,
    },
}

impl Refusal {
    /// One sentence for the person sending.
    pub fn message(&self) -> String {
        match self {
            Refusal::Missing => "No consent is recorded for this patient.".into(),
            Refusal::Withdrawn { consent_id } => {
                format!("Consent {consent_id} has been withdrawn.")
            }
            Refusal::Expired {
                consent_id,
                expired_after,
            } => format!("Consent {consent_id} expired after {expired_after}."),
            Refusal::LevelTooLow { consent_id, .. } => {
                format!("Consent {consent_id} is for the clinical record only, not for sharing.")
            }
            Refusal::OtherRecipient {
                consent_id,
                recipient_team,
            } => format!("Consent {consent_id} covers sharing with {recipient_team} only."),
            Refusal::MediaNotCovered { consent_id } => {
                format!("Consent {consent_id} covers other photos, not this one.")
            }
        }
    }
}

/// The gate's answer: which consent allows the sharing, or every reason
/// none does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ConsentDecision {
    Allowed {
        #[ts(type = "number")]
        consent_id: i64,
    },
    Refused {
        reasons: Vec<Refusal>,
    },
}

impl ConsentDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, ConsentDecision::Allowed { .. })
    }
}

/// Whether the patient's consent allows sharing `media_id` with
/// `recipient_team` for their care on `today`. Team names compare without
/// regard to case or surrounding space.
pub fn sharing_allowed(
    store: &Store,
    patient_id: i64,
    recipient_team: &str,
    media_id: &str,
    today: Date,
) -> Result<ConsentDecision, ConsentError> {
    let consents = for_patient(store, patient_id)?;
    if consents.is_empty() {
        return Ok(ConsentDecision::Refused {
            reasons: vec![Refusal::Missing],
        });
    }
    let team = recipient_team.trim().to_lowercase();
    let today = format_date(today);
    let mut reasons = Vec::new();
    // Newest first, so the consent that allows is the most recent one.
    for c in consents.iter().rev() {
        let refusal = if c.withdrawn_at.is_some() {
            Some(Refusal::Withdrawn { consent_id: c.id })
        } else if let Some(exp) = c.expires_on.as_ref().filter(|e| **e < today) {
            Some(Refusal::Expired {
                consent_id: c.id,
                expired_after: exp.clone(),
            })
        } else if c.level < ConsentLevel::Care {
            Some(Refusal::LevelTooLow {
                consent_id: c.id,
                level: c.level,
            })
        } else if let Some(r) = c
            .recipient_team
            .as_ref()
            .filter(|r| r.trim().to_lowercase() != team)
        {
            Some(Refusal::OtherRecipient {
                consent_id: c.id,
                recipient_team: r.clone(),
            })
        } else if !c.media_ids.is_empty() && !c.media_ids.iter().any(|m| m == media_id) {
            Some(Refusal::MediaNotCovered { consent_id: c.id })
        } else {
            None
        };
        match refusal {
            None => return Ok(ConsentDecision::Allowed { consent_id: c.id }),
            Some(r) => reasons.push(r),
        }
    }
    Ok(ConsentDecision::Refused { reasons })
}

/// Whether any current consent of the patient (`consents`, from
/// [`for_patient`]) allows sharing `media_id` for care with some team:
/// what the gallery marks as shareable. The send-time gate is still
/// [`sharing_allowed`], for the actual recipient.
pub fn covers_sharing(consents: &[Consent], media_id: &str, today: Date) -> bool {
    let today = format_date(today);
    consents.iter().any(|c| {
        c.withdrawn_at.is_none()
            && c.expires_on.as_ref().is_none_or(|e| *e >= today)
            && c.level >= ConsentLevel::Care
            && (c.media_ids.is_empty() || c.media_ids.iter().any(|m| m == media_id))
    })
}

#[cfg(test)]
mod tests;
