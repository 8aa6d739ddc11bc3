//! Two server instances on one PostgreSQL (and one blob folder; see
//! `object_store.rs` for one S3 bucket), the same
//! referral sent through both at once: exactly one referral results, it is
//! delivered once, and the stored file is the one sent.

mod common;

use axum::http::StatusCode;
use clinshare_server::{admin, serve};
use common::*;

/// Uploads `file` through `server` until the server says it is verified,
/// asking for the offset before each chunk as a resuming client does.
async fn upload_until_verified(server: &Server, client: &Client, id: &str, file: &[u8]) {
    let sha = sha256_hex(file);
    let chunk = file.len() / 3 + 1;
    for _ in 0..50 {
        let (_, at) = json(
            server
                .send(client.get(&format!("/v1/referrals/{id}/media/{sha}")))
                .await,
        )
        .await;
        if at["state"] == "verified" {
            return;
        }
        let offset = at["offset"].as_u64().expect("offset") as usize;
        let end = (offset + chunk).min(file.len());
        let (status, body) = json(
            server
                .send(client.put_chunk(id, &sha, offset as u64, &file[offset..end]))
                .await,
        )
        .await;
        // The other instance may have moved the file on meanwhile.
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status} {body}"
        );
    }
    panic!("upload did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL binaries (scripts/test.sh)"]
async fn the_same_referral_through_two_instances_at_once_is_one_referral() {
    let url = common::pg::new_database().await;
    let a = Server::start_postgres_at(&url).await;
    // A second instance: its own pool, limiter and locks; the same database,
    // blob folder and server key, as behind a load balancer.
    let store_b = admin::open_store(a.dir.path(), Some(&url))
        .await
        .expect("store b");
    let state_b =
        serve::state_with_store(a.dir.path(), store_b, None, test_config()).expect("state b");
    let b_dir = tempfile::tempdir().expect("tempdir");
    let b = Server {
        app: clinshare_server::app(state_b.clone()),
        state: state_b,
        dir: b_dir,
        nurses: a.nurses.clone(),
        tissue_viability: a.tissue_viability.clone(),
        dermatology: a.dermatology.clone(),
        closed_team: a.closed_team.clone(),
    };

    let alice = a.client("alice").await;
    let bob = a.client("bob").await;
    let jpeg = clean_jpeg();
    let m = manifest(&a.tissue_viability, "two-instances-0001", &[&jpeg]);

    for _round in 0..3 {
        let (ra, rb) = tokio::join!(
            a.send(alice.post_json("/v1/referrals", &m)),
            b.send(alice.post_json("/v1/referrals", &m)),
        );
        let ((sa, ja), (sb, jb)) = tokio::join!(json(ra), json(rb));
        assert!(sa.is_success() && sb.is_success(), "{ja} {jb}");
        assert_eq!(ja["referral_id"], jb["referral_id"]);
    }
    let (_, j) = json(a.send(alice.post_json("/v1/referrals", &m)).await).await;
    let id = j["referral_id"].as_str().expect("id").to_owned();

    tokio::join!(
        upload_until_verified(&a, &alice, &id, &jpeg),
        upload_until_verified(&b, &alice, &id, &jpeg),
    );

    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let count: i64 = client
        .query_one("SELECT count(*) FROM referrals", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1);

    for server in [&a, &b] {
        let (_, inbox) = json(server.send(bob.get("/v1/inbox")).await).await;
        assert_eq!(inbox.as_array().map(Vec::len), Some(1), "{inbox}");
    }
    let sha = sha256_hex(&jpeg);
    let (status, bytes) = body_bytes(
        b.send(bob.get(&format!("/v1/inbox/{id}/media/{sha}")))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, jpeg);
    assert!(a.store().verify_audit().await.expect("audit chain") > 0);
}
