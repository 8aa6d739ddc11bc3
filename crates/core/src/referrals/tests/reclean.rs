//! Photos an older release cleaned, which the current verifier refuses:
//! cleaned again before sending, audited, and nothing else relaxed.

use clinshare_media::{Limits, MediaError, Verification};
use sha2::{Digest, Sha256};

use super::*;
use crate::referrals::reclean::{reclean_photo, Kept, Reclean};

/// The MOV fixture as the current sanitiser leaves it, and as the previous
/// release left it: a compressor name ("Core Media Video", in the sample
/// entry's 32-byte field) and a handler name still in place. Both are
/// written over bytes the current sanitiser zeroed, so no box changes size.
fn legacy_mov() -> (Vec<u8>, Vec<u8>) {
    let current = clinshare_media::sanitise(&fixture("dn_with-gps.mov"), &Limits::default())
        .expect("the fixture sanitises")
        .bytes;
    let mut legacy = current.clone();
    let vide = find(&legacy, b"vide", 0).expect("a video handler");
    let hdlr = vide - 16;
    assert_eq!(&legacy[hdlr + 4..hdlr + 8], b"hdlr");
    assert_eq!(legacy[hdlr + 32], 0, "an emptied handler name");
    legacy[hdlr + 32] = b'C';
    let stsd = find(&legacy, b"stsd", vide).expect("the video's sample descriptions") - 4;
    let name = stsd + 16 + 50;
    assert!(legacy[name..name + 32].iter().all(|&b| b == 0));
    let maker = b"\x10Core Media Video";
    legacy[name..name + maker.len()].copy_from_slice(maker);
    (legacy, current)
}

fn find(bytes: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A photo written into the store as an earlier release would have left
/// it, with `recorded` as the SHA-256 kept at import.
fn put_photo(w: &mut World, bytes: &[u8], recorded: &str) -> String {
    let id = crate::media::random_id().expect("id");
    let tx = w.store.conn_mut().transaction().expect("tx");
    tx.execute(
        "INSERT INTO media (id, patient_id, sha256, format, width, height, captured_at, \
         imported_at, imported_by, has_thumbnail, size, removed_json) \
         VALUES (?1, ?2, ?3, 'mov', 320, 240, NULL, '2026-06-01T09:00:00Z', ?4, 0, ?5, \
         '[{\"kind\":\"user_data\",\"count\":3}]')",
        rusqlite::params![id, w.patient, recorded, w.nurse.id(), bytes.len() as i64],
    )
    .expect("media");
    tx.execute(
        "INSERT INTO media_content (media_id, bytes, thumbnail) VALUES (?1, ?2, NULL)",
        rusqlite::params![id, bytes],
    )
    .expect("content");
    tx.commit().expect("commit");
    id
}

fn queued_referral_of(w: &mut World, media: &str) -> String {
    let r = create_draft(
        &mut w.store,
        &w.nurse,
        NewReferral {
            patient_id: w.patient,
            team_id: "tv".into(),
            clinical_question: "Is the wound bed granulating?".into(),
            urgency: Urgency::Routine,
            media_ids: vec![w.photos[0].clone(), media.to_owned()],
        },
    )
    .expect("draft");
    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    r.id
}

/// The stored bytes, SHA-256 and size of a photo.
fn stored(w: &World, id: &str) -> (Vec<u8>, String, i64) {
    w.store
        .conn()
        .query_row(
            "SELECT c.bytes, m.sha256, m.size FROM media m \
             JOIN media_content c ON c.media_id = m.id WHERE m.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("stored")
}

/// The details of every `reclean` audit entry, with its media id.
fn reclean_entries(w: &World) -> Vec<(Option<String>, serde_json::Value)> {
    let mut stmt = w
        .store
        .conn()
        .prepare("SELECT media_id, details FROM audit_log WHERE action = 'reclean' ORDER BY seq")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, String>(1)?)))
        .expect("query")
        .map(|r| {
            let (media, details) = r.expect("row");
            (media, serde_json::from_str(&details).expect("json"))
        })
        .collect();
    rows
}

