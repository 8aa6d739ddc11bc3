//! Media files in an object store (the `object_store` crate): by default a
//! folder under the data directory (`DIR/blobs`); with `--blob-store`, a
//! folder elsewhere (`file:///PATH`) or an S3-compatible bucket
//! (`s3://BUCKET[/PREFIX]`) that several server instances share.
//!
//! Objects:
//! - `<referral>/<sha256>`: a verified file of a referral. Only these are
//!   served to recipients, and they go when consent is withdrawn. (Files
//!   stored before this layout are `<sha256>`, shared by the referrals
//!   that sent the same bytes: still read, and deleted with the last
//!   referral that still has consent.)
//! - `partial/<upload>/<offset>`: the chunks of a file still uploading
//!   (`<upload>` is a digest of the referral id and the file's SHA-256,
//!   which keeps object names short). Each chunk is a multipart put, so it
//!   exists whole or not at all, and is streamed (never a whole file in
//!   memory). The upload offset is how far the chunks cover the file from
//!   byte 0, so any instance, or a restarted one, resumes where the store
//!   says.
//!
//! No lock spans instances. A chunk sent twice (a retry, or through two
//! instances at once) starts at the same offset with the same bytes, so it
//! lands under the same name; the assembled file is hashed and verified
//! before anything trusts it, and a file that does not match is deleted so
//! the client sends it again. Within one instance a mutex per file saves
//! doing the same work twice.
//!
//! A finished file of several chunks is joined into
//! `partial/<upload>/assembled-<random>` in pieces (`assembly`), hashed as
//! it is written, verified, and only then renamed to `<referral>/<sha256>`;
//! the name is this attempt's own, so no other instance's attempt can
//! change what this one verified. A large movie is verified through a view
//! of its structure (`view`), so no file is ever whole in memory.
//!
//! The folder backend fsyncs what it writes (the crate's local store does
//! not), so a delivered referral's files survive a power cut.

mod assembly;
mod view;

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use clinshare_media::{Format, MediaError};
use clinshare_protocol::referral::MediaFormat;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetResult, GetResultPayload, MultipartUpload, ObjectStore};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::fsutil;

/// The folder under the data directory that holds media when no
/// `--blob-store` is given.
pub const DEFAULT_FOLDER: &str = "blobs";

#[derive(Debug, thiserror::Error)]
pub enum BlobStoreError {
    #[error("the blob store `{url}` is not a valid URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("blob stores are `file:///PATH` or `s3://BUCKET[/PREFIX]`, not `{0}:`")]
    UnsupportedScheme(String),
    #[error("cannot open the blob store: {0}")]
    Open(String),
}

/// Dropping it releases the file's mutex.
pub struct UploadLock {
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// What [`BlobStore::write_chunk`] did.
pub struct Written {
    /// How far the file's chunks now reach.
    pub offset: u64,
    /// The chunk was the whole file and this request stored it: the
    /// stored object's entity tag, so [`BlobStore::finish`] can tell the
    /// object is still the one whose body hash the request checked.
    pub whole_file: Option<String>,
}

pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The folder of the folder backend, for fsync.
    local_root: Option<PathBuf>,
    /// S3 takes parts of at least 5 MiB, so each chunk being written to a
    /// bucket holds up to that much: at most this many at once keeps the
    /// server's memory bounded however many clients upload (the others
    /// wait their turn). `None` for a folder, which takes small parts.
    part_buffers: Option<tokio::sync::Semaphore>,
    /// One mutex per file being uploaded in this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Files being joined and verified: at most one per verifier thread at
    /// a time, however many uploads end together.
    finishing: tokio::sync::Semaphore,
    /// What the verifier reads is held in memory: a photo whole, a large
    /// movie's structure ([`view`]). Permits are MiB of [`HELD_MIB`], so
    /// that memory has one bound whatever the files' sizes.
    held: tokio::sync::Semaphore,
    /// Verification runs on one dedicated thread per core, so freed
    /// buffers are reused by the same threads (on the shared blocking pool,
    /// each of hundreds of threads kept its own ~20 MB: measured 670 MB at
    /// 200 clients).
    verifier: std::sync::mpsc::Sender<VerifyJob>,
}

