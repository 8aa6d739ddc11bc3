//! Store behaviour on good and bad paths, against an in-process key vault.
//! The same paths run against the real OS keyring in `crates/cli/tests`.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;
use crate::error::ErrorCode;
use crate::test_support::MemoryVault;

fn fingerprint(path: &Path) -> Vec<u8> {
    Sha256::digest(fs::read(path).expect("read store")).to_vec()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn new_store() -> (tempfile::TempDir, MemoryVault) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::default();
    let store = Store::create(dir.path(), &vault).expect("create");
    drop(store);
    (dir, vault)
}

#[test]
fn created_store_reopens_encrypted_at_the_latest_schema() {
    let (dir, vault) = new_store();
    let store = Store::open(dir.path(), &vault).expect("reopen");
    let status = store.status().expect("status");
    match status.state {
        StoreState::Open {
            schema_version,
            latest_schema_version,
            encrypted,
            cipher_version,
        } => {
            assert_eq!(schema_version, migrate::latest_version());
            assert_eq!(latest_schema_version, migrate::latest_version());
            assert!(encrypted);
            assert!(!cipher_version.is_empty());
        }
        other => panic!("expected open, got {other:?}"),
    }
    assert!(status.location.ends_with("clinshare.db"));
    let bytes = fs::read(store.location()).expect("read");
    assert_ne!(&bytes[..16], PLAINTEXT_HEADER);
    store.check_integrity().expect("intact");
}

fn page_settings(store: &Store) -> (i64, String) {
    let conn = store.conn();
    // SQLCipher answers `page_size` itself, as text.
    let page: String = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    let page: i64 = page.parse().expect("a number");
    let hmac: String = conn
        .query_row("PRAGMA cipher_hmac_algorithm", [], |r| r.get(0))
        .expect("hmac");
    (page, hmac)
}

#[test]
fn a_new_store_has_large_pages_and_hmac_sha256() {
    let (dir, vault) = new_store();
    let store = Store::open(dir.path(), &vault).expect("reopen");
    assert_eq!(page_settings(&store), (16384, "HMAC_SHA256".to_owned()));
    let len = fs::metadata(store.location()).expect("stat").len();
    assert_eq!(len % 16384, 0);
    // A second connection (the outbox's readers) opens it the same way.
    let other = store.another_connection().expect("second connection");
    assert_eq!(page_settings(&other), (16384, "HMAC_SHA256".to_owned()));
    other.check_integrity().expect("intact");
}

#[test]
fn a_store_made_with_sqlcipher_defaults_still_opens_with_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::default();
    let store = Store::create_with(dir.path(), &vault, CipherSettings::Sqlcipher4Defaults)
        .expect("create as version 1 did");
    let id: String = store
        .conn()
        .query_row("SELECT store_id FROM store_meta", [], |r| r.get(0))
        .expect("id");
    drop(store);
    let account = Store::keyring_account(dir.path());
    let secret = vault.load(&account).expect("vault").expect("secret");
    assert!(secret.contains(r#""v":1"#), "recorded as version 1");
    let store = Store::open(dir.path(), &vault).expect("reopens");
    assert_eq!(page_settings(&store), (4096, "HMAC_SHA512".to_owned()));
    let again: String = store
        .conn()
        .query_row("SELECT store_id FROM store_meta", [], |r| r.get(0))
        .expect("id");
    assert_eq!(again, id);
    store.check_integrity().expect("intact");
}

#[test]
fn store_file_holds_no_key_material() {
    let (dir, vault) = new_store();
    let secret = vault
        .get(&Store::keyring_account(dir.path()))
        .expect("entry");
    let key = StoreKey::from_secret(&secret).expect("ours");
    let key_hex = hex::encode(key.key);
    for name in listing(dir.path()) {
        let bytes = fs::read(dir.path().join(&name)).expect("read");
        assert!(
            !bytes.windows(32).any(|w| w == key.key),
            "raw key bytes found in {name}"
        );
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(!text.contains(&key_hex), "hex key found in {name}");
    }
}

#[test]
fn opening_where_nothing_exists_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::default();
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.not_initialised");
    assert!(listing(dir.path()).is_empty());
    let status = Store::probe(dir.path(), &vault);
    assert!(matches!(status.state, StoreState::NotInitialised));
}

