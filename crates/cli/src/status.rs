//! `clinshare status`: location, schema version, and whether the store is encrypted.

use clap::Args;
use clinshare_core::{Store, StoreState};
use serde_json::json;

use crate::context::Context;
use crate::output::{Failure, Report};

#[derive(Args)]
pub struct StatusArgs {
    /// Also decrypt and check every page (slow on a large store)
    #[arg(long)]
    check: bool,
}

pub fn run(ctx: &Context, args: &StatusArgs) -> Result<Report, Failure> {
    let store = Store::open(&ctx.data_dir, &ctx.vault)?;
    if args.check {
        store.check_integrity()?;
    }
    let status = store.status()?;
    let StoreState::Open {
        schema_version,
        latest_schema_version,
        encrypted,
        cipher_version,
    } = &status.state
    else {
        unreachable!("an open store reports the open state")
    };
    let mut text = format!(
        "location: {}\nschema version: {schema_version} (latest known {latest_schema_version})\nencrypted: {}\n",
        status.location,
        if *encrypted {
            format!("yes (SQLCipher {cipher_version})")
        } else {
            "NO".to_owned()
        },
    );
    if args.check {
        text.push_str("integrity: ok\n");
    }
    Ok(Report {
        text,
        json: json!({
            "location": status.location,
            "schema_version": schema_version,
            "latest_schema_version": latest_schema_version,
            "encrypted": encrypted,
            "cipher_version": cipher_version,
            "keyring": ctx.vault_backend(),
            "integrity": if args.check { Some("ok") } else { None },
        }),
    })
}
