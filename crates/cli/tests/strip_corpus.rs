//! Acceptance: `clinshare strip` over the shared de-identification corpus.
//!
//! Needs the corpus at `<workspace>/../shared/corpus` and exiftool, python3,
//! ImageMagick and ffmpeg (Debian: libimage-exiftool-perl python3
//! imagemagick ffmpeg). Missing pieces fail the test loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn corpus() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        p.join("MANIFEST.tsv").is_file(),
        "the shared corpus is missing at {}: this acceptance test cannot run without it",
        p.display()
    );
    p
}

fn checker() -> PathBuf {
    let p = corpus().join("../tools/residual-metadata.sh");
    assert!(
        p.is_file(),
        "residual-metadata.sh missing at {}",
        p.display()
    );
    p
}

fn need(tool: &str, package: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{tool} is required (apt-get install {package})");
}

/// Damaged files that every viewer shows, which the sanitiser repairs and
/// reports as libjpeg reads them: two stray bytes (the end of an XMP
/// packet) between segments; an ICC segment whose length runs two bytes
/// into the next segment, whose remaining 14 bytes are then skipped.
const REPAIRED: &[&str] = &["malformed/dn_Issue_308.jpg", "malformed/dn_issue_121.jpg"];

/// Files the sanitiser must reject: damaged files (but the one it
/// repairs), and formats it does not accept (DNG, GIF), plus the corpus's
/// own documentation.
fn must_reject(rel: &str) -> bool {
    (rel.starts_with("malformed/") && !REPAIRED.contains(&rel))
        || rel.starts_with("other/")
        || rel.ends_with(".md")
        || rel.ends_with(".tsv")
}

/// ImageMagick's name for an EXIF orientation, for `-orient`.
const ORIENT: [&str; 9] = [
    "Undefined",
    "TopLeft",
    "TopRight",
    "BottomRight",
    "BottomLeft",
    "LeftTop",
    "RightTop",
    "RightBottom",
    "LeftBottom",
];

/// The EXIF orientation that a HEIF copy carries as irot/imir but its
/// original held only in EXIF (or XMP), which no HEIF reader applies:
/// the original's pixels must be turned by it to match the copy's.
fn carried_orientation(rel: &str, input: &Path, report: &Value) -> Option<usize> {
    let orientation = report["media"]["orientation"].as_u64()? as usize;
    if !rel.starts_with("heif/") || !(2..=8).contains(&orientation) {
        return None;
    }
    let rotation = Command::new("exiftool")
        .args(["-s3", "-Rotation"])
        .arg(input)
        .output()
        .expect("exiftool");
    // A transform of its own: every reader applies it to both alike.
    rotation.stdout.is_empty().then_some(orientation)
}

fn pixel_digest(path: &Path) -> Option<String> {
    pixel_digest_turned(path, None)
}

/// The decoded pixels' digest; `orientation` turns them as EXIF would.
fn pixel_digest_turned(path: &Path, orientation: Option<usize>) -> Option<String> {
    let video = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("mp4" | "mov" | "3gp")
    );
    let out = if video {
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-f", "md5", "-"])
            .output()
            .ok()?
    } else {
        let mut convert = Command::new("convert");
        convert.arg(format!("{}[0]", path.display()));
        if let Some(o) = orientation {
            convert.args(["-orient", ORIENT[o], "-auto-orient"]);
        }
        convert.args(["-depth", "16", "rgba:-"]).output().ok()?
    };
    (out.status.success() && !out.stdout.is_empty())
        .then(|| format!("{:x}", Sha256::digest(&out.stdout)))
}

