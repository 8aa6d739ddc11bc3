//! Everything the server keeps, behind one async trait so the embedded
//! SQLite backend and a scale-out backend answer the same behaviour tests.
//!
//! Rules every backend keeps with constraints and transactions, never with
//! in-process locks (several instances may share one database):
//! - an enrolment code is consumed exactly once;
//! - a nonce is accepted once per device;
//! - `(sender, idempotency_key)` names at most one referral;
//! - a referral becomes `delivered` only when all its media are verified;
//! - the audit chain is appended under the database's own serialisation.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
pub use clinshare_protocol::admin::Role;
use clinshare_protocol::identifier::IdentifierKind;
use clinshare_protocol::referral::{ReferralManifest, ReferralState};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the name is already taken")]
    Duplicate,
    #[error("enrolment code invalid")]
    EnrolCodeInvalid,
    #[error("idempotency key reused for a different manifest")]
    IdempotencyConflict,
    #[error("database: {0}")]
    Database(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An organisation: teams belong to one. Its name is unique whatever its
/// case; the ODS code (NHS Organisation Data Service) is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub ods_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub accepts_referrals: bool,
    /// Largest file the team takes, in bytes (`None`: the server's limit).
    pub max_file_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub disabled: bool,
    pub role: Role,
    pub team_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub public_key: [u8; 32],
    pub enrolled_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRow {
    pub sha256: String,
    pub size: u64,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: String,
    pub sender_user_id: String,
    pub sender_device_id: String,
    pub recipient_team_id: String,
    pub idempotency_key: String,
    pub manifest: ReferralManifest,
    pub manifest_sha256: String,
    pub state: ReferralState,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub consent_withdrawn_at: Option<i64>,
    /// The signed receipt as JSON, once delivered.
    pub receipt_json: Option<String>,
    pub media: Vec<MediaRow>,
}

/// A new referral, validated by intake.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub id: String,
    pub sender_user_id: String,
    pub sender_device_id: String,
    pub manifest: ReferralManifest,
    pub manifest_sha256: String,
    pub created_at: i64,
}

/// One audit entry before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: i64,
    /// User id, or `-` when no user is signed in (enrolment, admin CLI).
    pub actor: String,
    pub device: String,
    pub action: String,
    /// Referral id or other object id; never a patient identifier.
    pub object: String,
    pub outcome: String,
    /// Whose record was read or written: `kind:value` (`nhs:9434765919`,
    /// the identifier's canonical form), for the information-governance
    /// question "who looked at this patient". Never a name. `None` where
    /// no patient is concerned, or where the server no longer knows the
    /// patient (a withdrawn referral: its earlier entries name them).
    pub patient: Option<String>,
}

/// How the audit names a patient: the kind's prefix and the canonical
/// value, the one spelling every entry uses so a search finds them all.
pub fn audit_patient(kind: IdentifierKind, value: &str) -> Option<String> {
    // An erased (withdrawn) referral has no value left to name.
    (!value.is_empty()).then(|| format!("{}:{value}", kind.as_str()))
}

impl Referral {
    /// `audit_patient` of this referral's patient, while it is stored.
    pub fn audit_patient(&self) -> Option<String> {
        audit_patient(self.manifest.patient.kind, &self.manifest.patient.value)
    }
}

/// The manifest as kept once consent is withdrawn: only what says which
/// referral it was and what the sender's view, idempotency and the PACS
/// deletion still need. The patient's identifier, name and date of birth,
/// the question and the media list (body sites, capture times) go; the
/// files' hashes and sizes stay in `referral_media` for the sender's view
/// and the blob deletion. Erased in the withdrawal's own transaction, so
/// no later code path can return what is no longer stored.
pub fn erased_manifest(m: &ReferralManifest) -> ReferralManifest {
    use clinshare_protocol::referral::PatientRef;
    let mut consent = m.consent.clone();
    consent.withdrawn = true;
    ReferralManifest {
        protocol_version: m.protocol_version,
        idempotency_key: m.idempotency_key.clone(),
        patient: PatientRef {
            kind: m.patient.kind,
            value: String::new(),
            family_name: None,
            given_name: None,
            date_of_birth: None,
        },
        recipient_team: m.recipient_team.clone(),
        consent,
        clinical_question: String::new(),
        urgency: m.urgency,
        media: Vec::new(),
    }
}

/// What a PACS job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacsJobKind {
    /// File the referral's photos (STOW-RS).
    Store,
    /// Ask the PACS to delete the study after consent withdrawal.
    Delete,
}

