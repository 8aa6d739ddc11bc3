//! Device signatures and user tokens, checked on every request under `/v1`
//! except enrolment (see `clinshare_protocol::auth` for the scheme).
//!
//! Order matters: the signature is checked before the nonce is recorded, so
//! nobody without the device key can fill the nonce table or spend the
//! device's rate budget; revocation and disabling are read from the store on
//! every request, so they take effect on the next one.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use clinshare_protocol::auth::{
    canonical_request, HEADER_CONTENT_SHA256, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, MAX_CLOCK_SKEW_SECS,
};
use ed25519_dalek::{Signature, VerifyingKey};
use http_body_util::{BodyExt, Limited};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::keys::secret_hash;
use crate::state::AppState;
use crate::store::User;

/// Who is calling, put into the request's extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub device_id: String,
    pub user: Option<User>,
    /// The body hash the device signed; streaming handlers check it.
    pub content_sha256: String,
}

impl Caller {
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or(ApiError::SignInRequired)
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unsigned)
}

fn is_hex_between(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The streaming routes (chunk uploads, the only PUTs) check the body hash
/// themselves while writing.
fn streams_body(method: &Method) -> bool {
    method == Method::PUT
}

pub async fn authenticate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let h = req.headers();
    let device_id = header(h, HEADER_DEVICE)?.to_owned();
    let timestamp: i64 = header(h, HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| ApiError::Unsigned)?;
    let nonce = header(h, HEADER_NONCE)?.to_ascii_lowercase();
    let content_sha256 = header(h, HEADER_CONTENT_SHA256)?.to_ascii_lowercase();
    let signature_hex = header(h, HEADER_SIGNATURE)?;
    if !is_hex_between(&nonce, 16, 64) || !is_hex_between(&content_sha256, 64, 64) {
        return Err(ApiError::Unsigned);
    }
    let token = match h.get(axum::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.strip_prefix("Bearer "))
                .ok_or(ApiError::TokenInvalid)?
                .to_owned(),
        ),
    };
    let now = crate::clock::now();
    if (now - timestamp).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::StaleTimestamp);
    }
    let device = state
        .store
        .device(&device_id)
        .await?
        .filter(|d| d.revoked_at.is_none())
        .ok_or(ApiError::DeviceRevoked)?;
    let key = VerifyingKey::from_bytes(&device.public_key).map_err(|_| ApiError::DeviceRevoked)?;
    let sig_bytes: [u8; 64] = hex::decode(signature_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(ApiError::BadSignature)?;
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let canonical = canonical_request(
        req.method().as_str(),
        &path,
        timestamp,
        &nonce,
        &content_sha256,
    );
    key.verify_strict(canonical.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| ApiError::BadSignature)?;
    if !state.store.remember_nonce(&device_id, &nonce, now).await? {
        return Err(ApiError::Replayed);
    }
    if !state.limiter.allow(&device_id) {
        return Err(ApiError::RateLimited);
    }

    let user = match token {
        Some(t) => {
            let user = state
                .store
                .token_user(&secret_hash(&t), &device_id, now)
                .await?
                .ok_or(ApiError::TokenInvalid)?;
            if user.disabled {
                return Err(ApiError::UserDisabled);
            }
            Some(user)
        }
        None => None,
    };

    let (parts, body) = req.into_parts();
    let body = if streams_body(&parts.method) {
        body
    } else {
        let bytes = read_limited(body, state.config.max_json_bytes).await?;
        if hex::encode(Sha256::digest(&bytes)) != content_sha256 {
            return Err(ApiError::BodyHash);
        }
        Body::from(bytes)
    };
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(Caller {
        device_id,
        user,
        content_sha256,
    });
    Ok(next.run(req).await)
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| ApiError::BadRequest("the body is too large"))
}
