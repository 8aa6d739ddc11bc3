//! `clinshare import [--patient REF] PATH...`: files and folders into the
//! encrypted store, one line per file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use clinshare_core::media::{self, Outcome};
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
    let report = media::import_paths(&mut store, &actor, &args.paths, patient);

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
        });
        println!("{doc}");
    } else {
        print!("{text}");
        println!("{imported} imported, {duplicate} duplicate, {rejected} rejected");
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