/// A file to verify: in memory, or (folder backend) an open file that the
/// verifier thread reads itself. Reading there keeps each multi-megabyte
/// buffer in that thread's allocator arena: read on the blocking pool's
/// many threads, they raised the server's peak memory from ~125 to ~180 MB
/// at 200 clients.
enum Source {
    Bytes(Bytes),
    File(std::fs::File),
}

struct VerifyJob {
    source: Source,
    sha256: String,
    /// The bytes are the object whose body hash was checked as `sha256`.
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
                let verdict = match read(job.source, job.size) {
                    Ok(bytes) => check_bytes(&bytes, &job.sha256, job.hashed, job.size, job.format),
                    Err(e) => Err(ApiError::internal(e)),
                };
                let _ = job.reply.send(verdict);
            })?;
    }
    Ok(tx)
}

fn read(source: Source, size: u64) -> std::io::Result<Bytes> {
    use std::io::Read;
    match source {
        Source::Bytes(b) => Ok(b),
        Source::File(file) => {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            // One byte more than expected shows a file longer than declared.
            file.take(size.saturating_add(1)).read_to_end(&mut bytes)?;
            Ok(Bytes::from(bytes))
        }
    }
}

/// Ids and hashes become object names: only lower-case hex is allowed.
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Held per upload until written: at 200 concurrent uploads, 256 KiB
/// raised the server's peak memory by ~60 MB; 64 KiB costs ~13 MB.
const FOLDER_PART_BYTES: usize = 64 * 1024;
/// S3 refuses parts under 5 MiB, except the last.
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// Chunks written to S3 at once (5 MiB each at most: 80 MiB).
const S3_PART_BUFFERS: usize = 16;
/// Memory for files being verified, in MiB: the media crate's largest
/// still (`Limits::max_image_bytes`, which the app's sanitiser refuses to
/// exceed), so any photo the app sends fits, alone if need be. What needs
/// more (a hostile file) is refused as `media.too_large`.
const HELD_MIB: u32 = 200;
const MIB: u64 = 1024 * 1024;

fn open_folder(dir: &FsPath) -> Result<(Arc<dyn ObjectStore>, PathBuf), BlobStoreError> {
    let open = |e: &dyn std::fmt::Display| BlobStoreError::Open(format!("{}: {e}", dir.display()));
    fsutil::create_private_dir(dir).map_err(|e| open(&e))?;
    let root = dir.canonicalize().map_err(|e| open(&e))?;
    let folder = LocalFileSystem::new_with_prefix(&root)
        .map_err(|e| open(&e))?
        .with_automatic_cleanup(true);
    Ok((Arc::new(folder), root))
}

/// An S3 bucket; credentials, region and endpoint come from the usual
/// `AWS_*` environment variables (`AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for
/// an S3-compatible store on the premises).
fn open_s3(url: &url::Url) -> Result<Arc<dyn ObjectStore>, BlobStoreError> {
    let bucket =
        url.host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| BlobStoreError::BadUrl {
                url: url.to_string(),
                reason: "it names no bucket".into(),
            })?;
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| BlobStoreError::Open(e.to_string()))?;
    let prefix = url.path().trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    })
}

