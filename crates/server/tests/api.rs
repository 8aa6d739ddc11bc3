//! Router tests with `oneshot`: every endpoint and each refusal. Each
//! behaviour runs on both backends: `sqlite::*` (embedded) and
//! `postgres::*` (a throwaway cluster, see `common/pg.rs`).

#[macro_use]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clinshare_protocol::auth::HEADER_UPLOAD_OFFSET;
use clinshare_protocol::consent::ConsentLevel;
use clinshare_protocol::directory::SignedDirectory;
use clinshare_protocol::referral::SignedReceipt;
use clinshare_protocol::{canonical_json, ErrorBody};
use common::*;
use ed25519_dalek::{Signature, VerifyingKey};

fn verify_signed<T: serde::Serialize>(server: &Server, payload: &T, signature: &str) {
    let key: [u8; 32] = hex::decode(server.state.keys.public_key_hex())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = VerifyingKey::from_bytes(&key).expect("key");
    let sig: [u8; 64] = hex::decode(signature)
        .expect("hex")
        .try_into()
        .expect("64 bytes");
    key.verify_strict(
        &canonical_json(payload).expect("json"),
        &Signature::from_bytes(&sig),
    )
    .expect("signature verifies");
}

fn code(body: &serde_json::Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

async fn health_ready_and_openapi_are_open(s: Server) {
    for path in ["/health", "/ready", "/openapi.json"] {
        let (status, body) = json(
            s.send(Request::get(path).body(Body::empty()).expect("req"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.is_object());
    }
    let (_, doc) = json(
        s.send(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("req"),
        )
        .await,
    )
    .await;
    for (path, method) in clinshare_server::openapi::PATHS {
        assert!(doc["paths"][*path][*method].is_object(), "{method} {path}");
    }
}

async fn every_v1_route_refuses_unsigned_requests(s: Server) {
    for (path, method) in clinshare_server::openapi::PATHS {
        if !path.starts_with("/v1/") || *path == "/v1/enrol" {
            continue;
        }
        let uri = path
            .replace("{id}", &"a".repeat(32))
            .replace("{sha256}", &"b".repeat(64));
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(uri)
            .body(Body::empty())
            .expect("req");
        let (status, body) = json(s.send(req).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(code(&body), "auth.unsigned");
    }
}

async fn enrolment_codes_work_once_and_expire(s: Server) {
    let code = s.enrol_code().await;
    let device = Client::new_device();
    let (status, body) = json(s.send(device.enrol_request(&code)).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["server_key_id"], s.state.keys.key_id());
    // The same code again, even typed in lower case, is refused.
    let other = Client::new_device();
    let (status, body) = json(s.send(other.enrol_request(&code.to_lowercase())).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code_of(&body), "enrol.code_invalid");
    // An expired code.
    let expired = "ABCD-EFGH-JKMN-PQRS";
    s.store()
        .add_enrol_code(
            &clinshare_server::keys::secret_hash(&clinshare_server::enrolment::normalise_code(
                expired,
            )),
            now() - 1,
        )
        .await
        .expect("code");
    let (status, _) = json(s.send(other.enrol_request(expired)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A key that is not 32 bytes.
    let code = s.enrol_code().await;
    let bad = Request::post("/v1/enrol")
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::json!({"protocol_version": 1, "code": code, "device_public_key": "abcd", "device_name": "x"})
                .to_string(),
        ))
        .expect("req");
    let (status, body) = json(s.send(bad).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "request.invalid");
}

fn code_of(body: &serde_json::Value) -> String {
    serde_json::from_value::<ErrorBody>(body.clone())
        .map(|e| e.code)
        .unwrap_or_default()
}

async fn signatures_timestamps_nonces_and_body_hashes_are_checked(s: Server) {
    let c = s.client("alice").await;

    // Replay: the same signed request twice.
    let nonce = Client::fresh_nonce();
    let first = c.request_with("GET", "/v1/directory", Vec::new(), &nonce, now());
    assert_eq!(s.send(first).await.status(), StatusCode::OK);
    let again = c.request_with("GET", "/v1/directory", Vec::new(), &nonce, now());
    let (status, body) = json(s.send(again).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "auth.replayed");

    // Stale timestamp.
    let old = c.request_with(
        "GET",
        "/v1/directory",
        Vec::new(),
        &Client::fresh_nonce(),
        now() - 3600,
    );
    let (status, body) = json(s.send(old).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "auth.stale_timestamp");

    // Signed by another key.
    let mut impostor = Client::new_device();
    impostor.device_id = c.device_id.clone();
    impostor.token = c.token.clone();
    let (status, body) = json(s.send(impostor.get("/v1/directory")).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "auth.bad_signature");

    // Path changed after signing.
    let mut req = c.get("/v1/directory");
    *req.uri_mut() = "/v1/inbox".parse().expect("uri");
    let (status, body) = json(s.send(req).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.bad_signature")
    );

    // Body changed after signing (the header still matches the signature).
    let req = c.post_json("/v1/referrals", &serde_json::json!({"a": 1}));
    let (parts, _) = req.into_parts();
    let req = Request::from_parts(parts, Body::from("{\"a\":2}"));
    let (status, body) = json(s.send(req).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "auth.body_hash")
    );

    // Unknown device id.
    let mut ghost = Client::new_device();
    ghost.device_id = "f".repeat(32);
    let (status, body) = json(s.send(ghost.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.device_revoked")
    );

    // Signed device but no user token.
    let mut anonymous = Client::new_device();
    anonymous.device_id = c.device_id.clone();
    anonymous.key = c.key.clone();
    let (status, body) = json(s.send(anonymous.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.sign_in_required")
    );

    // A made-up token.
    anonymous.token = Some("00".repeat(32));
    let (status, body) = json(s.send(anonymous.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.token_invalid")
    );
}

async fn sign_in_checks_the_password_and_disabled_users_are_refused_next_request(s: Server) {
    let mut c = s.client("alice").await;
    let (status, body) = c.sign_in(&s, "alice", "wrong password!!").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.bad_credentials")
    );
    let (status, _) = c.sign_in(&s, "nobody", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        s.send(c.get("/v1/directory")).await.status(),
        StatusCode::OK
    );
    clinshare_server::admin::user_set_disabled(s.store().as_ref(), CLI, "alice", true)
        .await
        .expect("disable");
    let (status, body) = json(s.send(c.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "auth.user_disabled")
    );
    let (status, body) = c.sign_in(&s, "alice", PASSWORD).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "auth.user_disabled")
    );
}

async fn revoked_devices_are_refused_on_their_next_request(s: Server) {
    let c = s.client("alice").await;
    assert_eq!(
        s.send(c.get("/v1/directory")).await.status(),
        StatusCode::OK
    );
    let listed = clinshare_server::admin::device_list(s.store().as_ref())
        .await
        .expect("list");
    assert!(listed
        .iter()
        .any(|d| d.device_id == c.device_id && d.revoked_at.is_none()));
    clinshare_server::admin::device_revoke(s.store().as_ref(), CLI, &c.device_id)
        .await
        .expect("revoke");
    let (status, body) = json(s.send(c.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.device_revoked")
    );
}

async fn the_directory_is_signed_versioned_and_lists_only_teams_taking_referrals(s: Server) {
    let c = s.client("alice").await;
    let (status, body) = json(s.send(c.get("/v1/directory")).await).await;
    assert_eq!(status, StatusCode::OK);
    let signed: SignedDirectory = serde_json::from_value(body).expect("directory");
    verify_signed(&s, &signed.payload, &signed.signature);
    assert_eq!(signed.key_id, s.state.keys.key_id());
    let names: Vec<&str> = signed
        .payload
        .teams
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["Dermatology", "Tissue Viability"]);
    let tv = &signed.payload.teams[1];
    assert_eq!(tv.clinicians.len(), 1);
    assert_eq!(tv.clinicians[0].name, "bob");

    clinshare_server::admin::team_add(
        s.store().as_ref(),
        CLI,
        "Podiatry",
        "Lanark CHP",
        true,
        None,
    )
    .await
    .expect("team");
    let (_, body) = json(s.send(c.get("/v1/directory")).await).await;
    let newer: SignedDirectory = serde_json::from_value(body).expect("directory");
    assert!(newer.payload.version > signed.payload.version);
    // A tampered payload no longer matches its signature.
    let mut tampered = newer.payload.clone();
    tampered.teams[0].name = "Somebody Else".into();
    let bytes = canonical_json(&tampered).expect("json");
    assert_ne!(bytes, canonical_json(&newer.payload).expect("json"));
}

async fn intake_refuses_what_the_app_should_never_have_sent(s: Server) {
    let c = s.client("alice").await;
    let jpeg = clean_jpeg();
    let base = manifest(&s.tissue_viability, "refusals-0001", &[&jpeg]);

    let mut unknown = base.clone();
    unknown.recipient_team = "0".repeat(32);
    unknown.consent.recipient_team = Some(unknown.recipient_team.clone());
    let mut closed = base.clone();
    closed.recipient_team = s.closed_team.clone();
    closed.consent.recipient_team = Some(s.closed_team.clone());
    let mut check_digit = base.clone();
    check_digit.patient.value = "9434765918".into();
    let mut record_only = base.clone();
    record_only.consent.level = ConsentLevel::Record;
    let mut other_team = base.clone();
    other_team.consent.recipient_team = Some(s.dermatology.clone());
    let mut withdrawn = base.clone();
    withdrawn.consent.withdrawn = true;
    let mut no_media = base.clone();
    no_media.media.clear();
    let mut bad_version = base.clone();
    bad_version.protocol_version = 99;

    let cases = [
        (
            unknown,
            StatusCode::UNPROCESSABLE_ENTITY,
            "intake.unknown_team",
        ),
        (
            closed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "intake.team_not_accepting",
        ),
        (
            check_digit,
            StatusCode::UNPROCESSABLE_ENTITY,
            "identifier.check_digit",
        ),
        (
            record_only,
            StatusCode::UNPROCESSABLE_ENTITY,
            "intake.consent_insufficient",
        ),
        (
            other_team,
            StatusCode::UNPROCESSABLE_ENTITY,
            "intake.consent_insufficient",
        ),
        (withdrawn, StatusCode::GONE, "intake.consent_withdrawn"),
        (no_media, StatusCode::BAD_REQUEST, "request.invalid"),
        (
            bad_version,
            StatusCode::BAD_REQUEST,
            "request.protocol_version",
        ),
    ];
    for (m, want_status, want_code) in cases {
        let (status, body) = json(s.send(c.post_json("/v1/referrals", &m)).await).await;
        assert_eq!((status, code(&body)), (want_status, want_code));
        // Refusals never echo the identifier.
        assert!(!body.to_string().contains("943"), "{body}");
    }
    // Nothing was created by any of them.
    assert!(s
        .store()
        .inbox(std::slice::from_ref(&s.tissue_viability))
        .await
        .expect("inbox")
        .is_empty());
}

async fn a_team_file_limit_is_in_the_directory_and_larger_files_are_refused(s: Server) {
    let c = s.client("alice").await;
    let jpeg = clean_jpeg();
    let size = jpeg.len() as u64;
    let store = s.store();
    let exact = clinshare_server::admin::team_add(
        store.as_ref(),
        CLI,
        "Exact",
        "Lanark CHP",
        true,
        Some(size),
    )
    .await
    .expect("team");
    let smaller = clinshare_server::admin::team_add(
        store.as_ref(),
        CLI,
        "Smaller",
        "Lanark CHP",
        true,
        Some(size - 1),
    )
    .await
    .expect("team");
    let (_, body) = json(s.send(c.get("/v1/directory")).await).await;
    let signed: SignedDirectory = serde_json::from_value(body).expect("directory");
    verify_signed(&s, &signed.payload, &signed.signature);
    let limit_of = |id: &str| {
        signed
            .payload
            .teams
            .iter()
            .find(|t| t.team_id == id)
            .and_then(|t| t.max_file_bytes)
    };
    assert_eq!(limit_of(&exact.id), Some(size));
    assert_eq!(limit_of(&smaller.id), Some(size - 1));
    assert_eq!(limit_of(&s.tissue_viability), None, "no limit, none shown");

    let mut too_big = manifest(&smaller.id, "limit-00001", &[&jpeg]);
    too_big.consent.recipient_team = Some(smaller.id.clone());
    let (status, body) = json(s.send(c.post_json("/v1/referrals", &too_big)).await).await;
    assert_eq!(
        (status, code(&body)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "intake.file_too_large_for_team"
        )
    );
    assert!(store
        .inbox(std::slice::from_ref(&smaller.id))
        .await
        .expect("inbox")
        .is_empty());

    let mut fits = manifest(&exact.id, "limit-00002", &[&jpeg]);
    fits.consent.recipient_team = Some(exact.id.clone());
    let (status, body) = json(s.send(c.post_json("/v1/referrals", &fits)).await).await;
    assert!(status.is_success(), "{status} {body}");
}

async fn a_complete_verified_referral_reaches_only_the_recipient_team(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let carol = s.client("carol").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "happy-path-0001", &[&jpeg]);
    let sha = sha256_hex(&jpeg);

    let (status, body) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "uploading");
    let id = body["referral_id"].as_str().expect("id").to_owned();

    // First half.
    let half = jpeg.len() / 2;
    let (status, body) = json(s.send(alice.put_chunk(&id, &sha, 0, &jpeg[..half])).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["upload"]["offset"], half as u64);

    // Not visible to the recipient while incomplete.
    let (_, inbox) = json(s.send(bob.get("/v1/inbox")).await).await;
    assert_eq!(inbox.as_array().map(Vec::len), Some(0));
    assert_eq!(
        s.send(bob.get(&format!("/v1/inbox/{id}"))).await.status(),
        StatusCode::NOT_FOUND
    );

    // The client asks where to continue.
    let r = s
        .send(alice.get(&format!("/v1/referrals/{id}/media/{sha}")))
        .await;
    assert_eq!(r.headers()[HEADER_UPLOAD_OFFSET], half.to_string().as_str());
    let (_, body) = json(r).await;
    assert_eq!(body["offset"], half as u64);

    // A retry of the first chunk changes nothing.
    let (status, body) = json(s.send(alice.put_chunk(&id, &sha, 0, &jpeg[..half])).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["upload"]["offset"], half as u64);

    // A chunk beyond the end is refused with the current offset.
    let r = s
        .send(alice.put_chunk(&id, &sha, half as u64 + 10, &jpeg[half + 10..]))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.headers()[HEADER_UPLOAD_OFFSET], half.to_string().as_str());
    let (_, body) = json(r).await;
    assert_eq!(code(&body), "upload.offset_mismatch");

    // The rest completes the referral and returns a signed receipt.
    let (status, body) = json(
        s.send(alice.put_chunk(&id, &sha, half as u64, &jpeg[half..]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["referral_state"], "delivered");
    let receipt: SignedReceipt = serde_json::from_value(body["receipt"].clone()).expect("receipt");
    verify_signed(&s, &receipt.payload, &receipt.signature);
    assert_eq!(receipt.payload.referral_id, id);
    assert_eq!(receipt.payload.media_sha256, vec![sha.clone()]);

    // Retrying the last chunk after success answers the same.
    let (status, body) = json(
        s.send(alice.put_chunk(&id, &sha, half as u64, &jpeg[half..]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["upload"]["state"], "verified");

    // Recipient team: list, open, download, acknowledge.
    let (_, inbox) = json(s.send(bob.get("/v1/inbox")).await).await;
    assert_eq!(inbox[0]["referral_id"], id.as_str());
    let (status, opened) = json(s.send(bob.get(&format!("/v1/inbox/{id}"))).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(opened["patient"]["value"], NHS_NUMBER);
    assert_eq!(opened["sender_name"], "alice");
    let (status, bytes) = body_bytes(
        s.send(bob.get(&format!("/v1/inbox/{id}/media/{sha}")))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, jpeg);

    // Anyone else: nothing, not even existence (same as a made-up id).
    let made_up = "e".repeat(32);
    for path in [
        format!("/v1/inbox/{id}"),
        format!("/v1/inbox/{id}/media/{sha}"),
        format!("/v1/inbox/{made_up}"),
    ] {
        let (status, body) = json(s.send(carol.get(&path)).await).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (_, inbox) = json(s.send(carol.get("/v1/inbox")).await).await;
    assert_eq!(inbox.as_array().map(Vec::len), Some(0));
    assert_eq!(
        s.send(carol.post_json(&format!("/v1/inbox/{id}/ack"), &serde_json::json!({})))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.send(carol.get(&format!("/v1/referrals/{id}")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.send(bob.get(&format!("/v1/referrals/{id}")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The sender is not a recipient either.
    assert_eq!(
        s.send(alice.get(&format!("/v1/inbox/{id}"))).await.status(),
        StatusCode::NOT_FOUND
    );

    let (_, status_view) = json(s.send(alice.get(&format!("/v1/referrals/{id}"))).await).await;
    assert_eq!(status_view["state"], "delivered");
    let (status, item) = json(
        s.send(bob.post_json(&format!("/v1/inbox/{id}/ack"), &serde_json::json!({})))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["state"], "acknowledged");
    let (_, status_view) = json(s.send(alice.get(&format!("/v1/referrals/{id}"))).await).await;
    assert_eq!(status_view["state"], "acknowledged");
    assert!(status_view["receipt"].is_object());

    // Every step was audited and the chain is intact.
    let entries = s.store().verify_audit().await.expect("chain intact");
    assert!(entries >= 10, "{entries}");
}

async fn a_repeated_manifest_returns_the_same_referral_and_a_changed_one_is_refused(s: Server) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "idempotent-0001", &[&jpeg]);
    let (status, first) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, second) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["referral_id"], second["referral_id"]);
    let mut changed = m.clone();
    changed.clinical_question = "Something else".into();
    let (status, body) = json(s.send(alice.post_json("/v1/referrals", &changed)).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "intake.idempotency_conflict")
    );
}

async fn a_file_that_does_not_match_its_hash_is_refused_and_can_be_sent_again(s: Server) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "bad-hash-0001", &[&jpeg]);
    let (_, body) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    let id = body["referral_id"].as_str().expect("id").to_owned();
    let sha = sha256_hex(&jpeg);
    let mut corrupted = jpeg.clone();
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0xff;
    let (status, body) = json(s.send(alice.put_chunk(&id, &sha, 0, &corrupted)).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upload.hash_mismatch")
    );
    // The bad copy is gone: the client starts that file from zero.
    nothing_kept_then_delivered(&s, &alice, &id, &jpeg).await;
}

/// The server holds nothing of the file (its offset is 0), and the whole
/// file sent in one chunk completes the referral.
async fn nothing_kept_then_delivered(s: &Server, client: &Client, id: &str, file: &[u8]) {
    let sha = sha256_hex(file);
    let (_, body) = json(
        s.send(client.get(&format!("/v1/referrals/{id}/media/{sha}")))
            .await,
    )
    .await;
    assert_eq!(body["offset"], 0);
    let (status, body) = json(s.send(client.put_chunk(id, &sha, 0, file)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["referral_state"], "delivered");
}

async fn a_file_with_residual_metadata_is_refused(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let dirty = FIXTURE_WITH_EXIF.to_vec();
    let m = manifest(&s.tissue_viability, "metadata-0001", &[&dirty]);
    let (id, status, body) = send_referral(&s, &alice, &m, &[&dirty]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upload.residual_metadata")
    );
    let (_, inbox) = json(s.send(bob.get("/v1/inbox")).await).await;
    assert_eq!(inbox.as_array().map(Vec::len), Some(0));
    assert_eq!(
        s.send(bob.get(&format!("/v1/inbox/{id}"))).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn an_upload_longer_than_the_manifest_says_is_refused(s: Server) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "too-long-0001", &[&jpeg]);
    let (_, body) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    let id = body["referral_id"].as_str().expect("id").to_owned();
    let mut longer = jpeg.clone();
    longer.extend_from_slice(b"trailing");
    let (status, body) = json(
        s.send(alice.put_chunk(&id, &sha256_hex(&jpeg), 0, &longer))
            .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "upload.too_long")
    );
    let (_, body) = json(
        s.send(alice.get(&format!("/v1/referrals/{id}/media/{}", sha256_hex(&jpeg))))
            .await,
    )
    .await;
    assert_eq!(body["offset"], 0);
}

/// Opens a referral for one clean photo and sends its chunk as `body` makes
/// it from the photo's bytes. The server must stop it with 408
/// `upload.stalled` (a message containing `says`) well before the
/// whole-request timeout, keep nothing of it, and then take the file.
async fn a_slow_chunk_is_stopped(
    s: &Server,
    key: &str,
    body: impl FnOnce(Vec<u8>) -> Body,
    says: &str,
) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let sha = sha256_hex(&jpeg);
    let m = manifest(&s.tissue_viability, key, &[&jpeg]);
    let (_, created) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    let id = created["referral_id"].as_str().expect("id").to_owned();
    let (parts, _) = alice.put_chunk(&id, &sha, 0, &jpeg).into_parts();
    let slow = Request::from_parts(parts, body(jpeg.clone()));
    let answer = tokio::time::timeout(std::time::Duration::from_secs(20), s.send(slow))
        .await
        .expect("answered before the whole-request timeout");
    let (status, answer) = json(answer).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::REQUEST_TIMEOUT, "upload.stalled")
    );
    assert!(
        answer["message"].as_str().is_some_and(|m| m.contains(says)),
        "{answer}"
    );
    // Nothing of it was kept, and the file goes through when sent again.
    nothing_kept_then_delivered(s, &alice, &id, &jpeg).await;
}

async fn an_upload_that_stalls_is_stopped_and_can_be_sent_again(s: Server) {
    use futures_util::StreamExt;
    // Half the file, then nothing more: a connection gone quiet.
    let quiet = |jpeg: Vec<u8>| {
        let half = axum::body::Bytes::copy_from_slice(&jpeg[..jpeg.len() / 2]);
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(half)])
            .chain(futures_util::stream::pending());
        Body::from_stream(stream)
    };
    a_slow_chunk_is_stopped(&s, "stalled-0001", quiet, "send the rest again").await;
}

