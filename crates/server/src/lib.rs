//! The approved server's HTTP surface, as a plain `Router` so every endpoint
//! can be tested with `oneshot`, without a socket.
//!
//! `/health`, `/ready`, `/openapi.json` and `POST /v1/enrol` are open; every
//! other `/v1` route passes [`auth::authenticate`] (signed device, and a
//! signed-in user for all but sign-in).
#![forbid(unsafe_code)]

pub mod admin;
mod admin_api;
pub mod audit;
pub mod auth;
pub mod blobs;
mod clock;
pub mod directory;
pub mod enrolment;
pub mod error;
pub mod fhir;
mod fsutil;
pub mod inbox;
pub mod intake;
pub mod keys;
pub mod openapi;
pub mod pacs;
pub mod ratelimit;
pub mod serve;
pub mod session;
pub mod state;
pub mod store;
pub mod tls;
pub mod upload;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use clinshare_protocol::{Health, HealthStatus, PROTOCOL_VERSION};
use tower_http::timeout::TimeoutLayer;

pub use state::{AppState, Config};

/// The server's routes.
pub fn app(state: AppState) -> Router {
    let authed = Router::new()
        .route("/v1/session", post(session::sign_in))
        .route("/v1/directory", get(directory::get_directory))
        .route("/v1/referrals", post(intake::create))
        .route("/v1/referrals/{id}", get(intake::status))
        .route(
            "/v1/referrals/{id}/consent-withdrawal",
            post(intake::withdraw_consent),
        )
        .route(
            "/v1/referrals/{id}/media/{sha256}",
            get(upload::get_offset).put(upload::put_chunk),
        )
        .route("/v1/inbox", get(inbox::list))
        .route("/v1/inbox/{id}", get(inbox::open))
        .route("/v1/inbox/{id}/media/{sha256}", get(inbox::download))
        .route("/v1/inbox/{id}/ack", post(inbox::acknowledge))
        .route("/v1/fhir/DocumentReference", get(fhir::search_documents))
        .route("/v1/fhir/Binary/{id}", get(fhir::binary))
        .route(
            "/v1/admin/organisations",
            get(admin_api::list_organisations).post(admin_api::add_organisation),
        )
        .route(
            "/v1/admin/teams",
            get(admin_api::list_teams).post(admin_api::add_team),
        )
        .route(
            "/v1/admin/teams/accepting",
            post(admin_api::set_team_accepting),
        )
        .route("/v1/admin/users", post(admin_api::add_user))
        .route(
            "/v1/admin/users/disabled",
            post(admin_api::set_user_disabled),
        )
        .route(
            "/v1/admin/enrolment-codes",
            post(admin_api::new_enrolment_code),
        )
        .route("/v1/admin/devices", get(admin_api::list_devices))
        .route(
            "/v1/admin/devices/{id}/revoke",
            post(admin_api::revoke_device),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let timeout = state.config.request_timeout;
    let json_limit = state.config.max_json_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/v1/enrol",
            post(enrolment::enrol).layer(DefaultBodyLimit::max(json_limit)),
        )
        .merge(authed)
        // Chunks are streamed and capped by the upload code; this bounds the
        // rest of the body-reading extractors.
        .layer(DefaultBodyLimit::max(
            usize::try_from(clinshare_protocol::upload::MAX_CHUNK_BYTES).unwrap_or(usize::MAX),
        ))
        .layer(middleware::from_fn(log_request))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// One structured line per request: the route *pattern*, never the raw
/// path or query, and no bodies, so no patient data reaches the log.
async fn log_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("-", |m| m.as_str())
        .to_owned();
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn health() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ready,
        protocol_version: PROTOCOL_VERSION,
    })
}

/// Ready when the database and the blob store answer.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let ok = state.store.ready().await.is_ok() && state.blobs.ready().await;
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Health {
            status: if ok {
                HealthStatus::Ready
            } else {
                HealthStatus::Starting
            },
            protocol_version: PROTOCOL_VERSION,
        }),
    )
}
