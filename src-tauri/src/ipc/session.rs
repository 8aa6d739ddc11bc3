//! Signing in and out, locking and unlocking.

use clinshare_core::{session, IpcError};
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use crate::session::{signed_out, SessionState};
use crate::AppState;

#[derive(Debug, Deserialize, TS)]
pub struct SignInRequest {
    pub user: String,
    pub passphrase: String,
}

#[derive(Debug, Deserialize, TS)]
pub struct UnlockRequest {
    pub passphrase: String,
}

/// Who is signed in, and whether the app is locked.
#[tauri::command]
pub fn session_state(state: State<'_, AppState>) -> SessionState {
    let session = state.session();
    let guard = state.store();
    session.state(guard.as_ref())
}

/// Sign in with a name and passphrase (attempts are audited and throttled).
#[tauri::command]
pub fn sign_in(
    state: State<'_, AppState>,
    request: SignInRequest,
) -> Result<SessionState, IpcError> {
    let mut session = state.session();
    let mut guard = state.store();
    let store = guard.as_mut().ok_or_else(signed_out)?;
    let actor = session::sign_in(store, request.user.trim(), &request.passphrase)
        .map_err(|e| IpcError::from(&e))?;
    session.signed_in(store, actor, &request.passphrase);
    // Whatever waited in the outbox while nobody was signed in goes now.
    state.sync.wake();
    Ok(session.state(Some(store)))
}

/// End the session (audited).
#[tauri::command]
pub fn sign_out(state: State<'_, AppState>) -> Result<SessionState, IpcError> {
    let mut session = state.session();
    let mut guard = state.store();
    if let (Some(store), Some(actor)) = (guard.as_mut(), session.take_actor()) {
        session::sign_out(store, actor).map_err(|e| IpcError::from(&e))?;
    }
    Ok(session.state(guard.as_ref()))
}

/// Lock the app now (audited); the screens show nothing of any patient.
#[tauri::command]
pub fn lock_session(state: State<'_, AppState>) -> Result<SessionState, IpcError> {
    let mut session = state.session();
    let mut guard = state.store();
    if let Some(store) = guard.as_mut() {
        session.lock(store)?;
    }
    Ok(session.state(guard.as_ref()))
}

/// Unlock with the signed-in clinician's passphrase.
#[tauri::command]
pub fn unlock_session(
    state: State<'_, AppState>,
    request: UnlockRequest,
) -> Result<SessionState, IpcError> {
    let mut session = state.session();
    let mut guard = state.store();
    let store = guard.as_mut().ok_or_else(signed_out)?;
    let actor = session.actor().cloned().ok_or_else(signed_out)?;
    if session.is_locked() {
        session::unlock(store, &actor, &request.passphrase).map_err(|e| IpcError::from(&e))?;
        session.unlocked();
    }
    Ok(session.state(Some(store)))
}

/// The screen saw keyboard or pointer input: restart the idle timer.
#[tauri::command]
pub fn session_activity(state: State<'_, AppState>) -> Result<(), IpcError> {
    state.as_clinician(|_, _| Ok(()))
}
