//! Administration, shared by the `admin` subcommands: teams, users, enrolment
//! codes, devices. Each action is audited like a request.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use clinshare_protocol::enrolment::DeviceInfo;
use clinshare_protocol::{ErrorClass, ErrorCode};

use crate::audit::action;
use crate::keys::{new_id, secret_hash};
use crate::store::sqlite::SqliteStore;
use crate::store::{AuditRecord, Organisation, Role, Store, StoreError, Team, User};

pub const DATABASE_FILE: &str = "server.db";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("An organisation called \"{0}\" (in some case) or with that ODS code already exists.")]
    OrganisationExists(String),
    #[error("\"{0}\" is not an ODS code: 3 to 10 letters and digits, such as RX1 or S08000015.")]
    BadOdsCode(String),
    #[error("A team called \"{0}\" already exists.")]
    TeamExists(String),
    #[error("A user called \"{0}\" already exists.")]
    UserExists(String),
    #[error("There is no team called \"{0}\".")]
    NoSuchTeam(String),
    #[error("A clinician needs a team (only administrators may have none).")]
    TeamRequired,
    #[error("There is no user called \"{0}\".")]
    NoSuchUser(String),
    #[error("There is no device with id {0}.")]
    NoSuchDevice(String),
    #[error("The password is missing: set the environment variable {0}.")]
    PasswordMissing(String),
    #[error("A password needs at least 12 characters.")]
    PasswordWeak,
    #[error("The name must be 1 to 100 printable characters.")]
    BadName,
    #[error("The duration \"{0}\" is not understood; use for example 30m, 1h or 2d.")]
    BadDuration(String),
    #[error("The data directory cannot be used: {0}")]
    DataDir(String),
    #[error("The database failed: {0}")]
    Store(String),
}

impl ErrorCode for AdminError {
    fn code(&self) -> &'static str {
        match self {
            AdminError::OrganisationExists(_) => "admin.organisation_exists",
            AdminError::BadOdsCode(_) => "admin.bad_ods_code",
            AdminError::TeamExists(_) => "admin.team_exists",
            AdminError::UserExists(_) => "admin.user_exists",
            AdminError::NoSuchTeam(_) => "admin.no_such_team",
            AdminError::NoSuchUser(_) => "admin.no_such_user",
            AdminError::TeamRequired => "admin.team_required",
            AdminError::NoSuchDevice(_) => "admin.no_such_device",
            AdminError::PasswordMissing(_) => "admin.password_missing",
            AdminError::PasswordWeak => "admin.password_weak",
            AdminError::BadName => "admin.bad_name",
            AdminError::BadDuration(_) => "admin.bad_duration",
            AdminError::DataDir(_) => "admin.data_dir",
            AdminError::Store(_) => "admin.store",
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            AdminError::DataDir(_) | AdminError::Store(_) => ErrorClass::Environment,
            _ => ErrorClass::Refused,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e.to_string())
    }
}

/// The store for this data directory: PostgreSQL when a URL is given
/// (scale-out mode), else the embedded database in the data directory.
pub async fn open_store(
    data_dir: &Path,
    database: Option<&str>,
) -> Result<Arc<dyn Store>, AdminError> {
    match database {
        Some(url) => {
            crate::fsutil::create_private_dir(data_dir)
                .map_err(|e| AdminError::DataDir(e.to_string()))?;
            let store = crate::store::postgres::PostgresStore::connect(url).await?;
            Ok(Arc::new(store))
        }
        None => open_sqlite(data_dir),
    }
}

/// Opens the embedded database in `data_dir`, creating the folder (0700).
pub fn open_sqlite(data_dir: &Path) -> Result<Arc<dyn Store>, AdminError> {
    crate::fsutil::create_private_dir(data_dir).map_err(|e| AdminError::DataDir(e.to_string()))?;
    let store = SqliteStore::open(&data_dir.join(DATABASE_FILE))?;
    Ok(Arc::new(store))
}

fn clean_name(name: &str) -> Result<String, AdminError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(AdminError::BadName);
    }
    Ok(n.to_owned())
}

/// Who carries out an administrative action, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct By {
    actor: Cow<'static, str>,
    device: Cow<'static, str>,
}

impl By {
    /// `clinshare-server admin ...` on the server's own machine.
    pub const COMMAND_LINE: By = By {
        actor: Cow::Borrowed("admin"),
        device: Cow::Borrowed("-"),
    };

    /// An administrator's signed-in device, over the admin API.
    pub fn user(user_id: &str, device_id: &str) -> By {
        By {
            actor: Cow::Owned(user_id.to_owned()),
            device: Cow::Owned(device_id.to_owned()),
        }
    }
}

