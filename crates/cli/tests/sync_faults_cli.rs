//! Sync when things go wrong, with the real binaries over loopback TLS:
//! the server down when the nurse syncs, a network that cuts connections
//! at random byte offsets and delays packets, and `clinshare sync` killed
//! (SIGKILL) at random moments. Afterwards every referral is on the server
//! exactly once and byte-identical, and the laptop's store is intact.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::proxy::{Faults, Proxy, Rng};
use common::{
    assert_delivered_exactly_once, distinct_jpegs, queue_one_referral_per_photo, serve, serve_on,
    serve_with, server_referrals, set_up_server, text, Laptop, Server,
};

struct World {
    dir: tempfile::TempDir,
    server_data: PathBuf,
    server: Server,
    nurse: Laptop,
}

fn world() -> World {
    world_with(serve)
}

fn world_with(serve: impl FnOnce(&Path) -> Server) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_data = dir.path().join("server");
    set_up_server(&server_data);
    let server = serve(&server_data);
    let nurse = Laptop::nurse(dir.path().join("nurse"));
    World {
        dir,
        server_data,
        server,
        nurse,
    }
}

/// A proxy in front of the world's server.
fn proxy_to(w: &World, faults: Faults, seed: u64) -> Proxy {
    Proxy::start(w.server.addr.parse().expect("addr"), faults, seed)
}

/// Enrol through `url` (the proxy), add Jane Doe with consent, import `n`
/// distinct photos and queue one referral each.
fn queue_photos(w: &World, url: &str, pin: &str, n: usize) -> Vec<(String, String)> {
    queue(
        w,
        url,
        pin,
        &distinct_jpegs(&w.dir.path().join("photos"), n),
    )
}

fn queue(w: &World, url: &str, pin: &str, photos: &[PathBuf]) -> Vec<(String, String)> {
    w.nurse.ok(&["init"]);
    w.nurse.enrol(&w.server_data, url, pin);
    w.nurse.add_patient_with_consent();
    let media = w.nurse.import(photos);
    assert_eq!(media.len(), photos.len());
    queue_one_referral_per_photo(&w.nurse, &media);
    media
}

/// A JPEG of random noise (which compresses badly) of `width` × `height`:
/// megabytes where the fixtures are kilobytes.
fn noisy_jpeg(path: &Path, width: u32, height: u32) -> PathBuf {
    let mut rng = Rng::new(0x5eed);
    let pixels: Vec<u8> = (0..width * height * 3).map(|_| rng.next() as u8).collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode");
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    std::fs::write(path, out).expect("write");
    path.to_owned()
}

