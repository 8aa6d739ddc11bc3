//! `clinshare media list [--patient REF]`.

use clap::{Args, Subcommand};
use clinshare_core::{media, patients};
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Subcommand)]
pub enum MediaCommand {
    /// List imported photos and videos, newest first
    List(ListArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this patient's [default: all, including the Unassigned tray]
    #[arg(long, value_name = "REF")]
    patient: Option<String>,
}

pub fn run(ctx: &Context, command: &MediaCommand) -> Result<Report, Failure> {
    match command {
        MediaCommand::List(args) => list(ctx, args),
    }
}

fn list(ctx: &Context, args: &ListArgs) -> Result<Report, Failure> {
    // Signing in is required: who may see what is decided per clinician.
    let (store, _actor) = actor::sign_in(ctx)?;
    let filter = match &args.patient {
        Some(reference) => Some(Some(patients::resolve(&store, reference)?.id)),
        None => None,
    };
    let items = media::list(&store, filter)?;
    let mut text = String::new();
    if items.is_empty() {
        text.push_str("No media found.\n");
    } else {
        text.push_str(
            "id                                patient     format  size        captured             thumb\n",
        );
        for m in &items {
            let patient = m
                .patient_id
                .map_or_else(|| "Unassigned".to_owned(), |p| p.to_string());
            text.push_str(&format!(
                "{}  {:<10}  {:<6}  {:<10}  {:<19}  {}\n",
                m.id,
                patient,
                m.format,
                format!("{}x{}", m.width, m.height),
                m.captured_at.as_deref().unwrap_or("-"),
                if m.has_thumbnail { "yes" } else { "no" },
            ));
        }
    }
    Ok(Report {
        text,
        json: json!({"media": items}),
    })
}
