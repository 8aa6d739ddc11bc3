//! `clinshare import` and `media list` through the real binary, and a scan
//! for plaintext pictures left on disk.
//!
//! Tests marked `ignore` need a Secret Service session (`scripts/test.sh`
//! runs them inside gnome-keyring); each uses its own data directory and so
//! its own keyring entry.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clinshare_test_support::{files_under, pieces, plaintext_in};

const PASS: &str = "correct horse battery staple";
const USER: &str = "Nurse Jackie";
/// Planted in a JPEG comment: the sanitiser removes comments, and the store
/// is encrypted, so it must never be found on disk after an import.
const PLANTED: &[u8] = b"PLANTED-WOUND-NOTE-7f3a9c";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../media/tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// A JPEG with a comment segment holding `PLANTED`, right after SOI.
fn with_planted_comment(jpeg: &[u8]) -> Vec<u8> {
    let len = u16::try_from(PLANTED.len() + 2).expect("short");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(PLANTED);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn clinshare(data_dir: &Path, tmp: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--user", USER])
        .args(args)
        .env("CLINSHARE_PASSPHRASE", PASS)
        // Anything the binary writes to "the" temp dir lands here, and is scanned.
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run clinshare")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn import_needs_a_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["import", "nothing.jpg"])
        .env_remove("CLINSHARE_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[cli.user_required]"));
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_folder_is_imported_rejects_are_reported_and_nothing_plain_is_left_on_disk() {
    let data = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tempfile::tempdir().expect("tempdir");
    let sony = with_planted_comment(&fixture("dn_Sony_Cybershot_5.jpg"));
    let canon = fixture("et_ExifTool.jpg");
    std::fs::write(input.path().join("one.jpg"), &sony).expect("write");
    std::fs::write(input.path().join("two.jpg"), &canon).expect("write");
    std::fs::write(input.path().join("three.jpg"), b"\xFF\xD8 not really").expect("write");

    // What the sanitised pictures look like, to recognise them on disk.
    let limits = clinshare_media::Limits::default();
    let mut needles: Vec<Vec<u8>> = vec![PLANTED.to_vec()];
    for src in [&sony, &canon] {
        let clean = clinshare_media::sanitise(src, &limits).expect("fixture sanitises");
        needles.extend(pieces(&clean.bytes, 3));
    }

    let init = clinshare(data.path(), tmp.path(), &["init"]);
    assert!(init.status.success(), "init: {}", text(&init.stderr));

    // Files in the system temp dir before the import: only new ones are scanned
    // (our own input folder holds plaintext pictures on purpose).
    let system_tmp = std::env::temp_dir();
    let before: HashSet<PathBuf> = files_under(&system_tmp).into_iter().collect();

    let folder = input.path().to_str().expect("utf-8");
    let out = clinshare(data.path(), tmp.path(), &["import", folder]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.matches(": imported ").count(), 2, "{stdout}");
    assert_eq!(stdout.matches(": rejected: ").count(), 1, "{stdout}");
    assert!(stdout.contains("[media."), "{stdout}");

    let list = clinshare(data.path(), tmp.path(), &["--json", "media", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let items = doc["media"].as_array().expect("media");
    assert_eq!(items.len(), 2, "{doc}");
    assert!(items.iter().all(|m| m["patient_id"].is_null()));
    let text_list = clinshare(data.path(), tmp.path(), &["media", "list"]);
    assert!(text(&text_list.stdout).contains("Unassigned"));

    let again = clinshare(data.path(), tmp.path(), &["--json", "import", folder]);
    let doc: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(doc["duplicate"], 2, "{doc}");
    assert_eq!(doc["imported"], 0, "{doc}");
    assert_eq!(again.status.code(), Some(1), "the malformed file again");

    // Into a patient's record: only that patient's list shows it.
    let add = clinshare(
        data.path(),
        tmp.path(),
        &[
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
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
    let png = input.path().join("png");
    std::fs::create_dir(&png).expect("mkdir");
    std::fs::write(png.join("four.png"), fixture("kam_exif.png")).expect("write");
    let png_arg = png.to_str().expect("utf-8");
    let out = clinshare(
        data.path(),
        tmp.path(),
        &["import", "--patient", "9434765919", png_arg],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = clinshare(
        data.path(),
        tmp.path(),
        &["--json", "media", "list", "--patient", "943 476 5919"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let items = doc["media"].as_array().expect("media");
    assert_eq!(items.len(), 1, "{doc}");
    assert!(items[0]["patient_id"].is_i64(), "{doc}");

    let mut scanned = files_under(data.path());
    assert!(!scanned.is_empty(), "the data dir holds the store");
    scanned.extend(files_under(tmp.path()));
    scanned.extend(files_under(&system_tmp).into_iter().filter(|p| {
        !before.contains(p) && !p.starts_with(input.path()) && !p.starts_with(data.path())
    }));
    let found = plaintext_in(&scanned, &needles);
    assert!(found.is_empty(), "plaintext on disk: {found:?}");

    // The scan itself works: the input folder is plain.
    assert!(!plaintext_in(&files_under(input.path()), &needles).is_empty());
}
