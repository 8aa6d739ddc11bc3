//! `clinshare-server`: the command line in `shared/CLI.md`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use clinshare_protocol::ErrorCode;
use clinshare_server::admin::{self, AdminError};
use clinshare_server::serve::{self, ServeOptions, Transport};
use clinshare_server::store::Role;
use clinshare_server::Config;

#[derive(Parser)]
#[command(
    name = "clinshare-server",
    version,
    about = "The ClinShare approved server"
)]
struct Cli {
    /// Where the database, blobs, keys and certificate live.
    #[arg(long, env = "CLINSHARE_SERVER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// PostgreSQL URL (`postgres://user@host:port/db`): scale-out mode, for
    /// `serve` and `admin` alike. Without it, the embedded SQLite store.
    #[arg(long, env = "CLINSHARE_SERVER_DATABASE", global = true)]
    database: Option<String>,
    /// Where media files are kept: `file:///PATH` or an S3-compatible
    /// bucket, `s3://BUCKET[/PREFIX]` (credentials and endpoint from the
    /// `AWS_*` environment variables). Without it, the folder `DIR/blobs`.
    #[arg(long, env = "CLINSHARE_SERVER_BLOB_STORE", global = true)]
    blob_store: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTPS (prints the TLS key pin on start).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// PEM certificate chain; with --key, replaces the generated pair.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Serve plain HTTP: only behind a proxy that terminates TLS.
        #[arg(long, conflicts_with_all = ["cert", "key"])]
        insecure_http_behind_proxy: bool,
        /// PACS filing configuration (JSON); default `DIR/pacs.json` if it
        /// exists. See README, "Filing into a PACS".
        #[arg(long)]
        pacs_config: Option<PathBuf>,
        /// Delete chunks of uploads untouched for this long (`12h`, `7d`;
        /// at most 30d), checked at start and every 6 hours. A laptop that
        /// comes back later sends the file again from its start.
        #[arg(
            long,
            env = "CLINSHARE_SERVER_ABANDONED_UPLOADS_AFTER",
            default_value = "7d",
            value_name = "DURATION",
            value_parser = duration
        )]
        abandoned_uploads_after: Duration,
        /// Longest time one request may take, a chunk upload included
        /// (`120s`, `5m`). A laptop whose chunk runs out of time sends
        /// half as much per request, down to 256 KiB; at the default that
        /// works down to about 2 kB/s.
        #[arg(
            long,
            env = "CLINSHARE_SERVER_REQUEST_TIMEOUT",
            default_value = "120s",
            value_name = "DURATION",
            value_parser = duration
        )]
        request_timeout: Duration,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Organisations (a team belongs to one).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a one-time enrolment code.
    EnrolCode {
        #[arg(long, default_value = "1h")]
        expires_in: String,
    },
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Uploads in the blob store.
    Uploads {
        #[command(subcommand)]
        command: UploadsCommand,
    },
    /// Check the audit chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// PACS filing.
    Pacs {
        #[command(subcommand)]
        command: PacsCommand,
    },
}

#[derive(Subcommand)]
enum UploadsCommand {
    /// Delete chunks of uploads abandoned for longer than --older-than (the
    /// server also does this every 6 hours for chunks older than 7 days)
    Sweep {
        #[arg(long, default_value = "7d")]
        older_than: String,
    },
}

#[derive(Subcommand)]
enum PacsCommand {
    /// Every filing and deletion job: state, attempts, last error code.
    Status,
}

#[derive(Subcommand)]
enum OrgCommand {
    Add {
        name: String,
        /// The NHS Organisation Data Service code (RX1, S08000015, ...)
        #[arg(long)]
        ods_code: Option<String>,
    },
    /// Every organisation, with its ODS code and teams
    List,
}

#[derive(Subcommand)]
enum TeamCommand {
    Add {
        name: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        accepts_referrals: bool,
        /// The largest photo the team takes, in megabytes (MB, 10^6 bytes);
        /// laptops offer a smaller copy of a larger one
        #[arg(long, value_name = "MB")]
        max_file_mb: Option<u32>,
    },
    /// Stop the team taking referrals (it leaves the directory's recipients)
    Disable { name: String },
    /// Let the team take referrals again
    Enable { name: String },
}

#[derive(Subcommand)]
enum UserCommand {
    Add {
        name: String,
        /// The user's team; required for a clinician, optional for an
        /// administrator (who then sends and receives no referrals).
        #[arg(long)]
        team: Option<String>,
        /// Read the password from this environment variable (otherwise
        /// from the first line of standard input).
        #[arg(long)]
        password_env: Option<String>,
        /// `clinician` (sends and receives referrals) or `administrator`
        /// (also manages teams, users, codes and devices over the admin API).
        #[arg(long, default_value = "clinician", value_parser = parse_role)]
        role: Role,
    },
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
}

