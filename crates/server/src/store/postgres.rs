//! The scale-out backend: PostgreSQL through tokio-postgres and a deadpool
//! connection pool. Several server instances may share the database, so
//! every cross-request rule is a constraint or a row lock, never a lock in
//! this process (see the module comment in `store`).

use async_trait::async_trait;
use deadpool_postgres::{Pool, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, NoTls, Row};

use super::{
    AuditRecord, Device, DirectorySnapshot, MediaRow, NewReferral, Organisation, PacsJob,
    PacsJobKind, PacsOutcome, Referral, Store, StoreError, StoreResult, Team, User,
};
use crate::audit::{entry_hash, GENESIS_HASH};
use crate::store::sqlite::{outcome_columns, AUDIT_ABOUT, PACS_JOB_COLUMNS};
use crate::store::sqlite::{role_of, state_from_code};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "pacs_jobs",
        include_str!("../../migrations/postgres/0002_pacs_jobs.sql"),
    ),
    (
        3,
        "team_file_limit",
        include_str!("../../migrations/postgres/0003_team_file_limit.sql"),
    ),
    (
        4,
        "user_role",
        include_str!("../../migrations/postgres/0004_user_role.sql"),
    ),
    (
        5,
        "organisations",
        include_str!("../../migrations/postgres/0005_organisations.sql"),
    ),
    (
        6,
        "audit_patient",
        include_str!("../../migrations/postgres/0006_audit_patient.sql"),
    ),
    (
        7,
        "erase_withdrawn",
        include_str!("../../migrations/postgres/0007_erase_withdrawn.sql"),
    ),
];

