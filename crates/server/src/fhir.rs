//! A FHIR R4 read view of delivered photos for the recipient team:
//! `GET /v1/fhir/DocumentReference?patient=<system>|<value>` (a searchset
//! Bundle, one DocumentReference per photo) and `GET /v1/fhir/Binary/{id}`
//! (the stored file). Same rule as the inbox: only members of the
//! referral's recipient team see anything; for everyone else a search is
//! empty and a Binary is 404, whether it exists or not.
//!
//! Identifier systems: NHS number `https://fhir.nhs.uk/Id/nhs-number` (NHS
//! England's); CHI, H&C and local numbers have no system published for
//! this use, so these are chosen here and documented in ARCHITECTURE.md.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use clinshare_protocol::identifier::{IdentifierKind, PatientIdentifier};
use clinshare_protocol::referral::MediaItem;
use serde_json::{json, Value};

use crate::audit::action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::inbox::{addressed_to, mime};
use crate::intake::{audit_entry, audit_referral, Entry};
use crate::state::AppState;
use crate::store::Referral;

pub const FHIR_JSON: &str = "application/fhir+json";

pub fn identifier_system(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Nhs => "https://fhir.nhs.uk/Id/nhs-number",
        IdentifierKind::Chi => "https://fhir.nhs.scot/Id/chi-number",
        IdentifierKind::Hc => "https://fhir.hscni.net/Id/hc-number",
        IdentifierKind::Local => "urn:clinshare:id:local-hospital-number",
    }
}

fn kind_of_system(system: &str) -> Option<IdentifierKind> {
    [
        IdentifierKind::Nhs,
        IdentifierKind::Chi,
        IdentifierKind::Hc,
        IdentifierKind::Local,
    ]
    .into_iter()
    .find(|k| identifier_system(*k) == system)
}

/// A FHIR id (at most 64 of `[A-Za-z0-9.-]`): the referral id, a dash and
/// the first 31 hex digits of the file's SHA-256.
pub fn document_id(referral_id: &str, sha256: &str) -> String {
    format!("{referral_id}-{}", &sha256[..sha256.len().min(31)])
}

fn document(r: &Referral, m: &MediaItem, sender: &str) -> Value {
    let id = document_id(&r.id, &m.sha256);
    json!({
        "resourceType": "DocumentReference",
        "id": id,
        // The DICOM SOP Instance UID the PACS files it under.
        "masterIdentifier": {
            "system": "urn:ietf:rfc:3986",
            "value": format!("urn:oid:{}", crate::pacs::dicom::instance_uid(&r.id, &m.sha256)),
        },
        "status": "current",
        "type": {"coding": [{
            "system": "http://loinc.org",
            "code": "72170-4",
            "display": "Photographic image"
        }]},
        "subject": {"identifier": {
            "system": identifier_system(r.manifest.patient.kind),
            "value": r.manifest.patient.value,
        }},
        "date": crate::clock::rfc3339(r.delivered_at.unwrap_or(r.created_at)),
        "author": [{"display": sender}],
        "description": r.manifest.clinical_question,
        "content": [{"attachment": {
            "contentType": mime(m.format),
            "url": format!("Binary/{id}"),
            "size": m.size,
        }}],
        "context": {"related": [{"identifier": {
            "system": "urn:clinshare:referral",
            "value": r.id,
        }}]},
    })
}

fn fhir(value: Value) -> Response {
    ([(header::CONTENT_TYPE, FHIR_JSON)], value.to_string()).into_response()
}

pub async fn search_documents(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    let Ok(Query(query)) = query else {
        return Err(ApiError::BadRequest("the query is not valid"));
    };
    let (system, value) =
        query
            .get("patient")
            .and_then(|p| p.split_once('|'))
            .ok_or(ApiError::BadRequest(
                "give ?patient=<identifier system>|<value>",
            ))?;
    let kind = kind_of_system(system).ok_or(ApiError::BadRequest(
        "the patient identifier system is not one this server knows",
    ))?;
    // An invalid number matches nothing (and is not echoed, nor audited:
    // it may not be a number at all).
    let wanted = PatientIdentifier::parse_as(kind, value, None).ok();
    let mut entries = Vec::new();
    if let Some(wanted) = &wanted {
        let mut senders: HashMap<String, String> = HashMap::new();
        for r in state.store.inbox(&user.team_ids).await? {
            if r.consent_withdrawn_at.is_some()
                || r.manifest.patient.kind != wanted.kind()
                || r.manifest.patient.value != wanted.value()
            {
                continue;
            }
            if !senders.contains_key(&r.sender_user_id) {
                let name = state
                    .store
                    .user(&r.sender_user_id)
                    .await?
                    .map(|u| u.name)
                    .unwrap_or_default();
                senders.insert(r.sender_user_id.clone(), name);
            }
            let sender = senders.get(&r.sender_user_id).cloned().unwrap_or_default();
            for m in &r.manifest.media {
                entries.push(json!({
                    "resource": document(&r, m, &sender),
                    "search": {"mode": "match"},
                }));
            }
        }
    }
    // Whose record was searched for, whether or not anything matched.
    let entry = Entry {
        action: action::FHIR_SEARCH,
        object: "-",
        outcome: if wanted.is_some() {
            "ok"
        } else {
            "invalid_identifier"
        },
        patient: wanted
            .as_ref()
            .and_then(|w| crate::store::audit_patient(w.kind(), w.value())),
        at: crate::clock::now(),
    };
    audit_entry(&state, &caller, user, entry).await?;
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
    });
    // FHIR JSON forbids empty arrays: no match, no `entry`.
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(fhir(bundle))
}

pub async fn binary(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    let (referral_id, prefix) = id.split_once('-').ok_or(ApiError::NotFound)?;
    if prefix.len() != 31 {
        return Err(ApiError::NotFound);
    }
    let r = addressed_to(&state, user, referral_id).await?;
    let now = crate::clock::now();
    let download = (action::MEDIA_DOWNLOAD, &r);
    // The media rows, not the manifest: withdrawal erases the manifest's
    // list, and a withdrawn photo still answers 410 rather than 404.
    if !r.media.iter().any(|m| m.sha256.starts_with(prefix)) {
        return Err(ApiError::NotFound);
    }
    if r.consent_withdrawn_at.is_some() {
        audit_referral(&state, &caller, user, download, "consent_withdrawn", now).await?;
        return Err(ApiError::ConsentWithdrawn);
    }
    let m = r
        .manifest
        .media
        .iter()
        .find(|m| m.sha256.starts_with(prefix))
        .ok_or(ApiError::NotFound)?;
    let body = state.blobs.open_verified(&r.id, &m.sha256).await?;
    audit_referral(&state, &caller, user, download, "ok", now).await?;
    Ok((
        [
            (header::CONTENT_TYPE, mime(m.format).to_owned()),
            (header::CONTENT_LENGTH, m.size.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
