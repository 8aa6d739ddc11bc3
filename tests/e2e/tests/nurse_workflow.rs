//! A community nurse's offline visit, end to end in the real window: set up,
//! add a patient (a mistyped NHS number is refused), import photos by
//! dropping them and through the file chooser, see the thumbnails, record
//! consent, view a photo, lock and unlock, and find every step in the audit
//! trail. axe-core checks each screen; screenshots are kept as artefacts.
//! Afterwards nothing readable is left on disk: no picture and no typed
//! name in the store's folder, the temp folder or the webview's folders.

use std::path::{Path, PathBuf};
use std::process::Command;

use clinshare_e2e::{fixture, Session};
use clinshare_test_support::plaintext_under;

const PASS: &str = "correct horse battery staple";
/// Typed into the app; must never appear in any file as plain text.
const FAMILY: &str = "Zebedeeplanted";

/// Type `path` into the system file chooser titled `title` and confirm.
fn choose_in_file_chooser(title: &str, path: &Path) {
    let out = Command::new("timeout")
        .args(["20", "xdotool", "search", "--sync", "--name", title])
        .output()
        .expect("xdotool (apt install xdotool)");
    let window = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no file chooser titled {title:?} appeared"));
    // The chooser needs a moment to take keyboard input once mapped.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let status = Command::new("xdotool")
        .args(["windowfocus", "--sync", &window])
        .args(["key", "--clearmodifiers", "ctrl+l"])
        .args(["type", "--delay", "15", &path.display().to_string()])
        .status()
        .expect("xdotool");
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = Command::new("xdotool")
        .args(["key", "--window", &window, "Return"])
        .status()
        .expect("xdotool");
    assert!(status.success());
}

