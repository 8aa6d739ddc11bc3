//! `clinshare init` / `status` against the real OS keyring (Secret Service).
//!
//! Tests marked `ignore` need a Secret Service session: `scripts/test.sh`
//! starts gnome-keyring under dbus-run-session and runs them with
//! `--include-ignored`. Each test uses its own data directory, so its keyring
//! account (derived from the location) is its own too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

const PASS: &str = "correct horse battery staple";

/// Bus address that no Secret Service answers on: the keyring is unavailable.
const NO_BUS: &str = "unix:path=/nonexistent/clinshare-test-bus";

fn clinshare(data_dir: &Path, args: &[&str]) -> Output {
    clinshare_env(data_dir, args, &[("CLINSHARE_PASSPHRASE", Some(PASS))])
}

/// Run `clinshare` with environment overrides (`None` removes a variable).
fn clinshare_env(data_dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clinshare"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null());
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.output().expect("run clinshare")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn account(data_dir: &Path) -> String {
    format!("store:{}", data_dir.canonicalize().expect("dir").display())
}

/// Look up our keyring item from outside the process, the way another
/// Secret Service client would: proves the secret is in the real store.
fn secret_tool_lookup(data_dir: &Path) -> Option<String> {
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "ClinShare",
            "username",
            &account(data_dir),
        ])
        .output()
        .expect("secret-tool (apt: libsecret-tools)");
    out.status.success().then(|| text(&out.stdout))
}

fn secret_tool_clear(data_dir: &Path) {
    let status = Command::new("secret-tool")
        .args([
            "clear",
            "service",
            "ClinShare",
            "username",
            &account(data_dir),
        ])
        .status()
        .expect("secret-tool");
    assert!(status.success());
}

fn secret_tool_store(data_dir: &Path, secret: &str) {
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=test",
            "service",
            "ClinShare",
            "username",
            &account(data_dir),
            "target",
            "default",
            "application",
            "rust-keyring",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("secret-tool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(secret.as_bytes())
        .expect("write");
    assert!(child.wait().expect("wait").success());
}

fn store_file(data_dir: &Path) -> PathBuf {
    data_dir.join("clinshare.db")
}

fn fingerprint(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("read")).to_vec()
}

