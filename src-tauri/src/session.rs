//! Who is signed in, and whether the app is locked. The rules (passphrase
//! checks, throttling, auditing) are in `clinshare_core::session`; this is
//! only the desktop's memory of the current session and its idle timer.

use std::time::{Duration, Instant};

use clinshare_core::session::{self, Actor};
use clinshare_core::{settings, IpcError, Store};
use serde::Serialize;
use ts_rs::TS;
use zeroize::Zeroizing;

#[derive(Default)]
pub struct Session {
    actor: Option<Actor>,
    locked: bool,
    last_activity: Option<Instant>,
    idle: Duration,
    /// The passphrase the clinician signed in with, which is also their
    /// password on the approved server: the outbox goes out in the
    /// background without asking again. Held in memory only, wiped on
    /// sign-out.
    server_password: Option<Zeroizing<String>>,
}

/// What the screens need to know about the session.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionState {
    SignedOut,
    SignedIn {
        user: String,
        idle_lock_minutes: u32,
    },
    Locked {
        user: String,
    },
}

pub fn signed_out() -> IpcError {
    IpcError {
        code: "session.signed_out".into(),
        message: "Sign in to carry on.".into(),
    }
}

fn locked() -> IpcError {
    IpcError {
        code: "session.locked".into(),
        message: "ClinShare is locked. Enter your passphrase to carry on.".into(),
    }
}

impl Session {
    pub fn state(&self, store: Option<&Store>) -> SessionState {
        match &self.actor {
            None => SessionState::SignedOut,
            Some(a) if self.locked => SessionState::Locked {
                user: a.name().to_owned(),
            },
            Some(a) => SessionState::SignedIn {
                user: a.name().to_owned(),
                idle_lock_minutes: store
                    .and_then(|s| settings::idle_lock_minutes(s).ok())
                    .unwrap_or(settings::DEFAULT_IDLE_LOCK_MINUTES),
            },
        }
    }

    pub fn signed_in(&mut self, store: &Store, actor: Actor, passphrase: &str) {
        self.actor = Some(actor);
        self.locked = false;
        self.server_password = Some(Zeroizing::new(passphrase.to_owned()));
        self.refresh_idle(store);
    }

    /// Who the background sync acts as, and their server password. Sync
    /// carries on while the screen is locked: it shows nothing, and the
    /// referrals it sends were confirmed before.
    pub fn sync_credentials(&self) -> Option<(Actor, Zeroizing<String>)> {
        Some((self.actor.clone()?, self.server_password.clone()?))
    }

    /// Re-read the idle lock setting (after sign-in or a settings change).
    pub fn refresh_idle(&mut self, store: &Store) {
        let minutes =
            settings::idle_lock_minutes(store).unwrap_or(settings::DEFAULT_IDLE_LOCK_MINUTES);
        self.idle = Duration::from_secs(u64::from(minutes) * 60);
        self.last_activity = Some(Instant::now());
    }

    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    pub fn take_actor(&mut self) -> Option<Actor> {
        self.locked = false;
        self.server_password = None;
        self.actor.take()
    }

    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Lock now (audited); nothing to do when already locked or signed out.
    pub fn lock(&mut self, store: &mut Store) -> Result<(), IpcError> {
        match &self.actor {
            Some(actor) if !self.locked => {
                session::lock(store, actor).map_err(|e| IpcError::from(&e))?;
                self.locked = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn unlocked(&mut self) {
        self.locked = false;
        self.last_activity = Some(Instant::now());
    }

    /// The clinician, if signed in and unlocked; locks first if the app
    /// has been idle too long. Counts as activity.
    pub fn active_actor(&mut self, store: &mut Store) -> Result<Actor, IpcError> {
        let actor = self.actor.clone().ok_or_else(signed_out)?;
        if self.locked {
            return Err(locked());
        }
        if self
            .last_activity
            .is_some_and(|t| t.elapsed() > self.idle && !self.idle.is_zero())
        {
            self.lock(store)?;
            return Err(locked());
        }
        self.last_activity = Some(Instant::now());
        Ok(actor)
    }
}
