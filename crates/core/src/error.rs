//! Error plumbing shared by every core error enum: a stable machine code the UI
//! and scripts can match on, and a class that decides the CLI exit status.

use serde::Serialize;
use ts_rs::TS;

// One definition for both sides of the wire, so server and app errors
// share codes and exit classes.
pub use clinshare_protocol::error::{ErrorClass, ErrorCode};

/// The shape every error takes when it crosses to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct IpcError {
    pub code: String,
    pub message: String,
}

impl<E: ErrorCode> From<&E> for IpcError {
    fn from(e: &E) -> Self {
        IpcError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}
