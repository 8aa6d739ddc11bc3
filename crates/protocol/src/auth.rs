//! How a device signs its requests.
//!
//! Every request after enrolment carries these headers:
//!
//! | header | value |
//! |---|---|
//! | `x-clinshare-device` | the device id from enrolment |
//! | `x-clinshare-timestamp` | Unix seconds when signed |
//! | `x-clinshare-nonce` | 16–64 random hex digits, never reused |
//! | `x-clinshare-content-sha256` | hex SHA-256 of the body (of the empty string when there is none) |
//! | `x-clinshare-signature` | hex Ed25519 signature of [`canonical_request`] by the device key |
//! | `authorization` | `Bearer <token>` from `POST /v1/session` (all but sign-in) |
//!
//! The server refuses timestamps more than [`MAX_CLOCK_SKEW_SECS`] away from
//! its clock and any nonce it has seen from that device within that window,
//! so a captured request cannot be replayed.

pub const HEADER_DEVICE: &str = "x-clinshare-device";
pub const HEADER_TIMESTAMP: &str = "x-clinshare-timestamp";
pub const HEADER_NONCE: &str = "x-clinshare-nonce";
pub const HEADER_CONTENT_SHA256: &str = "x-clinshare-content-sha256";
pub const HEADER_SIGNATURE: &str = "x-clinshare-signature";
/// On `409 upload.offset_mismatch` and on offset queries: the bytes the
/// server holds for that file.
pub const HEADER_UPLOAD_OFFSET: &str = "upload-offset";

/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The string a device signs: each part on its own line, prefixed by the
/// scheme, so no part can be shifted into another.
///
/// `path` is the path and query exactly as sent (`/v1/referrals?x=1`).
pub fn canonical_request(
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    content_sha256: &str,
) -> String {
    format!(
        "clinshare-request-v1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        timestamp,
        nonce.to_ascii_lowercase(),
        content_sha256.to_ascii_lowercase()
    )
}

/// `POST /v1/session`: a clinician signs in on an enrolled device.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
}

/// A short-lived bearer token, bound to the device that signed in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignInResponse {
    pub token: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub user_id: String,
    pub team_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_request_is_line_separated_and_normalised() {
        let s = canonical_request("post", "/v1/referrals", 1700000000, "ABCD", "EF");
        assert_eq!(
            s,
            "clinshare-request-v1\nPOST\n/v1/referrals\n1700000000\nabcd\nef"
        );
    }
}
