//! `POST /v1/referrals`: the manifest, accepted only when everything checks
//! out again on the server (the app's gate is not trusted):
//! signed device and signed-in user (by the auth layer), protocol version,
//! recipient team exists and accepts referrals, identifier passes its check
//! digit, consent covers sharing with that team for care and is not
//! withdrawn, question and media list are sane. Then the sender's view
//! (`GET /v1/referrals/{id}`) and consent withdrawal.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use clinshare_protocol::consent::ConsentLevel;
use clinshare_protocol::identifier::PatientIdentifier;
use clinshare_protocol::referral::{
    ConsentWithdrawal, ReferralManifest, ReferralStatus, SignedReceipt, MAX_MEDIA_PER_REFERRAL,
    MAX_QUESTION_CHARS,
};
use clinshare_protocol::upload::{UploadOffset, UploadState};
use clinshare_protocol::{canonical_json, ErrorCode, PROTOCOL_VERSION};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::audit::action;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::store::{AuditRecord, NewReferral, PacsJobKind, Referral, User};

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(manifest): ApiJson<ReferralManifest>,
) -> Result<(StatusCode, Json<ReferralStatus>), ApiError> {
    let user = caller.user()?.clone();
    let now = crate::clock::now();
    let checked = if user.team_ids.is_empty() {
        // An administrator's account outside every team.
        Err(ApiError::SenderHasNoTeam)
    } else {
        check_manifest(&state, &manifest).await
    };
    let result = match checked {
        Ok(()) => accept(&state, &caller, &user, manifest, now).await,
        Err(e) => Err(e),
    };
    // A refused manifest's identifier is not named: it may not be one.
    let (object, outcome, patient) = match &result {
        Ok((r, created)) => (
            r.id.clone(),
            if *created { "ok" } else { "repeat" },
            r.audit_patient(),
        ),
        Err(e) => ("-".to_owned(), e.code(), None),
    };
    let entry = Entry {
        action: action::REFERRAL_CREATE,
        object: &object,
        outcome,
        patient,
        at: now,
    };
    audit_entry(&state, &caller, &user, entry).await?;
    let (referral, created) = result?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(sender_view(&state, &referral).await?)))
}

async fn accept(
    state: &AppState,
    caller: &Caller,
    user: &User,
    manifest: ReferralManifest,
    now: i64,
) -> Result<(Referral, bool), ApiError> {
    let bytes = canonical_json(&manifest).map_err(ApiError::internal)?;
    let new = NewReferral {
        id: crate::keys::new_id().map_err(ApiError::internal)?,
        sender_user_id: user.id.clone(),
        sender_device_id: caller.device_id.clone(),
        manifest_sha256: hex::encode(Sha256::digest(&bytes)),
        manifest,
        created_at: now,
    };
    Ok(state.store.create_referral(new).await?)
}

