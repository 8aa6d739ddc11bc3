//! Media files on disk. A file being uploaded lives at
//! `blobs/partial/<referral>-<sha256>.part`; its length *is* the upload
//! offset, so a restarted server resumes where the disk says. Chunks are
//! streamed to it (never a whole file in memory) and fsynced. Once all bytes
//! are there, the file is hashed, verified by `clinshare-media`, and renamed
//! to `blobs/<sha256>` (fsync of file and directory), which is the only path
//! ever served to recipients.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use clinshare_media::{Format, MediaError};
use clinshare_protocol::referral::MediaFormat;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::error::ApiError;
use crate::fsutil;

/// Dropping it releases the file lock (closing the file) and the mutex.
pub struct UploadLock {
    _file: std::fs::File,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

pub struct BlobStore {
    root: PathBuf,
    partial: PathBuf,
    /// One writer per partial file in this process (see [`BlobStore::lock`]).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Verification holds a whole file in memory. It runs on one dedicated
    /// thread per core, so memory is bounded however many uploads finish
    /// together, and freed buffers are reused by the same threads (on the
    /// shared blocking pool, each of hundreds of threads kept its own
    /// ~20 MB: measured 670 MB at 200 clients).
    verifier: std::sync::mpsc::Sender<VerifyJob>,
}

struct VerifyJob {
    path: PathBuf,
    sha256: String,
    /// The file arrived in one request whose body hash was `sha256`.
    hashed: bool,
    size: u64,
    format: MediaFormat,
    reply: tokio::sync::oneshot::Sender<Result<(), ApiError>>,
}

fn start_verifiers(threads: usize) -> std::io::Result<std::sync::mpsc::Sender<VerifyJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<VerifyJob>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..threads {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("verify-{i}"))
            .spawn(move || loop {
                let job = match rx.lock() {
                    Ok(r) => r.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else {
                    return; // the blob store is gone
                };
                let verdict = check_file(&job.path, &job.sha256, job.hashed, job.size, job.format);
                let _ = job.reply.send(verdict);
            })?;
    }
    Ok(tx)
}

