//! Enrolment, the directory, and one pass over the outbox.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use clinshare_protocol::referral::{
    MediaItem, ReferralManifest, ReferralState as ServerState, SignedReceipt,
};
use clinshare_protocol::upload::UploadState;
use futures_util::StreamExt;
use serde::Serialize;
use ts_rs::TS;

use super::progress::{Observer, ProgressState, Tracker};
use super::read_ahead::{Budget, Gated, ReadAhead};
use super::{device, Client, SyncError};
use crate::directory;
use crate::enrolment::{self, Enrolment};
use crate::keyvault::KeyVault;
use crate::referrals::{self, withdrawal, Block, GateOutcome, ReferralState};
use crate::retention::{self, PurgeReport};
use crate::session::Actor;
use crate::store::Store;

/// Bytes per upload request: a typical photo (≤ 4 MiB) in one request,
/// as the server syncs every chunk to disk before answering (1 MiB chunks
/// cost a round trip and an fsync per MiB); half the server's 8 MiB limit,
/// so a dropped connection loses little and large videos still show
/// progress.
const CHUNK: usize = 4 * 1024 * 1024;
/// The smallest chunk after halving for a link too slow for the server's
/// whole-request limit (120 s: 4 MiB needs ≈ 35 kB/s, 256 KiB ≈ 2 kB/s).
const MIN_CHUNK: usize = 256 * 1024;
const ATTEMPTS: u32 = 5;
/// Why a referral not tried in this pass waits: an earlier call found the
/// server out of reach.
const UNREACHABLE: &str = "The server could not be reached; ClinShare will try again.";
/// Files of one referral in flight at once: while the server checks one
/// and syncs it to disk, the next is already on the wire.
const FILES_IN_FLIGHT: usize = 8;

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
            // A request the server timed out would time out again: the
            // caller sends less (see `upload_file`) or waits for a later pass.
            Err(e @ SyncError::Busy { status: 408 }) => return Err(e),
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
    /// Still queued, with why (the server could not be reached, was busy
    /// or the link too slow); tried next time.
    pub waiting: Vec<(String, String)>,
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
/// The gate runs for each referral just before it is sent, ahead of the
/// upload on reader threads with their own connections ([`ReadAhead`]),
/// and the photos it read and checked are the bytes that go. Two
/// referrals are sent at a time (two [`lane`]s: while one waits for the
/// server to finish a referral, the other's photos are on the wire).
/// `progress` hears about every
/// referral as it goes. The pass holds `store` across network waits: the
/// app gives it a connection of its own (`Store::open` again, on its
/// outbox thread).
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
    let outbox = referrals::outbox(store)?;
    let total: u64 = outbox.iter().map(|(_, size)| size).sum();
    let ahead = ReadAhead::start(store, actor, outbox.clone(), today)?;
    let budget = ahead.budget();
    let pass = Pass {
        store: Mutex::new(store),
        client,
        actor,
        server_key: &server_key,
        tracker: Mutex::new(Tracker::new(progress, total)),
        report: Mutex::new(SyncReport::default()),
        gated: Mutex::new(HashSet::new()),
        offline: AtomicBool::new(false),
    };
    let ahead = tokio::sync::Mutex::new(ahead);
    let (a, b) = tokio::join!(lane(&pass, &ahead, &budget), lane(&pass, &ahead, &budget));
    drop(ahead);
    a.and(b)?;
    let Pass {
        store,
        tracker,
        report,
        gated,
        offline,
        ..
    } = pass;
    let store = store.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut tracker = tracker.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
    let gated = gated.into_inner().unwrap_or_else(PoisonError::into_inner);
    let offline = offline.into_inner();
    // Referrals the readers did not reach (the server went away): blocked
    // as before, or waiting for next time.
    for (id, size) in outbox.into_iter().filter(|(id, _)| !gated.contains(id)) {
        match referrals::get(store, &id)? {
            Some(r) if r.state == ReferralState::Blocked => {
                tracker.leave_out(size);
                report.blocked.push((id, r.blocked));
            }
            Some(r) if r.state == ReferralState::Queued => {
                tracker.emit(&id, ProgressState::Waiting, 0, size, 0);
                report.waiting.push((id, UNREACHABLE.to_owned()));
            }
            _ => tracker.leave_out(size),
        }
    }
    if !offline {
        send_withdrawals(store, client, actor, &mut report).await?;
        check_acknowledgements(store, client, actor, &mut report).await?;
    }
    report.purged = retention::purge_expired(store, actor, time::OffsetDateTime::now_utc())?;
    Ok(report)
}

