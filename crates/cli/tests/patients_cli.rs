//! `clinshare patient`, `consent` and `audit verify` through the real binary.
//!
//! Tests marked `ignore` need a Secret Service session (`scripts/test.sh`
//! runs them inside gnome-keyring); each uses its own data directory and so
//! its own keyring entry. The others fail before any store is opened.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use clinshare_core::{OsKeyring, Store};

const PASS: &str = "correct horse battery staple";
const USER: &str = "Nurse Jackie";

fn clinshare_as(data_dir: &Path, pass: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--user", USER])
        .args(args)
        .env("CLINSHARE_PASSPHRASE", pass)
        .stdin(Stdio::null())
        .output()
        .expect("run clinshare")
}

fn clinshare(data_dir: &Path, args: &[&str]) -> Output {
    clinshare_as(data_dir, PASS, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// A refusal: exit 1, the code in JSON and the message on stderr.
fn refused(out: &Output, code: &str, words: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(words), "expected {words:?} in {err}");
    assert!(
        err.contains(&format!("[{code}]")),
        "expected {code} in {err}"
    );
}

fn init(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--user", USER, "init"])
        .env("CLINSHARE_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "init: {}", text(&out.stderr));
}

fn add_jane(dir: &Path) -> i64 {
    let doc = ok(&clinshare(
        dir,
        &[
            "--json",
            "patient",
            "add",
            "--nhs",
            "943 476 5919",
            "--family",
            "Doe",
            "--given",
            "Jane",
            "--dob",
            "1972-04-15",
        ],
    ));
    doc["patient"]["id"].as_i64().expect("id")
}

fn patient_count(dir: &Path) -> usize {
    let doc = ok(&clinshare(dir, &["--json", "patient", "list"]));
    doc["patients"].as_array().expect("list").len()
}

fn store(dir: &Path) -> Store {
    Store::open(dir, &OsKeyring::new()).expect("open the store as the app would")
}

// --- Refusals that need no store -------------------------------------------------

#[test]
fn a_bad_check_digit_is_refused_before_anything_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--json",
            "--user",
            USER,
            "patient",
            "add",
            "--nhs",
            "943 476 5910",
            "--family",
            "Doe",
            "--given",
            "Jane",
            "--dob",
            "1972-04-15",
        ])
        .env_remove("CLINSHARE_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    refused(
        &out,
        "identifier.check_digit",
        "check digit does not match — please re-read the number",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["error"]["code"], "identifier.check_digit");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn bad_dates_choices_and_lengths_are_refused_with_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--nhs",
                "943 476 591",
                "--family",
                "D",
                "--given",
                "J",
                "--dob",
                "1972-04-15",
            ],
        ),
        "identifier.length",
        "has 9",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--hc",
                "943 476 5919",
                "--family",
                "D",
                "--given",
                "J",
                "--dob",
                "1972-04-15",
            ],
        ),
        "identifier.hc_range",
        "320 000 0000",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--chi",
                "310 290 1239",
                "--family",
                "D",
                "--given",
                "J",
                "--dob",
                "1990-02-28",
            ],
        ),
        "identifier.chi_date",
        "real date of birth",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--nhs",
                "943 476 5919",
                "--family",
                "D",
                "--given",
                "J",
                "--dob",
                "15/04/1972",
            ],
        ),
        "patient.invalid_date",
        "YYYY-MM-DD",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "943 476 5919",
                "--level",
                "everything",
                "--given-by",
                "patient",
                "--method",
                "verbal",
            ],
        ),
        "cli.invalid_choice",
        "record, care, teaching, publication",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "943 476 5919",
                "--level",
                "care",
                "--given-by",
                "patient",
                "--method",
                "verbal",
                "--expires",
                "soon",
            ],
        ),
        "patient.invalid_date",
        "\"soon\" is not a date",
    );
    assert_eq!(std::fs::read_dir(d).expect("list").count(), 0);
}

#[test]
fn acting_needs_a_user_and_a_passphrase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["patient", "list"])
        .env("CLINSHARE_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    refused(&out, "cli.user_required", "--user NAME");
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--user", USER, "audit", "verify"])
        .env_remove("CLINSHARE_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    refused(&out, "cli.passphrase_required", "CLINSHARE_PASSPHRASE");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn help_lists_the_contracted_subcommands() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success());
        text(&out.stdout)
    };
    let top = help(&["--help"]);
    for word in ["patient", "consent", "audit"] {
        assert!(top.contains(word), "--help lacks {word}");
    }
    let add = help(&["patient", "add", "--help"]);
    for word in [
        "--nhs", "--chi", "--hc", "--local", "--family", "--given", "--dob",
    ] {
        assert!(add.contains(word), "patient add --help lacks {word}");
    }
    let record = help(&["consent", "record", "--help"]);
    for word in [
        "--patient",
        "--level",
        "--given-by",
        "--method",
        "--recipient",
        "--media",
        "--expires",
        "--reason",
    ] {
        assert!(record.contains(word), "consent record --help lacks {word}");
    }
    assert!(help(&["consent", "withdraw", "--help"]).contains("--consent"));
    assert!(help(&["audit", "--help"]).contains("verify"));
}

