//! Both ends of a referral with the real binaries over loopback TLS: the
//! nurse's laptop sends, the recipient's laptop lists, opens (the photos
//! arrive byte-identical and only inside its encrypted store) and
//! acknowledges, and the nurse's outbox shows it acknowledged. Then the
//! patient withdraws consent: the next sync tells the server, and the
//! recipient loses access. Retention set to 0 removes the sent photos'
//! bytes from the nurse's laptop at the end of the delivering pass.

mod common;

use clinshare_test_support::{pieces, plaintext_under};
use common::{distinct_jpegs, serve, set_up_server, sha256_hex, text, Laptop};

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn the_recipient_opens_and_acknowledges_then_consent_withdrawal_reaches_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    set_up_server(&server_data);
    let server = serve(&server_data);
    let nurse = Laptop::nurse(dir.path().join("nurse"));
    let doctor = Laptop::doctor(dir.path().join("doctor"));
    nurse.init_and_enrol(&server_data, &server);
    doctor.init_and_enrol(&server_data, &server);
    nurse.add_patient();
    let consent = nurse.record_consent();
    let media = nurse.import(&distinct_jpegs(&dir.path().join("photos"), 2));
    let sent_hashes: Vec<String> = media.iter().map(|m| m.1.clone()).collect();
    let referral = nurse.refer(&[&media[0].0, &media[1].0]);
    let retention = nurse.ok(&["settings", "retention", "0"]);
    assert!(retention.contains("0 day(s)"), "{retention}");

    assert!(doctor
        .ok(&["inbox", "list"])
        .contains("The inbox is empty."));

    let out = nurse.run(&["--json", "sync", "--progress"]);
    let report: serde_json::Value = serde_json::from_str(&common::ok(&out)).expect("json");
    assert_eq!(report["sync"]["delivered"][0], referral.as_str());
    // Progress: this referral from starting to delivered, bytes never going
    // back, ending with everything counted.
    let events: Vec<serde_json::Value> = text(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["progress"].clone())
        .collect();
    let states: Vec<&str> = events.iter().filter_map(|e| e["state"].as_str()).collect();
    assert_eq!(states.first(), Some(&"starting"), "{states:?}");
    assert!(states.contains(&"uploading"), "{states:?}");
    assert_eq!(states.last(), Some(&"delivered"), "{states:?}");
    assert!(events.iter().all(|e| e["referral_id"] == referral.as_str()));
    let sent: Vec<u64> = events
        .iter()
        .map(|e| e["overall_sent"].as_u64().expect("n"))
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{sent:?}");
    let last = events.last().expect("events");
    let total = last["bytes_total"].as_u64().expect("total");
    assert!(total > 0);
    assert_eq!(last["bytes_sent"].as_u64(), Some(total));
    assert_eq!(last["overall_sent"].as_u64(), Some(total));
    assert_eq!(last["overall_total"].as_u64(), Some(total));
    // Retention 0: the bytes left the laptop at the end of that pass; the
    // records and the receipt stay.
    assert_eq!(
        report["sync"]["purged"]["purged"].as_array().map(Vec::len),
        Some(2)
    );
    {
        let store = nurse.store();
        let content: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM media_content", [], |r| r.get(0))
            .expect("count");
        assert_eq!(content, 0);
        let kept: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM media WHERE purged_at IS NOT NULL AND has_thumbnail = 0",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(kept, 2, "the media records stay");
        let receipt: Option<String> = store
            .conn()
            .query_row(
                "SELECT receipt_json FROM referrals WHERE id = ?1",
                [&referral],
                |r| r.get(0),
            )
            .expect("receipt");
        assert!(receipt.is_some(), "the receipt stays");
    }

    // The recipient's inbox.
    let inbox = doctor.json(&["inbox", "list"]);
    let items = inbox["inbox"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(items[0]["state"], "delivered");
    let server_id = items[0]["referral_id"].as_str().expect("id").to_owned();
    let opened = doctor.json(&["inbox", "open", &server_id]);
    assert_eq!(
        opened["referral"]["clinical_question"],
        "Is this pressure ulcer improving?"
    );
    assert_eq!(opened["photos"].as_array().map(Vec::len), Some(2));
    {
        // Byte-identical to what the nurse imported and the server holds,
        // and only in the recipient's encrypted store.
        let store = doctor.store();
        for sha in &sent_hashes {
            let bytes = clinshare_core::inbox::cached(&store, &server_id, sha)
                .expect("read")
                .expect("downloaded into the store");
            assert_eq!(&sha256_hex(&bytes), sha);
            let on_server = common::server_blob(&server_data, sha);
            assert_eq!(bytes, on_server);
        }
    }
    let mut needles = vec![common::NHS.replace(' ', "").into_bytes()];
    for sha in &sent_hashes {
        needles.extend(pieces(&common::server_blob(&server_data, sha), 3));
    }
    let found = plaintext_under(&doctor.data, &needles);
    assert!(
        found.is_empty(),
        "plaintext on the recipient's disk: {found:#?}"
    );

    let acked = doctor.ok(&["inbox", "ack", &server_id]);
    assert!(acked.contains("acknowledged"), "{acked}");
    let report = nurse.json(&["sync"]);
    assert_eq!(report["sync"]["acknowledged"][0], referral.as_str());
    let outbox = nurse.referrals();
    assert_eq!(outbox[0]["state"], "acknowledged");

    // Consent withdrawn after delivery: a notice, sent by the next sync.
    nurse.ok(&[
        "consent",
        "withdraw",
        "--consent",
        &consent.to_string(),
        "--reason",
        "Patient no longer agrees",
    ]);
    let outbox = nurse.referrals();
    assert!(outbox[0]["consent_withdrawal"]["requested_at"].is_string());
    assert!(outbox[0]["consent_withdrawal"]["sent_at"].is_null());
    let report = nurse.json(&["sync"]);
    assert_eq!(report["sync"]["withdrawals_sent"][0], referral.as_str());
    assert!(nurse.referrals()[0]["consent_withdrawal"]["sent_at"].is_string());
    let again = nurse.json(&["sync"]);
    assert_eq!(
        again["sync"]["withdrawals_sent"].as_array().map(Vec::len),
        Some(0)
    );

    let inbox = doctor.json(&["inbox", "list"]);
    assert_eq!(inbox["inbox"][0]["consent_withdrawn"], true);
    {
        let store = doctor.store();
        for sha in &sent_hashes {
            assert!(
                clinshare_core::inbox::cached(&store, &server_id, sha)
                    .expect("read")
                    .is_none(),
                "the recipient's copy is dropped"
            );
        }
    }
    let reopened = doctor.json(&["inbox", "open", &server_id]);
    assert_eq!(reopened["photos"].as_array().map(Vec::len), Some(0));

    for laptop in [&nurse, &doctor] {
        let trail = laptop.ok(&["audit", "verify"]);
        assert!(trail.to_lowercase().contains("intact"), "{trail}");
    }
    let refused = nurse.run(&["settings", "retention", "400"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
}
