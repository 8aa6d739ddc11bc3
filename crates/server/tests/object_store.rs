//! Scale-out with nothing on the instances' disks: two real
//! `clinshare-server` processes on one PostgreSQL and one S3-compatible
//! bucket (s3s-fs on loopback), each with its own data directory holding
//! only the shared server key. An upload started on one instance, which is
//! killed mid-chunk, resumes on the other; the same file sent through both
//! at once is stored once; both serve the byte-identical file; the bucket
//! holds the verified file and no chunk of an upload; neither data
//! directory has a blob folder. Readiness follows the bucket.
//!
//! Also, without external services: a folder given as `file://` is used
//! instead of `DIR/blobs`, and a blob store the server cannot use stops it
//! at start with a clear message.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::wire::{admin_two_teams, admin_with, binary, send, serve_plain_with, KillOnDrop};
use common::*;

const BUCKET: &str = "clinshare";
const ACCESS_KEY: &str = "clinshare-test";
const SECRET_KEY: &str = "clinshare-test-secret";

/// s3s-fs serving `root/<bucket>` on a free loopback port.
struct S3 {
    process: KillOnDrop,
    root: tempfile::TempDir,
    endpoint: String,
}

fn start_s3() -> S3 {
    let bin = std::env::var("CLINSHARE_S3S_FS")
        .expect("CLINSHARE_S3S_FS: the s3s-fs binary (scripts/test.sh installs it)");
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join(BUCKET)).expect("bucket");
    let port = common::orthanc::free_port();
    let process = KillOnDrop(
        std::process::Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "s3s-fs did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    S3 {
        process,
        root,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

impl S3 {
    fn env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    /// Every object under `prefix` in the bucket (s3s-fs keeps objects as
    /// files under `root/<bucket>/`).
    fn objects(&self, prefix: &str) -> Vec<PathBuf> {
        files_under(&self.root.path().join(BUCKET).join(prefix))
    }
}

fn admin_ok(data: &Path, global: &[&str], args: &[&str]) -> String {
    let (code, out, err) = admin_with(data, global, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

async fn enrol_and_sign_in(
    enrol_at: std::net::SocketAddr,
    sign_in_at: std::net::SocketAddr,
    data: &Path,
    global: &[&str],
    user: &str,
) -> Client {
    let mut c = Client::new_device();
    let code = admin_ok(data, global, &["enrol-code"]);
    let r = send(enrol_at, c.enrol_request(code.trim())).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    c.device_id = r.json()["device_id"].as_str().expect("id").to_owned();
    let r = send(
        sign_in_at,
        c.post_json(
            "/v1/session",
            &serde_json::json!({"username": user, "password": PASSWORD}),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    c.token = Some(r.json()["token"].as_str().expect("token").to_owned());
    c
}

/// A second clean photo: one bit of the first's entropy-coded data
/// flipped (no marker made or broken), so it has its own hash.
fn other_jpeg() -> Vec<u8> {
    let mut j = clean_jpeg();
    let i = (j.len() - 64..j.len() - 2)
        .find(|&i| j[i - 1] != 0xFF && j[i] != 0xFF && j[i] ^ 1 != 0xFF)
        .expect("a plain byte near the end of the scan");
    j[i] ^= 1;
    j
}

/// Sends `file` whole, as one chunk, until the server says it is verified.
async fn send_whole(addr: std::net::SocketAddr, c: &Client, id: &str, file: &[u8]) -> u16 {
    let sha = sha256_hex(file);
    send(addr, c.put_chunk(id, &sha, 0, file)).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and s3s-fs (scripts/test.sh)"]
async fn two_instances_on_one_database_and_one_bucket_share_every_upload() {
    let s3 = start_s3();
    let url = common::pg::new_database().await;
    let store_url = format!("s3://{BUCKET}/media");
    let global = [
        "--database",
        url.as_str(),
        "--blob-store",
        store_url.as_str(),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    admin_two_teams(&data_a, &global);
    let env = s3.env();
    let (a, addr_a) = serve_plain_with(&data_a, &dir.path().join("a1.log"), &global, &env);
    let mut a = KillOnDrop(a);
    // The second instance shares only the server's signing key.
    std::fs::create_dir_all(&data_b).expect("data b");
    let key = clinshare_server::keys::SIGNING_KEY_FILE;
    std::fs::copy(data_a.join(key), data_b.join(key)).expect("share the key");
    let (b, addr_b) = serve_plain_with(&data_b, &dir.path().join("b.log"), &global, &env);
    let _b = KillOnDrop(b);

    let alice = enrol_and_sign_in(addr_a, addr_b, &data_a, &global, "alice").await;
    let bob = enrol_and_sign_in(addr_b, addr_a, &data_a, &global, "bob").await;
    let team = send(addr_b, alice.get("/v1/directory")).await.json()["payload"]["teams"][0]
        ["team_id"]
        .as_str()
        .expect("team")
        .to_owned();

    // Started on A, which dies in the middle of the second chunk; resumed
    // on B from wherever the bucket says.
    let jpeg = clean_jpeg();
    let sha = sha256_hex(&jpeg);
    let r = send(
        addr_a,
        alice.post_json(
            "/v1/referrals",
            &manifest(&team, "s3-referral-0001", &[&jpeg]),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let first = r.json()["referral_id"].as_str().expect("id").to_owned();
    let third = jpeg.len() / 3;
    let r = send(addr_a, alice.put_chunk(&first, &sha, 0, &jpeg[..third])).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    a.kill_mid_request(
        addr_a,
        alice.put_chunk(&first, &sha, third as u64, &jpeg[third..]),
    )
    .await;

    let at = send(
        addr_b,
        alice.get(&format!("/v1/referrals/{first}/media/{sha}")),
    )
    .await
    .json();
    assert_eq!(at["offset"].as_u64(), Some(third as u64), "{at}");
    assert_eq!(
        send(addr_b, bob.get(&format!("/v1/inbox/{first}")))
            .await
            .status,
        404,
        "not visible before it is complete"
    );
    let r = send(
        addr_b,
        alice.put_chunk(&first, &sha, third as u64, &jpeg[third..]),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["referral_state"], "delivered");

    // A restarted, then a second referral's file sent through both at once.
    let (a, addr_a) = serve_plain_with(&data_a, &dir.path().join("a2.log"), &global, &env);
    let _a = KillOnDrop(a);
    let other = other_jpeg();
    let r = send(
        addr_a,
        alice.post_json(
            "/v1/referrals",
            &manifest(&team, "s3-referral-0002", &[&other]),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let second = r.json()["referral_id"].as_str().expect("id").to_owned();
    let (sa, sb) = tokio::join!(
        send_whole(addr_a, &alice, &second, &other),
        send_whole(addr_b, &alice, &second, &other),
    );
    assert!([sa, sb].iter().all(|s| *s == 200 || *s == 409), "{sa} {sb}");
    let at = send(
        addr_a,
        alice.get(&format!(
            "/v1/referrals/{second}/media/{}",
            sha256_hex(&other)
        )),
    )
    .await
    .json();
    assert_eq!(at["state"], "verified", "{at}");

    for addr in [addr_a, addr_b] {
        let inbox = send(addr, bob.get("/v1/inbox")).await.json();
        assert_eq!(inbox.as_array().map(Vec::len), Some(2), "{inbox}");
        for (id, file) in [(&first, &jpeg), (&second, &other)] {
            let got = send(
                addr,
                bob.get(&format!("/v1/inbox/{id}/media/{}", sha256_hex(file))),
            )
            .await;
            assert_eq!(got.status, 200);
            assert_eq!(&got.body, file, "byte-identical through either instance");
        }
    }

    let stored = std::fs::read(
        s3.root
            .path()
            .join(BUCKET)
            .join("media")
            .join(&first)
            .join(&sha),
    )
    .expect("the verified file is in the bucket");
    assert_eq!(stored, jpeg);
    let chunks = s3.objects("media/partial");
    assert!(chunks.is_empty(), "chunks left in the bucket: {chunks:?}");
    for data in [&data_a, &data_b] {
        assert!(!data.join("blobs").exists(), "a blob folder on an instance");
    }

    // Readiness follows the bucket.
    assert_eq!(send(addr_b, bob.get("/ready")).await.status, 200);
    drop(s3.process);
    assert_eq!(send(addr_b, bob.get("/ready")).await.status, 503);
}

#[tokio::test]
async fn a_folder_given_as_a_file_url_holds_the_media() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let media = dir.path().join("elsewhere");
    let store_url = format!("file://{}", media.display());
    let global = ["--blob-store", store_url.as_str()];
    admin_two_teams(&data, &[]);
    let (server, addr) = serve_plain_with(&data, &dir.path().join("log"), &global, &[]);
    let _server = KillOnDrop(server);
    let alice = enrol_and_sign_in(addr, addr, &data, &[], "alice").await;
    let team = send(addr, alice.get("/v1/directory")).await.json()["payload"]["teams"][0]
        ["team_id"]
        .as_str()
        .expect("team")
        .to_owned();
    let jpeg = clean_jpeg();
    let r = send(
        addr,
        alice.post_json(
            "/v1/referrals",
            &manifest(&team, "file-referral-0001", &[&jpeg]),
        ),
    )
    .await;
    let id = r.json()["referral_id"].as_str().expect("id").to_owned();
    let r = send(addr, alice.put_chunk(&id, &sha256_hex(&jpeg), 0, &jpeg)).await;
    assert_eq!(r.json()["referral_state"], "delivered", "{:?}", r.json());
    assert_eq!(
        std::fs::read(media.join(&id).join(sha256_hex(&jpeg))).expect("stored there"),
        jpeg
    );
    assert!(!data.join("blobs").exists());

    // Readiness follows the folder (say, an unmounted share).
    assert_eq!(send(addr, alice.get("/ready")).await.status, 200);
    std::fs::rename(&media, dir.path().join("moved")).expect("move");
    assert_eq!(send(addr, alice.get("/ready")).await.status, 503);
}

#[test]
fn a_blob_store_the_server_cannot_use_stops_it_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, message) in [
        (
            "ftp://example.org/media",
            "blob stores are `file:///PATH` or `s3://BUCKET[/PREFIX]`, not `ftp:`",
        ),
        ("not a url", "the blob store `not a url` is not a valid URL"),
        ("s3:///media", "it names no bucket"),
    ] {
        let out = binary()
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--blob-store", store])
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{store}: {err}");
        assert!(err.contains(message), "{store}: {err}");
    }
    assert!(!dir.path().join("blobs").exists(), "nothing created");
}
