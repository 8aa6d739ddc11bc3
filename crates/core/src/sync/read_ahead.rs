//! The gate for the next referrals runs on threads of their own, each on
//! its own connection to the store, while the current one uploads: reading
//! and checking photos (decrypting the store, hashing, the metadata check)
//! costs more CPU than sending them, and the two overlap.
//!
//! Memory stays bounded: the photos read ahead and not yet sent total at
//! most [`READ_AHEAD_BYTES`] (a single referral larger than that is read
//! alone).

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::referrals::{self, GateOutcome, ReferralError};
use crate::session::Actor;
use crate::store::Store;

/// Photos held in memory, read and not yet sent: about three referrals of
/// ten 4 MB photos, so two can be read while another uploads.
pub(super) const READ_AHEAD_BYTES: u64 = 128 * 1024 * 1024;
/// Threads running the gate: decrypting and checking is the larger part of
/// the laptop's work in a pass, so on two cores two of them keep up.
const READERS: usize = 2;

/// A referral the gate has just been run on, its outcome recorded.
pub(super) struct Gated {
    pub id: String,
    /// Its photos' total size.
    pub size: u64,
    pub outcome: GateOutcome,
    /// The photos' bytes, in the manifest's order (empty when blocked).
    pub files: Vec<Bytes>,
}

/// Bytes read ahead and not yet sent; closed when the pass stops early.
#[derive(Default)]
pub(super) struct Budget {
    state: Mutex<(u64, bool)>,
    freed: Condvar,
}

impl Budget {
    /// Waits until `size` more bytes fit (or nothing is held); false once
    /// the pass has stopped listening.
    fn take(&self, size: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !s.1 && s.0 > 0 && s.0 + size > READ_AHEAD_BYTES {
            s = self.freed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.1 {
            return false;
        }
        s.0 += size;
        true
    }

    fn give_back(&self, size: u64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = s.0.saturating_sub(size);
        self.freed.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.freed.notify_all();
    }

    /// A clear referral's photos are no longer held (sent, or left for
    /// next time).
    pub fn done_with(&self, gated: &Gated) {
        if matches!(gated.outcome, GateOutcome::Clear(_)) {
            self.give_back(gated.size);
        }
    }
}

/// The sending side: referrals as the gate passes them (oldest first,
/// give or take one).
/// Dropping it stops the reader.
pub(super) struct ReadAhead {
    rx: mpsc::Receiver<Result<Gated, ReferralError>>,
    budget: Arc<Budget>,
}

impl ReadAhead {
    /// Starts gating `outbox` (ids and sizes, oldest first) on
    /// [`READERS`] threads, each with its own connection to `store`. Photos
    /// an older release cleaned are cleaned again there, audited as
    /// `actor`'s ([`referrals::gate_for_sending`]).
    pub fn start(
        store: &Store,
        actor: &Actor,
        outbox: Vec<(String, u64)>,
        today: time::Date,
    ) -> Result<ReadAhead, ReferralError> {
        let budget = Arc::new(Budget::default());
        let queue = Arc::new(Mutex::new(outbox.into_iter()));
        let (tx, rx) = mpsc::channel(4);
        let readers = READERS.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
        for n in 0..readers {
            let mut own = store.another_connection()?;
            let (budget, queue, tx) = (Arc::clone(&budget), Arc::clone(&queue), tx.clone());
            let actor = actor.clone();
            std::thread::Builder::new()
                .name(format!("outbox-gate-{n}"))
                .spawn(move || loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some((id, size)) = next else { return };
                    if !budget.take(size) {
                        return;
                    }
                    let gated = referrals::gate_for_sending(&mut own, &actor, &id, today).map(
                        |(outcome, files)| {
                            if matches!(outcome, GateOutcome::Blocked(_)) {
                                budget.give_back(size);
                            }
                            Gated {
                                id,
                                size,
                                outcome,
                                files: files.into_iter().map(Bytes::from).collect(),
                            }
                        },
                    );
                    let failed = gated.is_err();
                    if tx.blocking_send(gated).is_err() || failed {
                        return;
                    }
                })
                .map_err(|source| {
                    ReferralError::Store(crate::store::StoreError::Io {
                        location: store.location().to_owned(),
                        source,
                    })
                })?;
        }
        Ok(ReadAhead { rx, budget })
    }

    /// The next gated referral; `None` when the outbox is done.
    pub async fn next(&mut self) -> Option<Result<Gated, ReferralError>> {
        self.rx.recv().await
    }

    /// The memory budget, to give room back without holding the receiver.
    pub fn budget(&self) -> Arc<Budget> {
        Arc::clone(&self.budget)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.budget.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_reader_waits_for_room_and_stops_when_the_pass_does() {
        let budget = Arc::new(Budget::default());
        // Nothing held: even a referral larger than the budget is read.
        assert!(budget.take(READ_AHEAD_BYTES + 1));
        budget.give_back(READ_AHEAD_BYTES + 1);
        assert!(budget.take(READ_AHEAD_BYTES / 2));
        assert!(budget.take(READ_AHEAD_BYTES / 2));
        // Full: the next read waits until something is sent...
        let waiting = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(10))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiting.is_finished(), "no room yet");
        budget.give_back(READ_AHEAD_BYTES / 2);
        assert!(waiting.join().expect("reader"), "room made");
        // ...and gives up once the pass stops listening.
        assert!(budget.take(READ_AHEAD_BYTES / 2 - 10));
        let stopped = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(10))
        };
        std::thread::sleep(Duration::from_millis(50));
        budget.close();
        assert!(!stopped.join().expect("reader"), "stops");
    }
}
