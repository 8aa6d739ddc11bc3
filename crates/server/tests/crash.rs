//! The real binary killed with SIGKILL in the middle of a chunk, then
//! restarted on the same data directory: the client asks for the offset and
//! resumes, the stored file is byte-identical, and the referral is never
//! visible in the inbox before it is complete. The server's logs of the
//! whole run (including the PACS filing worker's) never contain the
//! planted identifier or patient name.

mod common;

use std::time::Duration;

use common::wire::{admin, admin_two_teams, send, serve_plain, KillOnDrop};
use common::*;

const PLANTED_NAME: &str = "Ermintrude Plantedname";

#[tokio::test]
async fn a_server_killed_mid_upload_resumes_and_stores_the_exact_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let logs = [dir.path().join("run1.log"), dir.path().join("run2.log")];
    admin_two_teams(&data, &[]);
    // A PACS that is down: the filing worker runs in the real binary and
    // logs its failures, which the log check below covers too.
    std::fs::write(
        data.join("pacs.json"),
        serde_json::json!({
            "targets": [{"name": "down", "dicomweb_url": format!(
                "http://127.0.0.1:{}/dicom-web", common::orthanc::free_port())}],
            "poll_interval_ms": 100,
            "retry_base_ms": 100,
        })
        .to_string(),
    )
    .expect("pacs.json");
    let (server, addr) = serve_plain(&data, &logs[0]);
    let mut server = KillOnDrop(server);

    let mut alice = Client::new_device();
    let mut bob = Client::new_device();
    for c in [&mut alice, &mut bob] {
        let (_, code, _) = admin(&data, &["enrol-code"]);
        let r = send(addr, c.enrol_request(code.trim())).await;
        assert_eq!(r.status, 201, "{:?}", r.json());
        c.device_id = r.json()["device_id"].as_str().expect("id").to_owned();
    }
    for (c, user) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        let r = send(
            addr,
            c.post_json(
                "/v1/session",
                &serde_json::json!({"username": user, "password": PASSWORD}),
            ),
        )
        .await;
        assert_eq!(r.status, 200);
        c.token = Some(r.json()["token"].as_str().expect("token").to_owned());
    }
    let dir_json = send(addr, alice.get("/v1/directory")).await.json();
    let team = dir_json["payload"]["teams"][0]["team_id"]
        .as_str()
        .expect("team")
        .to_owned();

    // A refused manifest with a wrong check digit, for the log check.
    let jpeg = clean_jpeg();
    let mut bad = manifest(&team, "crash-bad-0001", &[&jpeg]);
    bad.patient.value = "9434765918".into();
    assert_eq!(
        send(addr, alice.post_json("/v1/referrals", &bad))
            .await
            .status,
        422
    );

    let mut m = manifest(&team, "crash-0001", &[&jpeg]);
    m.clinical_question = format!("{PLANTED_NAME}: heel ulcer, please advise.");
    let r = send(addr, alice.post_json("/v1/referrals", &m)).await;
    assert_eq!(r.status, 201);
    let id = r.json()["referral_id"].as_str().expect("id").to_owned();
    let sha = sha256_hex(&jpeg);
    let third = jpeg.len() / 3;
    assert_eq!(
        send(addr, alice.put_chunk(&id, &sha, 0, &jpeg[..third]))
            .await
            .status,
        200
    );

    // The second chunk: headers and half its bytes, then the server dies.
    server
        .kill_mid_request(
            addr,
            alice.put_chunk(&id, &sha, third as u64, &jpeg[third..]),
        )
        .await;

    let (restarted, addr) = serve_plain(&data, &logs[1]);
    let _restarted = KillOnDrop(restarted);

    // Nothing in the inbox yet.
    let inbox = send(addr, bob.get("/v1/inbox")).await.json();
    assert_eq!(inbox.as_array().map(Vec::len), Some(0));
    assert_eq!(
        send(addr, bob.get(&format!("/v1/inbox/{id}"))).await.status,
        404
    );

    // Resume from wherever the server's copy ends.
    let at = send(addr, alice.get(&format!("/v1/referrals/{id}/media/{sha}")))
        .await
        .json();
    let offset = at["offset"].as_u64().expect("offset") as usize;
    assert!(offset >= third && offset < jpeg.len(), "offset {offset}");
    let r = send(
        addr,
        alice.put_chunk(&id, &sha, offset as u64, &jpeg[offset..]),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["referral_state"], "delivered");

    let stored = std::fs::read(data.join("blobs").join(&id).join(&sha)).expect("stored blob");
    assert_eq!(stored, jpeg, "byte-identical");
    let downloaded = send(addr, bob.get(&format!("/v1/inbox/{id}/media/{sha}"))).await;
    assert_eq!(downloaded.status, 200);
    assert_eq!(downloaded.body, jpeg);

    // Give the worker time to try the PACS (down) at least once.
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&logs[1])
        .unwrap_or_default()
        .contains("PACS job failed")
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the filing worker did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut all_logs = String::new();
    for l in &logs {
        all_logs.push_str(&std::fs::read_to_string(l).expect("log"));
    }
    assert!(
        all_logs.contains("\"route\":\"/v1/referrals\""),
        "logs were written"
    );
    for planted in [
        NHS_NUMBER,
        "943 476 5919",
        "9434765918",
        PLANTED_NAME,
        "Plantedname",
        // The manifests' patient name and date of birth (tests/common).
        "Doe^Jane",
        "\"Jane\"",
        "1972-04-15",
    ] {
        assert!(!all_logs.contains(planted), "log contains {planted}");
    }
}
