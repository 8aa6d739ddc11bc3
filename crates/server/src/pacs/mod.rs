//! Filing delivered referrals into one or more PACS over DICOMweb: each
//! JPEG photo becomes a VL Photographic Image ([`dicom`]), sent with
//! STOW-RS ([`stow`]) by a background worker ([`forwarder`]) from jobs the
//! store queues when a referral is delivered; consent withdrawal queues a
//! deletion.
//!
//! Configuration: `DIR/pacs.json` in the data directory (or the file given
//! with `serve --pacs-config`); without it nothing is filed.

pub mod body_site;
pub mod dicom;
pub mod forwarder;
pub mod jpeg;
pub mod stow;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The file looked for in the data directory.
pub const CONFIG_FILE: &str = "pacs.json";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacsConfig {
    pub targets: Vec<PacsTarget>,
    /// How often the worker looks for due jobs.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// First retry delay; doubled per attempt, with ±50 % jitter.
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

fn default_poll_ms() -> u64 {
    5_000
}
fn default_retry_base_ms() -> u64 {
    10_000
}
fn default_retry_max_ms() -> u64 {
    3_600_000
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacsTarget {
    /// Names the target in jobs, audit entries and `admin pacs status`.
    pub name: String,
    /// The DICOMweb root: STOW-RS goes to `{dicomweb_url}/studies`.
    pub dicomweb_url: String,
    /// Orthanc's REST root, used only to delete a study after consent
    /// withdrawal (DICOMweb has no delete). Without it the deletion job
    /// fails visibly (`pacs.delete_unsupported`) for the administrator.
    #[serde(default)]
    pub orthanc_url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// PEM file of the certificate authorities to trust for an `https`
    /// URL. Without it, the system bundle
    /// (`/etc/ssl/certs/ca-certificates.crt`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PacsTarget {
    // Credentials never reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacsTarget")
            .field("name", &self.name)
            .field("dicomweb_url", &self.dicomweb_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PacsConfigError {
    #[error("cannot read the PACS configuration {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the PACS configuration is not valid: {0}")]
    Invalid(String),
}

impl PacsConfig {
    /// `explicit`, else `DIR/pacs.json` if it exists, else `None`.
    pub fn load(data_dir: &Path, explicit: Option<&Path>) -> Result<Option<Self>, PacsConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = data_dir.join(CONFIG_FILE);
                if !p.exists() {
                    return Ok(None);
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| PacsConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let config: PacsConfig =
            serde_json::from_str(&text).map_err(|e| PacsConfigError::Invalid(e.to_string()))?;
        config.check()?;
        Ok(Some(config))
    }

    pub fn check(&self) -> Result<(), PacsConfigError> {
        let mut names = std::collections::HashSet::new();
        for t in &self.targets {
            if t.name.is_empty()
                || t.name.len() > 64
                || !t
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || !names.insert(t.name.as_str())
            {
                return Err(PacsConfigError::Invalid(
                    "each target needs a distinct name of letters, digits, '-' or '_'".into(),
                ));
            }
            for url in std::iter::once(&t.dicomweb_url).chain(t.orthanc_url.as_ref()) {
                check_url(url)?;
            }
            if t.bearer_token.is_some() && (t.username.is_some() || t.password.is_some()) {
                return Err(PacsConfigError::Invalid(format!(
                    "target {}: give basic credentials or a bearer token, not both",
                    t.name
                )));
            }
        }
        Ok(())
    }

    pub fn target_names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
}

/// `https`, or plain `http` to this machine only (credentials and patient
/// data never cross a network in the clear).
fn check_url(url: &str) -> Result<(), PacsConfigError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| PacsConfigError::Invalid(format!("{url} is not a URL")))?;
    let host = parsed.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(PacsConfigError::Invalid(format!(
            "{url}: use https (plain http only to 127.0.0.1, ::1 or localhost)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: serde_json::Value) -> Result<PacsConfig, PacsConfigError> {
        let c: PacsConfig = serde_json::from_value(serde_json::json!({ "targets": [target] }))
            .map_err(|e| PacsConfigError::Invalid(e.to_string()))?;
        c.check().map(|()| c)
    }

    #[test]
    fn plain_http_only_to_loopback_and_one_kind_of_credential() {
        for ok in [
            "https://pacs.example.nhs.uk/dicom-web",
            "http://127.0.0.1:8042/dicom-web",
            "http://[::1]:8042/dicom-web",
            "http://localhost:8042/dicom-web",
        ] {
            assert!(
                config(serde_json::json!({"name": "a", "dicomweb_url": ok})).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://pacs.example.nhs.uk/dicom-web",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(
                config(serde_json::json!({"name": "a", "dicomweb_url": bad})).is_err(),
                "{bad}"
            );
        }
        let both = serde_json::json!({"name": "a", "dicomweb_url": "https://p/",
            "username": "u", "password": "p", "bearer_token": "t"});
        assert!(config(both).is_err());
        let typo = serde_json::json!({"name": "a", "dicomweb_url": "https://p/", "pasword": "p"});
        assert!(config(typo).is_err(), "unknown fields are refused");
        let debug = format!(
            "{:?}",
            config(
                serde_json::json!({"name": "a", "dicomweb_url": "https://p/", "password": "s3cret"})
            )
            .expect("valid")
        );
        assert!(!debug.contains("s3cret"));
    }
}