// --- Against the real keyring ---------------------------------------------------

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn the_offline_workflow_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    init(d);
    let id = add_jane(d);
    let out = clinshare(d, &["patient", "list", "--search", "9434765919"]);
    assert!(
        text(&out.stdout).contains("DOE, Jane"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("943 476 5919"));
    let doc = ok(&clinshare(
        d,
        &["--json", "patient", "list", "--search", "doe"],
    ));
    assert_eq!(doc["patients"][0]["id"], id);
    assert_eq!(doc["patients"][0]["display_name"], "DOE, Jane");
    let doc = ok(&clinshare(
        d,
        &["--json", "patient", "list", "--search", "smith"],
    ));
    assert_eq!(doc["patients"].as_array().expect("list").len(), 0);

    let doc = ok(&clinshare(
        d,
        &[
            "--json",
            "consent",
            "record",
            "--patient",
            "nhs:943-476-5919",
            "--level",
            "care",
            "--given-by",
            "patient",
            "--method",
            "written",
            "--recipient",
            "Tissue Viability",
            "--media",
            "m-1",
            "m-2",
            "--expires",
            "2099-12-31",
        ],
    ));
    let consent = doc["consent"]["id"].as_i64().expect("consent id");
    assert_eq!(
        doc["consent"]["media_ids"],
        serde_json::json!(["m-1", "m-2"])
    );
    assert_eq!(doc["consent"]["patient_id"], id);

    let out = clinshare(
        d,
        &[
            "consent",
            "withdraw",
            "--consent",
            &consent.to_string(),
            "--reason",
            "Changed mind",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "withdraw",
                "--consent",
                &consent.to_string(),
                "--reason",
                "again",
            ],
        ),
        "consent.withdrawn",
        "record a new consent",
    );

    let out = clinshare(d, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Audit trail intact"));

    // Every action is in the trail, none with the patient's name or number.
    let s = store(d);
    let entries = clinshare_core::audit::recent(&s, 100).expect("entries");
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    for a in [
        "sign_in",
        "patient_create",
        "view",
        "consent_record",
        "consent_withdraw",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    for e in &entries {
        assert!(
            !e.details.contains("Doe") && !e.details.contains("9434765919"),
            "{}",
            e.details
        );
    }
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn refused_patients_and_consents_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    init(d);
    add_jane(d);
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--nhs",
                "9434765919",
                "--family",
                "Roe",
                "--given",
                "R",
                "--dob",
                "1980-01-01",
            ],
        ),
        "patient.duplicate_identifier",
        "already registered",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--chi",
                "150472 0318",
                "--family",
                "Mac",
                "--given",
                "M",
                "--dob",
                "1972-05-14",
            ],
        ),
        "identifier.chi_dob_mismatch",
        "starts with the date 15/04/72, but the date of birth is 14/05/1972",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--nhs",
                "401 023 2137",
                "--family",
                "Roe",
                "--given",
                "R",
                "--dob",
                "2999-01-01",
            ],
        ),
        "patient.future_date_of_birth",
        "in the future",
    );
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--local",
                "RH1234567",
                "--family",
                "Roe",
                "--given",
                "R",
                "--dob",
                "1980-01-01",
            ],
        ),
        "identifier.local_not_configured",
        "not set up",
    );
    refused(
        &clinshare(d, &["patient", "local-pattern", "RH[0-9]+"]),
        "identifier.bad_pattern",
        "A for a letter",
    );
    ok(&clinshare(d, &["patient", "local-pattern", "RH9999999"]));
    refused(
        &clinshare(
            d,
            &[
                "patient",
                "add",
                "--local",
                "RX1234567",
                "--family",
                "Roe",
                "--given",
                "R",
                "--dob",
                "1980-01-01",
            ],
        ),
        "identifier.local_pattern",
        "does not match this hospital's pattern RH9999999",
    );
    assert_eq!(patient_count(d), 1);
    ok(&clinshare(
        d,
        &[
            "patient",
            "add",
            "--local",
            "rh 123 4567",
            "--family",
            "Roe",
            "--given",
            "R",
            "--dob",
            "1980-01-01",
        ],
    ));
    let doc = ok(&clinshare(
        d,
        &["--json", "patient", "list", "--search", "local:RH1234567"],
    ));
    assert_eq!(doc["patients"][0]["identifier_display"], "RH1234567");
    assert_eq!(patient_count(d), 2);
    // The CHI number's own date confirms it.
    ok(&clinshare(
        d,
        &[
            "patient",
            "add",
            "--chi",
            "150472 0318",
            "--family",
            "Mac",
            "--given",
            "M",
            "--dob",
            "1972-04-15",
        ],
    ));
    assert_eq!(patient_count(d), 3);

    let base = [
        "consent",
        "record",
        "--patient",
        "943 476 5919",
        "--given-by",
        "patient",
        "--method",
        "verbal",
    ];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        clinshare(d, &v)
    };
    refused(
        &with(&["--level", "care"]),
        "consent.recipient_required",
        "--recipient TEAM",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "943 476 5919",
                "--level",
                "record",
                "--given-by",
                "best-interests",
                "--method",
                "verbal",
            ],
        ),
        "consent.reason_required",
        "--reason TEXT",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "943 476 5919",
                "--level",
                "record",
                "--given-by",
                "patient",
                "--method",
                "signature",
            ],
        ),
        "consent.signature_required",
        "needs the signature",
    );
    refused(
        &with(&["--level", "record", "--expires", "2001-01-01"]),
        "consent.expiry_in_past",
        "already passed",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "401 023 2137",
                "--level",
                "record",
                "--given-by",
                "patient",
                "--method",
                "verbal",
            ],
        ),
        "patient.not_found",
        "No patient with the identifier \"401 023 2137\"",
    );
    refused(
        &clinshare(
            d,
            &[
                "consent",
                "record",
                "--patient",
                "000 000 0019",
                "--level",
                "record",
                "--given-by",
                "patient",
                "--method",
                "verbal",
            ],
        ),
        "identifier.ambiguous",
        "nhs:",
    );
    refused(
        &clinshare(
            d,
            &["consent", "withdraw", "--consent", "99", "--reason", "x"],
        ),
        "consent.not_found",
        "No consent with id 99",
    );
    let s = store(d);
    let consents: i64 = s
        .conn()
        .query_row("SELECT count(*) FROM consents", [], |r| r.get(0))
        .expect("count");
    assert_eq!(consents, 0);
    // A best-interests decision with its reason is accepted.
    drop(s);
    ok(&clinshare(
        d,
        &[
            "consent",
            "record",
            "--patient",
            "chi:1504720318",
            "--level",
            "record",
            "--given-by",
            "best-interests",
            "--method",
            "verbal",
            "--reason",
            "Lacks capacity today",
        ],
    ));
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn wrong_passphrases_are_audited_and_then_paused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    init(d);
    for _ in 0..5 {
        refused(
            &clinshare_as(d, "not the passphrase", &["patient", "list"]),
            "session.bad_credentials",
            "name or passphrase is not right",
        );
    }
    // Even the right passphrase is refused while cooling off (a new process:
    // the count is kept in the store).
    refused(
        &clinshare(d, &["patient", "list"]),
        "session.cooling_off",
        "Signing in is paused",
    );
    let s = store(d);
    let failed: i64 = s
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'sign_in_failed'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(failed, 6);
}

