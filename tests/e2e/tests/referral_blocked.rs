//! The outbox while offline and the send-time gate, in the real window: a
//! referral queued with the server down waits with the reason shown; then,
//! before it could go, consent is withdrawn, the recipient team leaves the
//! directory, another server answers on the enrolled address, or another
//! process alters the photo in the store. Each time it is held with the
//! reason in plain words, and no byte of it reaches a server.

use std::time::{Duration, Instant};

use clinshare_e2e::server::{self, ApprovedServer};
use clinshare_e2e::{fixture, Session};

const PASS: &str = "correct horse battery staple";

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

/// A nurse enrolled with `server` who records consent for Jane Doe and
/// queues a referral of one photo to Tissue Viability while the server is
/// down; the Outbox shows it waiting, with the reason.
async fn queue_a_referral_while_offline(
    home: &std::path::Path,
    server: &mut ApprovedServer,
) -> Session {
    let s = Session::start(home).await;
    s.set_up("Nurse Jackie", PASS).await;
    s.enrol(server, &server.pin).await;
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
    s
}

/// Sync now until the referral reaches `state` (or a minute passes).
async fn sync_until(s: &Session, state: &str) {
    s.click("#nav-outbox").await;
    s.click("#sync-now").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_state(s).await != state {
        if Instant::now() > deadline {
            // What the screen says about the pass and any error, to tell a
            // pass that did not run from one that could not read the list.
            let said = s
                .execute(
                    "return [...document.querySelectorAll('#sync-status, [role=alert]')].map(e => e.textContent).join(' | ')",
                    vec![],
                )
                .await;
            panic!(
                "not {state}: {} (screen: {said})",
                s.text("#outbox-list").await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// With the server back, the pass blocks the referral with a reason that
/// says `reason` (lower case), and no byte of it reached the server.
async fn blocked_and_nothing_sent(s: Session, server: &ApprovedServer, reason: &str, shot: &str) {
    sync_until(&s, "blocked").await;
    let reasons = s.text(".app-outbox__reasons").await;
    assert!(reasons.to_lowercase().contains(reason), "{reasons}");
    s.assert_accessible(&format!("outbox, blocked: {reason}"))
        .await;
    s.screenshot(shot).await;
    s.finish().await;
    assert!(
        server.files_received().is_empty(),
        "bytes reached the server: {:?}",
        server.files_received()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn queued_offline_then_consent_withdrawn_is_blocked_and_nothing_reaches_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let mut server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", PASS);
    let s = queue_a_referral_while_offline(&dir.path().join("nurse"), &mut server).await;
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
    blocked_and_nothing_sent(s, &server, "withdrawn", "blocked-02-consent-withdrawn").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn a_recipient_gone_from_the_directory_after_queueing_blocks_it_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let mut server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", PASS);
    let s = queue_a_referral_while_offline(&dir.path().join("nurse"), &mut server).await;

    // The administrator stops the team taking referrals; the laptop learns
    // it from the signed directory at its next sync.
    server::admin(&server_data, &["team", "disable", "Tissue Viability"], "");
    server.restart();
    blocked_and_nothing_sent(
        s,
        &server,
        "no longer in the directory",
        "blocked-03-recipient-gone",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn another_server_on_the_enrolled_address_gets_nothing_and_the_real_one_gets_it_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let mut server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", PASS);
    let s = queue_a_referral_while_offline(&dir.path().join("nurse"), &mut server).await;

    // Another server, with its own key and the same teams and user, takes
    // the enrolled address.
    let impostor_data = dir.path().join("impostor");
    let impostor = ApprovedServer::impostor(&impostor_data, &server, "Nurse Jackie", PASS);
    assert_ne!(impostor.pin, server.pin);
    s.click("#sync-now").await;
    s.wait_until(
        "the pin refusal",
        "const e = document.getElementById('sync-error'); return !!e && e.textContent.includes('did not present the key')",
    )
    .await;
    assert_eq!(outbox_state(&s).await, "queued");
    s.assert_accessible("outbox, another server").await;
    s.screenshot("blocked-04-another-server").await;
    assert!(
        impostor.files_received().is_empty(),
        "bytes reached the other server: {:?}",
        impostor.files_received()
    );
    drop(impostor);

    // The real server is back: the same referral goes, once.
    server.restart();
    sync_until(&s, "delivered").await;
    s.finish().await;
    assert_eq!(server.stored_photos().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn a_photo_altered_in_the_store_after_queueing_blocks_it_and_nothing_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let mut server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", PASS);
    let home = dir.path().join("nurse");
    let s = queue_a_referral_while_offline(&home, &mut server).await;

    // Another process changes one bit of the picture's coded data inside
    // the encrypted store (with the store's key, from the keyring) while
    // the app runs: still a well-formed JPEG with no metadata, but not the
    // photo the nurse chose.
    {
        let store = clinshare_core::Store::open(&home, &clinshare_core::OsKeyring::new())
            .expect("the nurse's store");
        let (id, mut bytes) = store
            .conn()
            .query_row("SELECT media_id, bytes FROM media_content", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .expect("the photo");
        let at = (bytes.len() / 2..bytes.len() - 2)
            .find(|&i| bytes[i - 1] != 0xff && bytes[i] != 0xff && bytes[i] ^ 1 != 0xff)
            .expect("a byte of coded data");
        bytes[at] ^= 1;
        store
            .conn()
            .execute(
                "UPDATE media_content SET bytes = ?1 WHERE media_id = ?2",
                (&bytes, &id),
            )
            .expect("alter");
    }

    server.restart();
    blocked_and_nothing_sent(
        s,
        &server,
        "changed in the store",
        "blocked-05-photo-altered",
    )
    .await;
}
