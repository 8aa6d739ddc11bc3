//! The background worker that runs PACS jobs: claims a due job (a lease,
//! so instances sharing a database never run one twice at once), files or
//! deletes, and records the outcome. A failed attempt is retried with
//! exponential backoff and jitter, for ever: the administrator sees the
//! error code in `admin pacs status` and in the audit trail. Logs carry the
//! referral id, target and error code only.

use std::collections::HashMap;
use std::sync::Arc;

use clinshare_protocol::referral::MediaFormat;

use super::dicom::{self, PhotoFacts, StudyFacts};
use super::stow::{PacsClient, StowError};
use super::PacsConfig;
use crate::state::AppState;
use crate::store::{AuditRecord, PacsJob, PacsJobKind, PacsOutcome, StoreError};

/// A worker holds a job this long; a crashed worker's job runs again after.
const LEASE_SECS: i64 = 600;

pub mod action {
    pub const PACS_STORE: &str = "pacs_store";
    pub const PACS_DELETE: &str = "pacs_delete";
}

pub struct Forwarder {
    state: AppState,
    config: Arc<PacsConfig>,
    clients: HashMap<String, PacsClient>,
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Pacs(#[from] StowError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Permanent(&'static str),
    #[error("blob: {0}")]
    Blob(String),
}

impl JobError {
    fn code(&self) -> String {
        match self {
            JobError::Pacs(e) => e.code(),
            JobError::Store(_) => "pacs.store_unavailable".into(),
            JobError::Permanent(c) => (*c).into(),
            JobError::Blob(_) => "pacs.blob_unreadable".into(),
        }
    }

