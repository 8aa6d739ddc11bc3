//! `POST /v1/session`: a clinician signs in on an enrolled device and gets a
//! short-lived bearer token bound to that device (stored only as a hash).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::Arc;

use argon2::Argon2;
use axum::extract::State;
use axum::{Extension, Json};
use clinshare_protocol::auth::{SignInRequest, SignInResponse};

use crate::audit::action;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::keys::{random_bytes, secret_hash};
use crate::state::AppState;
use crate::store::AuditRecord;

/// Argon2id with the crate's default parameters, as in `clinshare-core`.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = random_bytes::<16>().map_err(ApiError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash checked for unknown names too, so timing does not tell which
/// names exist.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("not a password").unwrap_or_default())
        .clone()
}

pub async fn sign_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SignInRequest>,
) -> Result<Json<SignInResponse>, ApiError> {
    let user = state.store.user_by_name(req.username.trim()).await?;
    let stored = user
        .as_ref()
        .map_or_else(dummy_hash, |u| u.password_hash.clone());
    let password = req.password;
    let permit = Arc::clone(&state.password_checks)
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let matches = tokio::task::spawn_blocking(move || password_matches(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    drop(permit);
    let now = crate::clock::now();
    let audit = |actor: &str, outcome: &str| AuditRecord {
        at: now,
        actor: actor.to_owned(),
        device: caller.device_id.clone(),
        action: action::SIGN_IN.into(),
        object: "-".into(),
        outcome: outcome.to_owned(),
    };
    let user = match user {
        Some(u) if matches => u,
        _ => {
            state.store.append_audit(audit("-", "refused")).await?;
            return Err(ApiError::BadCredentials);
        }
    };
    if user.disabled {
        state
            .store
            .append_audit(audit(&user.id, "disabled"))
            .await?;
        return Err(ApiError::UserDisabled);
    }
    let token = hex::encode(random_bytes::<32>().map_err(ApiError::internal)?);
    let expires_at = now + state.config.token_ttl_secs;
    state
        .store
        .add_token(
            &secret_hash(&token),
            &user.id,
            &caller.device_id,
            expires_at,
        )
        .await?;
    state.store.append_audit(audit(&user.id, "ok")).await?;
    Ok(Json(SignInResponse {
        token,
        expires_at: crate::clock::rfc3339(expires_at),
        user_id: user.id,
        team_ids: user.team_ids,
    }))
}
