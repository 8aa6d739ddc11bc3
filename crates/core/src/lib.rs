//! ClinShare core: the domain, the encrypted local store and (later) the sync
//! client. Host-agnostic: it never depends on Tauri, so the desktop shell, the
//! CLI and the tests all drive the same code.
#![forbid(unsafe_code)]

pub mod audit;
pub mod consent;
pub mod directory;
pub mod enrolment;
pub mod error;
/// Identifier validation lives in `clinshare-protocol` so the server runs the
/// same check; re-exported under its old path.
pub use clinshare_protocol::identifier as identifiers;
pub mod inbox;
pub mod keyvault;
pub mod media;
pub mod paths;
pub mod patients;
pub mod referrals;
pub mod retention;
pub mod session;
pub mod settings;
pub mod store;
pub mod sync;
pub mod users;

pub mod clock;
#[cfg(test)]
pub(crate) mod test_support;

pub use error::{ErrorClass, ErrorCode, IpcError};
pub use keyvault::{KeyVault, OsKeyring};
pub use store::{Store, StoreError, StoreState, StoreStatus};
pub mod setup;