#[test]
fn corpus_is_sanitised_or_rejected_and_the_checker_finds_nothing() {
    let corpus = corpus();
    let checker = checker();
    for (t, p) in [
        ("exiftool", "libimage-exiftool-perl"),
        ("python3", "python3"),
        ("convert", "imagemagick"),
        ("ffmpeg", "ffmpeg"),
    ] {
        need(t, p);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let report = tmp.path().join("report.json");
    let run = Command::new(env!("CARGO_BIN_EXE_clinshare"))
        .arg("strip")
        .arg(&corpus)
        .arg("--out")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run clinshare");
    assert_eq!(
        run.status.code(),
        Some(1),
        "some corpus files must be rejected\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let doc: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let files = doc["files"].as_array().expect("files");
    assert_eq!(
        files.len(),
        95,
        "93 media files plus README.md and MANIFEST.tsv"
    );
    let mut pairs = Vec::new();
    for f in files {
        let input = PathBuf::from(f["input"].as_str().expect("input"));
        let rel = input
            .strip_prefix(&corpus)
            .expect("under corpus")
            .to_string_lossy()
            .into_owned();
        let status = f["status"].as_str().expect("status");
        if must_reject(&rel) {
            assert_eq!(status, "rejected", "{rel} must be rejected");
            let code = f["error"]["code"].as_str().expect("code");
            assert!(code.starts_with("media."), "{rel}: {code}");
        } else {
            assert_eq!(status, "sanitised", "{rel}: {}", f["error"]);
            let output = PathBuf::from(f["output"].as_str().expect("output"));
            let (a, b) = (
                std::fs::read(&input).expect("in"),
                std::fs::read(&output).expect("out"),
            );
            assert_ne!(a, b, "{rel} passed through unchanged");
            if REPAIRED.contains(&rel.as_str()) {
                assert!(
                    f.to_string().contains(r#""kind":"damaged""#),
                    "{rel}: the repair is not reported: {f}"
                );
            }
            let turned = carried_orientation(&rel, &input, f);
            pairs.push((rel, input, output, turned));
        }
    }
    assert_eq!(pairs.len(), 81);

    let check = Command::new("bash")
        .arg(&checker)
        .arg("-q")
        .arg(&out)
        .output()
        .expect("checker");
    assert!(
        check.status.success(),
        "residual metadata found:\n{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // Pixels (and video frames) decode identically; two workers in parallel.
    let chunks: Vec<_> = pairs.chunks(pairs.len().div_ceil(2)).collect();
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || {
                for (rel, input, output, turned) in chunk {
                    let before = pixel_digest_turned(input, *turned);
                    let after = pixel_digest(output);
                    if before.is_some() {
                        assert_eq!(before, after, "{rel}: decoded pixels differ");
                    }
                }
            });
        }
    });

    // TIFF scans and camera stills: not one pixel of the picture differs
    // (ImageMagick's absolute-error count; the original's first image, as
    // the copy keeps only that one). It prints the count first, then any
    // warnings about the original's dropped tags.
    for (rel, input, output, _) in pairs.iter().filter(|p| p.0.starts_with("tiff/")) {
        let cmp = Command::new("compare")
            .args(["-quiet", "-metric", "AE"])
            .arg(format!("{}[0]", input.display()))
            .arg(output)
            .arg("null:")
            .output()
            .expect("compare");
        let ae = String::from_utf8_lossy(&cmp.stderr);
        assert!(
            cmp.status.success() && ae.split_whitespace().next() == Some("0"),
            "{rel}: {ae}"
        );
    }

    // Every sanitised video still decodes (the metadata-only sample aside).
    for (rel, _, output, _) in pairs
        .iter()
        .filter(|p| p.0.starts_with("video/") && !p.0.contains("et_QuickTime"))
    {
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_streams"])
            .arg(output)
            .output()
            .expect("ffprobe");
        assert!(
            probe.status.success() && probe.stderr.is_empty(),
            "{rel}: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
    }

    // JPEG entropy-coded data is byte-identical.
    for (rel, input, output, _) in pairs.iter().filter(|p| p.0.starts_with("jpeg/")) {
        let a = clinshare_media::jpeg::scan_data(&std::fs::read(input).expect("in")).expect("scan");
        let b =
            clinshare_media::jpeg::scan_data(&std::fs::read(output).expect("out")).expect("scan");
        assert!(a == b, "{rel}: entropy-coded data changed");
    }

    // Orientation kept; ICC profile byte-identical.
    let exif = |args: &[&str], f: &Path| {
        let o = Command::new("exiftool")
            .args(args)
            .arg(f)
            .output()
            .expect("exiftool");
        o.stdout
    };
    let landscape = out.join("jpeg/ia_landscape_6.jpg");
    assert_eq!(
        String::from_utf8_lossy(&exif(&["-s3", "-n", "-Orientation"], &landscape)).trim(),
        "6"
    );
    let icc_in = exif(
        &["-b", "-ICC_Profile"],
        &corpus.join("jpeg/dn_Multiple_ICC_segments.jpg"),
    );
    let icc_out = exif(
        &["-b", "-ICC_Profile"],
        &out.join("jpeg/dn_Multiple_ICC_segments.jpg"),
    );
    assert!(
        icc_in.len() > 60_000 && icc_in == icc_out,
        "ICC profile changed"
    );
}
