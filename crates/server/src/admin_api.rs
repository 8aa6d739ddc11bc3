//! The admin API, `/v1/admin/...`: the `clinshare-server admin` actions
//! for an administrator's enrolled, signed-in device (signed requests, a
//! user whose role is administrator). Every action is audited with who
//! did it and from which device; refusals have stable codes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use clinshare_protocol::admin::{
    EnrolmentCode, NewEnrolmentCode, NewOrganisation, NewTeam, NewUser, OrganisationInfo, Role,
    TeamAccepting, TeamInfo, UserDisabled, UserInfo,
};
use clinshare_protocol::enrolment::DeviceInfo;
use clinshare_protocol::ErrorCode;

use crate::admin::{self, AdminError, By};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::store::{Organisation, Team};

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match &e {
            AdminError::Store(cause) | AdminError::DataDir(cause) => {
                return ApiError::Internal(cause.clone())
            }
            AdminError::OrganisationExists(_)
            | AdminError::TeamExists(_)
            | AdminError::UserExists(_) => StatusCode::CONFLICT,
            AdminError::NoSuchTeam(_) | AdminError::NoSuchUser(_) | AdminError::NoSuchDevice(_) => {
                StatusCode::NOT_FOUND
            }
            AdminError::PasswordMissing(_)
            | AdminError::PasswordWeak
            | AdminError::BadName
            | AdminError::TeamRequired
            | AdminError::BadOdsCode(_)
            | AdminError::BadDuration(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::Admin {
            code: e.code(),
            message: e.to_string(),
            status,
        }
    }
}

/// The caller, if an administrator; the refusal otherwise.
fn administrator(caller: &Caller) -> Result<By, ApiError> {
    let user = caller.user()?;
    if user.role != Role::Administrator {
        return Err(ApiError::NotAdministrator);
    }
    Ok(By::user(&user.id, &caller.device_id))
}

fn organisation_info(o: Organisation, teams: Vec<String>) -> OrganisationInfo {
    OrganisationInfo {
        organisation_id: o.id,
        name: o.name,
        ods_code: o.ods_code,
        teams,
    }
}

pub async fn list_organisations(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<OrganisationInfo>>, ApiError> {
    administrator(&caller)?;
    let orgs = admin::organisations(state.store.as_ref()).await?;
    Ok(Json(
        orgs.into_iter()
            .map(|(o, teams)| organisation_info(o, teams))
            .collect(),
    ))
}

pub async fn add_organisation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<NewOrganisation>,
) -> Result<(StatusCode, Json<OrganisationInfo>), ApiError> {
    let by = administrator(&caller)?;
    let org = admin::organisation_add(
        state.store.as_ref(),
        &by,
        &req.name,
        req.ods_code.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(organisation_info(org, Vec::new())),
    ))
}

fn team_info(t: Team) -> TeamInfo {
    TeamInfo {
        team_id: t.id,
        name: t.name,
        organisation: t.organisation,
        accepts_referrals: t.accepts_referrals,
        max_file_bytes: t.max_file_bytes.and_then(|b| u64::try_from(b).ok()),
    }
}

pub async fn list_teams(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TeamInfo>>, ApiError> {
    administrator(&caller)?;
    let teams = state.store.teams().await?;
    Ok(Json(teams.into_iter().map(team_info).collect()))
}

pub async fn add_team(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<TeamInfo>), ApiError> {
    let by = administrator(&caller)?;
    let team = admin::team_add(
        state.store.as_ref(),
        &by,
        &req.name,
        &req.organisation,
        req.accepts_referrals,
        req.max_file_bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(team_info(team))))
}

pub async fn set_team_accepting(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<TeamAccepting>,
) -> Result<Json<TeamAccepting>, ApiError> {
    let by = administrator(&caller)?;
    admin::team_set_accepts_referrals(state.store.as_ref(), &by, &req.team, req.accepts_referrals)
        .await?;
    Ok(Json(req))
}

pub async fn add_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    let by = administrator(&caller)?;
    let user = admin::user_add(
        state.store.as_ref(),
        &by,
        &req.name,
        req.team.as_deref(),
        &req.password,
        req.role,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            user_id: user.id,
            name: user.name,
            role: user.role,
            team_ids: user.team_ids,
        }),
    ))
}

pub async fn set_user_disabled(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<UserDisabled>,
) -> Result<Json<UserDisabled>, ApiError> {
    let by = administrator(&caller)?;
    admin::user_set_disabled(state.store.as_ref(), &by, &req.name, req.disabled).await?;
    Ok(Json(req))
}

pub async fn new_enrolment_code(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<NewEnrolmentCode>,
) -> Result<(StatusCode, Json<EnrolmentCode>), ApiError> {
    let by = administrator(&caller)?;
    let secs = admin::parse_duration(&req.expires_in)?;
    let (code, expires_at) = admin::enrol_code(state.store.as_ref(), &by, secs).await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolmentCode {
            code,
            expires_at: crate::clock::rfc3339(expires_at),
        }),
    ))
}

pub async fn list_devices(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    administrator(&caller)?;
    Ok(Json(admin::device_list(state.store.as_ref()).await?))
}

pub async fn revoke_device(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    let by = administrator(&caller)?;
    admin::device_revoke(state.store.as_ref(), &by, &id).await?;
    Ok(Json(admin::device_list(state.store.as_ref()).await?))
}