impl BlobStore {
    /// The store at `url`, or the folder [`DEFAULT_FOLDER`] of `data_dir`
    /// without one.
    pub fn open(data_dir: &FsPath, url: Option<&str>) -> Result<Self, BlobStoreError> {
        let (store, local_root) = match url {
            None => {
                let (s, root) = open_folder(&data_dir.join(DEFAULT_FOLDER))?;
                (s, Some(root))
            }
            Some(text) => {
                let bad = |reason: String| BlobStoreError::BadUrl {
                    url: text.to_owned(),
                    reason,
                };
                let url = url::Url::parse(text).map_err(|e| bad(e.to_string()))?;
                match url.scheme() {
                    "file" => {
                        let dir = url
                            .to_file_path()
                            .map_err(|()| bad("it is not an absolute path".into()))?;
                        let (s, root) = open_folder(&dir)?;
                        (s, Some(root))
                    }
                    "s3" => (open_s3(&url)?, None),
                    other => return Err(BlobStoreError::UnsupportedScheme(other.to_owned())),
                }
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(BlobStore {
            part_buffers: local_root
                .is_none()
                .then(|| tokio::sync::Semaphore::new(S3_PART_BUFFERS)),
            store,
            local_root,
            locks: Mutex::new(HashMap::new()),
            finishing: tokio::sync::Semaphore::new(cores),
            held: tokio::sync::Semaphore::new(HELD_MIB as usize),
            verifier: start_verifiers(cores).map_err(|e| BlobStoreError::Open(e.to_string()))?,
        })
    }

    fn partial_prefix(referral_id: &str, sha256: &str) -> Result<Path, ApiError> {
        if !is_hex(referral_id, 32) || !is_hex(sha256, 64) {
            return Err(ApiError::NotFound);
        }
        let upload = Sha256::digest(format!("{referral_id}/{sha256}"));
        Ok(Path::from(format!(
            "partial/{}",
            hex::encode(&upload[..16])
        )))
    }

    fn verified_object(referral_id: &str, sha256: &str) -> Result<Path, ApiError> {
        if !is_hex(referral_id, 32) || !is_hex(sha256, 64) {
            return Err(ApiError::NotFound);
        }
        Ok(Path::from(format!("{referral_id}/{sha256}")))
    }

    /// Where the file was kept before files were kept per referral.
    fn legacy_object(sha256: &str) -> Result<Path, ApiError> {
        if !is_hex(sha256, 64) {
            return Err(ApiError::NotFound);
        }
        Ok(Path::from(sha256))
    }

    /// A referral's verified file, from where it is kept now or before.
    async fn get_verified(&self, referral_id: &str, sha256: &str) -> Result<GetResult, ApiError> {
        match self
            .store
            .get(&Self::verified_object(referral_id, sha256)?)
            .await
        {
            Err(object_store::Error::NotFound { .. }) => self
                .store
                .get(&Self::legacy_object(sha256)?)
                .await
                .map_err(ApiError::internal),
            r => r.map_err(ApiError::internal),
        }
    }

    /// Deletes a referral's copy of a file and any chunks of it still
    /// uploading; `also_legacy`: the copy shared under the old layout too
    /// (no other referral with consent has the file). Durable when it
    /// returns.
    pub async fn delete(
        &self,
        referral_id: &str,
        sha256: &str,
        also_legacy: bool,
    ) -> Result<(), ApiError> {
        let mut objects = vec![Self::verified_object(referral_id, sha256)?];
        if also_legacy {
            objects.push(Self::legacy_object(sha256)?);
        }
        for object in &objects {
            match self.store.delete(object).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        self.discard(&Self::partial_prefix(referral_id, sha256)?)
            .await;
        if let Some(root) = self.local_root.clone() {
            let dirs = [root.join(referral_id), root];
            tokio::task::spawn_blocking(move || {
                dirs.iter()
                    .filter(|d| d.exists())
                    .try_for_each(|d| fsutil::sync_dir(d))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        }
        Ok(())
    }

    /// Serialises this process's writers of one file (see the module
    /// comment for other instances). Held until the guard is dropped.
    pub async fn lock(&self, referral_id: &str, sha256: &str) -> Result<UploadLock, ApiError> {
        Self::partial_prefix(referral_id, sha256)?;
        let m = {
            let mut locks = match self.locks.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if locks.len() > 10_000 {
                locks.retain(|_, m| Arc::strong_count(m) > 1);
            }
            Arc::clone(locks.entry(format!("{referral_id}-{sha256}")).or_default())
        };
        Ok(UploadLock {
            _local: m.lock_owned().await,
        })
    }

    /// Every object under an upload's prefix: its chunks and any joined
    /// file being checked (or left by a crash).
    async fn listed(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>, ApiError> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(ApiError::internal)
    }

    /// The file's chunks, by offset.
    async fn parts(&self, prefix: &Path) -> Result<Vec<Part>, ApiError> {
        let mut parts: Vec<Part> = self
            .listed(prefix)
            .await?
            .into_iter()
            .filter_map(|m| {
                let start = m.location.filename()?.parse().ok()?;
                Some(Part {
                    start,
                    size: m.size,
                    location: m.location,
                })
            })
            .collect();
        parts.sort_by_key(|p| p.start);
        Ok(parts)
    }

    /// Bytes held for a file still uploading.
    pub async fn offset(&self, referral_id: &str, sha256: &str) -> Result<u64, ApiError> {
        let prefix = Self::partial_prefix(referral_id, sha256)?;
        Ok(coverage(&self.parts(&prefix).await?))
    }

    /// Streams one chunk into the store and says how far the file now
    /// reaches. The part of a chunk the store already holds is not written
    /// again, so a retried chunk is harmless. Nothing is stored unless the
    /// whole body arrived and matched its declared hash.
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
        pace: Pace,
    ) -> Result<Written, ApiError> {
        let prefix = Self::partial_prefix(referral_id, sha256)?;
        let current = coverage(&self.parts(&prefix).await?);
        if offset > current {
            return Err(ApiError::OffsetMismatch { current });
        }
        let location = prefix.child(current.to_string());
        let _buffer = match &self.part_buffers {
            Some(b) => Some(b.acquire().await.map_err(ApiError::internal)?),
            None => None,
        };
        let mut upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(ApiError::internal)?;
        let writeback = self
            .local_root
            .as_deref()
            .and_then(|root| Writeback::open(root, &location));
        let streamed = stream_into(
            upload.as_mut(),
            body,
            writeback,
            Chunk {
                offset,
                current,
                size,
                max_chunk,
                pace,
                // Small for a folder (memory per upload); S3's minimum.
                part_size: if self.local_root.is_some() {
                    FOLDER_PART_BYTES
                } else {
                    S3_PART_BYTES
                },
            },
        )
        .await;
        let (received, stored) = match streamed {
            Ok((received, digest, stored)) if hex::encode(digest) == declared_body_sha256 => {
                (received, stored)
            }
            Ok(_) => {
                let _ = upload.abort().await;
                return Err(ApiError::BodyHash);
            }
            Err(e) => {
                let _ = upload.abort().await;
                return Err(e);
            }
        };
        let e_tag = if stored == 0 {
            // All of it was there already.
            let _ = upload.abort().await;
            None
        } else {
            let put = upload.complete().await.map_err(ApiError::internal)?;
            self.sync(&location).await?;
            put.e_tag
        };
        let whole = offset == 0 && current == 0 && received == size;
        Ok(Written {
            offset: current.max(offset + received),
            whole_file: e_tag.filter(|_| whole),
        })
    }

    /// Checks the complete file against the manifest: size, SHA-256
    /// (unless the one object holding it is the one a request stored after
    /// checking that its body hash was `sha256`: `whole_file`), then the
    /// media verifier (format must match; no metadata may remain). On
    /// success it becomes the object `<referral>/<sha256>`; on a mismatch
    /// its chunks are deleted so the client starts that file again, and a
    /// file the verifier refuses is deleted.
    pub async fn finish(
        &self,
        referral_id: &str,
        sha256: &str,
        whole_file: Option<String>,
        size: u64,
        format: MediaFormat,
    ) -> Result<(), ApiError> {
        let prefix = Self::partial_prefix(referral_id, sha256)?;
        let dest = Self::verified_object(referral_id, sha256)?;
        let parts = self.parts(&prefix).await?;
        if parts.is_empty() && self.exists(&dest).await? {
            // Verified and stored by an earlier request (or another instance).
            return Ok(());
        }
        let permit = self.finishing.acquire().await.map_err(ApiError::internal)?;
        let file = FileToCheck {
            prefix: &prefix,
            parts: &parts,
            sha256,
            size,
            format,
        };
        let checked = match self.prepare(&file, whole_file).await {
            Ok(c) => c,
            Err(e) => {
                if self.exists(&dest).await? {
                    // Another instance finished it meanwhile.
                    return Ok(());
                }
                // Sending it again is the client's only way on (a file
                // too large to check will not shrink either).
                if matches!(e, ApiError::HashMismatch | ApiError::MediaRejected { .. }) {
                    self.discard(&prefix).await;
                }
                return Err(e);
            }
        };
        let verdict = self.verify(checked.source, sha256, checked.hashed, size, format);
        let verdict = verdict.await;
        drop(checked.held);
        if let Err(e) = verdict {
            if !checked.moved_chunk {
                self.delete_object(&checked.location).await;
            }
            self.delete_parts(&parts).await;
            return Err(e);
        }
        // One chunk holds the file: it is moved rather than written again.
        match self.store.rename(&checked.location, &dest).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) if self.exists(&dest).await? => {}
            Err(e) => return Err(ApiError::internal(e)),
        }
        if !checked.moved_chunk {
            self.delete_parts(&parts).await;
        }
        // The permit bounds the verifiers' work and the disk traffic of
        // joining, not the wait for the disk: the next file's check can start.
        drop(permit);
        self.sync(&dest).await?;
        Ok(())
    }

    /// Runs the verifier on its threads.
    async fn verify(
        &self,
        source: Source,
        sha256: &str,
        hashed: bool,
        size: u64,
        format: MediaFormat,
    ) -> Result<(), ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.verifier
            .send(VerifyJob {
                source,
                sha256: sha256.to_owned(),
                hashed,
                size,
                format,
                reply,
            })
            .map_err(ApiError::internal)?;
        answer.await.map_err(ApiError::internal)?
    }

    /// The complete file as one object, and what the verifier will read of
    /// it (its memory held from [`BlobStore::held`]).
    async fn prepare(
        &self,
        file: &FileToCheck<'_>,
        whole_file: Option<String>,
    ) -> Result<Checked<'_>, ApiError> {
        if coverage(file.parts) != file.size {
            return Err(ApiError::HashMismatch);
        }
        if let [only] = file.parts {
            // The common case (a photo in one request): no copy.
            return self.prepare_single(only, file.size, whole_file).await;
        }
        let location = file.prefix.child(format!("assembled-{}", random_hex()?));
        let target = assembly::Target {
            location: &location,
            part_size: self.part_size(ASSEMBLY_PART_BYTES),
            local_root: self.local_root.as_deref(),
        };
        let digest = assembly::join(self.store.as_ref(), file.parts, file.size, target).await?;
        let checked = self.prepare_joined(location.clone(), digest, file).await;
        if checked.is_err() {
            self.delete_object(&location).await;
        }
        checked
    }

