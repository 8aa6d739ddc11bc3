//! `GET /v1/directory`: the teams accepting referrals and their clinicians,
//! with a version, signed by the server key over its canonical JSON.

use axum::extract::State;
use axum::{Extension, Json};
use clinshare_protocol::directory::{
    Directory, DirectoryClinician, DirectoryTeam, SignedDirectory,
};
use clinshare_protocol::PROTOCOL_VERSION;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn get_directory(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SignedDirectory>, ApiError> {
    caller.user()?;
    let snapshot = state.store.directory().await?;
    let directory = Directory {
        protocol_version: PROTOCOL_VERSION,
        version: snapshot.version,
        issued_at: crate::clock::rfc3339(crate::clock::now()),
        teams: snapshot
            .teams
            .into_iter()
            .filter(|(team, _)| team.accepts_referrals)
            .map(|(team, members)| DirectoryTeam {
                team_id: team.id,
                name: team.name,
                organisation: team.organisation,
                accepts_referrals: team.accepts_referrals,
                max_file_bytes: team.max_file_bytes.and_then(|b| u64::try_from(b).ok()),
                clinicians: members
                    .into_iter()
                    .map(|(user_id, name)| DirectoryClinician { user_id, name })
                    .collect(),
            })
            .collect(),
    };
    Ok(Json(
        state.keys.sign(directory).map_err(ApiError::internal)?,
    ))
}
