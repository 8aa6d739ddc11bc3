//! Enrolment, the directory, and one pass over the outbox.

use std::time::Duration;

use clinshare_protocol::referral::ReferralManifest;
use clinshare_protocol::upload::UploadState;
use serde::Serialize;
use ts_rs::TS;

use super::{device, Client, SyncError};
use crate::directory;
use crate::enrolment::{self, Enrolment};
use crate::keyvault::KeyVault;
use crate::referrals::{self, Block, ReferralState};
use crate::session::Actor;
use crate::store::Store;

/// Bytes per upload request: small enough that progress shows and a
/// dropped connection loses little.
const CHUNK: usize = 1024 * 1024;
const ATTEMPTS: u32 = 5;

/// Retry network trouble and server errors with exponential backoff and
/// jitter; refusals (4xx) are returned at once.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, SyncError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SyncError>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && attempt + 1 < ATTEMPTS => {
                let base = 200u64 << attempt;
                let mut jitter = [0u8; 2];
                let _ = getrandom::fill(&mut jitter);
                let jitter = u64::from(u16::from_le_bytes(jitter)) % base.max(1);
                tokio::time::sleep(Duration::from_millis((base + jitter).min(8_000))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Enrol this laptop: make its key pair (kept in the keyring), present the
/// one-time code, and keep the server's address, pin and signing key.
pub async fn enrol(
    store: &mut Store,
    vault: &dyn KeyVault,
    actor: &Actor,
    server_url: &str,
    code: &str,
    pin: &str,
    device_name: &str,
) -> Result<Enrolment, SyncError> {
    let key = device::create(vault, store.data_dir())?;
    let client = Client::new(server_url, pin, key, None)?;
    let answer = client.enrol(code, device_name).await?;
    let e = Enrolment {
        server_url: server_url.trim().trim_end_matches('/').to_owned(),
        spki_sha256: pin.trim().to_ascii_lowercase(),
        device_id: answer.device_id,
        server_signing_key: answer.server_signing_key,
        server_key_id: answer.server_key_id,
        enrolled_at: crate::clock::now_rfc3339(),
    };
    enrolment::save(store, actor, &e)?;
    Ok(e)
}

/// A signed-in connection to the enrolled server.
pub async fn connect(
    store: &Store,
    vault: &dyn KeyVault,
    username: &str,
    password: &str,
) -> Result<Client, SyncError> {
    let e = enrolment::get(store)?.ok_or(SyncError::NotEnrolled)?;
    let key = device::load(vault, store.data_dir())?.ok_or(SyncError::DeviceKeyMissing)?;
    let mut client = Client::new(&e.server_url, &e.spki_sha256, key, Some(e.device_id))?;
    let token = retrying(|| client.sign_in(username, password)).await?;
    client.use_token(token);
    Ok(client)
}

/// Fetch the directory and keep it if the server's signature holds.
pub async fn refresh_directory(store: &mut Store, client: &Client) -> Result<(), SyncError> {
    let signed = retrying(|| client.directory()).await?;
    directory::store_fetched(store, &signed)?;
    Ok(())
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct SyncReport {
    pub delivered: Vec<String>,
    /// Referrals that stay blocked, with their reasons.
    pub blocked: Vec<(String, Vec<Block>)>,
    /// Refused by the server, with its message.
    pub failed: Vec<(String, String)>,
    /// Still queued (the server could not be reached); tried next time.
    pub waiting: Vec<String>,
}

/// Refresh the directory, run the gate over the outbox and send what is
/// clear, each referral exactly once.
pub async fn sync_pass(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    today: time::Date,
) -> Result<SyncReport, SyncError> {
    refresh_directory(store, client).await?;
    let server_key = enrolment::get(store)?
        .ok_or(SyncError::NotEnrolled)?
        .server_signing_key;
    let clear = referrals::recheck_outbox(store, today)?;
    let mut report = SyncReport::default();
    for r in referrals::list(store, None)? {
        if r.state == ReferralState::Blocked {
            report.blocked.push((r.id, r.blocked));
        }
    }
    for (id, manifest) in clear {
        referrals::set_state(store, &id, ReferralState::Sending, None)?;
        match send_one(store, client, actor, &id, &manifest, &server_key).await {
            Ok(()) => report.delivered.push(id),
            Err(e) if e.is_retryable() => {
                referrals::set_state(store, &id, ReferralState::Queued, None)?;
                report.waiting.push(id);
            }
            Err(e) => {
                let reason = Block {
                    code: crate::error::ErrorCode::code(&e).to_owned(),
                    message: e.to_string(),
                    media_id: None,
                };
                referrals::set_state(store, &id, ReferralState::Failed, Some(&[reason]))?;
                report.failed.push((id, e.to_string()));
            }
        }
    }
    Ok(report)
}

async fn send_one(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    id: &str,
    manifest: &ReferralManifest,
    server_key: &str,
) -> Result<(), SyncError> {
    let status = retrying(|| client.submit(manifest)).await?;
    let files = referrals::media_bytes(store, id)?;
    let mut receipt = status.receipt.clone();
    for (item, bytes) in manifest.media.iter().zip(&files) {
        let held = status.media.iter().find(|m| m.sha256 == item.sha256);
        if held.is_some_and(|m| m.state == UploadState::Verified) {
            continue;
        }
        let mut offset = held.map_or(0, |m| m.offset);
        while offset < bytes.len() as u64 {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = (start + CHUNK).min(bytes.len());
            let chunk = bytes[start..end].to_vec();
            let sent = retrying(|| {
                client.put_chunk(&status.referral_id, &item.sha256, offset, chunk.clone())
            })
            .await;
            match sent {
                Ok(answer) => {
                    offset = answer.upload.offset;
                    if answer.receipt.is_some() {
                        receipt = answer.receipt;
                    }
                    if answer.upload.state == UploadState::Verified {
                        break;
                    }
                }
                // The server holds a different amount: continue from there.
                Err(SyncError::OffsetMismatch(current)) => offset = current,
                Err(e) => return Err(e),
            }
        }
    }
    if receipt.is_none() {
        receipt = retrying(|| client.status(&status.referral_id))
            .await?
            .receipt;
    }
    let receipt = receipt.ok_or(SyncError::Protocol(
        "the server has not confirmed delivery".to_owned(),
    ))?;
    let expected: Vec<&str> = manifest.media.iter().map(|m| m.sha256.as_str()).collect();
    let got: Vec<&str> = receipt
        .payload
        .media_sha256
        .iter()
        .map(String::as_str)
        .collect();
    if !directory::verify_signed(&receipt, server_key)
        || receipt.payload.idempotency_key != manifest.idempotency_key
        || got != expected
    {
        return Err(SyncError::BadReceipt);
    }
    let json = serde_json::to_string(&receipt).map_err(|e| SyncError::Protocol(e.to_string()))?;
    referrals::mark_delivered(store, actor, id, &receipt.payload.referral_id, &json)?;
    Ok(())
}
