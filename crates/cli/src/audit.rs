//! `clinshare audit verify`: walk the hash chain and name any tampering.

use clap::Subcommand;
use clinshare_core::audit;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; exit 1 naming any entry changed, deleted or reordered
    Verify,
}

pub fn run(ctx: &Context, command: &AuditCommand) -> Result<Report, Failure> {
    match command {
        AuditCommand::Verify => verify(ctx),
    }
}

fn verify(ctx: &Context) -> Result<Report, Failure> {
    let (store, _actor) = actor::sign_in(ctx)?;
    let report = audit::verify(&store)?;
    if !report.is_intact() {
        let problems: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
        return Err(Failure::refused(
            "audit.tampered",
            format!(
                "The audit trail has been tampered with ({} problem(s)): {}",
                problems.len(),
                problems.join("; ")
            ),
        ));
    }
    Ok(Report {
        text: format!(
            "Audit trail intact: {} entries, newest seq {}, head {}\n",
            report.entries,
            report.last_seq.unwrap_or(0),
            report.head_hash.as_deref().unwrap_or("-")
        ),
        json: json!({"intact": true, "report": report}),
    })
}
