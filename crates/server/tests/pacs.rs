//! Filing into a real PACS: Debian's Orthanc with the DICOMweb plugin on a
//! free loopback port, basic authentication on. A referral is delivered
//! through the router while Orthanc is down; the background worker retries
//! until it starts, then the study is checked through Orthanc's own QIDO-RS
//! and REST API: under the patient's identifier, pixel data byte-identical
//! to the stored JPEG, no device or location tags and no person names but
//! patient, operator and (empty) referring physician; dciodvfy and dcmdump
//! find no errors; sending again makes no duplicate; consent withdrawal
//! deletes the study.

#[macro_use]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use clinshare_server::pacs::{dicom, forwarder, PacsConfig};
use clinshare_server::store::{PacsJobKind, PacsOutcome};
use common::orthanc::{self, Orthanc};
use common::*;
use dicom_core::header::Header;
use dicom_core::VR;

/// Tags that would identify a device, place or person other than the
/// patient, operator and team; each must be absent or empty.
const DENYLIST: &[(&str, &str)] = &[
    ("0008,0070", "Manufacturer"),
    ("0008,0080", "InstitutionName"),
    ("0008,0081", "InstitutionAddress"),
    ("0008,1010", "StationName"),
    ("0008,1040", "InstitutionalDepartmentName"),
    ("0008,1090", "ManufacturerModelName"),
    ("0018,1000", "DeviceSerialNumber"),
    ("0018,1002", "DeviceUID"),
    ("0018,1020", "SoftwareVersions"),
    ("0018,700A", "DetectorID"),
    ("0018,1016", "SecondaryCaptureDeviceManufacturer"),
    ("0018,1018", "SecondaryCaptureDeviceManufacturerModelName"),
    ("0018,1019", "SecondaryCaptureDeviceSoftwareVersions"),
    ("0010,1040", "PatientAddress"),
    ("0010,2154", "PatientTelephoneNumbers"),
    ("0040,0241", "PerformedStationAETitle"),
    ("0040,0242", "PerformedStationName"),
    ("0040,0243", "PerformedLocation"),
];

/// The only person-name (PN) attributes allowed.
const PN_ALLOWED: &[(u16, u16)] = &[
    (0x0010, 0x0010), // PatientName
    (0x0008, 0x1070), // OperatorsName: the sending clinician
    (0x0008, 0x0090), // ReferringPhysicianName: type 2, empty
];

fn pacs_config(o: &Orthanc) -> PacsConfig {
    serde_json::from_value(serde_json::json!({
        "targets": [{
            "name": "orthanc",
            "dicomweb_url": format!("{}/dicom-web", o.base()),
            "orthanc_url": o.base(),
            "username": orthanc::USER,
            "password": orthanc::PASSWORD,
        }],
        "poll_interval_ms": 100,
        "retry_base_ms": 200,
        "retry_max_ms": 1000,
    }))
    .expect("config")
}

async fn wait_for_job(
    s: &Server,
    kind: PacsJobKind,
    done: impl Fn(&clinshare_server::store::PacsJob) -> bool,
) {
    let started = Instant::now();
    loop {
        let jobs = s.store().pacs_jobs().await.expect("jobs");
        if jobs.iter().any(|j| j.kind == kind && done(j)) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "PACS job not there in 60 s: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pn_tags(obj: &dicom_object::InMemDicomObject, out: &mut Vec<(u16, u16)>) {
    for e in obj {
        if e.vr() == VR::PN {
            out.push((e.tag().group(), e.tag().element()));
        }
        if let Some(items) = e.items() {
            for item in items {
                pn_tags(item, out);
            }
        }
    }
}

/// A second valid, different JPEG: the fixture with one quantisation
/// value changed (it still decodes; its pixels and hash differ).
fn other_jpeg(jpeg: &[u8]) -> Vec<u8> {
    let dqt = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xDB])
        .expect("DQT");
    let mut out = jpeg.to_vec();
    let last = dqt + 4 + 1 + 63;
    out[last] = if out[last] == 1 { 2 } else { out[last] - 1 };
    out
}

/// A fragment is the stored file, plus one zero byte if its length is odd.
fn strip_pad(frame: &[u8], len: usize) -> &[u8] {
    if len % 2 == 1 && frame.len() == len + 1 && frame.last() == Some(&0) {
        &frame[..len]
    } else {
        frame
    }
}

