//! `clinshare strip INPUT... --out DIR [--report FILE.json]`: bulk metadata
//! stripping for administrators. Writes one sanitised copy per input (relative
//! paths kept for folder inputs), never touches the inputs, never overwrites
//! an existing file, and never writes a byte that did not pass the media
//! verifier.
//!
//! A copy keeps its input's whole name; only its extension may change: one
//! that already names the detected format (any case, or an alias such as
//! `jpeg` for JPEG) is kept, one naming another media format is replaced,
//! and a name without a media extension gets the format's appended
//! (`wound.day1.jpg` stays, `scan.png` holding a JPEG becomes `scan.jpg`,
//! `patient 12.3.2024` becomes `patient 12.3.2024.jpg`).
//!
//! Copies are private: files are created 0600 and folders 0700 (on Unix),
//! the report too. An input is read no further than one byte past the
//! sanitiser's size cap for its kind (a still's or a video's, told apart by
//! its first bytes), so a huge file is refused (`media.too_large`) unread. In input folders, a symbolic link is followed only to a regular
//! file inside that folder; one leading outside (`strip.link_outside`) or to
//! a folder (`strip.link_to_folder`, never followed, so no loops) is
//! reported as rejected. A link named directly as an INPUT is followed: the
//! administrator chose it.
//!
//! Exit status: 0 every input was sanitised; 1 some inputs were rejected (the
//! others are still written); 2 the output folder or report could not be written.

use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::{Args, ValueEnum};
use clinshare_media::{sanitise_reusing, Limits, MediaError, Sanitised, Verification};
use serde_json::{json, Value};

use crate::context::Context;

#[derive(Args)]
pub struct StripArgs {
    /// Photos, videos or folders (searched recursively)
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Folder for the sanitised copies (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Also write the JSON report to this file
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,

    /// Worker threads [default: one per core]
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,

    /// How each copy is checked before it is written. Both levels re-read
    /// it with an independent EXIF reader, check every segment against the
    /// allowlist and the decoder's view of its size, and compare its coded
    /// picture with the original byte for byte; `full` also decodes every
    /// pixel, which only adds proof that the original was decodable
    #[arg(long, value_enum, default_value_t = VerifyLevel::Structure)]
    verify: VerifyLevel,
}

#[derive(Clone, Copy, ValueEnum)]
enum VerifyLevel {
    Full,
    Structure,
}

impl From<VerifyLevel> for Verification {
    fn from(v: VerifyLevel) -> Self {
        match v {
            VerifyLevel::Full => Verification::Full,
            VerifyLevel::Structure => Verification::Structure,
        }
    }
}

/// One input file and where its copy goes.
struct Job {
    /// The path as found (a link's own path), for the report.
    input: PathBuf,
    /// Where the bytes are read from (the input, or a followed link's
    /// target), or why the file is refused unread.
    source: Result<PathBuf, Refusal>,
    /// The copy's path relative to --out, with the input's own name; the
    /// extension is settled once the format is known ([`output_name`]).
    relative: PathBuf,
}

/// Why a file was rejected, with its stable code.
#[derive(Clone, Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<Refusal> for Outcome {
    fn from(r: Refusal) -> Self {
        Outcome::Rejected {
            code: r.code,
            message: r.message,
        }
    }
}

/// Finished outcomes by input index, and how many of them are printed.
struct Progress {
    results: Vec<Option<Outcome>>,
    printed: usize,
}

enum Outcome {
    Written {
        output: PathBuf,
        media: Sanitised,
        /// Hex SHA-256 of what was written, when a report will show it.
        sha256: Option<String>,
    },
    Rejected {
        code: &'static str,
        message: String,
    },
    /// The output could not be written: an environment failure (exit 2).
    Failed {
        code: &'static str,
        message: String,
    },
}

pub fn run(ctx: &Context, args: &StripArgs) -> ExitCode {
    match run_inner(ctx, args) {
        Ok(code) => code,
        Err(message) => {
            if ctx.json {
                println!(
                    "{}",
                    json!({"error": {"code": "strip.io", "message": message}})
                );
            }
            eprintln!("error: {message} [strip.io]");
            ExitCode::from(2)
        }
    }
}