/// Any value: taken by whichever instance migrates, so two starting at
/// once do not both apply a migration.
const MIGRATION_LOCK: i64 = 0x636c_696e_7368;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Database(e.to_string())
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects (`postgres://user@host:port/db`) and applies migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.to_owned());
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let newest: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        if newest > known {
            return Err(StoreError::Corrupt(format!(
                "database schema {newest} is newer than this server ({known}); refusing to touch it"
            )));
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > newest) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[version, name, &crate::clock::now()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn team_row(r: &Row) -> Team {
    Team {
        id: r.get(0),
        name: r.get(1),
        organisation: r.get(2),
        accepts_referrals: r.get(3),
        max_file_bytes: r.get(4),
    }
}

fn pacs_job_row(r: &Row) -> StoreResult<PacsJob> {
    Ok(PacsJob {
        referral_id: r.get(0),
        target: r.get(1),
        kind: PacsJobKind::from_code(r.get(2))?,
        state: r.get(3),
        attempts: r.get::<_, i32>(4).into(),
        next_attempt_at: r.get(5),
        last_error: r.get(6),
        created_at: r.get(7),
        finished_at: r.get(8),
    })
}

fn device_row(r: &Row) -> Device {
    let key: Vec<u8> = r.get(2);
    let mut public_key = [0u8; 32];
    if key.len() == 32 {
        public_key.copy_from_slice(&key);
    }
    Device {
        id: r.get(0),
        name: r.get(1),
        public_key,
        enrolled_at: r.get(3),
        revoked_at: r.get(4),
    }
}

async fn load_user<C: GenericClient>(c: &C, by_id: bool, key: &str) -> StoreResult<Option<User>> {
    let sql = if by_id {
        "SELECT id, name, password_hash, disabled, role FROM users WHERE id = $1"
    } else {
        "SELECT id, name, password_hash, disabled, role FROM users WHERE name = $1"
    };
    let Some(r) = c.query_opt(sql, &[&key]).await? else {
        return Ok(None);
    };
    let id: String = r.get(0);
    let teams = c
        .query(
            "SELECT team_id FROM memberships WHERE user_id = $1 ORDER BY team_id",
            &[&id],
        )
        .await?
        .iter()
        .map(|t| t.get(0))
        .collect();
    Ok(Some(User {
        id,
        name: r.get(1),
        password_hash: r.get(2),
        disabled: r.get(3),
        role: role_of(r.get(4)),
        team_ids: teams,
    }))
}

const REFERRAL_COLUMNS: &str = "id, sender_user_id, sender_device_id, recipient_team_id, \
     idempotency_key, manifest_json, manifest_sha256, state, created_at, delivered_at, \
     acknowledged_at, acknowledged_by, consent_withdrawn_at, receipt_json";

async fn referral_from_row<C: GenericClient>(c: &C, r: &Row) -> StoreResult<Referral> {
    let id: String = r.get(0);
    let manifest_json: String = r.get(5);
    let state: String = r.get(7);
    let media = c
        .query(
            "SELECT sha256, size, verified FROM referral_media WHERE referral_id = $1 ORDER BY position",
            &[&id],
        )
        .await?
        .iter()
        .map(|m| MediaRow {
            sha256: m.get(0),
            size: m.get::<_, i64>(1).max(0) as u64,
            verified: m.get(2),
        })
        .collect();
    Ok(Referral {
        sender_user_id: r.get(1),
        sender_device_id: r.get(2),
        recipient_team_id: r.get(3),
        idempotency_key: r.get(4),
        manifest: serde_json::from_str(&manifest_json)
            .map_err(|e| StoreError::Corrupt(format!("referral manifest: {e}")))?,
        manifest_sha256: r.get(6),
        state: state_from_code(&state)?,
        created_at: r.get(8),
        delivered_at: r.get(9),
        acknowledged_at: r.get(10),
        acknowledged_by: r.get(11),
        consent_withdrawn_at: r.get(12),
        receipt_json: r.get(13),
        media,
        id,
    })
}

async fn load_referral<C: GenericClient>(c: &C, id: &str) -> StoreResult<Option<Referral>> {
    let sql = format!("SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1");
    match c.query_opt(&sql, &[&id]).await? {
        Some(r) => Ok(Some(referral_from_row(c, &r).await?)),
        None => Ok(None),
    }
}

async fn bump_directory<C: GenericClient>(c: &C) -> StoreResult<()> {
    c.execute(
        "UPDATE directory_version SET version = version + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

fn organisation_row(r: &Row) -> Organisation {
    Organisation {
        id: r.get(0),
        name: r.get(1),
        ods_code: r.get(2),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_organisation(&self, org: Organisation) -> StoreResult<()> {
        let c = self.pool.get().await?;
        match c
            .execute(
                "INSERT INTO organisations (id, name, ods_code) VALUES ($1, $2, $3)",
                &[&org.id, &org.name, &org.ods_code],
            )
            .await
        {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    async fn organisations(&self) -> StoreResult<Vec<Organisation>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            "SELECT id, name, ods_code FROM organisations ORDER BY lower(name)",
            &[],
        )
        .await?
        .iter()
        .map(organisation_row)
        .collect())
    }

    async fn organisation_by_name(&self, name: &str) -> StoreResult<Option<Organisation>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            "SELECT id, name, ods_code FROM organisations WHERE lower(name) = lower($1)",
            &[&name],
        )
        .await?
        .as_ref()
        .map(organisation_row))
    }

    async fn create_team(&self, team: Team) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        match tx
            .execute(
                "INSERT INTO teams (id, name, organisation, accepts_referrals, max_file_bytes) VALUES ($1, $2, $3, $4, $5)",
                &[&team.id, &team.name, &team.organisation, &team.accepts_referrals, &team.max_file_bytes],
            )
            .await
        {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
            r => r?,
        };
        bump_directory(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn team_by_name(&self, name: &str) -> StoreResult<Option<Team>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams WHERE name = $1",
            &[&name],
        )
        .await?
        .as_ref()
        .map(team_row))
    }

    async fn teams(&self) -> StoreResult<Vec<Team>> {
        let c = self.pool.get().await?;
        Ok(c.query(
            "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams
             ORDER BY organisation, name",
            &[],
        )
        .await?
        .iter()
        .map(team_row)
        .collect())
    }

    async fn team(&self, id: &str) -> StoreResult<Option<Team>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(team_row))
    }

    async fn create_user(&self, user: User) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        match tx
            .execute(
                "INSERT INTO users (id, name, password_hash, disabled, role)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &user.id,
                    &user.name,
                    &user.password_hash,
                    &user.disabled,
                    &user.role.as_str(),
                ],
            )
            .await
        {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
            r => r?,
        };
        for team in &user.team_ids {
            tx.execute(
                "INSERT INTO memberships (user_id, team_id) VALUES ($1, $2)",
                &[&user.id, team],
            )
            .await?;
        }
        bump_directory(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_disabled(&self, name: &str, disabled: bool) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE users SET disabled = $2 WHERE name = $1",
                &[&name, &disabled],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        bump_directory(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_team_accepts_referrals(&self, name: &str, accepts: bool) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE teams SET accepts_referrals = $2 WHERE name = $1",
                &[&name, &accepts],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        bump_directory(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_enrol_code(&self, code_hash: &str, expires_at: i64) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO enrol_codes (code_hash, expires_at) VALUES ($1, $2)",
            &[&code_hash, &expires_at],
        )
        .await?;
        Ok(())
    }

    async fn devices(&self) -> StoreResult<Vec<Device>> {
        let c = self.pool.get().await?;
        Ok(c
            .query(
                "SELECT id, name, public_key, enrolled_at, revoked_at FROM devices ORDER BY enrolled_at, id",
                &[],
            )
            .await?
            .iter()
            .map(device_row)
            .collect())
    }

    async fn revoke_device(&self, id: &str, at: i64) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                &[&id, &at],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.execute("DELETE FROM tokens WHERE device_id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enrol_device(&self, code_hash: &str, now: i64, device: Device) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(
                "UPDATE enrol_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
                &[&code_hash, &now],
            )
            .await?;
        if n != 1 {
            return Err(StoreError::EnrolCodeInvalid);
        }
        match tx
            .execute(
                "INSERT INTO devices (id, name, public_key, enrolled_at) VALUES ($1, $2, $3, $4)",
                &[
                    &device.id,
                    &device.name,
                    &device.public_key.to_vec(),
                    &device.enrolled_at,
                ],
            )
            .await
        {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate),
            r => r?,
        };
        tx.commit().await?;
        Ok(())
    }

    async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        let c = self.pool.get().await?;
        Ok(c.query_opt(
            "SELECT id, name, public_key, enrolled_at, revoked_at FROM devices WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(device_row))
    }

    async fn remember_nonce(&self, device_id: &str, nonce: &str, now: i64) -> StoreResult<bool> {
        let c = self.pool.get().await?;
        let horizon = now - 2 * clinshare_protocol::auth::MAX_CLOCK_SKEW_SECS;
        c.execute("DELETE FROM nonces WHERE seen_at < $1", &[&horizon])
            .await?;
        let n = c
            .execute(
                "INSERT INTO nonces (device_id, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&device_id, &nonce, &now],
            )
            .await?;
        Ok(n == 1)
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        let c = self.pool.get().await?;
        load_user(&**c, false, name).await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let c = self.pool.get().await?;
        load_user(&**c, true, id).await
    }

    async fn add_token(
        &self,
        token_hash: &str,
        user_id: &str,
        device_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "DELETE FROM tokens WHERE expires_at < $1",
            &[&crate::clock::now()],
        )
        .await?;
        c.execute(
            "INSERT INTO tokens (token_hash, user_id, device_id, expires_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &user_id, &device_id, &expires_at],
        )
        .await?;
        Ok(())
    }

    async fn token_user(
        &self,
        token_hash: &str,
        device_id: &str,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt(
                "SELECT user_id FROM tokens WHERE token_hash = $1 AND device_id = $2 AND expires_at > $3",
                &[&token_hash, &device_id, &now],
            )
            .await?;
        match row {
            Some(r) => load_user(&**c, true, r.get::<_, &str>(0)).await,
            None => Ok(None),
        }
    }

    async fn directory(&self) -> StoreResult<DirectorySnapshot> {
        let mut c = self.pool.get().await?;
        // One snapshot for the version and the rows it describes.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let version: i64 = tx
            .query_one("SELECT version FROM directory_version WHERE id = 1", &[])
            .await?
            .get(0);
        let teams: Vec<Team> = tx
            .query(
                "SELECT id, name, organisation, accepts_referrals, max_file_bytes FROM teams ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(team_row)
            .collect();
        let mut out = Vec::with_capacity(teams.len());
        for team in teams {
            let members = tx
                .query(
                    "SELECT u.id, u.name FROM users u JOIN memberships m ON m.user_id = u.id
                     WHERE m.team_id = $1 AND NOT u.disabled ORDER BY u.name",
                    &[&team.id],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            out.push((team, members));
        }
        tx.commit().await?;
        Ok(DirectorySnapshot {
            version,
            teams: out,
        })
    }

    async fn create_referral(&self, new: NewReferral) -> StoreResult<(Referral, bool)> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let manifest_json = serde_json::to_string(&new.manifest)
            .map_err(|e| StoreError::Database(e.to_string()))?;
        // A racing insert with the same key waits for ours to commit, then
        // does nothing: the unique constraint decides, on any instance.
        let inserted = tx
            .execute(
                "INSERT INTO referrals (id, sender_user_id, sender_device_id, recipient_team_id,
                     idempotency_key, manifest_json, manifest_sha256, state, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'uploading', $8)
                 ON CONFLICT (sender_user_id, idempotency_key) DO NOTHING",
                &[
                    &new.id,
                    &new.sender_user_id,
                    &new.sender_device_id,
                    &new.manifest.recipient_team,
                    &new.manifest.idempotency_key,
                    &manifest_json,
                    &new.manifest_sha256,
                    &new.created_at,
                ],
            )
            .await?;
        if inserted == 1 {
            for (i, m) in new.manifest.media.iter().enumerate() {
                tx.execute(
                    "INSERT INTO referral_media (referral_id, position, sha256, size) VALUES ($1, $2, $3, $4)",
                    &[&new.id, &(i as i32), &m.sha256, &(m.size as i64)],
                )
                .await?;
            }
        }
        let existing: String = tx
            .query_one(
                "SELECT id FROM referrals WHERE sender_user_id = $1 AND idempotency_key = $2",
                &[&new.sender_user_id, &new.manifest.idempotency_key],
            )
            .await?
            .get(0);
        let referral = load_referral(&*tx, &existing)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        if inserted == 0 && referral.manifest_sha256 != new.manifest_sha256 {
            return Err(StoreError::IdempotencyConflict);
        }
        Ok((referral, inserted == 1))
    }

    async fn referral(&self, id: &str) -> StoreResult<Option<Referral>> {
        let c = self.pool.get().await?;
        load_referral(&**c, id).await
    }

    async fn mark_media_verified(&self, referral_id: &str, sha256: &str) -> StoreResult<()> {
        let c = self.pool.get().await?;
        let n = c
            .execute(
                "UPDATE referral_media SET verified = TRUE WHERE referral_id = $1 AND sha256 = $2",
                &[&referral_id, &sha256],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn deliver(
        &self,
        referral_id: &str,
        now: i64,
        receipt_json: String,
        pacs_targets: &[String],
    ) -> StoreResult<Referral> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let delivered = tx.execute(
            "UPDATE referrals SET state = 'delivered', delivered_at = $2, receipt_json = $3
             WHERE id = $1 AND state = 'uploading'
               AND NOT EXISTS (SELECT 1 FROM referral_media WHERE referral_id = $1 AND NOT verified)",
            &[&referral_id, &now, &receipt_json],
        )
        .await?;
        if delivered == 1 {
            for target in pacs_targets {
                tx.execute(
                    "INSERT INTO pacs_jobs (referral_id, target, kind, state, next_attempt_at, created_at)
                     VALUES ($1, $2, 'store', 'queued', $3, $3) ON CONFLICT DO NOTHING",
                    &[&referral_id, target, &now],
                )
                .await?;
            }
        }
        let r = load_referral(&*tx, referral_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(r)
    }

    async fn acknowledge(
        &self,
        referral_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Referral> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE referrals SET state = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3
             WHERE id = $1 AND state = 'delivered'",
            &[&referral_id, &now, &user_id],
        )
        .await?;
        let r = load_referral(&*tx, referral_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(r)
    }

    async fn withdraw_consent(&self, referral_id: &str, now: i64) -> StoreResult<Referral> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // The UPDATE takes the row's lock, so a racing withdrawal on
        // another instance erases after this one, from what this one wrote.
        tx.execute(
            "UPDATE referrals SET consent_withdrawn_at = COALESCE(consent_withdrawn_at, $2) WHERE id = $1",
            &[&referral_id, &now],
        )
        .await?;
        let mut r = load_referral(&*tx, referral_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        // The patient's details go with the consent, in this transaction:
        // what is not stored cannot be returned later.
        r.manifest = super::erased_manifest(&r.manifest);
        let manifest_json =
            serde_json::to_string(&r.manifest).map_err(|e| StoreError::Database(e.to_string()))?;
        tx.execute(
            "UPDATE referrals SET manifest_json = $2 WHERE id = $1",
            &[&referral_id, &manifest_json],
        )
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    async fn media_in_use_elsewhere(&self, sha256: &str, except: &str) -> StoreResult<bool> {
        let c = self.pool.get().await?;
        Ok(c.query_one(
            "SELECT EXISTS (SELECT 1 FROM referral_media m JOIN referrals r ON r.id = m.referral_id
             WHERE m.sha256 = $1 AND m.referral_id <> $2 AND r.consent_withdrawn_at IS NULL)",
            &[&sha256, &except],
        )
        .await?
        .get(0))
    }

    async fn inbox(&self, team_ids: &[String]) -> StoreResult<Vec<Referral>> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals
             WHERE recipient_team_id = $1 AND state IN ('delivered', 'acknowledged')
             ORDER BY delivered_at DESC, id"
        );
        let mut out = Vec::new();
        for team in team_ids {
            for row in c.query(&sql, &[team]).await? {
                out.push(referral_from_row(&**c, &row).await?);
            }
        }
        Ok(out)
    }

    async fn queue_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        now: i64,
    ) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO pacs_jobs (referral_id, target, kind, state, next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'queued', $4, $4)
             ON CONFLICT (referral_id, target, kind) DO UPDATE
             SET state = 'queued', next_attempt_at = $4, finished_at = NULL",
            &[&referral_id, &target, &kind.code(), &now],
        )
        .await?;
        Ok(())
    }

    async fn claim_pacs_job(&self, now: i64, lease_secs: i64) -> StoreResult<Option<PacsJob>> {
        let c = self.pool.get().await?;
        // SKIP LOCKED: instances polling together each take a different job.
        let row = c
            .query_opt(
                &format!(
                    "UPDATE pacs_jobs SET lease_until = $2
                     WHERE (referral_id, target, kind) = (
                         SELECT referral_id, target, kind FROM pacs_jobs
                         WHERE state = 'queued' AND next_attempt_at <= $1
                           AND (lease_until IS NULL OR lease_until < $1)
                         ORDER BY next_attempt_at, referral_id LIMIT 1
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {PACS_JOB_COLUMNS}"
                ),
                &[&now, &(now + lease_secs)],
            )
            .await?;
        row.as_ref().map(pacs_job_row).transpose()
    }

    async fn finish_pacs_job(
        &self,
        referral_id: &str,
        target: &str,
        kind: PacsJobKind,
        outcome: PacsOutcome,
        now: i64,
    ) -> StoreResult<()> {
        let (state, next, error, finished) = outcome_columns(outcome, now);
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE pacs_jobs SET state = $4, attempts = attempts + 1,
                 next_attempt_at = COALESCE($5, next_attempt_at), last_error = $6,
                 finished_at = $7, lease_until = NULL
             WHERE referral_id = $1 AND target = $2 AND kind = $3",
            &[
                &referral_id,
                &target,
                &kind.code(),
                &state,
                &next,
                &error,
                &finished,
            ],
        )
        .await?;
        Ok(())
    }

    async fn pacs_jobs(&self) -> StoreResult<Vec<PacsJob>> {
        let c = self.pool.get().await?;
        c.query(
            &format!(
                "SELECT {PACS_JOB_COLUMNS} FROM pacs_jobs ORDER BY created_at, referral_id, target, kind"
            ),
            &[],
        )
        .await?
        .iter()
        .map(pacs_job_row)
        .collect()
    }

    async fn append_audit(&self, record: AuditRecord) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let head = tx
            .query_one(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let seq: i64 = head.get::<_, i64>(0) + 1;
        let prev: String = head.get(1);
        let hash = entry_hash(&prev, seq, &record);
        tx.execute(
            "INSERT INTO audit_log (seq, at, actor, device, action, object, outcome, prev_hash, hash, patient)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &seq,
                &record.at,
                &record.actor,
                &record.device,
                &record.action,
                &record.object,
                &record.outcome,
                &prev,
                &hash,
                &record.patient,
            ],
        )
        .await?;
        tx.execute(
            "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
            &[&seq, &hash],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_about(&self, patient: &str) -> StoreResult<Vec<AuditRecord>> {
        let c = self.pool.get().await?;
        let rows = c.query(AUDIT_ABOUT, &[&patient]).await?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                at: r.get(0),
                actor: r.get(1),
                device: r.get(2),
                action: r.get(3),
                object: r.get(4),
                outcome: r.get(5),
                patient: r.get(6),
            })
            .collect())
    }

    async fn verify_audit(&self) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT seq, at, actor, device, action, object, outcome, prev_hash, hash, patient
                 FROM audit_log ORDER BY seq",
                &[],
            )
            .await?;
        let mut prev = GENESIS_HASH.to_owned();
        let mut expected = 1i64;
        for r in &rows {
            let seq: i64 = r.get(0);
            let record = AuditRecord {
                at: r.get(1),
                actor: r.get(2),
                device: r.get(3),
                action: r.get(4),
                object: r.get(5),
                outcome: r.get(6),
                patient: r.get(9),
            };
            let prev_hash: String = r.get(7);
            let hash: String = r.get(8);
            if seq != expected || prev_hash != prev || hash != entry_hash(&prev, seq, &record) {
                return Err(StoreError::Corrupt(format!(
                    "audit entry {seq} does not chain"
                )));
            }
            prev = hash;
            expected += 1;
        }
        let head = c
            .query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])
            .await?;
        if head.get::<_, i64>(0) != expected - 1 || head.get::<_, String>(1) != prev {
            return Err(StoreError::Corrupt(
                "the audit head does not match the last entry (truncated?)".into(),
            ));
        }
        Ok(rows.len() as u64)
    }

    async fn ready(&self) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    }
}
