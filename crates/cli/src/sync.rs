//! Talking to the approved server: `clinshare enrol`, `clinshare directory
//! [--refresh]`, `clinshare referral create|list` and `clinshare sync`.
//!
//! The server account is the clinician's `--user` name; its password comes
//! from `CLINSHARE_SERVER_PASSWORD`, or else is the local passphrase.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use clinshare_core::directory;
use clinshare_core::patients;
use clinshare_core::referrals::{self, NewReferral, Referral};
use clinshare_core::sync::{self, Client, SyncProgress};
use clinshare_core::Store;
use clinshare_protocol::referral::Urgency;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{self, Failure, Report};
use crate::passphrase;

#[derive(Args)]
pub struct EnrolArgs {
    /// The approved server, https://HOST:PORT
    #[arg(long, value_name = "URL")]
    server: String,
    /// The one-time code from the administrator
    #[arg(long)]
    code: String,
    /// The server's key pin (SHA-256, hex) from the administrator
    #[arg(long, value_name = "SHA256")]
    pin: String,
    /// A name for this laptop, for the administrator's device list
    #[arg(long, default_value = "ClinShare laptop")]
    device_name: String,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Print each progress event as one JSON line on stderr
    #[arg(long)]
    progress: bool,
}

#[derive(Args)]
pub struct DirectoryArgs {
    /// Fetch the directory from the server first
    #[arg(long)]
    refresh: bool,
}

#[derive(Subcommand)]
pub enum ReferralCommand {
    /// Compose a referral and queue it (the confirmation is printed)
    Create(CreateArgs),
    /// The outbox: every referral and its state
    List,
}

#[derive(Args)]
pub struct CreateArgs {
    #[arg(long, value_name = "REF")]
    patient: String,
    /// The recipient team's name or id, from the directory
    #[arg(long, value_name = "TEAM")]
    to: String,
    #[arg(long)]
    question: String,
    #[arg(long, value_enum, default_value = "routine")]
    urgency: UrgencyArg,
    /// Photos to attach (ids from `clinshare media list`)
    #[arg(long, value_name = "ID", num_args = 1.., required = true)]
    media: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum UrgencyArg {
    Routine,
    Urgent,
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: "cli.runtime",
            message: format!("Could not start the network runtime ({e})."),
            class: clinshare_core::ErrorClass::Environment,
        })
}

fn server_password() -> Result<String, Failure> {
    match std::env::var("CLINSHARE_SERVER_PASSWORD") {
        Ok(p) => Ok(p),
        Err(_) => Ok(passphrase::read("Passphrase: ", false)?.to_string()),
    }
}

pub async fn connect(ctx: &Context, store: &Store) -> Result<Client, Failure> {
    let user = ctx.user.clone().unwrap_or_default();
    let password = server_password()?;
    Ok(sync::connect(store, &ctx.vault, &user, &password).await?)
}

pub fn enrol(ctx: &Context, args: &EnrolArgs) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    let e = runtime()?.block_on(sync::enrol(
        &mut store,
        &ctx.vault,
        &actor,
        &args.server,
        &args.code,
        &args.pin,
        &args.device_name,
    ))?;
    Ok(Report {
        text: format!(
            "Enrolled with {} as device {}.\nServer key pin: {}\n",
            e.server_url, e.device_id, e.spki_sha256
        ),
        json: json!({"enrolment": e}),
    })
}

pub fn directory(ctx: &Context, args: &DirectoryArgs) -> Result<Report, Failure> {
    let (mut store, _actor) = actor::sign_in(ctx)?;
    if args.refresh {
        let rt = runtime()?;
        rt.block_on(async {
            let client = connect(ctx, &store).await?;
            sync::refresh_directory(&mut store, &client).await?;
            Ok::<_, Failure>(())
        })?;
    }
    let cached = directory::current(&store)?;
    let recipients = cached.recipients();
    let mut text = format!(
        "Directory version {}, fetched {}\n",
        cached.directory.version, cached.fetched_at
    );
    for r in &recipients {
        text.push_str(&format!("{}  {} ({})\n", r.team_id, r.name, r.organisation));
    }
    Ok(Report {
        text,
        json: json!({
            "version": cached.directory.version,
            "fetched_at": cached.fetched_at,
            "recipients": recipients,
        }),
    })
}