#[test]
fn missing_key_is_a_clear_error_and_the_file_is_untouched() {
    let (dir, vault) = new_store();
    let db = store_file(dir.path());
    let before = fingerprint(&db);
    vault
        .delete(&Store::keyring_account(dir.path()))
        .expect("delete");
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.key_missing");
    assert!(err.to_string().contains("No key for the store"));
    assert!(err.to_string().contains("has not been changed"));
    assert_eq!(fingerprint(&db), before);
    assert_eq!(listing(dir.path()), vec!["clinshare.db"]);
    // And set-up refuses to make a new store over it.
    let err = Store::create(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.already_exists");
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn another_stores_key_is_reported_as_not_matching() {
    let (a, vault) = new_store();
    let b = tempfile::tempdir().expect("tempdir");
    drop(Store::create(b.path(), &vault).expect("create b"));
    let db = store_file(a.path());
    let before = fingerprint(&db);
    let b_secret = vault.get(&Store::keyring_account(b.path())).expect("b key");
    vault.put(&Store::keyring_account(a.path()), b_secret);
    let err = Store::open(a.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.key_mismatch");
    assert!(err.to_string().contains("does not match this store"));
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn a_foreign_keyring_secret_is_reported_as_not_matching() {
    let (dir, vault) = new_store();
    vault.put(&Store::keyring_account(dir.path()), "hunter2".into());
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.key_mismatch");
}

#[test]
fn a_wrong_key_with_the_right_salt_cannot_decrypt_and_changes_nothing() {
    let (dir, vault) = new_store();
    let account = Store::keyring_account(dir.path());
    let secret = vault.get(&account).expect("entry");
    let mut record: serde_json::Value = serde_json::from_str(&secret).expect("json");
    record["key"] = serde_json::Value::String("11".repeat(32));
    vault.put(&account, record.to_string());
    let db = store_file(dir.path());
    let before = fingerprint(&db);
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.damaged", "{err}");
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn truncated_store_is_damaged_and_left_alone() {
    let (dir, vault) = new_store();
    let db = store_file(dir.path());
    let bytes = fs::read(&db).expect("read");
    fs::write(&db, &bytes[..bytes.len() - 100]).expect("truncate");
    let before = fingerprint(&db);
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.damaged");
    assert!(err.to_string().contains("truncated"));
    assert_eq!(fingerprint(&db), before);

    fs::write(&db, b"").expect("empty");
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.damaged");
}

#[test]
fn corrupt_first_page_is_damaged_and_left_alone() {
    let (dir, vault) = new_store();
    let db = store_file(dir.path());
    let mut bytes = fs::read(&db).expect("read");
    for b in &mut bytes[100..200] {
        *b ^= 0x5a;
    }
    fs::write(&db, &bytes).expect("corrupt");
    let before = fingerprint(&db);
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.damaged");
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn corrupt_inner_page_is_found() {
    let (dir, vault) = new_store();
    let db = store_file(dir.path());
    let mut bytes = fs::read(&db).expect("read");
    let page = CipherSettings::LargePagesSha256.page_size() as usize;
    assert!(bytes.len() >= 3 * page, "store has several pages");
    let at = 2 * page + 50;
    bytes[at] ^= 0xff;
    fs::write(&db, &bytes).expect("corrupt");
    let found = match Store::open(dir.path(), &vault) {
        Err(e) => e.code() == "store.damaged",
        Ok(store) => store
            .check_integrity()
            .err()
            .is_some_and(|e| e.code() == "store.damaged"),
    };
    assert!(found, "a flipped byte in page 3 must be reported as damage");
}

#[test]
fn plaintext_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = store_file(dir.path());
    let conn = Connection::open(&db).expect("plain sqlite");
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .expect("write");
    drop(conn);
    let before = fingerprint(&db);
    let vault = MemoryVault::default();
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.not_encrypted");
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn store_from_a_newer_version_is_refused_before_any_write() {
    let (dir, vault) = new_store();
    {
        let store = Store::open(dir.path(), &vault).expect("open");
        store
            .conn()
            .execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'future', 'x')",
                [migrate::latest_version() + 1],
            )
            .expect("insert");
        store
            .conn()
            .execute_batch("PRAGMA journal_mode = DELETE;")
            .expect("leave WAL so the file is self-contained");
    }
    let db = store_file(dir.path());
    let before = fingerprint(&db);
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.newer_schema");
    assert!(err.to_string().contains("newer version of ClinShare"));
    assert_eq!(fingerprint(&db), before);
}

#[test]
fn orphaned_key_without_a_store_file_is_never_replaced() {
    let (dir, vault) = new_store();
    let db = store_file(dir.path());
    fs::remove_file(&db).expect("remove");
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.file_missing");
    let err = Store::create(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "store.file_missing");
    assert!(!db.exists(), "no new empty store was made");
}

#[test]
fn unavailable_keyring_is_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::broken();
    let err = Store::create(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "keyring.unavailable");
    assert!(err.to_string().contains("keyring is not available"));
    assert!(listing(dir.path()).is_empty());

    let (dir, good) = new_store();
    let db = store_file(dir.path());
    let before = fingerprint(&db);
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    assert_eq!(err.code(), "keyring.unavailable");
    assert_eq!(fingerprint(&db), before);
    drop(good);
}

#[test]
fn errors_never_contain_key_material() {
    let (dir, vault) = new_store();
    let account = Store::keyring_account(dir.path());
    let secret = vault.get(&account).expect("entry");
    let key = StoreKey::from_secret(&secret).expect("ours");
    let key_hex = hex::encode(key.key);
    let mut record: serde_json::Value = serde_json::from_str(&secret).expect("json");
    record["key"] = serde_json::Value::String("22".repeat(32));
    vault.put(&account, record.to_string());
    let err = Store::open(dir.path(), &vault).err().expect("refused");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&key_hex));
    assert!(!shown.contains(&"22".repeat(32)));
}

/// The pass's connection, the outbox readers' and another process's all
/// write while one stays open: each sees the others' writes, blobs and a
/// truncating checkpoint included, with either cipher setting.
#[test]
fn connections_see_each_others_writes_with_either_cipher_setting() {
    for settings in [
        CipherSettings::Sqlcipher4Defaults,
        CipherSettings::LargePagesSha256,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = MemoryVault::default();
        let a = Store::create_with(dir.path(), &vault, settings).expect("create");
        a.conn()
            .execute_batch(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);
                 CREATE TABLE u (id INTEGER PRIMARY KEY, s TEXT);",
            )
            .expect("tables");
        let blob = vec![7u8; 40_000];
        a.conn()
            .execute("INSERT INTO t VALUES (1, ?1)", [&blob])
            .expect("blob");
        for i in 0..50 {
            a.conn()
                .execute("INSERT INTO u (s) VALUES (?1)", [format!("row {i}")])
                .expect("row");
        }
        let mut changed = blob.clone();
        changed[20_000] ^= 1;
        {
            let b = Store::open(dir.path(), &vault).expect("second");
            b.conn()
                .execute("UPDATE t SET b = ?1 WHERE id = 1", [&changed])
                .expect("update blob");
            let c = b.another_connection().expect("third");
            c.conn()
                .execute("UPDATE u SET s = 'changed' WHERE id = 3", [])
                .expect("update row");
            b.conn()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .expect("checkpoint");
        }
        let seen: Vec<u8> = a
            .conn()
            .query_row("SELECT b FROM t", [], |r| r.get(0))
            .expect("blob read");
        assert_eq!(seen, changed, "{settings:?}");
        let s: String = a
            .conn()
            .query_row("SELECT s FROM u WHERE id = 3", [], |r| r.get(0))
            .expect("row read");
        assert_eq!(s, "changed", "{settings:?}");
        a.check_integrity().expect("intact");
    }
}

