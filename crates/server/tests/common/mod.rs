//! One harness for the server's tests: a data directory, the router, a
//! signing device, signed requests, and a small directory of teams, on
//! either backend.
#![allow(dead_code)]

/// One `#[tokio::test]` per backend for each behaviour named: `sqlite::*`
/// and `postgres::*` (ignored unless PostgreSQL is installed).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(Server::start().await).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL binaries (scripts/test.sh)"]
                async fn $name() {
                    super::$name(Server::start_postgres().await).await;
                }
            )*
        }
    };
}

pub mod orthanc;
pub mod pg;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use clinshare_protocol::auth::{
    canonical_request, HEADER_CONTENT_SHA256, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
};
use clinshare_protocol::consent::{ConsentLevel, GivenBy};
use clinshare_protocol::identifier::IdentifierKind;
use clinshare_protocol::referral::{
    ConsentSummary, MediaFormat, MediaItem, PatientRef, ReferralManifest, Urgency,
};
use clinshare_protocol::PROTOCOL_VERSION;
use clinshare_server::store::{Role, Store};
use clinshare_server::{admin, AppState, Config};
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";
/// NHS Digital's published example number.
pub const NHS_NUMBER: &str = "9434765919";
pub const FIXTURE_WITH_EXIF: &[u8] = include_bytes!("../fixtures/et_ExifTool.jpg");

/// Administrative actions taken as `clinshare-server admin` would.
pub const CLI: &admin::By = &admin::By::COMMAND_LINE;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
    /// Team ids by name.
    pub nurses: String,
    pub tissue_viability: String,
    pub dermatology: String,
    pub closed_team: String,
}

pub fn test_config() -> Config {
    Config {
        rate_per_second: 10_000,
        rate_burst: 10_000,
        upload_idle_timeout: std::time::Duration::from_secs(1),
        ..Config::default()
    }
}

impl Server {
    /// A server with four teams and a user in each of the first three:
    /// alice (district nurses, the sender), bob (tissue viability, the
    /// recipient), carol (dermatology, another team).
    pub async fn start() -> Server {
        Self::start_with_pacs(None).await
    }

    /// The same, filing delivered referrals into these PACS targets.
    pub async fn start_with_pacs(pacs: Option<clinshare_server::pacs::PacsConfig>) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = clinshare_server::serve::embedded_state(dir.path(), test_config())
            .expect("state")
            .with_pacs(pacs);
        Self::with_state(dir, state).await
    }

    /// The same, on a fresh PostgreSQL database (blobs and keys in a
    /// temp data directory).
    pub async fn start_postgres() -> Server {
        let url = pg::new_database().await;
        Self::start_postgres_at(&url).await
    }

    pub async fn start_postgres_at(url: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = admin::open_store(dir.path(), Some(url))
            .await
            .expect("postgres store");
        let state =
            clinshare_server::serve::state_with_store(dir.path(), store, None, test_config())
                .expect("state");
        Self::with_state(dir, state).await
    }

    pub async fn with_state(dir: tempfile::TempDir, state: AppState) -> Server {
        let store = state.store.as_ref();
        let nurses = admin::team_add(
            store,
            CLI,
            "District Nurses North",
            "Lanark CHP",
            false,
            None,
        )
        .await
        .expect("team")
        .id;
        let tissue_viability =
            admin::team_add(store, CLI, "Tissue Viability", "Lanark CHP", true, None)
                .await
                .expect("team")
                .id;
        let dermatology = admin::team_add(store, CLI, "Dermatology", "Other Trust", true, None)
            .await
            .expect("team")
            .id;
        let closed_team = admin::team_add(store, CLI, "Closed Clinic", "Lanark CHP", false, None)
            .await
            .expect("team")
            .id;
        for (user, team, role) in [
            ("alice", "District Nurses North", Role::Clinician),
            ("bob", "Tissue Viability", Role::Clinician),
            ("carol", "Dermatology", Role::Clinician),
            ("dana", "District Nurses North", Role::Administrator),
        ] {
            admin::user_add(store, CLI, user, Some(team), PASSWORD, role)
                .await
                .expect("user");
        }
        let app = clinshare_server::app(state.clone());
        Server {
            dir,
            state,
            app,
            nurses,
            tissue_viability,
            dermatology,
            closed_team,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.expect("response")
    }

    pub async fn enrol_code(&self) -> String {
        admin::enrol_code(self.store().as_ref(), CLI, 3600)
            .await
            .expect("code")
            .0
    }

    /// An enrolled device, signed in as `user`.
    pub async fn client(&self, user: &str) -> Client {
        let mut device = Client::new_device();
        let code = self.enrol_code().await;
        let (status, body) = json(self.send(device.enrol_request(&code)).await).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        device.device_id = body["device_id"].as_str().expect("device id").to_owned();
        device.sign_in(self, user, PASSWORD).await;
        device
    }
}

static NONCE: AtomicU64 = AtomicU64::new(1);

