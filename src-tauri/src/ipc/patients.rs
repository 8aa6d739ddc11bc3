//! Registering and finding patients.

use clinshare_core::consent::{self, Consent};
use clinshare_core::identifiers::{IdentifierKind, PatientIdentifier};
use clinshare_core::patients::{
    self, Confirmation, NewPatient, Patient, PatientEdit, PatientHistoryEntry,
};
use clinshare_core::IpcError;
use serde::{Deserialize, Serialize};
use tauri::State;
use ts_rs::TS;

use super::ipc;
use crate::AppState;

#[derive(Debug, Deserialize, TS)]
pub struct PatientSearch {
    /// Part of a name or an identifier; empty lists everyone.
    pub text: String,
}

/// What the "add patient" form sends.
#[derive(Debug, Deserialize, TS)]
pub struct NewPatientRequest {
    /// `nhs`, `chi`, `hc` or `local`.
    pub kind: String,
    pub identifier: String,
    /// The identifier typed a second time. For a CHI number it may be left
    /// empty: the date of birth confirms it instead.
    pub identifier_again: String,
    pub family_name: String,
    pub given_name: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
}

/// What the "edit details" form sends: the same fields as for a new
/// patient. A new identifier must be typed twice (or, for CHI, agree with
/// the date of birth); leave `identifier` empty to keep the current one.
#[derive(Debug, Deserialize, TS)]
pub struct EditPatientRequest {
    #[ts(type = "number")]
    pub patient_id: i64,
    #[serde(flatten)]
    #[ts(flatten)]
    pub details: NewPatientRequest,
}

#[derive(Debug, Deserialize, TS)]
pub struct PatientRef {
    #[ts(type = "number")]
    pub patient_id: i64,
}

/// One patient's page: details, earlier details and consents.
#[derive(Debug, Serialize, TS)]
pub struct PatientRecord {
    pub patient: Patient,
    /// Earlier versions of the details, oldest first.
    pub history: Vec<PatientHistoryEntry>,
    /// Oldest first.
    pub consents: Vec<Consent>,
    /// Today, as the store sees it (YYYY-MM-DD), to judge expiry.
    pub today: String,
}

/// Find patients by name or identifier (audited as a view).
#[tauri::command]
pub fn patient_search(
    state: State<'_, AppState>,
    request: PatientSearch,
) -> Result<Vec<Patient>, IpcError> {
    state.as_clinician(|store, actor| {
        let text = request.text.trim();
        patients::search(store, actor, (!text.is_empty()).then_some(text)).map_err(ipc)
    })
}

/// Register a patient; the identifier is checked and must be confirmed.
#[tauri::command]
pub fn patient_create(
    state: State<'_, AppState>,
    request: NewPatientRequest,
) -> Result<Patient, IpcError> {
    state.as_clinician(|store, actor| {
        let kind = IdentifierKind::from_code(&request.kind).ok_or_else(|| IpcError {
            code: "identifier.kind_required".into(),
            message: "Choose the kind of identifier.".into(),
        })?;
        let local = patients::local_pattern(store).map_err(ipc)?;
        let identifier =
            PatientIdentifier::parse_as(kind, &request.identifier, local.as_ref()).map_err(ipc)?;
        let confirmation =
            if request.identifier_again.trim().is_empty() && kind == IdentifierKind::Chi {
                Confirmation::DateOfBirth
            } else {
                Confirmation::Retyped(request.identifier_again)
            };
        let date_of_birth = patients::parse_date(&request.date_of_birth).map_err(ipc)?;
        patients::create(
            store,
            actor,
            NewPatient {
                identifier,
                confirmation,
                family_name: request.family_name,
                given_name: request.given_name,
                date_of_birth,
            },
        )
        .map_err(ipc)
    })
}

/// An identifier as typed in a form, with how it was confirmed.
fn typed_identifier(
    store: &clinshare_core::Store,
    kind: &str,
    typed: &str,
    again: String,
) -> Result<(PatientIdentifier, Confirmation), IpcError> {
    let kind = IdentifierKind::from_code(kind).ok_or_else(|| IpcError {
        code: "identifier.kind_required".into(),
        message: "Choose the kind of identifier.".into(),
    })?;
    let local = patients::local_pattern(store).map_err(ipc)?;
    let identifier = PatientIdentifier::parse_as(kind, typed, local.as_ref()).map_err(ipc)?;
    let confirmation = if again.trim().is_empty() && kind == IdentifierKind::Chi {
        Confirmation::DateOfBirth
    } else {
        Confirmation::Retyped(again)
    };
    Ok((identifier, confirmation))
}

/// Change a patient's details (audited); the earlier details are kept.
#[tauri::command]
pub fn patient_edit(
    state: State<'_, AppState>,
    request: EditPatientRequest,
) -> Result<Patient, IpcError> {
    let EditPatientRequest {
        patient_id,
        details,
    } = request;
    state.as_clinician(|store, actor| {
        let identifier = match details.identifier.trim() {
            "" => None,
            typed => Some(typed_identifier(
                store,
                &details.kind,
                typed,
                details.identifier_again,
            )?),
        };
        let date_of_birth = patients::parse_date(&details.date_of_birth).map_err(ipc)?;
        patients::edit(
            store,
            actor,
            patient_id,
            PatientEdit {
                identifier,
                family_name: Some(details.family_name),
                given_name: Some(details.given_name),
                date_of_birth: Some(date_of_birth),
            },
        )
        .map_err(ipc)
    })
}

/// Open one patient's record: details and consents (audited as a view).
#[tauri::command]
pub fn patient_get(
    state: State<'_, AppState>,
    request: PatientRef,
) -> Result<PatientRecord, IpcError> {
    state.as_clinician(|store, actor| {
        let patient = patients::open(store, actor, request.patient_id).map_err(ipc)?;
        let consents = consent::for_patient(store, patient.id).map_err(ipc)?;
        let history = patients::history(store, patient.id).map_err(ipc)?;
        Ok(PatientRecord {
            patient,
            history,
            consents,
            today: patients::format_date(patients::today()),
        })
    })
}
