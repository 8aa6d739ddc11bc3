//! Sending the outbox in the background. A worker thread with its own store
//! connection and network runtime runs one pass when woken (a referral was
//! queued, the nurse pressed "Send now", the laptop enrolled) and every
//! minute while a clinician is signed in. The window's connection is never
//! held across the network, so the screens stay responsive while photos go.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use clinshare_core::session::Actor;
use clinshare_core::sync::{self, SyncProgress, SyncReport};
use clinshare_core::{enrolment, patients, IpcError, Store};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager};
use ts_rs::TS;
use zeroize::Zeroizing;

use crate::AppState;

/// The event the window listens to for the outbox's progress.
pub const EVENT: &str = "sync-status";
const EVERY: Duration = Duration::from_secs(60);

/// What the outbox screen shows about sending.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct SyncStatus {
    /// A pass is running now.
    pub running: bool,
    /// When the last pass ended (RFC 3339).
    pub last_pass_at: Option<String>,
    /// What the last pass did, when it reached the server.
    pub last_report: Option<SyncReport>,
    /// Why the last pass could not run (offline, pin mismatch, ...).
    pub error: Option<IpcError>,
    /// The referrals of the running (or last) pass, as far as they got.
    pub progress: Vec<SyncProgress>,
}

#[derive(Default)]
pub struct SyncWorker {
    wake: Mutex<Option<mpsc::Sender<()>>>,
    status: Arc<Mutex<SyncStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SyncWorker {
    pub fn status(&self) -> SyncStatus {
        lock(&self.status).clone()
    }

    /// Run a pass soon. Passes never overlap: wake-ups during one are
    /// folded into the next.
    pub fn wake(&self) {
        if let Some(tx) = lock(&self.wake).as_ref() {
            let _ = tx.send(());
        }
    }

    /// Start the worker thread (once, when the window is set up).
    pub fn start(&self, app: AppHandle) {
        let (tx, rx) = mpsc::channel::<()>();
        *lock(&self.wake) = Some(tx);
        let status = Arc::clone(&self.status);
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        lock(&status).error = Some(IpcError {
                            code: "sync.runtime".into(),
                            message: format!("Sending could not start ({e})."),
                        });
                        return;
                    }
                };
                loop {
                    match rx.recv_timeout(EVERY) {
                        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    while rx.try_recv().is_ok() {}
                    pass(&app, &runtime, &status);
                }
            })
            .expect("the outbox thread could not be started");
    }
}

fn publish(app: &AppHandle, status: &Mutex<SyncStatus>, change: impl FnOnce(&mut SyncStatus)) {
    let snapshot = {
        let mut s = lock(status);
        change(&mut s);
        s.clone()
    };
    let _ = app.emit(EVENT, snapshot);
}

/// One pass, if someone is signed in and the laptop is enrolled.
fn pass(app: &AppHandle, runtime: &tokio::runtime::Runtime, status: &Mutex<SyncStatus>) {
    let state = app.state::<AppState>();
    let Some((actor, password)) = state.session().sync_credentials() else {
        return;
    };
    let mut store = match Store::open(&state.data_dir, &state.vault) {
        Ok(store) => store,
        Err(e) => {
            publish(app, status, |s| s.error = Some(IpcError::from(&e)));
            return;
        }
    };
    if !matches!(enrolment::get(&store), Ok(Some(_))) {
        return;
    }
    publish(app, status, |s| {
        s.running = true;
        s.progress.clear();
    });
    let observer = |p: SyncProgress| {
        // Each chunk is an event; the screen redraws the bars from them.
        publish(app, status, |s| {
            match s
                .progress
                .iter_mut()
                .find(|q| q.referral_id == p.referral_id)
            {
                Some(q) => *q = p,
                None => s.progress.push(p),
            }
        })
    };
    let outcome = runtime.block_on(send(&mut store, &state, &actor, &password, &observer));
    publish(app, status, |s| {
        s.running = false;
        s.last_pass_at = Some(clinshare_core::clock::now_rfc3339());
        match outcome {
            Ok(report) => {
                s.last_report = Some(report);
                s.error = None;
            }
            Err(e) => s.error = Some(e),
        }
    });
}

async fn send(
    store: &mut Store,
    state: &AppState,
    actor: &Actor,
    password: &Zeroizing<String>,
    observer: &(dyn Fn(SyncProgress) + Send + Sync),
) -> Result<SyncReport, IpcError> {
    let client = sync::connect(store, &state.vault, actor.name(), password)
        .await
        .map_err(|e| IpcError::from(&e))?;
    sync::sync_pass(store, &client, actor, patients::today(), observer)
        .await
        .map_err(|e| IpcError::from(&e))
}
