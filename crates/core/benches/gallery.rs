//! Opening a patient with 10,000 photos: the record, the consents, the
//! gallery list and the first screenful of thumbnails (24), serialised as
//! the app sends them. Target: under 200 ms to the first thumbnails. Run
//! under a Secret Service session (scripts/bench.sh), as the store's key is
//! in the OS keyring.

use criterion::{criterion_group, criterion_main, Criterion};

use clinshare_core::{consent, media, patients, session, setup, OsKeyring, Store};

const PHOTOS: usize = 10_000;
const FIRST_SCREEN: usize = 24;

fn gallery(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vault = OsKeyring::new();
    let mut store = setup::initialise(dir.path(), &vault, "Bench", "benchmark passphrase")
        .expect("initialise (is a keyring running?)");
    let actor = session::sign_in(&mut store, "Bench", "benchmark passphrase").expect("sign in");
    let patient = patients::create(
        &mut store,
        &actor,
        patients::NewPatient {
            identifier: clinshare_core::identifiers::PatientIdentifier::nhs("9434765919")
                .expect("nhs"),
            confirmation: patients::Confirmation::Unattended,
            family_name: "Doe".into(),
            given_name: "Jane".into(),
            date_of_birth: patients::parse_date("1972-04-15").expect("date"),
        },
    )
    .expect("patient");
    // Rows as an import leaves them, with a ~12 KB thumbnail; the photo's
    // bytes are a stand-in (nothing here reads them).
    let thumb: Vec<u8> = (0..12_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    {
        let tx = store.conn_mut().transaction().expect("tx");
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO media (id, patient_id, sha256, format, width, height, captured_at, \
                     imported_at, imported_by, has_thumbnail, size, removed_json) \
                     VALUES (?1, ?2, ?3, 'jpeg', 4000, 3000, ?4, '2026-11-29T00:00:00Z', ?5, 1, 4000000, '[]')",
                )
                .expect("prepare");
            let mut content = tx
                .prepare(
                    "INSERT INTO media_content (media_id, bytes, thumbnail) VALUES (?1, x'00', ?2)",
                )
                .expect("prepare");
            for i in 0..PHOTOS {
                insert
                    .execute(rusqlite::params![
                        format!("{i:032x}"),
                        patient.id,
                        format!("{i:064x}"),
                        format!(
                            "2026-{:02}-{:02}T10:{:02}:00",
                            1 + i % 12,
                            1 + i % 28,
                            i % 60
                        ),
                        actor.user_id().0,
                    ])
                    .expect("insert");
                content
                    .execute(rusqlite::params![format!("{i:032x}"), thumb])
                    .expect("insert content");
            }
        }
        tx.commit().expect("commit");
    }
    drop(store);
    let mut store = Store::open(dir.path(), &vault).expect("open");

    c.bench_function("open_patient_10k_photos_first_thumbnails", |b| {
        b.iter(|| {
            let record = patients::open(&mut store, &actor, patient.id).expect("record");
            let consents = consent::for_patient(&store, record.id).expect("consents");
            let items = media::list(&store, Some(Some(record.id))).expect("list");
            let json = serde_json::to_vec(&items).expect("json");
            let mut bytes = 0;
            for item in items.iter().take(FIRST_SCREEN) {
                bytes += media::thumbnail(&store, &item.id)
                    .expect("thumb")
                    .map_or(0, |t| t.len());
            }
            std::hint::black_box((consents, json.len(), bytes))
        })
    });

    use clinshare_core::KeyVault;
    let _ = vault.delete(&Store::keyring_account(dir.path()));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = gallery
}
criterion_main!(benches);
