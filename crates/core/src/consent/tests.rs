//! Recording and withdrawing consent, and the send-time question.

use time::macros::date;

use super::*;
use crate::identifiers::PatientIdentifier;
use crate::patients::{create, Confirmation, NewPatient};
use crate::test_support::{actor, count, open_store};

const TODAY: Date = date!(2026 - 11 - 29);

fn setup() -> (tempfile::TempDir, Store, Actor, i64) {
    let (dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let p = create(
        &mut store,
        &who,
        NewPatient {
            identifier: PatientIdentifier::nhs("943 476 5919").expect("nhs"),
            confirmation: Confirmation::Unattended,
            family_name: "Doe".into(),
            given_name: "Jane".into(),
            date_of_birth: date!(1972 - 04 - 15),
        },
    )
    .expect("patient");
    (dir, store, who, p.id)
}

fn care(patient_id: i64, team: &str) -> NewConsent {
    NewConsent {
        patient_id,
        level: ConsentLevel::Care,
        given_by: GivenBy::Patient,
        reason: None,
        method: ConsentMethod::Verbal,
        evidence_media_id: None,
        signature_svg: None,
        recipient_team: Some(team.into()),
        expires_on: None,
        media_ids: vec![],
    }
}

fn reasons(d: ConsentDecision) -> Vec<Refusal> {
    match d {
        ConsentDecision::Refused { reasons } => reasons,
        ConsentDecision::Allowed { consent_id } => panic!("allowed by {consent_id}"),
    }
}

#[test]
fn care_consent_allows_sharing_with_its_team_only() {
    let (_dir, mut store, who, pid) = setup();
    let missing = sharing_allowed(&store, pid, "Tissue Viability", "m1", TODAY).expect("gate");
    assert_eq!(reasons(missing), [Refusal::Missing]);

    let c = record(&mut store, &who, care(pid, "Tissue Viability")).expect("recorded");
    assert_eq!(c.level, ConsentLevel::Care);
    let ok = sharing_allowed(&store, pid, " tissue viability ", "m1", TODAY).expect("gate");
    assert_eq!(ok, ConsentDecision::Allowed { consent_id: c.id });
    let other = sharing_allowed(&store, pid, "Dermatology", "m1", TODAY).expect("gate");
    assert_eq!(
        reasons(other),
        [Refusal::OtherRecipient {
            consent_id: c.id,
            recipient_team: "Tissue Viability".into()
        }]
    );
    let actions: String = store
        .conn()
        .query_row("SELECT group_concat(action) FROM audit_log", [], |r| {
            r.get(0)
        })
        .expect("actions");
    assert_eq!(actions, "patient_create,consent_record");
}

#[test]
fn record_level_expiry_and_media_limits_are_explained() {
    let (_dir, mut store, who, pid) = setup();
    let rec = record(
        &mut store,
        &who,
        NewConsent {
            level: ConsentLevel::Record,
            recipient_team: None,
            ..care(pid, "")
        },
    )
    .expect("record level");
    let d = sharing_allowed(&store, pid, "Dermatology", "m1", TODAY).expect("gate");
    assert_eq!(
        reasons(d.clone()),
        [Refusal::LevelTooLow {
            consent_id: rec.id,
            level: ConsentLevel::Record
        }]
    );
    assert!(reasons(d)[0].message().contains("clinical record only"));

    let dated = record(
        &mut store,
        &who,
        NewConsent {
            expires_on: Some(date!(2026 - 12 - 31)),
            media_ids: vec!["m1".into(), "m2".into(), "m1".into()],
            ..care(pid, "Dermatology")
        },
    )
    .expect("dated");
    assert_eq!(dated.media_ids, ["m1", "m2"]);
    assert!(sharing_allowed(&store, pid, "Dermatology", "m2", TODAY)
        .expect("gate")
        .is_allowed());
    let d = sharing_allowed(&store, pid, "Dermatology", "m3", TODAY).expect("gate");
    assert!(reasons(d).contains(&Refusal::MediaNotCovered {
        consent_id: dated.id
    }));
    let d = sharing_allowed(&store, pid, "Dermatology", "m1", date!(2027 - 01 - 01)).expect("gate");
    assert!(reasons(d).contains(&Refusal::Expired {
        consent_id: dated.id,
        expired_after: "2026-12-31".into()
    }));
    // Teaching consent without a named team covers any team.
    record(
        &mut store,
        &who,
        NewConsent {
            level: ConsentLevel::Teaching,
            recipient_team: None,
            ..care(pid, "")
        },
    )
    .expect("teaching");
    assert!(sharing_allowed(&store, pid, "Anyone", "m9", TODAY)
        .expect("gate")
        .is_allowed());
}

#[test]
fn withdrawal_is_final_and_audited() {
    let (_dir, mut store, who, pid) = setup();
    let c = record(&mut store, &who, care(pid, "Tissue Viability")).expect("recorded");
    let w = withdraw(&mut store, &who, c.id, "Patient changed their mind").expect("withdrawn");
    assert!(w.withdrawn_at.is_some());
    assert_eq!(
        w.withdrawal_reason.as_deref(),
        Some("Patient changed their mind")
    );
    let d = sharing_allowed(&store, pid, "Tissue Viability", "m1", TODAY).expect("gate");
    assert_eq!(reasons(d), [Refusal::Withdrawn { consent_id: c.id }]);

    let e = withdraw(&mut store, &who, c.id, "again").expect_err("final");
    assert_eq!(e.code(), "consent.withdrawn");
    assert!(e.to_string().contains("record a new consent"));
    // Not even raw SQL can restore it while the triggers stand.
    let raw = store.conn().execute(
        "UPDATE consents SET withdrawn_at = NULL, withdrawal_reason = NULL WHERE id = ?1",
        [c.id],
    );
    assert!(raw.is_err());
    let raw = store.conn().execute(
        "UPDATE consents SET level = 'publication' WHERE id = ?1",
        [c.id],
    );
    assert!(raw.is_err());
    assert_eq!(count(&store, "audit_log"), 3);

    // A new consent allows sharing again.
    let again = record(&mut store, &who, care(pid, "Tissue Viability")).expect("new");
    assert_eq!(
        sharing_allowed(&store, pid, "Tissue Viability", "m1", TODAY).expect("gate"),
        ConsentDecision::Allowed {
            consent_id: again.id
        }
    );
    assert!(crate::audit::verify(&store).expect("verify").is_intact());
}

#[test]
fn refusals_record_nothing() {
    let (_dir, mut store, who, pid) = setup();
    let cases: Vec<(NewConsent, &str, &str)> = vec![
        (
            NewConsent {
                recipient_team: None,
                ..care(pid, "")
            },
            "consent.recipient_required",
            "must name the recipient team",
        ),
        (
            NewConsent {
                given_by: GivenBy::BestInterests,
                ..care(pid, "TV")
            },
            "consent.reason_required",
            "best interests",
        ),
        (
            NewConsent {
                method: ConsentMethod::Signature,
                ..care(pid, "TV")
            },
            "consent.signature_required",
            "needs the signature",
        ),
        (
            NewConsent {
                expires_on: Some(date!(2020 - 01 - 01)),
                ..care(pid, "TV")
            },
            "consent.expiry_in_past",
            "already passed",
        ),
        (care(pid + 1000, "TV"), "patient.not_found", "No patient"),
        (
            care(pid, &"x".repeat(501)),
            "consent.invalid_text",
            "too long",
        ),
    ];
    for (new, code, words) in cases {
        let e = record(&mut store, &who, new).expect_err(code);
        assert_eq!(e.code(), code);
        assert!(e.to_string().contains(words), "{e}");
        assert!(e.to_string().contains("nothing was recorded"), "{e}");
        assert_eq!(count(&store, "consents"), 0);
        assert_eq!(count(&store, "audit_log"), 1);
    }
    let e = withdraw(&mut store, &who, 42, "reason").expect_err("missing");
    assert_eq!(e.code(), "consent.not_found");
    let c = record(&mut store, &who, care(pid, "TV")).expect("ok");
    let e = withdraw(&mut store, &who, c.id, "  ").expect_err("reason");
    assert_eq!(e.code(), "consent.withdrawal_reason_required");
    assert!(get(&store, c.id)
        .expect("get")
        .expect("some")
        .withdrawn_at
        .is_none());
}

#[test]
fn signatures_are_kept_in_the_store() {
    let (_dir, mut store, who, pid) = setup();
    let c = record(
        &mut store,
        &who,
        NewConsent {
            method: ConsentMethod::Signature,
            signature_svg: Some(b"M10 10 L20 20".to_vec()),
            given_by: GivenBy::BestInterests,
            reason: Some("Lacks capacity; photographs guide wound care".into()),
            ..care(pid, "TV")
        },
    )
    .expect("recorded");
    assert!(c.has_drawn_signature);
    assert_eq!(c.given_by, GivenBy::BestInterests);
    assert!(c.best_interests_reason.is_some());
    let svg: Vec<u8> = store
        .conn()
        .query_row(
            "SELECT signature_svg FROM consents WHERE id = ?1",
            [c.id],
            |r| r.get(0),
        )
        .expect("blob");
    assert_eq!(svg, b"M10 10 L20 20");
}

#[test]
fn the_gallery_marks_photos_covered_by_a_current_sharing_consent() {
    let (_dir, mut store, who, pid) = setup();
    let none = for_patient(&store, pid).expect("list");
    assert!(!covers_sharing(&none, "m1", TODAY), "no consent");

    record(
        &mut store,
        &who,
        NewConsent {
            level: ConsentLevel::Record,
            recipient_team: None,
            ..care(pid, "")
        },
    )
    .expect("record-only");
    let only_record = for_patient(&store, pid).expect("list");
    assert!(!covers_sharing(&only_record, "m1", TODAY), "record only");

    let limited = record(
        &mut store,
        &who,
        NewConsent {
            media_ids: vec!["m1".into()],
            expires_on: Some(date!(2026 - 12 - 31)),
            ..care(pid, "Tissue Viability")
        },
    )
    .expect("care");
    let consents = for_patient(&store, pid).expect("list");
    assert!(covers_sharing(&consents, "m1", TODAY));
    assert!(!covers_sharing(&consents, "m2", TODAY), "another photo");
    assert!(
        covers_sharing(&consents, "m1", date!(2026 - 12 - 31)),
        "last day"
    );
    assert!(
        !covers_sharing(&consents, "m1", date!(2027 - 01 - 01)),
        "expired"
    );

    withdraw(&mut store, &who, limited.id, "Patient changed their mind").expect("withdraw");
    let consents = for_patient(&store, pid).expect("list");
    assert!(!covers_sharing(&consents, "m1", TODAY), "withdrawn");
}
