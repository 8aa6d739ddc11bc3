//! HEIF/HEIC/AVIF pictures are decoded in a process of their own.
//!
//! libheif and the codecs behind it (libde265, dav1d, aom) are C, and
//! sanitising keeps a picture's coded bitstream as it came, so it cannot
//! disarm an exploit aimed at them; a received HEIC comes from another
//! clinician's laptop. They therefore run in `clinshare-decode`, a small
//! helper started per picture with no store, no key, an empty environment
//! (no D-Bus address to reach the keyring with), limits on its memory and
//! CPU, and the picture's bytes as its standard input. It hands back plain
//! RGB pixels, which this process checks and encodes with its own JPEG
//! writer. A helper that crashes, hangs or is missing costs the preview
//! (`media.decoder_failed`; the UI shows a placeholder, the import's audit
//! entry says why), never the app or the photo.
//!
//! JPEG stays in the app's process: libjpeg-turbo is the most fuzzed image
//! decoder there is, and every JPEG it reads has already been decoded in
//! full by zune-jpeg (Rust, strict) on import or download, which refuses
//! the damaged bitstreams that such exploits need. PNG, WebP and TIFF are
//! decoded by Rust crates.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use clinshare_media::{Format, Limits, MediaError};

/// The helper's name, installed beside the app and the CLI.
pub const HELPER: &str = "clinshare-decode";
/// Most time one picture may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The helper's address-space limit: the decode budget (256 MB), libheif's
/// own working set and the libraries, with room to spare.
pub const HELPER_MEMORY: u64 = 1536 * 1024 * 1024;
/// The helper's CPU-time limit, in seconds.
pub const HELPER_CPU_SECONDS: u64 = 20;

/// A thumbnail or preview of sanitised bytes: HEIF through the helper,
/// everything else in this process ([`clinshare_media::thumbnail_with_limits`]).
pub fn thumbnail(bytes: &[u8], max_px: u32, limits: &Limits) -> Result<Vec<u8>, MediaError> {
    match clinshare_media::sniff(bytes)? {
        f @ (Format::Heic | Format::Heif | Format::Avif) => heif_thumbnail(bytes, f, max_px),
        _ => clinshare_media::thumbnail_with_limits(bytes, max_px, limits),
    }
}

fn heif_thumbnail(bytes: &[u8], format: Format, max_px: u32) -> Result<Vec<u8>, MediaError> {
    let failed = |reason: String| MediaError::DecoderFailed { format, reason };
    let helper =
        helper_path().ok_or_else(|| failed("the picture decoder is not installed".into()))?;
    let mut child = Command::new(&helper)
        .arg(max_px.to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("it could not be started: {e}")))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err(failed("its pipes could not be opened".into()));
    };
    let out_cap = 8 + 3 * u64::from(max_px) * u64::from(max_px);
    // Each pipe on a thread of its own, borrowing the picture: the helper
    // may stop reading (or die) early, or fill its output before it has
    // read all its input.
    let (status, out, err) = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(bytes));
        let reader = s.spawn(move || {
            let mut out = Vec::new();
            stdout
                .by_ref()
                .take(out_cap + 1)
                .read_to_end(&mut out)
                .map(|_| out)
        });
        let errors = s.spawn(move || {
            let mut e = String::new();
            let _ = stderr.by_ref().take(4096).read_to_string(&mut e);
            e
        });
        let status = wait_or_kill(&mut child, TIMEOUT);
        let _ = writer.join();
        let out = reader.join().ok().and_then(Result::ok).unwrap_or_default();
        (status, out, errors.join().unwrap_or_default())
    });
    let status =
        status.ok_or_else(|| failed(format!("it took longer than {} s", TIMEOUT.as_secs())))?;
    if !status.success() {
        return Err(refusal(format, status, &err));
    }
    let (w, h, rgb) =
        parse_pixels(&out, max_px).ok_or_else(|| failed("it sent back no picture".into()))?;
    clinshare_media::jpeg_from_rgb(w, h, rgb)
}

