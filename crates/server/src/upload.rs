//! Resumable media upload for the sender:
//! `GET /v1/referrals/{id}/media/{sha256}` (where to continue) and
//! `PUT /v1/referrals/{id}/media/{sha256}?offset=N` (the next chunk).
//! The last chunk of a file triggers the hash and verifier checks; the last
//! verified file of a referral delivers it and signs the receipt.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clinshare_protocol::auth::HEADER_UPLOAD_OFFSET;
use clinshare_protocol::referral::{Receipt, ReferralState, SignedReceipt};
use clinshare_protocol::upload::{
    ChunkQuery, ChunkResponse, UploadOffset, UploadState, MAX_CHUNK_BYTES,
};
use clinshare_protocol::{ErrorCode, PROTOCOL_VERSION};

use crate::audit::action;
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::intake::{audit, own_referral};
use crate::state::AppState;
use crate::store::Referral;

fn with_offset(body: impl IntoResponse, offset: u64) -> Response {
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&offset.to_string()) {
        r.headers_mut().insert(HEADER_UPLOAD_OFFSET, v);
    }
    r
}

async fn offset_of(state: &AppState, r: &Referral, sha256: &str) -> Result<UploadOffset, ApiError> {
    let m = r
        .media
        .iter()
        .find(|m| m.sha256 == sha256)
        .ok_or(ApiError::NotFound)?;
    Ok(if m.verified {
        UploadOffset {
            sha256: m.sha256.clone(),
            offset: m.size,
            size: m.size,
            state: UploadState::Verified,
        }
    } else {
        UploadOffset {
            sha256: m.sha256.clone(),
            offset: state.blobs.offset(&r.id, sha256).await?,
            size: m.size,
            state: UploadState::Partial,
        }
    })
}

pub async fn get_offset(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    let r = own_referral(&state, user, &id).await?;
    let o = offset_of(&state, &r, &sha256).await?;
    let offset = o.offset;
    Ok(with_offset(Json(o), offset))
}

pub async fn put_chunk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, sha256)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ChunkQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let user = caller.user()?.clone();
    let r = own_referral(&state, &user, &id).await?;
    if r.consent_withdrawn_at.is_some() {
        return Err(ApiError::ConsentWithdrawn);
    }
    let item = r
        .manifest
        .media
        .iter()
        .find(|m| m.sha256 == sha256)
        .cloned()
        .ok_or(ApiError::NotFound)?;
    let _guard = state.blobs.lock(&r.id, &sha256).await?;
    // Re-read under the lock: another request may have finished this file.
    let r = state
        .store
        .referral(&r.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let current = offset_of(&state, &r, &sha256).await?;
    if current.state == UploadState::Verified {
        // A retry of the last chunk after success: answer as before.
        if q.offset > current.size {
            return Err(ApiError::OffsetMismatch {
                current: current.size,
            });
        }
        // The request that verified the last file may have been cut off
        // (client gone) before the referral was delivered: finish it now.
        let r = deliver_if_complete(&state, &r.id, &caller, &user).await?;
        return respond(&state, &r, current).await;
    }
    let now = crate::clock::now();
    let written = state
        .blobs
        .write_chunk(
            &r.id,
            &sha256,
            q.offset,
            item.size,
            MAX_CHUNK_BYTES,
            &caller.content_sha256,
            body,
            crate::blobs::Pace {
                window: state.config.upload_idle_timeout,
                min_bytes: state.config.upload_min_bytes_per_window,
            },
        )
        .await?;
    if written.offset < item.size {
        return respond(
            &state,
            &r,
            UploadOffset {
                sha256,
                offset: written.offset,
                size: item.size,
                state: UploadState::Partial,
            },
        )
        .await;
    }
    let finished = state
        .blobs
        .finish(
            &r.id,
            &sha256,
            written
                .whole_file
                .filter(|_| caller.content_sha256 == sha256),
            item.size,
            item.format,
        )
        .await;
    let outcome = match &finished {
        Ok(()) => "ok",
        Err(e) => e.code(),
    };
    audit(&state, &caller, &user, action::UPLOAD, &r.id, outcome, now).await?;
    finished?;
    // Withdrawn while this file was finishing: the withdrawal may have
    // deleted the files before this one was moved into place.
    if let Some(r) = state.store.referral(&r.id).await? {
        if r.consent_withdrawn_at.is_some() {
            crate::intake::delete_files(&state, &r).await?;
            return Err(ApiError::ConsentWithdrawn);
        }
    }
    state.store.mark_media_verified(&r.id, &sha256).await?;
    let r = deliver_if_complete(&state, &r.id, &caller, &user).await?;
    let upload = offset_of(&state, &r, &sha256).await?;
    respond(&state, &r, upload).await
}

async fn respond(
    state: &AppState,
    r: &Referral,
    upload: UploadOffset,
) -> Result<Response, ApiError> {
    let receipt = crate::intake::sender_view(state, r).await?.receipt;
    let offset = upload.offset;
    Ok(with_offset(
        Json(ChunkResponse {
            upload,
            referral_state: r.state,
            receipt,
        }),
        offset,
    ))
}

async fn deliver_if_complete(
    state: &AppState,
    referral_id: &str,
    caller: &Caller,
    user: &crate::store::User,
) -> Result<Referral, ApiError> {
    let r = state
        .store
        .referral(referral_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if r.state != ReferralState::Uploading || r.media.iter().any(|m| !m.verified) {
        return Ok(r);
    }
    let now = crate::clock::now();
    let receipt: SignedReceipt = state
        .keys
        .sign(Receipt {
            protocol_version: PROTOCOL_VERSION,
            referral_id: r.id.clone(),
            idempotency_key: r.idempotency_key.clone(),
            manifest_sha256: r.manifest_sha256.clone(),
            recipient_team: r.recipient_team_id.clone(),
            media_sha256: r.media.iter().map(|m| m.sha256.clone()).collect(),
            delivered_at: crate::clock::rfc3339(now),
        })
        .map_err(ApiError::internal)?;
    let json = serde_json::to_string(&receipt).map_err(ApiError::internal)?;
    let r = state
        .store
        .deliver(&r.id, now, json, &state.pacs_targets())
        .await?;
    audit(state, caller, user, action::DELIVER, &r.id, "ok", now).await?;
    tracing::info!(referral = %r.id, "referral delivered");
    Ok(r)
}