/// What the lanes of one pass share. Locks are held only for the moment
/// of a store write or a progress event, never across a network wait.
struct Pass<'a, 't> {
    store: Mutex<&'a mut Store>,
    client: &'a Client,
    actor: &'a Actor,
    server_key: &'a str,
    tracker: Mutex<Tracker<'t>>,
    report: Mutex<SyncReport>,
    /// Referrals the gate was run on in this pass.
    gated: Mutex<HashSet<String>>,
    /// The server could not be reached: the rest wait for next time
    /// instead of each timing out in turn.
    offline: AtomicBool,
}

impl Pass<'_, '_> {
    fn store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.store.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn emit(&self, id: &str, state: ProgressState, sent: u64, total: u64, delta: u64) {
        self.tracker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .emit(id, state, sent, total, delta);
    }

    fn report(&self, f: impl FnOnce(&mut SyncReport)) {
        f(&mut self.report.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Takes gated referrals one after another and sends them.
async fn lane(
    pass: &Pass<'_, '_>,
    ahead: &tokio::sync::Mutex<ReadAhead>,
    budget: &Budget,
) -> Result<(), SyncError> {
    while !pass.offline.load(Ordering::Relaxed) {
        let next = ahead.lock().await.next().await;
        let Some(next) = next else {
            return Ok(());
        };
        let gated = next?;
        pass.gated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(gated.id.clone());
        let sent = send_gated(pass, &gated).await;
        // Not through `ahead`: the other lane may hold it, waiting for
        // exactly this room.
        budget.done_with(&gated);
        if sent? {
            pass.offline.store(true, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Send one referral the gate has just passed (or record that it did not);
/// true when the server could not be reached.
async fn send_gated(pass: &Pass<'_, '_>, gated: &Gated) -> Result<bool, SyncError> {
    let id = gated.id.clone();
    let manifest = match &gated.outcome {
        GateOutcome::Blocked(blocks) => {
            pass.tracker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .leave_out(gated.size);
            pass.report(|r| r.blocked.push((id, blocks.clone())));
            return Ok(false);
        }
        GateOutcome::Clear(manifest) => manifest,
    };
    let size = gated.size;
    if pass.offline.load(Ordering::Relaxed) {
        pass.emit(&id, ProgressState::Waiting, 0, size, 0);
        pass.report(|r| r.waiting.push((id, UNREACHABLE.to_owned())));
        return Ok(true);
    }
    pass.emit(&id, ProgressState::Starting, 0, size, 0);
    pass.store(|s| referrals::set_state(s, &id, ReferralState::Sending, None))?;
    let upload = Upload {
        pass,
        referral: &id,
        total: size,
        sent: Mutex::new(0),
    };
    let outcome = send_one(&upload, manifest, gated.files.clone()).await;
    let sent = upload.sent();
    match outcome {
        Ok(()) => {
            pass.emit(
                &id,
                ProgressState::Delivered,
                size,
                size,
                size - sent.min(size),
            );
            pass.report(|r| r.delivered.push(id));
            Ok(false)
        }
        Err(e) if e.is_retryable() => {
            pass.store(|s| referrals::set_state(s, &id, ReferralState::Queued, None))?;
            pass.emit(&id, ProgressState::Waiting, sent, size, 0);
            pass.report(|r| r.waiting.push((id, e.to_string())));
            Ok(matches!(e, SyncError::Offline(_)))
        }
        Err(e) => {
            let reason = Block {
                code: crate::error::ErrorCode::code(&e).to_owned(),
                message: e.to_string(),
                media_id: None,
            };
            pass.store(|s| referrals::set_state(s, &id, ReferralState::Failed, Some(&[reason])))?;
            pass.emit(&id, ProgressState::Failed, sent, size, 0);
            pass.report(|r| r.failed.push((id, e.to_string())));
            Ok(false)
        }
    }
}

/// One referral's upload, shared by its files in flight: bytes the server
/// holds, reported as they grow.
struct Upload<'p, 'a, 't> {
    pass: &'p Pass<'a, 't>,
    referral: &'p str,
    total: u64,
    sent: Mutex<u64>,
}

impl Upload<'_, '_, '_> {
    fn gained(&self, bytes: u64) {
        let (sent, delta) = {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            let before = *sent;
            *sent = (*sent + bytes).min(self.total);
            (*sent, *sent - before)
        };
        self.pass.emit(
            self.referral,
            ProgressState::Uploading,
            sent,
            self.total,
            delta,
        );
    }

    fn sent(&self) -> u64 {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
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

async fn send_one(
    upload: &Upload<'_, '_, '_>,
    manifest: &ReferralManifest,
    files: Vec<Bytes>,
) -> Result<(), SyncError> {
    let client = upload.pass.client;
    let status = retrying(|| client.submit(manifest)).await?;
    // What the server already holds counts as sent.
    let held_bytes: u64 = status.media.iter().map(|m| m.offset.min(m.size)).sum();
    upload.gained(held_bytes);
    let mut receipt = status.receipt.clone();
    // Built as a plain list: an iterator of closures held across the
    // await would make the pass's future not `Send`.
    let mut to_send = Vec::new();
    for (item, bytes) in manifest.media.iter().zip(files) {
        let held = status.media.iter().find(|m| m.sha256 == item.sha256);
        if held.is_some_and(|m| m.state == UploadState::Verified) {
            continue;
        }
        let offset = held.map_or(0, |m| m.offset);
        to_send.push(upload_file(
            client,
            &status.referral_id,
            item,
            bytes,
            offset,
            upload,
        ));
    }
    let answers: Vec<Result<Option<SignedReceipt>, SyncError>> =
        futures_util::stream::iter(to_send)
            .buffer_unordered(FILES_IN_FLIGHT)
            .collect()
            .await;
    for answer in answers {
        if let Some(r) = answer? {
            receipt = Some(r);
        }
    }
    if receipt.is_none() {
        // Every file is there but no receipt: the request that completed
        // the last one was cut off. Repeating its end (an empty chunk at
        // the end of the file) lets the server finish the delivery.
        if let Some(last) = manifest.media.last() {
            if let Ok(answer) = retrying(|| {
                client.put_chunk(
                    &status.referral_id,
                    &last.sha256,
                    last.size,
                    Bytes::new(),
                    false,
                )
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
    if !directory::verify_signed(&receipt, upload.pass.server_key)
        || receipt.payload.idempotency_key != manifest.idempotency_key
        || got != expected
    {
        return Err(SyncError::BadReceipt);
    }
    let json = serde_json::to_string(&receipt).map_err(|e| SyncError::Protocol(e.to_string()))?;
    upload.pass.store(|s| {
        referrals::mark_delivered(
            s,
            upload.pass.actor,
            &manifest.idempotency_key,
            &receipt.payload.referral_id,
            &json,
        )
    })?;
    Ok(())
}

/// One file, chunk by chunk from `offset`; the receipt if its last chunk
/// completed the referral.
async fn upload_file(
    client: &Client,
    referral_id: &str,
    item: &MediaItem,
    bytes: Bytes,
    mut offset: u64,
    upload: &Upload<'_, '_, '_>,
) -> Result<Option<SignedReceipt>, SyncError> {
    let mut receipt = None;
    let mut chunk_len = CHUNK;
    while offset < bytes.len() as u64 {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = (start + chunk_len).min(bytes.len());
        let chunk = bytes.slice(start..end);
        let whole_file = start == 0 && end == bytes.len();
        let answer = retrying(|| {
            client.put_chunk(referral_id, &item.sha256, offset, chunk.clone(), whole_file)
        })
        .await;
        match answer {
            Ok(answer) => {
                let before = offset;
                offset = answer.upload.offset;
                if answer.receipt.is_some() {
                    receipt = answer.receipt;
                }
                upload.gained(offset.saturating_sub(before));
                if answer.upload.state == UploadState::Verified {
                    break;
                }
            }
            // The server holds a different amount: continue from there.
            Err(SyncError::OffsetMismatch(current)) => offset = current,
            // The link is too slow to send this much within the server's
            // limit: send half as much at a time, down to MIN_CHUNK.
            Err(SyncError::Busy { status: 408 }) if chunk_len > MIN_CHUNK => {
                chunk_len = (chunk_len / 2).max(MIN_CHUNK);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(receipt)
}
