//! `clinshare patient add | list`.

use std::io::{BufRead, IsTerminal, Write};

use clap::{ArgGroup, Args, Subcommand};
use clinshare_core::identifiers::{IdentifierKind, LocalPattern, PatientIdentifier};
use clinshare_core::patients::{self, Confirmation, NewPatient, Patient};
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Subcommand)]
pub enum PatientCommand {
    /// Register a patient (the identifier is checked before anything is stored)
    Add(AddArgs),
    /// List patients, optionally searching by identifier or name
    List(ListArgs),
    /// Set the pattern of local hospital numbers: A letter, 9 digit, X either (e.g. RH9999999)
    LocalPattern(LocalPatternArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("identifier").required(true).args(["nhs", "chi", "hc", "local"])))]
pub struct AddArgs {
    /// NHS number (England, Wales, Isle of Man), e.g. "943 476 5919"
    #[arg(long, value_name = "N")]
    nhs: Option<String>,
    /// CHI number (Scotland); its first six digits must be the date of birth
    #[arg(long, value_name = "N")]
    chi: Option<String>,
    /// H&C number (Northern Ireland)
    #[arg(long, value_name = "N")]
    hc: Option<String>,
    /// Local hospital number, matching the configured pattern
    #[arg(long, value_name = "N")]
    local: Option<String>,
    /// Family name (surname)
    #[arg(long, value_name = "NAME")]
    family: String,
    /// Given name
    #[arg(long, value_name = "NAME")]
    given: String,
    /// Date of birth
    #[arg(long, value_name = "YYYY-MM-DD")]
    dob: String,
}

#[derive(Args)]
pub struct ListArgs {
    /// An identifier in any formatting, or part of a name
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
}

#[derive(Args)]
pub struct LocalPatternArgs {
    /// The pattern, e.g. RH9999999
    #[arg(value_name = "PATTERN")]
    pattern: String,
}

pub fn run(ctx: &Context, command: &PatientCommand) -> Result<Report, Failure> {
    match command {
        PatientCommand::Add(args) => add(ctx, args),
        PatientCommand::List(args) => list(ctx, args),
        PatientCommand::LocalPattern(args) => local_pattern(ctx, args),
    }
}

fn local_pattern(ctx: &Context, args: &LocalPatternArgs) -> Result<Report, Failure> {
    LocalPattern::new(&args.pattern)?;
    let (mut store, actor) = actor::sign_in(ctx)?;
    let pattern = patients::set_local_pattern(&mut store, &actor, &args.pattern)?;
    Ok(Report {
        text: format!(
            "Local hospital numbers now follow the pattern {}\n",
            pattern.as_str()
        ),
        json: json!({"local_pattern": pattern.as_str()}),
    })
}

fn kind_and_input(args: &AddArgs) -> (IdentifierKind, &str) {
    let pairs = [
        (IdentifierKind::Nhs, &args.nhs),
        (IdentifierKind::Chi, &args.chi),
        (IdentifierKind::Hc, &args.hc),
        (IdentifierKind::Local, &args.local),
    ];
    pairs
        .into_iter()
        .find_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .unwrap_or((IdentifierKind::Nhs, ""))
}

/// At a terminal the identifier is typed a second time; a CHI number is
/// confirmed by its date of birth; a script's input is taken as read.
fn confirmation(kind: IdentifierKind) -> Result<Confirmation, Failure> {
    if kind == IdentifierKind::Chi {
        return Ok(Confirmation::DateOfBirth);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(Confirmation::Unattended);
    }
    eprint!("Type the {} again to confirm: ", kind.label());
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        Failure::refused(
            "cli.confirmation_unreadable",
            format!("Could not read the confirmation: {e}"),
        )
    })?;
    Ok(Confirmation::Retyped(line.trim().to_owned()))
}

fn add(ctx: &Context, args: &AddArgs) -> Result<Report, Failure> {
    let (kind, input) = kind_and_input(args);
    // Check everything that needs no store first, so a mistyped number is
    // reported before any passphrase is asked for.
    if kind != IdentifierKind::Local {
        PatientIdentifier::parse_as(kind, input, None)?;
    }
    let dob = patients::parse_date(&args.dob)?;
    let (mut store, actor) = actor::sign_in(ctx)?;
    let local = patients::local_pattern(&store)?;
    let identifier = PatientIdentifier::parse_as(kind, input, local.as_ref())?;
    let patient = patients::create(
        &mut store,
        &actor,
        NewPatient {
            identifier,
            confirmation: confirmation(kind)?,
            family_name: args.family.clone(),
            given_name: args.given.clone(),
            date_of_birth: dob,
        },
    )?;
    Ok(Report {
        text: format!(
            "Registered patient {}: {} ({} {}), born {}\n",
            patient.id,
            patient.display_name,
            kind.label(),
            patient.identifier_display,
            patient.date_of_birth
        ),
        json: json!({"patient": patient}),
    })
}

fn line(p: &Patient) -> String {
    format!(
        "{:>5}  {:<6} {:<14} {:<10}  {}\n",
        p.id,
        p.identifier.kind().as_str(),
        p.identifier_display,
        p.date_of_birth,
        p.display_name
    )
}

fn list(ctx: &Context, args: &ListArgs) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    let found = patients::search(&mut store, &actor, args.search.as_deref())?;
    let mut text = String::new();
    if found.is_empty() {
        text.push_str("No patients found.\n");
    } else {
        text.push_str("   id  kind   identifier     born        name\n");
        for p in &found {
            text.push_str(&line(p));
        }
    }
    Ok(Report {
        text,
        json: json!({"patients": found}),
    })
}
