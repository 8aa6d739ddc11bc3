//! `clinshare settings retention [DAYS]`: how long sent photos stay on the
//! laptop after the server's signed receipt (each change audited).

use clap::Subcommand;
use clinshare_core::settings;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Show or set the days a sent photo is kept after delivery (0 to 365)
    Retention {
        /// New value; without it the current one is shown
        days: Option<u32>,
    },
}

pub fn run(ctx: &Context, command: &SettingsCommand) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    match command {
        SettingsCommand::Retention { days } => {
            if let Some(d) = days {
                settings::set_retention_days(&mut store, &actor, *d)?;
            }
            let d = settings::retention_days(&store)?;
            Ok(Report {
                text: format!("Sent photos are kept for {d} day(s) after delivery.\n"),
                json: json!({"retention_days": d}),
            })
        }
    }
}