/// A child process's exit, waited for up to `timeout`; `None` if it was
/// killed for taking longer (the HEIF helper, and ffmpeg for posters).
pub(super) fn wait_or_kill(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// What a helper that did not succeed means: its own coded refusal of the
/// picture (the decoder read it and said no), or a crash.
fn refusal(format: Format, status: ExitStatus, stderr: &str) -> MediaError {
    if status.code() == Some(REFUSED) {
        return MediaError::Undecodable {
            format,
            reason: stderr.lines().next().unwrap_or("refused").to_owned(),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return MediaError::DecoderFailed {
                format,
                reason: format!("it stopped with signal {signal}"),
            };
        }
    }
    MediaError::DecoderFailed {
        format,
        reason: format!("it exited with {status}"),
    }
}

/// The helper's exit status when it refuses a picture (a clean error).
pub const REFUSED: i32 = 3;

/// `width`, `height` (u32, little-endian) and the RGB pixels, of a size
/// the request allows.
fn parse_pixels(out: &[u8], max_px: u32) -> Option<(u32, u32, &[u8])> {
    let w = u32::from_le_bytes(out.get(0..4)?.try_into().ok()?);
    let h = u32::from_le_bytes(out.get(4..8)?.try_into().ok()?);
    let rgb = out.get(8..)?;
    let fits = w > 0 && h > 0 && w <= max_px.max(1) && h <= max_px.max(1);
    (fits && rgb.len() as u64 == 3 * u64::from(w) * u64::from(h)).then_some((w, h, rgb))
}

/// The helper program: [`HELPER`] beside this executable, or beside its
/// folder (a test binary lives one level down, in `deps/`).
fn helper_path() -> Option<PathBuf> {
    #[cfg(test)]
    if let Some(p) = tests::OVERRIDE.with(|o| o.borrow().clone()) {
        return Some(p);
    }
    let exe = std::env::current_exe().ok()?;
    let name = format!("{HELPER}{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
}

/// The helper's side: limits itself, reads one picture from standard
/// input, writes its pixels to standard output. Returns the exit status.
pub fn serve_helper(max_px: u32, limits: &Limits) -> i32 {
    if let Err(e) = limit_self() {
        let _ = writeln!(
            std::io::stderr(),
            "media.internal the limits could not be set: {e}"
        );
        return 2;
    }
    let mut input = Vec::new();
    let cap = limits.max_image_bytes;
    if std::io::stdin()
        .take(cap + 1)
        .read_to_end(&mut input)
        .is_err()
        || input.len() as u64 > cap
    {
        let _ = writeln!(
            std::io::stderr(),
            "media.too_large the picture could not be read whole"
        );
        return REFUSED;
    }
    match clinshare_media::heif_rgb(&input, max_px, limits) {
        Ok((w, h, rgb)) => {
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(&w.to_le_bytes())
                .and_then(|()| out.write_all(&h.to_le_bytes()))
                .and_then(|()| out.write_all(&rgb))
                .and_then(|()| out.flush());
            if written.is_err() {
                return 2;
            }
            0
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", e);
            REFUSED
        }
    }
}

/// Memory and CPU limits on this (the helper's) process.
#[cfg(target_os = "linux")]
fn limit_self() -> std::io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let set = |resource, value: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(std::io::Error::from)
    };
    set(Resource::As, HELPER_MEMORY)?;
    set(Resource::Cpu, HELPER_CPU_SECONDS)
}

