//! The recipient team's inbox. Only members of the referral's recipient team
//! see it; everyone else gets 404, the same answer as for an id that does
//! not exist, so nobody learns whether a referral exists.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clinshare_protocol::inbox::{InboxItem, InboxReferral};
use clinshare_protocol::referral::{MediaFormat, ReferralManifest, ReferralState};

use crate::audit::action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::intake::{audit, audit_referral};
use crate::state::AppState;
use crate::store::{Referral, User};

fn item(r: &Referral) -> InboxItem {
    InboxItem {
        referral_id: r.id.clone(),
        recipient_team: r.recipient_team_id.clone(),
        urgency: r.manifest.urgency,
        state: r.state,
        delivered_at: r
            .delivered_at
            .map(crate::clock::rfc3339)
            .unwrap_or_default(),
        acknowledged_at: r.acknowledged_at.map(crate::clock::rfc3339),
        consent_withdrawn: r.consent_withdrawn_at.is_some(),
        consent_withdrawn_at: r.consent_withdrawn_at.map(crate::clock::rfc3339),
    }
}

/// What a recipient may read of the referral's manifest: all of it, or
/// after withdrawal only what says which referral it was. The store erased
/// the rest when the withdrawal was recorded; erasing again here keeps a
/// referral withdrawn before the store did that (or any later slip in the
/// store) from reaching a recipient.
fn readable(r: &Referral) -> std::borrow::Cow<'_, ReferralManifest> {
    if r.consent_withdrawn_at.is_some() {
        std::borrow::Cow::Owned(crate::store::erased_manifest(&r.manifest))
    } else {
        std::borrow::Cow::Borrowed(&r.manifest)
    }
}

/// The referral if it was delivered to one of this user's teams.
pub(crate) async fn addressed_to(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<Referral, ApiError> {
    state
        .store
        .referral(id)
        .await?
        .filter(|r| r.state != ReferralState::Uploading)
        .filter(|r| user.team_ids.contains(&r.recipient_team_id))
        .ok_or(ApiError::NotFound)
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<InboxItem>>, ApiError> {
    let user = caller.user()?;
    let referrals = state.store.inbox(&user.team_ids).await?;
    // No patient: a list item names none (no identifier, name or
    // question), so listing is not looking at anyone's record; opening is.
    audit(
        &state,
        &caller,
        user,
        action::INBOX_LIST,
        "-",
        "ok",
        crate::clock::now(),
    )
    .await?;
    Ok(Json(referrals.iter().map(item).collect()))
}

pub async fn open(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<InboxReferral>, ApiError> {
    let user = caller.user()?;
    let r = addressed_to(&state, user, &id).await?;
    let now = crate::clock::now();
    audit_referral(&state, &caller, user, (action::INBOX_OPEN, &r), "ok", now).await?;
    let sender = state.store.user(&r.sender_user_id).await?;
    let manifest = readable(&r);
    Ok(Json(InboxReferral {
        item: item(&r),
        patient: manifest.patient.clone(),
        consent: manifest.consent.clone(),
        clinical_question: manifest.clinical_question.clone(),
        media: manifest.media.clone(),
        sender_name: sender.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        sender_team: sender.and_then(|u| u.team_ids.first().cloned()),
    }))
}

pub(crate) fn mime(f: MediaFormat) -> &'static str {
    match f {
        MediaFormat::Jpeg => "image/jpeg",
        MediaFormat::Png => "image/png",
        MediaFormat::Webp => "image/webp",
        MediaFormat::Heic => "image/heic",
        MediaFormat::Heif => "image/heif",
        MediaFormat::Avif => "image/avif",
        MediaFormat::Tiff => "image/tiff",
        MediaFormat::Mp4 => "video/mp4",
        MediaFormat::Mov => "video/quicktime",
    }
}

pub async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    let r = addressed_to(&state, user, &id).await?;
    let now = crate::clock::now();
    let download = (action::MEDIA_DOWNLOAD, &r);
    if r.consent_withdrawn_at.is_some() {
        audit_referral(&state, &caller, user, download, "consent_withdrawn", now).await?;
        return Err(ApiError::ConsentWithdrawn);
    }
    let m = r
        .manifest
        .media
        .iter()
        .find(|m| m.sha256 == sha256)
        .ok_or(ApiError::NotFound)?;
    let body = state.blobs.open_verified(&r.id, &m.sha256).await?;
    audit_referral(&state, &caller, user, download, "ok", now).await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime(m.format).to_owned()),
            (header::CONTENT_LENGTH, m.size.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<InboxItem>, ApiError> {
    let user = caller.user()?;
    let r = addressed_to(&state, user, &id).await?;
    let now = crate::clock::now();
    let r = state.store.acknowledge(&r.id, &user.id, now).await?;
    audit_referral(&state, &caller, user, (action::ACKNOWLEDGE, &r), "ok", now).await?;
    Ok(Json(item(&r)))
}
