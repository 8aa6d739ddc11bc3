//! Importing files and folders: many files at once, on every core, with
//! progress and cancellation.
//!
//! Sanitising is pure and CPU-bound, so worker threads read and prepare
//! files in parallel; only the store thread writes, one transaction per
//! file. A bounded channel between them caps how many prepared files wait in
//! memory, so a camera card of thousands of photos needs no more memory than
//! a handful.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use clinshare_media::Limits;
use serde::Serialize;
use ts_rs::TS;

use super::{check_patient, holds, prepare, store_prepared, ImportError, Imported, Prepared};
use crate::error::{ErrorClass, ErrorCode};
use crate::session::Actor;
use crate::store::Store;

/// What happened to one file of an import.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FileOutcome {
    #[ts(type = "string")]
    pub path: PathBuf,
    #[serde(flatten)]
    pub result: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Imported {
        id: String,
    },
    Duplicate {
        existing_id: String,
    },
    Rejected {
        code: String,
        message: String,
        /// The environment failed (disk, store) rather than the file.
        #[serde(skip)]
        #[ts(skip)]
        environment: bool,
    },
}

impl Outcome {
    fn of(result: Result<Imported, ImportError>) -> Self {
        match result {
            Ok(Imported::New { id, .. }) => Outcome::Imported { id },
            Ok(Imported::Duplicate { existing_id }) => Outcome::Duplicate { existing_id },
            Err(e) => Outcome::Rejected {
                code: e.detail_code().to_owned(),
                message: e.to_string(),
                environment: e.class() == ErrorClass::Environment,
            },
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct ImportReport {
    pub files: Vec<FileOutcome>,
    /// Hidden files (dot files) inside folders, not imported.
    pub skipped_hidden: usize,
    /// Files not imported because the import was cancelled.
    pub cancelled: usize,
    /// Originals removed after a verified import (when asked to).
    pub originals_deleted: usize,
    /// Originals that were not removed, and why; each file's outcome says
    /// whether its photo is in the store.
    pub originals_kept: Vec<String>,
}

impl ImportReport {
    pub fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.files.iter().filter(|f| pick(&f.result)).count()
    }
}

/// How an import is going; sent as it happens. `index` is the file's place
/// in the sorted list of all files found.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    /// The folders have been walked: this many files will be tried.
    Found { total: usize },
    /// A worker has started reading and cleaning this file.
    Preparing { index: usize, name: String },
    /// The file has been cleaned and is being written to the store.
    Storing { index: usize },
    /// The file is finished, one way or another.
    Finished {
        index: usize,
        name: String,
        outcome: Outcome,
        done: usize,
        total: usize,
    },
}

/// Controls for a running import.
pub struct ImportControl<'a> {
    /// Set from any thread to stop: no further file is started or stored.
    /// Files already stored stay stored.
    pub cancel: &'a AtomicBool,
    pub progress: &'a mut dyn FnMut(Progress),
    /// Threads preparing files; 0 means one per core.
    pub workers: usize,
    /// Delete each original (e.g. on a camera card) once its photo is
    /// safely in the store: its bytes there, not purged by retention.
    /// Symbolic links and their targets are never deleted.
    pub delete_originals: bool,
}

/// Import files and folders (recursively). Never fails as a whole: each
/// file gets its own outcome.
pub fn import_paths(
    store: &mut Store,
    actor: &Actor,
    paths: &[PathBuf],
    patient: Option<i64>,
) -> ImportReport {
    let cancel = AtomicBool::new(false);
    import_paths_with(
        store,
        actor,
        paths,
        patient,
        ImportControl {
            cancel: &cancel,
            progress: &mut |_| {},
            workers: 0,
            delete_originals: false,
        },
    )
}

enum Message {
    Preparing(usize),
    Prepared(usize, Result<Prepared, ImportError>),
}

