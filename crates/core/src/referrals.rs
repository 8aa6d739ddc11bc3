//! Referrals and the offline outbox.
//!
//! A referral is composed as a draft (one patient, a recipient team chosen
//! from the signed directory, a clinical question, photos of that patient),
//! confirmed by the clinician against a plain sentence naming the patient,
//! the team and the organisation, and then queued. Nothing is checked once
//! and trusted later: [`gate`] runs every check again at send time, for
//! every photo, and a referral that fails any is blocked with the reasons in
//! plain words; [`recheck_outbox`] puts it back in the queue when the cause
//! is fixed. States change only along [`ReferralState::may_become`], each
//! change in a transaction.

use clinshare_protocol::referral::{
    ConsentSummary, MediaFormat, MediaItem, PatientRef, ReferralManifest, Urgency,
    MAX_MEDIA_PER_REFERRAL, MAX_QUESTION_CHARS,
};
use clinshare_protocol::PROTOCOL_VERSION;
use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Date;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::consent::{self, ConsentDecision};
use crate::directory::{self, DirectoryError};
use crate::error::{ErrorClass, ErrorCode};
use crate::identifiers::PatientIdentifier;
use crate::patients;
use crate::session::Actor;
use crate::store::{Store, StoreError};
/// How soon the recipient should look, as the composer offers it.
pub use clinshare_protocol::referral::Urgency as ReferralUrgency;

mod reclean;
pub mod withdrawal;
pub use withdrawal::WithdrawalNotice;

/// Where a referral is in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    Draft,
    Queued,
    Blocked,
    Sending,
    Delivered,
    Acknowledged,
    Failed,
}

impl ReferralState {
    pub fn code(self) -> &'static str {
        match self {
            ReferralState::Draft => "draft",
            ReferralState::Queued => "queued",
            ReferralState::Blocked => "blocked",
            ReferralState::Sending => "sending",
            ReferralState::Delivered => "delivered",
            ReferralState::Acknowledged => "acknowledged",
            ReferralState::Failed => "failed",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        use ReferralState::*;
        [
            Draft,
            Queued,
            Blocked,
            Sending,
            Delivered,
            Acknowledged,
            Failed,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// The outbox's transitions. Anything else is refused.
    pub fn may_become(self, next: ReferralState) -> bool {
        use ReferralState::*;
        matches!(
            (self, next),
            (Draft, Queued)
                | (Queued, Blocked)
                | (Queued, Sending)
                | (Blocked, Queued)
                | (Sending, Blocked)
                | (Sending, Queued)
                | (Sending, Delivered)
                | (Sending, Failed)
                | (Failed, Queued)
                | (Delivered, Acknowledged)
        )
    }
}

/// Why a referral cannot be sent now, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Block {
    pub code: String,
    pub message: String,
    /// The photo concerned, when the reason is about one photo.
    pub media_id: Option<String>,
}

/// A referral as the outbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Referral {
    pub id: String,
    #[ts(type = "number")]
    pub patient_id: i64,
    pub team_id: String,
    pub team_name: String,
    pub organisation: String,
    pub clinical_question: String,
    /// `routine` or `urgent`.
    pub urgency: String,
    pub state: ReferralState,
    pub blocked: Vec<Block>,
    pub media_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    /// When the signed receipt arrived (this laptop's clock).
    pub delivered_at: Option<String>,
    /// Consent covering this referral was withdrawn after it left: the
    /// notice to the server, and whether the server has confirmed it.
    pub consent_withdrawal: Option<WithdrawalNotice>,
}

/// What the composer sends to make a draft.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub patient_id: i64,
    pub team_id: String,
    pub clinical_question: String,
    pub urgency: Urgency,
    pub media_ids: Vec<String>,
}

