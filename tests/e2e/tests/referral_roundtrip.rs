//! A referral end to end between two laptops and the real approved server
//! on loopback TLS: the nurse enrols (after a wrong pin is refused), adds a
//! patient, imports, records consent, composes the referral by dragging a
//! gallery photo and dropping a desktop file onto it, confirms the
//! sentence, and the outbox delivers it. The recipient, on a laptop of
//! their own, enrols, opens it (photos byte-checked into their encrypted
//! store, never a file) and acknowledges; the nurse then sees it
//! acknowledged. Every step in the real window.

use std::path::{Path, PathBuf};

use clinshare_e2e::server::{add_user, ApprovedServer};
use clinshare_e2e::{fixture, Session};
use clinshare_test_support::plaintext_under;

const NURSE_PASS: &str = "correct horse battery staple";
const RECIPIENT_PASS: &str = "tissue viability consultant passphrase";

/// Wait (up to a minute) until the patient page shows the first referral
/// in `want`: the page reloads as the background outbox reports.
async fn wait_for_referral_state(s: &Session, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = state_of_first_referral(s).await;
        if state == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not {want}; last state {state:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn state_of_first_referral(s: &Session) -> String {
    s.execute(
        "const li = document.querySelector('#patient-referrals [data-state]'); return li ? li.dataset.state : ''",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
async fn a_nurse_refers_photos_by_drag_and_drop_and_the_outbox_delivers_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let server = ApprovedServer::for_district_nurses(&server_data, "Nurse Jackie", NURSE_PASS);

    let nurse_data = dir.path().join("nurse");
    let s = Session::start(&nurse_data).await;
    s.set_up("Nurse Jackie", NURSE_PASS).await;

    // Enrolment: the pin is shown in groups to compare; a server showing
    // another key is refused and nothing is enrolled.
    s.enrol(&server, &"0".repeat(64)).await;
    let refused = s.text("#enrol-error").await;
    assert!(refused.contains("did not present the key"), "{refused}");
    assert!(s.text("#enrol-pin-groups").await.contains("0000 0000"));
    s.assert_accessible("enrolment, refused").await;
    s.enrol(&server, &server.pin).await;
    s.find("#enrolment").await;
    s.wait_until(
        "the directory fetched in the background",
        "const d = document.getElementById('directory-age'); return !!d && d.textContent.includes('Version')",
    )
    .await;
    assert!(s.text("#directory-age").await.contains("fetched"));
    s.screenshot("referral-01-enrolled").await;

    // The patient, two photos and consent to share with Tissue Viability.
    s.add_jane_doe().await;
    let photos = [fixture("dn_Sony_Cybershot_5.jpg")];
    let refs: Vec<&Path> = photos.iter().map(PathBuf::as_path).collect();
    s.drop_files(".app-patient-banner", &refs).await;
    assert!(s.text("#import-summary").await.starts_with("1 imported"));
    s.click("#import-dismiss").await;
    s.click("#record-consent").await;
    s.type_into("#consent-team", "Tissue Viability").await;
    s.click("#consent-submit").await;
    s.wait_until(
        "consent recorded",
        "return document.querySelector('[data-testid=consent-status]').textContent.includes('Tissue Viability')",
    )
    .await;

    // Compose: the recipient from the directory by type-ahead, a gallery
    // photo dragged onto the referral, a desktop file dropped onto it.
    s.click("#new-referral").await;
    s.type_into("#recipient-search", "tissue").await;
    s.click("#recipient-options button[data-team-id]").await;
    assert!(s
        .text("#recipient-chosen")
        .await
        .contains("NHS Lanarkshire"));
    s.drag_onto(".app-thumb[data-media-id]", "#referral-attachments")
        .await;
    s.wait_until(
        "the dragged photo attached",
        "return document.querySelectorAll('#referral-attachments [data-attached-id]').length === 1",
    )
    .await;
    s.drop_files(
        "#referral-attachments",
        &[fixture("et_ExifTool.jpg").as_path()],
    )
    .await;
    s.wait_until(
        "the dropped file imported and attached",
        "return document.querySelectorAll('#referral-attachments [data-attached-id]').length === 2",
    )
    .await;
    s.click("#import-dismiss").await;
    s.type_into("#referral-question", "Is this pressure ulcer improving?")
        .await;
    s.assert_accessible("referral composer").await;
    s.screenshot("referral-02-composed").await;

    // The confirmation names patient, identifier, team and organisation;
    // the consent covers all of the patient's photos, the dropped one too.
    s.click("#referral-review").await;
    let question = s.text("#confirm-heading").await;
    assert_eq!(
        question,
        "Send 2 photos of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?"
    );
    assert_eq!(
        s.execute(
            "return document.querySelectorAll('#referral-confirm li').length",
            vec![]
        )
        .await,
        serde_json::json!(2),
        "each photo is shown in the confirmation"
    );
    s.assert_accessible("confirmation").await;
    s.screenshot("referral-03-confirm").await;
    s.click("#referral-send").await;
    s.find("#referral-message").await;

    // The outbox sends it in the background: delivered, with a receipt.
    wait_for_referral_state(&s, "delivered").await;
    assert_eq!(server.stored_photos().len(), 2, "both photos on the server");
    s.click("#nav-outbox").await;
    s.find("#outbox-list [data-state=delivered]").await;
    s.assert_accessible("outbox").await;
    s.screenshot("referral-04-delivered").await;
    s.finish().await;

    // The recipient, on their own laptop.
    add_user(
        &server_data,
        "Anna Smith",
        "Tissue Viability",
        RECIPIENT_PASS,
    );
    let recipient_data = dir.path().join("recipient");
    let r = Session::start(&recipient_data).await;
    r.set_up("Anna Smith", RECIPIENT_PASS).await;
    r.enrol(&server, &server.pin).await;
    r.find("#enrolment").await;
    r.click("#nav-inbox").await;
    r.click("#inbox-list [data-state=delivered] button").await;
    assert_eq!(
        r.text("#inbox-referral-heading").await,
        "DOE, Jane, NHS 943 476 5919"
    );
    assert_eq!(r.text("#inbox-dob").await, "Born 15/04/1972");
    assert!(r
        .text("#inbox-question")
        .await
        .contains("Is this pressure ulcer improving?"));
    let from = r.text("#inbox-referral").await;
    // Teams are named from the signed directory, which lists only teams
    // that take referrals: the sending team is not among them.
    assert!(
        from.contains("From Nurse Jackie, to Tissue Viability"),
        "{from}"
    );
    r.wait_until(
        "both photos shown from the recipient's store",
        "const imgs = [...document.querySelectorAll('#inbox-referral img')];
         return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0);",
    )
    .await;
    r.assert_accessible("inbox referral").await;
    r.screenshot("referral-05-inbox").await;
    r.click("#inbox-ack").await;
    assert!(r
        .text("#inbox-acknowledged")
        .await
        .starts_with("Acknowledged"));
    r.finish().await;
    let found = plaintext_under(&recipient_data, &[b"9434765919"]);
    assert!(
        found.is_empty(),
        "plaintext on the recipient's disk: {found:#?}"
    );

    // The nurse signs in again: the next sync picks up the acknowledgement.
    let s = Session::start(&nurse_data).await;
    s.sign_in("Nurse Jackie", NURSE_PASS).await;
    s.click("tbody a[href^='#patient-']").await;
    wait_for_referral_state(&s, "acknowledged").await;
    s.screenshot("referral-06-acknowledged").await;
    s.finish().await;
}
