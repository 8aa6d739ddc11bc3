//! What a sync pass tells the screen as it goes: one event per change, per
//! referral, with the bytes sent so far for it and for the whole pass.

use serde::Serialize;
use ts_rs::TS;

/// Where one referral is within the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ProgressState {
    /// Passed the gate; about to be sent.
    Starting,
    /// Bytes are going up.
    Uploading,
    Delivered,
    /// Network trouble: still queued, tried next time.
    Waiting,
    /// Refused by the server.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SyncProgress {
    pub referral_id: String,
    pub state: ProgressState,
    /// This referral's bytes the server holds.
    #[ts(type = "number")]
    pub bytes_sent: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
    /// The same over every referral sent in this pass.
    #[ts(type = "number")]
    pub overall_sent: u64,
    #[ts(type = "number")]
    pub overall_total: u64,
}

/// The observer a pass reports to. `Send + Sync` so the pass can run as a
/// background task.
pub type Observer<'a> = &'a (dyn Fn(SyncProgress) + Send + Sync);

/// An observer that ignores everything (scripts, tests).
pub fn quiet(_: SyncProgress) {}

/// Keeps the running totals and emits events.
pub(crate) struct Tracker<'a> {
    observer: Observer<'a>,
    overall_sent: u64,
    overall_total: u64,
}

impl<'a> Tracker<'a> {
    pub fn new(observer: Observer<'a>, overall_total: u64) -> Self {
        Tracker {
            observer,
            overall_sent: 0,
            overall_total,
        }
    }

    /// A referral counted in the total will not be sent in this pass
    /// (blocked by the gate).
    pub fn leave_out(&mut self, bytes: u64) {
        self.overall_total = self.overall_total.saturating_sub(bytes);
    }

    /// Report `referral` at `sent` of `total`, having gained `delta` bytes
    /// since the last event.
    pub fn emit(
        &mut self,
        referral: &str,
        state: ProgressState,
        sent: u64,
        total: u64,
        delta: u64,
    ) {
        self.overall_sent = (self.overall_sent + delta).min(self.overall_total);
        (self.observer)(SyncProgress {
            referral_id: referral.to_owned(),
            state,
            bytes_sent: sent,
            bytes_total: total,
            overall_sent: self.overall_sent,
            overall_total: self.overall_total,
        });
    }
}