/// Three tamperings, each on a fresh store with some history made through
/// the CLI; raw SQL after dropping the protective triggers.
fn tampered(sql: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    init(d);
    add_jane(d);
    patient_count(d);
    patient_count(d);
    let out = clinshare(d, &["audit", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    {
        let s = store(d);
        s.conn()
            .execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .expect("drop triggers");
        s.conn().execute_batch(sql).expect(sql);
    }
    let out = clinshare(d, &["--json", "audit", "verify"]);
    (dir, out)
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn audit_verify_names_an_entry_changed_with_raw_sql() {
    let (_dir, out) = tampered("UPDATE audit_log SET actor_name = 'Someone Else' WHERE seq = 3");
    refused(&out, "audit.tampered", "hash mismatch at seq 3");
    assert!(text(&out.stderr).contains("audit_log_no_update has been removed"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["error"]["code"], "audit.tampered");
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn audit_verify_names_a_deleted_entry() {
    let (_dir, out) = tampered("DELETE FROM audit_log WHERE seq = 4");
    refused(
        &out,
        "audit.tampered",
        "gap after seq 3: entry 4 is missing",
    );
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn audit_verify_names_swapped_entries() {
    let (_dir, out) = tampered(
        "UPDATE audit_log SET seq = -1 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    refused(&out, "audit.tampered", "chain break at seq 3");
    assert!(text(&out.stderr).contains("chain break at seq 4"));
}
