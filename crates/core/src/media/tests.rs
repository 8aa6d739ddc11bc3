use std::path::{Path, PathBuf};

use std::sync::atomic::AtomicBool;

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
fn a_heic_photo_gets_a_jpeg_thumbnail() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let imported = import_bytes(&mut store, &nurse, &fixture("kam_exif.heic"), None);
    let Ok(Imported::New { id, .. }) = imported else {
        panic!("expected new, got {imported:?}");
    };
    let thumb = thumbnail(&store, &id).expect("read").expect("a thumbnail");
    assert_eq!(
        clinshare_media::sniff(&thumb).expect("sniff"),
        clinshare_media::Format::Jpeg
    );
    let listed = list(&store, None).expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].has_thumbnail);
    assert_eq!(listed[0].format, "heic");
    assert_eq!(bytes(&mut store, &nurse, "0000").expect("read"), None);
}

#[test]
fn a_heic_photo_libheif_cannot_decode_is_kept_without_a_thumbnail() {
    // ExifTool's sample: a valid container whose picture data is cut short.
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let imported = import_bytes(&mut store, &nurse, &fixture("et_QuickTime.heic"), None);
    let Ok(Imported::New { id, .. }) = imported else {
        panic!("expected new, got {imported:?}");
    };
    assert_eq!(thumbnail(&store, &id).expect("read"), None);
    assert!(!list(&store, None).expect("list")[0].has_thumbnail);
}

#[test]
fn a_video_gets_an_upright_poster_frame_as_its_thumbnail() {
    // 568x320 coded, shown rotated a quarter turn (a phone held upright).
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let imported = import_bytes(&mut store, &nurse, &fixture("dn_with-gps.mov"), None);
    let Ok(Imported::New { id, .. }) = imported else {
        panic!("expected new, got {imported:?}");
    };
    let thumb = thumbnail(&store, &id)
        .expect("read")
        .expect("a poster frame");
    let shown = clinshare_media::sanitise(&thumb, &Default::default()).expect("a clean JPEG");
    assert_eq!(shown.format, clinshare_media::Format::Jpeg);
    assert_eq!(
        (shown.width, shown.height),
        (144, 256),
        "portrait, long edge 256"
    );
    assert_eq!(shown.bytes, thumb, "nothing of ffmpeg's left to strip");
    assert!(list(&store, None).expect("list")[0].has_thumbnail);
}

fn photo_folder(names: &[&str]) -> tempfile::TempDir {
    let input = tempfile::tempdir().expect("tempdir");
    for (i, name) in names.iter().enumerate() {
        std::fs::write(input.path().join(format!("{i:02}.jpg")), fixture(name)).expect("write");
    }
    input
}

