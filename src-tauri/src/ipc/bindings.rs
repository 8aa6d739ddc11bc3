//! TypeScript bindings generated from the Rust types and the command table.
//! `cargo test -p clinshare-app --test bindings` fails when the committed
//! files drift; run it with `UPDATE_BINDINGS=1` to rewrite them.

use std::path::Path;

use clinshare_core::audit::{AuditEntry, VerifyReport};
use clinshare_core::consent::Consent;
use clinshare_core::media::{ImportReport, Progress};
use clinshare_core::patients::Patient;
use clinshare_core::settings::Settings;
use clinshare_core::StoreStatus;
use ts_rs::{Config, TypeVisitor, TS};

use super::audit::{AuditRequest, IdleLockRequest, RetentionRequest};
use super::consent::{ConsentRequest, WithdrawRequest};
use super::inbox::{InboxDetail, InboxEntry, InboxRef};
use super::media::{
    AnnotateRequest, AssignRequest, GalleryItem, GalleryRequest, ImportRequest, PickRequest,
    SmallerCopyRequest,
};
use super::patients::{
    EditPatientRequest, NewPatientRequest, PatientRecord, PatientRef, PatientSearch,
};
use super::referrals::{
    DirectoryView, DraftRequest, EnrolRequest, OutboxRequest, ReferralRef, ServerStatus,
};
use super::session::{SignInRequest, UnlockRequest};
use super::SetupRequest;
use crate::session::SessionState;
use crate::sync_worker::SyncStatus;
use clinshare_core::referrals::{Confirmation, Referral};

struct Arg {
    name: &'static str,
    ts_type: String,
}

/// The exported types `T` names: itself, or what it wraps (`Vec<Patient>`).
fn type_imports<T: TS + 'static>(cfg: &Config) -> Vec<String> {
    struct Exported<'a>(&'a Config, Vec<String>);
    impl TypeVisitor for Exported<'_> {
        fn visit<U: TS + 'static + ?Sized>(&mut self) {
            if U::output_path().is_some() {
                self.1.push(U::name(self.0));
            } else {
                U::visit_generics(self);
            }
        }
    }
    let mut found = Exported(cfg, Vec::new());
    found.visit::<T>();
    found.1
}

struct Command {
    name: &'static str,
    doc: &'static str,
    args: Vec<Arg>,
    returns: String,
    imports: Vec<String>,
    channel: bool,
}

impl Command {
    fn new(name: &'static str, doc: &'static str) -> Self {
        Command {
            name,
            doc,
            args: Vec::new(),
            returns: "void".into(),
            imports: Vec::new(),
            channel: false,
        }
    }

    fn arg<T: TS + 'static>(mut self, name: &'static str, cfg: &Config) -> Self {
        self.imports.extend(type_imports::<T>(cfg));
        self.args.push(Arg {
            name,
            ts_type: T::name(cfg),
        });
        self
    }

    /// A progress channel argument (`tauri::ipc::Channel<T>`).
    fn channel<T: TS + 'static>(mut self, name: &'static str, cfg: &Config) -> Self {
        self.imports.extend(type_imports::<T>(cfg));
        self.channel = true;
        self.args.push(Arg {
            name,
            ts_type: format!("Channel<{}>", T::name(cfg)),
        });
        self
    }

    fn returns<T: TS + 'static>(mut self, cfg: &Config) -> Self {
        self.imports.extend(type_imports::<T>(cfg));
        self.returns = T::name(cfg);
        self
    }
}

