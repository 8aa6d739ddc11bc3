//! Registering, finding and editing patients; every refusal stores nothing.

use time::macros::date;

use super::*;
use crate::test_support::{actor, count, open_store};

fn nhs(n: &str) -> PatientIdentifier {
    PatientIdentifier::nhs(n).expect("valid")
}

fn jane() -> NewPatient {
    NewPatient {
        identifier: nhs("943 476 5919"),
        confirmation: Confirmation::Retyped("9434765919".into()),
        family_name: "Doe".into(),
        given_name: "Jane".into(),
        date_of_birth: date!(1972 - 04 - 15),
    }
}

fn assert_nothing_stored(store: &Store) {
    assert_eq!(count(store, "patients"), 0);
    assert_eq!(count(store, "audit_log"), 0);
}

#[test]
fn a_confirmed_patient_is_registered_and_audited() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let p = create(&mut store, &who, jane()).expect("created");
    assert_eq!(p.display_name, "DOE, Jane");
    assert_eq!(p.identifier_display, "943 476 5919");
    assert_eq!(p.date_of_birth, "1972-04-15");
    let (action, patient_id, details): (String, i64, String) = store
        .conn()
        .query_row(
            "SELECT action, patient_id, details FROM audit_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("entry");
    assert_eq!(action, "patient_create");
    assert_eq!(patient_id, p.id);
    assert!(!details.contains("9434765919") && !details.contains("Doe"));
    assert!(crate::audit::verify(&store).expect("verify").is_intact());
}

#[test]
fn refusals_store_nothing() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let cases: Vec<(NewPatient, &str)> = vec![
        (
            NewPatient {
                confirmation: Confirmation::Retyped("943 476 5918".into()),
                ..jane()
            },
            "identifier.confirmation_mismatch",
        ),
        (
            NewPatient {
                confirmation: Confirmation::DateOfBirth,
                ..jane()
            },
            "patient.identifier_unconfirmed",
        ),
        (
            NewPatient {
                family_name: "  ".into(),
                ..jane()
            },
            "patient.invalid_name",
        ),
        (
            NewPatient {
                given_name: "x".repeat(101),
                ..jane()
            },
            "patient.invalid_name",
        ),
        (
            NewPatient {
                date_of_birth: today().next_day().expect("tomorrow"),
                ..jane()
            },
            "patient.future_date_of_birth",
        ),
        (
            NewPatient {
                date_of_birth: date!(1879 - 12 - 31),
                ..jane()
            },
            "patient.implausible_date_of_birth",
        ),
        (
            NewPatient {
                identifier: PatientIdentifier::chi("1504720318").expect("chi"),
                confirmation: Confirmation::DateOfBirth,
                date_of_birth: date!(1972 - 05 - 14),
                ..jane()
            },
            "identifier.chi_dob_mismatch",
        ),
    ];
    for (new, code) in cases {
        let e = create(&mut store, &who, new).expect_err(code);
        assert_eq!(e.code(), code, "{e}");
        assert_nothing_stored(&store);
    }
}

#[test]
fn a_chi_number_is_confirmed_by_the_date_of_birth() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let p = create(
        &mut store,
        &who,
        NewPatient {
            identifier: PatientIdentifier::chi("150472 0318").expect("chi"),
            confirmation: Confirmation::DateOfBirth,
            family_name: "MacDonald".into(),
            given_name: "Morag".into(),
            date_of_birth: date!(1972 - 04 - 15),
        },
    )
    .expect("created");
    assert_eq!(p.identifier.kind(), IdentifierKind::Chi);
}

#[test]
fn an_identifier_is_registered_once_per_kind() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    create(&mut store, &who, jane()).expect("first");
    let e = create(&mut store, &who, jane()).expect_err("duplicate");
    assert_eq!(e.code(), "patient.duplicate_identifier");
    assert!(e.to_string().contains("already registered"));
    assert_eq!(count(&store, "patients"), 1);
    assert_eq!(count(&store, "audit_log"), 1);
}

#[test]
fn search_by_identifier_in_any_formatting_or_by_name() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    create(&mut store, &who, jane()).expect("jane");
    create(
        &mut store,
        &who,
        NewPatient {
            identifier: nhs("401 023 2137"),
            confirmation: Confirmation::Unattended,
            family_name: "Ó Briain".into(),
            given_name: "Séan".into(),
            date_of_birth: date!(1950 - 01 - 31),
        },
    )
    .expect("sean");
    let names = |store: &mut Store, q: Option<&str>| -> Vec<String> {
        search(store, &who, q)
            .expect("search")
            .into_iter()
            .map(|p| p.display_name)
            .collect()
    };
    assert_eq!(names(&mut store, None), ["DOE, Jane", "Ó BRIAIN, Séan"]);
    assert_eq!(names(&mut store, Some("943-476-5919")), ["DOE, Jane"]);
    assert_eq!(names(&mut store, Some("nhs:943 476 5919")), ["DOE, Jane"]);
    assert_eq!(names(&mut store, Some("4010")), ["Ó BRIAIN, Séan"]);
    assert_eq!(names(&mut store, Some("ó bri")), ["Ó BRIAIN, Séan"]);
    assert_eq!(names(&mut store, Some("JANE")), ["DOE, Jane"]);
    assert_eq!(names(&mut store, Some("doe, j")), ["DOE, Jane"]);
    assert!(names(&mut store, Some("smith")).is_empty());
    // Each listing is audited as a view, with ids only.
    let views: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'view'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(views, 8);
    assert_eq!(
        resolve(&store, "943 476 5919").expect("found").display_name,
        "DOE, Jane"
    );
    assert_eq!(
        resolve(&store, "999 999 9999").expect_err("absent").code(),
        "patient.not_found"
    );
}