#[test]
fn a_batch_reports_progress_for_every_file_and_keeps_the_sorted_order() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let input = photo_folder(&[SONY, CANON, SONY]);
    std::fs::write(input.path().join("03.jpg"), b"not a picture").expect("write");
    let cancel = AtomicBool::new(false);
    let mut events = Vec::new();
    let report = import_paths_with(
        &mut store,
        &nurse,
        &[input.path().to_owned()],
        None,
        ImportControl {
            cancel: &cancel,
            progress: &mut |p| events.push(p),
            workers: 2,
            delete_originals: false,
        },
    );
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            f.path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["00.jpg", "01.jpg", "02.jpg", "03.jpg"]);
    assert!(matches!(report.files[1].result, Outcome::Imported { .. }));
    // The same picture twice in one batch: whichever worker finishes first
    // stores it; the other is found by hash and not stored.
    let twins = [&report.files[0].result, &report.files[2].result];
    assert_eq!(
        twins
            .iter()
            .filter(|o| matches!(o, Outcome::Imported { .. }))
            .count(),
        1,
        "{twins:?}"
    );
    assert_eq!(
        twins
            .iter()
            .filter(|o| matches!(o, Outcome::Duplicate { .. }))
            .count(),
        1,
        "{twins:?}"
    );
    assert!(matches!(
        &report.files[3].result,
        Outcome::Rejected { code, .. } if code == "media.unsupported_format"
    ));
    assert_eq!(report.cancelled, 0);
    assert!(matches!(events.first(), Some(Progress::Found { total: 4 })));
    let finished: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Finished { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(finished, [(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert_eq!(count(&store, "media"), 2);
}

#[test]
fn a_cancelled_batch_stores_nothing_more_and_counts_what_was_left() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let input = photo_folder(&[SONY, CANON, SONY, CANON]);
    let cancel = AtomicBool::new(false);
    let report = import_paths_with(
        &mut store,
        &nurse,
        &[input.path().to_owned()],
        None,
        ImportControl {
            cancel: &cancel,
            // Cancel as soon as the first file is finished.
            progress: &mut |p| {
                if matches!(p, Progress::Finished { .. }) {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
            workers: 1,
            delete_originals: false,
        },
    );
    assert_eq!(report.files.len(), 1, "{report:?}");
    assert_eq!(report.cancelled, 3);
    assert_eq!(count(&store, "media"), 1);
    assert_eq!(import_entries(&store), 1);
}

#[test]
fn importing_for_an_unknown_patient_refuses_every_file_before_reading_any() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let input = photo_folder(&[SONY, CANON]);
    let report = import_paths(&mut store, &nurse, &[input.path().to_owned()], Some(4242));
    assert_eq!(report.files.len(), 2);
    for f in &report.files {
        assert!(
            matches!(&f.result, Outcome::Rejected { code, .. } if code == "import.unknown_patient"),
            "{f:?}"
        );
    }
    assert_eq!(count(&store, "media"), 0);
}

#[test]
fn tagging_moves_photos_out_of_the_tray_and_audits_each() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let patient = add_patient(&store, &nurse);
    let Ok(Imported::New { id, .. }) = import_bytes(&mut store, &nurse, &fixture(SONY), None)
    else {
        panic!("import");
    };
    assert_eq!(list(&store, Some(None)).expect("tray").len(), 1);

    let unknown = assign(&mut store, &nurse, &[id.clone(), "feed".into()], patient);
    assert!(matches!(unknown, Err(AnnotateError::UnknownMedia)));
    assert_eq!(
        list(&store, Some(None)).expect("tray").len(),
        1,
        "all or nothing"
    );
    let no_patient = assign(&mut store, &nurse, std::slice::from_ref(&id), 999);
    assert!(matches!(no_patient, Err(AnnotateError::UnknownPatient)));

    assign(&mut store, &nurse, std::slice::from_ref(&id), patient).expect("assign");
    assert!(list(&store, Some(None)).expect("tray").is_empty());
    assert_eq!(list(&store, Some(Some(patient))).expect("patient").len(), 1);
    let tags: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'tag' AND media_id = ?1 AND patient_id = ?2",
            rusqlite::params![id, patient],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tags, 1);
}

#[test]
fn body_site_and_notes_are_kept_and_their_text_stays_out_of_the_audit_trail() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let Ok(Imported::New { id, .. }) = import_bytes(&mut store, &nurse, &fixture(SONY), None)
    else {
        panic!("import");
    };
    let orphan_detail = annotate(
        &mut store,
        &nurse,
        &id,
        MediaNotes {
            body_site: None,
            body_site_detail: Some("above the ankle".into()),
            notes: None,
        },
    );
    assert!(matches!(orphan_detail, Err(AnnotateError::DetailNeedsSite)));
    let too_long = annotate(
        &mut store,
        &nurse,
        &id,
        MediaNotes {
            notes: Some("x".repeat(501)),
            ..MediaNotes::default()
        },
    );
    assert!(matches!(too_long, Err(AnnotateError::TooLong { .. })));

    annotate(
        &mut store,
        &nurse,
        &id,
        MediaNotes {
            body_site: Some(BodySite::LeftHeel),
            body_site_detail: Some("  lateral border ".into()),
            notes: Some("Slough reduced since last visit".into()),
        },
    )
    .expect("annotate");
    let item = &list(&store, None).expect("list")[0];
    assert_eq!(item.body_site, Some(BodySite::LeftHeel));
    assert_eq!(item.body_site_detail.as_deref(), Some("lateral border"));
    assert_eq!(
        item.notes.as_deref(),
        Some("Slough reduced since last visit")
    );
    let trail: String = store
        .conn()
        .query_row(
            "SELECT group_concat(details) FROM audit_log WHERE action = 'tag'",
            [],
            |r| r.get(0),
        )
        .expect("details");
    assert!(trail.contains("left_heel"), "{trail}");
    assert!(
        !trail.contains("Slough") && !trail.contains("lateral"),
        "{trail}"
    );
    assert_eq!(BodySite::from_code("left_heel"), Some(BodySite::LeftHeel));
    assert!(BodySite::ALL
        .iter()
        .all(|s| BodySite::from_code(&s.code()) == Some(*s)));
}

