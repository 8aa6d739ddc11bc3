//! The server's errors: each has a stable code (the client matches on it)
//! and an HTTP status. Responses carry only the code and a fixed sentence;
//! the cause of an internal failure goes to the log, never to the caller.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use clinshare_protocol::identifier::IdentifierError;
use clinshare_protocol::{ErrorBody, ErrorClass, ErrorCode};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("This request must be signed by an enrolled device.")]
    Unsigned,
    #[error("The request signature is not valid.")]
    BadSignature,
    #[error("The request's timestamp is too far from the server's clock; check the device clock.")]
    StaleTimestamp,
    #[error("This request was already received once; a new nonce is needed.")]
    Replayed,
    #[error("The body does not match its declared SHA-256.")]
    BodyHash,
    #[error("This device is not enrolled or was revoked; enrol it again.")]
    DeviceRevoked,
    #[error("Sign in first.")]
    SignInRequired,
    #[error("The session has expired or was ended; sign in again.")]
    TokenInvalid,
    #[error("This account is disabled.")]
    UserDisabled,
    #[error("The name or password is wrong.")]
    BadCredentials,
    #[error("The enrolment code is wrong, used or expired; ask the administrator for a new one.")]
    EnrolCodeInvalid,
    #[error("Not found.")]
    NotFound,
    #[error("The request is not valid: {0}.")]
    BadRequest(&'static str),
    #[error("This protocol version is not supported by the server.")]
    ProtocolVersion,
    #[error("The recipient team is not in the directory.")]
    UnknownTeam,
    #[error("The recipient team does not accept referrals.")]
    TeamNotAccepting,
    #[error(
        "A photo is larger than the recipient team accepts ({limit} bytes): send a smaller copy."
    )]
    FileTooLargeForTeam { limit: u64 },
    #[error("The patient identifier is not valid.")]
    Identifier(#[from] IdentifierError),
    #[error("The recorded consent does not cover sharing with this team for care.")]
    ConsentInsufficient,
    #[error("The consent for this referral was withdrawn.")]
    ConsentWithdrawn,
    #[error("This idempotency key was already used for a different referral.")]
    IdempotencyConflict,
    #[error("The upload does not start where the server's copy ends.")]
    OffsetMismatch { current: u64 },
    #[error("The upload is longer than the size in the manifest.")]
    UploadTooLong,
    #[error("Nothing arrived for {seconds} s, so the upload was stopped; send the rest again.")]
    UploadStalled { seconds: u64 },
    #[error("Less than {kib} KiB arrived in {seconds} s, so the upload was stopped; send the rest again in smaller pieces.")]
    UploadTooSlow { kib: u64, seconds: u64 },
    #[error("The file's SHA-256 does not match the manifest; upload it again.")]
    HashMismatch,
    #[error("The file was refused by the verifier: {code}.")]
    MediaRejected { code: &'static str },
    #[error("The file still contains metadata; strip it on the device and upload it again.")]
    ResidualMetadata,
    #[error("Too many requests from this device; slow down.")]
    RateLimited,
    #[error("This needs an administrator's account.")]
    NotAdministrator,
    #[error("Only members of a team send referrals; this account has no team.")]
    SenderHasNoTeam,
    /// An administrative action refused (see `admin::AdminError`).
    #[error("{message}")]
    Admin {
        code: &'static str,
        message: String,
        status: StatusCode,
    },
    #[error("The server failed; nothing was changed. Try again later.")]
    Internal(String),
}

impl ErrorCode for ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unsigned => "auth.unsigned",
            ApiError::BadSignature => "auth.bad_signature",
            ApiError::StaleTimestamp => "auth.stale_timestamp",
            ApiError::Replayed => "auth.replayed",
            ApiError::BodyHash => "auth.body_hash",
            ApiError::DeviceRevoked => "auth.device_revoked",
            ApiError::SignInRequired => "auth.sign_in_required",
            ApiError::TokenInvalid => "auth.token_invalid",
            ApiError::UserDisabled => "auth.user_disabled",
            ApiError::BadCredentials => "auth.bad_credentials",
            ApiError::EnrolCodeInvalid => "enrol.code_invalid",
            ApiError::NotFound => "not_found",
            ApiError::BadRequest(_) => "request.invalid",
            ApiError::ProtocolVersion => "request.protocol_version",
            ApiError::UnknownTeam => "intake.unknown_team",
            ApiError::TeamNotAccepting => "intake.team_not_accepting",
            ApiError::FileTooLargeForTeam { .. } => "intake.file_too_large_for_team",
            ApiError::Identifier(e) => e.code(),
            ApiError::ConsentInsufficient => "intake.consent_insufficient",
            ApiError::ConsentWithdrawn => "intake.consent_withdrawn",
            ApiError::IdempotencyConflict => "intake.idempotency_conflict",
            ApiError::OffsetMismatch { .. } => "upload.offset_mismatch",
            ApiError::UploadTooLong => "upload.too_long",
            ApiError::UploadStalled { .. } | ApiError::UploadTooSlow { .. } => "upload.stalled",
            ApiError::HashMismatch => "upload.hash_mismatch",
            ApiError::MediaRejected { .. } => "upload.media_rejected",
            ApiError::ResidualMetadata => "upload.residual_metadata",
            ApiError::RateLimited => "rate.limited",
            ApiError::NotAdministrator => "auth.not_administrator",
            ApiError::SenderHasNoTeam => "intake.sender_has_no_team",
            ApiError::Admin { code, .. } => code,
            ApiError::Internal(_) => "internal",
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            ApiError::Internal(_) => ErrorClass::Environment,
            _ => ErrorClass::Refused,
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unsigned
            | ApiError::BadSignature
            | ApiError::StaleTimestamp
            | ApiError::Replayed
            | ApiError::DeviceRevoked
            | ApiError::SignInRequired
            | ApiError::TokenInvalid
            | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::UserDisabled
            | ApiError::EnrolCodeInvalid
            | ApiError::NotAdministrator
            | ApiError::SenderHasNoTeam => StatusCode::FORBIDDEN,
            ApiError::Admin { status, .. } => *status,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::BodyHash | ApiError::ProtocolVersion => {
                StatusCode::BAD_REQUEST
            }
            ApiError::OffsetMismatch { .. } | ApiError::IdempotencyConflict => StatusCode::CONFLICT,
            ApiError::ConsentWithdrawn => StatusCode::GONE,
            ApiError::UploadTooLong => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UploadStalled { .. } | ApiError::UploadTooSlow { .. } => {
                StatusCode::REQUEST_TIMEOUT
            }
            ApiError::UnknownTeam
            | ApiError::TeamNotAccepting
            | ApiError::FileTooLargeForTeam { .. }
            | ApiError::Identifier(_)
            | ApiError::ConsentInsufficient
            | ApiError::HashMismatch
            | ApiError::MediaRejected { .. }
            | ApiError::ResidualMetadata => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::IdempotencyConflict => ApiError::IdempotencyConflict,
            StoreError::EnrolCodeInvalid => ApiError::EnrolCodeInvalid,
            StoreError::NotFound => ApiError::NotFound,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Internal(cause) => {
                // The cause may name files or SQL; it stays in the log.
                tracing::error!(error = %cause, "internal error");
                ErrorBody {
                    code: self.code().to_owned(),
                    message: "The server failed; nothing was changed. Try again later.".into(),
                }
            }
            // Identifier messages echo what was typed: that is patient data.
            ApiError::Identifier(e) => ErrorBody {
                code: e.code().to_owned(),
                message: "The patient identifier is not valid (check digit, length or range)."
                    .into(),
            },
            _ => ErrorBody::from(&self),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::OffsetMismatch { current } = self {
            if let Ok(v) = HeaderValue::from_str(&current.to_string()) {
                response
                    .headers_mut()
                    .insert(clinshare_protocol::auth::HEADER_UPLOAD_OFFSET, v);
            }
        }
        response
    }
}

/// `Json` and `Query` whose rejections are [`ApiError`]s, so a malformed
/// body or query gets the same `{code, message}` body as every other error
/// (axum's own rejections are plain text).
pub struct ApiJson<T>(pub T);
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|_| ApiError::BadRequest("the body is not the expected JSON document"))
    }
}

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|_| ApiError::BadRequest("the query must be ?offset=N"))
    }
}
