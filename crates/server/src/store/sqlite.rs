//! The embedded backend: one SQLite file (through the workspace's
//! SQLCipher build, unkeyed, which is plain SQLite) on a single connection.
//! Calls run on the blocking pool so the async workers never wait on disk.
//!
//! Calls are committed in groups: whoever holds the connection runs every
//! call queued meanwhile in one transaction, each in its own savepoint (a
//! call that fails undoes only its own writes), and answers them all after
//! the one commit. Each commit waits for the disk (`synchronous = FULL`),
//! so under load one fsync covers many calls instead of each paying its
//! own; no call is answered before its writes are durable.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use clinshare_protocol::admin::Role;
use clinshare_protocol::referral::{ReferralManifest, ReferralState};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::{
    AuditRecord, Device, DirectorySnapshot, MediaRow, NewReferral, Organisation, PacsJob,
    PacsJobKind, PacsOutcome, Referral, Store, StoreError, StoreResult, Team, User,
};
use crate::audit::{entry_hash, GENESIS_HASH};

/// Migrations, in order; each runs once, in a transaction with its ledger row.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "pacs_jobs",
        include_str!("../../migrations/sqlite/0002_pacs_jobs.sql"),
    ),
    (
        3,
        "team_file_limit",
        include_str!("../../migrations/sqlite/0003_team_file_limit.sql"),
    ),
    (
        4,
        "user_role",
        include_str!("../../migrations/sqlite/0004_user_role.sql"),
    ),
    (
        5,
        "organisations",
        include_str!("../../migrations/sqlite/0005_organisations.sql"),
    ),
    (
        6,
        "audit_patient",
        include_str!("../../migrations/sqlite/0006_audit_patient.sql"),
    ),
    (
        7,
        "erase_withdrawn",
        include_str!("../../migrations/sqlite/0007_erase_withdrawn.sql"),
    ),
];

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    queue: Arc<Mutex<VecDeque<Box<dyn Call>>>>,
}

/// A queued store call: run inside the group's transaction, then answered
/// with the outcome of the group's commit.
trait Call: Send {
    fn run(&mut self, c: &mut Connection);
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    f: Option<F>,
    result: Option<StoreResult<T>>,
    reply: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Call for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, c: &mut Connection) {
        let Some(f) = self.f.take() else { return };
        self.result = Some(in_savepoint(c, f));
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self
                .result
                .unwrap_or_else(|| Err(StoreError::Database("the call did not run".into()))),
            Err(e) => Err(StoreError::Database(e)),
        };
        // The caller may have gone (request cancelled): nothing to tell.
        let _ = self.reply.send(result);
    }
}

/// Runs `f` in a savepoint of the open transaction: released if it
/// succeeds, rolled back if it fails, so a failed call leaves nothing.
fn in_savepoint<T>(
    c: &mut Connection,
    f: impl FnOnce(&mut Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    c.execute_batch("SAVEPOINT call")?;
    let result = f(c);
    let end = if result.is_ok() {
        "RELEASE call"
    } else {
        "ROLLBACK TO call; RELEASE call"
    };
    c.execute_batch(end)?;
    result
}

/// Runs every queued call in one transaction and answers them after its
/// commit. Should the transaction end early (SQLite rolls back the whole
/// transaction on some errors, such as a full disk), every call of the
/// group is answered with an error, since none of their writes stand.
fn run_group(c: &mut Connection, mut calls: Vec<Box<dyn Call>>) {
    let committed = (|| {
        c.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string())?;
        for call in &mut calls {
            if c.is_autocommit() {
                break;
            }
            call.run(c);
        }
        if c.is_autocommit() {
            return Err("the database rolled the transaction back".to_owned());
        }
        c.execute_batch("COMMIT").map_err(|e| {
            let _ = c.execute_batch("ROLLBACK");
            e.to_string()
        })
    })();
    for call in calls {
        call.answer(committed.clone());
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies migrations.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;
             PRAGMA temp_store = MEMORY;",
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            queue: Arc::new(Mutex::new(VecDeque::new())),
        })
    }

    /// Queues `f` and takes a turn at the connection: whichever turn comes
    /// first after the call was queued runs it, with all others waiting.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(Box::new(Pending {
                f: Some(f),
                result: None,
                reply,
            }));
        let (conn, queue) = (Arc::clone(&self.conn), Arc::clone(&self.queue));
        let turn = tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| StoreError::Database("connection lock poisoned".into()))?;
            let calls: Vec<_> = queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain(..)
                .collect();
            if !calls.is_empty() {
                run_group(&mut c, calls);
            }
            Ok::<_, StoreError>(())
        })
        .await;
        match turn {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(StoreError::Database(e.to_string())),
        }
        answer
            .await
            .map_err(|_| StoreError::Database("the store call was dropped".into()))?
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let newest: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if newest > known {
        return Err(StoreError::Corrupt(format!(
            "database schema {newest} is newer than this server ({known}); refusing to touch it"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > newest) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, crate::clock::now()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn organisation_row(r: &Row<'_>) -> rusqlite::Result<Organisation> {
    Ok(Organisation {
        id: r.get(0)?,
        name: r.get(1)?,
        ods_code: r.get(2)?,
    })
}

fn team_row(r: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: r.get(0)?,
        name: r.get(1)?,
        organisation: r.get(2)?,
        accepts_referrals: r.get(3)?,
        max_file_bytes: r.get(4)?,
    })
}

/// A role the database holds; anything unknown gets the least.
pub(crate) fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Clinician)
}

