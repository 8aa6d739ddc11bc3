//! Error plumbing shared by every ClinShare error enum, on both sides of the
//! wire: a stable machine code the UI, scripts and the app's sync client can
//! match on, and a class that decides the CLI exit status.

use serde::{Deserialize, Serialize};

/// Whether an error was a refusal of the request (bad input, policy) or a
/// failure of the environment (keyring, disk, damaged store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request was refused or its input rejected: exit status 1.
    Refused,
    /// The environment failed: exit status 2.
    Environment,
}

impl ErrorClass {
    /// The exit status for this class (see the CLI contract).
    pub fn exit_status(self) -> u8 {
        match self {
            ErrorClass::Refused => 1,
            ErrorClass::Environment => 2,
        }
    }
}

/// Implemented by every error enum that can reach a user.
pub trait ErrorCode: std::error::Error {
    /// Stable, dotted, lower-case code such as `store.key_mismatch`.
    /// Codes are a public interface: never rename one, only add.
    fn code(&self) -> &'static str;
    fn class(&self) -> ErrorClass;
}

/// The body of every error response from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable dotted code (`intake.check_digit`, `auth.device_revoked`, …).
    pub code: String,
    /// A sentence for people; never internals, never patient data.
    pub message: String,
}

impl<E: ErrorCode> From<&E> for ErrorBody {
    fn from(e: &E) -> Self {
        ErrorBody {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}
