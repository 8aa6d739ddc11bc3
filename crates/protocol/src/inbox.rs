//! A recipient team's inbox: `GET /v1/inbox`, `GET /v1/inbox/{id}`,
//! `GET /v1/inbox/{id}/media/{sha256}`, `POST /v1/inbox/{id}/ack`.

use serde::{Deserialize, Serialize};

use crate::referral::{ConsentSummary, MediaItem, PatientRef, ReferralState, Urgency};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    pub referral_id: String,
    pub recipient_team: String,
    pub urgency: Urgency,
    pub state: ReferralState,
    pub delivered_at: String,
    pub acknowledged_at: Option<String>,
    pub consent_withdrawn: bool,
    /// When the sender reported the withdrawal (RFC 3339). Added after
    /// protocol version 1's first release: optional both ways, so older
    /// clients and servers still read each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_withdrawn_at: Option<String>,
}

/// One referral. Once consent is withdrawn the server keeps (and sends)
/// only the referral's reference, its teams, sender, dates and the
/// consent's summary: `patient.value` and `clinical_question` are empty,
/// the name and date of birth absent and `media` empty. The fields stay
/// so older clients still read the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxReferral {
    pub item: InboxItem,
    pub patient: PatientRef,
    pub consent: ConsentSummary,
    pub clinical_question: String,
    /// Empty once consent was withdrawn: the files are no longer available.
    pub media: Vec<MediaItem>,
    pub sender_name: String,
    pub sender_team: Option<String>,
}