pub struct Client {
    pub key: SigningKey,
    pub device_id: String,
    pub token: Option<String>,
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Client {
    pub fn new_device() -> Client {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random");
        Client {
            key: SigningKey::from_bytes(&seed),
            device_id: String::new(),
            token: None,
        }
    }

    pub fn enrol_request(&self, code: &str) -> Request<Body> {
        let body = serde_json::json!({
            "protocol_version": PROTOCOL_VERSION,
            "code": code,
            "device_public_key": hex::encode(self.key.verifying_key().to_bytes()),
            "device_name": "Ward 3 laptop",
        });
        Request::post("/v1/enrol")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    }

    pub async fn sign_in(
        &mut self,
        server: &Server,
        user: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let req = self.request(
            "POST",
            "/v1/session",
            serde_json::to_vec(&serde_json::json!({"username": user, "password": password}))
                .expect("json"),
        );
        let (status, body) = json(server.send(req).await).await;
        if status == StatusCode::OK {
            self.token = Some(body["token"].as_str().expect("token").to_owned());
        }
        (status, body)
    }

    pub fn fresh_nonce() -> String {
        let n = NONCE.fetch_add(1, Ordering::Relaxed);
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).expect("random");
        format!("{n:016x}{}", hex::encode(r))
    }

    /// A request signed now with a fresh nonce.
    pub fn request(&self, method: &str, path: &str, body: Vec<u8>) -> Request<Body> {
        self.request_with(method, path, body, &Self::fresh_nonce(), now())
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        nonce: &str,
        timestamp: i64,
    ) -> Request<Body> {
        let content = sha256_hex(&body);
        let canonical = canonical_request(method, path, timestamp, nonce, &content);
        let signature = hex::encode(self.key.sign(canonical.as_bytes()).to_bytes());
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HEADER_DEVICE, &self.device_id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_NONCE, nonce)
            .header(HEADER_CONTENT_SHA256, content)
            .header(HEADER_SIGNATURE, signature);
        if !body.is_empty() && method != "PUT" {
            b = b.header("content-type", "application/json");
        }
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(Body::from(body)).expect("request")
    }

    pub fn get(&self, path: &str) -> Request<Body> {
        self.request("GET", path, Vec::new())
    }

    pub fn post_json(&self, path: &str, value: &impl serde::Serialize) -> Request<Body> {
        self.request("POST", path, serde_json::to_vec(value).expect("json"))
    }

    pub fn put_chunk(&self, referral: &str, sha: &str, offset: u64, chunk: &[u8]) -> Request<Body> {
        self.request(
            "PUT",
            &format!("/v1/referrals/{referral}/media/{sha}?offset={offset}"),
            chunk.to_vec(),
        )
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub async fn body_bytes(r: Response<Body>) -> (StatusCode, Vec<u8>) {
    let status = r.status();
    let bytes = r.into_body().collect().await.expect("body").to_bytes();
    (status, bytes.to_vec())
}

pub async fn json(r: Response<Body>) -> (StatusCode, Value) {
    let (status, bytes) = body_bytes(r).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// The fixture with its metadata stripped by the media crate: what the app
/// would send.
pub fn clean_jpeg() -> Vec<u8> {
    clinshare_media::sanitise(FIXTURE_WITH_EXIF, &clinshare_media::Limits::default())
        .expect("sanitise")
        .bytes
}

pub fn manifest(team: &str, key: &str, files: &[&[u8]]) -> ReferralManifest {
    ReferralManifest {
        protocol_version: PROTOCOL_VERSION,
        idempotency_key: key.to_owned(),
        patient: PatientRef {
            kind: IdentifierKind::Nhs,
            value: NHS_NUMBER.to_owned(),
            family_name: Some("Doe".to_owned()),
            given_name: Some("Jane".to_owned()),
            date_of_birth: Some("1972-04-15".to_owned()),
        },
        recipient_team: team.to_owned(),
        consent: ConsentSummary {
            level: ConsentLevel::Care,
            given_by: GivenBy::Patient,
            recorded_by: "alice".into(),
            recorded_at: "2026-01-05T10:00:00Z".into(),
            recipient_team: Some(team.to_owned()),
            withdrawn: false,
        },
        clinical_question: "Grade 3 pressure ulcer, left heel: dressing advice please.".into(),
        urgency: Urgency::Routine,
        media: files
            .iter()
            .map(|f| MediaItem {
                sha256: sha256_hex(f),
                size: f.len() as u64,
                format: MediaFormat::Jpeg,
                body_site: Some("left_heel".to_owned()),
                captured_at: Some("2026-11-20T10:15:00".to_owned()),
            })
            .collect(),
    }
}

/// Creates a referral and uploads every file in two chunks; returns the
/// referral id and the last chunk answer.
pub async fn send_referral(
    server: &Server,
    client: &Client,
    m: &ReferralManifest,
    files: &[&[u8]],
) -> (String, StatusCode, Value) {
    let (status, body) = json(server.send(client.post_json("/v1/referrals", m)).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["referral_id"].as_str().expect("id").to_owned();
    let mut last = (StatusCode::OK, Value::Null);
    for f in files {
        let sha = sha256_hex(f);
        let half = f.len() / 2;
        let (s, b) = json(
            server
                .send(client.put_chunk(&id, &sha, 0, &f[..half]))
                .await,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        last = json(
            server
                .send(client.put_chunk(&id, &sha, half as u64, &f[half..]))
                .await,
        )
        .await;
    }
    (id, last.0, last.1)
}

/// Validates a FHIR resource against HL7's R4 JSON schema (vendored in
/// `tests/fixtures/fhir`, checked with Python's `jsonschema`); panics with
/// the schema's errors.
pub fn assert_valid_fhir(resource: &Value) {
    use std::io::Write;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir");
    let mut child = std::process::Command::new("python3")
        .arg(dir.join("validate.py"))
        .arg(dir.join("fhir.schema.json.gz"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed to validate FHIR resources (scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(resource.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("validator");
    assert!(
        out.status.success(),
        "not valid FHIR R4 (install python3-jsonschema if it is missing):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found
}
