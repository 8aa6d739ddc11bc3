//! `POST /v1/session`: a clinician signs in on an enrolled device and gets a
//! short-lived bearer token bound to that device (stored only as a hash).

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
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

/// Checks a password against its PHC string, computing Argon2 in `memory`
/// (resized to the hash's cost) instead of a fresh allocation: sign-ins on
/// many threads would otherwise leave a ~19 MiB buffer behind in each
/// thread's allocator arena (measured: ~17 MB of peak RSS per concurrent
/// sign-in).
fn password_matches(password: &str, stored: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(params), Some(expected), Some(salt)) =
        (argon2::Params::try_from(&parsed), parsed.hash, parsed.salt)
    else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| argon2::Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    memory.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok();
    // `Output`'s equality is constant-time.
    ok && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Argon2 working memory, one buffer per permitted concurrent check.
fn take_memory(state: &AppState) -> Vec<argon2::Block> {
    state
        .password_memory
        .lock()
        .ok()
        .and_then(|mut pool| pool.pop())
        .unwrap_or_default()
}

fn return_memory(state: &AppState, memory: Vec<argon2::Block>) {
    if let Ok(mut pool) = state.password_memory.lock() {
        pool.push(memory);
    }
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
    let mut memory = take_memory(&state);
    let (matches, memory) = tokio::task::spawn_blocking(move || {
        let m = password_matches(&password, &stored, &mut memory);
        (m, memory)
    })
    .await
    .map_err(ApiError::internal)?;
    return_memory(&state, memory);
    drop(permit);
    let now = crate::clock::now();
    let audit = |actor: &str, outcome: &str| AuditRecord {
        at: now,
        actor: actor.to_owned(),
        device: caller.device_id.clone(),
        action: action::SIGN_IN.into(),
        object: "-".into(),
        outcome: outcome.to_owned(),
        patient: None,
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
