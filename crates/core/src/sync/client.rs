//! HTTP to the approved server: pinned TLS, every request signed by the
//! device key (see `clinshare_protocol::auth`) and, after sign-in, carrying
//! the clinician's short-lived token.

use std::time::Duration;

use bytes::Bytes;

use clinshare_protocol::auth::{
    canonical_request, SignInRequest, SignInResponse, HEADER_CONTENT_SHA256, HEADER_DEVICE,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_UPLOAD_OFFSET,
};
use clinshare_protocol::directory::SignedDirectory;
use clinshare_protocol::enrolment::{EnrolRequest, EnrolResponse};
use clinshare_protocol::inbox::{InboxItem, InboxReferral};
use clinshare_protocol::referral::{ConsentWithdrawal, ReferralManifest, ReferralStatus};
use clinshare_protocol::upload::ChunkResponse;
use clinshare_protocol::{ErrorBody, PROTOCOL_VERSION};
use ed25519_dalek::{Signer, SigningKey};
use reqwest::Method;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::SyncError;

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: SigningKey,
    device_id: Option<String>,
    token: Option<String>,
}

impl Client {
    /// A client for `server_url` (https only) that trusts only `pin`.
    pub fn new(
        server_url: &str,
        pin: &str,
        key: SigningKey,
        device_id: Option<String>,
    ) -> Result<Self, SyncError> {
        let base = server_url.trim().trim_end_matches('/').to_owned();
        if !base.starts_with("https://") {
            return Err(SyncError::NotHttps);
        }
        let tls = super::pin::client_config(pin).map_err(|e| SyncError::Tls(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| SyncError::Tls(e.to_string()))?;
        Ok(Client {
            http,
            base,
            key,
            device_id,
            token: None,
        })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// One signed request. `body_sha256` is the body's hash when the
    /// caller already knows it (a whole file, hashed by the gate).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: &str,
        body_sha256: Option<&str>,
    ) -> Result<reqwest::Response, SyncError> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, content_type);
        if let Some(device) = &self.device_id {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            let mut nonce = [0u8; 16];
            getrandom::fill(&mut nonce).map_err(|e| SyncError::Tls(e.to_string()))?;
            let nonce = hex::encode(nonce);
            let digest =
                body_sha256.map_or_else(|| hex::encode(Sha256::digest(&body)), str::to_owned);
            let canonical = canonical_request(method.as_str(), path, timestamp, &nonce, &digest);
            let signature = hex::encode(self.key.sign(canonical.as_bytes()).to_bytes());
            req = req
                .header(HEADER_DEVICE, device)
                .header(HEADER_TIMESTAMP, timestamp.to_string())
                .header(HEADER_NONCE, nonce)
                .header(HEADER_CONTENT_SHA256, digest)
                .header(HEADER_SIGNATURE, signature);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(SyncError::from_transport)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let offset = resp
            .headers()
            .get(HEADER_UPLOAD_OFFSET)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Option<ErrorBody> = resp.json().await.ok();
        Err(refusal(status, offset, body))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, SyncError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| SyncError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        self.call(method, path, bytes.into(), "application/json", None)
            .await?
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// `POST /v1/enrol` with a one-time code (not signed: the server does
    /// not know this key yet).
    pub async fn enrol(&self, code: &str, device_name: &str) -> Result<EnrolResponse, SyncError> {
        let request = EnrolRequest {
            protocol_version: PROTOCOL_VERSION,
            code: code.trim().to_owned(),
            device_public_key: self.public_key_hex(),
            device_name: device_name.to_owned(),
        };
        self.json(Method::POST, "/v1/enrol", Some(&request)).await
    }

    /// `POST /v1/session`: a token for the clinician; see [`Self::use_token`].
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<String, SyncError> {
        let request = SignInRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let answer: SignInResponse = self
            .json(Method::POST, "/v1/session", Some(&request))
            .await?;
        Ok(answer.token)
    }

    /// Later calls carry this clinician's token.
    pub fn use_token(&mut self, token: String) {
        self.token = Some(token);
    }

    pub async fn directory(&self) -> Result<SignedDirectory, SyncError> {
        self.json(Method::GET, "/v1/directory", None::<&()>).await
    }

    /// `POST /v1/referrals`; a repeated idempotency key returns the same referral.
    pub async fn submit(&self, manifest: &ReferralManifest) -> Result<ReferralStatus, SyncError> {
        self.json(Method::POST, "/v1/referrals", Some(manifest))
            .await
    }

    pub async fn status(&self, referral_id: &str) -> Result<ReferralStatus, SyncError> {
        self.json(
            Method::GET,
            &format!("/v1/referrals/{referral_id}"),
            None::<&()>,
        )
        .await
    }

    /// `PUT` one chunk at `offset`; `whole_file` says the chunk is the
    /// entire file, whose hash is then `sha256`.
    pub async fn put_chunk(
        &self,
        referral_id: &str,
        sha256: &str,
        offset: u64,
        chunk: Bytes,
        whole_file: bool,
    ) -> Result<ChunkResponse, SyncError> {
        let path = format!("/v1/referrals/{referral_id}/media/{sha256}?offset={offset}");
        let known = whole_file.then_some(sha256);
        self.call(Method::PUT, &path, chunk, "application/octet-stream", known)
            .await?
            .json()
            .await
            .map_err(|e| SyncError::Protocol(e.to_string()))
    }

    /// `POST /v1/referrals/{id}/consent-withdrawal`.
    pub async fn withdraw_consent(
        &self,
        referral_id: &str,
        reason: &str,
    ) -> Result<ReferralStatus, SyncError> {
        let body = ConsentWithdrawal {
            reason: reason.to_owned(),
        };
        self.json(
            Method::POST,
            &format!("/v1/referrals/{referral_id}/consent-withdrawal"),
            Some(&body),
        )
        .await
    }

    /// `GET /v1/inbox`: referrals delivered to this user's teams.
    pub async fn inbox(&self) -> Result<Vec<InboxItem>, SyncError> {
        self.json(Method::GET, "/v1/inbox", None::<&()>).await
    }

    /// `GET /v1/inbox/{id}`.
    pub async fn inbox_open(&self, referral_id: &str) -> Result<InboxReferral, SyncError> {
        self.json(
            Method::GET,
            &format!("/v1/inbox/{referral_id}"),
            None::<&()>,
        )
        .await
    }

    /// `GET /v1/inbox/{id}/media/{sha256}`: the file, at most `limit` bytes.
    pub async fn inbox_media(
        &self,
        referral_id: &str,
        sha256: &str,
        limit: u64,
    ) -> Result<Vec<u8>, SyncError> {
        let mut resp = self
            .call(
                Method::GET,
                &format!("/v1/inbox/{referral_id}/media/{sha256}"),
                Bytes::new(),
                "application/octet-stream",
                None,
            )
            .await?;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(SyncError::from_transport)? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(SyncError::Protocol(
                    "the file is larger than the referral says".to_owned(),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// `POST /v1/inbox/{id}/ack`.
    pub async fn inbox_ack(&self, referral_id: &str) -> Result<InboxItem, SyncError> {
        self.json(
            Method::POST,
            &format!("/v1/inbox/{referral_id}/ack"),
            None::<&()>,
        )
        .await
    }
}

/// What an unsuccessful answer means for the caller. Server errors, 408
/// (the server's whole-request limit: a chunk too big for this link) and
/// 429 (its rate limit) are worth trying again; other refusals are not.
fn refusal(status: reqwest::StatusCode, offset: Option<u64>, body: Option<ErrorBody>) -> SyncError {
    if status.is_server_error() {
        return SyncError::Server {
            status: status.as_u16(),
        };
    }
    if matches!(status.as_u16(), 408 | 429) {
        return SyncError::Busy {
            status: status.as_u16(),
        };
    }
    let (code, message) = body.map_or_else(
        || {
            (
                "http.refused".to_owned(),
                format!("The server refused the request ({status})."),
            )
        },
        |b| (b.code, b.message),
    );
    if let (Some(current), true) = (offset, code == "upload.offset_mismatch") {
        return SyncError::OffsetMismatch(current);
    }
    SyncError::Refused {
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn body(code: &str) -> Option<ErrorBody> {
        serde_json::from_value(serde_json::json!({"code": code, "message": "m"})).ok()
    }

    #[test]
    fn a_slow_link_or_a_busy_server_is_waited_for_and_a_refusal_is_not() {
        let timeout = refusal(StatusCode::REQUEST_TIMEOUT, None, None);
        assert!(matches!(timeout, SyncError::Busy { status: 408 }));
        assert!(timeout.is_retryable());
        assert!(timeout.to_string().contains("try again"), "{timeout}");
        let limited = refusal(StatusCode::TOO_MANY_REQUESTS, None, body("rate_limited"));
        assert!(matches!(limited, SyncError::Busy { status: 429 }));
        assert!(limited.is_retryable());
        assert!(refusal(StatusCode::SERVICE_UNAVAILABLE, None, None).is_retryable());

        let refused = refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            body("intake.consent_insufficient"),
        );
        assert!(!refused.is_retryable());
        assert!(
            matches!(refused, SyncError::Refused { status: 422, ref code, .. } if code == "intake.consent_insufficient")
        );
        let moved = refusal(
            StatusCode::CONFLICT,
            Some(42),
            body("upload.offset_mismatch"),
        );
        assert!(matches!(moved, SyncError::OffsetMismatch(42)));
    }
}