fn run_inner(ctx: &Context, args: &StripArgs) -> Result<ExitCode, String> {
    create_private_dir(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            match fs::canonicalize(input) {
                Ok(base) => collect(input, Path::new(""), &base, &mut jobs),
                Err(e) => jobs.push(Job {
                    input: input.clone(),
                    source: Err(Refusal::new(
                        "strip.unreadable",
                        format!("cannot read the folder: {e}"),
                    )),
                    relative: PathBuf::from("unnamed"),
                }),
            }
        } else if input.is_file() {
            let name = input
                .file_name()
                .map_or_else(|| PathBuf::from("unnamed"), PathBuf::from);
            jobs.push(Job {
                input: input.clone(),
                source: Ok(input.clone()),
                relative: name,
            });
        } else {
            missing.push(input.clone());
        }
    }

    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
        .min(jobs.len().max(1));
    let limits = Limits::default();
    // Hashing costs as much as stripping; only the JSON report shows it.
    let digest = args.report.is_some() || ctx.json;
    let next = AtomicUsize::new(0);
    let progress = Mutex::new(Progress {
        results: (0..jobs.len()).map(|_| None).collect(),
        printed: 0,
    });
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                // One input and one output buffer per worker, reused: large
                // photos would otherwise cost fresh pages on every file.
                let mut buf = Vec::new();
                let mut spare = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let outcome = process(
                        job,
                        &args.out,
                        &limits,
                        args.verify.into(),
                        digest,
                        &mut buf,
                        &mut spare,
                    );
                    let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(slot) = p.results.get_mut(i) {
                        *slot = Some(outcome);
                    }
                    // Lines come out in input order whatever the thread
                    // timing, so two runs over the same inputs print the same.
                    while let Some(Some(o)) = p.results.get(p.printed) {
                        if !ctx.json {
                            if let Some(j) = jobs.get(p.printed) {
                                println!("{}", line(j, o));
                            }
                        }
                        p.printed += 1;
                    }
                }
            });
        }
    });
    let results: Vec<Outcome> = progress
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .results
        .into_iter()
        .map(|o| {
            o.unwrap_or(Outcome::Failed {
                code: "strip.internal",
                message: "the file was not processed".into(),
            })
        })
        .collect();

    let mut files: Vec<Value> = jobs
        .iter()
        .zip(&results)
        .map(|(j, o)| to_json(j, o))
        .collect();
    for m in &missing {
        let message = format!("{} does not exist or is not a file or folder", m.display());
        if !ctx.json {
            println!("rejected {}: {message} [strip.not_found]", m.display());
        }
        files.push(json!({"input": m, "status": "rejected", "error": {"code": "strip.not_found", "message": message}}));
    }
    let sanitised = results
        .iter()
        .filter(|o| matches!(o, Outcome::Written { .. }))
        .count();
    let failed = results
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count();
    let rejected = results.len() - sanitised - failed + missing.len();
    let doc = json!({
        "files": files,
        "summary": {
            "sanitised": sanitised,
            "rejected": rejected,
            "failed": failed,
            "verification": Verification::from(args.verify),
        },
    });
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        write_report(path, &(text + "\n"))
            .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
    }
    if ctx.json {
        println!("{doc}");
    } else {
        println!("{sanitised} sanitised, {rejected} rejected, {failed} failed");
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Files under `dir`, recursively, in name order; hidden entries are
/// skipped. `base` is the input folder's canonical path: a symbolic link is
/// followed only to a regular file under it, never to a folder (no loops).
fn collect(dir: &Path, rel: &Path, base: &Path, out: &mut Vec<Job>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        let source = if kind.is_dir() {
            collect(&path, &rel.join(&name), base, out);
            continue;
        } else if kind.is_file() {
            Ok(path.clone())
        } else if kind.is_symlink() {
            match follow(&path, base) {
                Some(source) => source,
                None => continue,
            }
        } else {
            continue;
        };
        out.push(Job {
            input: path,
            source,
            relative: rel.join(&name),
        });
    }
}