fn state(w: &World, id: &str) -> ReferralState {
    get(&w.store, id).expect("get").expect("exists").state
}

#[test]
fn the_legacy_fixture_is_refused_by_the_verifier_and_cleaned_by_the_sanitiser() {
    let (legacy, current) = legacy_mov();
    let format = clinshare_media::sniff(&legacy).expect("sniff");
    assert!(matches!(
        clinshare_media::verify_structure(&legacy, format),
        Err(MediaError::VerificationFailed { .. })
    ));
    clinshare_media::verify_structure(&current, format).expect("current bytes verify");
    let again =
        clinshare_media::sanitise_with(&legacy, &Limits::default(), Verification::Structure)
            .expect("cleaned again");
    assert_eq!(again.bytes, current, "only the names change");
}

#[test]
fn a_video_cleaned_by_the_previous_release_is_cleaned_again_and_sent() {
    let mut w = world();
    care_consent(&mut w);
    let (legacy, current) = legacy_mov();
    let video = put_photo(&mut w, &legacy, &sha256(&legacy));
    let r = queued_referral_of(&mut w, &video);
    // The screen's recheck (no re-cleaning) blocks it, as before.
    assert!(recheck_outbox(&mut w.store, TODAY)
        .expect("recheck")
        .is_empty());
    assert_eq!(state(&w, &r), ReferralState::Blocked);
    assert_eq!(
        codes(&gate(&w.store, &r, TODAY).expect("gate")),
        ["referral.media_failed_verification"]
    );

    // The sync pass's gate cleans it again and queues the referral again.
    let (outcome, files) = gate_for_sending(&mut w.store, &w.nurse, &r, TODAY).expect("gate");
    let GateOutcome::Clear(manifest) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(state(&w, &r), ReferralState::Queued);
    let (bytes, sha, size) = stored(&w, &video);
    assert_eq!(bytes, current);
    clinshare_media::verify_structure(&bytes, clinshare_media::Format::Mov)
        .expect("the stored bytes verify");
    assert_eq!(sha, sha256(&current));
    assert_eq!(size, current.len() as i64);
    assert_eq!(
        manifest.media[1].sha256, sha,
        "the manifest names the new bytes"
    );
    assert_eq!(manifest.media[1].size, current.len() as u64);
    assert_eq!(files[1], current, "and those are what goes");

    let entries = reclean_entries(&w);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (media, details) = &entries[0];
    assert_eq!(media.as_deref(), Some(video.as_str()));
    assert_eq!(details["referral"], r.as_str());
    assert_eq!(details["format"], "mov");
    assert_eq!(details["previous_sha256"], sha256(&legacy));
    assert_eq!(details["sha256"], sha);
    assert_eq!(details["removed"][0]["kind"], "user_data");
    let text = details.to_string();
    for secret in ["Jane", "Doe", "9434765919", "Core Media"] {
        assert!(!text.contains(secret), "{text}");
    }
    let removed_json: String = w
        .store
        .conn()
        .query_row(
            "SELECT removed_json FROM media WHERE id = ?1",
            [&video],
            |r| r.get(0),
        )
        .expect("removed");
    assert!(removed_json.contains("user_data"), "{removed_json}");
    assert!(audit::verify(&w.store).expect("verify").is_intact());

    // Done once: the next pass finds it current and changes nothing.
    assert!(matches!(
        gate_for_sending(&mut w.store, &w.nurse, &r, TODAY)
            .expect("gate")
            .0,
        GateOutcome::Clear(_)
    ));
    assert_eq!(
        reclean_photo(&mut w.store, &w.nurse, &r, &video).expect("reclean"),
        Reclean::Current
    );
    assert_eq!(reclean_entries(&w).len(), 1);
}

