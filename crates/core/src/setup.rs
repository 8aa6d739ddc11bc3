//! First-run set-up: the store and its first clinician account, together.

use std::path::Path;

use crate::error::{ErrorClass, ErrorCode};
use crate::keyvault::KeyVault;
use crate::store::Store;
use crate::users::{self, UserError};

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SetupError(#[from] UserError);

impl From<crate::store::StoreError> for SetupError {
    fn from(e: crate::store::StoreError) -> Self {
        SetupError(UserError::Store(e))
    }
}

impl ErrorCode for SetupError {
    fn code(&self) -> &'static str {
        self.0.code()
    }
    fn class(&self) -> ErrorClass {
        self.0.class()
    }
}

/// Create the store in `data_dir` with its first account. The account is
/// validated before anything is created, so a rejected passphrase leaves no
/// store and no keyring entry behind.
pub fn initialise(
    data_dir: &Path,
    vault: &dyn KeyVault,
    user: &str,
    passphrase: &str,
) -> Result<Store, SetupError> {
    users::validate_new(user, passphrase)?;
    let store = Store::create(data_dir, vault)?;
    users::add(&store, user, passphrase)?;
    Ok(store)
}
