//! Wire types shared by the ClinShare app and the approved server.
//!
//! Every message carries the protocol version it was written for; the server
//! refuses versions it does not speak rather than guessing. Validation that
//! both sides must agree on (identifier check digits, consent levels) lives
//! here too, so there is one implementation.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod consent;
pub mod directory;
pub mod enrolment;
pub mod error;
pub mod identifier;
pub mod inbox;
pub mod referral;
pub mod tls;
pub mod upload;

use serde::{Deserialize, Serialize};

pub use error::{ErrorBody, ErrorClass, ErrorCode};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// `GET /health`: the server is up and ready to take requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub protocol_version: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ready,
    Starting,
}

/// A detached Ed25519 signature by the server over [`Signed::payload`]'s
/// canonical bytes (see [`canonical_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    pub payload: T,
    /// Which server key signed: the first 16 hex digits of the SHA-256 of
    /// the raw 32-byte public key.
    pub key_id: String,
    /// The 64-byte signature, in lower-case hex.
    pub signature: String,
}

/// The bytes a signature covers: compact JSON of the value. Every signed
/// type is a struct of structs, vectors, strings, integers and booleans (no
/// maps, no floats), so serde_json writes the fields in declaration order
/// and the bytes are the same on both sides.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

/// The key id of a raw Ed25519 public key, as used in [`Signed::key_id`].
pub fn key_id(public_key: &[u8; 32]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(public_key)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_wire_format_is_stable() {
        let h = Health {
            status: HealthStatus::Ready,
            protocol_version: PROTOCOL_VERSION,
        };
        let json = serde_json::to_string(&h).expect("serialises");
        assert_eq!(json, r#"{"status":"ready","protocol_version":1}"#);
        let back: Health = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, h);
    }

    #[test]
    fn key_ids_are_sixteen_hex_digits() {
        let id = key_id(&[7u8; 32]);
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
