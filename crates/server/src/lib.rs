//! The approved server's HTTP surface, as a plain `Router` so every endpoint
//! can be tested with `oneshot`, without a socket.
#![forbid(unsafe_code)]

use axum::{routing::get, Json, Router};
use clinshare_protocol::{Health, HealthStatus, PROTOCOL_VERSION};

/// The server's routes.
pub fn app() -> Router {
    Router::new().route("/health", get(health))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ready,
        protocol_version: PROTOCOL_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn health_answers_ready_with_the_protocol_version() {
        let response = app()
            .oneshot(
                Request::get("/health")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let health: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(health["status"], "ready");
        assert_eq!(health["protocol_version"], PROTOCOL_VERSION);
    }

    #[tokio::test]
    async fn unknown_paths_are_not_found() {
        let response = app()
            .oneshot(
                Request::get("/referrals")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