async fn audit(store: &dyn Store, by: &By, object: &str, outcome: &str) -> Result<(), AdminError> {
    store
        .append_audit(AuditRecord {
            at: crate::clock::now(),
            actor: by.actor.to_string(),
            device: by.device.to_string(),
            action: action::ADMIN.into(),
            object: object.into(),
            outcome: outcome.into(),
            patient: None,
        })
        .await?;
    Ok(())
}

/// An ODS code, upper-cased: NHS England's codes (RX1, A81001) and the
/// devolved nations' (S08000015) are 3 to 10 letters and digits.
fn clean_ods_code(code: &str) -> Result<String, AdminError> {
    let c = code.trim().to_ascii_uppercase();
    if !(3..=10).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AdminError::BadOdsCode(code.trim().to_owned()));
    }
    Ok(c)
}

pub async fn organisation_add(
    store: &dyn Store,
    by: &By,
    name: &str,
    ods_code: Option<&str>,
) -> Result<Organisation, AdminError> {
    let org = Organisation {
        id: new_id().map_err(|e| AdminError::Store(e.to_string()))?,
        name: clean_name(name)?,
        ods_code: ods_code.map(clean_ods_code).transpose()?,
    };
    match store.create_organisation(org.clone()).await {
        Err(StoreError::Duplicate) => return Err(AdminError::OrganisationExists(org.name)),
        r => r?,
    }
    audit(store, by, &org.id, "organisation_add").await?;
    Ok(org)
}

/// Every organisation, with its teams' names.
pub async fn organisations(
    store: &dyn Store,
) -> Result<Vec<(Organisation, Vec<String>)>, AdminError> {
    let teams = store.teams().await?;
    Ok(store
        .organisations()
        .await?
        .into_iter()
        .map(|o| {
            let names = teams
                .iter()
                .filter(|t| t.organisation == o.name)
                .map(|t| t.name.clone())
                .collect();
            (o, names)
        })
        .collect())
}

/// Adds a team to the organisation named in any case, adding the
/// organisation first when there is none (the command line has always
/// named organisations this way).
pub async fn team_add(
    store: &dyn Store,
    by: &By,
    name: &str,
    organisation: &str,
    accepts_referrals: bool,
    max_file_bytes: Option<u64>,
) -> Result<Team, AdminError> {
    let name = clean_name(name)?;
    let organisation = clean_name(organisation)?;
    if store.team_by_name(&name).await?.is_some() {
        return Err(AdminError::TeamExists(name));
    }
    let org = match store.organisation_by_name(&organisation).await? {
        Some(o) => o,
        None => match organisation_add(store, by, &organisation, None).await {
            // Added meanwhile by someone else.
            Err(AdminError::OrganisationExists(_)) => store
                .organisation_by_name(&organisation)
                .await?
                .ok_or_else(|| AdminError::Store("organisation vanished".into()))?,
            r => r?,
        },
    };
    let team = Team {
        id: new_id().map_err(|e| AdminError::Store(e.to_string()))?,
        name,
        organisation: org.name,
        accepts_referrals,
        max_file_bytes: max_file_bytes.and_then(|b| i64::try_from(b).ok()),
    };
    match store.create_team(team.clone()).await {
        Err(StoreError::Duplicate) => return Err(AdminError::TeamExists(team.name)),
        r => r?,
    }
    audit(store, by, &team.id, "team_add").await?;
    Ok(team)
}

/// Adds a user to `team`; an administrator may have no team (and then
/// sends and receives no referrals).
pub async fn user_add(
    store: &dyn Store,
    by: &By,
    name: &str,
    team: Option<&str>,
    password: &str,
    role: Role,
) -> Result<User, AdminError> {
    if password.chars().count() < 12 {
        return Err(AdminError::PasswordWeak);
    }
    let team_ids = match team {
        Some(team) => vec![
            store
                .team_by_name(team.trim())
                .await?
                .ok_or_else(|| AdminError::NoSuchTeam(team.trim().to_owned()))?
                .id,
        ],
        None if role == Role::Administrator => Vec::new(),
        None => return Err(AdminError::TeamRequired),
    };
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || crate::session::hash_password(&password))
        .await
        .map_err(|e| AdminError::Store(e.to_string()))?
        .map_err(|e| AdminError::Store(e.to_string()))?;
    let user = User {
        id: new_id().map_err(|e| AdminError::Store(e.to_string()))?,
        name: clean_name(name)?,
        password_hash: hash,
        disabled: false,
        role,
        team_ids,
    };
    match store.create_user(user.clone()).await {
        Err(StoreError::Duplicate) => return Err(AdminError::UserExists(user.name)),
        r => r?,
    }
    audit(store, by, &user.id, "user_add").await?;
    Ok(user)
}

