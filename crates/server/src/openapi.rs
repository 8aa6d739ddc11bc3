//! `GET /openapi.json`: the API document, written out by hand beside the
//! routes (a test checks every route in `app()` is in it). Schemas are
//! given for the error body and the open endpoints; signed endpoints name
//! their wire types from `clinshare-protocol`.

use axum::Json;
use serde_json::{json, Value};

/// Every path the router serves, as written in the document.
pub const PATHS: &[(&str, &str)] = &[
    ("/health", "get"),
    ("/ready", "get"),
    ("/openapi.json", "get"),
    ("/v1/enrol", "post"),
    ("/v1/session", "post"),
    ("/v1/directory", "get"),
    ("/v1/referrals", "post"),
    ("/v1/referrals/{id}", "get"),
    ("/v1/referrals/{id}/consent-withdrawal", "post"),
    ("/v1/referrals/{id}/media/{sha256}", "get"),
    ("/v1/referrals/{id}/media/{sha256}", "put"),
    ("/v1/inbox", "get"),
    ("/v1/inbox/{id}", "get"),
    ("/v1/inbox/{id}/media/{sha256}", "get"),
    ("/v1/inbox/{id}/ack", "post"),
    ("/v1/fhir/DocumentReference", "get"),
    ("/v1/fhir/Binary/{id}", "get"),
    ("/v1/admin/organisations", "get"),
    ("/v1/admin/organisations", "post"),
    ("/v1/admin/teams", "get"),
    ("/v1/admin/teams", "post"),
    ("/v1/admin/teams/accepting", "post"),
    ("/v1/admin/users", "post"),
    ("/v1/admin/users/disabled", "post"),
    ("/v1/admin/enrolment-codes", "post"),
    ("/v1/admin/devices", "get"),
    ("/v1/admin/devices/{id}/revoke", "post"),
];

fn summary(path: &str, method: &str) -> &'static str {
    match (path, method) {
        ("/health", _) => "Liveness and protocol version",
        ("/ready", _) => "Readiness: the database and the blob store answer",
        ("/openapi.json", _) => "This document",
        ("/v1/enrol", _) => "Enrol a device with a one-time code and its Ed25519 public key (EnrolRequest → EnrolResponse)",
        ("/v1/session", _) => "Sign in a clinician on a signed device (SignInRequest → SignInResponse)",
        ("/v1/directory", _) => "The signed directory of teams that accept referrals (SignedDirectory)",
        ("/v1/referrals", _) => "Submit a referral manifest; idempotent by idempotency_key (ReferralManifest → ReferralStatus)",
        ("/v1/referrals/{id}", _) => "The sender's view: upload progress, delivery, receipt (ReferralStatus)",
        ("/v1/referrals/{id}/consent-withdrawal", _) => "Report withdrawal of consent (ConsentWithdrawal → ReferralStatus)",
        (_, "put") => "Upload the next chunk at ?offset=N (raw bytes → ChunkResponse; 409 with upload-offset when misplaced)",
        ("/v1/referrals/{id}/media/{sha256}", _) => "Where to continue an upload (UploadOffset)",
        ("/v1/inbox", _) => "Referrals delivered to the caller's teams (InboxItem[])",
        ("/v1/inbox/{id}", _) => "Open a referral (InboxReferral)",
        ("/v1/inbox/{id}/media/{sha256}", _) => "Download a verified file (410 after consent withdrawal)",
        ("/v1/inbox/{id}/ack", _) => "Acknowledge a referral (InboxItem)",
        ("/v1/fhir/DocumentReference", _) => "FHIR R4 search: the caller's teams' delivered photos of one patient, ?patient=<system>|<value> (searchset Bundle of DocumentReference, application/fhir+json)",
        ("/v1/fhir/Binary/{id}", _) => "FHIR R4 Binary read: one delivered photo's bytes (the attachment url of a DocumentReference; 410 after consent withdrawal)",
        ("/v1/admin/organisations", "get") => "Administrators: every organisation with its teams (OrganisationInfo[])",
        ("/v1/admin/organisations", _) => "Administrators: add an organisation, optionally with its ODS code (NewOrganisation → OrganisationInfo)",
        ("/v1/admin/teams", "get") => "Administrators: every team (TeamInfo[])",
        ("/v1/admin/teams", _) => "Administrators: add a team to an organisation, which is added if new (NewTeam → TeamInfo)",
        ("/v1/admin/teams/accepting", _) => "Administrators: start or stop a team taking referrals (TeamAccepting)",
        ("/v1/admin/users", _) => "Administrators: add a user with a role, to a team (an administrator may have none) (NewUser → UserInfo)",
        ("/v1/admin/users/disabled", _) => "Administrators: disable or enable a user; refused on their next request (UserDisabled)",
        ("/v1/admin/enrolment-codes", _) => "Administrators: a one-time enrolment code (NewEnrolmentCode → EnrolmentCode)",
        ("/v1/admin/devices", _) => "Administrators: enrolled devices (DeviceInfo[])",
        ("/v1/admin/devices/{id}/revoke", _) => "Administrators: revoke a device; refused on its next request (DeviceInfo[])",
        _ => "",
    }
}