fn valid_key(k: &str) -> bool {
    (8..=128).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn check_manifest(state: &AppState, m: &ReferralManifest) -> Result<(), ApiError> {
    if m.protocol_version != PROTOCOL_VERSION {
        return Err(ApiError::ProtocolVersion);
    }
    if !valid_key(&m.idempotency_key) {
        return Err(ApiError::BadRequest(
            "idempotency_key must be 8 to 128 letters, digits, '-' or '_'",
        ));
    }
    let team = state
        .store
        .team(&m.recipient_team)
        .await?
        .ok_or(ApiError::UnknownTeam)?;
    if !team.accepts_referrals {
        return Err(ApiError::TeamNotAccepting);
    }
    // The team's own limit, which the signed directory told the laptop.
    if let Some(limit) = team.max_file_bytes.and_then(|b| u64::try_from(b).ok()) {
        if m.media.iter().any(|item| item.size > limit) {
            return Err(ApiError::FileTooLargeForTeam { limit });
        }
    }
    // The server has no local number pattern, so local numbers are refused
    // here with the same code the app uses when none is configured.
    PatientIdentifier::parse_as(m.patient.kind, &m.patient.value, None)?;
    let c = &m.consent;
    if c.withdrawn {
        return Err(ApiError::ConsentWithdrawn);
    }
    let names_other_team = c
        .recipient_team
        .as_deref()
        .is_some_and(|t| t != m.recipient_team);
    let care_without_team = c.level == ConsentLevel::Care && c.recipient_team.is_none();
    if !c.level.covers_sharing_for_care() || names_other_team || care_without_team {
        return Err(ApiError::ConsentInsufficient);
    }
    let recorded = OffsetDateTime::parse(&c.recorded_at, &Rfc3339)
        .map_err(|_| ApiError::BadRequest("consent.recorded_at must be RFC 3339"))?;
    if recorded.unix_timestamp()
        > crate::clock::now() + clinshare_protocol::auth::MAX_CLOCK_SKEW_SECS
    {
        return Err(ApiError::BadRequest("consent.recorded_at is in the future"));
    }
    if c.recorded_by.trim().is_empty() || c.recorded_by.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "consent.recorded_by must name the clinician",
        ));
    }
    let q = m.clinical_question.trim();
    if q.is_empty()
        || q.chars().count() > MAX_QUESTION_CHARS
        || q.chars()
            .any(|ch| ch.is_control() && ch != '\n' && ch != '\t')
    {
        return Err(ApiError::BadRequest(
            "clinical_question must be non-empty text of at most 4000 characters",
        ));
    }
    if m.media.is_empty() || m.media.len() > MAX_MEDIA_PER_REFERRAL {
        return Err(ApiError::BadRequest(
            "a referral carries 1 to 50 media files",
        ));
    }
    let limits = clinshare_media::Limits::default();
    let max = limits.max_image_bytes.max(limits.max_video_bytes);
    let mut seen = std::collections::HashSet::new();
    for item in &m.media {
        let hex_ok = item.sha256.len() == 64
            && item
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok || !seen.insert(item.sha256.as_str()) {
            return Err(ApiError::BadRequest(
                "each media sha256 must be distinct lower-case hex",
            ));
        }
        if item.size == 0 || item.size > max {
            return Err(ApiError::BadRequest(
                "a media size is zero or above the limit",
            ));
        }
    }
    Ok(())
}

/// An entry that concerns no patient (or none the server still knows).
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    user: &User,
    action: &str,
    object: &str,
    outcome: &str,
    at: i64,
) -> Result<(), ApiError> {
    let entry = Entry {
        action,
        object,
        outcome,
        patient: None,
        at,
    };
    audit_entry(state, caller, user, entry).await
}

/// What an audit entry says beyond who made the request.
pub struct Entry<'a> {
    pub action: &'a str,
    pub object: &'a str,
    pub outcome: &'a str,
    /// `store::audit_patient`: whose record this read or wrote.
    pub patient: Option<String>,
    pub at: i64,
}

pub async fn audit_entry(
    state: &AppState,
    caller: &Caller,
    user: &User,
    e: Entry<'_>,
) -> Result<(), ApiError> {
    state
        .store
        .append_audit(AuditRecord {
            at: e.at,
            actor: user.id.clone(),
            device: caller.device_id.clone(),
            action: e.action.to_owned(),
            object: e.object.to_owned(),
            outcome: e.outcome.to_owned(),
            patient: e.patient,
        })
        .await?;
    Ok(())
}

/// An entry about one referral, naming its patient while the server still
/// holds the identifier (after withdrawal it does not: the referral id
/// links to the entries that named them).
pub async fn audit_referral(
    state: &AppState,
    caller: &Caller,
    user: &User,
    (action, r): (&str, &Referral),
    outcome: &str,
    at: i64,
) -> Result<(), ApiError> {
    let entry = Entry {
        action,
        object: &r.id,
        outcome,
        patient: r.audit_patient(),
        at,
    };
    audit_entry(state, caller, user, entry).await
}