/// [`import_paths`] with progress reports, cancellation and a chosen
/// number of workers.
pub fn import_paths_with(
    store: &mut Store,
    actor: &Actor,
    paths: &[PathBuf],
    patient: Option<i64>,
    control: ImportControl<'_>,
) -> ImportReport {
    let ImportControl {
        cancel,
        progress,
        workers,
        delete_originals,
    } = control;
    let limits = Limits::default();
    let mut report = ImportReport::default();
    let mut found = Vec::new();
    for root in paths {
        collect(root, &mut found, &mut report.skipped_hidden);
    }
    let (found, sources): (Vec<PathBuf>, Vec<_>) = found.into_iter().unzip();
    let total = found.len();
    progress(Progress::Found { total });

    let mut tracker = Tracker {
        progress,
        names: found.iter().map(|p| display_name(p)).collect(),
        outcomes: vec![None; total],
        done: 0,
    };

    // Files that could not even be located are finished before any work.
    let mut jobs = Vec::new();
    // Only a file read through its own path may be deleted: never the
    // target of a symbolic link.
    let mut deletable = vec![false; total];
    for (index, source) in sources.into_iter().enumerate() {
        match source {
            Ok(read) => {
                deletable[index] = read == found[index];
                jobs.push((index, read));
            }
            Err(e) => tracker.finish(index, Outcome::of(Err(e))),
        }
    }
    // A patient removed or never registered: every file is refused alike,
    // before any is read.
    if let Err(e) = check_patient(store, patient) {
        let message = e.to_string();
        for (index, _) in jobs.drain(..) {
            let outcome = Outcome::Rejected {
                code: e.detail_code().to_owned(),
                message: message.clone(),
                environment: e.class() == ErrorClass::Environment,
            };
            tracker.finish(index, outcome);
        }
    }

    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    // Each stored file's SHA-256: an original is deleted only while the
    // store holds exactly that picture.
    let mut digests: Vec<Option<String>> = vec![None; total];
    let (tx, rx) = mpsc::sync_channel::<Message>(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, next, limits) = (&jobs, &next, &limits);
            scope.spawn(move || loop {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let Some((index, path)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    break;
                };
                if tx.send(Message::Preparing(*index)).is_err() {
                    break;
                }
                let prepared = read_limited(path, limits).and_then(|b| prepare(&b, limits));
                if tx.send(Message::Prepared(*index, prepared)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for message in rx {
            match message {
                Message::Preparing(index) => {
                    let name = tracker.names[index].clone();
                    (tracker.progress)(Progress::Preparing { index, name });
                }
                // Cancelled: what is still in flight is dropped, not stored.
                Message::Prepared(..) if cancel.load(Ordering::Relaxed) => {}
                Message::Prepared(index, prepared) => {
                    (tracker.progress)(Progress::Storing { index });
                    if let Ok(p) = &prepared {
                        digests[index] = Some(p.sha256.clone());
                    }
                    let result = prepared.and_then(|p| store_prepared(store, actor, p, patient));
                    tracker.finish(index, Outcome::of(result));
                }
            }
        }
    });

    for (path, outcome) in found.into_iter().zip(tracker.outcomes) {
        match outcome {
            Some(result) => report.files.push(FileOutcome { path, result }),
            None => report.cancelled += 1,
        }
    }
    if delete_originals {
        let candidates = report
            .files
            .iter()
            .zip(deletable.iter().zip(digests))
            .filter(|(_, (ok, _))| **ok)
            .filter_map(|(f, (_, sha256))| Some((f, sha256?)))
            .filter_map(|(f, sha256)| {
                let id = match &f.result {
                    Outcome::Imported { id } => id,
                    Outcome::Duplicate { existing_id } => existing_id,
                    Outcome::Rejected { .. } => return None,
                };
                Some(Original {
                    path: f.path.clone(),
                    id: id.clone(),
                    sha256,
                })
            })
            .collect();
        remove_originals(store, &mut report, candidates);
    }
    report
}

/// An original whose photo was stored (or found already stored), as
/// `media` `id` with this SHA-256.
pub(super) struct Original {
    pub(super) path: PathBuf,
    pub(super) id: String,
    pub(super) sha256: String,
}

/// Delete the originals of the photos now in the store, once the store has
/// been written through to disk: its log is checkpointed (and so synced)
/// first, so a power cut cannot lose a photo whose original is gone. Each
/// is checked once more after that, since another connection may have
/// purged its photo meanwhile (the app's sync runs retention on its own).
pub(super) fn remove_originals(store: &Store, report: &mut ImportReport, originals: Vec<Original>) {
    if originals.is_empty() {
        return;
    }
    let synced = store
        .conn()
        .query_row("PRAGMA wal_checkpoint(FULL)", [], |r| r.get::<_, i64>(0))
        .map_err(|e| e.to_string())
        .and_then(|busy| match busy {
            0 => Ok(()),
            _ => Err("the store is busy".to_owned()),
        });
    if let Err(why) = synced {
        let why =
            format!("The originals were kept: the store could not be synced to disk ({why}).");
        report.originals_kept = originals.iter().map(|_| why.clone()).collect();
        return;
    }
    let mut kept = Vec::new();
    let mut deleted = 0;
    for original in originals {
        let name = display_name(&original.path);
        match holds(store.conn(), &original.id, &original.sha256) {
            Ok(true) => {}
            Ok(false) => {
                kept.push(format!("{name}: the store does not hold its photo"));
                continue;
            }
            Err(e) => {
                kept.push(format!(
                    "{name}: the store could not be checked ({})",
                    e.code()
                ));
                continue;
            }
        }
        match fs::remove_file(&original.path) {
            Ok(()) => deleted += 1,
            Err(e) => kept.push(format!("{name}: {}", e.kind())),
        }
    }
    report.originals_deleted = deleted;
    report.originals_kept = kept;
}

/// Each file's outcome as it finishes, told to the caller.
struct Tracker<'p> {
    progress: &'p mut dyn FnMut(Progress),
    names: Vec<String>,
    outcomes: Vec<Option<Outcome>>,
    done: usize,
}

