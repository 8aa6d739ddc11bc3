use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::*;
use crate::test_support::{actor, count, open_store};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures")
        .join(name);
    std::fs::read(path).expect("fixture")
}

/// A Sony camera JPEG with a full EXIF block (make, model, dates).
const SONY: &str = "dn_Sony_Cybershot_5.jpg";
/// A Canon PowerShot JPEG (EXIF, XMP, IPTC).
const CANON: &str = "et_ExifTool.jpg";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn add_patient(store: &Store, by: &Actor) -> i64 {
    store
        .conn()
        .execute(
            "INSERT INTO patients (id_kind, id_value, family_name, given_name, date_of_birth, \
             created_at, created_by) VALUES ('nhs', '9434765919', 'Doe', 'Jane', '1972-04-15', 'x', ?1)",
            [by.id()],
        )
        .expect("patient");
    store.conn().last_insert_rowid()
}

fn import_entries(store: &Store) -> i64 {
    store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'import'",
            [],
            |r| r.get(0),
        )
        .expect("count")
}

#[test]
fn a_photo_is_stored_sanitised_with_thumbnail_and_audit_entry() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let patient = add_patient(&store, &nurse);
    let source = fixture(SONY);
    assert!(contains(&source, b"SONY"), "the fixture names its camera");

    let imported = import_bytes(&mut store, &nurse, &source, Some(patient)).expect("import");
    let Imported::New { id, sha256 } = imported else {
        panic!("expected a new item, got {imported:?}");
    };

    let stored = bytes(&mut store, &nurse, &id)
        .expect("read")
        .expect("found");
    assert_eq!(hex::encode(Sha256::digest(&stored)), sha256);
    assert!(!contains(&stored, b"SONY"), "the camera make was stripped");
    assert!(!contains(&stored, b"DSC-"), "the camera model was stripped");
    let thumb = thumbnail(&store, &id).expect("read").expect("a thumbnail");
    assert_eq!(&thumb[..3], &[0xFF, 0xD8, 0xFF]);

    let listed = list(&store, Some(Some(patient))).expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].has_thumbnail);
    assert_eq!(listed[0].format, "jpeg");
    assert!(list(&store, Some(None)).expect("list").is_empty());

    let (patient_id, media_id, details): (Option<i64>, Option<String>, String) = store
        .conn()
        .query_row(
            "SELECT patient_id, media_id, details FROM audit_log WHERE action = 'import'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("import entry");
    assert_eq!(patient_id, Some(patient));
    assert_eq!(media_id.as_deref(), Some(id.as_str()));
    assert!(details.contains("\"exif\""), "{details}");
    assert!(
        !details.contains("Doe") && !details.contains(".jpg"),
        "{details}"
    );
    assert_eq!(
        count_where(
            &store,
            "SELECT count(*) FROM audit_log WHERE action = 'view'"
        ),
        1
    );
    assert!(audit::verify(&store).expect("verify").is_intact());
}

fn count_where(store: &Store, sql: &str) -> i64 {
    store
        .conn()
        .query_row(sql, [], |r| r.get(0))
        .expect("count")
}

#[test]
fn the_same_photo_twice_is_a_duplicate_and_adds_nothing() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let source = fixture(CANON);
    let first = import_bytes(&mut store, &nurse, &source, None).expect("import");
    let Imported::New { id, .. } = first else {
        panic!("expected new");
    };
    assert!(contains(&source, b"Canon PowerShot"));
    let stored = bytes(&mut store, &nurse, &id)
        .expect("read")
        .expect("found");
    assert!(
        !contains(&stored, b"Canon PowerShot"),
        "camera model stripped"
    );
    let again = import_bytes(&mut store, &nurse, &source, None).expect("import");
    assert_eq!(again, Imported::Duplicate { existing_id: id });
    assert_eq!(count(&store, "media"), 1);
    assert_eq!(import_entries(&store), 1);
    assert_eq!(list(&store, Some(None)).expect("list").len(), 1);
}

#[test]
fn a_malformed_file_is_rejected_and_nothing_is_stored() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let mut broken = fixture(SONY);
    broken.truncate(600);
    let err = import_bytes(&mut store, &nurse, &broken, None).expect_err("rejected");
    assert_eq!(err.code(), "import.rejected");
    assert!(
        err.detail_code().starts_with("media."),
        "{}",
        err.detail_code()
    );
    assert_eq!(err.class(), ErrorClass::Refused);
    assert_eq!(count(&store, "media"), 0);
    assert_eq!(import_entries(&store), 0);

    let gif = fixture("et_GIF.gif");
    let err = import_bytes(&mut store, &nurse, &gif, None).expect_err("rejected");
    assert_eq!(err.detail_code(), "media.unsupported_format");
    assert_eq!(count(&store, "media"), 0);
}

#[test]
fn an_unknown_patient_is_refused() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let err = import_bytes(&mut store, &nurse, &fixture(SONY), Some(4242)).expect_err("refused");
    assert_eq!(err.code(), "import.unknown_patient");
    assert_eq!(count(&store, "media"), 0);
    assert_eq!(import_entries(&store), 0);
}

#[test]
fn folders_are_walked_and_each_file_gets_an_outcome() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let input = tempfile::tempdir().expect("tempdir");
    let sub = input.path().join("visit");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(input.path().join("a.jpg"), fixture(SONY)).expect("write");
    std::fs::write(sub.join("b.jpg"), fixture(CANON)).expect("write");
    std::fs::write(sub.join("c.jpg"), b"not a picture").expect("write");
    std::fs::write(input.path().join(".hidden.jpg"), fixture(SONY)).expect("write");
    #[cfg(unix)]
    {
        let outside = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(outside.path(), fixture(SONY)).expect("write");
        std::os::unix::fs::symlink(outside.path(), input.path().join("link.jpg")).expect("ln");
        // Kept alive until the import is done.
        let report = import_paths(&mut store, &nurse, &[input.path().to_owned()], None);
        drop(outside);
        let imported = report.count(|o| matches!(o, Outcome::Imported { .. }));
        let rejected: Vec<&FileOutcome> = report
            .files
            .iter()
            .filter(|f| matches!(f.result, Outcome::Rejected { .. }))
            .collect();
        assert_eq!(imported, 2, "{report:?}");
        assert_eq!(rejected.len(), 2, "{report:?}");
        assert_eq!(report.skipped_hidden, 1);
        assert!(rejected.iter().any(|f| matches!(
            &f.result,
            Outcome::Rejected { code, .. } if code == "import.not_a_file"
        )));
        assert_eq!(count(&store, "media"), 2);
    }
}

#[test]
fn a_heic_photo_is_stored_without_a_thumbnail() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let imported = import_bytes(&mut store, &nurse, &fixture("kam_exif.heic"), None);
    let Ok(Imported::New { id, .. }) = imported else {
        panic!("expected new, got {imported:?}");
    };
    assert_eq!(thumbnail(&store, &id).expect("read"), None);
    let listed = list(&store, None).expect("list");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].has_thumbnail);
    assert_eq!(listed[0].format, "heic");
    assert_eq!(bytes(&mut store, &nurse, "0000").expect("read"), None);
}