fn commands(cfg: &Config) -> Vec<Command> {
    vec![
        Command::new(
            "store_status",
            "Where the encrypted store is and whether it is open.",
        )
        .returns::<StoreStatus>(cfg),
        Command::new(
            "create_store",
            "Create the encrypted store and its first clinician account.",
        )
        .arg::<SetupRequest>("request", cfg)
        .returns::<StoreStatus>(cfg),
        Command::new(
            "report_first_paint",
            "Tell the shell the first screen has been painted (start-up timing).",
        ),
        Command::new(
            "session_state",
            "Who is signed in, and whether the app is locked.",
        )
        .returns::<SessionState>(cfg),
        Command::new(
            "sign_in",
            "Sign in with a name and passphrase (attempts are audited and throttled).",
        )
        .arg::<SignInRequest>("request", cfg)
        .returns::<SessionState>(cfg),
        Command::new("sign_out", "End the session (audited).").returns::<SessionState>(cfg),
        Command::new(
            "lock_session",
            "Lock the app now (audited); the screens show nothing of any patient.",
        )
        .returns::<SessionState>(cfg),
        Command::new(
            "unlock_session",
            "Unlock with the signed-in clinician's passphrase.",
        )
        .arg::<UnlockRequest>("request", cfg)
        .returns::<SessionState>(cfg),
        Command::new(
            "session_activity",
            "The screen saw keyboard or pointer input: restart the idle timer.",
        ),
        Command::new(
            "patient_search",
            "Find patients by name or identifier (audited as a view).",
        )
        .arg::<PatientSearch>("request", cfg)
        .returns::<Vec<Patient>>(cfg),
        Command::new(
            "patient_create",
            "Register a patient; the identifier is checked and must be confirmed.",
        )
        .arg::<NewPatientRequest>("request", cfg)
        .returns::<Patient>(cfg),
        Command::new(
            "patient_get",
            "Open one patient's record: details and consents (audited as a view).",
        )
        .arg::<PatientRef>("request", cfg)
        .returns::<PatientRecord>(cfg),
        Command::new(
            "patient_edit",
            "Change a patient's details (audited); the earlier details are kept.",
        )
        .arg::<EditPatientRequest>("request", cfg)
        .returns::<Patient>(cfg),
        Command::new(
            "media_list",
            "Photos of one patient (or the tray), newest first.",
        )
        .arg::<GalleryRequest>("request", cfg)
        .returns::<Vec<GalleryItem>>(cfg),
        Command::new(
            "media_assign",
            "Tag photos to a patient (all or nothing; audited).",
        )
        .arg::<AssignRequest>("request", cfg),
        Command::new("media_annotate", "Set a photo's body site and notes (audited).")
            .arg::<AnnotateRequest>("request", cfg),
        Command::new(
            "import_files",
            "Import files and folders in the background on every core. Progress arrives on `on_progress`; the report comes back at the end.",
        )
        .arg::<ImportRequest>("request", cfg)
        .channel::<Progress>("on_progress", cfg)
        .returns::<ImportReport>(cfg),
        Command::new(
            "import_cancel",
            "Cancel the running import; photos already stored stay stored.",
        ),
        Command::new(
            "pick_files",
            "Show the system's file chooser; the chosen paths (none if cancelled).",
        )
        .arg::<PickRequest>("request", cfg)
        .returns::<Vec<String>>(cfg),
        Command::new(
            "media_smaller_copy",
            "A copy of a photo no larger than the recipient takes (a new, sanitised JPEG of the same patient; the original stays). Its id.",
        )
        .arg::<SmallerCopyRequest>("request", cfg)
        .returns::<String>(cfg),
        Command::new("consent_record", "Record a consent (audited).")
            .arg::<ConsentRequest>("request", cfg)
            .returns::<Consent>(cfg),
        Command::new(
            "consent_withdraw",
            "Withdraw a consent, with the reason (audited; final).",
        )
        .arg::<WithdrawRequest>("request", cfg)
        .returns::<Consent>(cfg),
        Command::new("audit_recent", "The newest audit entries, newest first.")
            .arg::<AuditRequest>("request", cfg)
            .returns::<Vec<AuditEntry>>(cfg),
        Command::new(
            "audit_verify",
            "Check the whole hash chain, as `clinshare audit verify` does.",
        )
        .returns::<VerifyReport>(cfg),
        Command::new("settings_get", "The store's settings.").returns::<Settings>(cfg),
        Command::new(
            "settings_set_idle_lock",
            "Change the idle lock (audited); applies at once.",
        )
        .arg::<IdleLockRequest>("request", cfg)
        .returns::<Settings>(cfg),
        Command::new(
            "settings_set_retention",
            "Change how long sent photos stay on the laptop (audited).",
        )
        .arg::<RetentionRequest>("request", cfg)
        .returns::<Settings>(cfg),
        Command::new(
            "server_get",
            "The enrolled server, the directory's age and the last sync.",
        )
        .returns::<ServerStatus>(cfg),
        Command::new(
            "server_enrol",
            "Enrol this laptop with the approved server (audited); the device key stays in the OS keyring.",
        )
        .arg::<EnrolRequest>("request", cfg)
        .returns::<ServerStatus>(cfg),
        Command::new(
            "directory_get",
            "The recipients in the cached, signature-checked directory.",
        )
        .returns::<DirectoryView>(cfg),
        Command::new(
            "referral_save_draft",
            "Keep a draft referral (new or changed); nothing is sent.",
        )
        .arg::<DraftRequest>("request", cfg)
        .returns::<Referral>(cfg),
        Command::new("referral_discard", "Throw a draft away.").arg::<ReferralRef>("request", cfg),
        Command::new(
            "referral_list",
            "The outbox: referrals, newest first, with their states and reasons.",
        )
        .arg::<OutboxRequest>("request", cfg)
        .returns::<Vec<Referral>>(cfg),
        Command::new(
            "referral_confirmation",
            "The sentence to confirm before a draft is queued.",
        )
        .arg::<ReferralRef>("request", cfg)
        .returns::<Confirmation>(cfg),
        Command::new(
            "referral_queue",
            "The clinician confirmed: queue the referral (audited) and send soon.",
        )
        .arg::<ReferralRef>("request", cfg)
        .returns::<Referral>(cfg),
        Command::new(
            "sync_now",
            "Try the outbox now rather than at the next minute.",
        )
        .returns::<SyncStatus>(cfg),
        Command::new(
            "inbox_list",
            "Referrals delivered to my teams (fetched from the approved server).",
        )
        .returns::<Vec<InboxEntry>>(cfg),
        Command::new(
            "inbox_open",
            "Open a referral (audited) and bring its photos into the store.",
        )
        .arg::<InboxRef>("request", cfg)
        .returns::<InboxDetail>(cfg),
        Command::new(
            "inbox_ack",
            "Acknowledge a referral for the team (audited here and on the server).",
        )
        .arg::<InboxRef>("request", cfg)
        .returns::<InboxEntry>(cfg),
    ]
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn commands_ts(cmds: &[Command]) -> String {
    let mut imports = std::collections::BTreeSet::new();
    for c in cmds {
        imports.extend(c.imports.iter().cloned());
    }
    let core = if cmds.iter().any(|c| c.channel) {
        "Channel, invoke"
    } else {
        "invoke"
    };
    let mut out = format!(
        "// Generated from the Rust command table (src-tauri/src/ipc); do not edit.\n\
         import {{ {core} }} from \"@tauri-apps/api/core\";\n"
    );
    for name in &imports {
        out.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    for c in cmds {
        let params: Vec<String> = c
            .args
            .iter()
            .map(|a| format!("{}: {}", camel(a.name), a.ts_type))
            .collect();
        let payload = if c.args.is_empty() {
            String::new()
        } else {
            // Tauri maps a command's snake_case arguments to camelCase keys.
            let fields: Vec<String> = c.args.iter().map(|a| camel(a.name)).collect();
            format!(", {{ {} }}", fields.join(", "))
        };
        out.push_str(&format!(
            "\n/** {} */\nexport function {}({}): Promise<{}> {{\n  return invoke(\"{}\"{});\n}}\n",
            c.doc,
            camel(c.name),
            params.join(", "),
            c.returns,
            c.name,
            payload
        ));
    }
    out
}

/// Write every binding file into `dir`: the types, with the types they
/// depend on, and `commands.ts`.
pub fn export(dir: &Path) -> Result<(), String> {
    let cfg = config().with_out_dir(dir);
    let cmds = commands(&cfg);
    macro_rules! export {
        ($($t:ty),* $(,)?) => {
            $(<$t>::export_all(&cfg).map_err(|e| e.to_string())?;)*
        };
    }
    export!(
        StoreStatus,
        SetupRequest,
        SessionState,
        SignInRequest,
        UnlockRequest,
        PatientSearch,
        NewPatientRequest,
        PatientRef,
        PatientRecord,
        EditPatientRequest,
        Patient,
        GalleryRequest,
        GalleryItem,
        AssignRequest,
        AnnotateRequest,
        ImportRequest,
        Progress,
        ImportReport,
        PickRequest,
        SmallerCopyRequest,
        ConsentRequest,
        WithdrawRequest,
        Consent,
        AuditRequest,
        AuditEntry,
        VerifyReport,
        IdleLockRequest,
        RetentionRequest,
        Settings,
        ServerStatus,
        EnrolRequest,
        DirectoryView,
        DraftRequest,
        ReferralRef,
        OutboxRequest,
        Referral,
        Confirmation,
        SyncStatus,
        InboxEntry,
        InboxDetail,
        InboxRef,
    );
    std::fs::write(dir.join("commands.ts"), commands_ts(&cmds)).map_err(|e| e.to_string())
}

/// Ids are SQLite rowids, far below 2^53: plain numbers in TypeScript.
fn config() -> Config {
    Config::new().with_large_int("number")
}

/// Names of the commands in the binding table, in order.
pub fn command_names() -> Vec<&'static str> {
    commands(&config()).iter().map(|c| c.name).collect()
}
