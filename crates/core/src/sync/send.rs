//! Enrolment, the directory, and one pass over the outbox.

use std::time::Duration;

use clinshare_protocol::referral::{ReferralManifest, ReferralState as ServerState};
use clinshare_protocol::upload::UploadState;
use serde::Serialize;
use ts_rs::TS;

use super::progress::{Observer, ProgressState, Tracker};
use super::{device, Client, SyncError};
use crate::directory;
use crate::enrolment::{self, Enrolment};
use crate::keyvault::KeyVault;
use crate::referrals::{self, withdrawal, Block, ReferralState};
use crate::retention::{self, PurgeReport};
use crate::session::Actor;
use crate::store::Store;

/// Bytes per upload request: a typical photo (≤ 4 MiB) in one request,
/// as the server syncs every chunk to disk before answering (1 MiB chunks
/// cost a round trip and an fsync per MiB); half the server's 8 MiB limit,
/// so a dropped connection loses little and large videos still show
/// progress.
const CHUNK: usize = 4 * 1024 * 1024;
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
    /// Delivered referrals the recipient team has now acknowledged.
    pub acknowledged: Vec<String>,
    /// Consent withdrawals the server has now been told about.
    pub withdrawals_sent: Vec<String>,
    /// Withdrawal notices still to send, with why (tried next time).
    pub withdrawals_pending: Vec<(String, String)>,
    /// Sent photos whose bytes retention removed at the end of the pass.
    pub purged: PurgeReport,
}

/// The fixed reason given to the server: the clinician's own words may
/// name the patient, and the server only needs to know consent ended.
const WITHDRAWAL_REASON: &str = "Consent withdrawn; recorded on the sending laptop.";

/// Refresh the directory, run the gate over the outbox and send what is
/// clear, each referral exactly once; then tell the server of consent
/// withdrawals, pick up acknowledgements, and purge sent photos whose
/// retention period is over ([`retention::purge_expired`]).
///
/// `progress` hears about every referral as it goes. The pass holds
/// `store` across network waits: the app gives it a connection of its own
/// (`Store::open` again, on its outbox thread).
pub async fn sync_pass(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    today: time::Date,
    progress: Observer<'_>,
) -> Result<SyncReport, SyncError> {
    refresh_directory(store, client).await?;
    let server_key = enrolment::get(store)?
        .ok_or(SyncError::NotEnrolled)?
        .server_signing_key;
    // A pass that was killed left these half-sent: the idempotency key and
    // the server's offsets make sending them again safe.
    referrals::requeue_interrupted(store)?;
    let clear = referrals::recheck_outbox(store, today)?;
    let mut report = SyncReport::default();
    for r in referrals::list(store, None)? {
        if r.state == ReferralState::Blocked {
            report.blocked.push((r.id, r.blocked));
        }
    }
    let total: u64 = clear
        .iter()
        .flat_map(|(_, m)| m.media.iter().map(|i| i.size))
        .sum();
    let mut tracker = Tracker::new(progress, total);
    let mut offline = false;
    for (id, manifest) in clear {
        let size: u64 = manifest.media.iter().map(|i| i.size).sum();
        if offline {
            // Once the server is unreachable, the rest wait for next time
            // instead of each timing out in turn.
            tracker.emit(&id, ProgressState::Waiting, 0, size, 0);
            report.waiting.push(id);
            continue;
        }
        tracker.emit(&id, ProgressState::Starting, 0, size, 0);
        referrals::set_state(store, &id, ReferralState::Sending, None)?;
        let mut sent = 0;
        match send_one(
            store,
            client,
            actor,
            &id,
            &manifest,
            &server_key,
            &mut tracker,
            &mut sent,
        )
        .await
        {
            Ok(()) => {
                tracker.emit(
                    &id,
                    ProgressState::Delivered,
                    size,
                    size,
                    size - sent.min(size),
                );
                report.delivered.push(id);
            }
            Err(e) if e.is_retryable() => {
                referrals::set_state(store, &id, ReferralState::Queued, None)?;
                tracker.emit(&id, ProgressState::Waiting, sent, size, 0);
                offline = matches!(e, SyncError::Offline(_));
                report.waiting.push(id);
            }
            Err(e) => {
                let reason = Block {
                    code: crate::error::ErrorCode::code(&e).to_owned(),
                    message: e.to_string(),
                    media_id: None,
                };
                referrals::set_state(store, &id, ReferralState::Failed, Some(&[reason]))?;
                tracker.emit(&id, ProgressState::Failed, sent, size, 0);
                report.failed.push((id, e.to_string()));
            }
        }
    }
    if !offline {
        send_withdrawals(store, client, actor, &mut report).await?;
        check_acknowledgements(store, client, actor, &mut report).await?;
    }
    report.purged = retention::purge_expired(store, actor, time::OffsetDateTime::now_utc())?;
    Ok(report)
}