/// What the clinician confirms before a referral is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Confirmation {
    /// "Send 3 photos of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?"
    pub question: String,
    pub patient_name: String,
    pub identifier_display: String,
    pub team_name: String,
    pub organisation: String,
    pub media_ids: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReferralError {
    #[error("No patient with id {0} is registered.")]
    UnknownPatient(i64),
    #[error("That referral does not exist.")]
    UnknownReferral,
    #[error("Choose a recipient from the directory: {0}")]
    Recipient(String),
    #[error("Write the clinical question (at most {MAX_QUESTION_CHARS} characters).")]
    Question,
    #[error("Attach at least one photo (at most {MAX_MEDIA_PER_REFERRAL}).")]
    MediaCount,
    #[error("Photo {0} is not one of this patient's photos; tag it to the patient first.")]
    MediaNotOfPatient(String),
    #[error("Only a draft can be changed; this referral is {0}.")]
    NotDraft(&'static str),
    #[error("A {from} referral cannot become {to}.")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Consent(#[from] consent::ConsentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ReferralError {
    fn from(e: rusqlite::Error) -> Self {
        ReferralError::Store(e.into())
    }
}

impl ErrorCode for ReferralError {
    fn code(&self) -> &'static str {
        match self {
            ReferralError::UnknownPatient(_) => "referral.unknown_patient",
            ReferralError::UnknownReferral => "referral.unknown",
            ReferralError::Recipient(_) => "referral.recipient",
            ReferralError::Question => "referral.question",
            ReferralError::MediaCount => "referral.media_count",
            ReferralError::MediaNotOfPatient(_) => "referral.media_not_of_patient",
            ReferralError::NotDraft(_) => "referral.not_draft",
            ReferralError::Transition { .. } => "referral.transition",
            ReferralError::Directory(e) => e.code(),
            ReferralError::Consent(e) => e.code(),
            ReferralError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            ReferralError::Directory(e) => e.class(),
            ReferralError::Consent(e) => e.class(),
            ReferralError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

fn urgency_code(u: Urgency) -> &'static str {
    match u {
        Urgency::Routine => "routine",
        Urgency::Urgent => "urgent",
    }
}

/// Compose a draft. The team must be in the verified directory and accept
/// referrals; every photo must already be tagged to this patient.
pub fn create_draft(
    store: &mut Store,
    actor: &Actor,
    new: NewReferral,
) -> Result<Referral, ReferralError> {
    save_draft(store, actor, None, new)
}

/// Change a kept draft (the composer reopened it), with the same checks as
/// a new one. Anything past draft is refused: it was confirmed as it was.
pub fn update_draft(
    store: &mut Store,
    actor: &Actor,
    id: &str,
    new: NewReferral,
) -> Result<Referral, ReferralError> {
    save_draft(store, actor, Some(id), new)
}

/// Throw a draft away; confirmed referrals cannot be discarded.
pub fn discard_draft(store: &mut Store, id: &str) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    draft_only(&tx, id)?;
    tx.execute("DELETE FROM referral_media WHERE referral_id = ?1", [id])?;
    tx.execute("DELETE FROM referrals WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(())
}

fn draft_only(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<(), ReferralError> {
    let state: String = tx
        .query_row("SELECT state FROM referrals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(ReferralError::UnknownReferral)?;
    match ReferralState::from_code(&state) {
        Some(ReferralState::Draft) => Ok(()),
        Some(other) => Err(ReferralError::NotDraft(other.code())),
        None => Err(ReferralError::UnknownReferral),
    }
}

fn save_draft(
    store: &mut Store,
    actor: &Actor,
    existing: Option<&str>,
    new: NewReferral,
) -> Result<Referral, ReferralError> {
    let question = new.clinical_question.trim().to_owned();
    if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
        return Err(ReferralError::Question);
    }
    if new.media_ids.is_empty() || new.media_ids.len() > MAX_MEDIA_PER_REFERRAL {
        return Err(ReferralError::MediaCount);
    }
    let cached = directory::current(store)?;
    let team = cached.team(&new.team_id).cloned().ok_or_else(|| {
        ReferralError::Recipient(
            "that team is not in the directory or does not take referrals.".into(),
        )
    })?;
    patients::get(store, new.patient_id)
        .map_err(|_| ReferralError::UnknownPatient(new.patient_id))?
        .ok_or(ReferralError::UnknownPatient(new.patient_id))?;
    let id = match existing {
        Some(id) => id.to_owned(),
        None => crate::media::random_id()?,
    };
    let now = crate::clock::now_rfc3339();
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    // A changed draft keeps its id and when it was started.
    let mut created_at = now.clone();
    if existing.is_some() {
        draft_only(&tx, &id)?;
        created_at = tx.query_row(
            "SELECT created_at FROM referrals WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )?;
        tx.execute("DELETE FROM referral_media WHERE referral_id = ?1", [&id])?;
        tx.execute("DELETE FROM referrals WHERE id = ?1", [&id])?;
    }
    for m in &new.media_ids {
        let owner: Option<Option<i64>> = tx
            .query_row("SELECT patient_id FROM media WHERE id = ?1", [m], |r| {
                r.get(0)
            })
            .optional()?;
        if owner.flatten() != Some(new.patient_id) {
            return Err(ReferralError::MediaNotOfPatient(m.clone()));
        }
    }
    tx.execute(
        "INSERT INTO referrals (id, patient_id, team_id, team_name, organisation, clinical_question, \
         urgency, state, created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'draft', ?8, ?9, ?10)",
        rusqlite::params![
            id,
            new.patient_id,
            team.team_id,
            team.name,
            team.organisation,
            question,
            urgency_code(new.urgency),
            actor.id(),
            created_at,
            now
        ],
    )?;
    for (position, m) in new.media_ids.iter().enumerate() {
        tx.execute(
            "INSERT OR IGNORE INTO referral_media (referral_id, media_id, position) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, m, position as i64],
        )?;
    }
    tx.commit()?;
    get(store, &id)?.ok_or(ReferralError::UnknownReferral)
}

const COLUMNS: &str = "id, patient_id, team_id, team_name, organisation, clinical_question, \
    urgency, state, blocked_reasons, created_at, updated_at, confirmed_at, delivered_at";

fn from_row(conn: &rusqlite::Connection, r: &rusqlite::Row<'_>) -> rusqlite::Result<Referral> {
    let id: String = r.get(0)?;
    let state: String = r.get(7)?;
    let blocked: Option<String> = r.get(8)?;
    let mut stmt = conn.prepare_cached(
        "SELECT media_id FROM referral_media WHERE referral_id = ?1 ORDER BY position",
    )?;
    let media_ids = stmt
        .query_map([&id], |m| m.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Referral {
        patient_id: r.get(1)?,
        team_id: r.get(2)?,
        team_name: r.get(3)?,
        organisation: r.get(4)?,
        clinical_question: r.get(5)?,
        urgency: r.get(6)?,
        state: ReferralState::from_code(&state).unwrap_or(ReferralState::Failed),
        blocked: blocked
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default(),
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        confirmed_at: r.get(11)?,
        delivered_at: r.get(12)?,
        consent_withdrawal: withdrawal::notice(conn, &id)?,
        media_ids,
        id,
    })
}

pub fn get(store: &Store, id: &str) -> Result<Option<Referral>, ReferralError> {
    let conn = store.conn();
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM referrals WHERE id = ?1"),
            [id],
            |r| from_row(conn, r),
        )
        .optional()?)
}

/// Referrals, newest first; one patient's, or all.
pub fn list(store: &Store, patient_id: Option<i64>) -> Result<Vec<Referral>, ReferralError> {
    let conn = store.conn();
    let sql = format!(
        "SELECT {COLUMNS} FROM referrals WHERE ?1 IS NULL OR patient_id = ?1 \
         ORDER BY created_at DESC, rowid DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([patient_id], |r| from_row(conn, r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The sentence the clinician confirms, with everything it names.
pub fn confirmation(store: &Store, id: &str) -> Result<Confirmation, ReferralError> {
    let r = get(store, id)?.ok_or(ReferralError::UnknownReferral)?;
    let p = patients::get(store, r.patient_id)
        .map_err(|_| ReferralError::UnknownPatient(r.patient_id))?
        .ok_or(ReferralError::UnknownPatient(r.patient_id))?;
    let name = format!("{} {}", p.given_name, p.family_name.to_uppercase());
    let n = r.media_ids.len();
    let photos = if n == 1 {
        "1 photo".to_owned()
    } else {
        format!("{n} photos")
    };
    Ok(Confirmation {
        question: format!(
            "Send {photos} of {name} ({}) to {}, {}?",
            p.identifier_display, r.team_name, r.organisation
        ),
        patient_name: name,
        identifier_display: p.identifier_display,
        team_name: r.team_name,
        organisation: r.organisation,
        media_ids: r.media_ids,
    })
}

/// Move a referral from one state to another (audited when it matters),
/// refusing any change the outbox does not allow.
fn transition(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    next: ReferralState,
    blocked: Option<&[Block]>,
) -> Result<ReferralState, ReferralError> {
    let current: String = tx
        .query_row("SELECT state FROM referrals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(ReferralError::UnknownReferral)?;
    let current = ReferralState::from_code(&current).ok_or(ReferralError::UnknownReferral)?;
    if !current.may_become(next) {
        return Err(ReferralError::Transition {
            from: current.code(),
            to: next.code(),
        });
    }
    let blocked = blocked.map(reasons_json);
    tx.execute(
        "UPDATE referrals SET state = ?1, blocked_reasons = ?2, updated_at = ?3 WHERE id = ?4",
        rusqlite::params![next.code(), blocked, crate::clock::now_rfc3339(), id],
    )?;
    Ok(current)
}

/// Reasons as stored. A list of plain strings always serialises.
fn reasons_json(blocks: &[Block]) -> String {
    serde_json::to_string(blocks).unwrap_or_default()
}

/// The clinician confirmed the sentence from [`confirmation`]: queue the
/// referral (audited as a share request). It goes out when the server is
/// reachable and the gate passes then.
pub fn queue(store: &mut Store, actor: &Actor, id: &str) -> Result<Referral, ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let patient_id: i64 = tx
        .query_row(
            "SELECT patient_id FROM referrals WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(ReferralError::UnknownReferral)?;
    tx.execute(
        "UPDATE referrals SET confirmed_by = ?1, confirmed_at = ?2 WHERE id = ?3 AND state = 'draft'",
        rusqlite::params![actor.id(), crate::clock::now_rfc3339(), id],
    )?;
    transition(&tx, id, ReferralState::Queued, None)?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Share,
            patient_id: Some(patient_id),
            media_id: None,
            details: json!({"referral": id, "stage": "queued"}),
        },
    )?;
    tx.commit()?;
    get(store, id)?.ok_or(ReferralError::UnknownReferral)
}

/// What the gate found for a referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOutcome {
    /// Every check passed: this manifest may be sent.
    Clear(Box<ReferralManifest>),
    Blocked(Vec<Block>),
}

fn block(code: &str, message: impl Into<String>, media_id: Option<&str>) -> Block {
    Block {
        code: code.to_owned(),
        message: message.into(),
        media_id: media_id.map(str::to_owned),
    }
}

/// The send-time gate, for every photo: a valid identifier; a consent in
/// force at a level that covers sharing with this team; the team still in
/// the current signed directory and taking referrals; the clinician's
/// confirmation; each photo still in the store and passing the media
/// verifier again. (The pinned server key is checked by the transport.)
pub fn gate(store: &Store, id: &str, today: Date) -> Result<GateOutcome, ReferralError> {
    gate_keeping(store, id, today, &mut |_| {})
}

/// [`gate`], handing each photo's checked bytes to `keep` (in the
/// referral's order) so that sending reads the store once.
fn gate_keeping(
    store: &Store,
    id: &str,
    today: Date,
    keep: &mut dyn FnMut(Vec<u8>),
) -> Result<GateOutcome, ReferralError> {
    let r = get(store, id)?.ok_or(ReferralError::UnknownReferral)?;
    let mut blocks = Vec::new();
    // Queueing records who confirmed and when, together.
    if r.confirmed_at.is_none() {
        blocks.push(block(
            "referral.not_confirmed",
            "Nobody has confirmed the recipient for this referral.",
            None,
        ));
    }
    let patient = patients::get(store, r.patient_id)
        .map_err(|_| ReferralError::UnknownPatient(r.patient_id))?
        .ok_or(ReferralError::UnknownPatient(r.patient_id))?;
    let local = patients::local_pattern(store).ok().flatten();
    if let Err(e) = PatientIdentifier::parse_as(
        patient.identifier.kind(),
        patient.identifier.value(),
        local.as_ref(),
    ) {
        blocks.push(block(
            "referral.identifier_invalid",
            format!("The patient's identifier is not valid: {e}"),
            None,
        ));
    }
    let team = match directory::current(store) {
        Ok(cached) => match cached.team(&r.team_id) {
            Some(t) => Some(t.clone()),
            None => {
                blocks.push(block(
                    "referral.recipient_gone",
                    format!(
                        "{} ({}) is no longer in the directory or no longer takes referrals.",
                        r.team_name, r.organisation
                    ),
                    None,
                ));
                None
            }
        },
        Err(e) => {
            blocks.push(block(e.code(), e.to_string(), None));
            None
        }
    };
    let mut consent_id = None;
    let mut media = Vec::new();
    for m in &r.media_ids {
        let decision = consent::sharing_allowed(store, r.patient_id, &r.team_name, m, today)?;
        match decision {
            ConsentDecision::Allowed { consent_id: c } => consent_id = Some(c),
            ConsentDecision::Refused { reasons } => {
                let why: Vec<String> = reasons.iter().map(|x| x.message()).collect();
                blocks.push(block("referral.consent", why.join(" "), Some(m)));
            }
        }
        match media_item(store, m) {
            // The team's own limit, from the signed directory: the server
            // would refuse the file, so say so here, before anything goes.
            Ok((item, _))
                if team
                    .as_ref()
                    .and_then(|t| t.max_file_bytes)
                    .is_some_and(|limit| item.size > limit) =>
            {
                blocks.push(block(
                    "referral.file_too_large",
                    format!(
                        "A photo is larger than {} takes; attach a smaller copy instead.",
                        r.team_name
                    ),
                    Some(m),
                ));
            }
            Ok((item, bytes)) => {
                media.push(item);
                keep(bytes);
            }
            Err(b) => blocks.push(b),
        }
    }
    if !blocks.is_empty() {
        return Ok(GateOutcome::Blocked(blocks));
    }
    let (Some(team), Some(consent_id)) = (team, consent_id) else {
        return Ok(GateOutcome::Blocked(vec![block(
            "referral.not_ready",
            "The referral is not ready to send.",
            None,
        )]));
    };
    let c = consent::get(store, consent_id)?.ok_or(ReferralError::UnknownReferral)?;
    let recorded_by: String = store
        .conn()
        .query_row(
            "SELECT name FROM users WHERE id = ?1",
            [c.recorded_by],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or_default();
    // The consent names a team as the clinician wrote it; the gate matched
    // it against the directory's name, so the server is told the team's id.
    let consented_team = c.recipient_team.as_ref().map(|_| team.team_id.clone());
    Ok(GateOutcome::Clear(Box::new(ReferralManifest {
        protocol_version: PROTOCOL_VERSION,
        idempotency_key: r.id.clone(),
        patient: PatientRef {
            kind: patient.identifier.kind(),
            value: patient.identifier.value().to_owned(),
            family_name: Some(patient.family_name.clone()),
            given_name: Some(patient.given_name.clone()),
            date_of_birth: Some(patient.date_of_birth.to_string()),
        },
        recipient_team: team.team_id.clone(),
        consent: ConsentSummary {
            level: c.level,
            given_by: c.given_by,
            recorded_by,
            recorded_at: c.recorded_at,
            recipient_team: consented_team,
            withdrawn: false,
        },
        clinical_question: r.clinical_question,
        urgency: if r.urgency == "urgent" {
            Urgency::Urgent
        } else {
            Urgency::Routine
        },
        media,
    })))
}

/// One photo as the manifest lists it, after the verifier passed it again
/// (metadata) and its hash matched the one recorded at import (pixels).
fn media_item(store: &Store, media_id: &str) -> Result<(MediaItem, Vec<u8>), Block> {
    let row: Option<(Vec<u8>, String)> = store
        .conn()
        .query_row(
            "SELECT c.bytes, m.sha256 FROM media_content c JOIN media m ON m.id = c.media_id \
             WHERE c.media_id = ?1",
            [media_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ok()
        .flatten();
    let Some((bytes, recorded_sha256)) = row else {
        return Err(block(
            "referral.media_missing",
            "A photo of this referral is no longer in the store.",
            Some(media_id),
        ));
    };
    // Metadata is re-proved here; the pixels were decoded by the sanitiser
    // at import, and the hash check below proves these are those bytes.
    let checked = clinshare_media::sniff(&bytes)
        .and_then(|f| clinshare_media::verify_structure(&bytes, f).map(|_| f));
    let format = match checked {
        Ok(f) => f,
        Err(e) => {
            return Err(block(
                "referral.media_failed_verification",
                format!("A photo failed the metadata check again and will not be sent: {e}"),
                Some(media_id),
            ))
        }
    };
    use clinshare_media::Format;
    let format = match format {
        Format::Jpeg => MediaFormat::Jpeg,
        Format::Png => MediaFormat::Png,
        Format::WebP => MediaFormat::Webp,
        Format::Heic => MediaFormat::Heic,
        Format::Heif => MediaFormat::Heif,
        Format::Avif => MediaFormat::Avif,
        Format::Tiff => MediaFormat::Tiff,
        Format::Mp4 => MediaFormat::Mp4,
        Format::Mov => MediaFormat::Mov,
        Format::ThreeGp => {
            return Err(block(
                "referral.media_format",
                "3GP videos cannot be sent to the server; keep them in the record only.",
                Some(media_id),
            ))
        }
    };
    use sha2::{Digest, Sha256};
    let sha256 = hex::encode(Sha256::digest(&bytes));
    // The hash recorded at import: bytes changed since, even into another
    // valid picture, are not the photo the clinician chose.
    if sha256 != recorded_sha256 {
        return Err(block(
            "referral.media_altered",
            "A photo of this referral has changed in the store since it was imported and \
             will not be sent.",
            Some(media_id),
        ));
    }
    let (body_site, captured_at): (Option<String>, Option<String>) = store
        .conn()
        .query_row(
            "SELECT body_site, captured_at FROM media WHERE id = ?1",
            [media_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or((None, None));
    let item = MediaItem {
        sha256,
        size: bytes.len() as u64,
        format,
        body_site,
        captured_at,
    };
    Ok((item, bytes))
}

/// Move a referral along the outbox (for the sender): `reasons` are kept
/// for a blocked or failed one.
pub(crate) fn set_state(
    store: &mut Store,
    id: &str,
    next: ReferralState,
    reasons: Option<&[Block]>,
) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    transition(&tx, id, next, reasons)?;
    tx.commit()?;
    Ok(())
}

/// The server delivered it: keep its id and the signed receipt (audited).
pub(crate) fn mark_delivered(
    store: &mut Store,
    actor: &Actor,
    id: &str,
    server_referral_id: &str,
    receipt_json: &str,
) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    transition(&tx, id, ReferralState::Delivered, None)?;
    tx.execute(
        "UPDATE referrals SET server_referral_id = ?1, receipt_json = ?2, delivered_at = ?3 \
         WHERE id = ?4",
        rusqlite::params![
            server_referral_id,
            receipt_json,
            crate::clock::now_rfc3339(),
            id
        ],
    )?;
    let (patient_id, media): (i64, String) = tx.query_row(
        "SELECT r.patient_id, group_concat(m.media_id) FROM referrals r \
         JOIN referral_media m ON m.referral_id = r.id WHERE r.id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Share,
            patient_id: Some(patient_id),
            media_id: None,
            details: json!({
                "referral": id,
                "stage": "delivered",
                "server_referral": server_referral_id,
                "media": media.split(',').collect::<Vec<_>>(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// A member of the recipient team acknowledged it, as the server reports
/// (audited).
pub(crate) fn mark_acknowledged(
    store: &mut Store,
    actor: &Actor,
    id: &str,
) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    transition(&tx, id, ReferralState::Acknowledged, None)?;
    let patient_id: i64 = tx.query_row(
        "SELECT patient_id FROM referrals WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Share,
            patient_id: Some(patient_id),
            media_id: None,
            details: json!({"referral": id, "stage": "acknowledged"}),
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// Delivered referrals with the server's id: the sync pass asks whether
/// they were acknowledged.
pub(crate) fn awaiting_acknowledgement(
    store: &Store,
) -> Result<Vec<(String, String)>, ReferralError> {
    let mut stmt = store.conn().prepare(
        "SELECT id, server_referral_id FROM referrals \
         WHERE state = 'delivered' AND server_referral_id IS NOT NULL ORDER BY delivered_at",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Put referrals a killed pass left in `sending` back in the queue.
pub(crate) fn requeue_interrupted(store: &mut Store) -> Result<usize, ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.execute(
        "UPDATE referrals SET state = 'queued', updated_at = ?1 WHERE state = 'sending'",
        [crate::clock::now_rfc3339()],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Run the gate over the outbox: a queued referral that fails is blocked
/// with its reasons; a blocked one whose cause is fixed is queued again.
/// Returns the referrals that are clear to send, with their manifests.
pub fn recheck_outbox(
    store: &mut Store,
    today: Date,
) -> Result<Vec<(String, ReferralManifest)>, ReferralError> {
    let waiting: Vec<String> = {
        let mut stmt = store.conn().prepare(
            "SELECT id FROM referrals WHERE state IN ('queued', 'blocked') ORDER BY created_at",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        rows
    };
    let mut clear = Vec::new();
    for id in waiting {
        if let GateOutcome::Clear(manifest) = apply_gate(store, &id, today, &mut |_| {})? {
            clear.push((id, *manifest));
        }
    }
    Ok(clear)
}

/// The referrals the outbox holds (queued or blocked), oldest first, with
/// their photos' total size.
pub(crate) fn outbox(store: &Store) -> Result<Vec<(String, u64)>, ReferralError> {
    let mut stmt = store.conn().prepare(
        "SELECT r.id, coalesce(sum(md.size), 0) FROM referrals r \
         LEFT JOIN referral_media m ON m.referral_id = r.id \
         LEFT JOIN media md ON md.id = m.media_id \
         WHERE r.state IN ('queued', 'blocked') GROUP BY r.id ORDER BY r.created_at",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
    Ok(rows
        .into_iter()
        .map(|(id, size)| (id, u64::try_from(size).unwrap_or(0)))
        .collect())
}

/// The gate for one referral about to be sent, its outcome recorded: a
/// failing referral is blocked with its reasons, a blocked one that now
/// passes is queued again. A clear one comes with its photos' bytes, read
/// from the store once for both the check and the upload.
///
/// Blocked only by photos the current verifier refuses, the referral's
/// photos are cleaned again under the current rules ([`reclean`], by
/// `actor`) and the gate runs once more on what is stored then: photos an
/// older release cleaned go without the nurse noticing. This costs nothing
/// for photos that pass, as the gate's own read and check find the others.
pub(crate) fn gate_for_sending(
    store: &mut Store,
    actor: &Actor,
    id: &str,
    today: Date,
) -> Result<(GateOutcome, Vec<Vec<u8>>), ReferralError> {
    let mut files = Vec::new();
    let mut outcome = gate_keeping(store, id, today, &mut |b| files.push(b))?;
    if reclean::reclean_blocked(store, actor, id, &outcome)? {
        files.clear();
        outcome = gate_keeping(store, id, today, &mut |b| files.push(b))?;
    }
    record_outcome(store, id, &outcome)?;
    if matches!(outcome, GateOutcome::Blocked(_)) {
        files.clear();
    }
    Ok((outcome, files))
}

fn apply_gate(
    store: &mut Store,
    id: &str,
    today: Date,
    keep: &mut dyn FnMut(Vec<u8>),
) -> Result<GateOutcome, ReferralError> {
    let outcome = gate_keeping(store, id, today, keep)?;
    record_outcome(store, id, &outcome)?;
    Ok(outcome)
}

/// Keep what the gate found: a failing referral becomes (or stays) blocked
/// with its reasons, a blocked one that passes is queued again.
fn record_outcome(store: &mut Store, id: &str, outcome: &GateOutcome) -> Result<(), ReferralError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let state: String = tx.query_row("SELECT state FROM referrals WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    match outcome {
        GateOutcome::Blocked(blocks) => {
            if state == "blocked" {
                tx.execute(
                    "UPDATE referrals SET blocked_reasons = ?1 WHERE id = ?2",
                    rusqlite::params![reasons_json(blocks), id],
                )?;
            } else {
                transition(&tx, id, ReferralState::Blocked, Some(blocks))?;
            }
        }
        GateOutcome::Clear(_) => {
            if state == "blocked" {
                transition(&tx, id, ReferralState::Queued, None)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