impl Tracker<'_> {
    fn finish(&mut self, index: usize, outcome: Outcome) {
        self.done += 1;
        (self.progress)(Progress::Finished {
            index,
            name: self.names[index].clone(),
            outcome: outcome.clone(),
            done: self.done,
            total: self.outcomes.len(),
        });
        self.outcomes[index] = Some(outcome);
    }
}

/// The last part of a path, for progress lines.
fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Each file under `root`, with the path to read it from (a link's
/// target) or why it cannot be imported. Order is sorted for stable output.
fn collect(
    root: &Path,
    out: &mut Vec<(PathBuf, Result<PathBuf, ImportError>)>,
    hidden: &mut usize,
) {
    match fs::symlink_metadata(root) {
        Err(e) => out.push((root.to_owned(), Err(unreadable(e)))),
        // A link given directly could point anywhere (a forged drop): refused.
        Ok(m) if m.file_type().is_symlink() => out.push((
            root.to_owned(),
            Err(ImportError::NotAFile {
                what: "a symbolic link",
            }),
        )),
        Ok(m) if m.is_file() => out.push((root.to_owned(), Ok(root.to_owned()))),
        Ok(m) if m.is_dir() => match fs::canonicalize(root) {
            Ok(base) => walk(root, &base, out, hidden),
            Err(e) => out.push((root.to_owned(), Err(unreadable(e)))),
        },
        Ok(_) => out.push((root.to_owned(), Err(not_a_file()))),
    }
}

fn walk(
    dir: &Path,
    base: &Path,
    out: &mut Vec<(PathBuf, Result<PathBuf, ImportError>)>,
    hidden: &mut usize,
) {
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            out.push((dir.to_owned(), Err(unreadable(e))));
            return;
        }
    };
    entries.sort();
    for path in entries {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            *hidden += 1;
            continue;
        }
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                out.push((path, Err(unreadable(e))));
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, base, out, hidden);
        } else if meta.is_file() {
            out.push((path.clone(), Ok(path)));
        } else if meta.file_type().is_symlink() {
            // Followed only to a regular file inside the folder being
            // imported; never to folders (no loops) nor outside it.
            let target = fs::canonicalize(&path)
                .ok()
                .filter(|t| t.starts_with(base) && t.is_file());
            let found = target.ok_or(ImportError::NotAFile {
                what: "a symbolic link to a folder or to something outside the folder",
            });
            out.push((path, found));
        } else {
            out.push((path, Err(not_a_file())));
        }
    }
}

fn not_a_file() -> ImportError {
    ImportError::NotAFile {
        what: "a device, pipe or socket",
    }
}

fn unreadable(e: std::io::Error) -> ImportError {
    // The io::Error's text names no path; the kind is enough to act on.
    ImportError::Unreadable {
        reason: e.kind().to_string(),
    }
}

/// Read a whole file into memory, refusing more than the largest size the
/// sanitiser accepts (before and while reading, as the file may grow).
fn read_limited(path: &Path, limits: &Limits) -> Result<Vec<u8>, ImportError> {
    let limit = limits.max_image_bytes.max(limits.max_video_bytes);
    let file = fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    // Checked again on the open handle: the path may have been swapped.
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > limit {
        return Err(ImportError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(ImportError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}
