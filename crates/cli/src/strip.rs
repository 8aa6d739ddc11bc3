//! `clinshare strip INPUT... --out DIR [--report FILE.json]`: bulk metadata
//! stripping for administrators. Writes one sanitised copy per input (same
//! stem, canonical extension; relative paths kept for folder inputs), never
//! touches the inputs, never overwrites an existing file, and never writes a
//! byte that did not pass the media verifier.
//!
//! Exit status: 0 every input was sanitised; 1 some inputs were rejected (the
//! others are still written); 2 the output folder or report could not be written.

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

/// One input file and where its copy goes (relative to --out, without extension).
struct Job {
    input: PathBuf,
    relative: PathBuf,
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
    fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for input in &args.inputs {
        if input.is_dir() {
            collect(input, Path::new(""), &mut jobs);
        } else if input.is_file() {
            let stem = input
                .file_stem()
                .map_or_else(|| PathBuf::from("unnamed"), PathBuf::from);
            jobs.push(Job {
                input: input.clone(),
                relative: stem,
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
        fs::write(path, text + "\n")
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

/// Files under `dir`, recursively, in name order. Symbolic links to folders
/// are not followed (no loops); hidden entries are skipped.
fn collect(dir: &Path, rel: &Path, out: &mut Vec<Job>) {
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
        if kind.is_dir() {
            collect(&path, &rel.join(&name), out);
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            let stem = Path::new(&name)
                .file_stem()
                .map_or_else(|| PathBuf::from(&name), PathBuf::from);
            out.push(Job {
                input: path,
                relative: rel.join(stem),
            });
        }
    }
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
    buf.clear();
    let bytes = match fs::File::open(&job.input).and_then(|mut f| f.read_to_end(buf)) {
        Ok(_) => &buf[..],
        Err(e) => {
            return Outcome::Rejected {
                code: "strip.unreadable",
                message: format!("cannot read the file: {e}"),
            }
        }
    };
    let mut media = match sanitise_reusing(bytes, limits, verification, std::mem::take(spare)) {
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
    let output = out_dir
        .join(&job.relative)
        .with_extension(media.format.extension());
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

/// Writes a new file; never replaces an existing one. A partly written file
/// is removed so that no truncated copy is left behind.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    if let Err(e) = f.write_all(bytes) {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
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
