//! The approved server, the directory, referrals and the outbox.

use clinshare_core::directory::{self, Recipient};
use clinshare_core::enrolment::{self, Enrolment};
use clinshare_core::referrals::{
    self, Confirmation, NewReferral, Referral, ReferralUrgency as Urgency,
};
use clinshare_core::{sync, IpcError, Store};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use ts_rs::TS;

use super::ipc;
use crate::sync_worker::SyncStatus;
use crate::AppState;

/// The approved server this laptop is enrolled with, and its directory.
#[derive(Debug, Serialize, TS)]
pub struct ServerStatus {
    pub enrolment: Option<Enrolment>,
    /// The cached directory's version and when it was fetched.
    #[ts(type = "number | null")]
    pub directory_version: Option<i64>,
    pub directory_fetched_at: Option<String>,
    pub sync: SyncStatus,
}

#[derive(Debug, Deserialize, TS)]
pub struct EnrolRequest {
    /// https://HOST:PORT, from the administrator.
    pub server_url: String,
    /// The one-time enrolment code.
    pub code: String,
    /// The server's key pin (SHA-256 of its public key, hex), from the
    /// administrator: the connection is refused unless the server shows it.
    pub pin: String,
    /// A name for this laptop in the administrator's device list.
    pub device_name: String,
}

/// The directory as the composer offers it.
#[derive(Debug, Serialize, TS)]
pub struct DirectoryView {
    #[ts(type = "number")]
    pub version: i64,
    pub fetched_at: String,
    pub recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize, TS)]
pub struct DraftRequest {
    /// A kept draft being changed; `null` for a new one.
    pub id: Option<String>,
    #[ts(type = "number")]
    pub patient_id: i64,
    pub team_id: String,
    pub clinical_question: String,
    /// `routine` or `urgent`.
    pub urgency: String,
    pub media_ids: Vec<String>,
}

#[derive(Debug, Deserialize, TS)]
pub struct ReferralRef {
    pub id: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct OutboxRequest {
    /// One patient's referrals; `null` for all.
    #[ts(type = "number | null")]
    pub patient_id: Option<i64>,
}

fn server_status(store: &Store, sync: SyncStatus) -> Result<ServerStatus, IpcError> {
    let enrolment = enrolment::get(store).map_err(ipc)?;
    let cached = directory::current(store).ok();
    Ok(ServerStatus {
        enrolment,
        directory_version: cached.as_ref().map(|c| c.directory.version),
        directory_fetched_at: cached.map(|c| c.fetched_at),
        sync,
    })
}

/// The enrolled server, the directory's age and the last sync.
#[tauri::command]
pub fn server_get(state: State<'_, AppState>) -> Result<ServerStatus, IpcError> {
    let sync = state.sync.status();
    state.as_clinician(|store, _| server_status(store, sync))
}

/// Enrol this laptop with the approved server (audited); the device key
/// is made and kept in the OS keyring. The directory follows at once.
#[tauri::command]
pub async fn server_enrol(app: AppHandle, request: EnrolRequest) -> Result<ServerStatus, IpcError> {
    crate::online::on_own_connection(&app, async move |store, state, actor| {
        sync::enrol(
            store,
            &state.vault,
            actor,
            &request.server_url,
            &request.code,
            &request.pin,
            &request.device_name,
        )
        .await
    })
    .await?;
    let state = app.state::<AppState>();
    state.sync.wake();
    let sync = state.sync.status();
    state.as_clinician(|store, _| server_status(store, sync))
}

/// The recipients in the cached, signature-checked directory.
#[tauri::command]
pub fn directory_get(state: State<'_, AppState>) -> Result<DirectoryView, IpcError> {
    state.as_clinician(|store, _| {
        let cached = directory::current(store).map_err(ipc)?;
        Ok(DirectoryView {
            version: cached.directory.version,
            recipients: cached.recipients(),
            fetched_at: cached.fetched_at,
        })
    })
}

/// Keep a draft referral (new or changed); nothing is sent.
#[tauri::command]
pub fn referral_save_draft(
    state: State<'_, AppState>,
    request: DraftRequest,
) -> Result<Referral, IpcError> {
    state.as_clinician(|store, actor| {
        let urgency = match request.urgency.as_str() {
            "routine" => Urgency::Routine,
            "urgent" => Urgency::Urgent,
            _ => {
                return Err(IpcError {
                    code: "referral.urgency".into(),
                    message: "Choose how urgent the referral is.".into(),
                })
            }
        };
        let new = NewReferral {
            patient_id: request.patient_id,
            team_id: request.team_id,
            clinical_question: request.clinical_question,
            urgency,
            media_ids: request.media_ids,
        };
        match request.id {
            Some(id) => referrals::update_draft(store, actor, &id, new),
            None => referrals::create_draft(store, actor, new),
        }
        .map_err(ipc)
    })
}

/// Throw a draft away.
#[tauri::command]
pub fn referral_discard(state: State<'_, AppState>, request: ReferralRef) -> Result<(), IpcError> {
    state.as_clinician(|store, _| referrals::discard_draft(store, &request.id).map_err(ipc))
}

/// The outbox: referrals, newest first, with their states and reasons.
#[tauri::command]
pub fn referral_list(
    state: State<'_, AppState>,
    request: OutboxRequest,
) -> Result<Vec<Referral>, IpcError> {
    state.as_clinician(|store, _| referrals::list(store, request.patient_id).map_err(ipc))
}

/// The sentence to confirm before a draft is queued.
#[tauri::command]
pub fn referral_confirmation(
    state: State<'_, AppState>,
    request: ReferralRef,
) -> Result<Confirmation, IpcError> {
    state.as_clinician(|store, _| referrals::confirmation(store, &request.id).map_err(ipc))
}

/// The clinician confirmed: queue the referral (audited) and send soon.
#[tauri::command]
pub fn referral_queue(
    state: State<'_, AppState>,
    request: ReferralRef,
) -> Result<Referral, IpcError> {
    let queued = state
        .as_clinician(|store, actor| referrals::queue(store, actor, &request.id).map_err(ipc))?;
    state.sync.wake();
    Ok(queued)
}

/// Try the outbox now rather than at the next minute.
#[tauri::command]
pub fn sync_now(state: State<'_, AppState>) -> Result<SyncStatus, IpcError> {
    state.as_clinician(|_, _| Ok(()))?;
    state.sync.wake();
    Ok(state.sync.status())
}