/// Runs the sync pass's gate on `r` and checks that it stays blocked by
/// the verifier, with the photo, its record and the audit trail untouched.
fn stays_blocked(w: &mut World, r: &str, photo: &str) {
    let before = stored(w, photo);
    let (outcome, files) = gate_for_sending(&mut w.store, &w.nurse, r, TODAY).expect("gate");
    assert_eq!(codes(&outcome), ["referral.media_failed_verification"]);
    assert!(files.is_empty());
    assert_eq!(state(w, r), ReferralState::Blocked);
    assert_eq!(stored(w, photo), before, "nothing changed");
    assert!(reclean_entries(w).is_empty());
    assert!(audit::verify(&w.store).expect("verify").is_intact());
}

#[test]
fn a_video_the_current_sanitiser_cannot_clean_stays_blocked_and_unchanged() {
    let mut w = world();
    care_consent(&mut w);
    // Its only picture track has a handler nothing renders: the verifier
    // refuses it, and the sanitiser, dropping the track, has no video left.
    let (mut broken, _) = legacy_mov();
    let vide = find(&broken, b"vide", 0).expect("video handler");
    broken[vide..vide + 4].copy_from_slice(b"zzzz");
    let video = put_photo(&mut w, &broken, &sha256(&broken));
    let r = queued_referral_of(&mut w, &video);
    assert_eq!(
        reclean_photo(&mut w.store, &w.nurse, &r, &video).expect("reclean"),
        Reclean::Kept(Kept::Uncleanable)
    );
    stays_blocked(&mut w, &r, &video);
}

#[test]
fn a_photo_changed_since_import_is_not_cleaned_into_a_new_identity() {
    let mut w = world();
    care_consent(&mut w);
    let (legacy, current) = legacy_mov();
    // The hash recorded at import is of other bytes: cleaning these and
    // recording their hash would hide that they are not the photo chosen.
    let video = put_photo(&mut w, &legacy, &sha256(&current));
    let r = queued_referral_of(&mut w, &video);
    assert_eq!(
        reclean_photo(&mut w.store, &w.nurse, &r, &video).expect("reclean"),
        Reclean::Kept(Kept::Altered)
    );
    stays_blocked(&mut w, &r, &video);
}

#[test]
fn a_clean_copy_that_is_already_another_photo_keeps_the_old_bytes_and_blocks() {
    let mut w = world();
    care_consent(&mut w);
    let (legacy, current) = legacy_mov();
    let video = put_photo(&mut w, &legacy, &sha256(&legacy));
    // The same video imported again by this release: its record holds
    // exactly the bytes re-cleaning makes.
    let twin = put_photo(&mut w, &current, &sha256(&current));
    let r = queued_referral_of(&mut w, &video);
    assert_eq!(
        reclean_photo(&mut w.store, &w.nurse, &r, &video).expect("reclean"),
        Reclean::Kept(Kept::Duplicate)
    );
    stays_blocked(&mut w, &r, &video);
    assert_eq!(
        stored(&w, &twin).0,
        current,
        "the other record is untouched"
    );
}

#[test]
fn photos_of_a_referral_blocked_for_another_reason_too_are_left_alone() {
    let mut w = world();
    // No consent: the referral would not go, so its photos are not touched.
    let (legacy, _) = legacy_mov();
    let video = put_photo(&mut w, &legacy, &sha256(&legacy));
    let r = queued_referral_of(&mut w, &video);
    let before = stored(&w, &video);
    let (outcome, _) = gate_for_sending(&mut w.store, &w.nurse, &r, TODAY).expect("gate");
    assert!(codes(&outcome).contains(&"referral.consent"));
    assert!(codes(&outcome).contains(&"referral.media_failed_verification"));
    assert_eq!(stored(&w, &video), before);
    assert!(reclean_entries(&w).is_empty());
    // Once consent is recorded, the same pass's gate cleans and clears it.
    care_consent(&mut w);
    assert!(matches!(
        gate_for_sending(&mut w.store, &w.nurse, &r, TODAY)
            .expect("gate")
            .0,
        GateOutcome::Clear(_)
    ));
    assert_eq!(reclean_entries(&w).len(), 1);
}
