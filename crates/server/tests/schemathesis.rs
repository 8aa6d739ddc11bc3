//! `schemathesis` (PyPI) against the served OpenAPI document: no 5xx,
//! status codes, content types, headers and bodies as documented. Twice:
//! against the real binary, where every signed route refuses the
//! unsigned requests schemathesis makes; and through a front that signs
//! each request as an administrator's enrolled, signed-in device, so that
//! every route's handler meets the generated requests. Bounded: 20
//! examples per operation.
//!
//! Runs when `CLINSHARE_SCHEMATHESIS` names the executable (scripts/test.sh
//! installs it from PyPI into a venv and sets it; then it must run) or
//! `schemathesis` is on PATH; otherwise it says it was skipped and passes.

mod common;

use std::process::Command;

fn executable() -> Option<String> {
    let candidate =
        std::env::var("CLINSHARE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".to_owned());
    let works = Command::new(&candidate)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    works.then_some(candidate)
}

/// The checks, the same for both runs.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

/// The tool, or `None` after saying why it is skipped.
fn tool() -> Option<String> {
    let Some(st) = executable() else {
        // scripts/test.sh always provides it: there, a missing tool fails.
        assert!(
            std::env::var_os("CLINSHARE_SCHEMATHESIS").is_none(),
            "CLINSHARE_SCHEMATHESIS is set but does not run"
        );
        eprintln!(
            "SKIPPED: schemathesis not found (pip install schemathesis, or set CLINSHARE_SCHEMATHESIS)"
        );
        return None;
    };
    Some(st)
}

/// Run the tool on the document at `url` with [`CHECKS`]; fails the test,
/// with the report, when it finds anything.
fn run(st: &str, url: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(st)
        .args(["run", url, "-n", "20", "--checks", CHECKS])
        .env("NO_COLOR", "1")
        // Its cache and reports go to the temp dir, not the source tree.
        .current_dir(dir.path())
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
}

#[test]
fn the_openapi_document_holds_under_schemathesis() {
    let Some(st) = tool() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, addr) =
        common::wire::serve_plain(&dir.path().join("data"), &dir.path().join("log"));
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(child);
    run(&st, &format!("http://{addr}/openapi.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_hold_under_schemathesis() {
    use axum::body::Body;
    use axum::http::{header, Request};
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let Some(st) = tool() else {
        return;
    };
    let server = Arc::new(common::Server::start().await);
    let dana = Arc::new(server.client("dana").await);
    // Answers through the front, and those refusing the caller (401).
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let seen = Arc::clone(&counts);
    let front = axum::Router::new().fallback(move |req: Request<Body>| {
        let (server, dana, seen) = (Arc::clone(&server), Arc::clone(&dana), Arc::clone(&seen));
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes().to_vec());
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut signed = dana.request(parts.method.as_str(), path, body.unwrap_or_default());
            if let Some(kind) = parts.headers.get(header::CONTENT_TYPE) {
                signed
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, kind.clone());
            }
            let answer = server.send(signed).await;
            seen[0].fetch_add(1, Ordering::Relaxed);
            if answer.status() == axum::http::StatusCode::UNAUTHORIZED {
                seen[1].fetch_add(1, Ordering::Relaxed);
            }
            answer
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, front).await });
    let url = format!("http://{addr}/openapi.json");
    tokio::task::spawn_blocking(move || run(&st, &url))
        .await
        .expect("schemathesis");
    // The front signed: the routes answered, not the signature check (the
    // only 401s left are sign-ins with generated passwords).
    let (answers, refused) = (
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
    );
    assert!(answers > 200, "{answers} requests");
    assert!(
        refused * 5 < answers,
        "{refused} of {answers} refused as unauthenticated"
    );
}
