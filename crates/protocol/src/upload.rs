//! Resumable media upload: `GET` the offset, `PUT` a chunk at that offset.
//!
//! `PUT /v1/referrals/{id}/media/{sha256}?offset=N` with the chunk as the
//! body. A chunk that ends at or before the bytes already held and matches
//! them is a retry and succeeds without change; a chunk starting anywhere
//! else gets `409 upload.offset_mismatch` with the current offset (body and
//! `upload-offset` header).

use serde::{Deserialize, Serialize};

/// The largest chunk the server accepts in one request.
pub const MAX_CHUNK_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// More bytes are expected.
    Partial,
    /// All bytes arrived, the hash matched and the verifier passed.
    Verified,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOffset {
    pub sha256: String,
    pub offset: u64,
    pub size: u64,
    pub state: UploadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkQuery {
    pub offset: u64,
}

/// The answer to a chunk: where the file stands and, once the last file of
/// the referral is verified, the signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkResponse {
    pub upload: UploadOffset,
    pub referral_state: crate::referral::ReferralState,
    pub receipt: Option<crate::referral::SignedReceipt>,
}