    async fn prepare_single(
        &self,
        only: &Part,
        size: u64,
        whole_file: Option<String>,
    ) -> Result<Checked<'_>, ApiError> {
        let held = self.hold(size).await?;
        let (source, e_tag) = self.open_whole(&only.location).await?;
        Ok(Checked {
            hashed: whole_file.is_some() && e_tag == whole_file,
            source,
            held,
            location: only.location.clone(),
            moved_chunk: true,
        })
    }

    /// The joined file, hashed as it was written: a large movie is read
    /// through its view, anything else whole.
    async fn prepare_joined(
        &self,
        location: Path,
        digest: [u8; 32],
        file: &FileToCheck<'_>,
    ) -> Result<Checked<'_>, ApiError> {
        if hex::encode(digest) != file.sha256 {
            return Err(ApiError::HashMismatch);
        }
        let movie = matches!(file.format, MediaFormat::Mp4 | MediaFormat::Mov);
        let (source, held) = if movie && file.size > view::LARGE {
            let max_boxes = clinshare_media::Limits::default().max_parts;
            let plan = view::plan(self.store.as_ref(), &location, file.size, max_boxes).await?;
            let held = self.hold(plan.held()).await?;
            let bytes = plan.fill(self.store.as_ref(), &location).await?;
            (Source::Bytes(Bytes::from(bytes)), held)
        } else {
            let held = self.hold(file.size).await?;
            (self.open_whole(&location).await?.0, held)
        };
        Ok(Checked {
            source,
            hashed: true,
            held,
            location,
            moved_chunk: false,
        })
    }

    /// An object for the verifier to read whole, and its entity tag: a
    /// folder's file is read on the verifier thread (see [`Source`]).
    async fn open_whole(&self, location: &Path) -> Result<(Source, Option<String>), ApiError> {
        let got = self.store.get(location).await.map_err(ApiError::internal)?;
        let GetResult {
            payload,
            meta,
            range,
            attributes,
        } = got;
        let e_tag = meta.e_tag.clone();
        let source = match payload {
            GetResultPayload::File(file, _) => Source::File(file),
            payload => Source::Bytes(
                GetResult {
                    payload,
                    meta,
                    range,
                    attributes,
                }
                .bytes()
                .await
                .map_err(ApiError::internal)?,
            ),
        };
        Ok((source, e_tag))
    }

    /// Memory for `bytes` the verifier will hold, waited for; more than
    /// the whole budget is refused.
    async fn hold(&self, bytes: u64) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        let mib = u32::try_from(bytes.div_ceil(MIB))
            .ok()
            .filter(|&m| m <= HELD_MIB)
            .ok_or(ApiError::MediaRejected {
                code: "media.too_large",
            })?;
        self.held
            .acquire_many(mib.max(1))
            .await
            .map_err(ApiError::internal)
    }

    /// Parts of `folder` bytes for a folder; a bucket's minimum for S3.
    fn part_size(&self, folder: usize) -> usize {
        if self.local_root.is_some() {
            folder
        } else {
            S3_PART_BYTES
        }
    }

    /// Deletes one object; a failure only leaves garbage for the sweeper.
    async fn delete_object(&self, location: &Path) {
        match self.store.delete(location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, "could not delete an upload's object"),
        }
    }

    async fn exists(&self, location: &Path) -> Result<bool, ApiError> {
        match self.store.head(location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// Deletes a file's chunks. A failure only leaves garbage behind (the
    /// next upload of the file overwrites or ignores it, the sweeper
    /// deletes it), so it is logged.
    async fn discard(&self, prefix: &Path) {
        if let Ok(listed) = self.listed(prefix).await {
            for m in listed {
                self.delete_object(&m.location).await;
            }
        }
    }

    async fn delete_parts(&self, parts: &[Part]) {
        for p in parts {
            match self.store.delete(&p.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "could not delete an upload chunk"),
            }
        }
    }

    /// Makes a written object durable (folder backend: the crate's store
    /// does not fsync). Object stores are durable when they answer.
    async fn sync(&self, location: &Path) -> Result<(), ApiError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(location.as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&path)?.sync_all()?;
            match path.parent() {
                Some(dir) => fsutil::sync_dir(dir),
                None => Ok(()),
            }
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
    }

    /// Deletes what abandoned uploads left behind: chunks written more than
    /// `older_than` ago (a laptop that comes back later sends the file
    /// again from the start) and, in a folder, the staging files of chunks
    /// cut off by a crash. Several instances may sweep at once.
    pub async fn sweep(&self, older_than: std::time::Duration) -> Result<Swept, ApiError> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(std::time::UNIX_EPOCH);
        let cutoff_utc = chrono::DateTime::<chrono::Utc>::from(cutoff);
        let old: Vec<Path> = self
            .store
            .list(Some(&Path::from("partial")))
            .try_filter(|m| std::future::ready(m.last_modified < cutoff_utc))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(ApiError::internal)?;
        let mut swept = Swept::default();
        for location in old {
            match self.store.delete(&location).await {
                Ok(()) => swept.chunks += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        if let Some(root) = &self.local_root {
            let partial = root.join("partial");
            swept.staging_files =
                tokio::task::spawn_blocking(move || stale_staging(&partial, cutoff))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(ApiError::internal)?;
        }
        Ok(swept)
    }

    /// The store answers (a missing object is an answer); a folder must
    /// still be there (a missing file in a missing folder is not found too).
    pub async fn ready(&self) -> bool {
        if let Some(root) = &self.local_root {
            if !tokio::fs::metadata(root).await.is_ok_and(|m| m.is_dir()) {
                tracing::warn!("the blob folder is gone");
                return false;
            }
        }
        match self.store.head(&Path::from("ready-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => true,
            Err(e) => {
                tracing::warn!(error = %e, "the blob store does not answer");
                false
            }
        }
    }

    /// A referral's verified file, streamed.
    pub async fn open_verified(&self, referral_id: &str, sha256: &str) -> Result<Body, ApiError> {
        let got = self.get_verified(referral_id, sha256).await?;
        Ok(Body::from_stream(got.into_stream()))
    }

    /// A referral's verified file, whole (for filing into a PACS, which
    /// encodes it).
    pub async fn read_verified(&self, referral_id: &str, sha256: &str) -> Result<Bytes, ApiError> {
        let got = self.get_verified(referral_id, sha256).await?;
        got.bytes().await.map_err(ApiError::internal)
    }
}

/// What [`BlobStore::sweep`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub chunks: usize,
    pub staging_files: usize,
}