async fn count(s: &Session, css: &str) -> i64 {
    s.execute(
        "return document.querySelectorAll(arguments[0]).length",
        vec![css.into()],
    )
    .await
    .as_i64()
    .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver (scripts/test.sh)"]
async fn a_visit_from_set_up_to_audit_trail() {
    let data = tempfile::tempdir().expect("data dir");
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tempfile::tempdir().expect("cache");
    let share = tempfile::tempdir().expect("share");
    let s = Session::start_with_env(
        data.path(),
        &[
            ("TMPDIR", tmp.path()),
            ("XDG_CACHE_HOME", cache.path()),
            ("XDG_DATA_HOME", share.path()),
        ],
    )
    .await;

    // Set up: the person setting up is signed in straight away.
    s.set_up("Nurse Jackie", PASS).await;
    assert_eq!(s.text("#signed-in-user").await, "Nurse Jackie");
    s.assert_accessible("patients").await;
    s.screenshot("workflow-01-patients").await;

    // A wrong check digit is refused with the message; nothing is saved.
    s.click("#add-patient").await;
    s.type_into("#patient-identifier", "943 476 5918").await;
    s.type_into("#patient-identifier-again", "943 476 5918")
        .await;
    s.type_into("#patient-family", FAMILY).await;
    s.type_into("#patient-given", "Jane").await;
    s.type_into("#patient-dob", "15/04/1972").await;
    s.click("#patient-submit").await;
    let summary = s.text(".nhsuk-error-summary").await;
    assert!(
        summary.contains("check digit does not match — please re-read the number"),
        "{summary}"
    );
    assert_eq!(
        s.text("[data-testid=patient-error-code]").await,
        "identifier.check_digit"
    );
    s.assert_accessible("add patient, with an error").await;
    s.screenshot("workflow-02-check-digit-refused").await;

    s.type_into("#patient-identifier", "943 476 5919").await;
    s.type_into("#patient-identifier-again", "9434765919").await;
    s.click("#patient-submit").await;
    let heading = s.text("#patient-heading").await;
    assert_eq!(heading, format!("{}, Jane", FAMILY.to_uppercase()));
    assert!(s
        .text("[data-testid=patient-identifier]")
        .await
        .contains("943 476 5919"));
    assert_eq!(
        s.text("[data-testid=consent-status]").await,
        "No consent recorded: photos cannot be shared"
    );

    // Drop three photos from the desktop onto the patient.
    let dropped = [
        fixture("dn_Sony_Cybershot_5.jpg"),
        fixture("et_ExifTool.jpg"),
        fixture("ia_landscape_6.jpg"),
    ];
    let refs: Vec<&Path> = dropped.iter().map(PathBuf::as_path).collect();
    s.drop_files(".app-patient-banner", &refs).await;
    let done = s.text("#import-summary").await;
    assert!(done.starts_with("3 imported"), "{done}");
    s.wait_until(
        "three thumbnails, loaded through the media scheme",
        "const imgs = [...document.querySelectorAll('[data-testid=gallery] img')];
         return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0);",
    )
    .await;
    s.screenshot("workflow-03-dropped").await;
    s.click("#import-dismiss").await;

    // The same photo again is skipped as a duplicate, and a GIF is refused
    // with the reason.
    let again = [fixture("et_ExifTool.jpg"), fixture("et_GIF.gif")];
    let refs: Vec<&Path> = again.iter().map(PathBuf::as_path).collect();
    s.drop_files(".app-patient-banner", &refs).await;
    let done = s.text("#import-summary").await;
    assert!(done.contains("1 already in the store"), "{done}");
    assert!(done.contains("1 rejected"), "{done}");
    assert!(s.text("#import-rejected").await.contains("et_GIF.gif"));
    s.assert_accessible("import report").await;
    s.screenshot("workflow-04-duplicate-and-rejected").await;
    s.click("#import-dismiss").await;

    // The file chooser: the system dialog, driven by keyboard.
    s.click("#import-pick").await;
    choose_in_file_chooser("Choose photos to import", &fixture("ente_normalphoto.jpg"));
    let done = s.text("#import-summary").await;
    assert!(done.starts_with("1 imported"), "{done}");
    s.wait_until(
        "four thumbnails",
        "return document.querySelectorAll('[data-testid=gallery] img').length === 4",
    )
    .await;
    s.click("#import-dismiss").await;
    assert_eq!(
        count(&s, ".app-thumb .nhsuk-tag--grey").await,
        4,
        "not shareable yet"
    );

    // Consent for care with a named team.
    s.click("#record-consent").await;
    s.assert_accessible("record consent").await;
    s.type_into("#consent-team", "Tissue Viability").await;
    s.click("#consent-submit").await;
    s.wait_until(
        "consent shown",
        "return document.querySelector('[data-testid=consent-status]').textContent === 'Consent to share for care with Tissue Viability'",
    )
    .await;
    assert_eq!(
        count(&s, ".app-thumb .nhsuk-tag--grey").await,
        0,
        "now shareable"
    );
    s.screenshot("workflow-05-consent").await;

    // Open a photo in the viewer (the full picture is streamed and audited).
    s.click(".app-thumb__open").await;
    s.wait_until(
        "the full picture",
        "const i = document.querySelector('[data-testid=viewer] img'); return !!i && i.complete && i.naturalWidth > 0",
    )
    .await;
    s.assert_accessible("viewer").await;
    s.screenshot("workflow-06-viewer").await;
    s.click("#viewer-close").await;

    // Lock: nothing of the patient remains on screen or in the title.
    s.click("#lock").await;
    s.find("#locked-heading").await;
    let title = s.client.title().await.expect("title");
    assert_eq!(title, "Locked – ClinShare");
    let body = s.text("body").await;
    assert!(
        !body.to_uppercase().contains(&FAMILY.to_uppercase()),
        "{body}"
    );
    assert_eq!(count(&s, "img").await, 0);
    s.assert_accessible("lock").await;
    s.screenshot("workflow-07-locked").await;
    s.type_into("#unlock-passphrase", PASS).await;
    s.click("#unlock-submit").await;
    s.find("#add-patient").await;

    // Dropped anywhere but on a patient, photos go to the Unassigned tray,
    // not shareable until tagged to a patient.
    s.click("#nav-tray").await;
    s.find("#tray-empty").await;
    s.drop_files("main h1", &[fixture("et_FotoStation.jpg").as_path()])
        .await;
    let done = s.text("#import-summary").await;
    assert!(done.starts_with("1 imported"), "{done}");
    assert!(s
        .text("[data-testid=import-panel] h2")
        .await
        .contains("Unassigned"));
    s.click("#import-dismiss").await;
    s.click(".app-thumb input[type=checkbox]").await;
    s.type_into("#tray-search", "943 476 5919").await;
    s.click("#tray-search + button").await;
    s.click("#tray-patients button").await;
    assert!(s.text("#tray-message").await.contains("tagged to"));
    s.find("#tray-empty").await;
    s.assert_accessible("unassigned tray").await;

    // The audit trail lists each step.
    s.click("#nav-audit").await;
    s.find("#audit-table").await;
    let actions: Vec<String> = serde_json::from_value(
        s.execute(
            "return [...document.querySelectorAll('#audit-table tbody tr')].map(r => r.dataset.action)",
            vec![],
        )
        .await,
    )
    .expect("actions");
    for expected in [
        "user_create",
        "sign_in",
        "patient_create",
        "import",
        "consent_record",
        "tag",
        "view",
        "lock",
        "unlock",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert_eq!(
        actions.iter().filter(|a| *a == "import").count(),
        5,
        "{actions:?}"
    );
    s.click("#audit-verify").await;
    assert!(s.text("#audit-verify-result").await.contains("Intact"));
    s.assert_accessible("audit trail").await;
    s.screenshot("workflow-08-audit").await;
    s.finish().await;

    // Nothing readable on disk: no JPEG/PNG, no camera model, no typed name.
    let needles: [&[u8]; 3] = [FAMILY.as_bytes(), b"9434765919", b"CYBERSHOT"];
    for dir in [data.path(), tmp.path(), cache.path(), share.path()] {
        let found = plaintext_under(dir, &needles);
        assert!(found.is_empty(), "plaintext left on disk: {found:#?}");
    }
}
