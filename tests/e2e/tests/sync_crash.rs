//! The app killed while it sends: a nurse's laptop with 30 queued
//! referrals, behind a slow link, and the real app (its background outbox
//! in the real window's process) killed with SIGKILL at 30 random moments
//! after sign-in. Afterwards, with the app started once more, every
//! referral is on the server exactly once and byte-identical, and the
//! store passes `PRAGMA integrity_check` and its audit trail is intact.

#[path = "../../../crates/cli/tests/common/photos.rs"]
mod photos;
#[path = "../../../crates/cli/tests/common/proxy.rs"]
#[allow(dead_code)] // the cut counters serve the CLI's fault test
mod proxy;
#[path = "../../../crates/cli/tests/common/server_db.rs"]
mod server_db;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clinshare_core::referrals::{self, NewReferral, ReferralUrgency};
use clinshare_e2e::server::ApprovedServer;
use clinshare_e2e::{fixture, target_dir, Session};
use proxy::{Faults, Proxy, Rng};
use server_db::server_referrals;
use sha2::{Digest, Sha256};

const NURSE: &str = "Nurse Jackie";
const PASS: &str = "correct horse battery staple";
const PHOTOS: usize = 30;
const KILLS: usize = 30;

fn delivered_on_server(server_data: &Path) -> usize {
    server_referrals(server_data)
        .iter()
        .filter(|(_, state)| state == "delivered")
        .count()
}

