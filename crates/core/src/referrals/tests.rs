//! Drafts, confirmation, the outbox's transitions and the send-time gate,
//! with a real signed directory (Ed25519) and real photos.

use clinshare_protocol::directory::{
    Directory, DirectoryClinician, DirectoryTeam, SignedDirectory,
};
use clinshare_protocol::{canonical_json, key_id, Signed};
use ed25519_dalek::{Signer, SigningKey};
use time::macros::date;

use super::*;
use crate::consent::{ConsentLevel, ConsentMethod, GivenBy, NewConsent};
use crate::enrolment::{self, Enrolment};
use crate::media::{import_bytes, Imported};
use crate::patients::{Confirmation as Confirm, NewPatient};
use crate::test_support::{actor, open_store};

const TODAY: Date = date!(2026 - 11 - 29);

fn server_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn team(id: &str, name: &str, accepts: bool) -> DirectoryTeam {
    DirectoryTeam {
        team_id: id.into(),
        name: name.into(),
        organisation: "NHS Lanarkshire".into(),
        accepts_referrals: accepts,
        max_file_bytes: None,
        clinicians: vec![DirectoryClinician {
            user_id: "u1".into(),
            name: "Dr Ada Lovelace".into(),
        }],
    }
}

fn signed(key: &SigningKey, version: i64, teams: Vec<DirectoryTeam>) -> SignedDirectory {
    let payload = Directory {
        protocol_version: PROTOCOL_VERSION,
        version,
        issued_at: "2026-11-29T08:00:00Z".into(),
        teams,
    };
    let bytes = canonical_json(&payload).expect("json");
    Signed {
        key_id: key_id(&key.verifying_key().to_bytes()),
        signature: hex::encode(key.sign(&bytes).to_bytes()),
        payload,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures")
        .join(name);
    std::fs::read(path).expect("fixture")
}

struct World {
    _dir: tempfile::TempDir,
    store: Store,
    nurse: Actor,
    patient: i64,
    photos: Vec<String>,
}

/// An enrolled store with a verified directory, Jane Doe and two photos.
fn world() -> World {
    let (dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse Jackie");
    enrolment::save(
        &mut store,
        &nurse,
        &Enrolment {
            server_url: "https://127.0.0.1:8443".into(),
            spki_sha256: "ab".repeat(32),
            device_id: "dev-1".into(),
            server_signing_key: hex::encode(server_key().verifying_key().to_bytes()),
            server_key_id: key_id(&server_key().verifying_key().to_bytes()),
            enrolled_at: "2026-11-29T08:00:00Z".into(),
        },
    )
    .expect("enrol");
    directory::store_fetched(
        &mut store,
        &signed(
            &server_key(),
            3,
            vec![
                team("tv", "Tissue Viability", true),
                team("derm", "Dermatology", false),
            ],
        ),
    )
    .expect("directory");
    let patient = patients::create(
        &mut store,
        &nurse,
        NewPatient {
            identifier: PatientIdentifier::nhs("943 476 5919").expect("nhs"),
            confirmation: Confirm::Unattended,
            family_name: "Doe".into(),
            given_name: "Jane".into(),
            date_of_birth: date!(1972 - 04 - 15),
        },
    )
    .expect("patient")
    .id;
    let mut photos = Vec::new();
    for f in ["dn_Sony_Cybershot_5.jpg", "et_ExifTool.jpg"] {
        match import_bytes(&mut store, &nurse, &fixture(f), Some(patient)).expect("import") {
            Imported::New { id, .. } => photos.push(id),
            other => panic!("{other:?}"),
        }
    }
    World {
        _dir: dir,
        store,
        nurse,
        patient,
        photos,
    }
}

fn draft(w: &mut World) -> Referral {
    create_draft(
        &mut w.store,
        &w.nurse,
        NewReferral {
            patient_id: w.patient,
            team_id: "tv".into(),
            clinical_question: "Is this pressure ulcer improving?".into(),
            urgency: Urgency::Routine,
            media_ids: w.photos.clone(),
        },
    )
    .expect("draft")
}

fn care_consent(w: &mut World) -> i64 {
    care_consent_for(w, "Tissue Viability")
}

fn care_consent_for(w: &mut World, team: &str) -> i64 {
    consent::record(
        &mut w.store,
        &w.nurse,
        NewConsent {
            patient_id: w.patient,
            level: ConsentLevel::Care,
            given_by: GivenBy::Patient,
            reason: None,
            method: ConsentMethod::Verbal,
            evidence_media_id: None,
            signature_svg: None,
            recipient_team: Some(team.into()),
            expires_on: None,
            media_ids: vec![],
        },
    )
    .expect("consent")
    .id
}

fn codes(outcome: &GateOutcome) -> Vec<&str> {
    match outcome {
        GateOutcome::Blocked(b) => b.iter().map(|b| b.code.as_str()).collect(),
        GateOutcome::Clear(_) => vec![],
    }
}

#[test]
fn the_directory_is_trusted_only_with_the_servers_signature_and_never_rolls_back() {
    let mut w = world();
    let cached = directory::current(&w.store).expect("cached");
    assert_eq!(cached.directory.version, 3);
    let names: Vec<String> = cached.recipients().into_iter().map(|r| r.name).collect();
    assert_eq!(
        names,
        ["Tissue Viability"],
        "teams not taking referrals are not offered"
    );

    let mut forged = signed(&server_key(), 4, vec![team("evil", "Stranger", true)]);
    forged.payload.teams[0].name = "Tissue Viability".into();
    assert!(matches!(
        directory::store_fetched(&mut w.store, &forged),
        Err(DirectoryError::BadSignature)
    ));
    let other_server = signed(&SigningKey::from_bytes(&[9u8; 32]), 5, vec![]);
    assert!(matches!(
        directory::store_fetched(&mut w.store, &other_server),
        Err(DirectoryError::BadSignature)
    ));
    let older = signed(&server_key(), 2, vec![team("tv", "Tissue Viability", true)]);
    assert!(matches!(
        directory::store_fetched(&mut w.store, &older),
        Err(DirectoryError::Rollback {
            offered: 2,
            held: 3
        })
    ));
    assert_eq!(
        directory::current(&w.store)
            .expect("cached")
            .directory
            .version,
        3
    );

    // Edited in the store behind the app's back: refused on read.
    w.store
        .conn()
        .execute(
            "UPDATE directory_cache SET signed_json = replace(signed_json, 'Tissue Viability', 'Stranger Team')",
            [],
        )
        .expect("tamper");
    assert!(matches!(
        directory::current(&w.store),
        Err(DirectoryError::BadSignature)
    ));
}

#[test]
fn drafts_take_only_directory_teams_and_this_patients_photos() {
    let mut w = world();
    let mut new = |team: &str, media: Vec<String>, question: &str| {
        create_draft(
            &mut w.store,
            &w.nurse,
            NewReferral {
                patient_id: w.patient,
                team_id: team.into(),
                clinical_question: question.into(),
                urgency: Urgency::Urgent,
                media_ids: media,
            },
        )
    };
    let photos = w.photos.clone();
    assert!(matches!(
        new("nobody", photos.clone(), "Q"),
        Err(ReferralError::Recipient(_))
    ));
    assert!(matches!(
        new("derm", photos.clone(), "Q"),
        Err(ReferralError::Recipient(_))
    ));
    assert!(matches!(
        new("tv", photos.clone(), "   "),
        Err(ReferralError::Question)
    ));
    assert!(matches!(
        new("tv", vec![], "Q"),
        Err(ReferralError::MediaCount)
    ));
    assert!(matches!(
        new("tv", vec!["f".repeat(32)], "Q"),
        Err(ReferralError::MediaNotOfPatient(_))
    ));
    let r = new("tv", photos.clone(), "Is it healing?").expect("draft");
    let stored: i64 = w
        .store
        .conn()
        .query_row("SELECT count(*) FROM referrals", [], |r| r.get(0))
        .expect("count");
    assert_eq!(stored, 1, "refusals stored nothing");
    assert_eq!(r.state, ReferralState::Draft);
    assert_eq!(r.team_name, "Tissue Viability");
    assert_eq!(r.media_ids, photos);
}

#[test]
fn a_kept_draft_can_be_changed_or_discarded_but_a_queued_one_cannot() {
    let mut w = world();
    let r = draft(&mut w);
    let change = |question: &str, media: Vec<String>| NewReferral {
        patient_id: w.patient,
        team_id: "tv".into(),
        clinical_question: question.into(),
        urgency: Urgency::Urgent,
        media_ids: media,
    };
    let one = vec![w.photos[1].clone()];
    let changed = update_draft(
        &mut w.store,
        &w.nurse,
        &r.id,
        change("Healing?", one.clone()),
    )
    .expect("update");
    assert_eq!(changed.id, r.id);
    assert_eq!(changed.created_at, r.created_at);
    assert_eq!(changed.clinical_question, "Healing?");
    assert_eq!(changed.urgency, "urgent");
    assert_eq!(changed.media_ids, one);
    // A refused change leaves the draft as it was.
    assert!(matches!(
        update_draft(&mut w.store, &w.nurse, &r.id, change("", one.clone())),
        Err(ReferralError::Question)
    ));
    assert_eq!(get(&w.store, &r.id).expect("get"), Some(changed));

    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    assert!(matches!(
        update_draft(&mut w.store, &w.nurse, &r.id, change("Other", one)),
        Err(ReferralError::NotDraft("queued"))
    ));
    assert!(matches!(
        discard_draft(&mut w.store, &r.id),
        Err(ReferralError::NotDraft("queued"))
    ));
    assert_eq!(
        get(&w.store, &r.id).expect("get").map(|r| r.state),
        Some(ReferralState::Queued)
    );

    let other = draft(&mut w);
    discard_draft(&mut w.store, &other.id).expect("discard");
    assert_eq!(get(&w.store, &other.id).expect("get"), None);
    assert!(matches!(
        discard_draft(&mut w.store, &other.id),
        Err(ReferralError::UnknownReferral)
    ));
}

#[test]
fn the_confirmation_names_patient_identifier_team_and_organisation() {
    let mut w = world();
    let r = draft(&mut w);
    let c = confirmation(&w.store, &r.id).expect("confirmation");
    assert_eq!(
        c.question,
        "Send 2 photos of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?"
    );
}

#[test]
fn the_outbox_moves_only_along_its_transitions() {
    use ReferralState::*;
    assert!(Draft.may_become(Queued));
    assert!(Blocked.may_become(Queued));
    assert!(Sending.may_become(Delivered));
    for (from, to) in [
        (Draft, Sending),
        (Queued, Delivered),
        (Delivered, Queued),
        (Acknowledged, Queued),
        (Draft, Blocked),
    ] {
        assert!(!from.may_become(to), "{from:?} -> {to:?}");
    }
    let mut w = world();
    let r = draft(&mut w);
    let queued = queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    assert_eq!(queued.state, Queued);
    assert!(queued.confirmed_at.is_some());
    let twice = queue(&mut w.store, &w.nurse, &r.id);
    assert!(matches!(
        twice,
        Err(ReferralError::Transition {
            from: "queued",
            to: "queued"
        })
    ));
    let shares: i64 = w
        .store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'share'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(shares, 1);
}

#[test]
fn the_gate_blocks_without_consent_and_resumes_when_it_is_recorded() {
    let mut w = world();
    let r = draft(&mut w);
    assert_eq!(
        codes(&gate(&w.store, &r.id, TODAY).expect("gate")),
        [
            "referral.not_confirmed",
            "referral.consent",
            "referral.consent"
        ]
    );
    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    assert!(recheck_outbox(&mut w.store, TODAY)
        .expect("recheck")
        .is_empty());
    let blocked = get(&w.store, &r.id).expect("get").expect("exists");
    assert_eq!(blocked.state, ReferralState::Blocked);
    assert_eq!(blocked.blocked.len(), 2, "one reason per photo");
    assert_eq!(
        blocked.blocked[0].message,
        "No consent is recorded for this patient."
    );
    assert_eq!(
        blocked.blocked[0].media_id.as_deref(),
        Some(w.photos[0].as_str())
    );

    let consent_id = care_consent(&mut w);
    let clear = recheck_outbox(&mut w.store, TODAY).expect("recheck");
    assert_eq!(clear.len(), 1);
    let (id, manifest) = &clear[0];
    assert_eq!(id, &r.id);
    assert_eq!(manifest.idempotency_key, r.id);
    assert_eq!(manifest.recipient_team, "tv");
    assert_eq!(manifest.patient.value, "9434765919");
    assert_eq!(manifest.consent.level, ConsentLevel::Care);
    assert_eq!(manifest.consent.recorded_by, "Nurse Jackie");
    assert_eq!(
        manifest.consent.recipient_team.as_deref(),
        Some("tv"),
        "as the directory's id"
    );
    assert_eq!(manifest.media.len(), 2);
    assert!(manifest
        .media
        .iter()
        .all(|m| m.sha256.len() == 64 && m.format == MediaFormat::Jpeg));
    assert_eq!(
        get(&w.store, &r.id).expect("get").expect("exists").state,
        ReferralState::Queued
    );

    // Withdrawn after queueing: blocked again, with the reason.
    consent::withdraw(&mut w.store, &w.nurse, consent_id, "Patient asked").expect("withdraw");
    assert!(recheck_outbox(&mut w.store, TODAY)
        .expect("recheck")
        .is_empty());
    let again = get(&w.store, &r.id).expect("get").expect("exists");
    assert_eq!(again.state, ReferralState::Blocked);
    assert!(
        again.blocked[0].message.contains("withdrawn"),
        "{:?}",
        again.blocked
    );
}

#[test]
fn the_gate_blocks_when_the_team_leaves_the_directory_or_a_photo_fails_verification() {
    let mut w = world();
    care_consent(&mut w);
    let r = draft(&mut w);
    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    assert_eq!(
        recheck_outbox(&mut w.store, TODAY).expect("recheck").len(),
        1
    );

    directory::store_fetched(
        &mut w.store,
        &signed(
            &server_key(),
            4,
            vec![team("tv", "Tissue Viability", false)],
        ),
    )
    .expect("newer directory");
    let outcome = gate(&w.store, &r.id, TODAY).expect("gate");
    assert_eq!(codes(&outcome), ["referral.recipient_gone"]);
    directory::store_fetched(
        &mut w.store,
        &signed(&server_key(), 5, vec![team("tv", "Tissue Viability", true)]),
    )
    .expect("team back");

    // The stored bytes replaced by the camera's original, metadata and all.
    w.store
        .conn()
        .execute(
            "UPDATE media_content SET bytes = ?1 WHERE media_id = ?2",
            rusqlite::params![fixture("dn_Sony_Cybershot_5.jpg"), w.photos[0]],
        )
        .expect("tamper");
    let outcome = gate(&w.store, &r.id, TODAY).expect("gate");
    assert_eq!(codes(&outcome), ["referral.media_failed_verification"]);
}

#[test]
fn the_gate_blocks_a_photo_above_the_teams_limit_and_clears_when_the_limit_allows_it() {
    let mut w = world();
    care_consent(&mut w);
    let r = draft(&mut w);
    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    let sizes: Vec<i64> = w
        .photos
        .iter()
        .map(|id| {
            w.store
                .conn()
                .query_row(
                    "SELECT length(bytes) FROM media_content WHERE media_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .expect("size")
        })
        .collect();
    let largest = sizes.iter().copied().max().expect("photos") as u64;
    let limited = |limit: u64| {
        let mut t = team("tv", "Tissue Viability", true);
        t.max_file_bytes = Some(limit);
        t
    };
    directory::store_fetched(
        &mut w.store,
        &signed(&server_key(), 4, vec![limited(largest - 1)]),
    )
    .expect("limited directory");
    let outcome = gate(&w.store, &r.id, TODAY).expect("gate");
    assert_eq!(codes(&outcome), ["referral.file_too_large"]);
    let GateOutcome::Blocked(blocks) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        blocks[0].message.contains("smaller copy"),
        "{}",
        blocks[0].message
    );

    directory::store_fetched(
        &mut w.store,
        &signed(&server_key(), 5, vec![limited(largest)]),
    )
    .expect("limit at the largest photo");
    assert!(matches!(
        gate(&w.store, &r.id, TODAY).expect("gate"),
        GateOutcome::Clear(_)
    ));
}

#[test]
fn a_photo_changed_into_another_valid_picture_is_blocked_by_its_import_hash() {
    let mut w = world();
    care_consent(&mut w);
    let r = draft(&mut w);
    queue(&mut w.store, &w.nurse, &r.id).expect("queue");
    // The second photo's sanitised bytes pass the verifier, but are not
    // the first photo.
    let other: Vec<u8> = w
        .store
        .conn()
        .query_row(
            "SELECT bytes FROM media_content WHERE media_id = ?1",
            [&w.photos[1]],
            |r| r.get(0),
        )
        .expect("bytes");
    w.store
        .conn()
        .execute(
            "UPDATE media_content SET bytes = ?1 WHERE media_id = ?2",
            rusqlite::params![other, w.photos[0]],
        )
        .expect("tamper");
    let outcome = gate(&w.store, &r.id, TODAY).expect("gate");
    assert_eq!(codes(&outcome), ["referral.media_altered"]);
    assert!(recheck_outbox(&mut w.store, TODAY)
        .expect("recheck")
        .is_empty());
    assert_eq!(
        get(&w.store, &r.id).expect("get").expect("some").state,
        ReferralState::Blocked
    );
}

/// Queue, send and deliver `r` as the sync pass would, with a stand-in receipt.
fn deliver(w: &mut World, id: &str) {
    queue(&mut w.store, &w.nurse, id).expect("queue");
    assert_eq!(
        recheck_outbox(&mut w.store, TODAY).expect("recheck").len(),
        1
    );
    set_state(&mut w.store, id, ReferralState::Sending, None).expect("sending");
    mark_delivered(&mut w.store, &w.nurse, id, "srv-1", "{\"receipt\":true}").expect("delivered");
}

#[test]
fn withdrawing_consent_after_delivery_leaves_a_notice_in_the_same_transaction() {
    let mut w = world();
    let c = care_consent(&mut w);
    let r = draft(&mut w);
    deliver(&mut w, &r.id);
    assert!(withdrawal::pending(&w.store).expect("pending").is_empty());

    consent::withdraw(&mut w.store, &w.nurse, c, "Patient changed their mind").expect("withdraw");
    let shown = get(&w.store, &r.id).expect("get").expect("some");
    assert_eq!(
        shown.state,
        ReferralState::Delivered,
        "the outbox state is kept"
    );
    let notice = shown.consent_withdrawal.expect("a notice");
    assert!(notice.sent_at.is_none());
    let pending = withdrawal::pending(&w.store).expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].server_referral_id, "srv-1");
    let (withdrawn_entry,): (String,) = w
        .store
        .conn()
        .query_row(
            "SELECT details FROM audit_log WHERE action = 'consent_withdraw'",
            [],
            |row| Ok((row.get(0)?,)),
        )
        .expect("audited");
    assert!(withdrawn_entry.contains(&r.id), "{withdrawn_entry}");

    withdrawal::mark_sent(&mut w.store, &w.nurse, &pending[0]).expect("sent");
    assert!(withdrawal::pending(&w.store).expect("pending").is_empty());
    let shown = get(&w.store, &r.id).expect("get").expect("some");
    assert!(shown.consent_withdrawal.expect("notice").sent_at.is_some());
    assert!(crate::audit::verify(&w.store).expect("verify").is_intact());
}

