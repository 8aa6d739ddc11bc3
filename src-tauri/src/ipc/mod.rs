//! Tauri commands (thin: each forwards to core) and the table that generates
//! their TypeScript bindings in `ui/src/lib/bindings/`.

pub mod audit;
mod bindings;
pub mod consent;
pub mod inbox;
pub mod media;
pub mod patients;
pub mod referrals;
pub mod session;

use clinshare_core::{setup, IpcError, Store, StoreStatus};
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use crate::AppState;

include!("names.rs");

pub use bindings::{command_names, export as export_bindings};

/// A core error as the UI sees it: its stable code and its message.
pub(crate) fn ipc<E: clinshare_core::ErrorCode>(e: E) -> IpcError {
    IpcError::from(&e)
}

/// What the first-run form sends.
#[derive(Debug, Deserialize, TS)]
pub struct SetupRequest {
    pub user: String,
    pub passphrase: String,
}

/// Where the encrypted store is and whether it is open.
#[tauri::command]
pub fn store_status(state: State<'_, AppState>) -> StoreStatus {
    let mut guard = state.store();
    if let Some(store) = guard.as_ref() {
        if let Ok(status) = store.status() {
            return status;
        }
    }
    match Store::open(&state.data_dir, &state.vault) {
        Ok(store) => {
            let status = store
                .status()
                .unwrap_or_else(|_| Store::probe(&state.data_dir, &state.vault));
            *guard = Some(store);
            status
        }
        Err(_) => Store::probe(&state.data_dir, &state.vault),
    }
}

/// Create the encrypted store and its first clinician account, and sign
/// that clinician in.
#[tauri::command]
pub fn create_store(
    state: State<'_, AppState>,
    request: SetupRequest,
) -> Result<StoreStatus, IpcError> {
    let store = setup::initialise(
        &state.data_dir,
        &state.vault,
        &request.user,
        &request.passphrase,
    )
    .map_err(|e| IpcError::from(&e))?;
    let mut store = store;
    let status = store.status().map_err(|e| IpcError::from(&e))?;
    // The person who set the laptop up carries on as its first clinician.
    let actor =
        clinshare_core::session::sign_in(&mut store, request.user.trim(), &request.passphrase)
            .map_err(|e| IpcError::from(&e))?;
    let mut session = state.session();
    session.signed_in(&store, actor, &request.passphrase);
    *state.store() = Some(store);
    Ok(status)
}

/// Tell the shell the first screen has been painted (start-up timing).
#[tauri::command]
pub fn report_first_paint(app: tauri::AppHandle, state: State<'_, AppState>) {
    let elapsed = state.started.elapsed();
    if std::env::var_os(crate::STARTUP_PROBE_ENV).is_some() {
        println!("clinshare-first-paint-ms {}", elapsed.as_millis());
        app.exit(0);
    }
}
