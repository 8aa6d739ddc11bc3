//! `clinshare init --user NAME`: the store, its keyring entry, the first clinician.

use clinshare_core::setup;
use serde_json::json;

use crate::context::Context;
use crate::output::{Failure, Report};
use crate::passphrase;

pub fn run(ctx: &Context) -> Result<Report, Failure> {
    let user = ctx.user.as_deref().ok_or_else(|| {
        Failure::refused(
            "cli.user_required",
            "Name the first clinician with --user NAME.",
        )
    })?;
    let pass = passphrase::read("Passphrase for the new account: ", true)?;
    let store = setup::initialise(&ctx.data_dir, &ctx.vault, user, &pass)?;
    let location = store.location().display().to_string();
    Ok(Report {
        text: format!(
            "Created an encrypted store at {location}\nIts key is in the {} keyring.\nFirst clinician: {}\n",
            ctx.vault_backend(),
            user.trim()
        ),
        json: json!({"created": true, "location": location, "user": user.trim()}),
    })
}
