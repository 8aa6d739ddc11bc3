//! The FHIR R4 read view (`/v1/fhir/...`) through the router with
//! `oneshot`, on both backends: what the recipient team gets, valid against
//! HL7's R4 JSON schema; what everyone else gets (nothing, and no hint).

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;

const NHS_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";

fn search(patient: &str) -> String {
    format!("/v1/fhir/DocumentReference?patient={patient}")
}

async fn the_recipient_team_reads_delivered_photos_as_valid_fhir(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "fhir-read-0001", &[&jpeg]);
    let (id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    assert_eq!(status, StatusCode::OK);

    let r = s
        .send(bob.get(&search(&format!("{NHS_SYSTEM}|{NHS_NUMBER}"))))
        .await;
    assert_eq!(
        r.headers()["content-type"].to_str().ok(),
        Some("application/fhir+json")
    );
    let (status, bundle) = json(r).await;
    assert_eq!(status, StatusCode::OK, "{bundle}");
    assert_valid_fhir(&bundle);
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 1);
    let doc = &bundle["entry"][0]["resource"];
    assert_valid_fhir(doc);
    assert_eq!(doc["resourceType"], "DocumentReference");
    assert_eq!(doc["subject"]["identifier"]["system"], NHS_SYSTEM);
    assert_eq!(doc["subject"]["identifier"]["value"], NHS_NUMBER);
    assert_eq!(doc["context"]["related"][0]["identifier"]["value"], id);
    let attachment = &doc["content"][0]["attachment"];
    assert_eq!(attachment["contentType"], "image/jpeg");
    assert_eq!(attachment["size"], jpeg.len());
    let url = attachment["url"].as_str().expect("url");
    let (status, bytes) = body_bytes(s.send(bob.get(&format!("/v1/fhir/{url}"))).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, jpeg);

    // The number typed with spaces is the same patient; another is not.
    let (_, spaced) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|943%20476%205919"))))
            .await,
    )
    .await;
    assert_eq!(spaced["total"], 1);
    let (_, other) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|4010232137"))))
            .await,
    )
    .await;
    assert_eq!(other["total"], 0);
    assert!(
        other.get("entry").is_none(),
        "FHIR JSON has no empty arrays"
    );
    assert_valid_fhir(&other);

    // Consent withdrawn: gone from the search, the Binary answers 410.
    let w = serde_json::json!({"reason": "Patient withdrew consent."});
    let r = s
        .send(alice.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, after) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|{NHS_NUMBER}"))))
            .await,
    )
    .await;
    assert_eq!(after["total"], 0);
    assert_eq!(
        s.send(bob.get(&format!("/v1/fhir/{url}"))).await.status(),
        StatusCode::GONE
    );
}

async fn other_teams_and_unsigned_callers_learn_nothing(s: Server) {
    let alice = s.client("alice").await;
    let carol = s.client("carol").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "fhir-deny-0001", &[&jpeg]);
    let (id, _, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    let query = search(&format!("{NHS_SYSTEM}|{NHS_NUMBER}"));
    let (_, ok) = json(s.send(bob.get(&query)).await).await;
    let url = ok["entry"][0]["resource"]["content"][0]["attachment"]["url"]
        .as_str()
        .expect("url")
        .to_owned();

    // Another team: an empty bundle, and the same 404 as a made-up id.
    let (status, bundle) = json(s.send(carol.get(&query)).await).await;
    assert_eq!(
        (status, bundle["total"].clone()),
        (StatusCode::OK, 0.into())
    );
    let real = s.send(carol.get(&format!("/v1/fhir/{url}"))).await;
    let made_up = s
        .send(carol.get(&format!(
            "/v1/fhir/Binary/{}-{}",
            "c".repeat(32),
            "d".repeat(31)
        )))
        .await;
    assert_eq!(real.status(), StatusCode::NOT_FOUND);
    assert_eq!(made_up.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_bytes(real).await.1, body_bytes(made_up).await.1);
    // The sender is not a recipient either.
    let (_, own) = json(s.send(alice.get(&query)).await).await;
    assert_eq!(own["total"], 0);
    assert_eq!(
        s.send(alice.get(&format!("/v1/fhir/{url}"))).await.status(),
        StatusCode::NOT_FOUND
    );

    // Unsigned, or signed without a session: 401 before anything is read.
    for path in [query.clone(), format!("/v1/fhir/{url}")] {
        let r = s
            .send(Request::get(&path).body(Body::empty()).expect("req"))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let mut anonymous = Client::new_device();
        anonymous.device_id = bob.device_id.clone();
        anonymous.key = bob.key.clone();
        let r = s.send(anonymous.get(&path)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    // Malformed searches are refused without echoing the number.
    for q in [
        "/v1/fhir/DocumentReference".to_owned(),
        search("urn:unknown|1"),
        search(NHS_NUMBER),
    ] {
        let (status, body) = json(s.send(bob.get(&q)).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert!(!body.to_string().contains(NHS_NUMBER));
    }
    let _ = id;
}

/// Every search and Binary read is audited with the patient it concerned,
/// a search that matched nothing too (by the number searched for); an
/// invalid number is recorded as such, without it.
async fn searches_and_reads_are_audited_with_the_patient(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "fhir-audit-0001", &[&jpeg]);
    let (id, _, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    let (_, found) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|943%20476%205919"))))
            .await,
    )
    .await;
    let url = found["entry"][0]["resource"]["content"][0]["attachment"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_eq!(
        s.send(bob.get(&format!("/v1/fhir/{url}"))).await.status(),
        StatusCode::OK
    );
    let (_, none) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|4010232137"))))
            .await,
    )
    .await;
    assert_eq!(none["total"], 0);
    let (_, invalid) = json(
        s.send(bob.get(&search(&format!("{NHS_SYSTEM}|4010232138"))))
            .await,
    )
    .await;
    assert_eq!(invalid["total"], 0);

    let store = s.store();
    let about = store
        .audit_about(&format!("nhs:{NHS_NUMBER}"))
        .await
        .expect("audit");
    // Spaced as typed, recorded in the one canonical spelling.
    assert!(about
        .iter()
        .any(|e| e.action == "fhir_search" && e.outcome == "ok"));
    assert!(about
        .iter()
        .any(|e| e.action == "media_download" && e.object == id && e.outcome == "ok"));
    let unmatched = store.audit_about("nhs:4010232137").await.expect("audit");
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(
        (unmatched[0].action.as_str(), unmatched[0].object.as_str()),
        ("fhir_search", "-")
    );
    assert!(store
        .audit_about("nhs:4010232138")
        .await
        .expect("audit")
        .is_empty());
}

on_both_backends!(
    the_recipient_team_reads_delivered_photos_as_valid_fhir,
    other_teams_and_unsigned_callers_learn_nothing,
    searches_and_reads_are_audited_with_the_patient,
);
