//! Commands that need the approved server now (enrolment, the inbox) run
//! here: on a blocking thread with their own store connection and network
//! runtime, so the window's connection is never held across the network
//! and the screens stay responsive.

use clinshare_core::session::Actor;
use clinshare_core::sync::{self, Client, SyncError};
use clinshare_core::{IpcError, Store};
use tauri::{AppHandle, Manager};
use zeroize::Zeroizing;

use crate::ipc::ipc;
use crate::AppState;

fn runtime_error(e: impl std::fmt::Display) -> IpcError {
    IpcError {
        code: "sync.runtime".into(),
        message: format!("The network could not be used ({e})."),
    }
}

/// Run `job` as the signed-in clinician on a connection of its own.
pub async fn on_own_connection<T: Send + 'static>(
    app: &AppHandle,
    job: impl AsyncFnOnce(&mut Store, &AppState, &Actor) -> Result<T, SyncError> + Send + 'static,
) -> Result<T, IpcError> {
    let actor = app
        .state::<AppState>()
        .as_clinician(|_, actor| Ok(actor.clone()))?;
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        let mut store = Store::open(&state.data_dir, &state.vault).map_err(ipc)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(runtime_error)?;
        runtime
            .block_on(job(&mut store, &state, &actor))
            .map_err(ipc)
    })
    .await
    .map_err(runtime_error)?
}

/// Run `job` with a signed-in connection to the enrolled server.
pub async fn with_server<T: Send + 'static>(
    app: &AppHandle,
    job: impl AsyncFnOnce(&mut Store, &Client, &Actor) -> Result<T, SyncError> + Send + 'static,
) -> Result<T, IpcError> {
    let password: Zeroizing<String> = app
        .state::<AppState>()
        .session()
        .sync_credentials()
        .map(|(_, p)| p)
        .ok_or_else(crate::session::signed_out)?;
    on_own_connection(app, async move |store, state, actor| {
        let client = sync::connect(store, &state.vault, actor.name(), &password).await?;
        job(store, &client, actor).await
    })
    .await
}
