//! Signing in: who is acting. Every domain change takes an [`Actor`], and
//! the only way to get one is [`sign_in`], which audits the attempt.
//!
//! Guessing is slowed down per typed name: after [`MAX_FAILURES`] failures
//! within [`FAILURE_WINDOW_SECS`], further attempts for that name are refused
//! without checking the passphrase until [`COOLING_OFF_SECS`] have passed.
//! The count lives in the store, so restarting the app does not reset it;
//! unknown names are counted too, so the refusal reveals nothing about which
//! accounts exist.

use rusqlite::OptionalExtension;
use serde::Serialize;
use time::OffsetDateTime;
use ts_rs::TS;

use crate::audit::{self, AuditAction, AuditActor, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::store::{Store, StoreError};
use crate::users::{self, UserError, UserId};

pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
pub const COOLING_OFF_SECS: i64 = 15 * 60;

/// A signed-in clinician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Actor {
    #[ts(type = "number")]
    user_id: i64,
    name: String,
}

impl Actor {
    pub fn user_id(&self) -> UserId {
        UserId(self.user_id)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn id(&self) -> i64 {
        self.user_id
    }

    pub(crate) fn audit(&self) -> AuditActor<'_> {
        AuditActor {
            user_id: Some(self.user_id),
            name: &self.name,
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(user_id: i64, name: &str) -> Self {
        Actor {
            user_id,
            name: name.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("The name or passphrase is not right.")]
    BadCredentials,
    #[error(
        "Too many wrong passphrases for this name. Signing in is paused for {minutes} more \
         minute(s); wait, or ask a colleague or your IT service desk if you have forgotten it."
    )]
    CoolingOff { minutes: i64 },
    #[error(transparent)]
    User(UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ErrorCode for SessionError {
    fn code(&self) -> &'static str {
        match self {
            SessionError::BadCredentials => "session.bad_credentials",
            SessionError::CoolingOff { .. } => "session.cooling_off",
            SessionError::User(e) => e.code(),
            SessionError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            SessionError::User(e) => e.class(),
            SessionError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

/// Check a name and passphrase and start acting as that clinician.
pub fn sign_in(store: &mut Store, name: &str, passphrase: &str) -> Result<Actor, SessionError> {
    sign_in_at(
        store,
        name,
        passphrase,
        OffsetDateTime::now_utc().unix_timestamp(),
    )
}

pub(crate) fn sign_in_at(
    store: &mut Store,
    name: &str,
    passphrase: &str,
    now: i64,
) -> Result<Actor, SessionError> {
    authenticate(store, name, passphrase, now, AuditAction::SignIn)
}

/// Lock the screen: the session stays, but needs the passphrase to resume.
pub fn lock(store: &mut Store, actor: &Actor) -> Result<(), StoreError> {
    audit::record(
        store,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Lock,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({}),
        },
    )?;
    Ok(())
}

/// Resume a locked session with the same clinician's passphrase. Failures
/// count towards the same pause as sign-in failures.
pub fn unlock(store: &mut Store, actor: &Actor, passphrase: &str) -> Result<(), SessionError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    authenticate(store, &actor.name, passphrase, now, AuditAction::Unlock).map(drop)
}

/// Check a passphrase under the failure limit; on success audit `success`.
fn authenticate(
    store: &mut Store,
    name: &str,
    passphrase: &str,
    now: i64,
    success: AuditAction,
) -> Result<Actor, SessionError> {
    let name = name.trim();
    let throttle: Option<(i64, i64, Option<i64>)> = store
        .conn()
        .query_row(
            "SELECT failures, window_start, locked_until FROM sign_in_throttle WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    if let Some((_, _, Some(until))) = throttle {
        if until > now {
            let minutes = (until - now + 59) / 60;
            audit::record(
                store,
                &failed_entry(name, serde_json::json!({"reason": "cooling_off"})),
            )?;
            return Err(SessionError::CoolingOff { minutes });
        }
    }

    match users::verify(store, name, passphrase) {
        Ok(UserId(user_id)) => {
            let actor = Actor {
                user_id,
                // The account's own spelling, not what was typed.
                name: store
                    .conn()
                    .query_row("SELECT name FROM users WHERE id = ?1", [user_id], |r| {
                        r.get(0)
                    })
                    .map_err(StoreError::from)?,
            };
            let tx = store
                .conn_mut()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            tx.execute("DELETE FROM sign_in_throttle WHERE name = ?1", [name])
                .map_err(StoreError::from)?;
            audit::append(
                &tx,
                &NewEntry {
                    actor: actor.audit(),
                    action: success,
                    patient_id: None,
                    media_id: None,
                    details: serde_json::json!({}),
                },
            )?;
            tx.commit().map_err(StoreError::from)?;
            Ok(actor)
        }
        Err(UserError::BadCredentials) => {
            let (failures, window_start) = match throttle {
                Some((f, start, _)) if now - start < FAILURE_WINDOW_SECS => (f + 1, start),
                _ => (1, now),
            };
            let locked_until = (failures >= MAX_FAILURES).then_some(now + COOLING_OFF_SECS);
            let tx = store
                .conn_mut()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            tx.execute(
                "INSERT INTO sign_in_throttle (name, failures, window_start, locked_until)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET failures = excluded.failures,
                     window_start = excluded.window_start, locked_until = excluded.locked_until",
                rusqlite::params![name, failures, window_start, locked_until],
            )
            .map_err(StoreError::from)?;
            audit::append(
                &tx,
                &failed_entry(
                    name,
                    serde_json::json!({"reason": "bad_credentials", "failures": failures}),
                ),
            )?;
            tx.commit().map_err(StoreError::from)?;
            Err(SessionError::BadCredentials)
        }
        Err(e) => Err(SessionError::User(e)),
    }
}

fn failed_entry(name: &str, details: serde_json::Value) -> NewEntry<'_> {
    NewEntry {
        actor: AuditActor {
            user_id: None,
            name,
        },
        action: AuditAction::SignInFailed,
        patient_id: None,
        media_id: None,
        details,
    }
}

/// End a session (audited).
pub fn sign_out(store: &mut Store, actor: Actor) -> Result<(), StoreError> {
    audit::record(
        store,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::SignOut,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({}),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{count, open_store, MemoryVault};

    const PASS: &str = "correct horse battery staple";

    fn actions(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn()
            .prepare("SELECT action FROM audit_log ORDER BY seq")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn signing_in_is_audited_and_gives_the_account_spelling() {
        let (_dir, mut store) = open_store();
        users::add(&store, "Nurse Jackie", PASS).expect("user");
        let actor = sign_in(&mut store, "  nurse jackie ", PASS).expect("signed in");
        assert_eq!(actor.name(), "Nurse Jackie");
        sign_out(&mut store, actor).expect("signed out");
        assert_eq!(actions(&store), ["user_create", "sign_in", "sign_out"]);
        assert!(audit::verify(&store).expect("verify").is_intact());
    }

    #[test]
    fn a_wrong_passphrase_is_refused_and_audited_without_revealing_accounts() {
        let (_dir, mut store) = open_store();
        users::add(&store, "Nurse Jackie", PASS).expect("user");
        let wrong = sign_in(&mut store, "Nurse Jackie", "not the passphrase").expect_err("wrong");
        let unknown = sign_in(&mut store, "Nobody", PASS).expect_err("unknown");
        assert_eq!(wrong.code(), "session.bad_credentials");
        assert_eq!(wrong.to_string(), unknown.to_string());
        assert_eq!(
            actions(&store),
            ["user_create", "sign_in_failed", "sign_in_failed"]
        );
        let details: String = store
            .conn()
            .query_row("SELECT group_concat(details) FROM audit_log", [], |r| {
                r.get(0)
            })
            .expect("details");
        assert!(!details.contains("not the passphrase"));
    }

    #[test]
    fn five_failures_pause_signing_in_even_with_the_right_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = MemoryVault::default();
        let mut store = Store::create(dir.path(), &vault).expect("create");
        users::add(&store, "Nurse Jackie", PASS).expect("user");
        let t0 = 1_800_000_000;
        for i in 0..MAX_FAILURES {
            let e = sign_in_at(&mut store, "Nurse Jackie", "wrong passphrase", t0 + i * 60)
                .expect_err("wrong");
            assert_eq!(e.code(), "session.bad_credentials");
        }
        let e = sign_in_at(&mut store, "nurse jackie", PASS, t0 + 5 * 60).expect_err("paused");
        assert_eq!(e.code(), "session.cooling_off");
        // Fifth failure at t0 + 240 s, paused until t0 + 1140 s: 840 s left.
        assert!(
            e.to_string().contains("paused for 14 more minute(s)"),
            "{e}"
        );
        // Kept in the store: after a restart it is still paused.
        drop(store);
        let mut store = Store::open(dir.path(), &vault).expect("reopen");
        let e = sign_in_at(&mut store, "Nurse Jackie", PASS, t0 + 1139).expect_err("paused");
        assert_eq!(e.code(), "session.cooling_off");
        // Afterwards the right passphrase works and the count starts afresh.
        sign_in_at(&mut store, "Nurse Jackie", PASS, t0 + 1140).expect("cooled off");
        assert_eq!(
            actions(&store)
                .iter()
                .filter(|a| *a == "sign_in_failed")
                .count(),
            7
        );
        assert_eq!(count(&store, "sign_in_throttle"), 0);
    }

    #[test]
    fn locking_and_unlocking_are_audited_and_a_wrong_passphrase_counts() {
        let (_dir, mut store) = open_store();
        users::add(&store, "Nurse Jackie", PASS).expect("user");
        let actor = sign_in(&mut store, "Nurse Jackie", PASS).expect("signed in");
        lock(&mut store, &actor).expect("locked");
        let e = unlock(&mut store, &actor, "wrong passphrase").expect_err("wrong");
        assert_eq!(e.code(), "session.bad_credentials");
        unlock(&mut store, &actor, PASS).expect("unlocked");
        assert_eq!(
            actions(&store),
            ["user_create", "sign_in", "lock", "sign_in_failed", "unlock"]
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_add_up() {
        let (_dir, mut store) = open_store();
        users::add(&store, "Nurse Jackie", PASS).expect("user");
        let t0 = 1_800_000_000;
        for i in 0..(MAX_FAILURES * 2) {
            let _ = sign_in_at(
                &mut store,
                "Nurse Jackie",
                "wrong passphrase",
                t0 + i * (FAILURE_WINDOW_SECS / 4 + 1),
            );
        }
        sign_in_at(&mut store, "Nurse Jackie", PASS, t0 + 100_000).expect("not paused");
    }
}
