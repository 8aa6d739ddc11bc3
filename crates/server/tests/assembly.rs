//! A file of many chunks is joined in pieces and a large movie verified
//! through a view of its structure (`blobs/assembly.rs`, `blobs/view.rs`):
//! the stored file is the upload byte for byte, a movie that still carries
//! metadata or does not match its hash is refused with the same code as
//! before, and nothing of a refused file is kept. On a folder and, with
//! s3s-fs (scripts/test.sh), on a bucket.

mod common;

use axum::http::StatusCode;
use clinshare_protocol::referral::{MediaFormat, ReferralManifest};
use common::*;

include!("support/mp4.rs");

/// Above the size from which a movie is verified through its view.
const MEDIA: usize = 40 << 20;
const CHUNK: usize = 4 << 20;

fn movie_manifest(s: &Server, key: &str, file: &[u8], declared_sha: &str) -> ReferralManifest {
    let mut m = manifest(&s.tissue_viability, key, &[file]);
    m.media[0].format = MediaFormat::Mp4;
    m.media[0].sha256 = declared_sha.to_owned();
    m
}

/// Sends `file` in 4 MiB chunks, the second one twice; the last answer.
async fn upload(
    s: &Server,
    c: &Client,
    id: &str,
    sha: &str,
    file: &[u8],
) -> (StatusCode, serde_json::Value) {
    let mut last = (StatusCode::OK, serde_json::Value::Null);
    for (n, start) in (0..file.len()).step_by(CHUNK).enumerate() {
        let chunk = &file[start..file.len().min(start + CHUNK)];
        let sends = if n == 1 { 2 } else { 1 };
        for _ in 0..sends {
            last = json(s.send(c.put_chunk(id, sha, start as u64, chunk)).await).await;
        }
        if start + chunk.len() < file.len() {
            assert_eq!(last.0, StatusCode::OK, "chunk at {start}: {}", last.1);
        }
    }
    last
}

async fn create(s: &Server, c: &Client, m: &ReferralManifest) -> String {
    let (status, body) = json(s.send(c.post_json("/v1/referrals", m)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["referral_id"].as_str().expect("id").to_owned()
}

/// What the folder holds of uploads still in progress.
fn partial(s: &Server) -> Vec<std::path::PathBuf> {
    files_under(&s.dir.path().join("blobs/partial"))
}

#[tokio::test]
async fn a_large_movie_in_many_chunks_is_stored_byte_for_byte() {
    let s = Server::start().await;
    let alice = s.client("alice").await;
    let file = mp4_movie(MEDIA, &[], 11);
    let sha = sha256_hex(&file);
    let id = create(
        &s,
        &alice,
        &movie_manifest(&s, "movie-0000001", &file, &sha),
    )
    .await;
    let (status, body) = upload(&s, &alice, &id, &sha, &file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["referral_state"], "delivered", "{body}");
    let stored = std::fs::read(s.dir.path().join("blobs").join(&id).join(&sha)).expect("stored");
    assert!(stored == file, "the stored file is not the upload");
    assert_eq!(partial(&s), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn a_large_movie_still_carrying_metadata_is_refused_and_nothing_kept() {
    let s = Server::start().await;
    let alice = s.client("alice").await;
    let udta = mp4_box(b"udta", &mp4_box(b"\xa9xyz", b"+55.8642-004.2518/"));
    let file = mp4_movie(MEDIA, &udta, 12);
    let sha = sha256_hex(&file);
    let id = create(
        &s,
        &alice,
        &movie_manifest(&s, "movie-0000002", &file, &sha),
    )
    .await;
    let (status, body) = upload(&s, &alice, &id, &sha, &file).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "upload.residual_metadata", "{body}");
    assert_eq!(partial(&s), Vec::<std::path::PathBuf>::new());
    assert!(!s.dir.path().join("blobs").join(&id).join(&sha).exists());
    // The client starts the file again from byte 0.
    let (_, at) = json(
        s.send(alice.get(&format!("/v1/referrals/{id}/media/{sha}")))
            .await,
    )
    .await;
    assert_eq!(at["offset"], 0, "{at}");
}

#[tokio::test]
async fn a_joined_file_that_does_not_match_its_hash_is_refused_and_nothing_kept() {
    let s = Server::start().await;
    let alice = s.client("alice").await;
    let file = mp4_movie(MEDIA, &[], 13);
    let mut other = file.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let id = create(
        &s,
        &alice,
        &movie_manifest(&s, "movie-0000003", &file, &sha256_hex(&other)),
    )
    .await;
    let (status, body) = upload(&s, &alice, &id, &sha256_hex(&other), &file).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "upload.hash_mismatch", "{body}");
    assert_eq!(partial(&s), Vec::<std::path::PathBuf>::new());
}

/// The same on a bucket: the joined file is a multipart put of 5 MiB parts
/// and the view is read with ranged GETs.
#[tokio::test]
#[ignore = "needs s3s-fs (scripts/test.sh)"]
async fn on_a_bucket_a_large_movie_is_stored_byte_for_byte_and_a_dirty_one_refused() {
    let bin = std::env::var("CLINSHARE_S3S_FS")
        .expect("CLINSHARE_S3S_FS: the s3s-fs binary (scripts/test.sh installs it)");
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("media")).expect("bucket");
    let port = common::orthanc::free_port();
    let _s3 = common::wire::KillOnDrop(
        std::process::Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "test", "--secret-key", "test-secret"])
            .arg(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs"),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 20, "s3s-fs did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // This test binary's only bucket user.
    for (k, v) in [
        ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
    ] {
        std::env::set_var(k, v);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = clinshare_server::admin::open_store(dir.path(), None)
        .await
        .expect("store");
    let state = clinshare_server::serve::state_with_store(
        dir.path(),
        store,
        Some("s3://media/clinshare"),
        test_config(),
    )
    .expect("state");
    let s = Server::with_state(dir, state).await;
    let alice = s.client("alice").await;
    let objects = || files_under(&root.path().join("media/clinshare"));

    let file = mp4_movie(MEDIA, &[], 14);
    let sha = sha256_hex(&file);
    let id = create(
        &s,
        &alice,
        &movie_manifest(&s, "movie-0000004", &file, &sha),
    )
    .await;
    let (status, body) = upload(&s, &alice, &id, &sha, &file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["referral_state"], "delivered", "{body}");
    let stored = objects();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(std::fs::read(&stored[0]).expect("object") == file);

    let udta = mp4_box(b"udta", &mp4_box(b"\xa9xyz", b"+55.8642-004.2518/"));
    let dirty = mp4_movie(MEDIA, &udta, 15);
    let sha = sha256_hex(&dirty);
    let id = create(
        &s,
        &alice,
        &movie_manifest(&s, "movie-0000005", &dirty, &sha),
    )
    .await;
    let (status, body) = upload(&s, &alice, &id, &sha, &dirty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "upload.residual_metadata", "{body}");
    assert_eq!(objects(), stored, "only the first file is kept");
}
