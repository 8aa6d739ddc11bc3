//! `clinshare import` and `media list` through the real binary, and a scan
//! for plaintext pictures left on disk.
//!
//! The scan covers what the process under test could write: its data
//! directory and a temporary folder of its own (`TMPDIR`), never the
//! system's, where any other program's files turn up.
//!
//! Tests marked `ignore` need a Secret Service session (`scripts/test.sh`
//! runs them inside gnome-keyring); each uses its own data directory and so
//! its own keyring entry.

mod common;

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

/// A fresh temporary folder for the process under test alone (0700), given
/// to it as `TMPDIR` so that whatever it writes there is ours to scan.
fn private_tmpdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile leaves the mode to the umask.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }
    tmp
}

/// Plaintext left where the process under test could write: its data
/// directory and its own temporary folder.
fn leaks(data: &Path, tmp: &Path, needles: &[Vec<u8>]) -> Vec<String> {
    let mut scanned = files_under(data);
    scanned.extend(files_under(tmp));
    plaintext_in(&scanned, needles)
}

/// What the scan looks for after importing `sources`: the planted comment
/// and pieces of each sanitised picture.
fn needles_for(sources: &[&[u8]]) -> Vec<Vec<u8>> {
    let limits = clinshare_media::Limits::default();
    let mut needles: Vec<Vec<u8>> = vec![PLANTED.to_vec()];
    for src in sources {
        let clean = clinshare_media::sanitise(src, &limits).expect("fixture sanitises");
        needles.extend(pieces(&clean.bytes, 3));
    }
    needles
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
    let tmp = private_tmpdir();
    let input = tempfile::tempdir().expect("tempdir");
    let sony = with_planted_comment(&fixture("dn_Sony_Cybershot_5.jpg"));
    let canon = fixture("et_ExifTool.jpg");
    std::fs::write(input.path().join("one.jpg"), &sony).expect("write");
    std::fs::write(input.path().join("two.jpg"), &canon).expect("write");
    std::fs::write(input.path().join("three.jpg"), b"\xFF\xD8 not really").expect("write");

    // What the sanitised pictures look like, to recognise them on disk.
    let needles = needles_for(&[&sony, &canon]);

    let init = clinshare(data.path(), tmp.path(), &["init"]);
    assert!(init.status.success(), "init: {}", text(&init.stderr));

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

    assert!(
        !files_under(data.path()).is_empty(),
        "the data dir holds the store"
    );
    let found = leaks(data.path(), tmp.path(), &needles);
    assert!(found.is_empty(), "plaintext on disk: {found:?}");

    // The scan itself works: the input folder is plain.
    assert!(!plaintext_in(&files_under(input.path()), &needles).is_empty());
}

