//! The recipient's inbox: referrals addressed to the clinician's teams on
//! the approved server. Opening one downloads its photos into the
//! encrypted store (checked against the manifest and the media verifier);
//! the window shows them through the `media:` scheme.

use std::collections::HashMap;

use clinshare_core::identifiers::{IdentifierKind, PatientIdentifier};
use clinshare_core::{directory, inbox, IpcError, Store};
use clinshare_protocol::inbox::{InboxItem, InboxReferral};
use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use ts_rs::TS;

use crate::online::with_server;

/// One referral in the inbox list.
#[derive(Debug, Serialize, TS)]
pub struct InboxEntry {
    pub referral_id: String,
    pub recipient_team: String,
    /// The team's name from the signed directory, when it lists it.
    pub recipient_team_name: Option<String>,
    /// `routine` or `urgent`.
    pub urgency: String,
    /// The server's state: `delivered` or `acknowledged`.
    pub state: String,
    pub delivered_at: String,
    pub acknowledged_at: Option<String>,
    pub consent_withdrawn: bool,
    /// When consent was withdrawn (RFC 3339); a server from before it sent
    /// this gives none.
    pub consent_withdrawn_at: Option<String>,
}

/// One photo of an opened referral, already in the store.
#[derive(Debug, Serialize, TS)]
pub struct InboxPhoto {
    pub sha256: String,
    pub format: String,
    #[ts(type = "number")]
    pub size: u64,
}

/// An opened referral.
#[derive(Debug, Serialize, TS)]
pub struct InboxDetail {
    pub entry: InboxEntry,
    /// `nhs`, `chi`, `hc` or `local`, and the identifier as printed.
    pub identifier_kind: String,
    pub identifier: String,
    /// `DOE, Jane` and `YYYY-MM-DD`, when the sender's app sent them.
    pub patient_name: Option<String>,
    pub date_of_birth: Option<String>,
    pub clinical_question: String,
    pub sender_name: String,
    /// The sender's team's name from the signed directory, when it lists it.
    pub sender_team_name: Option<String>,
    /// The consent as the sender recorded it.
    pub consent_level: String,
    pub consent_given_by: String,
    pub consent_recorded_by: String,
    pub consent_recorded_at: String,
    pub photos: Vec<InboxPhoto>,
}

#[derive(Debug, Deserialize, TS)]
pub struct InboxRef {
    pub referral_id: String,
}

/// Wire enums as their serde spelling, the codes the screens match on.
fn code<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Team names by id, from the cached signed directory (empty without one).
fn team_names(store: &Store) -> HashMap<String, String> {
    directory::current(store)
        .map(|c| {
            c.directory
                .teams
                .into_iter()
                .map(|t| (t.team_id, t.name))
                .collect()
        })
        .unwrap_or_default()
}

fn entry(i: InboxItem, names: &HashMap<String, String>) -> InboxEntry {
    InboxEntry {
        urgency: code(&i.urgency),
        state: code(&i.state),
        recipient_team_name: names.get(&i.recipient_team).cloned(),
        referral_id: i.referral_id,
        recipient_team: i.recipient_team,
        delivered_at: i.delivered_at,
        acknowledged_at: i.acknowledged_at,
        consent_withdrawn: i.consent_withdrawn,
        consent_withdrawn_at: i.consent_withdrawn_at,
    }
}

fn detail(r: InboxReferral, names: &HashMap<String, String>) -> InboxDetail {
    let kind = code(&r.patient.kind);
    // The server checked the identifier; spaced as people read it only when
    // it has the national ten digits, shown as sent otherwise.
    let national =
        r.patient.value.len() == 10 && r.patient.value.bytes().all(|b| b.is_ascii_digit());
    let identifier = if national || r.patient.kind == IdentifierKind::Local {
        PatientIdentifier::from_stored(r.patient.kind, r.patient.value.clone()).display()
    } else {
        r.patient.value.clone()
    };
    InboxDetail {
        photos: r
            .media
            .iter()
            .map(|m| InboxPhoto {
                sha256: m.sha256.clone(),
                format: code(&m.format),
                size: m.size,
            })
            .collect(),
        identifier_kind: kind,
        identifier,
        patient_name: r.patient.family_name.as_ref().map(|f| {
            let given = r.patient.given_name.as_deref().unwrap_or("");
            format!("{}, {given}", f.to_uppercase())
        }),
        date_of_birth: r.patient.date_of_birth.clone(),
        clinical_question: r.clinical_question,
        sender_name: r.sender_name,
        sender_team_name: r.sender_team.and_then(|t| names.get(&t).cloned()),
        consent_level: code(&r.consent.level),
        consent_given_by: code(&r.consent.given_by),
        consent_recorded_by: r.consent.recorded_by,
        consent_recorded_at: r.consent.recorded_at,
        entry: entry(r.item, names),
    }
}

/// Referrals delivered to my teams (fetched from the approved server).
#[tauri::command]
pub async fn inbox_list(app: AppHandle) -> Result<Vec<InboxEntry>, IpcError> {
    with_server(&app, async |store, client, _| {
        let items = inbox::list(store, client).await?;
        let names = team_names(store);
        Ok(items.into_iter().map(|i| entry(i, &names)).collect())
    })
    .await
}

/// Open a referral (audited) and bring its photos into the store.
#[tauri::command]
pub async fn inbox_open(app: AppHandle, request: InboxRef) -> Result<InboxDetail, IpcError> {
    with_server(&app, async move |store, client, actor| {
        let r = inbox::open(store, client, actor, &request.referral_id).await?;
        for item in &r.media {
            inbox::photo(store, client, actor, &request.referral_id, item).await?;
        }
        Ok(detail(r, &team_names(store)))
    })
    .await
}

/// Acknowledge a referral for the team (audited here and on the server).
#[tauri::command]
pub async fn inbox_ack(app: AppHandle, request: InboxRef) -> Result<InboxEntry, IpcError> {
    with_server(&app, async move |store, client, actor| {
        let item = inbox::acknowledge(store, client, actor, &request.referral_id).await?;
        Ok(entry(item, &team_names(store)))
    })
    .await
}
