//! `clinshare`: the app's headless face, for administrators, scripts, tests
//! and benchmarks. The spelling of every command is a public interface
//! (see the project's CLI contract); add to it, never rename.
#![forbid(unsafe_code)]

mod actor;
mod audit;
mod consent;
mod context;
mod import;
mod inbox;
mod init;
mod media;
mod output;
mod passphrase;
mod patient;
mod settings;
mod status;
mod strip;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::Context;

#[derive(Parser)]
#[command(
    name = "clinshare",
    version,
    about = "Secure clinical photo capture and sharing (command line)",
    long_about = None
)]
struct Cli {
    /// Directory of the encrypted store [default: the platform data directory]
    #[arg(long, global = true, value_name = "DIR", env = "CLINSHARE_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Clinician to act as; the passphrase comes from the terminal or CLINSHARE_PASSPHRASE
    #[arg(long, global = true, value_name = "NAME")]
    user: Option<String>,

    /// Print one JSON document instead of text
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the encrypted store, its keyring entry and the first clinician (--user)
    Init,
    /// Show the store's location, schema version and encryption
    Status(status::StatusArgs),
    /// Write metadata-free copies of photos and videos into a folder
    Strip(strip::StripArgs),
    /// Register and find patients
    #[command(subcommand)]
    Patient(patient::PatientCommand),
    /// Record and withdraw patients' consent
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// Check the audit trail
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Import photos and videos (files or folders) into the encrypted store
    Import(import::ImportArgs),
    /// List imported photos and videos
    #[command(subcommand)]
    Media(media::MediaCommand),
    /// Enrol this laptop with the approved server
    Enrol(sync::EnrolArgs),
    /// The teams this laptop may send to (the signed directory)
    Directory(sync::DirectoryArgs),
    #[command(subcommand)]
    Referral(sync::ReferralCommand),
    /// Send the outbox: one pass
    Sync(sync::SyncArgs),
    /// Referrals addressed to your teams: list, open, acknowledge
    #[command(subcommand)]
    Inbox(inbox::InboxCommand),
    /// Store-wide settings
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Context::new(cli.data_dir, cli.user, cli.json);
    match cli.command {
        Command::Init => output::finish(&ctx, init::run(&ctx)),
        Command::Status(args) => output::finish(&ctx, status::run(&ctx, &args)),
        // Per-file results with a partial-failure exit status: prints its own report.
        Command::Strip(args) => strip::run(&ctx, &args),
        Command::Patient(cmd) => output::finish(&ctx, patient::run(&ctx, &cmd)),
        Command::Consent(cmd) => output::finish(&ctx, consent::run(&ctx, &cmd)),
        Command::Audit(cmd) => output::finish(&ctx, audit::run(&ctx, &cmd)),
        // Per-file results, like strip.
        Command::Import(args) => import::run(&ctx, &args),
        Command::Media(cmd) => output::finish(&ctx, media::run(&ctx, &cmd)),
        Command::Enrol(args) => output::finish(&ctx, sync::enrol(&ctx, &args)),
        Command::Directory(args) => output::finish(&ctx, sync::directory(&ctx, &args)),
        Command::Referral(cmd) => output::finish(&ctx, sync::referral(&ctx, &cmd)),
        Command::Sync(args) => sync::run_sync(&ctx, &args),
        Command::Inbox(cmd) => output::finish(&ctx, inbox::run(&ctx, &cmd)),
        Command::Settings(cmd) => output::finish(&ctx, settings::run(&ctx, &cmd)),
    }
}