#[test]
fn a_consent_for_another_team_leaves_no_notice_on_the_referral() {
    let mut w = world();
    care_consent(&mut w);
    let r = draft(&mut w);
    deliver(&mut w, &r.id);
    let other = care_consent_for(&mut w, "Dermatology");
    consent::withdraw(&mut w.store, &w.nurse, other, "Not needed").expect("withdraw");
    assert!(get(&w.store, &r.id)
        .expect("get")
        .expect("some")
        .consent_withdrawal
        .is_none());
}

#[test]
fn retention_purges_bytes_and_thumbnail_after_the_period_and_keeps_record_and_receipt() {
    let mut w = world();
    care_consent(&mut w);
    let r = draft(&mut w);
    deliver(&mut w, &r.id);
    let now = time::OffsetDateTime::now_utc();

    // Default 7 days: nothing yet.
    let report = crate::retention::purge_expired(&mut w.store, &w.nurse, now).expect("purge");
    assert!(report.purged.is_empty());
    let later = now + time::Duration::days(8);
    let report = crate::retention::purge_expired(&mut w.store, &w.nurse, later).expect("purge");
    assert_eq!(report.purged.len(), 2);
    assert!(report.bytes_freed > 0);
    for m in &w.photos {
        let content: i64 = w
            .store
            .conn()
            .query_row(
                "SELECT count(*) FROM media_content WHERE media_id = ?1",
                [m],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(content, 0, "bytes and thumbnail gone");
        let (purged, thumb): (Option<String>, bool) = w
            .store
            .conn()
            .query_row(
                "SELECT purged_at, has_thumbnail FROM media WHERE id = ?1",
                [m],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("record stays");
        assert!(purged.is_some());
        assert!(!thumb);
    }
    let receipt: Option<String> = w
        .store
        .conn()
        .query_row(
            "SELECT receipt_json FROM referrals WHERE id = ?1",
            [&r.id],
            |row| row.get(0),
        )
        .expect("receipt");
    assert!(receipt.is_some(), "the receipt stays");
    let audited: i64 = w
        .store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'purge'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(audited, 2);
    // Nothing left to purge; a second run changes nothing.
    let again = crate::retention::purge_expired(&mut w.store, &w.nurse, later).expect("purge");
    assert!(again.purged.is_empty());
    assert!(crate::audit::verify(&w.store).expect("verify").is_intact());
}

#[test]
fn retention_zero_purges_at_once_but_never_a_photo_still_waiting_in_another_referral() {
    let mut w = world();
    care_consent(&mut w);
    crate::settings::set_retention_days(&mut w.store, &w.nurse, 0).expect("zero");
    let sent = draft(&mut w);
    deliver(&mut w, &sent.id);
    // The first photo is also in a draft not yet sent.
    let waiting = create_draft(
        &mut w.store,
        &w.nurse,
        NewReferral {
            patient_id: w.patient,
            team_id: "tv".into(),
            clinical_question: "And now?".into(),
            urgency: Urgency::Routine,
            media_ids: vec![w.photos[0].clone()],
        },
    )
    .expect("draft");
    let report = crate::retention::purge_expired(
        &mut w.store,
        &w.nurse,
        time::OffsetDateTime::now_utc() + time::Duration::seconds(1),
    )
    .expect("purge");
    assert_eq!(report.purged, vec![w.photos[1].clone()]);
    queue(&mut w.store, &w.nurse, &waiting.id).expect("queue");
    assert!(matches!(
        gate(&w.store, &waiting.id, TODAY).expect("gate"),
        GateOutcome::Clear(_)
    ));
}

#[test]
fn the_sync_pass_and_the_inbox_can_run_as_background_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let mut w = world();
    let client = crate::sync::Client::new(
        "https://127.0.0.1:9",
        &"ab".repeat(32),
        SigningKey::from_bytes(&[1u8; 32]),
        Some("dev-1".into()),
    )
    .expect("client");
    let fut = crate::sync::sync_pass(&mut w.store, &client, &w.nurse, TODAY, &crate::sync::quiet);
    assert_send(&fut);
    drop(fut);
    // The inbox calls too, so the app can run them off the screen's thread.
    assert_send(&crate::inbox::list(&mut w.store, &client));
    assert_send(&crate::inbox::acknowledge(
        &mut w.store,
        &client,
        &w.nurse,
        "r",
    ));
}

mod reclean;
