//! Wire types shared by the ClinShare app and the approved server.
//!
//! Every message carries the protocol version it was written for; the server
//! refuses versions it does not speak rather than guessing.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

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
}
