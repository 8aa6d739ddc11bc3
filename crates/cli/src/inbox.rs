//! `clinshare inbox list|open|ack`: referrals addressed to the clinician's
//! teams. `open` downloads the photos into the encrypted store (checked
//! against the sender's SHA-256); nothing is written as a file.

use clap::Subcommand;
use clinshare_core::inbox;
use clinshare_protocol::inbox::InboxItem;
use serde_json::json;

use crate::actor;
use crate::context::Context;
use crate::output::{Failure, Report};
use crate::sync::{connect, runtime};

#[derive(Subcommand)]
pub enum InboxCommand {
    /// Referrals delivered to your teams
    List,
    /// Show one referral and download its photos into the encrypted store
    Open {
        /// The referral's id, from `clinshare inbox list`
        referral: String,
    },
    /// Acknowledge a referral for your team
    Ack {
        /// The referral's id, from `clinshare inbox list`
        referral: String,
    },
}

fn line(i: &InboxItem) -> String {
    let state = serde_json::to_value(i.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let urgency = serde_json::to_value(i.urgency)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{}  {:<12}  {:<8}  delivered {}{}\n",
        i.referral_id,
        state,
        urgency,
        i.delivered_at,
        if i.consent_withdrawn {
            "  CONSENT WITHDRAWN"
        } else {
            ""
        }
    )
}

pub fn run(ctx: &Context, command: &InboxCommand) -> Result<Report, Failure> {
    let (mut store, actor) = actor::sign_in(ctx)?;
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(ctx, &store).await?;
        match command {
            InboxCommand::List => {
                let items = inbox::list(&mut store, &client).await?;
                Ok(Report {
                    text: if items.is_empty() {
                        "The inbox is empty.\n".to_owned()
                    } else {
                        items.iter().map(line).collect()
                    },
                    json: json!({"inbox": items}),
                })
            }
            InboxCommand::Open { referral } => {
                let r = inbox::open(&mut store, &client, &actor, referral).await?;
                let mut photos = Vec::new();
                for m in &r.media {
                    let bytes = inbox::photo(&mut store, &client, &actor, referral, m).await?;
                    photos.push(json!({"sha256": m.sha256, "size": bytes.len(), "checked": true}));
                }
                let text = format!(
                    "{}From {}\nQuestion: {}\n{} photo(s) downloaded into the store and checked.\n",
                    line(&r.item),
                    r.sender_name,
                    r.clinical_question,
                    photos.len()
                );
                Ok(Report {
                    text,
                    json: json!({"referral": r, "photos": photos}),
                })
            }
            InboxCommand::Ack { referral } => {
                let item = inbox::acknowledge(&mut store, &client, &actor, referral).await?;
                Ok(Report {
                    text: format!("{} acknowledged.\n", item.referral_id),
                    json: json!({"acknowledged": item}),
                })
            }
        }
    })
}
