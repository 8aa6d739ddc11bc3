//! Acting as a clinician: `--user NAME` plus the passphrase, checked (and
//! audited, and rate-limited) by `clinshare_core::session`.

use clinshare_core::session::{self, Actor};
use clinshare_core::Store;

use crate::context::Context;
use crate::output::Failure;
use crate::passphrase;

/// Open the store and sign in as `--user`.
pub fn sign_in(ctx: &Context) -> Result<(Store, Actor), Failure> {
    let user = ctx.user.as_deref().ok_or_else(|| {
        Failure::refused(
            "cli.user_required",
            "Say who is acting with --user NAME (the passphrase comes from the terminal or \
             CLINSHARE_PASSPHRASE).",
        )
    })?;
    let pass = passphrase::read("Passphrase: ", false)?;
    let mut store = Store::open(&ctx.data_dir, &ctx.vault)?;
    let actor = session::sign_in(&mut store, user, &pass)?;
    Ok((store, actor))
}