#[test]
fn edits_keep_the_previous_values() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let p = create(&mut store, &who, jane()).expect("jane");
    let edited = edit(
        &mut store,
        &who,
        p.id,
        PatientEdit {
            family_name: Some("Smith".into()),
            ..Default::default()
        },
    )
    .expect("edited");
    assert_eq!(edited.display_name, "SMITH, Jane");
    let h = history(&store, p.id).expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].family_name, "Doe");
    assert_eq!(h[0].changed_by, who.user_id().0);
    let details: String = store
        .conn()
        .query_row(
            "SELECT details FROM audit_log WHERE action = 'patient_edit'",
            [],
            |r| r.get(0),
        )
        .expect("entry");
    assert_eq!(details, r#"{"changed":["family_name"]}"#);

    // Refused edits change nothing.
    let e = edit(&mut store, &who, p.id, PatientEdit::default()).expect_err("no change");
    assert_eq!(e.code(), "patient.no_change");
    let e = edit(
        &mut store,
        &who,
        p.id,
        PatientEdit {
            identifier: Some((
                nhs("401 023 2137"),
                Confirmation::Retyped("401 023 2138".into()),
            )),
            ..Default::default()
        },
    )
    .expect_err("mismatch");
    assert_eq!(e.code(), "identifier.confirmation_mismatch");
    // Another patient's identifier cannot be taken over.
    create(
        &mut store,
        &who,
        NewPatient {
            identifier: nhs("401 023 2137"),
            confirmation: Confirmation::Unattended,
            ..jane()
        },
    )
    .expect("second patient");
    let e = edit(
        &mut store,
        &who,
        p.id,
        PatientEdit {
            identifier: Some((nhs("401 023 2137"), Confirmation::Unattended)),
            ..Default::default()
        },
    )
    .expect_err("duplicate");
    assert_eq!(e.code(), "patient.duplicate_identifier");
    assert_eq!(count(&store, "patient_history"), 1);
    assert_eq!(count(&store, "audit_log"), 3);
    assert_eq!(
        get(&store, p.id)
            .expect("get")
            .expect("some")
            .identifier_display,
        "943 476 5919"
    );
}

#[test]
fn local_numbers_need_the_configured_pattern() {
    let (_dir, mut store) = open_store();
    let who = actor(&store, "Nurse Jackie");
    let e = parse_reference(&store, "local:RH1234567").expect_err("unset");
    assert_eq!(e.code(), "identifier.local_not_configured");
    set_local_pattern(&mut store, &who, "RH9999999").expect("set");
    let id = parse_reference(&store, "local:rh 1234567").expect("local");
    let p = create(
        &mut store,
        &who,
        NewPatient {
            identifier: id,
            confirmation: Confirmation::Retyped("RH1234567".into()),
            ..jane()
        },
    )
    .expect("created");
    assert_eq!(p.identifier_display, "RH1234567");
    assert_eq!(
        set_local_pattern(&mut store, &who, "RH[0-9]")
            .expect_err("bad")
            .code(),
        "identifier.bad_pattern"
    );
}

#[test]
fn dates_are_strict() {
    assert_eq!(
        parse_date("1972-04-15").expect("date"),
        date!(1972 - 04 - 15)
    );
    for bad in ["15/04/1972", "1972-4-15", "1972-02-30", "", "1972-04-15x"] {
        let e = parse_date(bad).expect_err(bad);
        assert_eq!(e.code(), "patient.invalid_date");
        assert!(e.to_string().contains("YYYY-MM-DD"));
    }
}

#[test]
fn opening_a_record_is_audited_and_an_unknown_id_is_not_found() {
    let (_dir, mut store) = open_store();
    let nurse = actor(&store, "Nurse");
    let jane = create(&mut store, &nurse, jane()).expect("create");
    let opened = open(&mut store, &nurse, jane.id).expect("open");
    assert_eq!(opened, jane);
    let views: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'view' AND patient_id = ?1",
            [jane.id],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(views, 1);
    let missing = open(&mut store, &nurse, jane.id + 100);
    assert!(matches!(missing, Err(PatientError::NotFound { .. })));
}