async fn an_upload_that_trickles_is_stopped_and_can_be_sent_again(s: Server) {
    use futures_util::StreamExt;
    // A byte every 100 ms never goes quiet for the idle timeout (1 s in
    // tests), but is far below 64 KiB per window: it would otherwise hold
    // its buffer until the whole-request timeout.
    let trickle = |jpeg: Vec<u8>| {
        let stream = futures_util::stream::unfold(0usize, move |i| {
            let byte = jpeg.get(i..=i).map(axum::body::Bytes::copy_from_slice);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Some((Ok::<_, std::io::Error>(byte?), i + 1))
            }
        });
        Body::from_stream(stream.boxed())
    };
    a_slow_chunk_is_stopped(&s, "trickle-0001", trickle, "Less than 64 KiB arrived").await;
}

async fn consent_withdrawal_makes_media_unavailable_and_recipients_see_it(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "withdrawal-0001", &[&jpeg]);
    let (id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    assert_eq!(status, StatusCode::OK);
    let sha = sha256_hex(&jpeg);
    assert_eq!(
        s.send(bob.get(&format!("/v1/inbox/{id}/media/{sha}")))
            .await
            .status(),
        StatusCode::OK
    );

    // Only the sender's laptop can report it (another laptop gets nothing,
    // not even whether the referral exists) ...
    let w = serde_json::json!({"reason": "Patient asked for the photos not to be shared."});
    assert_eq!(
        s.send(bob.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // ... whoever is signed in on it: here a colleague on alice's laptop.
    let mut colleague = Client {
        key: alice.key.clone(),
        device_id: alice.device_id.clone(),
        token: None,
    };
    let (status, _) = colleague.sign_in(&s, "carol", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json(
        s.send(colleague.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["consent_withdrawn"], true);

    let (status, body) = json(
        s.send(bob.get(&format!("/v1/inbox/{id}/media/{sha}")))
            .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GONE, "intake.consent_withdrawn")
    );
    let (_, opened) = json(s.send(bob.get(&format!("/v1/inbox/{id}"))).await).await;
    assert_eq!(opened["item"]["consent_withdrawn"], true);
    assert_eq!(opened["media"].as_array().map(Vec::len), Some(0));
    let (_, inbox) = json(s.send(bob.get("/v1/inbox")).await).await;
    assert_eq!(inbox[0]["consent_withdrawn"], true);
}

/// What the manifest said about the patient, none of which a recipient
/// may read (or the server keep) once consent is withdrawn.
const PERSONAL: &[&str] = &[
    NHS_NUMBER,
    "Doe",
    "Jane",
    "1972-04-15",
    "pressure ulcer",
    "left_heel",
    "2026-11-20T10:15",
];

fn assert_no_personal_field(what: &str, text: &str) {
    for p in PERSONAL {
        assert!(!text.contains(p), "{what} still holds {p:?}: {text}");
    }
}

async fn raw(s: &Server, req: Request<Body>) -> String {
    let (status, bytes) = body_bytes(s.send(req).await).await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(bytes).expect("utf-8")
}

/// After withdrawal the recipient's inbox keeps only that it was
/// withdrawn, when, and which referral it was; the stored referral no
/// longer holds the patient's details; the audit names the patient for
/// every read while the server knew them, and links the later ones.
async fn consent_withdrawal_leaves_only_the_fact_and_erases_the_patient(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let jpeg = clean_jpeg();
    let sha = sha256_hex(&jpeg);
    let m = manifest(&s.tissue_viability, "minimise-0001", &[&jpeg]);
    let (id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    assert_eq!(status, StatusCode::OK);
    let opened = raw(&s, bob.get(&format!("/v1/inbox/{id}"))).await;
    assert!(opened.contains(NHS_NUMBER) && opened.contains("Doe"));
    let photo = s
        .send(bob.get(&format!("/v1/inbox/{id}/media/{sha}")))
        .await;
    assert_eq!(photo.status(), StatusCode::OK);

    let w = serde_json::json!({"reason": "Patient withdrew consent."});
    let r = s
        .send(alice.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // What the recipient can read: the fact, the time, the reference.
    let list = raw(&s, bob.get("/v1/inbox")).await;
    assert_no_personal_field("the inbox list", &list);
    let opened = raw(&s, bob.get(&format!("/v1/inbox/{id}"))).await;
    assert_no_personal_field("the opened referral", &opened);
    let opened: serde_json::Value = serde_json::from_str(&opened).expect("json");
    assert_eq!(opened["item"]["referral_id"], id.as_str());
    assert_eq!(
        opened["item"]["recipient_team"],
        s.tissue_viability.as_str()
    );
    assert_eq!(opened["item"]["consent_withdrawn"], true);
    assert!(
        opened["item"]["consent_withdrawn_at"].is_string(),
        "{opened}"
    );
    assert!(opened["item"]["delivered_at"].is_string());
    assert_eq!(opened["media"], serde_json::json!([]));
    assert_eq!(opened["clinical_question"], "");
    assert_eq!(opened["patient"]["value"], "");
    let search = format!(
        "/v1/fhir/DocumentReference?patient=https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}"
    );
    let bundle = raw(&s, bob.get(&search)).await;
    assert!(bundle.contains(r#""total":0"#), "{bundle}");
    assert_no_personal_field("the FHIR search", &bundle);
    let fhir_id = format!("{id}-{}", &sha[..31]);
    let binary = s.send(bob.get(&format!("/v1/fhir/Binary/{fhir_id}"))).await;
    assert_eq!(binary.status(), StatusCode::GONE, "still 410, not 404");

    // What the server keeps: no personal field, but what the sender's
    // view, idempotency and deletion need.
    let stored = s.store().referral(&id).await.expect("store").expect("kept");
    let kept = serde_json::to_string(&stored.manifest).expect("json");
    assert_no_personal_field("the stored manifest", &kept);
    assert_eq!(
        stored.media.len(),
        1,
        "hashes and sizes stay for the sender"
    );
    assert!(stored.consent_withdrawn_at.is_some());
    let (status, view) = json(s.send(alice.get(&format!("/v1/referrals/{id}"))).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["consent_withdrawn"], true);
    assert_eq!(view["media"][0]["sha256"], sha.as_str());
    assert!(view["receipt"].is_object());
    // The same manifest again is still the same referral.
    let (status, again) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    assert_eq!(
        (status, again["referral_id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );

    // The audit: whose record each read was, and never a name.
    let patient = format!("nhs:{NHS_NUMBER}");
    let about = s.store().audit_about(&patient).await.expect("audit");
    let named = |action: &str| {
        about
            .iter()
            .filter(|e| e.action == action && e.patient.as_deref() == Some(patient.as_str()))
            .count()
    };
    assert!(named("referral_create") >= 1, "{about:?}");
    assert_eq!(named("inbox_open"), 1, "{about:?}");
    assert_eq!(named("media_download"), 1, "{about:?}");
    assert_eq!(named("consent_withdraw"), 1, "{about:?}");
    assert_eq!(named("fhir_search"), 1, "{about:?}");
    // The open after withdrawal showed nobody's details; it is found
    // through the referral id the earlier entries name.
    assert!(about
        .iter()
        .any(|e| e.action == "inbox_open" && e.patient.is_none() && e.object == id));
    assert!(about
        .iter()
        .all(|e| e.object == id || e.patient.as_deref() == Some(patient.as_str())));
    let text = format!("{about:?}");
    assert!(!text.contains("Doe") && !text.contains("Jane"));
    assert!(s.store().verify_audit().await.expect("the chain holds") > 0);
}

/// Withdrawal deletes the referral's files from the blob store: its own
/// copy, chunks still uploading, and a copy shared under the old layout
/// once no referral with consent has the file.
async fn consent_withdrawal_deletes_the_files_from_the_server(s: Server) {
    let alice = s.client("alice").await;
    let bob = s.client("bob").await;
    let blobs = s.dir.path().join("blobs");
    let jpeg = clean_jpeg();
    let sha = sha256_hex(&jpeg);
    let mut ids = Vec::new();
    for key in ["deletion-0001", "deletion-0002"] {
        let m = manifest(&s.tissue_viability, key, &[&jpeg]);
        let (id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(blobs.join(&id).join(&sha).exists());
        ids.push(id);
    }
    // As an older server kept it: one copy for both.
    std::fs::write(blobs.join(&sha), &jpeg).expect("legacy copy");
    // A third referral withdrawn half way through its upload.
    let m = manifest(&s.tissue_viability, "deletion-0003", &[&jpeg]);
    let (_, created) = json(s.send(alice.post_json("/v1/referrals", &m)).await).await;
    let partway = created["referral_id"].as_str().expect("id").to_owned();
    let (status, _) = json(
        s.send(alice.put_chunk(&partway, &sha, 0, &jpeg[..jpeg.len() / 2]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let partial = |dir: &std::path::Path| {
        files_under(&dir.join("partial"))
            .into_iter()
            .filter(|p| !p.to_string_lossy().contains('#'))
            .count()
    };
    assert_eq!(partial(&blobs), 1, "the first half is held");

    let w = serde_json::json!({"reason": "Patient asked for the photos not to be shared."});
    let withdraw =
        |id: &str| alice.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w);
    for id in [&ids[0], &partway] {
        let (status, body) = json(s.send(withdraw(id)).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert!(!blobs.join(&ids[0]).join(&sha).exists(), "its copy is gone");
    assert_eq!(partial(&blobs), 0, "and the chunks of the one uploading");
    assert!(
        blobs.join(&ids[1]).join(&sha).exists(),
        "the other keeps its copy"
    );
    assert!(
        blobs.join(&sha).exists(),
        "the shared copy stays while one has consent"
    );
    let (status, bytes) = body_bytes(
        s.send(bob.get(&format!("/v1/inbox/{}/media/{sha}", ids[1])))
            .await,
    )
    .await;
    assert_eq!((status, bytes), (StatusCode::OK, jpeg.clone()));
    // The rest of the upload is refused.
    let (status, body) = json(
        s.send(alice.put_chunk(
            &partway,
            &sha,
            (jpeg.len() / 2) as u64,
            &jpeg[jpeg.len() / 2..],
        ))
        .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::GONE, "intake.consent_withdrawn")
    );
    assert_eq!(partial(&blobs), 0);

    // The last withdrawal takes the shared copy too; a repeat is harmless.
    for _ in 0..2 {
        let (status, _) = json(s.send(withdraw(&ids[1])).await).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(!blobs.join(&ids[1]).join(&sha).exists());
    assert!(!blobs.join(&sha).exists(), "the shared copy is gone");
}

/// A referral withdrawn by a server from before withdrawal erased the
/// patient's details, and one still with consent: the upgrade's migration
/// (0007) erases the first as `erased_manifest` would and leaves the
/// second. Returns the two ids.
async fn withdrawn_by_an_older_server(s: &Server) -> (String, String) {
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let mut ids = Vec::new();
    for key in ["old-withdrawal-0001", "old-consent-0001"] {
        let m = manifest(&s.tissue_viability, key, &[&jpeg]);
        let (id, status, _) = send_referral(s, &alice, &m, &[&jpeg]).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(id);
    }
    let kept = ids.pop().expect("two");
    (ids.pop().expect("two"), kept)
}

async fn assert_erased_by_the_migration(s: &Server, withdrawn: &str, kept: &str) {
    let r = s
        .store()
        .referral(withdrawn)
        .await
        .expect("store")
        .expect("row");
    let text = serde_json::to_string(&r.manifest).expect("json");
    assert_no_personal_field("the migrated row", &text);
    assert!(r.manifest.consent.withdrawn);
    assert_eq!(r.manifest.idempotency_key, "old-withdrawal-0001");
    assert_eq!(r.media.len(), 1);
    let other = s.store().referral(kept).await.expect("store").expect("row");
    assert_eq!(other.manifest.patient.value, NHS_NUMBER);
    assert_eq!(other.manifest.media.len(), 1);
}

#[tokio::test]
async fn sqlite_the_upgrade_erases_referrals_withdrawn_before() {
    let s = Server::start().await;
    let (withdrawn, kept) = withdrawn_by_an_older_server(&s).await;
    let conn = rusqlite::Connection::open(s.dir.path().join("server.db")).expect("open");
    conn.execute(
        "UPDATE referrals SET consent_withdrawn_at = 1 WHERE id = ?1",
        [&withdrawn],
    )
    .expect("as an older server withdrew it");
    conn.execute_batch(include_str!(
        "../migrations/sqlite/0007_erase_withdrawn.sql"
    ))
    .expect("migration");
    let row: String = conn
        .query_row(
            "SELECT manifest_json FROM referrals WHERE id = ?1",
            [&withdrawn],
            |r| r.get(0),
        )
        .expect("row");
    assert_no_personal_field("the migrated row", &row);
    assert_erased_by_the_migration(&s, &withdrawn, &kept).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL binaries (scripts/test.sh)"]
async fn postgres_the_upgrade_erases_referrals_withdrawn_before() {
    let url = common::pg::new_database().await;
    let s = Server::start_postgres_at(&url).await;
    let (withdrawn, kept) = withdrawn_by_an_older_server(&s).await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE referrals SET consent_withdrawn_at = 1 WHERE id = $1",
            &[&withdrawn],
        )
        .await
        .expect("as an older server withdrew it");
    client
        .batch_execute(include_str!(
            "../migrations/postgres/0007_erase_withdrawn.sql"
        ))
        .await
        .expect("migration");
    let row: String = client
        .query_one(
            "SELECT manifest_json FROM referrals WHERE id = $1",
            &[&withdrawn],
        )
        .await
        .expect("row")
        .get(0);
    assert_no_personal_field("the migrated row", &row);
    assert_erased_by_the_migration(&s, &withdrawn, &kept).await;
}

/// The row itself, not only what the store parses from it.
#[tokio::test]
async fn a_withdrawn_referral_row_and_the_audit_hold_no_name_or_question() {
    let s = Server::start().await;
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "erased-row-0001", &[&jpeg]);
    let (id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    assert_eq!(status, StatusCode::OK);
    let w = serde_json::json!({"reason": "Patient withdrew consent."});
    let r = s
        .send(alice.post_json(&format!("/v1/referrals/{id}/consent-withdrawal"), &w))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let conn = rusqlite::Connection::open(s.dir.path().join("server.db")).expect("open");
    let row: String = conn
        .query_row(
            "SELECT manifest_json FROM referrals WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .expect("row");
    assert_no_personal_field("the stored row", &row);
    let patients: Vec<Option<String>> = conn
        .prepare("SELECT patient FROM audit_log ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let all = format!("{patients:?}");
    assert!(all.contains(&format!("nhs:{NHS_NUMBER}")), "{all}");
    assert!(!all.contains("Doe") && !all.contains("Jane") && !all.contains("ulcer"));
}

#[tokio::test]
async fn the_audit_log_holds_ids_but_never_identifiers_or_questions() {
    let s = Server::start().await;
    let alice = s.client("alice").await;
    let jpeg = clean_jpeg();
    let m = manifest(&s.tissue_viability, "audit-0001", &[&jpeg]);
    let (_id, status, _) = send_referral(&s, &alice, &m, &[&jpeg]).await;
    assert_eq!(status, StatusCode::OK);
    let audit_rows = audit_dump(&s);
    assert!(!audit_rows.contains(NHS_NUMBER));
    assert!(!audit_rows.contains("pressure ulcer"));
    assert!(audit_rows.contains("referral_create"));
    assert!(audit_rows.contains("deliver"));
}

async fn the_admin_api_is_for_administrators_only(s: Server) {
    let alice = s.client("alice").await;
    let new_user =
        serde_json::json!({"name": "mallory", "team": "Tissue Viability", "password": PASSWORD});
    for req in [
        alice.get("/v1/admin/organisations"),
        alice.post_json(
            "/v1/admin/organisations",
            &serde_json::json!({"name": "Mallory Trust"}),
        ),
        alice.get("/v1/admin/teams"),
        alice.get("/v1/admin/devices"),
        alice.post_json("/v1/admin/users", &new_user),
        alice.post_json(
            "/v1/admin/enrolment-codes",
            &serde_json::json!({"expires_in": "1h"}),
        ),
    ] {
        let (status, body) = json(s.send(req).await).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "auth.not_administrator")
        );
    }
    assert!(s
        .store()
        .user_by_name("mallory")
        .await
        .expect("store")
        .is_none());
    assert!(s
        .store()
        .organisation_by_name("Mallory Trust")
        .await
        .expect("store")
        .is_none());
}

/// An administrator's account may have no team: it administers, and sends
/// and receives nothing.
async fn an_administrator_without_a_team_administers_but_sends_and_receives_nothing(s: Server) {
    let dana = s.client("dana").await;
    let ops = serde_json::json!({"name": "ops", "password": PASSWORD, "role": "administrator"});
    let (status, user) = json(s.send(dana.post_json("/v1/admin/users", &ops)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["team_ids"], serde_json::json!([]));

    let ops = s.client("ops").await;
    let (status, _) = json(s.send(ops.get("/v1/admin/teams")).await).await;
    assert_eq!(status, StatusCode::OK);
    let (status, inbox) = json(s.send(ops.get("/v1/inbox")).await).await;
    assert_eq!((status, inbox), (StatusCode::OK, serde_json::json!([])));
    let m = manifest(&s.tissue_viability, "teamless-admin-0001", &[&clean_jpeg()]);
    let (status, body) = json(s.send(ops.post_json("/v1/referrals", &m)).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "intake.sender_has_no_team")
    );
    let (_, inbox) = json(s.send(s.client("bob").await.get("/v1/inbox")).await).await;
    assert_eq!(inbox, serde_json::json!([]), "nothing reached the team");
}

async fn organisations_are_named_once_whatever_the_case_and_hold_their_teams(s: Server) {
    let dana = s.client("dana").await;
    let (status, body) = json(s.send(dana.get("/v1/admin/organisations")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: Vec<(String, Vec<String>)> = body
        .as_array()
        .expect("organisations")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().expect("name").to_owned(),
                serde_json::from_value(o["teams"].clone()).expect("teams"),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "Lanark CHP".to_owned(),
                vec![
                    "Closed Clinic".to_owned(),
                    "District Nurses North".to_owned(),
                    "Tissue Viability".to_owned()
                ]
            ),
            ("Other Trust".to_owned(), vec!["Dermatology".to_owned()]),
        ]
    );

    // Added with its ODS code, upper-cased.
    let lanarkshire = serde_json::json!({"name": "NHS Lanarkshire", "ods_code": "s08000032"});
    let (status, org) = json(
        s.send(dana.post_json("/v1/admin/organisations", &lanarkshire))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["ods_code"], "S08000032");
    // Not again, in another case or under another name with its code.
    for (again, refusal, status) in [
        (
            serde_json::json!({"name": "nhs LANARKSHIRE"}),
            "admin.organisation_exists",
            StatusCode::CONFLICT,
        ),
        (
            serde_json::json!({"name": "Lanarkshire Health", "ods_code": "S08000032"}),
            "admin.organisation_exists",
            StatusCode::CONFLICT,
        ),
        (
            serde_json::json!({"name": "Borders", "ods_code": "S08-15"}),
            "admin.bad_ods_code",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            serde_json::json!({"name": "  "}),
            "admin.bad_name",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, body) = json(
            s.send(dana.post_json("/v1/admin/organisations", &again))
                .await,
        )
        .await;
        assert_eq!((got, code(&body)), (status, refusal), "{again}");
    }

    // A team named under another case joins the organisation; a team of a
    // new organisation adds it.
    let podiatry = serde_json::json!({"name": "Podiatry", "organisation": "nhs lanarkshire"});
    let (status, team) = json(s.send(dana.post_json("/v1/admin/teams", &podiatry)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(team["organisation"], "NHS Lanarkshire");
    let stroke = serde_json::json!({"name": "Stroke Unit", "organisation": "Borders General"});
    let (status, _) = json(s.send(dana.post_json("/v1/admin/teams", &stroke)).await).await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, body) = json(s.send(dana.get("/v1/admin/organisations")).await).await;
    let names: Vec<&str> = body
        .as_array()
        .expect("organisations")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Borders General",
            "Lanark CHP",
            "NHS Lanarkshire",
            "Other Trust"
        ]
    );
    let lanarkshire = body
        .as_array()
        .expect("organisations")
        .iter()
        .find(|o| o["name"] == "NHS Lanarkshire")
        .expect("listed");
    assert_eq!(lanarkshire["teams"], serde_json::json!(["Podiatry"]));
    assert_eq!(lanarkshire["ods_code"], "S08000032");
}

async fn an_administrator_manages_teams_users_codes_and_devices_over_the_api(s: Server) {
    let dana = s.client("dana").await;
    let (status, body) = json(s.send(dana.get("/v1/admin/teams")).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body
        .as_array()
        .expect("teams")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Closed Clinic",
            "District Nurses North",
            "Tissue Viability",
            "Dermatology"
        ]
    );

    // A team, once; a user in it, with a strong password, in a team that exists.
    let podiatry = serde_json::json!({"name": "Podiatry", "organisation": "Lanark CHP", "accepts_referrals": true});
    let (status, team) = json(s.send(dana.post_json("/v1/admin/teams", &podiatry)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let (status, body) = json(s.send(dana.post_json("/v1/admin/teams", &podiatry)).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "admin.team_exists")
    );
    for (user, refusal, status) in [
        (
            serde_json::json!({"name": "erin", "team": "Podiatry", "password": "too short"}),
            "admin.password_weak",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            serde_json::json!({"name": "erin", "team": "Chiropody", "password": PASSWORD}),
            "admin.no_such_team",
            StatusCode::NOT_FOUND,
        ),
        (
            serde_json::json!({"name": "erin", "password": PASSWORD}),
            "admin.team_required",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (got, body) = json(s.send(dana.post_json("/v1/admin/users", &user)).await).await;
        assert_eq!((got, code(&body)), (status, refusal));
        assert!(!body["message"].as_str().unwrap_or_default().is_empty());
    }
    assert!(s
        .store()
        .user_by_name("erin")
        .await
        .expect("store")
        .is_none());
    let erin = serde_json::json!({"name": "erin", "team": "Podiatry", "password": PASSWORD});
    let (status, user) = json(s.send(dana.post_json("/v1/admin/users", &erin)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["role"], "clinician");
    assert_eq!(user["team_ids"], serde_json::json!([team["team_id"]]));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    // A one-time code from the API enrols erin's laptop; she signs in.
    let (status, body) = json(
        s.send(dana.post_json(
            "/v1/admin/enrolment-codes",
            &serde_json::json!({"expires_in": "forever"}),
        ))
        .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "admin.bad_duration")
    );
    let (status, issued) = json(
        s.send(dana.post_json(
            "/v1/admin/enrolment-codes",
            &serde_json::json!({"expires_in": "30m"}),
        ))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let mut laptop = Client::new_device();
    let (status, body) = json(
        s.send(laptop.enrol_request(issued["code"].as_str().expect("code")))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    laptop.device_id = body["device_id"].as_str().expect("device").to_owned();
    let (status, _) = laptop.sign_in(&s, "erin", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (_, directory) = json(s.send(laptop.get("/v1/directory")).await).await;
    assert!(directory.to_string().contains("Podiatry"));

    // The team stops taking referrals: gone from the directory.
    let stop = serde_json::json!({"team": "Podiatry", "accepts_referrals": false});
    let (status, _) = json(
        s.send(dana.post_json("/v1/admin/teams/accepting", &stop))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, directory) = json(s.send(laptop.get("/v1/directory")).await).await;
    assert!(!directory.to_string().contains("Podiatry"), "{directory}");

    // Erin disabled: refused on her next request; enabled again: let in.
    for (disabled, expected) in [(true, StatusCode::FORBIDDEN), (false, StatusCode::OK)] {
        let change = serde_json::json!({"name": "erin", "disabled": disabled});
        let (status, _) = json(
            s.send(dana.post_json("/v1/admin/users/disabled", &change))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(s.send(laptop.get("/v1/directory")).await.status(), expected);
    }
    let nobody = serde_json::json!({"name": "nobody", "disabled": true});
    let (status, body) = json(
        s.send(dana.post_json("/v1/admin/users/disabled", &nobody))
            .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "admin.no_such_user")
    );

    // Her laptop revoked: refused on its next request.
    let (_, devices) = json(s.send(dana.get("/v1/admin/devices")).await).await;
    assert!(devices.to_string().contains(&laptop.device_id));
    let revoke = format!("/v1/admin/devices/{}/revoke", laptop.device_id);
    let (status, devices) = json(s.send(dana.request("POST", &revoke, Vec::new())).await).await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    let revoked = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["device_id"] == laptop.device_id.as_str())
        .expect("listed");
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = json(s.send(laptop.get("/v1/directory")).await).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "auth.device_revoked")
    );
    let (status, body) = json(
        s.send(dana.request(
            "POST",
            &format!("/v1/admin/devices/{}/revoke", "c".repeat(32)),
            Vec::new(),
        ))
        .await,
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "admin.no_such_device")
    );
}

#[tokio::test]
async fn admin_api_actions_are_audited_with_the_administrator_and_device() {
    let s = Server::start().await;
    let dana = s.client("dana").await;
    let podiatry = serde_json::json!({"name": "Podiatry", "organisation": "Lanark CHP"});
    let (status, _) = json(s.send(dana.post_json("/v1/admin/teams", &podiatry)).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let dana_id = s
        .store()
        .user_by_name("dana")
        .await
        .expect("store")
        .expect("dana")
        .id;
    let rows = audit_dump(&s);
    assert!(
        rows.lines().any(
            |l| l.starts_with(&format!("{dana_id} {} admin ", dana.device_id))
                && l.ends_with("team_add")
        ),
        "{rows}"
    );
    assert!(s.store().verify_audit().await.expect("the chain holds") > 0);
}

fn audit_dump(s: &Server) -> String {
    let conn = rusqlite::Connection::open(s.dir.path().join("server.db")).expect("open");
    let mut stmt = conn
        .prepare("SELECT actor, device, action, object, outcome FROM audit_log ORDER BY seq")
        .expect("prepare");
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.join("\n")
}

on_both_backends!(
    health_ready_and_openapi_are_open,
    every_v1_route_refuses_unsigned_requests,
    enrolment_codes_work_once_and_expire,
    signatures_timestamps_nonces_and_body_hashes_are_checked,
    sign_in_checks_the_password_and_disabled_users_are_refused_next_request,
    revoked_devices_are_refused_on_their_next_request,
    the_directory_is_signed_versioned_and_lists_only_teams_taking_referrals,
    intake_refuses_what_the_app_should_never_have_sent,
    a_team_file_limit_is_in_the_directory_and_larger_files_are_refused,
    a_complete_verified_referral_reaches_only_the_recipient_team,
    a_repeated_manifest_returns_the_same_referral_and_a_changed_one_is_refused,
    a_file_that_does_not_match_its_hash_is_refused_and_can_be_sent_again,
    a_file_with_residual_metadata_is_refused,
    an_upload_longer_than_the_manifest_says_is_refused,
    an_upload_that_stalls_is_stopped_and_can_be_sent_again,
    an_upload_that_trickles_is_stopped_and_can_be_sent_again,
    consent_withdrawal_makes_media_unavailable_and_recipients_see_it,
    consent_withdrawal_deletes_the_files_from_the_server,
    consent_withdrawal_leaves_only_the_fact_and_erases_the_patient,
    the_admin_api_is_for_administrators_only,
    organisations_are_named_once_whatever_the_case_and_hold_their_teams,
    an_administrator_without_a_team_administers_but_sends_and_receives_nothing,
    an_administrator_manages_teams_users_codes_and_devices_over_the_api,
);
