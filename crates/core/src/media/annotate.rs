//! Tagging photos to a patient and describing them: body site and notes.

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::session::Actor;
use crate::store::{Store, StoreError};

const MAX_TEXT_CHARS: usize = 500;

/// Where on the body a photo was taken: a short coded list for the sites
/// community nurses photograph most, with free text beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BodySite {
    Sacrum,
    LeftHeel,
    RightHeel,
    LeftFoot,
    RightFoot,
    LeftLowerLeg,
    RightLowerLeg,
    LeftHip,
    RightHip,
    LeftButtock,
    RightButtock,
    Abdomen,
    Chest,
    Back,
    LeftArm,
    RightArm,
    LeftHand,
    RightHand,
    HeadAndFace,
    Other,
}

impl BodySite {
    pub const ALL: [BodySite; 20] = [
        BodySite::Sacrum,
        BodySite::LeftHeel,
        BodySite::RightHeel,
        BodySite::LeftFoot,
        BodySite::RightFoot,
        BodySite::LeftLowerLeg,
        BodySite::RightLowerLeg,
        BodySite::LeftHip,
        BodySite::RightHip,
        BodySite::LeftButtock,
        BodySite::RightButtock,
        BodySite::Abdomen,
        BodySite::Chest,
        BodySite::Back,
        BodySite::LeftArm,
        BodySite::RightArm,
        BodySite::LeftHand,
        BodySite::RightHand,
        BodySite::HeadAndFace,
        BodySite::Other,
    ];

    /// The stored code (as serialised).
    pub fn code(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// How a nurse would say it.
    pub fn label(self) -> &'static str {
        match self {
            BodySite::Sacrum => "Sacrum",
            BodySite::LeftHeel => "Left heel",
            BodySite::RightHeel => "Right heel",
            BodySite::LeftFoot => "Left foot",
            BodySite::RightFoot => "Right foot",
            BodySite::LeftLowerLeg => "Left lower leg",
            BodySite::RightLowerLeg => "Right lower leg",
            BodySite::LeftHip => "Left hip",
            BodySite::RightHip => "Right hip",
            BodySite::LeftButtock => "Left buttock",
            BodySite::RightButtock => "Right buttock",
            BodySite::Abdomen => "Abdomen",
            BodySite::Chest => "Chest",
            BodySite::Back => "Back",
            BodySite::LeftArm => "Left arm",
            BodySite::RightArm => "Right arm",
            BodySite::LeftHand => "Left hand",
            BodySite::RightHand => "Right hand",
            BodySite::HeadAndFace => "Head and face",
            BodySite::Other => "Other",
        }
    }
}

/// What a nurse writes about one photo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MediaNotes {
    pub body_site: Option<BodySite>,
    /// Free text beside the coded site ("2 cm above the malleolus").
    pub body_site_detail: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("That photo is not in the store; nothing was changed.")]
    UnknownMedia,
    #[error("The patient is not registered; nothing was changed.")]
    UnknownPatient,
    #[error("Choose a body site from the list, or \"Other\" and describe it.")]
    DetailNeedsSite,
    #[error("The {field} is too long (at most {MAX_TEXT_CHARS} characters).")]
    TooLong { field: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AnnotateError {
    fn from(e: rusqlite::Error) -> Self {
        AnnotateError::Store(e.into())
    }
}

impl ErrorCode for AnnotateError {
    fn code(&self) -> &'static str {
        match self {
            AnnotateError::UnknownMedia => "media.unknown",
            AnnotateError::UnknownPatient => "media.unknown_patient",
            AnnotateError::DetailNeedsSite => "media.detail_needs_site",
            AnnotateError::TooLong { .. } => "media.text_too_long",
            AnnotateError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            AnnotateError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

/// Tag photos to a patient (from the Unassigned tray, or moved from another
/// patient). All or nothing; each photo gets its own audit entry.
pub fn assign(
    store: &mut Store,
    actor: &Actor,
    media_ids: &[String],
    patient_id: i64,
) -> Result<(), AnnotateError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let patient_known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM patients WHERE id = ?1)",
        [patient_id],
        |r| r.get(0),
    )?;
    if !patient_known {
        return Err(AnnotateError::UnknownPatient);
    }
    for id in media_ids {
        let Some(previous) = owner(&tx, id)? else {
            return Err(AnnotateError::UnknownMedia);
        };
        if previous == Some(patient_id) {
            continue;
        }
        tx.execute(
            "UPDATE media SET patient_id = ?1 WHERE id = ?2",
            rusqlite::params![patient_id, id],
        )?;
        audit::append(
            &tx,
            &NewEntry {
                actor: actor.audit(),
                action: AuditAction::Tag,
                patient_id: Some(patient_id),
                media_id: Some(id),
                details: json!({"previous_patient_id": previous}),
            },
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Set a photo's body site and notes (audited; the text itself is not
/// copied into the audit trail).
pub fn annotate(
    store: &mut Store,
    actor: &Actor,
    media_id: &str,
    notes: MediaNotes,
) -> Result<(), AnnotateError> {
    let detail = tidy(notes.body_site_detail, "body site description")?;
    let text = tidy(notes.notes, "note")?;
    if detail.is_some() && notes.body_site.is_none() {
        return Err(AnnotateError::DetailNeedsSite);
    }
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(patient_id) = owner(&tx, media_id)? else {
        return Err(AnnotateError::UnknownMedia);
    };
    tx.execute(
        "UPDATE media SET body_site = ?1, body_site_detail = ?2, notes = ?3 WHERE id = ?4",
        rusqlite::params![notes.body_site.map(BodySite::code), detail, text, media_id],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Tag,
            patient_id,
            media_id: Some(media_id),
            details: json!({
                "body_site": notes.body_site.map(BodySite::code),
                "has_notes": text.is_some(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// The patient a photo is tagged to (`Some(None)`: the tray); `None` if
/// there is no such photo.
fn owner(tx: &rusqlite::Transaction<'_>, id: &str) -> rusqlite::Result<Option<Option<i64>>> {
    tx.query_row("SELECT patient_id FROM media WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
}

fn tidy(text: Option<String>, field: &'static str) -> Result<Option<String>, AnnotateError> {
    let Some(t) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(AnnotateError::TooLong { field });
    }
    Ok(Some(t))
}
