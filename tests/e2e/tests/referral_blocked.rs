//! The outbox while offline and the send-time gate, in the real window: a
//! referral queued with the server down waits with the reason shown; consent
//! withdrawn before it could go blocks it with the reason in plain words;
//! when the server is back nothing of it reaches the server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clinshare_e2e::server::ApprovedServer;
use clinshare_e2e::Session;

const PASS: &str = "correct horse battery staple";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/media/tests/fixtures")
        .join(name)
        .canonicalize()
        .expect("fixture")
}

async fn outbox_state(s: &Session) -> String {
    s.execute(
        "const li = document.querySelector('#outbox-list [data-state]'); return li ? li.dataset.state : ''",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn queued_offline_then_consent_withdrawn_is_blocked_and_nothing_reaches_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let mut server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", PASS);

    let s = Session::start(&dir.path().join("nurse")).await;
    s.set_up("Nurse Jackie", PASS).await;
    s.enrol(&server, &server.pin).await;
    s.wait_until(
        "the directory",
        "const d = document.getElementById('directory-age'); return !!d && d.textContent.includes('Version')",
    )
    .await;

    s.add_jane_doe().await;
    s.drop_files(
        ".app-patient-banner",
        &[fixture("dn_Sony_Cybershot_5.jpg").as_path()],
    )
    .await;
    assert!(s.text("#import-summary").await.starts_with("1 imported"));
    s.click("#import-dismiss").await;
    s.click("#record-consent").await;
    s.type_into("#consent-team", "Tissue Viability").await;
    s.click("#consent-submit").await;
    s.find("#consent-list").await;

    // The laptop goes offline; the referral is queued all the same.
    server.stop();
    s.click("#new-referral").await;
    s.type_into("#recipient-search", "tissue").await;
    s.click("#recipient-options button[data-team-id]").await;
    s.click(".app-thumb input[type=checkbox]").await;
    s.click("#attach-selected").await;
    s.type_into("#referral-question", "Is this healing?").await;
    s.click("#referral-review").await;
    s.click("#referral-send").await;
    s.find("#referral-message").await;

    s.click("#nav-outbox").await;
    s.wait_until(
        "the offline reason",
        "const e = document.getElementById('sync-error'); return !!e && e.textContent.includes('could not be reached')",
    )
    .await;
    assert_eq!(outbox_state(&s).await, "queued");
    s.assert_accessible("outbox, offline").await;
    s.screenshot("blocked-01-offline").await;

    // Consent withdrawn before it could go.
    s.click("#outbox-list button").await;
    s.click("#consent-list .app-link-button").await;
    s.type_into("#withdraw-reason", "Patient changed their mind")
        .await;
    s.click("#withdraw-submit").await;
    s.wait_until(
        "the withdrawal shown",
        "return document.getElementById('consent-list').textContent.includes('Withdrawn')",
    )
    .await;

    // Back online: the gate blocks it, with the reason, and sends nothing.
    server.restart();
    s.click("#nav-outbox").await;
    s.click("#sync-now").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_state(&s).await != "blocked" {
        assert!(
            Instant::now() < deadline,
            "not blocked: {}",
            s.text("#outbox-list").await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reasons = s.text(".app-outbox__reasons").await;
    assert!(reasons.to_lowercase().contains("withdrawn"), "{reasons}");
    s.assert_accessible("outbox, blocked").await;
    s.screenshot("blocked-02-consent-withdrawn").await;
    s.finish().await;
    assert!(
        server.files_received().is_empty(),
        "bytes reached the server: {:?}",
        server.files_received()
    );
}
