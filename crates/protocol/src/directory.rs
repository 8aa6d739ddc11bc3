//! `GET /v1/directory`: who a device may send to, signed by the server so the
//! app can cache it and check it offline.

use serde::{Deserialize, Serialize};

use crate::Signed;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub protocol_version: u32,
    /// Increases whenever a team, membership or user changes.
    pub version: i64,
    /// RFC 3339, UTC.
    pub issued_at: String,
    pub teams: Vec<DirectoryTeam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryTeam {
    pub team_id: String,
    pub name: String,
    pub organisation: String,
    pub accepts_referrals: bool,
    /// The largest file the team takes, in bytes, if it sets a limit: the
    /// app offers a smaller copy of a photo above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_bytes: Option<u64>,
    pub clinicians: Vec<DirectoryClinician>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryClinician {
    pub user_id: String,
    pub name: String,
}

pub type SignedDirectory = Signed<Directory>;