#[test]
fn originals_are_deleted_only_once_safely_stored_and_never_through_a_link() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let card = photo_folder(&[SONY, CANON]);
    std::fs::write(card.path().join("02.jpg"), b"not a picture").expect("write");
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().join("target.jpg");
    std::fs::write(&target, fixture(SONY)).expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, card.path().join("03.jpg")).expect("ln");
    let cancel = AtomicBool::new(false);
    let report = import_paths_with(
        &mut store,
        &nurse,
        &[card.path().to_owned()],
        None,
        ImportControl {
            cancel: &cancel,
            progress: &mut |_| {},
            workers: 2,
            delete_originals: true,
        },
    );
    assert_eq!(count(&store, "media"), 2, "{report:?}");
    assert!(!card.path().join("00.jpg").exists(), "imported: deleted");
    assert!(!card.path().join("01.jpg").exists(), "imported: deleted");
    assert!(card.path().join("02.jpg").exists(), "rejected: kept");
    #[cfg(unix)]
    {
        let link = std::fs::symlink_metadata(card.path().join("03.jpg"));
        assert!(link.is_ok(), "a link is never deleted");
        assert!(target.exists(), "nor what it points to");
    }
    assert_eq!(report.originals_deleted, 2, "{report:?}");
    assert!(report.originals_kept.is_empty(), "{report:?}");
}

#[test]
fn heif_pictures_are_shown_as_jpeg_previews_and_the_rest_as_stored() {
    let heic = clinshare_media::sanitise(&fixture("kam_exif.heic"), &Default::default())
        .expect("sanitise")
        .bytes;
    let (shown, mime) = viewable(heic, "heic");
    assert_eq!(mime, "image/jpeg");
    assert_eq!(
        clinshare_media::sniff(&shown).expect("sniff"),
        clinshare_media::Format::Jpeg
    );
    let png = fixture("dn_sampleWithExifData.png");
    assert_eq!(viewable(png.clone(), "png"), (png, "image/png"));
    // Not decodable: the bytes as stored, with their own type.
    let cut = fixture("et_QuickTime.heic");
    assert_eq!(viewable(cut.clone(), "heic"), (cut, "image/heif"));
}

/// Stand in for a referral of `media` delivered with a receipt ten days
/// ago, then let retention (7 days by default) purge it for real.
fn sent_and_purged(store: &mut Store, by: &Actor, patient: i64, media: &str) {
    let ten_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(10);
    let stamp = ten_days_ago
        .format(&time::format_description::well_known::Rfc3339)
        .expect("stamp");
    store
        .conn()
        .execute(
            "INSERT INTO referrals (id, patient_id, team_id, team_name, organisation, \
             clinical_question, urgency, state, confirmed_by, confirmed_at, created_by, \
             created_at, updated_at, server_referral_id, receipt_json, delivered_at) \
             VALUES ('r1', ?1, 'tv', 'Tissue Viability', 'NHS Lanarkshire', 'Healing?', \
             'routine', 'delivered', ?2, ?3, ?2, ?3, ?3, 'srv-1', '{}', ?3)",
            rusqlite::params![patient, by.id(), stamp],
        )
        .expect("referral");
    store
        .conn()
        .execute(
            "INSERT INTO referral_media (referral_id, media_id, position) VALUES ('r1', ?1, 0)",
            [media],
        )
        .expect("referral media");
    let purged =
        crate::retention::purge_expired(store, by, time::OffsetDateTime::now_utc()).expect("purge");
    assert_eq!(purged.purged, [media]);
}

/// A patient's photo imported from `source`, sent and purged by retention; its id.
fn purged_photo(store: &mut Store, by: &Actor, source: &[u8]) -> (i64, String) {
    let patient = add_patient(store, by);
    let Imported::New { id, .. } = import_bytes(store, by, source, Some(patient)).expect("import")
    else {
        panic!("expected new");
    };
    sent_and_purged(store, by, patient, &id);
    assert!(bytes(store, by, &id).expect("read").is_none(), "purged");
    (patient, id)
}