/// Removes `<name>#<digits>` files (the folder store's staging files, which
/// it never lists) last written before `cutoff`, and folders left empty.
fn stale_staging(dir: &FsPath, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            removed += stale_staging(&path, cutoff)?;
            // Only succeeds when empty.
            let _ = std::fs::remove_dir(&path);
        } else if kind.is_file() {
            let name = entry.file_name();
            let staging =
                name.to_str()
                    .and_then(|n| n.split_once('#'))
                    .is_some_and(|(_, suffix)| {
                        !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
                    });
            if staging && entry.metadata()?.modified()? < cutoff {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

struct Part {
    start: u64,
    size: u64,
    location: Path,
}

/// A complete upload, as [`BlobStore::finish`] checks it.
struct FileToCheck<'a> {
    prefix: &'a Path,
    parts: &'a [Part],
    sha256: &'a str,
    size: u64,
    format: MediaFormat,
}

/// A complete file as one object, ready for the verifier.
struct Checked<'a> {
    source: Source,
    /// The bytes are known to hash to the file's SHA-256.
    hashed: bool,
    /// The memory `source` holds while it is checked.
    held: tokio::sync::SemaphorePermit<'a>,
    /// The object that becomes the verified file.
    location: Path,
    /// `location` is the file's only chunk (its other objects are none).
    moved_chunk: bool,
}

