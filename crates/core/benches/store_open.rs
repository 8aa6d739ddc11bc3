//! Store open time: a store holding 10,000 rows, opened through the real OS
//! keyring (run under a Secret Service session, as scripts/bench.sh does).
//! Target: under 50 ms.

use criterion::{criterion_group, criterion_main, Criterion};

use clinshare_core::{OsKeyring, Store};

fn store_open(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = OsKeyring::new();
    {
        let mut store = Store::create(dir.path(), &vault).expect("create (is a keyring running?)");
        let tx = store.conn_mut().transaction().expect("tx");
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO users (name, passphrase_hash, created_at) VALUES (?1, ?2, ?3)",
                )
                .expect("prepare");
            for i in 0..10_000 {
                insert
                    .execute(rusqlite::params![
                        format!("clinician {i:05}"),
                        format!("$argon2id$v=19$m=19456,t=2,p=1${}", "x".repeat(120)),
                        "2026-11-29T00:00:00Z"
                    ])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }

    c.bench_function("store_open_10k_rows_real_keyring", |b| {
        b.iter(|| {
            let store = Store::open(dir.path(), &vault).expect("open");
            let status = store.status().expect("status");
            std::hint::black_box(status);
        })
    });

    let _ = vault_cleanup(dir.path(), &vault);
}

fn vault_cleanup(
    dir: &std::path::Path,
    vault: &OsKeyring,
) -> Result<(), clinshare_core::StoreError> {
    use clinshare_core::KeyVault;
    vault.delete(&Store::keyring_account(dir))
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = store_open
}
criterion_main!(benches);
