//! The first screen in the real window: set up a store on a fresh laptop,
//! see its status in Settings, and find it again (behind the sign-in
//! screen) after a restart.

use clinshare_e2e::Session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver (scripts/test.sh)"]
async fn set_up_then_store_status_then_reopen() {
    let data = tempfile::tempdir().expect("tempdir");

    let s = Session::start(data.path()).await;
    s.find("#setup-form").await;
    let title = s.client.title().await.expect("title");
    assert!(title.ends_with("ClinShare"), "window title: {title}");
    s.screenshot("01-setup-form").await;

    // A mismatched confirmation is caught before anything is created.
    s.type_into("#setup-user", "Nurse Jackie").await;
    s.type_into("#setup-passphrase", "correct horse battery staple")
        .await;
    s.type_into("#setup-passphrase-confirm", "correct horse battery stapler")
        .await;
    s.click("#setup-submit").await;
    let summary = s.text(".nhsuk-error-summary").await;
    assert!(summary.to_lowercase().contains("match"), "{summary}");
    assert!(!data.path().join("clinshare.db").exists());

    s.type_into("#setup-passphrase", "correct horse battery staple")
        .await;
    s.type_into("#setup-passphrase-confirm", "correct horse battery staple")
        .await;
    s.click("#setup-submit").await;
    s.find("#add-patient").await;
    s.click("#nav-settings").await;
    s.find("#store-status").await;
    let location = s.text("[data-testid=store-location]").await;
    let expected = data
        .path()
        .canonicalize()
        .expect("dir")
        .join("clinshare.db");
    assert_eq!(location, expected.display().to_string());
    let version = s.text("[data-testid=store-schema-version]").await;
    let latest = clinshare_core::store::migrate::latest_version().to_string();
    assert!(version.contains(&latest), "schema version shown: {version}");
    let encrypted = s.text("[data-testid=store-encrypted]").await;
    assert!(
        encrypted.starts_with("Yes"),
        "encrypted shown as: {encrypted}"
    );
    let shot = s.screenshot("02-store-status").await;
    assert!(std::fs::metadata(shot).expect("screenshot").len() > 1000);
    s.finish().await;

    // A restart opens the same store through the keyring: no set-up form,
    // the sign-in screen with the store's status below it.
    let s = Session::start(data.path()).await;
    s.find("#sign-in-form").await;
    s.find("#store-status").await;
    let encrypted = s.text("[data-testid=store-encrypted]").await;
    assert!(encrypted.starts_with("Yes"));
    s.screenshot("03-store-status-after-restart").await;
    s.finish().await;

    let header = std::fs::read(data.path().join("clinshare.db")).expect("store");
    assert_ne!(&header[..16], b"SQLite format 3\0");
}