/// A `serve` duration option (`45s`, `12h`, `7d`; at most 30 days); clap
/// names the option and exits 2 on a value it cannot use.
fn duration(s: &str) -> Result<Duration, String> {
    admin::parse_duration(s)
        .map(|secs| Duration::from_secs(secs.unsigned_abs()))
        .map_err(|e| e.to_string())
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "the role is clinician or administrator".to_owned())
}

#[derive(Subcommand)]
enum DeviceCommand {
    List,
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(data_dir) = cli.data_dir.clone() else {
        eprintln!("clinshare-server: give --data-dir DIR (or CLINSHARE_SERVER_DATA_DIR)");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("clinshare-server: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve {
            listen,
            cert,
            key,
            insecure_http_behind_proxy,
            pacs_config,
            abandoned_uploads_after,
            request_timeout,
        } => {
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stderr)
                .init();
            let transport = if insecure_http_behind_proxy {
                Transport::InsecureHttpBehindProxy
            } else {
                Transport::Tls {
                    cert: cert.zip(key),
                }
            };
            let json = cli.json;
            let opts = ServeOptions {
                data_dir,
                database: cli.database.clone(),
                blob_store: cli.blob_store.clone(),
                listen,
                transport,
                config: Config {
                    abandoned_uploads_after,
                    request_timeout,
                    ..Config::default()
                },
                pacs_config,
            };
            let result = runtime.block_on(serve::run(opts, |addr, pin| {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"listening": addr.to_string(), "tls": pin.is_some(), "spki_sha256_hex": pin})
                    );
                } else {
                    match pin {
                        Some(pin) => {
                            println!("listening on https://{addr}");
                            println!("TLS pin (SHA-256 of SubjectPublicKeyInfo, hex): {pin}");
                        }
                        None => println!("listening on http://{addr} (plain HTTP: behind a TLS proxy only)"),
                    }
                }
                let _ = std::io::stdout().flush();
            }));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("clinshare-server: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Admin { command } => {
            match runtime.block_on(run_admin(
                &data_dir,
                cli.database.as_deref(),
                cli.blob_store.as_deref(),
                command,
                cli.json,
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("clinshare-server: {e} ({})", e.code());
                    ExitCode::from(e.class().exit_status())
                }
            }
        }
    }
}

fn print(json: bool, value: serde_json::Value, text: String) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

fn read_password(var: Option<&str>) -> Result<String, AdminError> {
    match var {
        Some(v) => std::env::var(v).map_err(|_| AdminError::PasswordMissing(v.to_owned())),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|_| AdminError::PasswordMissing("standard input".into()))?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    }
}

