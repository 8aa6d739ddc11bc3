//! The PACS side over HTTP: STOW-RS to store an instance, and Orthanc's
//! REST API to delete a study (DICOMweb has no delete). Errors are codes
//! only: a response body may echo patient data, so it is never kept.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode};

use super::PacsTarget;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StowError {
    #[error("the PACS could not be reached")]
    Unreachable,
    #[error("the PACS refused the credentials")]
    Unauthorised,
    #[error("the PACS answered HTTP {0}")]
    Status(u16),
    #[error("the PACS refused the instance (failure reason {0})")]
    Refused(u16),
    #[error("the PACS answer could not be read")]
    BadAnswer,
    #[error("this PACS offers no way to delete a study")]
    DeleteUnsupported,
    #[error("the PACS client could not be set up: {0}")]
    Setup(String),
}

impl StowError {
    /// Stable code for jobs and audit entries.
    pub fn code(&self) -> String {
        match self {
            StowError::Unreachable => "pacs.unreachable".into(),
            StowError::Unauthorised => "pacs.unauthorised".into(),
            StowError::Status(s) => format!("pacs.http_{s}"),
            StowError::Refused(r) => format!("pacs.refused_{r:04x}"),
            StowError::BadAnswer => "pacs.bad_answer".into(),
            StowError::DeleteUnsupported => "pacs.delete_unsupported".into(),
            StowError::Setup(_) => "pacs.setup".into(),
        }
    }
}

/// SOP instance already stored (PS3.4 Table GG.4-1 / Orthanc's answer to a
/// duplicate): a retry found the first attempt's copy.
const ALREADY_STORED: u16 = 0x0111;

pub struct PacsClient {
    target: PacsTarget,
    http: Client,
}

/// Roots from the CA file (or the system bundle) for https targets; an
/// empty store for loopback http ones, so reqwest never looks for a
/// process-wide provider.
fn tls_config(target: &PacsTarget, https: bool) -> Result<rustls::ClientConfig, StowError> {
    let mut roots = rustls::RootCertStore::empty();
    if https {
        add_roots(target, &mut roots)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StowError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn add_roots(target: &PacsTarget, roots: &mut rustls::RootCertStore) -> Result<(), StowError> {
    let path = target
        .ca_file
        .clone()
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let pem =
        std::fs::read(&path).map_err(|e| StowError::Setup(format!("{}: {e}", path.display())))?;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| StowError::Setup(format!("{}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| StowError::Setup(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

impl PacsClient {
    pub fn new(target: PacsTarget) -> Result<Self, StowError> {
        let https = std::iter::once(&target.dicomweb_url)
            .chain(target.orthanc_url.as_ref())
            .any(|u| u.starts_with("https:"));
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .use_preconfigured_tls(tls_config(&target, https)?)
            .build()
            .map_err(|e| StowError::Setup(e.to_string()))?;
        Ok(PacsClient { target, http })
    }

    pub fn name(&self) -> &str {
        &self.target.name
    }

    fn authorise(&self, r: RequestBuilder) -> RequestBuilder {
        if let Some(t) = &self.target.bearer_token {
            r.bearer_auth(t)
        } else if let Some(u) = &self.target.username {
            r.basic_auth(u, self.target.password.as_ref())
        } else {
            r
        }
    }

    /// STOW-RS of one Part 10 instance. Success also when the PACS says
    /// it already holds it.
    pub async fn store(&self, part10: Vec<u8>) -> Result<(), StowError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| StowError::Setup(e.to_string()))?;
        let boundary = format!("clinshare-{}", hex::encode(nonce));
        let mut body = Vec::with_capacity(part10.len() + 256);
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&part10);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type =
            format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
        let url = format!("{}/studies", self.target.dicomweb_url.trim_end_matches('/'));
        let resp = self
            .authorise(self.http.post(url))
            .header(
                CONTENT_TYPE,
                HeaderValue::from_str(&content_type).map_err(|_| StowError::BadAnswer)?,
            )
            .header(ACCEPT, "application/dicom+json")
            .body(body)
            .send()
            .await
            .map_err(|_| StowError::Unreachable)?;
        let status = resp.status();
        match status {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(StowError::Unauthorised),
            // Partial success or conflict: success only if every failure
            // is "already stored".
            StatusCode::ACCEPTED | StatusCode::CONFLICT => {
                let answer = json_body(resp).await?;
                match failure_reasons(&answer)
                    .into_iter()
                    .find(|r| *r != ALREADY_STORED)
                {
                    None => Ok(()),
                    Some(r) => Err(StowError::Refused(r)),
                }
            }
            s => Err(StowError::Status(s.as_u16())),
        }
    }

    /// Deletes the study through Orthanc's REST API: `/tools/lookup` finds
    /// Orthanc's id for the Study Instance UID, then `DELETE /studies/{id}`.
    /// A study the PACS does not hold counts as deleted.
    pub async fn delete_study(&self, study_uid: &str) -> Result<(), StowError> {
        let base = self
            .target
            .orthanc_url
            .as_deref()
            .ok_or(StowError::DeleteUnsupported)?
            .trim_end_matches('/');
        let resp = self
            .authorise(self.http.post(format!("{base}/tools/lookup")))
            .body(study_uid.to_owned())
            .send()
            .await
            .map_err(|_| StowError::Unreachable)?;
        check(resp.status())?;
        let found = json_body(resp).await?;
        let ids: Vec<String> = found
            .as_array()
            .ok_or(StowError::BadAnswer)?
            .iter()
            .filter(|e| e["Type"] == "Study")
            .filter_map(|e| e["ID"].as_str().map(str::to_owned))
            .collect();
        for id in ids {
            let resp = self
                .authorise(self.http.delete(format!("{base}/studies/{id}")))
                .send()
                .await
                .map_err(|_| StowError::Unreachable)?;
            if resp.status() != StatusCode::NOT_FOUND {
                check(resp.status())?;
            }
        }
        Ok(())
    }
}

async fn json_body(resp: reqwest::Response) -> Result<serde_json::Value, StowError> {
    let bytes = resp.bytes().await.map_err(|_| StowError::Unreachable)?;
    serde_json::from_slice(&bytes).map_err(|_| StowError::BadAnswer)
}

fn check(s: StatusCode) -> Result<(), StowError> {
    match s {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(StowError::Unauthorised),
        s => Err(StowError::Status(s.as_u16())),
    }
}

/// Failure Reason (0008,1197) of each Failed SOP Sequence (0008,1198)
/// item in a DICOM JSON answer.
fn failure_reasons(answer: &serde_json::Value) -> Vec<u16> {
    answer["00081198"]["Value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    i["00081197"]["Value"][0]
                        .as_u64()
                        .and_then(|v| u16::try_from(v).ok())
                        .unwrap_or(0)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn already_stored_is_the_only_accepted_failure() {
        let answer = serde_json::json!({"00081198": {"vr": "SQ", "Value": [
            {"00081197": {"vr": "US", "Value": [273]}},
            {"00081197": {"vr": "US", "Value": [49152]}}
        ]}});
        assert_eq!(super::failure_reasons(&answer), vec![0x0111, 0xC000]);
        assert!(super::failure_reasons(&serde_json::json!({})).is_empty());
    }
}
