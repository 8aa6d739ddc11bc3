//! `POST /v1/referrals`: the manifest a device sends before any media, and
//! what the server answers.

use serde::{Deserialize, Serialize};

use crate::consent::{ConsentLevel, GivenBy};
use crate::identifier::IdentifierKind;
use crate::upload::UploadOffset;
use crate::Signed;

/// Most media items one referral may carry.
pub const MAX_MEDIA_PER_REFERRAL: usize = 50;
/// Longest clinical question, in characters.
pub const MAX_QUESTION_CHARS: usize = 4000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralManifest {
    pub protocol_version: u32,
    /// Chosen by the app once per referral and reused on every retry: the
    /// server answers a repeated manifest with the referral it already made.
    pub idempotency_key: String,
    pub patient: PatientRef,
    /// The recipient team's id from the signed directory.
    pub recipient_team: String,
    pub consent: ConsentSummary,
    pub clinical_question: String,
    pub urgency: Urgency,
    pub media: Vec<MediaItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRef {
    pub kind: IdentifierKind,
    /// Canonical value (ten digits for the national schemes).
    pub value: String,
    /// Name and date of birth, for the recipient to match the patient and
    /// for filing into the record (PACS). Optional on the wire so older
    /// clients' manifests (and their hashes) are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentSummary {
    pub level: ConsentLevel,
    pub given_by: GivenBy,
    /// The clinician who recorded it (name as in the app).
    pub recorded_by: String,
    /// RFC 3339.
    pub recorded_at: String,
    /// The team a `care` consent names; `None` only for levels above care
    /// that were not limited to a team.
    pub recipient_team: Option<String>,
    pub withdrawn: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Routine,
    Urgent,
}

/// The container formats the app sends (already sanitised on the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaFormat {
    Jpeg,
    Png,
    Webp,
    Heic,
    Heif,
    Avif,
    Tiff,
    Mp4,
    Mov,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Lower-case hex SHA-256 of the sanitised file.
    pub sha256: String,
    pub size: u64,
    pub format: MediaFormat,
    /// The app's body site code (`left_heel`, ...), when the nurse set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_site: Option<String>,
    /// When the photo was taken, as the camera's wall clock recorded it
    /// (`YYYY-MM-DDTHH:MM:SS`); the camera's own metadata is not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// Manifest accepted; media still uploading. Invisible to recipients.
    Uploading,
    /// Every file arrived and passed verification; in the team's inbox.
    Delivered,
    /// A member of the recipient team acknowledged it.
    Acknowledged,
}

/// The sender's view (`POST /v1/referrals`, `GET /v1/referrals/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralStatus {
    pub referral_id: String,
    pub state: ReferralState,
    pub consent_withdrawn: bool,
    pub media: Vec<UploadOffset>,
    /// Present once delivered.
    pub receipt: Option<SignedReceipt>,
}

/// What the server signs when a referral is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub protocol_version: u32,
    pub referral_id: String,
    pub idempotency_key: String,
    /// SHA-256 of the manifest's canonical JSON as the server received it.
    pub manifest_sha256: String,
    pub recipient_team: String,
    pub media_sha256: Vec<String>,
    /// RFC 3339, UTC.
    pub delivered_at: String,
}

pub type SignedReceipt = Signed<Receipt>;

/// `POST /v1/referrals/{id}/consent-withdrawal`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentWithdrawal {
    pub reason: String,
}
