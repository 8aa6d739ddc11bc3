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
    // An extension naming the format in another case is kept as it was.
    assert!(out.join("DCIM/100/b.HEIC").is_file());
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

/// What `--json` reports for the input whose path ends with `tail`.
fn entry<'a>(doc: &'a Value, tail: &str) -> &'a Value {
    doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["input"].as_str().is_some_and(|s| s.ends_with(tail)))
        .unwrap_or_else(|| panic!("no entry for {tail}: {doc}"))
}

/// The file names directly in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn copies_keep_the_whole_name_and_only_a_wrong_or_missing_extension_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let card = tmp.path().join("card");
    std::fs::create_dir(&card).expect("mkdir");
    let (jpeg, png, heic) = (
        fixture("et_ExifTool.jpg"),
        fixture("kam_exif.png"),
        fixture("kam_exif.heic"),
    );
    for (name, src) in [
        ("wound.day1.jpg", &jpeg),
        ("wound.day2.jpg", &jpeg),
        ("patient 12.3.2024.jpg", &jpeg),
        ("visit 12.3.2024", &jpeg),
        ("x.jpeg", &jpeg),
        ("Y.JPG", &jpeg),
        ("leg.jpe", &jpeg),
        ("scan.png", &jpeg),
        ("noext", &jpeg),
        ("chart.jpg", &png),
        ("iphone.HEIF", &heic),
    ] {
        std::fs::copy(src, card.join(name)).expect("copy");
    }
    let out = tmp.path().join("out");
    let run = strip(&[&card], &out, &[]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert_eq!(
        names_in(&out),
        [
            "Y.JPG",
            "chart.png",
            "iphone.HEIF",
            "leg.jpe",
            "noext.jpg",
            "patient 12.3.2024.jpg",
            "scan.jpg",
            "visit 12.3.2024.jpg",
            "wound.day1.jpg",
            "wound.day2.jpg",
            "x.jpeg",
        ],
        "{text}"
    );

    // Named directly, the same rule: the second day is not taken for the first.
    let direct = tmp.path().join("direct");
    let run = strip(
        &[&card.join("wound.day1.jpg"), &card.join("wound.day2.jpg")],
        &direct,
        &[],
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert_eq!(names_in(&direct), ["wound.day1.jpg", "wound.day2.jpg"]);
}

#[test]
fn two_inputs_that_come_to_one_name_still_never_overwrite() {
    let tmp = tempfile::tempdir().expect("tmp");
    let card = tmp.path().join("card");
    std::fs::create_dir(&card).expect("mkdir");
    // A JPEG misnamed .png comes to scan.jpg, which the real scan.jpg took.
    std::fs::copy(fixture("et_ExifTool.jpg"), card.join("scan.jpg")).expect("copy");
    std::fs::copy(fixture("ia_landscape_6.jpg"), card.join("scan.png")).expect("copy");
    let out = tmp.path().join("out");
    let run = strip(&[&card], &out, &["--json"]);
    assert_eq!(run.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(entry(&doc, "scan.jpg")["status"], "sanitised");
    assert_eq!(
        entry(&doc, "scan.png")["error"]["code"],
        "strip.output_exists"
    );
    assert_eq!(names_in(&out), ["scan.jpg"]);
    let written = std::fs::read(out.join("scan.jpg")).expect("copy");
    let first = clinshare_media::sanitise(
        &std::fs::read(card.join("scan.jpg")).expect("r"),
        &clinshare_media::Limits::default(),
    )
    .expect("sanitise");
    assert_eq!(written, first.bytes, "the first copy is the one kept");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn copies_the_report_and_the_folders_strip_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("card/DCIM/100");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::copy(fixture("kam_exif.png"), src.join("a.png")).expect("copy");
    // One folder of the output path exists already, open to others: left so.
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = shared.join("new/out");
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
    for dir in [
        shared.join("new"),
        out.clone(),
        out.join("DCIM"),
        out.join("DCIM/100"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode(&out.join("DCIM/100/a.png")), 0o600);
    assert_eq!(mode(&report), 0o600);
    assert_eq!(mode(&shared), 0o755, "an existing folder is not changed");
}

#[cfg(unix)]
#[test]
fn links_out_of_an_input_folder_are_rejected_and_links_inside_are_followed() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().expect("tmp");
    let card = tmp.path().join("card");
    let sub = card.join("DCIM");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::copy(fixture("et_ExifTool.jpg"), sub.join("a.jpg")).expect("copy");
    // A private photo beside the card, reachable only through a link.
    let private = tmp.path().join("elsewhere.jpg");
    std::fs::copy(fixture("ia_landscape_6.jpg"), &private).expect("copy");
    symlink(&private, card.join("outside.jpg")).expect("link");
    symlink("../../elsewhere.jpg", sub.join("relative-outside.jpg")).expect("link");
    symlink(sub.join("a.jpg"), card.join("inside.jpg")).expect("link");
    symlink(&sub, card.join("loop")).expect("link");
    symlink(tmp.path().join("gone.jpg"), card.join("dangling.jpg")).expect("link");

    let out = tmp.path().join("out");
    let run = strip(&[&card], &out, &["--json"]);
    assert_eq!(run.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&run.stdout).expect("json");
    for link in ["outside.jpg", "relative-outside.jpg"] {
        let e = entry(&doc, link);
        assert_eq!(e["status"], "rejected", "{e}");
        assert_eq!(e["error"]["code"], "strip.link_outside", "{e}");
        assert!(e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("outside the input folder")));
    }
    assert_eq!(entry(&doc, "loop")["error"]["code"], "strip.link_to_folder");
    assert_eq!(
        entry(&doc, "dangling.jpg")["error"]["code"],
        "strip.unreadable"
    );
    assert_eq!(entry(&doc, "inside.jpg")["status"], "sanitised");
    assert_eq!(doc["summary"]["sanitised"], 2);
    assert_eq!(doc["summary"]["rejected"], 4);
    assert_eq!(names_in(&out), ["DCIM", "inside.jpg"]);
    assert_eq!(names_in(&out.join("DCIM")), ["a.jpg"]);

    // The text output says the same, with the codes.
    let text_run = strip(&[&card], &tmp.path().join("out2"), &[]);
    let text = String::from_utf8_lossy(&text_run.stdout);
    assert!(text.contains("[strip.link_outside]"), "{text}");
}

/// A file far beyond the still-image cap (sparse: it takes no disk), with a
/// JPEG's first bytes.
fn huge_jpeg(path: &Path, size: u64) {
    let mut head = std::fs::read(fixture("et_ExifTool.jpg")).expect("r");
    head.truncate(4096);
    std::fs::write(path, &head).expect("write");
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(size))
        .expect("grow");
}

#[cfg(unix)]
#[test]
fn a_file_over_the_cap_is_refused_without_being_read_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("huge.jpg");
    // 1 GiB: over the 200 MiB still-image cap and under the video cap, so
    // only a cap chosen by the file's kind refuses it unread.
    huge_jpeg(&input, 1 << 30);
    let out = tmp.path().join("out");
    // With its address space capped well below the file's size, reading it
    // whole would abort the process.
    let run = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 786432 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_clinshare"))
        .args(["--json", "strip", "--jobs", "1"])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value = serde_json::from_slice(&run.stdout).expect("json");
    let e = entry(&doc, "huge.jpg");
    assert_eq!(e["error"]["code"], "media.too_large", "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("1073741824 bytes")));
    assert_eq!(names_in(&out), Vec::<String>::new());
}
