//! The `clinshare-server` binary: the spellings in `shared/CLI.md`, exit
//! status 0 ok / 1 refused / 2 environment, and the pin printed on start.

mod common;

use std::io::BufRead;
use std::process::Stdio;

use common::wire::{admin, binary, serve_plain_with, KillOnDrop};

#[test]
fn admin_commands_follow_the_cli_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    let (code, out, err) = admin(
        d,
        &[
            "team",
            "add",
            "Tissue Viability",
            "--org",
            "Lanark CHP",
            "--accepts-referrals",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Tissue Viability"));
    let (code, _, err) = admin(
        d,
        &["team", "add", "Tissue Viability", "--org", "Lanark CHP"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("admin.team_exists"), "{err}");

    let (code, out, err) = admin(
        d,
        &[
            "--json",
            "user",
            "add",
            "bob",
            "--team",
            "Tissue Viability",
            "--password-env",
            "TEST_PASSWORD",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["name"], "bob");
    assert_eq!(v["role"], "clinician");
    let (code, out, err) = admin(
        d,
        &[
            "--json",
            "user",
            "add",
            "dana",
            "--team",
            "Tissue Viability",
            "--password-env",
            "TEST_PASSWORD",
            "--role",
            "administrator",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["role"], "administrator");
    let (code, _, err) = admin(
        d,
        &[
            "user",
            "add",
            "eve",
            "--team",
            "Tissue Viability",
            "--password-env",
            "TEST_PASSWORD",
            "--role",
            "superuser",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("clinician or administrator"), "{err}");
    let (code, _, err) = admin(
        d,
        &[
            "user",
            "add",
            "eve",
            "--team",
            "Nowhere",
            "--password-env",
            "TEST_PASSWORD",
        ],
    );
    assert_eq!(
        (code, err.contains("admin.no_such_team")),
        (1, true),
        "{err}"
    );
    let (code, _, err) = admin(
        d,
        &[
            "user",
            "add",
            "eve",
            "--team",
            "Tissue Viability",
            "--password-env",
            "UNSET_VARIABLE_FOR_TEST",
        ],
    );
    assert_eq!(
        (code, err.contains("admin.password_missing")),
        (1, true),
        "{err}"
    );

    let (code, out, _) = admin(d, &["enrol-code", "--expires-in", "2h"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim().len(), 19, "{out}");
    let (code, _, err) = admin(d, &["enrol-code", "--expires-in", "forever"]);
    assert_eq!((code, err.contains("admin.bad_duration")), (1, true));

    let (code, out, _) = admin(d, &["--json", "device", "list"]);
    assert_eq!((code, out.trim()), (0, "[]"));
    let (code, _, err) = admin(d, &["device", "revoke", "0123"]);
    assert_eq!((code, err.contains("admin.no_such_device")), (1, true));

    let (code, _, _) = admin(d, &["user", "disable", "bob"]);
    assert_eq!(code, 0);
    let (code, _, _) = admin(d, &["user", "disable", "nobody"]);
    assert_eq!(code, 1);

    let (code, out, _) = admin(d, &["audit", "verify"]);
    assert_eq!(code, 0);
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn environment_failures_exit_2() {
    let out = binary()
        .args(["admin", "device", "list"])
        .env_remove("CLINSHARE_SERVER_DATA_DIR")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = binary()
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--database",
            "postgres://nobody@127.0.0.1:1/none",
            "admin",
            "device",
            "list",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_prints_the_tls_pin_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pins = Vec::new();
    for _ in 0..2 {
        let mut child = binary()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().expect("line").expect("utf-8");
        let second = lines.next().expect("line").expect("utf-8");
        child.kill().expect("kill");
        let _ = child.wait();
        assert!(
            first.starts_with("listening on https://127.0.0.1:"),
            "{first}"
        );
        let pin = second
            .strip_prefix("TLS pin (SHA-256 of SubjectPublicKeyInfo, hex): ")
            .expect("pin line")
            .to_owned();
        assert_eq!(pin.len(), 64);
        pins.push(pin);
    }
    assert_eq!(pins[0], pins[1]);
}

/// Runs `serve` (plain HTTP, any port) with `extra` options until it exits:
/// for options it refuses at start.
fn serve_until_it_stops(d: &std::path::Path, extra: &[&str]) -> std::process::Output {
    binary()
        .arg("--data-dir")
        .arg(d)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http-behind-proxy",
        ])
        .args(extra)
        .output()
        .expect("run")
}

#[test]
fn serve_refuses_a_pacs_configuration_it_cannot_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (code, out, _) = admin(d, &["pacs", "status"]);
    assert_eq!((code, out.trim()), (0, "no PACS jobs"));
    // Plain HTTP off this machine would send credentials and photos in the
    // clear: refused at start, naming the file's problem.
    std::fs::write(
        d.join("pacs.json"),
        r#"{"targets": [{"name": "p", "dicomweb_url": "http://pacs.example.org/dicom-web"}]}"#,
    )
    .expect("write");
    let out = serve_until_it_stops(d, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PACS configuration"), "{err}");
    let missing = d.join("nowhere.json");
    let out = binary()
        .arg("--data-dir")
        .arg(d)
        .args(["serve", "--listen", "127.0.0.1:0", "--pacs-config"])
        .arg(&missing)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_team_can_stop_and_resume_taking_referrals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (code, _, err) = admin(
        d,
        &[
            "team",
            "add",
            "Tissue Viability",
            "--org",
            "Lanark CHP",
            "--accepts-referrals",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = admin(d, &["--json", "team", "disable", "Tissue Viability"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["accepts_referrals"], false);
    let (code, _, err) = admin(d, &["team", "disable", "Nowhere"]);
    assert_eq!(
        (code, err.contains("admin.no_such_team")),
        (1, true),
        "{err}"
    );
    let (code, out, err) = admin(d, &["team", "enable", "Tissue Viability"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("takes referrals"), "{out}");
}

#[test]
fn organisations_are_added_with_an_ods_code_and_listed_with_their_teams() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (code, out, err) = admin(
        d,
        &[
            "--json",
            "org",
            "add",
            "NHS Lanarkshire",
            "--ods-code",
            "s08000032",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["ods_code"], "S08000032");

    for (args, refusal) in [
        (
            &["org", "add", "nhs lanarkshire"][..],
            "admin.organisation_exists",
        ),
        (
            &["org", "add", "Borders", "--ods-code", "S0"][..],
            "admin.bad_ods_code",
        ),
    ] {
        let (code, _, err) = admin(d, args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(refusal), "{args:?}: {err}");
    }
    // The team joins the organisation whatever the case it is named in.
    let (code, _, err) = admin(d, &["team", "add", "Podiatry", "--org", "NHS LANARKSHIRE"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = admin(d, &["--json", "org", "list"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["name"], "NHS Lanarkshire");
    assert_eq!(v[0]["teams"], serde_json::json!(["Podiatry"]));
    let (code, out, _) = admin(d, &["org", "list"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "NHS Lanarkshire  S08000032  Podiatry");
}

#[test]
fn only_an_administrator_may_be_added_without_a_team() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (code, _, err) = admin(
        d,
        &["user", "add", "carol", "--password-env", "TEST_PASSWORD"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("admin.team_required"), "{err}");
    assert!(err.contains("A clinician needs a team"), "{err}");
    let (code, out, err) = admin(
        d,
        &[
            "--json",
            "user",
            "add",
            "ops",
            "--role",
            "administrator",
            "--password-env",
            "TEST_PASSWORD",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["role"], "administrator");
}

#[test]
fn serve_sweeps_uploads_abandoned_for_longer_than_it_is_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let partial = d.join("blobs").join("partial");
    let abandoned = partial.join("0a0a").join("0");
    let recent = partial.join("0b0b").join("0");
    for path in [&abandoned, &recent] {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, b"chunk").expect("file");
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&abandoned)
        .expect("open")
        .set_modified(two_hours_ago)
        .expect("backdate");

    // A duration it cannot use stops it at start, saying which option.
    let out = serve_until_it_stops(d, &["--abandoned-uploads-after", "45d"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--abandoned-uploads-after"), "{err}");
    assert!(err.contains("\"45d\" is not understood"), "{err}");
    let out = serve_until_it_stops(d, &["--request-timeout", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--request-timeout"), "{err}");

    // Set to an hour (here through the environment): the two-hour-old
    // chunk goes at start, the fresh one stays.
    let log = d.join("serve.log");
    let (child, _) = serve_plain_with(
        d,
        &log,
        &[],
        &[("CLINSHARE_SERVER_ABANDONED_UPLOADS_AFTER", "1h")],
    );
    let _server = KillOnDrop(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while abandoned.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!abandoned.exists(), "the abandoned chunk is swept");
    assert!(recent.exists(), "the recent chunk is kept");
}

#[test]
fn abandoned_uploads_are_swept_and_recent_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let partial = d.join("blobs").join("partial");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let mut files = Vec::new();
    for (rel, old) in [
        ("0a0a/0", true),          // a chunk of an abandoned upload
        ("0a0a/0#17", true),       // a chunk cut off by a crash (staging file)
        ("0b0b/0", false),         // an upload in progress
        ("0b0b/8388608#3", false), // its chunk being written now
    ] {
        let path = partial.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        let f = std::fs::File::create(&path).expect("file");
        if old {
            f.set_modified(two_hours_ago).expect("backdate");
        }
        files.push((path, old));
    }
    let (code, out, err) = admin(d, &["--json", "uploads", "sweep", "--older-than", "1h"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (v["chunks"].as_u64(), v["staging_files"].as_u64()),
        (Some(1), Some(1))
    );
    for (path, old) in &files {
        assert_eq!(path.exists(), !old, "{}", path.display());
    }
    assert!(!partial.join("0a0a").exists(), "the emptied folder is gone");

    let (code, _, err) = admin(d, &["uploads", "sweep", "--older-than", "soon"]);
    assert_eq!(code, 1);
    assert!(err.contains("admin.bad_duration"), "{err}");
    let (code, out, err) = admin(d, &["audit", "verify"]);
    assert_eq!(code, 0, "{err}: {out}");
}