/// Where a link found in an input folder may be read from: its target when
/// that is a regular file inside the folder. `None` for a link to a device,
/// pipe or socket inside it, skipped like those themselves.
fn follow(link: &Path, base: &Path) -> Option<Result<PathBuf, Refusal>> {
    let target = match fs::canonicalize(link) {
        Ok(t) => t,
        Err(e) => {
            return Some(Err(Refusal::new(
                "strip.unreadable",
                format!("a symbolic link whose target cannot be read ({e}); it was not followed"),
            )))
        }
    };
    if !target.starts_with(base) {
        return Some(Err(Refusal::new(
            "strip.link_outside",
            "a symbolic link to something outside the input folder; it was not followed",
        )));
    }
    if target.is_dir() {
        return Some(Err(Refusal::new(
            "strip.link_to_folder",
            "a symbolic link to a folder; it was not followed (the folder's own files are copied where it is)",
        )));
    }
    target.is_file().then_some(Ok(target))
}

/// Extensions that name one format, each group led by the format's own
/// (`Format::extension`). Keyed by extension rather than by `Format`, so a
/// new format needs only its row; TIFF's is here ahead of its support.
const SAME_FORMAT: &[&[&str]] = &[
    &["jpg", "jpeg", "jpe", "jfif"],
    &["png"],
    &["webp"],
    &["heic", "heif"],
    &["avif"],
    &["tif", "tiff"],
    &["mp4", "m4v"],
    &["mov", "qt"],
    &["3gp", "3gpp"],
];

/// Media extensions of formats not accepted, so never kept on a copy of
/// another format; any other extension is part of the name (`wound.day1`).
const OTHER_MEDIA: &[&str] = &[
    "gif", "bmp", "dng", "raw", "cr2", "cr3", "nef", "arw", "orf", "rw2", "jp2", "jxl", "avi",
    "mkv", "webm", "mpg", "mpeg", "wmv",
];

/// Whether `ext` names the format whose own extension is `canonical`.
fn names_format(ext: &str, canonical: &str) -> bool {
    ext.eq_ignore_ascii_case(canonical)
        || SAME_FORMAT.iter().any(|group| {
            group.contains(&canonical) && group.iter().any(|a| a.eq_ignore_ascii_case(ext))
        })
}

fn is_media_extension(ext: &str) -> bool {
    SAME_FORMAT
        .iter()
        .flat_map(|group| group.iter())
        .chain(OTHER_MEDIA)
        .any(|known| known.eq_ignore_ascii_case(ext))
}

/// The copy's file name: the input's whole name, with a media extension
/// that names another format replaced and a missing one appended.
fn output_name(name: &OsStr, canonical: &str) -> OsString {
    let path = Path::new(name);
    match path.extension().and_then(OsStr::to_str) {
        Some(ext) if names_format(ext, canonical) => name.to_owned(),
        Some(ext) if is_media_extension(ext) => path.with_extension(canonical).into_os_string(),
        _ => {
            let mut named = name.to_owned();
            named.push(".");
            named.push(canonical);
            named
        }
    }
}