#[test]
fn a_purged_photo_imported_again_gets_its_bytes_back_in_its_own_record() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let source = fixture(SONY);
    let (patient, id) = purged_photo(&mut store, &nurse, &source);

    // Into the tray this time: the record keeps its patient and referral.
    let again = import_bytes(&mut store, &nurse, &source, None).expect("import");
    let Imported::New {
        id: restored,
        sha256,
    } = again
    else {
        panic!("expected the photo imported again, got {again:?}");
    };
    assert_eq!(restored, id, "the same record, still named by its referral");
    assert_eq!(count(&store, "media"), 1);
    let stored = bytes(&mut store, &nurse, &id).expect("read").expect("held");
    assert_eq!(hex::encode(Sha256::digest(&stored)), sha256);
    assert!(thumbnail(&store, &id).expect("read").is_some());
    let listed = list(&store, Some(Some(patient))).expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].has_thumbnail);
    assert_eq!(
        count_where(&store, "SELECT count(*) FROM media WHERE purged_at IS NULL"),
        1
    );
    assert_eq!(
        count_where(
            &store,
            "SELECT count(*) FROM referral_media WHERE media_id IN (SELECT id FROM media)"
        ),
        1
    );

    // Audited as a re-import after the purge, for the record's patient.
    let (who, what, details): (Option<i64>, Option<String>, String) = store
        .conn()
        .query_row(
            "SELECT patient_id, media_id, details FROM audit_log WHERE action = 'import' \
             ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("audit");
    assert_eq!((who, what.as_deref()), (Some(patient), Some(id.as_str())));
    let details: serde_json::Value = serde_json::from_str(&details).expect("json");
    assert_eq!(details["reimport"], true, "{details}");
    assert!(details["purged_at"].is_string(), "{details}");
    assert_eq!(import_entries(&store), 2);
    assert!(crate::audit::verify(&store).expect("verify").is_intact());

    // Held again, so now it is a duplicate.
    let third = import_bytes(&mut store, &nurse, &source, None).expect("import");
    assert_eq!(third, Imported::Duplicate { existing_id: id });
    assert_eq!(import_entries(&store), 2);
}

fn import_deleting_originals(store: &mut Store, by: &Actor, card: &Path) -> ImportReport {
    let cancel = AtomicBool::new(false);
    import_paths_with(
        store,
        by,
        &[card.to_owned()],
        None,
        ImportControl {
            cancel: &cancel,
            progress: &mut |_| {},
            workers: 1,
            delete_originals: true,
        },
    )
}

#[test]
fn after_a_purge_an_original_is_deleted_only_once_the_store_holds_its_photo_again() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let (_, id) = purged_photo(&mut store, &nurse, &fixture(SONY));
    let card = photo_folder(&[SONY]);
    let original = card.path().join("00.jpg");

    let report = import_deleting_originals(&mut store, &nurse, card.path());
    assert_eq!(
        report.files[0].result,
        Outcome::Imported { id: id.clone() },
        "{report:?}"
    );
    assert_eq!(report.originals_deleted, 1, "{report:?}");
    assert!(!original.exists());
    assert!(bytes(&mut store, &nurse, &id).expect("read").is_some());
}

#[test]
fn a_photo_imported_again_is_not_purged_until_its_own_retention_period_has_passed() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let source = fixture(SONY);
    let (_, id) = purged_photo(&mut store, &nurse, &source);
    import_bytes(&mut store, &nurse, &source, None).expect("import again");

    // The next sync's purge: its referral was delivered ten days ago, but
    // the nurse has only just brought it back.
    let now = time::OffsetDateTime::now_utc();
    let purged = crate::retention::purge_expired(&mut store, &nurse, now).expect("purge");
    assert!(purged.purged.is_empty(), "{:?}", purged.purged);
    assert!(bytes(&mut store, &nurse, &id).expect("read").is_some());

    // Once the default seven days have passed since then, it goes again.
    let later = now + time::Duration::days(8);
    let purged = crate::retention::purge_expired(&mut store, &nurse, later).expect("purge");
    assert_eq!(purged.purged, [id.as_str()]);
}

#[test]
fn an_original_is_kept_when_its_photo_is_no_longer_in_the_store() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let source = fixture(SONY);
    let sha256 = clinshare_media::sanitise(&source, &Default::default())
        .expect("sanitise")
        .sha256_hex();
    let (_, id) = purged_photo(&mut store, &nurse, &source);
    let card = photo_folder(&[SONY, CANON]);
    let (purged_original, other) = (card.path().join("00.jpg"), card.path().join("01.jpg"));

    // As when the app's sync purges the photo between storing and deleting,
    // or the original is claimed for another record or other bytes.
    let mut report = ImportReport::default();
    let originals = vec![
        batch::Original {
            path: purged_original.clone(),
            id: id.clone(),
            sha256: sha256.clone(),
        },
        batch::Original {
            path: other.clone(),
            id: "no-such-media".into(),
            sha256,
        },
    ];
    batch::remove_originals(&store, &mut report, originals);
    assert_eq!(report.originals_deleted, 0, "{report:?}");
    assert_eq!(report.originals_kept.len(), 2, "{report:?}");
    assert!(report.originals_kept[0].contains("the store does not hold its photo"));
    assert!(purged_original.exists() && other.exists());
}
