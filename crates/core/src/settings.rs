//! Store-wide settings, each change audited.

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::session::Actor;
use crate::store::{Store, StoreError};

const IDLE_LOCK_SETTING: &str = "idle_lock_minutes";
/// Lock after this long without input unless settings say otherwise.
pub const DEFAULT_IDLE_LOCK_MINUTES: u32 = 5;
/// Bounds for the idle lock: at least a minute; at most an hour, as a
/// laptop left open in a patient's home must not stay unlocked for long.
pub const IDLE_LOCK_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

const RETENTION_SETTING: &str = "retention_days";
/// Days a sent photo stays on the laptop after the server's signed receipt.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// 0 purges at the end of the pass that delivered it; a year at most, as
/// the laptop is not the record.
pub const RETENTION_RANGE: std::ops::RangeInclusive<u32> = 0..=365;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "The idle lock must be between {} and {} minutes.",
        IDLE_LOCK_RANGE.start(),
        IDLE_LOCK_RANGE.end()
    )]
    IdleLockOutOfRange,
    #[error(
        "Sent photos can be kept between {} and {} days.",
        RETENTION_RANGE.start(),
        RETENTION_RANGE.end()
    )]
    RetentionOutOfRange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SettingsError {
    fn from(e: rusqlite::Error) -> Self {
        SettingsError::Store(e.into())
    }
}

impl ErrorCode for SettingsError {
    fn code(&self) -> &'static str {
        match self {
            SettingsError::IdleLockOutOfRange => "settings.idle_lock_out_of_range",
            SettingsError::RetentionOutOfRange => "settings.retention_out_of_range",
            SettingsError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            SettingsError::Store(e) => e.class(),
            SettingsError::IdleLockOutOfRange | SettingsError::RetentionOutOfRange => {
                ErrorClass::Refused
            }
        }
    }
}

/// The settings the app shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Settings {
    pub idle_lock_minutes: u32,
    pub local_number_pattern: Option<String>,
    /// Days a sent photo stays on the laptop after its signed receipt.
    pub retention_days: u32,
}

pub fn get(store: &Store) -> Result<Settings, StoreError> {
    Ok(Settings {
        idle_lock_minutes: idle_lock_minutes(store)?,
        local_number_pattern: read(store, crate::patients::LOCAL_PATTERN_SETTING)?,
        retention_days: retention_days(store)?,
    })
}

/// Minutes without input before the app locks itself.
pub fn idle_lock_minutes(store: &Store) -> Result<u32, StoreError> {
    Ok(read(store, IDLE_LOCK_SETTING)?
        .and_then(|v| v.parse().ok())
        .filter(|m| IDLE_LOCK_RANGE.contains(m))
        .unwrap_or(DEFAULT_IDLE_LOCK_MINUTES))
}

pub fn set_idle_lock_minutes(
    store: &mut Store,
    actor: &Actor,
    minutes: u32,
) -> Result<(), SettingsError> {
    if !IDLE_LOCK_RANGE.contains(&minutes) {
        return Err(SettingsError::IdleLockOutOfRange);
    }
    Ok(write(
        store,
        actor,
        IDLE_LOCK_SETTING,
        &minutes.to_string(),
    )?)
}

/// Days a sent photo's bytes stay on the laptop after its receipt.
pub fn retention_days(store: &Store) -> Result<u32, StoreError> {
    Ok(read(store, RETENTION_SETTING)?
        .and_then(|v| v.parse().ok())
        .filter(|d| RETENTION_RANGE.contains(d))
        .unwrap_or(DEFAULT_RETENTION_DAYS))
}

pub fn set_retention_days(
    store: &mut Store,
    actor: &Actor,
    days: u32,
) -> Result<(), SettingsError> {
    if !RETENTION_RANGE.contains(&days) {
        return Err(SettingsError::RetentionOutOfRange);
    }
    Ok(write(store, actor, RETENTION_SETTING, &days.to_string())?)
}

pub(crate) fn read(store: &Store, key: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .conn()
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Set one value and audit the change, in one transaction. Values are
/// configuration, never patient data, so the audit entry holds them.
pub(crate) fn write(
    store: &mut Store,
    actor: &Actor,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value,
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        rusqlite::params![key, value, crate::clock::now_rfc3339(), actor.id()],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::SettingsChange,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({"key": key, "value": value}),
        },
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{actor, open_store};

    #[test]
    fn idle_lock_defaults_to_five_minutes_and_can_be_changed_within_bounds() {
        let (_dir, mut store) = open_store();
        let nurse = actor(&store, "Nurse");
        assert_eq!(idle_lock_minutes(&store).expect("read"), 5);
        for bad in [0, 61] {
            let refused = set_idle_lock_minutes(&mut store, &nurse, bad);
            assert!(matches!(refused, Err(SettingsError::IdleLockOutOfRange)));
            assert_eq!(
                refused.err().map(|e| e.code()),
                Some("settings.idle_lock_out_of_range")
            );
        }
        assert_eq!(
            idle_lock_minutes(&store).expect("read"),
            5,
            "nothing changed"
        );
        set_idle_lock_minutes(&mut store, &nurse, 2).expect("set");
        assert_eq!(get(&store).expect("read").idle_lock_minutes, 2);
        let audited: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'settings_change'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(audited, 1);
    }

    #[test]
    fn retention_defaults_to_seven_days_allows_zero_and_each_change_is_audited() {
        let (_dir, mut store) = open_store();
        let nurse = actor(&store, "Nurse");
        assert_eq!(retention_days(&store).expect("read"), 7);
        let refused = set_retention_days(&mut store, &nurse, 366);
        assert_eq!(
            refused.err().map(|e| e.code()),
            Some("settings.retention_out_of_range")
        );
        assert_eq!(retention_days(&store).expect("read"), 7, "nothing changed");
        set_retention_days(&mut store, &nurse, 0).expect("zero");
        assert_eq!(retention_days(&store).expect("read"), 0);
        set_retention_days(&mut store, &nurse, 30).expect("thirty");
        let audited: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'settings_change' \
                 AND details LIKE '%retention_days%'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(audited, 2);
    }
}
