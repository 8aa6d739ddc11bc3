//! Reading a passphrase: from CLINSHARE_PASSPHRASE for scripts, otherwise from
//! the terminal without echo. Never from a command-line argument, where it
//! would show in the process list and shell history.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use crate::output::Failure;

pub const ENV: &str = "CLINSHARE_PASSPHRASE";

/// A passphrase; `confirm` asks twice when reading from a terminal.
pub fn read(prompt: &str, confirm: bool) -> Result<Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var(ENV) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::refused(
            "cli.passphrase_required",
            format!("A passphrase is needed: run in a terminal, or set {ENV} for scripts."),
        ));
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| {
        Failure::refused(
            "cli.passphrase_required",
            format!("Could not read the passphrase: {e}"),
        )
    })?);
    if confirm {
        let second =
            Zeroizing::new(rpassword::prompt_password("Type it again: ").map_err(|e| {
                Failure::refused(
                    "cli.passphrase_required",
                    format!("Could not read the passphrase: {e}"),
                )
            })?);
        if first != second {
            return Err(Failure::refused(
                "cli.passphrase_mismatch",
                "The two passphrases differ; nothing was created.",
            ));
        }
    }
    Ok(first)
}