pub fn referral(ctx: &Context, command: &ReferralCommand) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    match command {
        ReferralCommand::Create(args) => {
            let patient = patients::resolve(&store, &args.patient)?;
            let cached = directory::current(&store)?;
            let wanted = args.to.trim().to_lowercase();
            let team = cached
                .recipients()
                .into_iter()
                .find(|r| r.team_id == args.to || r.name.to_lowercase() == wanted)
                .ok_or_else(|| {
                    Failure::refused(
                        "referral.recipient",
                        format!(
                            "\"{}\" is not a team in the directory that takes referrals.",
                            args.to
                        ),
                    )
                })?;
            let draft = referrals::create_draft(
                &mut store,
                &actor,
                NewReferral {
                    patient_id: patient.id,
                    team_id: team.team_id,
                    clinical_question: args.question.clone(),
                    urgency: match args.urgency {
                        UrgencyArg::Routine => Urgency::Routine,
                        UrgencyArg::Urgent => Urgency::Urgent,
                    },
                    media_ids: args.media.clone(),
                },
            )?;
            let confirm = referrals::confirmation(&store, &draft.id)?;
            // Naming the team on the command line is the confirmation.
            let queued = referrals::queue(&mut store, &actor, &draft.id)?;
            Ok(Report {
                text: format!("{}\nQueued as {}.\n", confirm.question, queued.id),
                json: json!({"confirmation": confirm, "referral": queued}),
            })
        }
        ReferralCommand::List => {
            let all = referrals::list(&store, None)?;
            Ok(Report {
                text: all.iter().map(line).collect(),
                json: json!({"referrals": all}),
            })
        }
    }
}

fn line(r: &Referral) -> String {
    let mut s = format!(
        "{}  {:<12}  {} photo(s) to {}\n",
        r.id,
        r.state.code(),
        r.media_ids.len(),
        r.team_name
    );
    for b in &r.blocked {
        s.push_str(&format!("    {}\n", b.message));
    }
    s
}

/// One pass over the outbox: 0 when everything queued was delivered,
/// 1 when some are blocked or refused, 2 when the server was unreachable.
pub fn run_sync(ctx: &Context, args: &SyncArgs) -> ExitCode {
    // Ids and byte counts only: nothing about the patient.
    let print = |p: SyncProgress| eprintln!("{}", json!({"progress": p}));
    let observer: sync::Observer<'_> = if args.progress { &print } else { &sync::quiet };
    let result = (|| {
        let (mut store, actor) = actor::sign_in(ctx)?;
        let rt = runtime()?;
        let report = rt.block_on(async {
            let client = connect(ctx, &store).await?;
            Ok::<_, Failure>(
                sync::sync_pass(&mut store, &client, &actor, patients::today(), observer).await?,
            )
        })?;
        Ok::<_, Failure>(report)
    })();
    let report = match result {
        Ok(r) => r,
        Err(f) => return output::finish(ctx, Err(f)),
    };
    let mut text = String::new();
    for id in &report.delivered {
        text.push_str(&format!("{id}  delivered\n"));
    }
    for (id, blocks) in &report.blocked {
        text.push_str(&format!("{id}  blocked\n"));
        for b in blocks {
            text.push_str(&format!("    {}\n", b.message));
        }
    }
    for (id, why) in &report.failed {
        text.push_str(&format!("{id}  failed: {why}\n"));
    }
    for (id, why) in &report.waiting {
        text.push_str(&format!("{id}  waiting: {why}\n"));
    }
    let status = if !report.waiting.is_empty() {
        ExitCode::from(2)
    } else if !report.blocked.is_empty() || !report.failed.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if ctx.json {
        println!("{}", json!({"sync": report}));
    } else {
        print!("{text}");
    }
    status
}
