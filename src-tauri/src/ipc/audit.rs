//! The audit trail screen and settings.

use clinshare_core::audit::{self, AuditEntry, VerifyReport};
use clinshare_core::settings::{self, Settings};
use clinshare_core::IpcError;
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use super::ipc;
use crate::AppState;

#[derive(Debug, Deserialize, TS)]
pub struct AuditRequest {
    /// How many of the newest entries.
    pub limit: u32,
}

/// The newest audit entries, newest first.
#[tauri::command]
pub fn audit_recent(
    state: State<'_, AppState>,
    request: AuditRequest,
) -> Result<Vec<AuditEntry>, IpcError> {
    state.as_clinician(|store, _| audit::recent(store, request.limit.min(1000)).map_err(ipc))
}

/// Check the whole hash chain, as `clinshare audit verify` does.
#[tauri::command]
pub fn audit_verify(state: State<'_, AppState>) -> Result<VerifyReport, IpcError> {
    state.as_clinician(|store, _| audit::verify(store).map_err(ipc))
}

#[derive(Debug, Deserialize, TS)]
pub struct IdleLockRequest {
    pub minutes: u32,
}

/// The store's settings.
#[tauri::command]
pub fn settings_get(state: State<'_, AppState>) -> Result<Settings, IpcError> {
    state.as_clinician(|store, _| settings::get(store).map_err(ipc))
}

/// Change the idle lock (audited); applies at once.
#[tauri::command]
pub fn settings_set_idle_lock(
    state: State<'_, AppState>,
    request: IdleLockRequest,
) -> Result<Settings, IpcError> {
    let settings = state.as_clinician(|store, actor| {
        settings::set_idle_lock_minutes(store, actor, request.minutes).map_err(ipc)?;
        settings::get(store).map_err(ipc)
    })?;
    let mut session = state.session();
    if let Some(store) = state.store().as_ref() {
        session.refresh_idle(store);
    }
    Ok(settings)
}

#[derive(Debug, Deserialize, TS)]
pub struct RetentionRequest {
    pub days: u32,
}

/// Change how long sent photos stay on the laptop (audited).
#[tauri::command]
pub fn settings_set_retention(
    state: State<'_, AppState>,
    request: RetentionRequest,
) -> Result<Settings, IpcError> {
    state.as_clinician(|store, actor| {
        settings::set_retention_days(store, actor, request.days).map_err(ipc)?;
        settings::get(store).map_err(ipc)
    })
}