/// `clinshare ARGS` on the nurse's store, as the nurse; its stdout.
fn cli(home: &Path, args: &[&str]) -> String {
    let out = Command::new(target_dir().join("debug/clinshare"))
        .arg("--data-dir")
        .arg(home)
        .args(["--user", NURSE])
        .args(args)
        .env("CLINSHARE_PASSPHRASE", PASS)
        .output()
        .expect("clinshare");
    assert!(
        out.status.success(),
        "clinshare {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_store(home: &Path) {
    let status = cli(home, &["status", "--check"]);
    assert!(status.contains("integrity: ok"), "{status}");
    let trail = cli(home, &["audit", "verify"]);
    assert!(trail.to_lowercase().contains("intact"), "{trail}");
}

/// In the window: set up, enrol through `url`, add Jane Doe, import the
/// photos by dropping them on her banner and record her consent.
async fn set_up_nurse(home: &Path, server: &ApprovedServer, url: &str, photos: &[PathBuf]) {
    let s = Session::start(home).await;
    s.set_up(NURSE, PASS).await;
    s.enrol_at(server, url, &server.pin).await;
    s.wait_until(
        "the directory",
        "const d = document.getElementById('directory-age'); return !!d && d.textContent.includes('Version')",
    )
    .await;
    s.add_jane_doe().await;
    let paths: Vec<&Path> = photos.iter().map(PathBuf::as_path).collect();
    s.drop_files(".app-patient-banner", &paths).await;
    let summary = s.text("#import-summary").await;
    assert!(
        summary.starts_with(&format!("{PHOTOS} imported")),
        "{summary}"
    );
    s.click("#import-dismiss").await;
    s.click("#record-consent").await;
    s.type_into("#consent-team", "Tissue Viability").await;
    s.click("#consent-submit").await;
    s.find("#consent-list").await;
    s.finish().await;
}

/// One referral per photo to Tissue Viability, queued through the core
/// API (the composer has its own tests); their ids.
fn queue_one_referral_per_photo(home: &Path) -> Vec<String> {
    let mut store =
        clinshare_core::Store::open(home, &clinshare_core::OsKeyring::new()).expect("store");
    let actor = clinshare_core::session::sign_in(&mut store, NURSE, PASS).expect("sign in");
    let team = clinshare_core::directory::current(&store)
        .expect("directory")
        .recipients()
        .into_iter()
        .find(|r| r.name == "Tissue Viability")
        .expect("team")
        .team_id;
    let patient = clinshare_core::patients::resolve(&store, "943 476 5919")
        .expect("patient")
        .id;
    let media: Vec<String> = store
        .conn()
        .prepare("SELECT id FROM media ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("media");
    assert_eq!(media.len(), PHOTOS);
    media
        .into_iter()
        .map(|id| {
            let draft = referrals::create_draft(
                &mut store,
                &actor,
                NewReferral {
                    patient_id: patient,
                    team_id: team.clone(),
                    clinical_question: "Is this healing?".into(),
                    urgency: ReferralUrgency::Routine,
                    media_ids: vec![id],
                },
            )
            .expect("draft");
            referrals::queue(&mut store, &actor, &draft.id)
                .expect("queue")
                .id
        })
        .collect()
}

/// States of the referrals the Outbox lists.
async fn outbox_states(s: &Session) -> Vec<String> {
    let v = s
        .execute(
            "return [...document.querySelectorAll('#outbox-list [data-state]')].map(li => li.dataset.state)",
            vec![],
        )
        .await;
    serde_json::from_value(v).unwrap_or_default()
}

#[test]
#[ignore = "needs Xvfb, tauri-driver, WebKitWebDriver and a Secret Service session (scripts/test.sh)"]
fn the_app_killed_at_thirty_random_moments_while_sending_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    let home = dir.path().join("nurse");
    let server = ApprovedServer::for_district_nurses(&server_data, NURSE, PASS);
    // A slow link, so that kills land while bytes are moving.
    let upstream = server
        .url
        .trim_start_matches("https://")
        .parse()
        .expect("address");
    let proxy = Proxy::start(
        upstream,
        Faults {
            max_delay_ms: 150,
            ..Faults::NONE
        },
        Rng::seed() ^ 1,
    );
    let photos = photos::distinct_copies(
        &fixture("dn_Sony_Cybershot_5.jpg"),
        &dir.path().join("photos"),
        PHOTOS,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(set_up_nurse(&home, &server, &proxy.url(), &photos));
    let queued = queue_one_referral_per_photo(&home);
    assert_eq!(queued.len(), PHOTOS);

    // Sign in (which wakes the outbox), wait a random moment, kill the app.
    let mut rng = Rng::new(Rng::seed() ^ 2);
    let (mut killed, mut killed_mid_delivery) = (0, 0);
    let started = Instant::now();
    for _ in 0..KILLS {
        let wait = Duration::from_millis(100 + rng.below(2500));
        runtime.block_on(async {
            let s = Session::start(&home).await;
            s.sign_in(NURSE, PASS).await;
            tokio::time::sleep(wait).await;
            let delivered = delivered_on_server(&server_data);
            if s.kill_app() {
                killed += 1;
                if delivered < PHOTOS {
                    killed_mid_delivery += 1;
                }
            }
            drop(s);
        });
    }
    let delivered_before = delivered_on_server(&server_data);
    eprintln!(
        "{killed}/{KILLS} kills, {killed_mid_delivery} of them before all was delivered, in \
         {:?}; {delivered_before} delivered before the last start",
        started.elapsed()
    );
    assert_eq!(killed, KILLS, "the app was not running to be killed");
    assert!(
        killed_mid_delivery >= 3,
        "kills must land while referrals are being sent"
    );
    check_store(&home);

    // Started once more, the app sends the rest; each referral once.
    runtime.block_on(async {
        let s = Session::start(&home).await;
        s.sign_in(NURSE, PASS).await;
        s.click("#nav-outbox").await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let states = outbox_states(&s).await;
            if states.len() == PHOTOS && states.iter().all(|st| st == "delivered") {
                break;
            }
            assert!(Instant::now() < deadline, "not all delivered: {states:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        s.screenshot("crash-01-all-delivered").await;
        s.finish().await;
    });
    let on_server = server_referrals(&server_data);
    assert_eq!(on_server.len(), PHOTOS, "exactly once on the server");
    assert!(
        on_server.iter().all(|(_, state)| state == "delivered"),
        "{on_server:?}"
    );
    // Every photo byte-identical on the server (its file is named by the
    // SHA-256 of the sanitised bytes the laptop holds), nothing partial.
    let store =
        clinshare_core::Store::open(&home, &clinshare_core::OsKeyring::new()).expect("store");
    let mut sent: Vec<String> = store
        .conn()
        .prepare("SELECT sha256 FROM media")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("hashes");
    drop(store);
    sent.sort();
    assert_eq!(server.stored_photos(), sent);
    for path in server.stored_files() {
        let bytes = std::fs::read(&path).expect("stored photo");
        assert_eq!(
            Some(hex::encode(Sha256::digest(&bytes)).as_str()),
            path.file_name().and_then(|n| n.to_str()),
            "altered on the way"
        );
    }
    let partial: Vec<PathBuf> = server
        .files_received()
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "partial"))
        .collect();
    assert!(partial.is_empty(), "partial uploads left: {partial:?}");
    check_store(&home);
    drop(proxy);
}
