//! Talking to the approved server: enrolment, the directory, and sending
//! the outbox. Only referrals that pass [`crate::referrals::gate`] at this
//! moment are sent; each goes out exactly once (the idempotency key is the
//! referral's id), resumes where the server says it stopped, and is marked
//! delivered only with a receipt signed by the enrolled server.

mod client;
mod device;
mod pin;
mod progress;
mod read_ahead;
mod send;

pub use client::Client;
pub use progress::{quiet, Observer, ProgressState, SyncProgress};
pub use send::{connect, enrol, refresh_directory, sync_pass, SyncReport};

use crate::directory::DirectoryError;
use crate::error::{ErrorClass, ErrorCode};
use crate::referrals::ReferralError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("The server could not be reached ({0}). Photos stay queued and go when it can be.")]
    Offline(String),
    #[error(
        "The server did not present the key this laptop was enrolled with. Nothing was sent. \
         Tell your IT service desk: this may be an impostor server."
    )]
    PinMismatch,
    #[error("The server's address must start with https://.")]
    NotHttps,
    #[error("TLS could not be set up ({0}).")]
    Tls(String),
    #[error("The server had a problem (HTTP {status}); ClinShare will try again.")]
    Server { status: u16 },
    #[error(
        "The server is busy or the connection too slow for this much at once (HTTP {status}); \
         ClinShare will try again."
    )]
    Busy { status: u16 },
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("The upload must continue from byte {0}.")]
    OffsetMismatch(u64),
    #[error("The server's answer could not be read ({0}).")]
    Protocol(String),
    #[error("The server has not confirmed delivery yet; ClinShare will try again.")]
    NotYetDelivered,
    #[error("The server's receipt is not signed by the enrolled server; the referral is not marked delivered.")]
    BadReceipt,
    #[error(
        "A downloaded photo does not match what the sender sent (size or checksum). \
         It was not kept; try again."
    )]
    DownloadMismatch,
    #[error("A downloaded photo failed the metadata check and was not kept: {0}")]
    DownloadRejected(String),
    #[error("This laptop is not enrolled with an approved server.")]
    NotEnrolled,
    #[error("This laptop's device key is missing from the keyring: enrol it again.")]
    DeviceKeyMissing,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Referral(#[from] ReferralError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SyncError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::Store(e.into())
    }
}

impl SyncError {
    /// Network trouble and server errors are retried; refusals are not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Offline(_)
                | SyncError::Server { .. }
                | SyncError::Busy { .. }
                | SyncError::NotYetDelivered
        )
    }

    pub(crate) fn from_transport(e: reqwest::Error) -> Self {
        // A pin mismatch surfaces as a rustls certificate error somewhere in
        // the source chain.
        // io::Error hides the error it wraps from `source()`: look inside.
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            let inner = s
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|i| i as &dyn std::error::Error);
            for candidate in [Some(s), inner].into_iter().flatten() {
                if let Some(rustls::Error::InvalidCertificate(_)) =
                    candidate.downcast_ref::<rustls::Error>()
                {
                    return SyncError::PinMismatch;
                }
            }
            source = inner.or_else(|| s.source());
        }
        SyncError::Offline(if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "no connection".to_owned()
        } else {
            e.to_string()
        })
    }
}

impl ErrorCode for SyncError {
    fn code(&self) -> &'static str {
        match self {
            SyncError::Offline(_) => "sync.offline",
            SyncError::PinMismatch => "sync.pin_mismatch",
            SyncError::NotHttps => "sync.not_https",
            SyncError::Tls(_) => "sync.tls",
            SyncError::Server { .. } => "sync.server_error",
            SyncError::Busy { .. } => "sync.server_busy",
            SyncError::Refused { .. } => "sync.refused",
            SyncError::OffsetMismatch(_) => "sync.offset_mismatch",
            SyncError::Protocol(_) => "sync.protocol",
            SyncError::BadReceipt => "sync.bad_receipt",
            SyncError::NotYetDelivered => "sync.not_yet_delivered",
            SyncError::NotEnrolled => "sync.not_enrolled",
            SyncError::DownloadMismatch => "sync.download_mismatch",
            SyncError::DownloadRejected(_) => "sync.download_rejected",
            SyncError::DeviceKeyMissing => "sync.device_key_missing",
            SyncError::Directory(e) => e.code(),
            SyncError::Referral(e) => e.code(),
            SyncError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            SyncError::Directory(e) => e.class(),
            SyncError::Referral(e) => e.class(),
            SyncError::Store(e) => e.class(),
            SyncError::Refused { .. }
            | SyncError::PinMismatch
            | SyncError::NotHttps
            | SyncError::BadReceipt
            | SyncError::DownloadRejected(_)
            | SyncError::NotEnrolled => ErrorClass::Refused,
            _ => ErrorClass::Environment,
        }
    }
}
