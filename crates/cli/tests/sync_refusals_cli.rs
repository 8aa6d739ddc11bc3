//! What must stop a referral at send time, with the real binaries over
//! loopback TLS: each case was fine when the referral was queued, goes
//! wrong before `clinshare sync`, and no byte of it reaches the server (no
//! file in its blob folder, partial or complete, and no referral in its
//! database), while the referral stays in the outbox with the reason.

mod common;

use std::path::PathBuf;

use common::{
    assert_server_holds_nothing, distinct_jpegs, serve, serve_on, set_up_server, text, Laptop,
    Server,
};

struct Queued {
    _dir: tempfile::TempDir,
    server_data: PathBuf,
    server: Server,
    nurse: Laptop,
    consent: i64,
    referral: String,
    media: Vec<(String, String)>,
}

/// An enrolled nurse with consent and one referral of the first of two
/// photos queued for Tissue Viability.
fn queued() -> Queued {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    set_up_server(&server_data);
    let server = serve(&server_data);
    let nurse = Laptop::nurse(dir.path().join("nurse"));
    nurse.init_and_enrol(&server_data, &server);
    nurse.add_patient();
    let consent = nurse.record_consent();
    let media = nurse.import(&distinct_jpegs(&dir.path().join("photos"), 2));
    let referral = nurse.refer(&[&media[0].0]);
    Queued {
        _dir: dir,
        server_data,
        server,
        nurse,
        consent,
        referral,
        media,
    }
}

/// `clinshare sync` is refused (exit 1) with `reason` on stderr or stdout.
fn sync_refused(q: &Queued, reason: &str) {
    let out = q.nurse.run(&["sync"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains(reason), "{all}");
}

fn state(q: &Queued) -> String {
    let r = q.nurse.referrals();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["id"], q.referral.as_str());
    r[0]["state"].as_str().expect("state").to_owned()
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_recipient_removed_from_the_directory_after_queueing_gets_nothing() {
    let q = queued();
    // The administrator stops the team taking referrals: the signed
    // directory no longer offers it.
    common::admin(&q.server_data, &["team", "disable", "Tissue Viability"]);
    sync_refused(&q, "no longer in the directory");
    assert_eq!(state(&q), "blocked");
    assert_server_holds_nothing(&q.server_data);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn consent_withdrawn_after_queueing_stops_the_referral() {
    let q = queued();
    q.nurse.ok(&[
        "consent",
        "withdraw",
        "--consent",
        &q.consent.to_string(),
        "--reason",
        "Patient changed their mind",
    ]);
    sync_refused(&q, "withdrawn");
    assert_eq!(state(&q), "blocked");
    assert!(
        q.nurse.referrals()[0]["consent_withdrawal"].is_null(),
        "nothing left the laptop, so there is nothing to withdraw"
    );
    assert_server_holds_nothing(&q.server_data);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn another_server_on_the_enrolled_address_gets_nothing() {
    let mut q = queued();
    let addr = q.server.addr.clone();
    q.server.stop();
    let impostor_data = q._dir.path().join("impostor");
    set_up_server(&impostor_data);
    let impostor = serve_on(&impostor_data, &addr);
    assert_ne!(impostor.pin, q.server.pin);
    sync_refused(&q, "did not present the key");
    assert_eq!(state(&q), "queued", "still waiting for the real server");
    assert_server_holds_nothing(&impostor_data);
    assert_server_holds_nothing(&q.server_data);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_photo_altered_in_the_store_is_not_sent() {
    let q = queued();
    {
        // Another valid, sanitised picture in place of the chosen one:
        // the verifier passes it, the import hash does not.
        let store = q.nurse.store();
        store
            .conn()
            .execute(
                "UPDATE media_content SET bytes = \
                 (SELECT bytes FROM media_content WHERE media_id = ?1) WHERE media_id = ?2",
                [&q.media[1].0, &q.media[0].0],
            )
            .expect("alter");
    }
    sync_refused(&q, "changed in the store");
    assert_eq!(state(&q), "blocked");
    assert_server_holds_nothing(&q.server_data);
}