fn load_user(conn: &Connection, where_sql: &str, key: &str) -> StoreResult<Option<User>> {
    let sql =
        format!("SELECT id, name, password_hash, disabled, role FROM users WHERE {where_sql}");
    let user = conn
        .query_row(&sql, [key], |r| {
            Ok(User {
                id: r.get(0)?,
                name: r.get(1)?,
                password_hash: r.get(2)?,
                disabled: r.get(3)?,
                role: role_of(&r.get::<_, String>(4)?),
                team_ids: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut user) = user else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare("SELECT team_id FROM memberships WHERE user_id = ?1 ORDER BY team_id")?;
    user.team_ids = stmt
        .query_map([&user.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Some(user))
}

fn device_row(r: &Row<'_>) -> rusqlite::Result<Device> {
    let key: Vec<u8> = r.get(2)?;
    let mut public_key = [0u8; 32];
    if key.len() == 32 {
        public_key.copy_from_slice(&key);
    }
    Ok(Device {
        id: r.get(0)?,
        name: r.get(1)?,
        public_key,
        enrolled_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

pub(crate) fn state_from_code(s: &str) -> StoreResult<ReferralState> {
    match s {
        "uploading" => Ok(ReferralState::Uploading),
        "delivered" => Ok(ReferralState::Delivered),
        "acknowledged" => Ok(ReferralState::Acknowledged),
        other => Err(StoreError::Corrupt(format!(
            "unknown referral state {other}"
        ))),
    }
}

const REFERRAL_COLUMNS: &str = "id, sender_user_id, sender_device_id, recipient_team_id, \
     idempotency_key, manifest_json, manifest_sha256, state, created_at, delivered_at, \
     acknowledged_at, acknowledged_by, consent_withdrawn_at, receipt_json";

/// `Store::audit_about`, for both backends (`$1` is the patient).
pub(crate) const AUDIT_ABOUT: &str = "SELECT at, actor, device, action, object, outcome, patient
     FROM audit_log
     WHERE patient = $1
        OR (object <> '-' AND object IN (SELECT object FROM audit_log WHERE patient = $1))
     ORDER BY seq";

fn manifest_json(m: &ReferralManifest) -> StoreResult<String> {
    serde_json::to_string(m).map_err(|e| StoreError::Database(e.to_string()))
}

fn load_referral(conn: &Connection, id: &str) -> StoreResult<Option<Referral>> {
    let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = ?1");
    let row = conn.query_row(&sql, [id], referral_parts).optional()?;
    row.map(|parts| finish_referral(conn, parts)).transpose()
}

type Parts = (Referral, String, String);

fn referral_parts(r: &Row<'_>) -> rusqlite::Result<Parts> {
    let manifest_json: String = r.get(5)?;
    let state: String = r.get(7)?;
    Ok((
        Referral {
            id: r.get(0)?,
            sender_user_id: r.get(1)?,
            sender_device_id: r.get(2)?,
            recipient_team_id: r.get(3)?,
            idempotency_key: r.get(4)?,
            manifest: placeholder_manifest(),
            manifest_sha256: r.get(6)?,
            state: ReferralState::Uploading,
            created_at: r.get(8)?,
            delivered_at: r.get(9)?,
            acknowledged_at: r.get(10)?,
            acknowledged_by: r.get(11)?,
            consent_withdrawn_at: r.get(12)?,
            receipt_json: r.get(13)?,
            media: Vec::new(),
        },
        manifest_json,
        state,
    ))
}

fn placeholder_manifest() -> ReferralManifest {
    use clinshare_protocol::consent::{ConsentLevel, GivenBy};
    use clinshare_protocol::identifier::IdentifierKind;
    use clinshare_protocol::referral::{ConsentSummary, PatientRef, Urgency};
    ReferralManifest {
        protocol_version: 0,
        idempotency_key: String::new(),
        patient: PatientRef {
            kind: IdentifierKind::Nhs,
            value: String::new(),
            family_name: None,
            given_name: None,
            date_of_birth: None,
        },
        recipient_team: String::new(),
        consent: ConsentSummary {
            level: ConsentLevel::Record,
            given_by: GivenBy::Patient,
            recorded_by: String::new(),
            recorded_at: String::new(),
            recipient_team: None,
            withdrawn: false,
        },
        clinical_question: String::new(),
        urgency: Urgency::Routine,
        media: Vec::new(),
    }
}

fn finish_referral(
    conn: &Connection,
    (mut r, manifest_json, state): Parts,
) -> StoreResult<Referral> {
    r.manifest = serde_json::from_str(&manifest_json)
        .map_err(|e| StoreError::Corrupt(format!("referral manifest: {e}")))?;
    r.state = state_from_code(&state)?;
    let mut stmt = conn.prepare(
        "SELECT sha256, size, verified FROM referral_media WHERE referral_id = ?1 ORDER BY position",
    )?;
    r.media = stmt
        .query_map([&r.id], |row| {
            Ok(MediaRow {
                sha256: row.get(0)?,
                size: row.get::<_, i64>(1)?.max(0) as u64,
                verified: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(r)
}

pub(crate) const PACS_JOB_COLUMNS: &str = "referral_id, target, kind, state, attempts, \
     next_attempt_at, last_error, created_at, finished_at";

fn pacs_job_row(r: &Row<'_>) -> rusqlite::Result<PacsJob> {
    let kind: String = r.get(2)?;
    let kind = PacsJobKind::from_code(&kind).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(PacsJob {
        referral_id: r.get(0)?,
        target: r.get(1)?,
        kind,
        state: r.get(3)?,
        attempts: r.get(4)?,
        next_attempt_at: r.get(5)?,
        last_error: r.get(6)?,
        created_at: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

/// State, next attempt, error code and finish time for an outcome.
pub(crate) fn outcome_columns(
    outcome: PacsOutcome,
    now: i64,
) -> (&'static str, Option<i64>, Option<String>, Option<i64>) {
    match outcome {
        PacsOutcome::Done => ("done", None, None, Some(now)),
        PacsOutcome::Retry { at, error } => ("queued", Some(at), Some(error), None),
        PacsOutcome::Failed { error } => ("failed", None, Some(error), Some(now)),
        PacsOutcome::Cancelled => ("cancelled", None, None, Some(now)),
    }
}

fn bump_directory(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE directory_version SET version = version + 1 WHERE id = 1",
        [],
    )
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_organisation(&self, org: Organisation) -> StoreResult<()> {
        self.with(move |c| {
            match c.execute(
                "INSERT INTO organisations (id, name, ods_code) VALUES (?1, ?2, ?3)",
                params![org.id, org.name, org.ods_code],
            ) {
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
                r => r.map(|_| ()).map_err(Into::into),
            }
        })
        .await
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT id, name, ods_code FROM organisations ORDER BY lower(name)")?;
            let orgs = stmt
                .query_map([], organisation_row)?
                .collect::<Result<_, _>>()?;
            Ok(orgs)
        })
        .await
    }

    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>> {
        let name = name.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT id, name, ods_code FROM organisations WHERE lower(name) = lower(?1)",
                [name],
                organisation_row,
            )
            .optional()?)
        })
        .await
    }

    async fn create_team(&self, team: Team) -> StoreResult<()> {
        self.with(move |c| {
            let tx = c.savepoint()?;
            match tx.execute(
                "INSERT INTO teams (id, name, organisation, accepts_referrals, max_file_bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![team.id, team.name, team.organisation, team.accepts_referrals, team.max_file_bytes],
            ) {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
                r => r?,
            };
            bump_directory(&tx)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn teams(&self) -> StoreResult<Vec<Team>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams
                 ORDER BY organisation, name",
            )?;
            let teams = stmt.query_map([], team_row)?.collect::<Result<_, _>>()?;
            Ok(teams)
        })
        .await
    }

    async fn team_by_name(&self, name: &str) -> StoreResult<Option<Team>> {
        let name = name.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams WHERE name = ?1",
                [name],
                team_row,
            )
            .optional()?)
        })
        .await
    }

    async fn team(&self, id: &str) -> StoreResult<Option<Team>> {
        let id = id.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams WHERE id = ?1",
                [id],
                team_row,
            )
            .optional()?)
        })
        .await
    }

    async fn create_user(&self, user: User) -> StoreResult<()> {
        self.with(move |c| {
            let tx = c.savepoint()?;
            match tx.execute(
                "INSERT INTO users (id, name, password_hash, disabled, role)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    user.id,
                    user.name,
                    user.password_hash,
                    user.disabled,
                    user.role.as_str()
                ],
            ) {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
                r => r?,
            };
            for team in &user.team_ids {
                tx.execute(
                    "INSERT INTO memberships (user_id, team_id) VALUES (?1, ?2)",
                    params![user.id, team],
                )?;
            }
            bump_directory(&tx)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_user_disabled(&self, name: &str, disabled: bool) -> StoreResult<()> {
        let name = name.to_owned();
        self.with(move |c| {
            let tx = c.savepoint()?;
            let n = tx.execute(
                "UPDATE users SET disabled = ?2 WHERE name = ?1",
                params![name, disabled],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            // Tokens stay: every request re-reads `disabled`, so the next
            // one is refused with a clear `auth.user_disabled`.
            bump_directory(&tx)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn set_team_accepts_referrals(&self, name: &str, accepts: bool) -> StoreResult<()> {
        let name = name.to_owned();
        self.with(move |c| {
            let tx = c.savepoint()?;
            let n = tx.execute(
                "UPDATE teams SET accepts_referrals = ?2 WHERE name = ?1",
                params![name, accepts],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            bump_directory(&tx)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn add_enrol_code(&self, code_hash: &str, expires_at: i64) -> StoreResult<()> {
        let code_hash = code_hash.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO enrol_codes (code_hash, expires_at) VALUES (?1, ?2)",
                params![code_hash, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn devices(&self) -> StoreResult<Vec<Device>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, public_key, enrolled_at, revoked_at FROM devices ORDER BY enrolled_at, id",
            )?;
            let rows = stmt.query_map([], device_row)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_device(&self, id: &str, at: i64) -> StoreResult<()> {
        let id = id.to_owned();
        self.with(move |c| {
            let tx = c.savepoint()?;
            let n = tx.execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, at],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute("DELETE FROM tokens WHERE device_id = ?1", [&id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn enrol_device(&self, code_hash: &str, now: i64, device: Device) -> StoreResult<()> {
        let code_hash = code_hash.to_owned();
        self.with(move |c| {
            let tx = c.savepoint()?;
            let n = tx.execute(
                "UPDATE enrol_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![code_hash, now],
            )?;
            if n != 1 {
                return Err(StoreError::EnrolCodeInvalid);
            }
            match tx.execute(
                "INSERT INTO devices (id, name, public_key, enrolled_at) VALUES (?1, ?2, ?3, ?4)",
                params![device.id, device.name, device.public_key.to_vec(), device.enrolled_at],
            ) {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
                r => r?,
            };
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        let id = id.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT id, name, public_key, enrolled_at, revoked_at FROM devices WHERE id = ?1",
                [id],
                device_row,
            )
            .optional()?)
        })
        .await
    }

    async fn remember_nonce(&self, device_id: &str, nonce: &str, now: i64) -> StoreResult<bool> {
        let (device_id, nonce) = (device_id.to_owned(), nonce.to_owned());
        self.with(move |c| {
            // Older nonces are outside the clock window and refused anyway.
            c.execute(
                "DELETE FROM nonces WHERE seen_at < ?1",
                [now - 2 * clinshare_protocol::auth::MAX_CLOCK_SKEW_SECS],
            )?;
            match c.execute(
                "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?1, ?2, ?3)",
                params![device_id, nonce, now],
            ) {
                Err(e) if is_unique_violation(&e) => Ok(false),
                Err(e) => Err(e.into()),
                Ok(_) => Ok(true),
            }
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        let name = name.to_owned();
        self.with(move |c| load_user(c, "name = ?1", &name)).await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.with(move |c| load_user(c, "id = ?1", &id)).await
    }

    async fn add_token(
        &self,
        token_hash: &str,
        user_id: &str,
        device_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (t, u, d) = (
            token_hash.to_owned(),
            user_id.to_owned(),
            device_id.to_owned(),
        );
        self.with(move |c| {
            c.execute("DELETE FROM tokens WHERE expires_at < ?1", [crate::clock::now()])?;
            c.execute(
                "INSERT INTO tokens (token_hash, user_id, device_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![t, u, d, expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn token_user(
        &self,
        token_hash: &str,
        device_id: &str,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let (t, d) = (token_hash.to_owned(), device_id.to_owned());
        self.with(move |c| {
            let user_id: Option<String> = c
                .query_row(
                    "SELECT user_id FROM tokens WHERE token_hash = ?1 AND device_id = ?2 AND expires_at > ?3",
                    params![t, d, now],
                    |r| r.get(0),
                )
                .optional()?;
            match user_id {
                Some(id) => load_user(c, "id = ?1", &id),
                None => Ok(None),
            }
        })
        .await
    }

    async fn directory(&self) -> StoreResult<DirectorySnapshot> {
        self.with(|c| {
            let tx = c.savepoint()?;
            let version: i64 = tx.query_row(
                "SELECT version FROM directory_version WHERE id = 1",
                [],
                |r| r.get(0),
            )?;
            let teams: Vec<Team> = {
                let mut stmt = tx.prepare(
                    "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams ORDER BY name",
                )?;
                let rows = stmt.query_map([], team_row)?.collect::<Result<_, _>>()?;
                rows
            };
            let mut out = Vec::with_capacity(teams.len());
            for team in teams {
                let mut stmt = tx.prepare(
                    "SELECT u.id, u.name FROM users u JOIN memberships m ON m.user_id = u.id
                     WHERE m.team_id = ?1 AND u.disabled = 0 ORDER BY u.name",
                )?;
                let members = stmt
                    .query_map([&team.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                out.push((team, members));
            }
            Ok(DirectorySnapshot {
                version,
                teams: out,
            })
        })
        .await
    }

    async fn create_referral(&self, new: NewReferral) -> StoreResult<(Referral, bool)> {
        self.with(move |c| {
            let tx = c.savepoint()?;
            let manifest_json = manifest_json(&new.manifest)?;
            let inserted = tx.execute(
                "INSERT INTO referrals (id, sender_user_id, sender_device_id, recipient_team_id,
                     idempotency_key, manifest_json, manifest_sha256, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'uploading', ?8)
                 ON CONFLICT (sender_user_id, idempotency_key) DO NOTHING",
                params![
                    new.id,
                    new.sender_user_id,
                    new.sender_device_id,
                    new.manifest.recipient_team,
                    new.manifest.idempotency_key,
                    manifest_json,
                    new.manifest_sha256,
                    new.created_at
                ],
            )?;
            if inserted == 1 {
                for (i, m) in new.manifest.media.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO referral_media (referral_id, position, sha256, size) VALUES (?1, ?2, ?3, ?4)",
                        params![new.id, i as i64, m.sha256, m.size as i64],
                    )?;
                }
            }
            let existing_id: String = tx.query_row(
                "SELECT id FROM referrals WHERE sender_user_id = ?1 AND idempotency_key = ?2",
                params![new.sender_user_id, new.manifest.idempotency_key],
                |r| r.get(0),
            )?;
            let referral = load_referral(&tx, &existing_id)?.ok_or(StoreError::NotFound)?;
            tx.commit()?;
            if inserted == 0 && referral.manifest_sha256 != new.manifest_sha256 {
                return Err(StoreError::IdempotencyConflict);
            }
            Ok((referral, inserted == 1))
        })
        .await
    }

    async fn referral(&self, id: &str) -> StoreResult<Option<Referral>> {
        let id = id.to_owned();
        self.with(move |c| load_referral(c, &id)).await
    }

    async fn mark_media_verified(&self, referral_id: &str, sha256: &str) -> StoreResult<()> {
        let (r, s) = (referral_id.to_owned(), sha256.to_owned());
        self.with(move |c| {
            let n = c.execute(
                "UPDATE referral_media SET verified = 1 WHERE referral_id = ?1 AND sha256 = ?2",
                params![r, s],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn deliver(
        &self,
        referral_id: &str,
        now: i64,
        receipt_json: String,
        pacs_targets: &[String],
    ) -> StoreResult<Referral> {
        let id = referral_id.to_owned();
        let targets = pacs_targets.to_vec();
        self.with(move |c| {
            let tx = c.savepoint()?;
            // Only when no file is left unverified; a racing second call
            // finds the state already changed and keeps the first receipt.
            let delivered = tx.execute(
                "UPDATE referrals SET state = 'delivered', delivered_at = ?2, receipt_json = ?3
                 WHERE id = ?1 AND state = 'uploading'
                   AND NOT EXISTS (SELECT 1 FROM referral_media WHERE referral_id = ?1 AND verified = 0)",
                params![id, now, receipt_json],
            )?;
            if delivered == 1 {
                for target in &targets {
                    tx.execute(
                        "INSERT INTO pacs_jobs (referral_id, target, kind, state, next_attempt_at, created_at)
                         VALUES (?1, ?2, 'store', 'queued', ?3, ?3) ON CONFLICT DO NOTHING",
                        params![id, target, now],
                    )?;
                }
            }
            let r = load_referral(&tx, &id)?.ok_or(StoreError::NotFound)?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    async fn acknowledge(
        &self,
        referral_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Referral> {
        let (id, user) = (referral_id.to_owned(), user_id.to_owned());
        self.with(move |c| {
            let tx = c.savepoint()?;
            tx.execute(
                "UPDATE referrals SET state = 'acknowledged', acknowledged_at = ?2, acknowledged_by = ?3
                 WHERE id = ?1 AND state = 'delivered'",
                params![id, now, user],
            )?;
            let r = load_referral(&tx, &id)?.ok_or(StoreError::NotFound)?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    async fn withdraw_consent(&self, referral_id: &str, now: i64) -> StoreResult<Referral> {
        let id = referral_id.to_owned();
        self.with(move |c| {
            let tx = c.savepoint()?;
            tx.execute(
                "UPDATE referrals SET consent_withdrawn_at = COALESCE(consent_withdrawn_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            let mut r = load_referral(&tx, &id)?.ok_or(StoreError::NotFound)?;
            // The patient's details go with the consent, in this
            // transaction: what is not stored cannot be returned later.
            r.manifest = super::erased_manifest(&r.manifest);
            tx.execute(
                "UPDATE referrals SET manifest_json = ?2 WHERE id = ?1",
                params![id, manifest_json(&r.manifest)?],
            )?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    async fn media_in_use_elsewhere(&self, sha256: &str, except: &str) -> StoreResult<bool> {
        let (sha, except) = (sha256.to_owned(), except.to_owned());
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM referral_media m JOIN referrals r ON r.id = m.referral_id
                 WHERE m.sha256 = ?1 AND m.referral_id <> ?2 AND r.consent_withdrawn_at IS NULL)",
                params![sha, except],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn inbox(&self, team_ids: &[String]) -> StoreResult<Vec<Referral>> {
        let teams = team_ids.to_vec();
        self.with(move |c| {
            let sql = format!(
                "SELECT {REFERRAL_COLUMNS} FROM referrals
                 WHERE recipient_team_id = ?1 AND state IN ('delivered', 'acknowledged')
                 ORDER BY delivered_at DESC, id"
            );
            let mut out = Vec::new();
            for team in teams {
                let parts: Vec<Parts> = {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt
                        .query_map([&team], referral_parts)?
                        .collect::<Result<_, _>>()?;
                    rows
                };
                for p in parts {
                    out.push(finish_referral(c, p)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn queue_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        now: i64,
    ) -> StoreResult<()> {
        let (r, t) = (referral_id.to_owned(), target.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO pacs_jobs (referral_id, target, kind, state, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?4)
                 ON CONFLICT (referral_id, target, kind) DO UPDATE
                 SET state = 'queued', next_attempt_at = ?4, finished_at = NULL",
                params![r, t, kind.code(), now],
            )?;
            Ok(())
        })
        .await
    }

    async fn claim_pacs_job(&self, now: i64, lease_secs: i64) -> StoreResult<Option<PacsJob>> {
        self.with(move |c| {
            let tx = c.savepoint()?;
            let job = tx
                .query_row(
                    &format!(
                        "SELECT {PACS_JOB_COLUMNS} FROM pacs_jobs
                         WHERE state = 'queued' AND next_attempt_at <= ?1
                           AND (lease_until IS NULL OR lease_until < ?1)
                         ORDER BY next_attempt_at, referral_id LIMIT 1"
                    ),
                    [now],
                    pacs_job_row,
                )
                .optional()?;
            let Some(job) = job else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE pacs_jobs SET lease_until = ?4
                 WHERE referral_id = ?1 AND target = ?2 AND kind = ?3",
                params![
                    job.referral_id,
                    job.target,
                    job.kind.code(),
                    now + lease_secs
                ],
            )?;
            tx.commit()?;
            Ok(Some(job))
        })
        .await
    }

    async fn finish_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        outcome: PacsOutcome,
        now: i64,
    ) -> StoreResult<()> {
        let (r, t) = (referral_id.to_owned(), target.to_owned());
        let (state, next, error, finished) = outcome_columns(outcome, now);
        self.with(move |c| {
            c.execute(
                "UPDATE pacs_jobs SET state = ?4, attempts = attempts + 1,
                     next_attempt_at = COALESCE(?5, next_attempt_at), last_error = ?6,
                     finished_at = ?7, lease_until = NULL
                 WHERE referral_id = ?1 AND target = ?2 AND kind = ?3",
                params![r, t, kind.code(), state, next, error, finished],
            )?;
            Ok(())
        })
        .await
    }

    async fn pacs_jobs(&self) -> StoreResult<Vec<PacsJob>> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {PACS_JOB_COLUMNS} FROM pacs_jobs ORDER BY created_at, referral_id, target, kind"
            ))?;
            let rows = stmt
                .query_map([], pacs_job_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()> {
        self.with(move |c| {
            let tx = c.savepoint()?;
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (seq, prev) = match last {
                Some((s, h)) => (s + 1, h),
                None => (1, GENESIS_HASH.to_owned()),
            };
            let hash = entry_hash(&prev, seq, &record);
            tx.execute(
                "INSERT INTO audit_log (seq, at, actor, device, action, object, outcome, prev_hash, hash, patient)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    seq,
                    record.at,
                    record.actor,
                    record.device,
                    record.action,
                    record.object,
                    record.outcome,
                    prev,
                    hash,
                    record.patient
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_about(&self, patient: &str) -> StoreResult<Vec<AuditRecord>> {
        let patient = patient.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(AUDIT_ABOUT)?;
            let rows = stmt
                .query_map([&patient], |r| {
                    Ok(AuditRecord {
                        at: r.get(0)?,
                        actor: r.get(1)?,
                        device: r.get(2)?,
                        action: r.get(3)?,
                        object: r.get(4)?,
                        outcome: r.get(5)?,
                        patient: r.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn verify_audit(&self) -> StoreResult<u64> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT seq, at, actor, device, action, object, outcome, prev_hash, hash, patient
                 FROM audit_log ORDER BY seq",
            )?;
            let mut rows = stmt.query([])?;
            let mut prev = GENESIS_HASH.to_owned();
            let mut expected_seq = 1i64;
            let mut n = 0u64;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                let record = AuditRecord {
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    device: r.get(3)?,
                    action: r.get(4)?,
                    object: r.get(5)?,
                    outcome: r.get(6)?,
                    patient: r.get(9)?,
                };
                let prev_hash: String = r.get(7)?;
                let hash: String = r.get(8)?;
                if seq != expected_seq
                    || prev_hash != prev
                    || hash != entry_hash(&prev, seq, &record)
                {
                    return Err(StoreError::Corrupt(format!(
                        "audit entry {seq} does not chain"
                    )));
                }
                prev = hash;
                expected_seq += 1;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    async fn ready(&self) -> StoreResult<()> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Teams from before organisations were entities get one organisation
    /// per name, case variants merged; afterwards a team needs one.
    #[test]
    fn organisations_are_made_from_existing_teams_and_then_required() {
        let mut conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .expect("table");
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 < 5) {
            conn.execute_batch(sql).expect("migration");
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                params![version, name],
            )
            .expect("recorded");
        }
        for (id, name, org) in [
            ("t1", "Tissue Viability", "Lanark CHP"),
            ("t2", "District Nurses", "lanark chp"),
            ("t3", "Dermatology", "Other Trust"),
        ] {
            conn.execute(
                "INSERT INTO teams (id, name, organisation, accepts_referrals) VALUES (?1, ?2, ?3, 1)",
                params![id, name, org],
            )
            .expect("team");
        }
        migrate(&mut conn).expect("migrate");
        let orgs: Vec<String> = conn
            .prepare("SELECT name FROM organisations ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("organisations");
        assert_eq!(orgs, ["Lanark CHP", "Other Trust"]);
        let team_orgs: Vec<String> = conn
            .prepare("SELECT organisation FROM teams ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("teams");
        assert_eq!(team_orgs, ["Lanark CHP", "Lanark CHP", "Other Trust"]);
        let orphan = conn.execute(
            "INSERT INTO teams (id, name, organisation, accepts_referrals) VALUES ('t4', 'Podiatry', 'Nowhere', 1)",
            [],
        );
        assert!(orphan.is_err(), "a team without an organisation");
        let in_use = conn.execute("DELETE FROM organisations WHERE name = 'Other Trust'", []);
        assert!(in_use.is_err(), "an organisation with teams");
    }

    type Answer = tokio::sync::oneshot::Receiver<StoreResult<()>>;

    /// A call that inserts `value` into `t`, then fails if told to.
    fn insert(value: &'static str, fail: bool) -> (Box<dyn Call>, Answer) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let f = move |c: &mut Connection| {
            c.execute("INSERT INTO t VALUES (?1)", [value])?;
            if fail {
                return Err(StoreError::Corrupt("told to fail".into()));
            }
            Ok(())
        };
        let call = Pending {
            f: Some(f),
            result: None,
            reply,
        };
        (Box::new(call), answer)
    }

    fn rows(c: &Connection) -> Vec<String> {
        let mut stmt = c.prepare("SELECT v FROM t ORDER BY v").expect("query");
        let rows = stmt.query_map([], |r| r.get(0)).expect("rows");
        rows.collect::<Result<_, _>>().expect("values")
    }

    fn table() -> Connection {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch("CREATE TABLE t (v TEXT PRIMARY KEY)")
            .expect("table");
        c
    }

    #[test]
    fn a_failed_call_in_a_group_undoes_only_its_own_writes() {
        let mut c = table();
        let (a, a_answer) = insert("a", false);
        let (b, b_answer) = insert("b", true);
        // A constraint error inside a call: SQLite keeps the transaction.
        let (dup, dup_answer) = insert("a", false);
        let (d, d_answer) = insert("d", false);
        run_group(&mut c, vec![a, b, dup, d]);
        assert!(a_answer.blocking_recv().expect("answer").is_ok());
        assert!(matches!(
            b_answer.blocking_recv().expect("answer"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(dup_answer.blocking_recv().expect("answer").is_err());
        assert!(d_answer.blocking_recv().expect("answer").is_ok());
        assert_eq!(rows(&c), ["a", "d"]);
        assert!(c.is_autocommit(), "the group's transaction is over");
    }

    #[test]
    fn a_group_whose_transaction_is_lost_answers_every_call_with_an_error() {
        let mut c = table();
        let (a, a_answer) = insert("a", false);
        // What SQLite does on a full disk or an I/O error: the whole
        // transaction rolls back, the earlier calls' writes with it.
        let (reply, lost_answer) = tokio::sync::oneshot::channel();
        let lost: Box<dyn Call> = Box::new(Pending {
            f: Some(|c: &mut Connection| Ok(c.execute_batch("ROLLBACK")?)),
            result: None,
            reply,
        });
        let (d, d_answer) = insert("d", false);
        run_group(&mut c, vec![a, lost, d]);
        for answer in [a_answer, lost_answer, d_answer] {
            assert!(answer.blocking_recv().expect("answer").is_err());
        }
        assert!(rows(&c).is_empty(), "nothing stands, nothing after it ran");
    }

    /// Many calls at once from many tasks: each is answered with its own
    /// result, and every write is there afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_calls_are_grouped_and_each_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).expect("open"));
        store
            .with(|c| Ok(c.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")?))
            .await
            .expect("table");
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .with(move |c| {
                            c.execute("INSERT INTO t VALUES (?1)", [i])?;
                            // Every seventh call fails after writing.
                            if i % 7 == 0 {
                                return Err(StoreError::Corrupt(i.to_string()));
                            }
                            Ok(i)
                        })
                        .await
                })
            })
            .collect();
        for (i, task) in (0..200i64).zip(tasks) {
            let result = task.await.expect("task");
            match result {
                Ok(v) => assert_eq!(v, i),
                Err(StoreError::Corrupt(v)) => assert_eq!(v, i.to_string()),
                Err(e) => panic!("call {i}: {e}"),
            }
        }
        let count: i64 = store
            .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .expect("count");
        assert_eq!(count, (0..200).filter(|i| i % 7 != 0).count() as i64);
    }
}
