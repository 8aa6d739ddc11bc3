//! The desktop shell: window, state and thin commands over `clinshare-core`.
//! No business rules live here; each command forwards to core and maps its
//! error to the `IpcError` shape the UI matches on.
#![forbid(unsafe_code)]

pub mod ipc;
mod state;

use std::time::Instant;

pub use state::AppState;

/// Environment variable naming the store's data directory (default: the
/// platform data directory).
pub const DATA_DIR_ENV: &str = "CLINSHARE_DATA_DIR";
/// When set, the app prints its start-up time once the first screen is
/// painted and exits: used by the start-up benchmark.
pub const STARTUP_PROBE_ENV: &str = "CLINSHARE_STARTUP_PROBE";

pub fn run() {
    let started = Instant::now();
    let data_dir = std::env::var_os(DATA_DIR_ENV)
        .map(Into::into)
        .unwrap_or_else(clinshare_core::paths::default_data_dir);
    let state = AppState::new(data_dir, started);
    tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            ipc::store_status,
            ipc::create_store,
            ipc::report_first_paint,
        ])
        .run(tauri::generate_context!())
        .expect("the ClinShare window could not be started");
}