fn init(data_dir: &Path) {
    let out = clinshare(data_dir, &["--user", "Nurse Jackie", "init"]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn init_creates_an_encrypted_store_keyed_from_the_real_keyring() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = clinshare(dir.path(), &["--user", "Nurse Jackie", "init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Created an encrypted store"));

    // The key is in the real Secret Service, visible to another client.
    let secret = secret_tool_lookup(dir.path()).expect("keyring item exists");
    let record: serde_json::Value = serde_json::from_str(&secret).expect("our record");
    let key_hex = record["key"].as_str().expect("key").to_owned();
    assert_eq!(key_hex.len(), 64);

    // Reopen through the keyring: status reports it encrypted.
    let out = clinshare(dir.path(), &["status", "--json", "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status["encrypted"], true);
    assert_eq!(status["integrity"], "ok");
    assert_eq!(status["keyring"], "Secret Service");
    assert!(status["schema_version"].as_i64().expect("version") > 0);
    assert_eq!(status["schema_version"], status["latest_schema_version"]);
    let location = status["location"].as_str().expect("location");
    assert!(location.ends_with("clinshare.db"));

    // The file is not a plain SQLite database, and sqlite3 cannot read it.
    let bytes = std::fs::read(store_file(dir.path())).expect("read");
    assert_ne!(&bytes[..16], b"SQLite format 3\0");
    let sqlite = Command::new("sqlite3")
        .arg(store_file(dir.path()))
        .arg("SELECT name FROM sqlite_master;")
        .output()
        .expect("sqlite3 (apt: sqlite3)");
    assert!(!sqlite.status.success(), "sqlite3 must not read the store");
    assert!(text(&sqlite.stderr).contains("not a database"));

    // No key material in the data directory or in anything printed.
    let key = hex::decode(&key_hex).expect("hex");
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        assert!(
            !bytes.windows(32).any(|w| w == key.as_slice()),
            "key in {path:?}"
        );
        assert!(
            !text(&bytes).to_lowercase().contains(&key_hex),
            "hex key in {path:?}"
        );
    }
    for out in [&out.stdout, &out.stderr] {
        assert!(!text(out).contains(&key_hex));
    }
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_second_init_never_replaces_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let before = fingerprint(&store_file(dir.path()));
    let out = clinshare(dir.path(), &["--user", "Someone Else", "init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("never creates a new store over an existing one"));
    assert!(text(&out.stderr).contains("[store.already_exists]"));
    assert_eq!(fingerprint(&store_file(dir.path())), before);
    assert!(clinshare(dir.path(), &["status"]).status.success());
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_missing_key_is_a_clear_error_and_the_store_is_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let before = fingerprint(&store_file(dir.path()));
    secret_tool_clear(dir.path());
    let out = clinshare(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("No key for the store"), "{err}");
    assert!(err.contains("[store.key_missing]"));
    assert_eq!(fingerprint(&store_file(dir.path())), before);
    // And init refuses to start again over it.
    let out = clinshare(dir.path(), &["--user", "Nurse Jackie", "init"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(fingerprint(&store_file(dir.path())), before);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn another_stores_key_does_not_match_and_the_store_is_untouched() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    init(a.path());
    init(b.path());
    let before = fingerprint(&store_file(a.path()));
    let b_secret = secret_tool_lookup(b.path()).expect("b's key");
    secret_tool_store(a.path(), &b_secret);
    assert_eq!(
        secret_tool_lookup(a.path()).as_deref(),
        Some(b_secret.as_str())
    );
    let out = clinshare(a.path(), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not match this store"));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json error");
    assert_eq!(doc["error"]["code"], "store.key_mismatch");
    assert_eq!(fingerprint(&store_file(a.path())), before);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_truncated_store_is_reported_damaged_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path());
    let db = store_file(dir.path());
    let bytes = std::fs::read(&db).expect("read");
    std::fs::write(&db, &bytes[..bytes.len() / 2 + 7]).expect("truncate");
    let before = fingerprint(&db);
    let out = clinshare(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is damaged"));
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn an_unavailable_keyring_is_a_clear_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("store");
    let out = clinshare_env(
        &data,
        &["--user", "Nurse Jackie", "init"],
        &[
            ("CLINSHARE_PASSPHRASE", Some(PASS)),
            ("DBUS_SESSION_BUS_ADDRESS", Some(NO_BUS)),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("keyring is not available"), "{err}");
    assert!(err.contains("[keyring.unavailable]"));
    assert!(!store_file(&data).exists());
}

#[test]
fn a_weak_passphrase_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("store");
    let out = clinshare_env(
        &data,
        &["--user", "Nurse Jackie", "init"],
        &[("CLINSHARE_PASSPHRASE", Some("short"))],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("at least 12 characters"));
    assert!(!data.exists());
}

#[test]
fn status_without_a_store_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("nothing-here");
    let out = clinshare_env(
        &data,
        &["status"],
        &[("DBUS_SESSION_BUS_ADDRESS", Some(NO_BUS))],
    );
    // Without a keyring we cannot tell "never set up" from "file lost", so
    // this is an environment error; either way nothing may be created.
    assert_ne!(out.status.code(), Some(0));
    assert!(!data.exists());
}

#[test]
fn init_needs_a_user_and_a_passphrase_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("init")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--user NAME"));

    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--user", "Nurse Jackie", "init"])
        .env_remove("CLINSHARE_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("CLINSHARE_PASSPHRASE"));
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn help_lists_the_contracted_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["init", "status", "--data-dir", "--json", "--user"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
}