/// Parts in which a folder's joined file is written: few files are joined
/// at once (one per verifier thread).
const ASSEMBLY_PART_BYTES: usize = 1024 * 1024;

/// Names a joined file for this attempt alone.
fn random_hex() -> Result<String, ApiError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(hex::encode(b))
}

/// How far chunks reach from byte 0 without a gap.
fn coverage(parts: &[Part]) -> u64 {
    let mut covered = 0;
    for p in parts {
        if p.start > covered {
            break;
        }
        covered = covered.max(p.start + p.size);
    }
    covered
}

struct Chunk {
    /// Where the body starts in the file.
    offset: u64,
    /// Where the stored chunks end: bytes before it are not written again.
    current: u64,
    /// The file's size.
    size: u64,
    max_chunk: u64,
    pace: Pace,
    part_size: usize,
}

/// How slowly a chunk's body may arrive before it is stopped (408
/// `upload.stalled`), giving back its buffer.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Longest wait for the next piece of the body, and the window in
    /// which `min_bytes` must arrive.
    pub window: std::time::Duration,
    pub min_bytes: u64,
}

/// Writes the bytes of `body` beyond `current`, hashing all of it; returns
/// (bytes received, body SHA-256, bytes stored).
async fn stream_into(
    upload: &mut dyn MultipartUpload,
    mut body: Body,
    mut writeback: Option<Writeback>,
    c: Chunk,
) -> Result<(u64, [u8; 32], u64), ApiError> {
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut stored: u64 = 0;
    let mut skip = c.current - c.offset;
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0;
    // A stalled or trickling sender would otherwise hold its buffer (for
    // S3, one of a few) until the whole request times out.
    let seconds = c.pace.window.as_secs().max(1);
    let mut window = (tokio::time::Instant::now(), 0u64);
    while let Some(frame) = tokio::time::timeout(c.pace.window, body.frame())
        .await
        .map_err(|_| ApiError::UploadStalled { seconds })?
    {
        let frame = frame.map_err(|_| ApiError::BadRequest("the upload was interrupted"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if received > c.max_chunk || c.offset + received > c.size {
            return Err(ApiError::UploadTooLong);
        }
        window.1 += data.len() as u64;
        if window.0.elapsed() >= c.pace.window {
            if window.1 < c.pace.min_bytes {
                return Err(ApiError::UploadTooSlow {
                    kib: c.pace.min_bytes / 1024,
                    seconds,
                });
            }
            window = (tokio::time::Instant::now(), 0);
        }
        hasher.update(&data);
        let take_from = usize::try_from(skip.min(data.len() as u64)).unwrap_or(data.len());
        skip -= take_from as u64;
        if take_from < data.len() {
            pending_len += data.len() - take_from;
            pending.push(data.slice(take_from..));
        }
        if pending_len >= c.part_size {
            stored += pending_len as u64;
            upload
                .put_part(pending.drain(..).collect())
                .await
                .map_err(ApiError::internal)?;
            pending_len = 0;
            if let Some(w) = writeback.as_mut() {
                w.written(stored).await;
            }
        }
    }
    if pending_len > 0 {
        stored += pending_len as u64;
        upload
            .put_part(pending.into_iter().collect())
            .await
            .map_err(ApiError::internal)?;
    }
    Ok((received, hasher.finalize().into(), stored))
}

/// Has the disk start writing a chunk while it is still arriving (folder
/// backend). Otherwise every byte waits in the page cache for the fsync at
/// the chunk's end, and when many uploads end together (the benchmark's 200
/// clients) the CPU idles through one long flush (see bench/server/RESULTS.md).
struct Writeback {
    file: Arc<std::fs::File>,
    /// Bytes handed to the disk so far.
    started: u64,
}

/// Writeback is started once this much more has been written.
const WRITEBACK_STEP: u64 = 1024 * 1024;

impl Writeback {
    /// The folder store writes a chunk into `<name>#1` and renames it into
    /// place when complete (`#2`, … while another upload of the same chunk
    /// is under way: the hint then lands on that one, which is harmless).
    /// `None` if that file is not there, e.g. in another version of the
    /// crate: the chunk is still written and fsynced, only later.
    fn open(root: &FsPath, location: &Path) -> Option<Self> {
        let mut staging = root.join(location.as_ref()).into_os_string();
        staging.push("#1");
        let file = std::fs::File::open(staging).ok()?;
        Some(Writeback {
            file: Arc::new(file),
            started: 0,
        })
    }

    /// `written` bytes are in the file. POSIX_FADV_DONTNEED on pages still
    /// dirty starts their writeback without waiting (and drops none of
    /// them); `sync_file_range` would say so more directly but has no safe
    /// binding. A failed hint changes nothing but timing.
    async fn written(&mut self, written: u64) {
        let Some(len) = std::num::NonZeroU64::new(written.saturating_sub(self.started)) else {
            return;
        };
        if len.get() < WRITEBACK_STEP {
            return;
        }
        let (file, from) = (Arc::clone(&self.file), self.started);
        self.started = written;
        // Submitting writeback can wait for the disk's queue: not on a
        // runtime thread.
        let _ = tokio::task::spawn_blocking(move || {
            rustix::fs::fadvise(&*file, from, Some(len), rustix::fs::Advice::DontNeed)
        })
        .await;
    }
}

/// Size, SHA-256 and the media verifier, on a verifier thread.
fn check_bytes(
    bytes: &[u8],
    sha256: &str,
    hashed: bool,
    size: u64,
    format: MediaFormat,
) -> Result<(), ApiError> {
    if bytes.len() as u64 != size {
        return Err(ApiError::HashMismatch);
    }
    if !hashed && hex::encode(Sha256::digest(bytes)) != sha256 {
        return Err(ApiError::HashMismatch);
    }
    verify_media(bytes, format)
}

fn expected_format(f: MediaFormat) -> Format {
    match f {
        MediaFormat::Jpeg => Format::Jpeg,
        MediaFormat::Png => Format::Png,
        MediaFormat::Webp => Format::WebP,
        MediaFormat::Heic => Format::Heic,
        MediaFormat::Heif => Format::Heif,
        MediaFormat::Avif => Format::Avif,
        MediaFormat::Tiff => Format::Tiff,
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

/// Chunks older than this belong to abandoned uploads, unless `serve
/// --abandoned-uploads-after` says otherwise.
pub const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3_600);

/// Sweeps chunks older than `abandoned_after` at start and every 6 hours,
/// for as long as the server runs.
pub fn spawn_sweeper(
    blobs: Arc<BlobStore>,
    abandoned_after: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match blobs.sweep(abandoned_after).await {
                Ok(s) if s.chunks + s.staging_files > 0 => tracing::info!(
                    chunks = s.chunks,
                    staging_files = s.staging_files,
                    "abandoned uploads swept"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweeping abandoned uploads failed"),
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    })
}
