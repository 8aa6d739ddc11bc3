// The app commands the webview may call. Read by build.rs (to declare one
// permission per command) and by the command table in `ipc`: one list, so a
// command cannot exist without its permission or its TypeScript binding.
pub const COMMANDS: &[&str] = &["store_status", "create_store", "report_first_paint"];
