//! `POST /v1/enrol`: a one-time, expiring code plus the device's Ed25519
//! public key gives a device id. Codes are stored only as hashes and are
//! consumed in the same transaction that records the device.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use clinshare_protocol::enrolment::{EnrolRequest, EnrolResponse};
use clinshare_protocol::PROTOCOL_VERSION;
use ed25519_dalek::VerifyingKey;

use crate::audit::action;
use crate::error::{ApiError, ApiJson};
use crate::keys::{new_id, secret_hash};
use crate::state::AppState;
use crate::store::{AuditRecord, Device};

/// Codes are typed by people: compare them without case, spaces or hyphens.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A new code: 16 characters from an alphabet without look-alikes (80 bits).
pub fn generate_code() -> Result<String, ApiError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789"; // 30 symbols, no I, L, O, U, 0, 1
    let bytes = crate::keys::random_bytes::<16>().map_err(ApiError::internal)?;
    let chars: Vec<char> = bytes
        .iter()
        // 256 is not a multiple of 30: the bias (< 1 in 8) costs well under a bit.
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

pub async fn enrol(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<(StatusCode, Json<EnrolResponse>), ApiError> {
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(ApiError::ProtocolVersion);
    }
    // Guessing codes costs the guesser, not the other devices.
    if !state.limiter.allow("enrol") {
        return Err(ApiError::RateLimited);
    }
    let key: [u8; 32] = hex::decode(req.device_public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(ApiError::BadRequest(
            "device_public_key must be 32 bytes in hex",
        ))?;
    VerifyingKey::from_bytes(&key)
        .map_err(|_| ApiError::BadRequest("device_public_key is not an Ed25519 key"))?;
    let name: String = req.device_name.trim().chars().take(100).collect();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("device_name must be a short label"));
    }
    let now = crate::clock::now();
    let device_id = new_id().map_err(ApiError::internal)?;
    let outcome = state
        .store
        .enrol_device(
            &secret_hash(&normalise_code(&req.code)),
            now,
            Device {
                id: device_id.clone(),
                name,
                public_key: key,
                enrolled_at: now,
                revoked_at: None,
            },
        )
        .await;
    let ok = outcome.is_ok();
    state
        .store
        .append_audit(AuditRecord {
            at: now,
            actor: "-".into(),
            device: if ok { device_id.clone() } else { "-".into() },
            action: action::ENROL.into(),
            object: "-".into(),
            outcome: if ok { "ok".into() } else { "refused".into() },
            patient: None,
        })
        .await?;
    outcome.map_err(|e| match e {
        crate::store::StoreError::Duplicate => ApiError::BadRequest("this key is already enrolled"),
        other => other.into(),
    })?;
    tracing::info!(device = %device_id, "device enrolled");
    Ok((
        StatusCode::CREATED,
        Json(EnrolResponse {
            protocol_version: PROTOCOL_VERSION,
            device_id,
            server_signing_key: state.keys.public_key_hex(),
            server_key_id: state.keys.key_id().to_owned(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_normalise_back() {
        let code = generate_code().expect("code");
        assert_eq!(code.len(), 19);
        assert_eq!(normalise_code(&code.to_lowercase()), code.replace('-', ""));
    }
}