fn operation(path: &str, method: &str) -> Value {
    let open = matches!(path, "/health" | "/ready" | "/openapi.json" | "/v1/enrol");
    let mut params: Vec<Value> = ["id", "sha256"]
        .iter()
        .filter(|p| path.contains(&format!("{{{p}}}")))
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if path == "/v1/fhir/DocumentReference" {
        params.push(json!({
            "name": "patient", "in": "query", "required": true,
            "description": "<identifier system>|<value>, e.g. https://fhir.nhs.uk/Id/nhs-number|9434765919",
            "schema": {"type": "string"}
        }));
    }
    let health = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}});
    let error = json!({"description": "Refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let mut responses = json!({});
    match path {
        "/health" => responses["200"] = json!({"description": "Up", "content": health}),
        "/ready" => {
            responses["200"] = json!({"description": "Ready", "content": health.clone()});
            responses["503"] = json!({"description": "Not ready", "content": health});
        }
        "/openapi.json" => {
            responses["200"] = json!({"description": "This document", "content": {"application/json": {"schema": {"type": "object"}}}})
        }
        _ => {
            responses["200"] = match path {
                "/v1/fhir/DocumentReference" => {
                    json!({"description": "A FHIR R4 searchset Bundle of DocumentReference", "content": {"application/fhir+json": {"schema": {"type": "object"}}}})
                }
                "/v1/fhir/Binary/{id}" => {
                    json!({"description": "The photo's bytes", "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}})
                }
                _ => json!({"description": "OK"}),
            };
            if matches!(
                (path, method),
                ("/v1/enrol" | "/v1/referrals", _)
                    | (
                        "/v1/admin/organisations"
                            | "/v1/admin/teams"
                            | "/v1/admin/users"
                            | "/v1/admin/enrolment-codes",
                        "post"
                    )
            ) {
                responses["201"] = json!({"description": "Created"});
            }
            for code in [
                "400", "401", "403", "404", "408", "409", "410", "413", "422", "429", "500", "503",
            ] {
                responses[code] = error.clone();
            }
        }
    }
    let mut op = json!({
        "summary": summary(path, method),
        "parameters": params,
        "responses": responses,
    });
    if !open {
        op["security"] = json!([{"deviceSignature": [], "bearer": []}]);
    }
    if let Some(body) = request_body(path, method) {
        op["requestBody"] = body;
    }
    op
}

fn request_body(path: &str, method: &str) -> Option<Value> {
    let schema = match (path, method) {
        ("/v1/enrol", _) => json!({"$ref": "#/components/schemas/EnrolRequest"}),
        ("/v1/session", _) => json!({"$ref": "#/components/schemas/SignInRequest"}),
        ("/v1/referrals/{id}/consent-withdrawal", _) => json!({
            "type": "object", "required": ["reason"],
            "properties": {"reason": {"type": "string"}}
        }),
        (_, "put") => {
            return Some(
                json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
            )
        }
        ("/v1/admin/organisations", "post") => json!({
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string"},
                "ods_code": {"type": ["string", "null"], "description": "3 to 10 letters and digits"}
            }
        }),
        ("/v1/admin/teams", "post") => json!({
            "type": "object", "required": ["name", "organisation"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string"}, "organisation": {"type": "string"},
                "accepts_referrals": {"type": "boolean"},
                "max_file_bytes": {"type": ["integer", "null"], "minimum": 0}
            }
        }),
        ("/v1/admin/teams/accepting", _) => json!({
            "type": "object", "required": ["team", "accepts_referrals"], "additionalProperties": false,
            "properties": {"team": {"type": "string"}, "accepts_referrals": {"type": "boolean"}}
        }),
        ("/v1/admin/users", _) => json!({
            "type": "object", "required": ["name", "password"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string"},
                "team": {"type": ["string", "null"], "description": "required for a clinician"},
                "password": {"type": "string", "minLength": 12},
                "role": {"type": "string", "enum": ["clinician", "administrator"]}
            }
        }),
        ("/v1/admin/users/disabled", _) => json!({
            "type": "object", "required": ["name", "disabled"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "disabled": {"type": "boolean"}}
        }),
        ("/v1/admin/enrolment-codes", _) => json!({
            "type": "object", "required": ["expires_in"], "additionalProperties": false,
            "properties": {"expires_in": {"type": "string", "description": "30m, 1h, 2d (at most 30 days)"}}
        }),
        ("/v1/referrals", "post") => {
            json!({"type": "object", "description": "ReferralManifest (clinshare-protocol)"})
        }
        _ => return None,
    };
    Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}))
}

pub fn build() -> Value {
    let mut paths = json!({});
    for (path, method) in PATHS {
        paths[*path][*method] = operation(path, method);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ClinShare approved server",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Wire types are defined in the clinshare-protocol crate (protocol version 1). Signed requests carry x-clinshare-device, -timestamp, -nonce, -content-sha256 and -signature headers."
        },
        "paths": paths,
        "components": {
            "schemas": {
                "ErrorBody": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                },
                "EnrolRequest": {
                    "type": "object",
                    "required": ["protocol_version", "code", "device_public_key", "device_name"],
                    "properties": {
                        "protocol_version": {"type": "integer"},
                        "code": {"type": "string"},
                        "device_public_key": {"type": "string", "description": "32-byte Ed25519 public key, hex"},
                        "device_name": {"type": "string"}
                    }
                },
                "SignInRequest": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}}
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "protocol_version"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ready", "starting"]},
                        "protocol_version": {"type": "integer"}
                    }
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "deviceSignature": {"type": "apiKey", "in": "header", "name": "x-clinshare-signature"}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