/// `clinshare sync` until it exits 0, at most `bound` times.
fn sync_until_done(nurse: &Laptop, bound: usize) -> usize {
    for attempt in 1..=bound {
        let out = nurse.run(&["sync"]);
        if out.status.success() {
            return attempt;
        }
        assert_eq!(
            out.status.code(),
            Some(2),
            "only network trouble may stop a pass: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    panic!("not delivered after {bound} passes");
}

fn check_store(nurse: &Laptop) {
    let status = nurse.ok(&["status", "--check"]);
    assert!(status.contains("integrity: ok"), "{status}");
    let trail = nurse.ok(&["audit", "verify"]);
    assert!(trail.to_lowercase().contains("intact"), "{trail}");
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn queued_while_the_server_is_down_then_delivered_when_it_is_back() {
    let mut w = world();
    let (url, pin, addr) = (
        w.server.url.clone(),
        w.server.pin.clone(),
        w.server.addr.clone(),
    );
    let media = queue_photos(&w, &url, &pin, 1);
    w.server.stop();

    let out = w.nurse.run(&["sync"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("could not be reached"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(w.nurse.referrals()[0]["state"], "queued");

    let _back = serve_on(&w.server_data, &addr);
    let sent = w.nurse.ok(&["sync"]);
    assert!(sent.contains("delivered"), "{sent}");
    assert_delivered_exactly_once(&w.nurse, &w.server_data, &media);
    check_store(&w.nurse);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn fifty_referrals_arrive_once_through_a_network_that_cuts_and_delays() {
    let w = world();
    let proxy = proxy_to(
        &w,
        Faults {
            cut_percent: 100,
            max_cut_after: 200_000,
            max_delay_ms: 3,
            up_bytes_per_second: 0,
        },
        Rng::seed(),
    );
    let media = queue_photos(&w, &proxy.url(), &w.server.pin, 50);
    proxy.cuts.store(true, Ordering::SeqCst);

    let passes = sync_until_done(&w.nurse, 40);
    let cuts = proxy.cut_count.load(Ordering::SeqCst);
    eprintln!("delivered in {passes} passes through {cuts} cut connections");
    assert!(cuts > 0, "the proxy cut nothing: the test proved nothing");
    proxy.cuts.store(false, Ordering::SeqCst);
    assert_delivered_exactly_once(&w.nurse, &w.server_data, &media);

    // The recipient's inbox shows each once.
    let doctor = Laptop::doctor(w.dir.path().join("doctor"));
    doctor.init_and_enrol(&w.server_data, &w.server);
    let inbox = doctor.json(&["inbox", "list"]);
    assert_eq!(inbox["inbox"].as_array().map(Vec::len), Some(50));
    check_store(&w.nurse);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn sync_killed_at_thirty_random_moments_loses_and_repeats_nothing() {
    let w = world();
    // A slow link, so that kills land while bytes are moving (a pass sends
    // two referrals at a time, several files each in flight).
    let proxy = proxy_to(
        &w,
        Faults {
            max_delay_ms: 150,
            ..Faults::NONE
        },
        Rng::seed() ^ 1,
    );
    let media = queue_photos(&w, &proxy.url(), &w.server.pin, 30);
    let mut rng = Rng::new(Rng::seed() ^ 2);
    let mut killed_mid_pass = 0;
    let mut killed_mid_delivery = 0;
    let started = Instant::now();
    for _ in 0..30 {
        let mut child = w
            .nurse
            .command(&["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sync");
        std::thread::sleep(Duration::from_millis(100 + rng.below(1500)));
        if child.try_wait().expect("wait").is_none() {
            killed_mid_pass += 1;
            let delivered = server_referrals(&w.server_data)
                .iter()
                .filter(|(_, s)| s == "delivered")
                .count();
            if delivered < media.len() {
                killed_mid_delivery += 1;
            }
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    let delivered_before = server_referrals(&w.server_data)
        .iter()
        .filter(|(_, s)| s == "delivered")
        .count();
    eprintln!(
        "{killed_mid_pass}/30 kills mid-pass, {killed_mid_delivery} of them before all was \
         delivered, in {:?}; {delivered_before} delivered before the final passes",
        started.elapsed()
    );
    assert!(
        killed_mid_delivery >= 3,
        "kills must land while referrals are being sent"
    );
    check_store(&w.nurse);
    sync_until_done(&w.nurse, 5);
    assert_delivered_exactly_once(&w.nurse, &w.server_data, &media);
    check_store(&w.nurse);
    assert_only_delivered_once_on_disk(&w.server_data, media.len());
}

/// A link too slow to carry a whole photo within the server's time for a
/// request: the server answers 408, and the laptop sends less per request
/// until a chunk fits, within the same pass. On a link too slow even for
/// the smallest chunk, the referral waits, saying why, and nothing is lost.
#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn a_photo_too_big_for_a_slow_link_goes_in_smaller_chunks() {
    let w = world_with(|data| {
        serve_with(
            data,
            &["--listen", "127.0.0.1:0", "--request-timeout", "4s"],
        )
    });
    // 4 s per request on a 50 kB/s link: even 256 KiB needs 5.2 s.
    let proxy = proxy_to(
        &w,
        Faults {
            up_bytes_per_second: 50_000,
            ..Faults::NONE
        },
        Rng::seed(),
    );
    let photo = noisy_jpeg(&w.dir.path().join("photos/large.jpg"), 1400, 1150);
    let media = queue(&w, &proxy.url(), &w.server.pin, &[photo]);

    let out = w.nurse.run(&["sync"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("waiting: The server is busy or the connection too slow"),
        "{stdout}"
    );
    assert_eq!(w.nurse.referrals()[0]["state"], "queued");
    assert!(server_referrals(&w.server_data)
        .iter()
        .all(|(_, state)| state != "delivered"));
    check_store(&w.nurse);

    // The link gets better, but not enough for the whole photo at once:
    // on 440 kB/s a 2 MiB chunk needs 4.8 s and runs out of time, 1 MiB
    // needs 2.4 s and fits.
    proxy.up_rate.store(440_000, Ordering::SeqCst);
    let before = proxy.sent_up.load(Ordering::SeqCst);
    let out = w.nurse.run(&["sync"]);
    assert!(
        out.status.success(),
        "one pass delivers it: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_delivered_exactly_once(&w.nurse, &w.server_data, &media);
    let size = common::server_blob(&w.server_data, &media[0].1).len() as u64;
    assert!(
        size > 2 * 1024 * 1024 + 256 * 1024,
        "the photo ({size} bytes) must need more than one 2 MiB chunk"
    );
    // Requests that ran out of time carried bytes the server dropped; one
    // carries at most 4 s × 440 kB/s = 1.76 MB, so more than 2 MiB of
    // them shows two (the whole photo, then a 2 MiB chunk).
    let sent = proxy.sent_up.load(Ordering::SeqCst) - before;
    let dropped = sent.saturating_sub(size);
    assert!(
        dropped > 2 * 1024 * 1024,
        "{sent} bytes sent for a {size}-byte photo: fewer than two requests ran out of time"
    );
    check_store(&w.nurse);
}

/// One file per distinct photo in the blob folder: nothing stored twice.
fn assert_only_delivered_once_on_disk(server_data: &Path, photos: usize) {
    let complete = common::server_blob_files(server_data)
        .into_iter()
        .filter(|p| !common::is_partial_upload(p))
        .filter(|p| p.extension().is_none())
        .count();
    assert_eq!(complete, photos);
}

#[test]
#[ignore = "needs a Secret Service session (scripts/test.sh)"]
fn the_screen_keeps_writing_while_a_sync_runs_on_its_own_connection() {
    let w = world();
    let proxy = proxy_to(
        &w,
        Faults {
            max_delay_ms: 20,
            ..Faults::NONE
        },
        Rng::seed() ^ 3,
    );
    let media = queue_photos(&w, &proxy.url(), &w.server.pin, 10);
    // The screen's connection: open for the whole pass, writing (audited
    // settings changes, each its own transaction) while sync writes too.
    let mut store = w.nurse.store();
    let actor =
        clinshare_core::session::sign_in(&mut store, common::NURSE, common::PASS).expect("sign in");
    let mut child = w
        .nurse
        .command(&["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sync");
    let mut writes = 0;
    while child.try_wait().expect("wait").is_none() {
        clinshare_core::settings::set_retention_days(&mut store, &actor, 7 + writes % 10)
            .expect("the screen's write is never refused while sync runs");
        writes += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("sync");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(writes > 10, "only {writes} writes during the pass");
    drop(store);
    assert_delivered_exactly_once(&w.nurse, &w.server_data, &media);
    check_store(&w.nurse);
}
