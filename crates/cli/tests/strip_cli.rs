//! `clinshare strip` behaviour: naming, never overwriting, exit statuses, JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures")
        .join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

fn strip(args: &[&Path], out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .args(extra)
        .arg("strip")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run clinshare")
}

#[test]
fn all_good_inputs_exit_zero_with_canonical_names_and_untouched_inputs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let (jpg, png_named_jpg) = (
        fixture("ia_landscape_6.jpg"),
        fixture("ente_normalphoto.jpg"),
    );
    let before = (
        std::fs::read(&jpg).expect("r"),
        std::fs::read(&png_named_jpg).expect("r"),
    );
    let run = strip(&[&jpg, &png_named_jpg], &out, &[]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(out.join("ia_landscape_6.jpg").is_file());
    assert!(
        out.join("ente_normalphoto.png").is_file(),
        "PNG content gets a .png name"
    );
    assert_eq!(
        before,
        (
            std::fs::read(&jpg).expect("r"),
            std::fs::read(&png_named_jpg).expect("r")
        )
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("kept") && text.contains("exif"), "{text}");
}

#[test]
fn existing_outputs_are_never_overwritten() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let jpg = fixture("et_ExifTool.jpg");
    assert_eq!(strip(&[&jpg], &out, &[]).status.code(), Some(0));
    let target = out.join("et_ExifTool.jpg");
    std::fs::write(&target, b"sentinel").expect("write");
    let again = strip(&[&jpg], &out, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("strip.output_exists"));
    assert_eq!(std::fs::read(&target).expect("r"), b"sentinel");
}

#[test]
fn rejected_inputs_exit_one_and_the_rest_is_still_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let missing = tmp.path().join("nope.jpg");
    let run = strip(
        &[&fixture("et_GIF.gif"), &fixture("kam_exif.webp"), &missing],
        &out,
        &["--json"],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(out.join("kam_exif.webp").is_file());
    assert!(!out.join("et_GIF.gif").exists() && !out.join("et_GIF.jpg").exists());
    let doc: Value = serde_json::from_slice(&run.stdout).expect("one JSON document");
    assert_eq!(doc["summary"]["sanitised"], 1);
    assert_eq!(doc["summary"]["rejected"], 2);
    let gif = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["input"].as_str().is_some_and(|s| s.ends_with(".gif")))
        .expect("gif entry");
    assert_eq!(gif["error"]["code"], "media.unsupported_format");
}

#[test]
fn folders_are_walked_recursively_keeping_relative_paths() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("card/DCIM/100");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::copy(fixture("kam_exif.png"), src.join("a.png")).expect("copy");
    std::fs::copy(fixture("kam_exif.heic"), src.join("b.HEIC")).expect("copy");
    let out = tmp.path().join("out");
    let report = tmp.path().join("r.json");
    let run = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("strip")
        .arg(tmp.path().join("card"))
        .arg("--out")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run");
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(out.join("DCIM/100/a.png").is_file());
    assert!(out.join("DCIM/100/b.heic").is_file());
    let doc: Value = serde_json::from_slice(&std::fs::read(report).expect("report")).expect("json");
    let media = &doc["files"][0]["media"];
    // The digest is of the copy as written, not of the input.
    let written = std::fs::read(out.join("DCIM/100/a.png")).expect("copy");
    assert_eq!(
        media["sha256"].as_str(),
        Some(hex::encode(Sha256::digest(&written)).as_str())
    );
    assert!(media["removed"].as_array().is_some_and(|r| !r.is_empty()));

    // --json prints the same report, digests included, without a file.
    let again = tmp.path().join("again");
    let run = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .args(["--json", "strip"])
        .arg(tmp.path().join("card"))
        .arg("--out")
        .arg(&again)
        .output()
        .expect("run");
    let doc: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(doc["files"][0]["media"]["sha256"], media["sha256"]);
}

#[test]
fn an_unwritable_output_folder_is_an_environment_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let run = strip(&[&fixture("kam_exif.png")], &file, &[]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn by_default_a_damaged_picture_is_copied_as_it_was_and_full_refuses_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = std::fs::read(fixture("ia_landscape_6.jpg")).expect("r");
    let scan = clinshare_media::jpeg::scan_data(&src).expect("scan");
    assert!(scan.len() > 1000, "the fixture needs a real scan");
    let at = src.len() - scan.len() / 2;
    let mut damaged = src.clone();
    // Runs of one-bits are no Huffman code: the picture no longer decodes,
    // but every marker is still in place.
    for (i, b) in damaged[at..at + 64].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0xFF } else { 0x00 };
    }
    let input = tmp.path().join("damaged.jpg");
    std::fs::write(&input, &damaged).expect("w");
    let run = |level: Option<&str>, out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clinshare"));
        c.arg("strip")
            .arg(&input)
            .arg("--out")
            .arg(out)
            .arg("--report")
            .arg(out.with_extension("json"));
        if let Some(l) = level {
            c.args(["--verify", l]);
        }
        let o = c.output().expect("run clinshare");
        let report: Value =
            serde_json::from_slice(&std::fs::read(out.with_extension("json")).expect("report"))
                .expect("json");
        (o, report)
    };

    // The default proves the metadata is gone and the picture is the
    // original one, damage included; it does not decode it.
    let structural = tmp.path().join("structure");
    let (o, report) = run(None, &structural);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(report["summary"]["verification"], "structure");
    let copy = std::fs::read(structural.join("damaged.jpg")).expect("copy");
    assert_eq!(
        clinshare_media::jpeg::scan_data(&copy).expect("scan"),
        clinshare_media::jpeg::scan_data(&damaged).expect("scan"),
        "the coded picture is carried over byte for byte"
    );

    // `--verify full` decodes every pixel and refuses it, writing nothing.
    let full = tmp.path().join("full");
    let (o, report) = run(Some("full"), &full);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(report["summary"]["verification"], "full");
    let f = &report["files"][0];
    assert_eq!(f["status"], "rejected");
    assert_eq!(f["error"]["code"], "media.verification_failed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("the picture does not decode"), "{text}");
    assert_eq!(std::fs::read_dir(&full).expect("dir").count(), 0);
    assert_eq!(
        std::fs::read(&input).expect("r"),
        damaged,
        "input untouched"
    );
}