#[cfg(not(target_os = "linux"))]
fn limit_self() -> std::io::Result<()> {
    // Elsewhere the parent's timeout and the decode budget bound it.
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// A helper for this thread's imports (tests only).
        pub(crate) static OVERRIDE: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
    }

    /// Runs `f` with `helper` as the decoding helper on this thread.
    pub(crate) fn with_helper<T>(helper: PathBuf, f: impl FnOnce() -> T) -> T {
        OVERRIDE.with(|o| *o.borrow_mut() = Some(helper));
        let out = f();
        OVERRIDE.with(|o| *o.borrow_mut() = None);
        out
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../media/tests/fixtures")
                .join(name),
        )
        .expect("fixture")
    }

    #[cfg(unix)]
    /// A stand-in helper: a shell script that does `body`.
    fn script(dir: &std::path::Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("helper.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        p
    }

    #[cfg(unix)]
    #[test]
    fn a_heic_thumbnail_is_made_by_the_helper_process() {
        let heic = clinshare_media::sanitise(&fixture("kam_exif.heic"), &Limits::default())
            .expect("sanitised")
            .bytes;
        // The real helper, started through a wrapper that leaves a trace.
        let dir = tempfile::tempdir().expect("tempdir");
        let real = helper_path().expect("clinshare-decode is built beside the tests");
        let trace = dir.path().join("ran");
        let wrapper = script(
            dir.path(),
            &format!(
                "touch '{}'; exec '{}' \"$@\"",
                trace.display(),
                real.display()
            ),
        );
        let thumb =
            with_helper(wrapper, || thumbnail(&heic, 64, &Limits::default())).expect("a thumbnail");
        assert!(trace.exists(), "the helper process did not run");
        assert_eq!(clinshare_media::sniff(&thumb).expect("sniff"), Format::Jpeg);
        clinshare_media::verify(&thumb, Format::Jpeg).expect("a clean JPEG");
    }

    #[cfg(unix)]
    #[test]
    fn a_helper_that_crashes_or_is_missing_costs_only_the_preview() {
        let heic = fixture("kam_exif.heic");
        let dir = tempfile::tempdir().expect("tempdir");
        let crash = script(dir.path(), "cat > /dev/null; kill -ABRT $$");
        let e = with_helper(crash, || thumbnail(&heic, 64, &Limits::default()))
            .expect_err("no thumbnail");
        assert_eq!(e.code(), "media.decoder_failed");
        assert!(e.to_string().contains("signal 6"), "{e}");
        let e = with_helper(dir.path().join("missing"), || {
            thumbnail(&heic, 64, &Limits::default())
        })
        .expect_err("no helper");
        assert_eq!(e.code(), "media.decoder_failed");
        // Garbage instead of pixels is refused, not drawn.
        let liar = dir.path().join("liar");
        std::fs::create_dir(&liar).expect("dir");
        let liar = script(&liar, "cat > /dev/null; printf 'not pixels at all'");
        let e =
            with_helper(liar, || thumbnail(&heic, 64, &Limits::default())).expect_err("garbage");
        assert_eq!(e.code(), "media.decoder_failed");
    }

    #[cfg(unix)]
    #[test]
    fn an_import_whose_decoder_crashes_keeps_the_photo_and_audits_why() {
        use crate::test_support::{actor, open_store};
        let (_dir, mut store) = open_store();
        let nurse = actor(&store, "Nurse");
        let dir = tempfile::tempdir().expect("tempdir");
        let crash = script(dir.path(), "cat > /dev/null; kill -SEGV $$");
        let imported = with_helper(crash, || {
            super::super::import_bytes(&mut store, &nurse, &fixture("kam_exif.heic"), None)
        });
        let Ok(super::super::Imported::New { id, .. }) = imported else {
            panic!("expected a new photo, got {imported:?}");
        };
        assert_eq!(super::super::thumbnail(&store, &id).expect("read"), None);
        let details: String = store
            .conn()
            .query_row(
                "SELECT details FROM audit_log WHERE action = 'import' AND media_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .expect("the import's audit entry");
        assert!(details.contains("media.decoder_failed"), "{details}");
        let report = crate::audit::verify(&store).expect("audit read");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn pixels_of_the_wrong_size_are_refused() {
        let mut out = 2u32.to_le_bytes().to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&[7; 6]);
        assert!(parse_pixels(&out, 256).is_some());
        assert!(parse_pixels(&out[..13], 256).is_none(), "short");
        assert!(parse_pixels(&out, 1).is_none(), "larger than asked");
        assert!(parse_pixels(&[0; 8], 256).is_none(), "empty");
    }
}