    fn retry(&self) -> bool {
        !matches!(
            self,
            JobError::Permanent(_) | JobError::Pacs(StowError::DeleteUnsupported)
        )
    }
}

impl Forwarder {
    pub fn new(state: AppState, config: Arc<PacsConfig>) -> Result<Self, StowError> {
        let mut clients = HashMap::new();
        for t in &config.targets {
            clients.insert(t.name.clone(), PacsClient::new(t.clone())?);
        }
        Ok(Forwarder {
            state,
            config,
            clients,
        })
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = %e, "PACS queue unavailable");
            }
            tokio::time::sleep(self.config.poll_interval()).await;
        }
    }

    /// Runs every job that is due now; returns how many ran.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        while let Some(job) = self
            .state
            .store
            .claim_pacs_job(crate::clock::now(), LEASE_SECS)
            .await?
        {
            self.run_job(&job).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn run_job(&self, job: &PacsJob) -> Result<(), StoreError> {
        let result = match job.kind {
            PacsJobKind::Store => self.file(job).await,
            PacsJobKind::Delete => self.delete(job).await,
        };
        let now = crate::clock::now();
        let (outcome, audit_outcome) = match result {
            Ok(true) => (PacsOutcome::Done, "ok".to_owned()),
            Ok(false) => (PacsOutcome::Cancelled, "cancelled".to_owned()),
            Err(e) => {
                let code = e.code();
                tracing::warn!(
                    referral = %job.referral_id,
                    target = %job.target,
                    kind = job.kind.code(),
                    error = %code,
                    attempts = job.attempts + 1,
                    "PACS job failed"
                );
                if e.retry() {
                    let at = now + self.backoff_secs(job.attempts);
                    (
                        PacsOutcome::Retry {
                            at,
                            error: code.clone(),
                        },
                        code,
                    )
                } else {
                    (
                        PacsOutcome::Failed {
                            error: code.clone(),
                        },
                        code,
                    )
                }
            }
        };
        self.state
            .store
            .finish_pacs_job(&job.referral_id, &job.target, job.kind, outcome, now)
            .await?;
        self.state
            .store
            .append_audit(AuditRecord {
                at: now,
                actor: "-".into(),
                device: format!("pacs:{}", job.target),
                action: match job.kind {
                    PacsJobKind::Store => action::PACS_STORE,
                    PacsJobKind::Delete => action::PACS_DELETE,
                }
                .into(),
                object: job.referral_id.clone(),
                outcome: audit_outcome,
                patient: None,
            })
            .await
    }

    /// base × 2^attempts, capped, times a random factor in [0.5, 1.5) so
    /// many jobs failing together do not retry together.
    fn backoff_secs(&self, attempts: i64) -> i64 {
        let exp = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let ms = self
            .config
            .retry_base_ms
            .saturating_mul(1u64 << exp)
            .min(self.config.retry_max_ms);
        let mut r = [0u8; 2];
        let jitter = if getrandom::fill(&mut r).is_ok() {
            0.5 + f64::from(u16::from_le_bytes(r)) / 65536.0
        } else {
            1.0
        };
        ((ms as f64 * jitter) / 1000.0).ceil().max(1.0) as i64
    }

    fn client(&self, job: &PacsJob) -> Result<&PacsClient, JobError> {
        self.clients
            .get(&job.target)
            .ok_or(JobError::Permanent("pacs.target_not_configured"))
    }

    /// `Ok(false)`: cancelled (consent withdrawn before filing).
    async fn file(&self, job: &PacsJob) -> Result<bool, JobError> {
        let client = self.client(job)?;
        let store = &self.state.store;
        let r = store
            .referral(&job.referral_id)
            .await?
            .ok_or(JobError::Permanent("pacs.referral_missing"))?;
        if r.consent_withdrawn_at.is_some() {
            return Ok(false);
        }
        // Only JPEG goes in as is; converting other formats would file
        // pixels the clinician never saw, so they are refused visibly.
        if r.manifest
            .media
            .iter()
            .any(|m| m.format != MediaFormat::Jpeg)
        {
            return Err(JobError::Permanent("pacs.unsupported_format"));
        }
        let sender = store
            .user(&r.sender_user_id)
            .await?
            .map(|u| u.name)
            .unwrap_or_default();
        let team = store
            .team(&r.recipient_team_id)
            .await?
            .map(|t| t.name)
            .unwrap_or_default();
        let patient = &r.manifest.patient;
        // DICOM person names are FAMILY^Given; dates YYYYMMDD.
        let patient_name = patient
            .family_name
            .as_ref()
            .map(|f| format!("{f}^{}", patient.given_name.as_deref().unwrap_or("")));
        let birth_date = patient
            .date_of_birth
            .as_ref()
            .map(|d| d.replace('-', ""))
            .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
        let facts = StudyFacts {
            referral_id: &r.id,
            manifest: &r.manifest,
            patient_name: patient_name.as_deref(),
            birth_date: birth_date.as_deref(),
            sender_name: &sender,
            team_name: &team,
            delivered_at: r.delivered_at.unwrap_or(r.created_at),
        };
        for (i, m) in r.manifest.media.iter().enumerate() {
            let jpeg = self
                .state
                .blobs
                .read_verified(&r.id, &m.sha256)
                .await
                .map_err(|e| JobError::Blob(e.to_string()))?;
            let part10 = dicom::encode(
                &facts,
                &PhotoFacts {
                    sha256: &m.sha256,
                    jpeg: &jpeg,
                    instance_number: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    body_site: m.body_site.as_deref(),
                    captured_at: m.captured_at.as_deref().and_then(wall_clock_seconds),
                },
            )
            .map_err(|_| JobError::Permanent("pacs.unsupported_jpeg"))?;
            client.store(part10).await?;
        }
        // Withdrawn while this ran: the copy just filed must go again.
        if store
            .referral(&r.id)
            .await?
            .is_some_and(|r| r.consent_withdrawn_at.is_some())
        {
            store
                .queue_pacs_job(&r.id, &job.target, PacsJobKind::Delete, crate::clock::now())
                .await?;
        }
        Ok(true)
    }

    async fn delete(&self, job: &PacsJob) -> Result<bool, JobError> {
        let client = self.client(job)?;
        client
            .delete_study(&dicom::study_uid(&job.referral_id))
            .await?;
        Ok(true)
    }
}

/// Starts the worker if PACS targets are configured.
pub fn spawn(state: AppState) -> Result<Option<tokio::task::JoinHandle<()>>, StowError> {
    let Some(config) = state.pacs.clone() else {
        return Ok(None);
    };
    let forwarder = Forwarder::new(state, config)?;
    Ok(Some(tokio::spawn(forwarder.run())))
}

/// A camera's wall-clock time (`YYYY-MM-DDTHH:MM:SS`, no zone) as the
/// seconds the encoder formats back into DICOM's zone-less date and time:
/// read as UTC so the digits come out as the camera recorded them.
fn wall_clock_seconds(text: &str) -> Option<i64> {
    let format = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day]T[hour]:[minute]:[second]",
    )
    .ok()?;
    let head = text.get(..19)?;
    time::PrimitiveDateTime::parse(head, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod wall_clock_tests {
    use super::wall_clock_seconds;

    #[test]
    fn camera_times_keep_their_digits_and_junk_is_ignored() {
        assert_eq!(wall_clock_seconds("1970-01-01T00:01:05"), Some(65));
        assert_eq!(
            wall_clock_seconds("2026-11-20T10:15:00.123+01:00"),
            wall_clock_seconds("2026-11-20T10:15:00")
        );
        assert_eq!(wall_clock_seconds("20 Nov 2026"), None);
        assert_eq!(wall_clock_seconds(""), None);
    }
}