/// The app keeps its store open while the CLI (another process) opens,
/// writes and closes it. The app meanwhile opens more connections and
/// asks for its status; none of that may drop its file locks, or the
/// CLI's close would checkpoint and remove the WAL under it.
#[test]
fn another_process_closing_the_store_leaves_ours_working() {
    const CHILD_DIR: &str = "CLINSHARE_TEST_OTHER_PROCESS_STORE";
    const CHILD_SECRET: &str = "CLINSHARE_TEST_OTHER_PROCESS_SECRET";
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        // The other process: the same store, its key handed over.
        let vault = MemoryVault::default();
        let secret = std::env::var(CHILD_SECRET).expect("secret");
        vault
            .save(&Store::keyring_account(Path::new(&dir)), &secret)
            .expect("save");
        let other = Store::open(Path::new(&dir), &vault).expect("open in the other process");
        other
            .conn()
            .execute("UPDATE t SET b = zeroblob(40000) WHERE id = 1", [])
            .expect("write");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = MemoryVault::default();
    let app = Store::create(dir.path(), &vault).expect("create");
    app.conn()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);
             INSERT INTO t VALUES (1, randomblob(40000));",
        )
        .expect("table");
    // What the app does while it runs: its status, more connections.
    app.status().expect("status");
    let worker = Store::open(dir.path(), &vault).expect("worker");
    drop(worker);
    let reader = app.another_connection().expect("reader");
    drop(reader);

    let secret = vault
        .load(&Store::keyring_account(dir.path()))
        .expect("vault")
        .expect("secret");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "store::tests::another_process_closing_the_store_leaves_ours_working",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_SECRET, secret.as_str())
        .output()
        .expect("the other process");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Had our locks been dropped, the other process's close would have
    // found the store unused, checkpointed it and deleted the WAL that
    // our connections still use.
    let wal = store_file(dir.path()).with_extension("db-wal");
    assert!(wal.exists(), "the other process deleted the WAL under us");
    // The app carries on: its worker writes and checkpoints.
    let worker = Store::open(dir.path(), &vault).expect("worker again");
    worker
        .conn()
        .execute_batch(
            "CREATE TABLE later (id INTEGER PRIMARY KEY, b BLOB);
             INSERT INTO later VALUES (1, randomblob(100000));",
        )
        .expect("worker writes");
    worker
        .conn()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(worker);
    let seen: (i64, i64) = app
        .conn()
        .query_row(
            "SELECT (SELECT b = zeroblob(40000) FROM t WHERE id = 1), \
                    (SELECT length(b) FROM later WHERE id = 1)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the app still reads its store");
    assert_eq!(seen, (1, 100_000), "both writes are seen");
    app.check_integrity().expect("intact");
}
