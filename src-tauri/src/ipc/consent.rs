//! Recording and withdrawing consent.

use clinshare_core::consent::{self, Consent, ConsentLevel, ConsentMethod, GivenBy, NewConsent};
use clinshare_core::patients;
use clinshare_core::IpcError;
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

use super::ipc;
use crate::AppState;

/// What the consent form sends; codes as in `clinshare consent record`.
#[derive(Debug, Deserialize, TS)]
pub struct ConsentRequest {
    #[ts(type = "number")]
    pub patient_id: i64,
    /// `record`, `care`, `teaching` or `publication`.
    pub level: String,
    /// `patient`, `parent`, `attorney` or `best-interests`.
    pub given_by: String,
    /// Required for a best-interests decision.
    pub reason: Option<String>,
    /// `verbal`, `written` or `signature`.
    pub method: String,
    /// A photo of the signed form, already imported.
    pub evidence_media_id: Option<String>,
    /// A signature drawn on screen, as SVG.
    pub signature_svg: Option<String>,
    /// Required for `care`.
    pub recipient_team: Option<String>,
    /// YYYY-MM-DD, the last day covered.
    pub expires_on: Option<String>,
    /// Photos covered; empty for all of the patient's photos.
    pub media_ids: Vec<String>,
}

#[derive(Debug, Deserialize, TS)]
pub struct WithdrawRequest {
    #[ts(type = "number")]
    pub consent_id: i64,
    pub reason: String,
}

fn unknown(what: &str) -> IpcError {
    IpcError {
        code: "consent.choice_required".into(),
        message: format!("Choose the {what}."),
    }
}

/// Record a consent (audited).
#[tauri::command]
pub fn consent_record(
    state: State<'_, AppState>,
    request: ConsentRequest,
) -> Result<Consent, IpcError> {
    state.as_clinician(|store, actor| {
        let level = ConsentLevel::from_code(&request.level).ok_or_else(|| unknown("level"))?;
        let given_by =
            GivenBy::from_code(&request.given_by).ok_or_else(|| unknown("person consenting"))?;
        let method = ConsentMethod::from_code(&request.method)
            .ok_or_else(|| unknown("way consent was given"))?;
        let expires_on = match request.expires_on.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => Some(patients::parse_date(d).map_err(ipc)?),
            _ => None,
        };
        consent::record(
            store,
            actor,
            NewConsent {
                patient_id: request.patient_id,
                level,
                given_by,
                reason: request.reason,
                method,
                evidence_media_id: request.evidence_media_id,
                signature_svg: request.signature_svg.map(String::into_bytes),
                recipient_team: request.recipient_team,
                expires_on,
                media_ids: request.media_ids,
            },
        )
        .map_err(ipc)
    })
}

/// Withdraw a consent, with the reason (audited; final).
#[tauri::command]
pub fn consent_withdraw(
    state: State<'_, AppState>,
    request: WithdrawRequest,
) -> Result<Consent, IpcError> {
    state.as_clinician(|store, actor| {
        consent::withdraw(store, actor, request.consent_id, &request.reason).map_err(ipc)
    })
}
