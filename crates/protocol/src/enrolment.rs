//! `POST /v1/enrol`: a device presents a one-time code and its public key.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub protocol_version: u32,
    /// The one-time code printed by `clinshare-server admin enrol-code`.
    pub code: String,
    /// The device's Ed25519 public key, 32 bytes in hex.
    pub device_public_key: String,
    /// A label for administrators (`Ward 3 laptop`); not trusted for anything.
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub protocol_version: u32,
    pub device_id: String,
    /// The server's Ed25519 public key (hex), which signs the directory and
    /// receipts. The app keeps it beside the TLS pin.
    pub server_signing_key: String,
    pub server_key_id: String,
}

/// A device as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub device_id: String,
    pub name: String,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
}