impl PacsJobKind {
    pub fn code(self) -> &'static str {
        match self {
            PacsJobKind::Store => "store",
            PacsJobKind::Delete => "delete",
        }
    }

    pub fn from_code(s: &str) -> StoreResult<Self> {
        match s {
            "store" => Ok(PacsJobKind::Store),
            "delete" => Ok(PacsJobKind::Delete),
            other => Err(StoreError::Corrupt(format!(
                "unknown PACS job kind {other}"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacsJob {
    pub referral_id: String,
    pub target: String,
    pub kind: PacsJobKind,
    /// `queued`, `done`, `failed` (will not be retried) or `cancelled`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// How an attempt at a PACS job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacsOutcome {
    Done,
    /// Try again at this time; the error code is kept for the administrator.
    Retry {
        at: i64,
        error: String,
    },
    /// Not retried (e.g. a format the PACS cannot take as is).
    Failed {
        error: String,
    },
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySnapshot {
    pub version: i64,
    pub teams: Vec<(Team, Vec<(String, String)>)>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Administration.
    /// `Duplicate` when the name (in any case) or the ODS code is taken.
    async fn create_organisation(&self, org: Organisation) -> StoreResult<()>;
    /// Every organisation, by name.
    async fn organisations(&self) -> StoreResult<Vec<Organisation>>;
    /// The organisation with this name in any case.
    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>>;
    /// The team's organisation must exist (`organisation_by_name`).
    async fn create_team(&self, team: Team) -> StoreResult<()>;
    /// Every team, by organisation and name.
    async fn teams(&self) -> StoreResult<Vec<Team>>;
    async fn team_by_name(&self, name: &str) -> StoreResult<Option<Team>>;
    async fn team(&self, id: &str) -> StoreResult<Option<Team>>;
    async fn create_user(&self, user: User) -> StoreResult<()>;
    async fn set_user_disabled(&self, name: &str, disabled: bool) -> StoreResult<()>;
    /// Whether the team takes referrals (and so is offered in the
    /// directory); `NotFound` when no team has this name.
    async fn set_team_accepts_referrals(&self, name: &str, accepts: bool) -> StoreResult<()>;
    async fn add_enrol_code(&self, code_hash: &str, expires_at: i64) -> StoreResult<()>;
    async fn devices(&self) -> StoreResult<Vec<Device>>;
    async fn revoke_device(&self, id: &str, at: i64) -> StoreResult<()>;

    // Enrolment and authentication.
    /// Consumes the code and records the device in one transaction.
    async fn enrol_device(&self, code_hash: &str, now: i64, device: Device) -> StoreResult<()>;
    async fn device(&self, id: &str) -> StoreResult<Option<Device>>;
    /// `false` when this nonce was already seen from this device.
    async fn remember_nonce(&self, device_id: &str, nonce: &str, now: i64) -> StoreResult<bool>;
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn add_token(
        &self,
        token_hash: &str,
        user_id: &str,
        device_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The token's user, if the token exists, is bound to this device and
    /// has not expired.
    async fn token_user(
        &self,
        token_hash: &str,
        device_id: &str,
        now: i64,
    ) -> StoreResult<Option<User>>;

    // Directory.
    async fn directory(&self) -> StoreResult<DirectorySnapshot>;

    // Referrals.
    /// Creates the referral, or returns the one made earlier with the same
    /// sender and idempotency key (`false`), or `IdempotencyConflict` when
    /// that one had a different manifest.
    async fn create_referral(&self, new: NewReferral) -> StoreResult<(Referral, bool)>;
    async fn referral(&self, id: &str) -> StoreResult<Option<Referral>>;
    async fn mark_media_verified(&self, referral_id: &str, sha256: &str) -> StoreResult<()>;
    /// Marks delivered when every file is verified; returns the referral.
    /// `receipt` is built from the stored row by the caller's closure only
    /// once, so two racing completions keep the first receipt.
    /// In the same transaction, a PACS `store` job is queued for each of
    /// `pacs_targets` when (and only when) this call delivers it.
    async fn deliver(
        &self,
        referral_id: &str,
        now: i64,
        receipt_json: String,
        pacs_targets: &[String],
    ) -> StoreResult<Referral>;
    async fn acknowledge(
        &self,
        referral_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Referral>;
    async fn withdraw_consent(&self, referral_id: &str, now: i64) -> StoreResult<Referral>;
    /// Whether a referral other than `except`, with consent, has this file.
    async fn media_in_use_elsewhere(&self, sha256: &str, except: &str) -> StoreResult<bool>;
    /// Delivered (or acknowledged) referrals addressed to any of these teams.
    async fn inbox(&self, team_ids: &[String]) -> StoreResult<Vec<Referral>>;

    // PACS filing.
    /// Queues a job, or queues it again if it exists (a repeated consent
    /// withdrawal asks for the deletion again).
    async fn queue_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        now: i64,
    ) -> StoreResult<()>;
    /// Takes one due job for `lease_secs` (no other worker, on any
    /// instance, gets it meanwhile).
    async fn claim_pacs_job(&self, now: i64, lease_secs: i64) -> StoreResult<Option<PacsJob>>;
    async fn finish_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        outcome: PacsOutcome,
        now: i64,
    ) -> StoreResult<()>;
    async fn pacs_jobs(&self) -> StoreResult<Vec<PacsJob>>;

    // Audit.
    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()>;
    /// "Who looked at this patient": every entry naming `patient`
    /// (`audit_patient`'s spelling), and every entry about a referral one
    /// of those names (reads after withdrawal, when the server no longer
    /// knows whose it was), oldest first.
    async fn audit_about(&self, patient: &str) -> StoreResult<Vec<AuditRecord>>;
    /// Re-computes the chain; `Err(Corrupt)` names the first bad entry.
    async fn verify_audit(&self) -> StoreResult<u64>;
    async fn ready(&self) -> StoreResult<()>;
}
