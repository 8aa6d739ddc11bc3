//! `clinshare consent record | withdraw`.

use clap::{Args, Subcommand};
use clinshare_core::consent::{self, ConsentLevel, ConsentMethod, GivenBy, NewConsent};
use clinshare_core::patients;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Subcommand)]
pub enum ConsentCommand {
    /// Record a patient's consent
    Record(RecordArgs),
    /// Withdraw a consent (final: record a new one to allow use again)
    Withdraw(WithdrawArgs),
}

#[derive(Args)]
pub struct RecordArgs {
    /// The patient: "943 476 5919", plain digits, or nhs:/chi:/hc:/local: N
    #[arg(long, value_name = "REF")]
    patient: String,
    /// record | care | teaching | publication
    #[arg(long, value_name = "LEVEL")]
    level: String,
    /// patient | parent | attorney | best-interests
    #[arg(long = "given-by", value_name = "WHO")]
    given_by: String,
    /// verbal | written | signature
    #[arg(long, value_name = "METHOD")]
    method: String,
    /// The team the photos may be shared with (required for care)
    #[arg(long, value_name = "TEAM")]
    recipient: Option<String>,
    /// Photos this consent covers (default: all of the patient's)
    #[arg(long, value_name = "ID", num_args = 1..)]
    media: Vec<String>,
    /// Last day the consent covers
    #[arg(long, value_name = "YYYY-MM-DD")]
    expires: Option<String>,
    /// Why a best-interests decision is in the patient's interests
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Media id of the signed form or signature
    #[arg(long, value_name = "ID")]
    evidence: Option<String>,
}

#[derive(Args)]
pub struct WithdrawArgs {
    /// The consent's id (as printed by `consent record`)
    #[arg(long, value_name = "ID")]
    consent: i64,
    /// Why it was withdrawn
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub fn run(ctx: &Context, command: &ConsentCommand) -> Result<Report, Failure> {
    match command {
        ConsentCommand::Record(args) => record(ctx, args),
        ConsentCommand::Withdraw(args) => withdraw(ctx, args),
    }
}

fn choice<T>(
    typed: &str,
    parse: fn(&str) -> Option<T>,
    option: &str,
    allowed: &str,
) -> Result<T, Failure> {
    parse(typed.trim()).ok_or_else(|| {
        Failure::refused(
            "cli.invalid_choice",
            format!("\"{typed}\" is not a valid {option}: use one of {allowed}."),
        )
    })
}

fn record(ctx: &Context, args: &RecordArgs) -> Result<Report, Failure> {
    let level = choice(
        &args.level,
        ConsentLevel::from_code,
        "--level",
        "record, care, teaching, publication",
    )?;
    let given_by = choice(
        &args.given_by,
        GivenBy::from_code,
        "--given-by",
        "patient, parent, attorney, best-interests",
    )?;
    let method = choice(
        &args.method,
        ConsentMethod::from_code,
        "--method",
        "verbal, written, signature",
    )?;
    let expires_on = args
        .expires
        .as_deref()
        .map(patients::parse_date)
        .transpose()?;
    let (mut store, actor) = actor::sign_in(ctx)?;
    let patient = patients::resolve(&store, &args.patient)?;
    let c = consent::record(
        &mut store,
        &actor,
        NewConsent {
            patient_id: patient.id,
            level,
            given_by,
            reason: args.reason.clone(),
            method,
            evidence_media_id: args.evidence.clone(),
            signature_svg: None,
            recipient_team: args.recipient.clone(),
            expires_on,
            media_ids: args.media.clone(),
        },
    )?;
    let mut text = format!(
        "Recorded consent {} for patient {}: {} (given by {}, {})",
        c.id,
        patient.id,
        level.code(),
        given_by.code(),
        method.code()
    );
    if let Some(team) = &c.recipient_team {
        text.push_str(&format!(", recipient {team}"));
    }
    if let Some(exp) = &c.expires_on {
        text.push_str(&format!(", until {exp}"));
    }
    text.push('\n');
    Ok(Report {
        text,
        json: json!({"consent": c}),
    })
}

fn withdraw(ctx: &Context, args: &WithdrawArgs) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    let c = consent::withdraw(&mut store, &actor, args.consent, &args.reason)?;
    Ok(Report {
        text: format!("Withdrew consent {}.\n", c.id),
        json: json!({"consent": c}),
    })
}