pub async fn user_set_disabled(
    store: &dyn Store,
    by: &By,
    name: &str,
    disabled: bool,
) -> Result<(), AdminError> {
    match store.set_user_disabled(name.trim(), disabled).await {
        Err(StoreError::NotFound) => return Err(AdminError::NoSuchUser(name.trim().to_owned())),
        r => r?,
    }
    audit(
        store,
        by,
        "-",
        if disabled {
            "user_disable"
        } else {
            "user_enable"
        },
    )
    .await
}

/// Stop (or resume) a team taking referrals: the signed directory no
/// longer offers it, laptops block what is queued for it, and intake
/// refuses new referrals to it.
pub async fn team_set_accepts_referrals(
    store: &dyn Store,
    by: &By,
    name: &str,
    accepts: bool,
) -> Result<(), AdminError> {
    match store.set_team_accepts_referrals(name.trim(), accepts).await {
        Err(StoreError::NotFound) => return Err(AdminError::NoSuchTeam(name.trim().to_owned())),
        r => r?,
    }
    audit(
        store,
        by,
        "-",
        if accepts {
            "team_enable"
        } else {
            "team_disable"
        },
    )
    .await
}

/// `30m`, `1h`, `2d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<i64, AdminError> {
    let s = s.trim();
    let bad = || AdminError::BadDuration(s.to_owned());
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(mult).ok_or_else(bad)?;
    if secs <= 0 || secs > 30 * 86400 {
        return Err(bad());
    }
    Ok(secs)
}

/// Deletes what abandoned uploads left in the blob store (see
/// [`crate::blobs::BlobStore::sweep`]); audited with the counts.
pub async fn uploads_sweep(
    store: &dyn Store,
    blobs: &crate::blobs::BlobStore,
    by: &By,
    older_than_secs: i64,
) -> Result<crate::blobs::Swept, AdminError> {
    let age = std::time::Duration::from_secs(u64::try_from(older_than_secs).unwrap_or(0));
    let swept = blobs
        .sweep(age)
        .await
        .map_err(|e| AdminError::Store(format!("blob store: {e}")))?;
    audit(
        store,
        by,
        &format!(
            "{} chunks, {} staging files",
            swept.chunks, swept.staging_files
        ),
        "uploads_sweep",
    )
    .await?;
    Ok(swept)
}

/// A new one-time code; only its hash is kept.
pub async fn enrol_code(
    store: &dyn Store,
    by: &By,
    expires_in_secs: i64,
) -> Result<(String, i64), AdminError> {
    let code = crate::enrolment::generate_code().map_err(|e| AdminError::Store(e.to_string()))?;
    let expires_at = crate::clock::now() + expires_in_secs;
    store
        .add_enrol_code(
            &secret_hash(&crate::enrolment::normalise_code(&code)),
            expires_at,
        )
        .await?;
    audit(store, by, "-", "enrol_code").await?;
    Ok((code, expires_at))
}

pub async fn device_list(store: &dyn Store) -> Result<Vec<DeviceInfo>, AdminError> {
    Ok(store
        .devices()
        .await?
        .into_iter()
        .map(|d| DeviceInfo {
            device_id: d.id,
            name: d.name,
            enrolled_at: crate::clock::rfc3339(d.enrolled_at),
            revoked_at: d.revoked_at.map(crate::clock::rfc3339),
        })
        .collect())
}

pub async fn device_revoke(store: &dyn Store, by: &By, id: &str) -> Result<(), AdminError> {
    match store.revoke_device(id.trim(), crate::clock::now()).await {
        Err(StoreError::NotFound) => return Err(AdminError::NoSuchDevice(id.trim().to_owned())),
        r => r?,
    }
    audit(store, by, id.trim(), "device_revoke").await
}

/// One PACS job as the administrator sees it (ids and codes only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PacsJobView {
    pub referral_id: String,
    pub target: String,
    pub kind: &'static str,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

pub async fn pacs_status(store: &dyn Store) -> Result<Vec<PacsJobView>, AdminError> {
    Ok(store
        .pacs_jobs()
        .await?
        .into_iter()
        .map(|j| PacsJobView {
            next_attempt_at: (j.state == "queued")
                .then(|| crate::clock::rfc3339(j.next_attempt_at)),
            referral_id: j.referral_id,
            target: j.target,
            kind: j.kind.code(),
            state: j.state,
            attempts: j.attempts,
            last_error: j.last_error,
            created_at: crate::clock::rfc3339(j.created_at),
            finished_at: j.finished_at.map(crate::clock::rfc3339),
        })
        .collect())
}
