//! The admin API (`/v1/admin/...`): what an administrator's signed-in,
//! enrolled device sends to manage teams, users, enrolment codes and
//! devices. The same actions as `clinshare-server admin`.

use serde::{Deserialize, Serialize};

/// What a user may do. Clinicians send and receive referrals;
/// administrators also use the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Clinician,
    Administrator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Administrator => "administrator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "clinician" => Some(Role::Clinician),
            "administrator" => Some(Role::Administrator),
            _ => None,
        }
    }
}

/// `GET /v1/admin/organisations` lists these; `POST` answers one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationInfo {
    pub organisation_id: String,
    pub name: String,
    /// NHS Organisation Data Service code, upper case.
    pub ods_code: Option<String>,
    /// The names of its teams.
    pub teams: Vec<String>,
}

/// `POST /v1/admin/organisations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    pub name: String,
    #[serde(default)]
    pub ods_code: Option<String>,
}

/// `GET /v1/admin/teams` lists these; `POST /v1/admin/teams` answers one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamInfo {
    pub team_id: String,
    pub name: String,
    pub organisation: String,
    pub accepts_referrals: bool,
    pub max_file_bytes: Option<u64>,
}

/// `POST /v1/admin/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
    pub organisation: String,
    #[serde(default)]
    pub accepts_referrals: bool,
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
}

/// `POST /v1/admin/teams/accepting`: start or stop a team taking referrals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamAccepting {
    pub team: String,
    pub accepts_referrals: bool,
}

/// `POST /v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    /// Required for a clinician; an administrator may have none.
    #[serde(default)]
    pub team: Option<String>,
    pub password: String,
    #[serde(default)]
    pub role: Role,
}

/// `POST /v1/admin/users` answers this (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub team_ids: Vec<String>,
}

/// `POST /v1/admin/users/disabled`: disable (or enable again) a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDisabled {
    pub name: String,
    pub disabled: bool,
}

/// `POST /v1/admin/enrolment-codes`: `expires_in` as `30m`, `1h`, `2d`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnrolmentCode {
    pub expires_in: String,
}

/// The one-time code, shown once; only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentCode {
    pub code: String,
    /// RFC 3339.
    pub expires_at: String,
}