#[test]
fn the_scan_reports_a_plain_picture_left_in_the_private_tmpdir_and_nothing_outside_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let tmp = private_tmpdir();
    let sony = with_planted_comment(&fixture("dn_Sony_Cybershot_5.jpg"));
    let needles = needles_for(&[&sony]);
    // Ciphertext-like noise in the data dir, as a store would hold.
    let noise: Vec<u8> = (0..65_536u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(data.path().join("clinshare.db"), &noise).expect("write");
    assert!(leaks(data.path(), tmp.path(), &needles).is_empty());

    // Another program's plaintext elsewhere in the system's temp dir is none
    // of this process's doing, and is not scanned.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::write(elsewhere.path().join("other.jpg"), &sony).expect("write");
    assert!(leaks(data.path(), tmp.path(), &needles).is_empty());

    // A leak the process under test could have made: a plain JPEG (its
    // sanitised copy) deep in its own TMPDIR.
    let clean =
        clinshare_media::sanitise(&sony, &clinshare_media::Limits::default()).expect("sanitise");
    let nested = tmp.path().join("clinshare-import/part");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let leak = nested.join("0001.tmp");
    std::fs::write(&leak, &clean.bytes).expect("write");
    let found = leaks(data.path(), tmp.path(), &needles);
    let named: Vec<&String> = found
        .iter()
        .filter(|f| f.starts_with(&leak.display().to_string()))
        .collect();
    assert!(
        named
            .iter()
            .any(|f| f.contains("holds a picture at byte 0")),
        "{found:?}"
    );
    assert!(
        named.iter().any(|f| f.contains("piece of a picture")),
        "{found:?}"
    );

    // The original as it came, comment and all: the planted text is named too.
    std::fs::write(tmp.path().join("original.jpg"), &sony).expect("write");
    let found = leaks(data.path(), tmp.path(), &needles);
    assert!(
        found
            .iter()
            .any(|f| f.contains("original.jpg holds \"PLANTED-WOUND-NOTE-7f3a9c\"")),
        "{found:?}"
    );
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn after_a_purge_import_delete_originals_imports_the_photo_again_before_deleting_it() {
    use common::{distinct_jpegs, serve, set_up_server, Laptop, NHS};
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    set_up_server(&server_data);
    let server = serve(&server_data);
    let nurse = Laptop::nurse(dir.path().join("nurse"));
    nurse.init_and_enrol(&server_data, &server);
    nurse.add_patient_with_consent();
    let photo = distinct_jpegs(&dir.path().join("photos"), 1).remove(0);
    let original = std::fs::read(&photo).expect("photo");
    let card = dir.path().join("card/DCIM");
    std::fs::create_dir_all(&card).expect("mkdir");
    let on_card = card.join("IMG_0001.jpg");
    let card_arg = card.display().to_string();

    // Imported, the card's copy deleted, sent, and purged by retention.
    std::fs::write(&on_card, &original).expect("write");
    let first = nurse.ok(&["import", "--patient", NHS, "--delete-originals", &card_arg]);
    assert!(first.contains("1 imported, 0 duplicate"), "{first}");
    assert!(first.contains("1 original(s) deleted"), "{first}");
    assert!(!on_card.exists());
    let media = nurse.media();
    let id = media[0].0.clone();
    nurse.refer(&[&id]);
    nurse.ok(&["settings", "retention", "0"]);
    let sync = nurse.json(&["sync"]);
    assert_eq!(sync["sync"]["purged"]["purged"][0], id.as_str(), "{sync}");
    let content = |laptop: &Laptop| -> i64 {
        laptop
            .store()
            .conn()
            .query_row(
                "SELECT count(*) FROM media_content WHERE media_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .expect("count")
    };
    assert_eq!(content(&nurse), 0, "the laptop no longer holds the photo");

    // The same photo from the card again: imported again (into its own
    // record), and only then is the card's copy deleted.
    std::fs::write(&on_card, &original).expect("write");
    let again = nurse.json(&["import", "--delete-originals", &card_arg]);
    assert_eq!(again["imported"], 1, "{again}");
    assert_eq!(again["duplicate"], 0, "{again}");
    assert_eq!(again["files"][0]["status"], "imported", "{again}");
    assert_eq!(again["files"][0]["id"], id.as_str(), "{again}");
    assert_eq!(again["originals_deleted"], 1, "{again}");
    assert!(!on_card.exists());
    assert_eq!(content(&nurse), 1, "the store holds the photo again");
    assert_eq!(nurse.media().len(), 1, "no second record");
    let purged: Option<String> = nurse
        .store()
        .conn()
        .query_row("SELECT purged_at FROM media WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .expect("record");
    assert_eq!(purged, None);
    let verify = nurse.ok(&["audit", "verify"]);
    assert!(verify.to_lowercase().contains("intact"), "{verify}");

    // Held now, so once more it is a duplicate (and safe to delete).
    std::fs::write(&on_card, &original).expect("write");
    let third = nurse.ok(&["import", "--delete-originals", &card_arg]);
    assert!(third.contains("0 imported, 1 duplicate"), "{third}");
    assert!(third.contains("1 original(s) deleted"), "{third}");
}
