//! The desktop shell: window, state and thin commands over `clinshare-core`.
//! No business rules live here; each command forwards to core and maps its
//! error to the `IpcError` shape the UI matches on.
#![forbid(unsafe_code)]

pub mod ipc;
mod media_protocol;
mod online;
mod session;
mod state;
mod sync_worker;

use std::time::Instant;

use tauri::Manager;

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
        // Used from Rust only (the `pick_files` command): the window is
        // granted no dialog permission.
        .plugin(tauri_plugin_dialog::init())
        .manage(state)
        .setup(|app| {
            app.state::<AppState>().sync.start(app.handle().clone());
            Ok(())
        })
        .register_asynchronous_uri_scheme_protocol(
            media_protocol::SCHEME,
            |ctx, request, responder| {
                let app = ctx.app_handle().clone();
                // Reading and decrypting must not block the webview's thread.
                std::thread::spawn(move || {
                    responder.respond(media_protocol::respond(&app, &request))
                });
            },
        )
        .invoke_handler(tauri::generate_handler![
            ipc::store_status,
            ipc::create_store,
            ipc::report_first_paint,
            ipc::session::session_state,
            ipc::session::sign_in,
            ipc::session::sign_out,
            ipc::session::lock_session,
            ipc::session::unlock_session,
            ipc::session::session_activity,
            ipc::patients::patient_search,
            ipc::patients::patient_create,
            ipc::patients::patient_get,
            ipc::patients::patient_edit,
            ipc::media::media_list,
            ipc::media::media_assign,
            ipc::media::media_annotate,
            ipc::media::import_files,
            ipc::media::import_cancel,
            ipc::media::pick_files,
            ipc::media::media_smaller_copy,
            ipc::consent::consent_record,
            ipc::consent::consent_withdraw,
            ipc::audit::audit_recent,
            ipc::audit::audit_verify,
            ipc::audit::settings_get,
            ipc::audit::settings_set_idle_lock,
            ipc::audit::settings_set_retention,
            ipc::referrals::server_get,
            ipc::referrals::server_enrol,
            ipc::referrals::directory_get,
            ipc::referrals::referral_save_draft,
            ipc::referrals::referral_discard,
            ipc::referrals::referral_list,
            ipc::referrals::referral_confirmation,
            ipc::referrals::referral_queue,
            ipc::referrals::sync_now,
            ipc::inbox::inbox_list,
            ipc::inbox::inbox_open,
            ipc::inbox::inbox_ack,
        ])
        .run(tauri::generate_context!())
        .expect("the ClinShare window could not be started");
}