fn run(tool: &str, file: &std::path::Path) -> (bool, String) {
    let out = Command::new(tool)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed (Debian dcmtk / dicom3tools): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_photos_are_filed_once_into_orthanc_and_deleted_on_withdrawal() {
    let pacs_dir = tempfile::tempdir().expect("tempdir");
    let mut orthanc = Orthanc::new(pacs_dir.path(), orthanc::free_port());
    let s = Server::start_with_pacs(Some(pacs_config(&orthanc))).await;
    let worker = forwarder::spawn(s.state.clone())
        .expect("forwarder")
        .expect("configured");

    // Delivered while the PACS is down.
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let second = other_jpeg(&jpeg);
    let sha = sha256_hex(&jpeg);
    let m = manifest(&s.tissue_viability, "pacs-filing-0001", &[&jpeg, &second]);
    let (id, status, body) = send_referral(&s, &alice, &m, &[&jpeg, &second]).await;
    assert_eq!(
        (status, body["referral_state"].as_str()),
        (StatusCode::OK, Some("delivered"))
    );

    // The failure is visible to the administrator, with a code and no
    // patient data, through the real binary.
    wait_for_job(&s, PacsJobKind::Store, |j| {
        j.attempts >= 1 && j.last_error.as_deref() == Some("pacs.unreachable")
    })
    .await;
    let (code, out, err) = wire::admin(s.dir.path(), &["--json", "pacs", "status"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status[0]["referral_id"], id.as_str());
    assert_eq!(status[0]["state"], "queued");
    assert_eq!(status[0]["last_error"], "pacs.unreachable");
    assert!(!out.contains(NHS_NUMBER));

    // The PACS starts: the next retry files the study.
    orthanc.start().await;
    wait_for_job(&s, PacsJobKind::Store, |j| j.state == "done").await;
    let unauthenticated = orthanc::http()
        .get(format!("{}/dicom-web/studies", orthanc.base()))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        unauthenticated.status(),
        401,
        "Orthanc must require the password"
    );

    // QIDO-RS: one study under the patient's identifier, with our UID.
    let studies = orthanc
        .get_json(&format!("/dicom-web/studies?PatientID={NHS_NUMBER}"))
        .await;
    let studies = studies.as_array().expect("array");
    assert_eq!(studies.len(), 1, "{studies:?}");
    let study_uid = dicom::study_uid(&id);
    assert_eq!(studies[0]["0020000D"]["Value"][0], study_uid.as_str());
    assert_eq!(studies[0]["00100020"]["Value"][0], NHS_NUMBER);

    let series = orthanc
        .get_json(&format!("/dicom-web/studies/{study_uid}/series"))
        .await;
    assert_eq!(series.as_array().map(Vec::len), Some(1));
    let instances = orthanc
        .get_json(&format!("/dicom-web/studies/{study_uid}/instances"))
        .await;
    assert_eq!(instances.as_array().map(Vec::len), Some(2));

    // REST: each instance's only frame is its stored file, byte for byte.
    for photo in [&jpeg, &second] {
        let ids = orthanc
            .lookup(&dicom::instance_uid(&id, &sha256_hex(photo)))
            .await;
        assert_eq!(ids.len(), 1, "{ids:?}");
        let frame = orthanc
            .get_bytes(&format!("/instances/{}/frames/0/raw", ids[0]))
            .await;
        eprintln!(
            "stored {} bytes, PACS frame {} bytes",
            photo.len(),
            frame.len()
        );
        assert_eq!(strip_pad(&frame, photo.len()), &photo[..]);
    }
    let sop_uid = dicom::instance_uid(&id, &sha);
    let ids = orthanc.lookup(&sop_uid).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    let instance = &ids[0];

    // Tags as Orthanc stored them: no device, place or other person.
    let tags = orthanc
        .get_json(&format!("/instances/{instance}/tags"))
        .await;
    for (tag, name) in DENYLIST {
        let value = tags[*tag]["Value"].as_str().unwrap_or("");
        assert!(value.trim().is_empty(), "{name} ({tag}) is set: {value}");
    }
    // The patient as the app sent them, the body site coded, the capture
    // time as the camera's clock showed it.
    assert_eq!(tags["0010,0010"]["Value"], "Doe^Jane");
    assert_eq!(tags["0010,0030"]["Value"], "19720415");
    assert_eq!(tags["0018,0015"]["Value"], "HEEL");
    assert_eq!(tags["0008,0023"]["Value"], "20261120");
    assert_eq!(tags["0008,0033"]["Value"], "101500");
    assert_eq!(tags["0008,0060"]["Value"], "XC");
    assert_eq!(tags["0008,0016"]["Value"], "1.2.840.10008.5.1.4.1.1.77.1.4");
    assert_eq!(tags["0010,0021"]["Value"], "NHS");
    assert_eq!(tags["0008,1070"]["Value"], "alice");
    assert_eq!(tags["0032,1033"]["Value"], "Tissue Viability");
    assert!(tags["0020,4000"]["Value"]
        .as_str()
        .is_some_and(|c| c.contains("sharing for care")));
    let file = orthanc
        .get_bytes(&format!("/instances/{instance}/file"))
        .await;
    let dcm_path = pacs_dir.path().join("filed.dcm");
    std::fs::write(&dcm_path, &file).expect("write");
    let obj = dicom_object::from_reader(&file[128..]).expect("parse the filed object");
    assert_eq!(
        obj.meta().transfer_syntax().trim_end_matches('\0'),
        "1.2.840.10008.1.2.4.50"
    );
    let mut pn = Vec::new();
    pn_tags(&obj, &mut pn);
    for tag in &pn {
        assert!(PN_ALLOWED.contains(tag), "person name in {tag:04x?}");
    }

    // The standard's own checkers.
    let (ok, dump) = run("dcmdump", &dcm_path);
    assert!(ok && !dump.contains("E: "), "dcmdump:\n{dump}");
    let (_, verify) = run("dciodvfy", &dcm_path);
    eprintln!("dciodvfy (warnings allowed):\n{verify}");
    let errors: Vec<&str> = verify.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "dciodvfy:\n{verify}");

    // Sending again (a second delivery attempt) keeps one copy.
    let before = s.store().pacs_jobs().await.expect("jobs")[0].attempts;
    s.store()
        .queue_pacs_job(&id, "orthanc", PacsJobKind::Store, now())
        .await
        .expect("queue");
    wait_for_job(&s, PacsJobKind::Store, |j| {
        j.state == "done" && j.attempts > before
    })
    .await;
    let stats = orthanc.get_json("/statistics").await;
    assert_eq!(
        (
            stats["CountStudies"].clone(),
            stats["CountInstances"].clone()
        ),
        (1.into(), 2.into())
    );

    // Consent withdrawn: the PACS is asked to delete the study.
    let w = serde_json::json!({"reason": "Patient withdrew consent."});
    let r = s
        .send(alice.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    wait_for_job(&s, PacsJobKind::Delete, |j| j.state == "done").await;
    let studies = orthanc
        .get_json(&format!("/dicom-web/studies?PatientID={NHS_NUMBER}"))
        .await;
    assert_eq!(studies.as_array().map(Vec::len), Some(0));
    assert_eq!(orthanc.get_json("/statistics").await["CountInstances"], 0);

    // The audit trail names the attempts by code, never the patient.
    s.store().verify_audit().await.expect("audit chain intact");
    let audit = audit_rows(&s);
    assert!(
        audit.contains(&format!("pacs_store {id} pacs.unreachable")),
        "{audit}"
    );
    assert!(audit.contains(&format!("pacs_store {id} ok")), "{audit}");
    assert!(audit.contains(&format!("pacs_delete {id} ok")), "{audit}");
    assert!(!audit.contains(NHS_NUMBER));
    let _ = bob;
    worker.abort();
}

fn audit_rows(s: &Server) -> String {
    let conn = rusqlite::Connection::open(s.dir.path().join("server.db")).expect("open");
    let mut stmt = conn
        .prepare("SELECT action, object, outcome FROM audit_log ORDER BY seq")
        .expect("prepare");
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.join("\n")
}

/// Photos other than JPEG are not converted: the referral is not filed,
/// the job ends `failed` with the reason, and it is not retried.
#[tokio::test]
async fn a_referral_with_a_png_is_not_filed_and_the_administrator_sees_why() {
    let config = serde_json::from_value::<PacsConfig>(serde_json::json!({
        "targets": [{"name": "orthanc", "dicomweb_url": format!("http://127.0.0.1:{}/dicom-web", orthanc::free_port())}]
    }))
    .expect("config");
    let s = Server::start_with_pacs(Some(config.clone())).await;
    let alice = s.client("alice").await;
    let png = clinshare_media::sanitise(
        include_bytes!("../../media/tests/fixtures/kam_exif.png"),
        &clinshare_media::Limits::default(),
    )
    .expect("sanitise")
    .bytes;
    let mut m = manifest(&s.tissue_viability, "pacs-png-0001", &[&png]);
    m.media[0].format = clinshare_protocol::referral::MediaFormat::Png;
    let (id, status, body) = send_referral(&s, &alice, &m, &[&png]).await;
    assert_eq!(
        (status, body["referral_state"].as_str()),
        (StatusCode::OK, Some("delivered"))
    );
    let worker =
        forwarder::Forwarder::new(s.state.clone(), std::sync::Arc::new(config)).expect("forwarder");
    assert_eq!(worker.run_due().await.expect("run"), 1);
    let jobs = s.store().pacs_jobs().await.expect("jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].state.as_str(), jobs[0].last_error.as_deref()),
        ("failed", Some("pacs.unsupported_format"))
    );
    assert_eq!(worker.run_due().await.expect("run"), 0, "not retried");
    assert!(audit_rows(&s).contains(&format!("pacs_store {id} pacs.unsupported_format")));
}

/// The job queue's rules, on both backends: a claimed job is leased (no
/// second worker gets it), a retry waits for its time, a repeated queueing
/// runs it again, and the outcome is what the administrator sees.
async fn the_pacs_queue_leases_retries_and_records_outcomes(s: Server) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "pacs-queue-0001", &[&jpeg]);
    let (id, _, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    let store = s.store();
    let t = now();
    store
        .queue_pacs_job(&id, "pacs-a", PacsJobKind::Store, t)
        .await
        .expect("queue");
    let job = store
        .claim_pacs_job(t, 600)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(
        (job.referral_id.as_str(), job.kind),
        (id.as_str(), PacsJobKind::Store)
    );
    assert!(
        store.claim_pacs_job(t, 600).await.expect("claim").is_none(),
        "leased"
    );
    let retry = PacsOutcome::Retry {
        at: t + 60,
        error: "pacs.unreachable".into(),
    };
    store
        .finish_pacs_job(&id, "pacs-a", PacsJobKind::Store, retry, t)
        .await
        .expect("finish");
    assert!(store
        .claim_pacs_job(t + 59, 600)
        .await
        .expect("claim")
        .is_none());
    let again = store
        .claim_pacs_job(t + 60, 600)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(again.attempts, 1);
    assert_eq!(again.last_error.as_deref(), Some("pacs.unreachable"));
    // A lease that ran out (a crashed worker) is taken over.
    let taken = store
        .claim_pacs_job(t + 661, 600)
        .await
        .expect("claim")
        .expect("expired lease");
    assert_eq!(taken.attempts, 1);
    store
        .finish_pacs_job(&id, "pacs-a", PacsJobKind::Store, PacsOutcome::Done, t + 70)
        .await
        .expect("finish");
    store
        .queue_pacs_job(&id, "pacs-a", PacsJobKind::Delete, t + 80)
        .await
        .expect("queue");
    let del = store
        .claim_pacs_job(t + 80, 600)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(del.kind, PacsJobKind::Delete);
    let failed = PacsOutcome::Failed {
        error: "pacs.delete_unsupported".into(),
    };
    store
        .finish_pacs_job(&id, "pacs-a", PacsJobKind::Delete, failed, t + 81)
        .await
        .expect("finish");
    assert!(store
        .claim_pacs_job(t + 10_000, 600)
        .await
        .expect("claim")
        .is_none());
    let jobs = store.pacs_jobs().await.expect("jobs");
    let states: Vec<(PacsJobKind, &str, i64, Option<&str>)> = jobs
        .iter()
        .map(|j| {
            (
                j.kind,
                j.state.as_str(),
                j.attempts,
                j.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (PacsJobKind::Store, "done", 2, None),
            (
                PacsJobKind::Delete,
                "failed",
                1,
                Some("pacs.delete_unsupported")
            ),
        ]
    );
}

on_both_backends!(the_pacs_queue_leases_retries_and_records_outcomes);
