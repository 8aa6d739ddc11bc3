// The app commands the webview may call. Read by build.rs (to declare one
// permission per command) and by the command table in `ipc`: one list, so a
// command cannot exist without its permission or its TypeScript binding.
pub const COMMANDS: &[&str] = &[
    "store_status",
    "create_store",
    "report_first_paint",
    "session_state",
    "sign_in",
    "sign_out",
    "lock_session",
    "unlock_session",
    "session_activity",
    "patient_search",
    "patient_create",
    "patient_get",
    "media_list",
    "media_assign",
    "media_annotate",
    "import_files",
    "import_cancel",
    "pick_files",
    "consent_record",
    "consent_withdraw",
    "audit_recent",
    "audit_verify",
    "settings_get",
    "settings_set_idle_lock",
];
