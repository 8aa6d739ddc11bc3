//! Schema migrations from `migrations/*.sql`, embedded at build time.
//!
//! Each migration runs in its own transaction together with the row that
//! records it, so a crash leaves the store at the previous version, never
//! half-way.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// The highest version applied to this store, 0 for a new one.
pub(crate) fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    let has_ledger: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_ledger {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// Refuse a store written by a newer build, before anything is written to it.
pub(crate) fn guard_version(conn: &Connection, location: &Path) -> Result<i64, StoreError> {
    let found = current_version(conn)?;
    let known = latest_version();
    if found > known {
        return Err(StoreError::NewerSchema {
            location: location.to_owned(),
            found,
            known,
        });
    }
    Ok(found)
}

/// Apply every migration newer than the store's version, in order.
pub(crate) fn apply_pending(conn: &mut Connection) -> Result<i64, StoreError> {
    apply(conn, MIGRATIONS)
}

fn apply(
    conn: &mut Connection,
    migrations: &[(i64, &'static str, &'static str)],
) -> Result<i64, StoreError> {
    conn.execute_batch(LEDGER)?;
    let start = current_version(conn)?;
    let mut version = start;
    for &(v, name, sql) in migrations.iter().filter(|m| m.0 > start) {
        let wrap = |source| StoreError::Migration {
            version: v,
            name,
            source,
        };
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![v, name, crate::clock::now_rfc3339()],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        version = v;
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_named() {
        assert!(!MIGRATIONS.is_empty());
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "migrations out of order");
        }
        for (v, name, sql) in MIGRATIONS {
            assert!(*v >= 20_000_101_000_000, "version {v} is not a timestamp");
            assert!(!name.is_empty());
            assert!(!sql.trim().is_empty());
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_store_at_the_previous_version() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        let good = (20_260_101_000_000, "good", "CREATE TABLE a (x);");
        let bad = (
            20_260_102_000_000,
            "bad",
            "CREATE TABLE half_done (x); SELECT * FROM no_such_table;",
        );
        let err = apply(&mut conn, &[good, bad]).expect_err("second migration fails");
        assert!(matches!(
            err,
            StoreError::Migration {
                version: 20_260_102_000_000,
                ..
            }
        ));
        assert_eq!(current_version(&conn).expect("version"), 20_260_101_000_000);
        let half_done: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'half_done')",
                [],
                |r| r.get(0),
            )
            .expect("query");
        assert!(!half_done, "a failed migration must leave nothing behind");
        // Fixing the migration lets it apply on the next open.
        let fixed = (20_260_102_000_000, "bad", "CREATE TABLE half_done (x);");
        assert_eq!(
            apply(&mut conn, &[good, fixed]).expect("applies"),
            20_260_102_000_000
        );
    }

    #[test]
    fn moving_pictures_to_media_content_keeps_every_byte() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        let split = MIGRATIONS
            .iter()
            .position(|m| m.1 == "media_content")
            .expect("the media_content migration");
        apply(&mut conn, &MIGRATIONS[..split]).expect("older schema");
        conn.execute_batch(
            "INSERT INTO users (id, name, passphrase_hash, created_at) VALUES (1, 'n', 'h', 't');
             INSERT INTO media (id, sha256, format, width, height, imported_at, imported_by,
                                bytes, thumbnail, size, removed_json)
             VALUES ('a', 'sa', 'jpeg', 1, 1, 't', 1, x'FFD8FF01', x'FFD8FF02', 4, '[]'),
                    ('b', 'sb', 'heic', 1, 1, 't', 1, x'00000018', NULL, 4, '[]');",
        )
        .expect("rows at the older schema");
        apply(&mut conn, MIGRATIONS).expect("migrates");
        type Row = (String, Vec<u8>, Option<Vec<u8>>, bool);
        let rows: Vec<Row> = conn
            .prepare(
                "SELECT m.id, c.bytes, c.thumbnail, m.has_thumbnail FROM media m \
                 JOIN media_content c ON c.media_id = m.id ORDER BY m.id",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (
                    "a".into(),
                    vec![0xFF, 0xD8, 0xFF, 1],
                    Some(vec![0xFF, 0xD8, 0xFF, 2]),
                    true
                ),
                ("b".into(), vec![0, 0, 0, 0x18], None, false),
            ]
        );
    }
}