async fn run_admin(
    data_dir: &std::path::Path,
    database: Option<&str>,
    blob_store: Option<&str>,
    command: AdminCommand,
    json: bool,
) -> Result<(), AdminError> {
    let store = admin::open_store(data_dir, database).await?;
    let store = store.as_ref();
    let by = &admin::By::COMMAND_LINE;
    match command {
        AdminCommand::Org {
            command: OrgCommand::Add { name, ods_code },
        } => {
            let o = admin::organisation_add(store, by, &name, ods_code.as_deref()).await?;
            print(
                json,
                serde_json::json!({"organisation_id": o.id, "name": o.name, "ods_code": o.ods_code}),
                format!("organisation {} added ({})", o.name, o.id),
            );
        }
        AdminCommand::Org {
            command: OrgCommand::List,
        } => {
            let orgs = admin::organisations(store).await?;
            let text = orgs
                .iter()
                .map(|(o, teams)| {
                    format!(
                        "{}  {}  {}",
                        o.name,
                        o.ods_code.as_deref().unwrap_or("-"),
                        if teams.is_empty() {
                            "no teams".to_owned()
                        } else {
                            teams.join(", ")
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let value: Vec<_> = orgs
                .iter()
                .map(|(o, teams)| serde_json::json!({"organisation_id": o.id, "name": o.name, "ods_code": o.ods_code, "teams": teams}))
                .collect();
            print(json, serde_json::Value::from(value), text);
        }
        AdminCommand::Team {
            command:
                TeamCommand::Add {
                    name,
                    org,
                    accepts_referrals,
                    max_file_mb,
                },
        } => {
            let max_bytes = max_file_mb.map(|mb| u64::from(mb) * 1_000_000);
            let t = admin::team_add(store, by, &name, &org, accepts_referrals, max_bytes).await?;
            print(
                json,
                serde_json::json!({"team_id": t.id, "name": t.name, "organisation": t.organisation, "accepts_referrals": t.accepts_referrals, "max_file_bytes": t.max_file_bytes}),
                format!("team {} added ({})", t.name, t.id),
            );
        }
        AdminCommand::Team {
            command: TeamCommand::Disable { name },
        } => {
            admin::team_set_accepts_referrals(store, by, &name, false).await?;
            print(
                json,
                serde_json::json!({"name": name.trim(), "accepts_referrals": false}),
                format!("team {} no longer takes referrals", name.trim()),
            );
        }
        AdminCommand::Team {
            command: TeamCommand::Enable { name },
        } => {
            admin::team_set_accepts_referrals(store, by, &name, true).await?;
            print(
                json,
                serde_json::json!({"name": name.trim(), "accepts_referrals": true}),
                format!("team {} takes referrals", name.trim()),
            );
        }
        AdminCommand::User { command } => match command {
            UserCommand::Add {
                name,
                team,
                password_env,
                role,
            } => {
                let password = read_password(password_env.as_deref())?;
                let u = admin::user_add(store, by, &name, team.as_deref(), &password, role).await?;
                print(
                    json,
                    serde_json::json!({"user_id": u.id, "name": u.name, "role": u.role, "team_ids": u.team_ids}),
                    format!("user {} added ({})", u.name, u.id),
                );
            }
            UserCommand::Disable { name } => {
                admin::user_set_disabled(store, by, &name, true).await?;
                print(
                    json,
                    serde_json::json!({"disabled": name}),
                    format!("user {name} disabled"),
                );
            }
            UserCommand::Enable { name } => {
                admin::user_set_disabled(store, by, &name, false).await?;
                print(
                    json,
                    serde_json::json!({"enabled": name}),
                    format!("user {name} enabled"),
                );
            }
        },
        AdminCommand::EnrolCode { expires_in } => {
            let secs = admin::parse_duration(&expires_in)?;
            let (code, expires_at) = admin::enrol_code(store, by, secs).await?;
            print(
                json,
                serde_json::json!({"code": code, "expires_at": expires_at}),
                code,
            );
        }
        AdminCommand::Device { command } => match command {
            DeviceCommand::List => {
                let devices = admin::device_list(store).await?;
                let text = devices
                    .iter()
                    .map(|d| {
                        format!(
                            "{}  {}  enrolled {}{}",
                            d.device_id,
                            d.name,
                            d.enrolled_at,
                            d.revoked_at
                                .as_deref()
                                .map(|r| format!("  revoked {r}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                print(
                    json,
                    serde_json::to_value(&devices).unwrap_or_default(),
                    text,
                );
            }
            DeviceCommand::Revoke { id } => {
                admin::device_revoke(store, by, &id).await?;
                print(
                    json,
                    serde_json::json!({"revoked": id}),
                    format!("device {id} revoked"),
                );
            }
        },
        AdminCommand::Pacs {
            command: PacsCommand::Status,
        } => {
            let jobs = admin::pacs_status(store).await?;
            let text = if jobs.is_empty() {
                "no PACS jobs".to_owned()
            } else {
                jobs.iter()
                    .map(|j| {
                        format!(
                            "{}  {}  {}  {}  attempts {}{}",
                            j.referral_id,
                            j.target,
                            j.kind,
                            j.state,
                            j.attempts,
                            j.last_error
                                .as_deref()
                                .map(|e| format!("  last error {e}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            print(json, serde_json::to_value(&jobs).unwrap_or_default(), text);
        }
        AdminCommand::Uploads {
            command: UploadsCommand::Sweep { older_than },
        } => {
            let secs = admin::parse_duration(&older_than)?;
            let blobs = clinshare_server::blobs::BlobStore::open(data_dir, blob_store)
                .map_err(|e| AdminError::DataDir(e.to_string()))?;
            let swept = admin::uploads_sweep(store, &blobs, by, secs).await?;
            print(
                json,
                serde_json::json!({"chunks": swept.chunks, "staging_files": swept.staging_files}),
                format!(
                    "deleted {} chunks and {} staging files of abandoned uploads",
                    swept.chunks, swept.staging_files
                ),
            );
        }
        AdminCommand::Audit {
            command: AuditCommand::Verify,
        } => {
            let n = store.verify_audit().await?;
            print(
                json,
                serde_json::json!({"entries": n, "intact": true}),
                format!("audit chain intact: {n} entries"),
            );
        }
    }
    Ok(())
}