/// Ids and hashes become file names: only lower-case hex is allowed.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let root = dir.to_path_buf();
        let partial = root.join("partial");
        fsutil::create_private_dir(&partial)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(BlobStore {
            root,
            partial,
            locks: Mutex::new(HashMap::new()),
            verifier: start_verifiers(cores)?,
        })
    }

    fn partial_path(&self, referral_id: &str, sha256: &str) -> Result<PathBuf, ApiError> {
        if !is_hex(referral_id, 32) || !is_hex(sha256, 64) {
            return Err(ApiError::NotFound);
        }
        Ok(self.partial.join(format!("{referral_id}-{sha256}.part")))
    }

    pub fn final_path(&self, sha256: &str) -> Result<PathBuf, ApiError> {
        if !is_hex(sha256, 64) {
            return Err(ApiError::NotFound);
        }
        Ok(self.root.join(sha256))
    }

    /// Serialises writers of one partial file: a mutex for this process and
    /// an advisory file lock (`flock`) for other instances sharing the blob
    /// folder on one host. Held until the guard is dropped.
    pub async fn lock(&self, referral_id: &str, sha256: &str) -> Result<UploadLock, ApiError> {
        let key = format!("{referral_id}-{sha256}");
        let lock_path = self
            .partial_path(referral_id, sha256)?
            .with_extension("lock");
        let m = {
            let mut locks = match self.locks.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if locks.len() > 10_000 {
                locks.retain(|_, m| Arc::strong_count(m) > 1);
            }
            Arc::clone(locks.entry(key).or_default())
        };
        let local = m.lock_owned().await;
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        Ok(UploadLock {
            _file: file,
            _local: local,
        })
    }

    /// Bytes held for a file still uploading.
    pub async fn offset(&self, referral_id: &str, sha256: &str) -> Result<u64, ApiError> {
        let path = self.partial_path(referral_id, sha256)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Streams one chunk into the partial file at `offset` and returns the
    /// new length, and whether this chunk was the whole file (so its
    /// checked body hash is the file's). A chunk (or the part of it) the
    /// file already holds is not written again, so a retried chunk is
    /// harmless. On any failure the file is cut back to its length before
    /// the call.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_chunk(
        &self,
        referral_id: &str,
        sha256: &str,
        offset: u64,
        size: u64,
        max_chunk: u64,
        declared_body_sha256: &str,
        body: Body,
    ) -> Result<(u64, bool), ApiError> {
        let path = self.partial_path(referral_id, sha256)?;
        let mut file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .await
            .map_err(ApiError::internal)?;
        let current = file.metadata().await.map_err(ApiError::internal)?.len();
        if offset > current {
            return Err(ApiError::OffsetMismatch { current });
        }
        file.seek(std::io::SeekFrom::Start(current))
            .await
            .map_err(ApiError::internal)?;
        let result = stream_into(&mut file, body, offset, current, size, max_chunk).await;
        let written = match result {
            Ok((received, digest)) if hex::encode(digest) == declared_body_sha256 => {
                file.sync_data().await.map_err(ApiError::internal)?;
                received
            }
            Ok(_) => {
                rollback(&mut file, current).await?;
                return Err(ApiError::BodyHash);
            }
            Err(e) => {
                rollback(&mut file, current).await?;
                return Err(e);
            }
        };
        let whole_file = offset == 0 && current == 0 && written == size;
        Ok((current.max(offset + written), whole_file))
    }

    /// Checks the complete partial file against the manifest: size, SHA-256
    /// (unless `hashed`: it arrived whole in a request whose checked body
    /// hash is `sha256`), then the media verifier (format must match; no
    /// metadata may remain). On success it becomes `blobs/<sha256>`; on
    /// failure it is deleted so the client starts that file again.
    pub async fn finish(
        &self,
        referral_id: &str,
        sha256: &str,
        hashed: bool,
        size: u64,
        format: MediaFormat,
    ) -> Result<(), ApiError> {
        let path = self.partial_path(referral_id, sha256)?;
        let dest = self.final_path(sha256)?;
        if !path.exists() && dest.exists() {
            // Verified and moved by an earlier request (or another instance).
            return Ok(());
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.verifier
            .send(VerifyJob {
                path: path.clone(),
                sha256: sha256.to_owned(),
                hashed,
                size,
                format,
                reply,
            })
            .map_err(ApiError::internal)?;
        let verdict = answer.await.map_err(ApiError::internal)?;
        if let Err(e) = verdict {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        tokio::fs::rename(&path, &dest)
            .await
            .map_err(ApiError::internal)?;
        fsutil::sync_dir(&self.root).map_err(ApiError::internal)?;
        Ok(())
    }

    pub async fn open_verified(&self, sha256: &str) -> Result<tokio::fs::File, ApiError> {
        let path = self.final_path(sha256)?;
        tokio::fs::File::open(path)
            .await
            .map_err(ApiError::internal)
    }
}

async fn rollback(file: &mut tokio::fs::File, len: u64) -> Result<(), ApiError> {
    file.set_len(len).await.map_err(ApiError::internal)?;
    file.sync_data().await.map_err(ApiError::internal)
}

/// Writes the bytes of `body` beyond `current` (the body starts at
/// `offset`), hashing all of it; returns (bytes received, body SHA-256).
async fn stream_into(
    file: &mut tokio::fs::File,
    mut body: Body,
    offset: u64,
    current: u64,
    size: u64,
    max_chunk: u64,
) -> Result<(u64, [u8; 32]), ApiError> {
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut skip = current - offset;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::BadRequest("the upload was interrupted"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if received > max_chunk || offset + received > size {
            return Err(ApiError::UploadTooLong);
        }
        hasher.update(&data);
        let take_from = usize::try_from(skip.min(data.len() as u64)).unwrap_or(data.len());
        skip -= take_from as u64;
        file.write_all(&data[take_from..])
            .await
            .map_err(ApiError::internal)?;
    }
    Ok((received, hasher.finalize().into()))
}

/// Size, SHA-256 and the media verifier, on a verifier thread.
fn check_file(
    path: &Path,
    sha256: &str,
    hashed: bool,
    size: u64,
    format: MediaFormat,
) -> Result<(), ApiError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(ApiError::internal)?;
    let len = file.metadata().map_err(ApiError::internal)?.len();
    if len != size {
        return Err(ApiError::HashMismatch);
    }
    // The verifier works on bytes in memory; size is capped by the media
    // limits checked at intake.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(ApiError::internal)?;
    if !hashed && hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(ApiError::HashMismatch);
    }
    verify_media(&bytes, format)
}

fn expected_format(f: MediaFormat) -> Format {
    match f {
        MediaFormat::Jpeg => Format::Jpeg,
        MediaFormat::Png => Format::Png,
        MediaFormat::Webp => Format::WebP,
        MediaFormat::Heic => Format::Heic,
        MediaFormat::Heif => Format::Heif,
        MediaFormat::Avif => Format::Avif,
        MediaFormat::Mp4 => Format::Mp4,
        MediaFormat::Mov => Format::Mov,
    }
}

/// The media crate's verifier, as the app runs it before upload: the
/// structural walk and the EXIF reader, which decide whether metadata
/// remains. The pixels are not decoded again (the sanitiser decoded them
/// when it wrote the file on the laptop): a decode costs ~75 ms of CPU per
/// 4 MB photo and proves nothing about metadata.
pub fn verify_media(bytes: &[u8], declared: MediaFormat) -> Result<(), ApiError> {
    let sniffed =
        clinshare_media::sniff(bytes).map_err(|e| ApiError::MediaRejected { code: e.code() })?;
    if sniffed != expected_format(declared) {
        return Err(ApiError::MediaRejected {
            code: "media.format_mismatch",
        });
    }
    match clinshare_media::verify_structure(bytes, sniffed) {
        Ok(_) => Ok(()),
        Err(MediaError::VerificationFailed { .. }) => Err(ApiError::ResidualMetadata),
        Err(e) => Err(ApiError::MediaRejected { code: e.code() }),
    }
}