/// The referral if this user sent it; otherwise "not found", whether it
/// exists or not.
pub async fn own_referral(state: &AppState, user: &User, id: &str) -> Result<Referral, ApiError> {
    state
        .store
        .referral(id)
        .await?
        .filter(|r| r.sender_user_id == user.id)
        .ok_or(ApiError::NotFound)
}

pub async fn sender_view(state: &AppState, r: &Referral) -> Result<ReferralStatus, ApiError> {
    let mut media = Vec::with_capacity(r.media.len());
    for m in &r.media {
        let offset = if m.verified {
            m.size
        } else {
            state.blobs.offset(&r.id, &m.sha256).await?
        };
        media.push(UploadOffset {
            sha256: m.sha256.clone(),
            offset,
            size: m.size,
            state: if m.verified {
                UploadState::Verified
            } else {
                UploadState::Partial
            },
        });
    }
    let receipt = r
        .receipt_json
        .as_deref()
        .map(serde_json::from_str::<SignedReceipt>)
        .transpose()
        .map_err(ApiError::internal)?;
    Ok(ReferralStatus {
        referral_id: r.id.clone(),
        state: r.state,
        consent_withdrawn: r.consent_withdrawn_at.is_some(),
        media,
        receipt,
    })
}

pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ReferralStatus>, ApiError> {
    let user = caller.user()?;
    let r = own_referral(&state, user, &id).await?;
    let now = crate::clock::now();
    audit_referral(
        &state,
        &caller,
        user,
        (action::REFERRAL_VIEW, &r),
        "ok",
        now,
    )
    .await?;
    Ok(Json(sender_view(&state, &r).await?))
}

/// Deletes a withdrawn referral's files (and chunks still uploading).
/// From the media rows, which withdrawal keeps: the manifest's media list
/// is erased with the rest of it.
pub(crate) async fn delete_files(state: &AppState, r: &Referral) -> Result<(), ApiError> {
    for m in &r.media {
        let shared = state.store.media_in_use_elsewhere(&m.sha256, &r.id).await?;
        state.blobs.delete(&r.id, &m.sha256, !shared).await?;
    }
    Ok(())
}

/// The sender reports that the patient withdrew consent: recipients can no
/// longer open the files and see only that consent was withdrawn, when,
/// and which referral it was; the store erases the patient's details from
/// the referral in the same transaction that records the withdrawal.
pub async fn withdraw_consent(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConsentWithdrawal>,
) -> Result<Json<ReferralStatus>, ApiError> {
    let user = caller.user()?;
    // The sender, or any clinician signed in on the laptop that sent it:
    // consent is recorded (and withdrawn) on that laptop, and a withdrawal
    // must reach the server whoever is signed in when it next syncs.
    let r = state
        .store
        .referral(&id)
        .await?
        .filter(|r| r.sender_user_id == user.id || r.sender_device_id == caller.device_id)
        .ok_or(ApiError::NotFound)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::BadRequest("give the reason for the withdrawal"));
    }
    let now = crate::clock::now();
    // Named before the store erases it: this entry is what links the
    // referral id to the patient once the referral holds neither.
    let patient = r.audit_patient();
    let r = state.store.withdraw_consent(&r.id, now).await?;
    // Audited as soon as it is recorded: a retry after a failed deletion
    // finds the patient already erased and could not name them.
    let entry = Entry {
        action: action::CONSENT_WITHDRAW,
        object: &r.id,
        outcome: "ok",
        patient,
        at: now,
    };
    audit_entry(&state, &caller, user, entry).await?;
    // The referral's files go from the blob store. A failure leaves them
    // refused (410) and answers 500, so the laptop sends the withdrawal
    // again and the deletion is retried.
    delete_files(&state, &r).await?;
    // Ask each PACS to delete its copy (a no-op where nothing was filed).
    for target in state.pacs_targets() {
        state
            .store
            .queue_pacs_job(&r.id, &target, PacsJobKind::Delete, now)
            .await?;
    }
    Ok(Json(sender_view(&state, &r).await?))
}
