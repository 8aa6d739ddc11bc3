//! `clinshare import [--patient REF] [--delete-originals] PATH...`: files
//! and folders into the encrypted store, one line per file. A photo already
//! in the store is a duplicate; one whose bytes retention removed is
//! imported again, into its own record (the line names that record's id).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;
use clinshare_core::media::{self, ImportControl, Outcome};
use clinshare_core::patients;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{self, Failure};

#[derive(Args)]
pub struct ImportArgs {
    /// The patient the photos are of [default: the Unassigned tray]
    #[arg(long, value_name = "REF")]
    patient: Option<String>,
    /// Delete each original (e.g. on a camera card) once the store holds
    /// its photo (imported now or before, and not removed by retention);
    /// rejected files and symbolic links are kept
    #[arg(long)]
    delete_originals: bool,
    /// Files or folders (walked recursively; hidden files are skipped)
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
}

/// Per-file results with a partial-failure exit status: 0 when every file
/// was imported or already there, 1 when any was rejected, 2 when the
/// environment failed (disk, store).
pub fn run(ctx: &Context, args: &ImportArgs) -> ExitCode {
    let (mut store, actor, patient) = match prepare(ctx, args) {
        Ok(ready) => ready,
        Err(failure) => return output::finish(ctx, Err(failure)),
    };
    let cancel = AtomicBool::new(false);
    let report = media::import_paths_with(
        &mut store,
        &actor,
        &args.paths,
        patient,
        ImportControl {
            cancel: &cancel,
            progress: &mut |_| {},
            workers: 0,
            delete_originals: args.delete_originals,
        },
    );

    let (mut imported, mut duplicate, mut rejected, mut environment) = (0, 0, 0, false);
    let mut text = String::new();
    for file in &report.files {
        let path = file.path.display();
        let line = match &file.result {
            Outcome::Imported { id } => {
                imported += 1;
                format!("{path}: imported {id}")
            }
            Outcome::Duplicate { existing_id } => {
                duplicate += 1;
                format!("{path}: duplicate of {existing_id}")
            }
            Outcome::Rejected {
                code,
                message,
                environment: env,
            } => {
                rejected += 1;
                environment |= *env;
                format!("{path}: rejected: {message} [{code}]")
            }
        };
        text.push_str(&line);
        text.push('\n');
    }
    if ctx.json {
        let doc = json!({
            "patient_id": patient,
            "files": report.files,
            "skipped_hidden": report.skipped_hidden,
            "imported": imported,
            "duplicate": duplicate,
            "rejected": rejected,
            "originals_deleted": report.originals_deleted,
            "originals_kept": report.originals_kept,
        });
        println!("{doc}");
    } else {
        print!("{text}");
        println!("{imported} imported, {duplicate} duplicate, {rejected} rejected");
        if args.delete_originals {
            println!("{} original(s) deleted", report.originals_deleted);
            for kept in &report.originals_kept {
                println!("original kept: {kept}");
            }
        }
    }
    if environment {
        ExitCode::from(2)
    } else if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn prepare(
    ctx: &Context,
    args: &ImportArgs,
) -> Result<
    (
        clinshare_core::Store,
        clinshare_core::session::Actor,
        Option<i64>,
    ),
    Failure,
> {
    let (store, actor) = actor::sign_in(ctx)?;
    let patient = match &args.patient {
        Some(reference) => Some(patients::resolve(&store, reference)?.id),
        None => None,
    };
    Ok((store, actor, patient))
}