/// Reads a file into `buf`, never more than the sanitiser's cap plus one
/// byte (a still's or a video's, told apart by its first bytes), so a huge
/// file is refused without being read whole, even one growing as it is read.
fn read_capped(
    mut file: impl Read,
    len: u64,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<(), Refusal> {
    const HEAD: u64 = 64 * 1024;
    let unreadable =
        |e: std::io::Error| Refusal::new("strip.unreadable", format!("cannot read the file: {e}"));
    buf.clear();
    let widest = limits.max_image_bytes.max(limits.max_video_bytes);
    let narrowest = limits.max_image_bytes.min(limits.max_video_bytes);
    (&mut file)
        .take(HEAD.min(narrowest + 1))
        .read_to_end(buf)
        .map_err(unreadable)?;
    let cap = match clinshare_media::sniff(buf) {
        Ok(format) if format.is_video() => limits.max_video_bytes,
        Ok(_) => limits.max_image_bytes,
        // The sanitiser refuses it; reading what it could take costs nothing more.
        Err(_) => widest,
    };
    let too_large = |size: u64| {
        let e = MediaError::TooLarge { size, limit: cap };
        Refusal::new(e.code(), e.to_string())
    };
    if len > cap {
        return Err(too_large(len));
    }
    buf.reserve(usize::try_from(len).unwrap_or(0).saturating_sub(buf.len()));
    let rest = (cap + 1).saturating_sub(buf.len() as u64);
    file.take(rest).read_to_end(buf).map_err(unreadable)?;
    if buf.len() as u64 > cap {
        return Err(too_large(len.max(buf.len() as u64)));
    }
    Ok(())
}

fn read_input(path: &Path, limits: &Limits, buf: &mut Vec<u8>) -> Result<(), Refusal> {
    let file = fs::File::open(path)
        .map_err(|e| Refusal::new("strip.unreadable", format!("cannot read the file: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| Refusal::new("strip.unreadable", format!("cannot read the file: {e}")))?
        .len();
    read_capped(file, len, limits, buf)
}

fn process(
    job: &Job,
    out_dir: &Path,
    limits: &Limits,
    verification: Verification,
    digest: bool,
    buf: &mut Vec<u8>,
    spare: &mut Vec<u8>,
) -> Outcome {
    let read = job
        .source
        .clone()
        .and_then(|path| read_input(&path, limits, buf));
    if let Err(refused) = read {
        return refused.into();
    }
    let mut media =
        match sanitise_reusing(buf.as_slice(), limits, verification, std::mem::take(spare)) {
            Ok(m) => m,
            Err(e @ MediaError::Internal { .. }) => {
                return Outcome::Failed {
                    code: e.code(),
                    message: e.to_string(),
                }
            }
            Err(e) => {
                return Outcome::Rejected {
                    code: e.code(),
                    message: e.to_string(),
                }
            }
        };
    let name = job
        .relative
        .file_name()
        .unwrap_or_else(|| OsStr::new("unnamed"));
    let output = out_dir
        .join(&job.relative)
        .with_file_name(output_name(name, media.format.extension()));
    match write_new(&output, &media.bytes) {
        Ok(()) => {
            let sha256 = digest.then(|| media.sha256_hex());
            // Only the report is kept; holding every file's bytes until the
            // end would grow memory with the batch. The buffer serves the next.
            *spare = std::mem::take(&mut media.bytes);
            Outcome::Written {
                output,
                media,
                sha256,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Outcome::Rejected {
            code: "strip.output_exists",
            message: format!(
                "{} already exists; it was not overwritten",
                output.display()
            ),
        },
        Err(e) => Outcome::Failed {
            code: "strip.io",
            message: format!("cannot write {}: {e}", output.display()),
        },
    }
}

/// Writes a new file, private to the user; never replaces an existing one.
/// A partly written file is removed so that no truncated copy is left behind.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let mut f = private(OpenOptions::new().write(true).create_new(true)).open(path)?;
    if let Err(e) = f.write_all(bytes) {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// The report names patients' files: created private like the copies (an
/// existing report is replaced, keeping its own permissions).
fn write_report(path: &Path, text: &str) -> std::io::Result<()> {
    private(OpenOptions::new().write(true).create(true).truncate(true))
        .open(path)?
        .write_all(text.as_bytes())
}

/// Creates `dir` and its missing parents 0700: they hold patients' photos.
/// Folders that exist already keep their permissions.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Files are created 0600 (the umask can only narrow it).
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

fn line(job: &Job, o: &Outcome) -> String {
    let input = job.input.display();
    match o {
        Outcome::Written { output, media, .. } => {
            let removed = if media.removed.is_empty() {
                "nothing to remove".to_owned()
            } else {
                let parts: Vec<String> = media
                    .removed
                    .iter()
                    .map(|r| {
                        let name = serde_json::to_value(r.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        format!("{name} {} B", r.bytes)
                    })
                    .collect();
                format!("removed {}", parts.join(", "))
            };
            format!(
                "kept     {input} -> {} ({} {}x{}; {removed})",
                output.display(),
                media.format,
                media.width,
                media.height
            )
        }
        Outcome::Rejected { code, message } => format!("rejected {input}: {message} [{code}]"),
        Outcome::Failed { code, message } => format!("failed   {input}: {message} [{code}]"),
    }
}

fn to_json(job: &Job, o: &Outcome) -> Value {
    match o {
        Outcome::Written {
            output,
            media,
            sha256,
        } => {
            let mut media = json!(media);
            if let (Some(m), Some(d)) = (media.as_object_mut(), sha256) {
                m.insert("sha256".into(), json!(d));
            }
            json!({
                "input": job.input,
                "output": output,
                "status": "sanitised",
                "media": media,
            })
        }
        Outcome::Rejected { code, message } => json!({
            "input": job.input,
            "status": "rejected",
            "error": {"code": code, "message": message},
        }),
        Outcome::Failed { code, message } => json!({
            "input": job.input,
            "status": "failed",
            "error": {"code": code, "message": message},
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str, canonical: &str) -> String {
        output_name(OsStr::new(name), canonical)
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_name_keeps_its_dots_and_an_extension_that_names_its_format() {
        assert_eq!(named("wound.day1.jpg", "jpg"), "wound.day1.jpg");
        assert_eq!(
            named("patient 12.3.2024.jpg", "jpg"),
            "patient 12.3.2024.jpg"
        );
        assert_eq!(named("X.JPEG", "jpg"), "X.JPEG");
        assert_eq!(named("photo.HEIF", "heic"), "photo.HEIF");
        assert_eq!(named("photo.heic", "heif"), "photo.heic");
        // TIFF's aliases are ready before its format.
        assert_eq!(named("scan.TIFF", "tif"), "scan.TIFF");
        assert_eq!(named("scan.tif", "tif"), "scan.tif");
    }

    #[test]
    fn a_wrong_media_extension_is_replaced_and_a_missing_one_appended() {
        assert_eq!(named("scan.png", "jpg"), "scan.jpg");
        assert_eq!(named("visit 12.3.2024.PNG", "jpg"), "visit 12.3.2024.jpg");
        assert_eq!(named("scan.tiff", "jpg"), "scan.jpg");
        assert_eq!(named("clip.avi", "mp4"), "clip.mp4");
        assert_eq!(named("noext", "png"), "noext.png");
        assert_eq!(named("visit 12.3.2024", "jpg"), "visit 12.3.2024.jpg");
        assert_eq!(named("wound.day1", "jpg"), "wound.day1.jpg");
        assert_eq!(named("movie.heic", "mov"), "movie.mov");
    }

    fn small_limits() -> Limits {
        Limits {
            max_image_bytes: 100,
            max_video_bytes: 1000,
            ..Limits::default()
        }
    }

    /// A JPEG's start followed by `len` bytes in all.
    fn jpeg_of(len: usize) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        b.resize(len, 0);
        b
    }

    #[test]
    fn a_file_over_its_kinds_cap_is_refused_after_the_head_alone() {
        let data = jpeg_of(5000);
        let mut reader = std::io::Cursor::new(&data);
        let mut buf = Vec::new();
        let refused = read_capped(&mut reader, 5000, &small_limits(), &mut buf).expect_err("cap");
        assert_eq!(refused.code, "media.too_large");
        assert!(
            refused.message.contains("5000 bytes"),
            "{}",
            refused.message
        );
        assert!(reader.position() <= 1001, "read {}", reader.position());
    }

    #[test]
    fn a_file_larger_than_it_said_is_read_no_further_than_the_cap_and_one() {
        let data = jpeg_of(5000);
        let mut reader = std::io::Cursor::new(&data);
        let mut buf = Vec::new();
        let refused = read_capped(&mut reader, 50, &small_limits(), &mut buf).expect_err("cap");
        assert_eq!(refused.code, "media.too_large");
        assert!(
            buf.len() <= 101 && reader.position() <= 101,
            "{}",
            buf.len()
        );
    }

    #[test]
    fn a_file_within_its_cap_is_read_whole() {
        for len in [12, 100] {
            let data = jpeg_of(len);
            let mut buf = vec![9; 3];
            read_capped(&data[..], len as u64, &small_limits(), &mut buf).expect("read");
            assert_eq!(buf, data);
        }
        // Not a known kind: the widest cap applies, and the sanitiser decides.
        let other = vec![7u8; 900];
        let mut buf = Vec::new();
        read_capped(&other[..], 900, &small_limits(), &mut buf).expect("read");
        assert_eq!(buf.len(), 900);
    }
}