/// Post pending consent-withdrawal notices (signed, retried), each
/// audited once the server confirms.
async fn send_withdrawals(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    for notice in withdrawal::pending(store)? {
        match retrying(|| client.withdraw_consent(&notice.server_referral_id, WITHDRAWAL_REASON))
            .await
        {
            Ok(status) if status.consent_withdrawn => {
                withdrawal::mark_sent(store, actor, &notice)?;
                report.withdrawals_sent.push(notice.referral_id);
            }
            Ok(_) => {
                withdrawal::record_failure(store, &notice.referral_id, "sync.protocol")?;
                report.withdrawals_pending.push((
                    notice.referral_id,
                    "The server did not confirm the withdrawal.".to_owned(),
                ));
            }
            Err(e) => {
                withdrawal::record_failure(
                    store,
                    &notice.referral_id,
                    crate::error::ErrorCode::code(&e),
                )?;
                let retry = e.is_retryable();
                report
                    .withdrawals_pending
                    .push((notice.referral_id, e.to_string()));
                if retry {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Ask the server about delivered referrals; mark those the recipient
/// team acknowledged.
async fn check_acknowledgements(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    for (id, server_id) in referrals::awaiting_acknowledgement(store)? {
        match client.status(&server_id).await {
            Ok(status) if status.state == ServerState::Acknowledged => {
                referrals::mark_acknowledged(store, actor, &id)?;
                report.acknowledged.push(id);
            }
            Ok(_) => {}
            // Only a courtesy: trouble here waits for the next pass.
            Err(e) if e.is_retryable() => break,
            Err(_) => {}
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn send_one(
    store: &mut Store,
    client: &Client,
    actor: &Actor,
    id: &str,
    manifest: &ReferralManifest,
    server_key: &str,
    tracker: &mut Tracker<'_>,
    sent: &mut u64,
) -> Result<(), SyncError> {
    let status = retrying(|| client.submit(manifest)).await?;
    let files = referrals::media_bytes(store, id)?;
    let total: u64 = manifest.media.iter().map(|i| i.size).sum();
    // What the server already holds counts as sent.
    let held_bytes: u64 = status.media.iter().map(|m| m.offset.min(m.size)).sum();
    *sent = held_bytes.min(total);
    tracker.emit(id, ProgressState::Uploading, *sent, total, *sent);
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
            let sent_chunk = retrying(|| {
                client.put_chunk(&status.referral_id, &item.sha256, offset, chunk.clone())
            })
            .await;
            let before = offset;
            match sent_chunk {
                Ok(answer) => {
                    offset = answer.upload.offset;
                    if answer.receipt.is_some() {
                        receipt = answer.receipt;
                    }
                    let gained = offset.saturating_sub(before);
                    *sent = (*sent + gained).min(total);
                    tracker.emit(id, ProgressState::Uploading, *sent, total, gained);
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
        // Every file is there but no receipt: the request that completed
        // the last one was cut off. Repeating its end (an empty chunk at
        // the end of the file) lets the server finish the delivery.
        if let Some(last) = manifest.media.last() {
            if let Ok(answer) = retrying(|| {
                client.put_chunk(&status.referral_id, &last.sha256, last.size, Vec::new())
            })
            .await
            {
                receipt = answer.receipt;
            }
        }
    }
    if receipt.is_none() {
        receipt = retrying(|| client.status(&status.referral_id))
            .await?
            .receipt;
    }
    let receipt = receipt.ok_or(SyncError::NotYetDelivered)?;
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
