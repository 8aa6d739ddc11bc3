//! A finished upload's chunks written out as one object, in pieces: the
//! chunks are read in order (the part of one that an earlier one already
//! covers is skipped), hashed and written as they are read, so a file of
//! any size costs a few pieces of memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path as FsPath;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetResultPayload, MultipartUpload, ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use super::{Part, Writeback};
use crate::error::ApiError;

/// Read from a chunk in a folder at a time.
const PIECE: u64 = 1024 * 1024;

/// Where the joined file goes.
pub(super) struct Target<'a> {
    pub location: &'a Path,
    /// Bytes gathered before each part is written (a bucket's minimum).
    pub part_size: usize,
    /// The folder of the folder backend, to start writeback early.
    pub local_root: Option<&'a FsPath>,
}

/// Writes `parts` (sorted by start; together `size` bytes from byte 0)
/// into a new object at `target` and returns the SHA-256 of what it
/// wrote. A multipart put: nothing is at the target unless all of it was
/// written. A chunk shorter than listed (changed underneath) is a hash
/// mismatch, as the file is then not the one uploaded.
pub(super) async fn join(
    store: &dyn ObjectStore,
    parts: &[Part],
    size: u64,
    target: Target<'_>,
) -> Result<[u8; 32], ApiError> {
    let mut upload = store
        .put_multipart(target.location)
        .await
        .map_err(ApiError::internal)?;
    let writeback = target
        .local_root
        .and_then(|root| Writeback::open(root, target.location));
    let mut out = Out {
        upload: upload.as_mut(),
        writeback,
        part_size: target.part_size,
        pending: Vec::new(),
        pending_len: 0,
        written: 0,
        hasher: Sha256::new(),
    };
    let copied = copy_parts(store, parts, &mut out).await;
    let copied = match copied {
        Ok(()) => out.flush().await,
        Err(e) => Err(e),
    };
    let Out {
        hasher, written, ..
    } = out;
    let digest = hasher.finalize().into();
    match copied {
        Ok(()) if written == size => {}
        Ok(()) => {
            let _ = upload.abort().await;
            return Err(ApiError::HashMismatch);
        }
        Err(e) => {
            let _ = upload.abort().await;
            return Err(e);
        }
    }
    upload.complete().await.map_err(ApiError::internal)?;
    Ok(digest)
}

async fn copy_parts(
    store: &dyn ObjectStore,
    parts: &[Part],
    out: &mut Out<'_>,
) -> Result<(), ApiError> {
    for p in parts {
        let covered = out.written;
        if p.start + p.size <= covered {
            continue;
        }
        let skip = covered - p.start;
        let mut piece = Pieces::open(store, p, skip).await?;
        while let Some(bytes) = piece.next().await? {
            out.push(bytes).await?;
        }
        if out.written != p.start + p.size {
            return Err(ApiError::HashMismatch);
        }
    }
    Ok(())
}

/// The multipart put being written, and the hash of what went into it.
struct Out<'a> {
    upload: &'a mut dyn MultipartUpload,
    writeback: Option<Writeback>,
    part_size: usize,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Bytes taken so far (hashed; written or pending).
    written: u64,
    hasher: Sha256,
}

impl Out<'_> {
    async fn push(&mut self, bytes: Bytes) -> Result<(), ApiError> {
        self.hasher.update(&bytes);
        self.written += bytes.len() as u64;
        self.pending_len += bytes.len();
        self.pending.push(bytes);
        if self.pending_len >= self.part_size {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.pending_len == 0 {
            return Ok(());
        }
        let part: PutPayload = self.pending.drain(..).collect();
        self.pending_len = 0;
        self.upload
            .put_part(part)
            .await
            .map_err(ApiError::internal)?;
        if let Some(w) = self.writeback.as_mut() {
            w.written(self.written).await;
        }
        Ok(())
    }
}

/// A chunk's bytes from `skip` on, in pieces.
enum Pieces {
    /// A folder's file, read here in pieces of [`PIECE`] (the crate's own
    /// stream reads 8 KiB per blocking call).
    File {
        file: Option<std::fs::File>,
        left: u64,
    },
    Stream(std::pin::Pin<Box<dyn futures_util::Stream<Item = object_store::Result<Bytes>> + Send>>),
}

impl Pieces {
    async fn open(store: &dyn ObjectStore, p: &Part, skip: u64) -> Result<Self, ApiError> {
        let options = GetOptions {
            range: (skip > 0).then(|| (skip..p.size).into()),
            ..GetOptions::default()
        };
        let got = store
            .get_opts(&p.location, options)
            .await
            .map_err(ApiError::internal)?;
        if got.meta.size != p.size {
            return Err(ApiError::HashMismatch);
        }
        let range = got.range.clone();
        Ok(match got.payload {
            GetResultPayload::File(mut file, _) => {
                let file = tokio::task::spawn_blocking(move || {
                    file.seek(SeekFrom::Start(range.start)).map(|_| file)
                })
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
                Pieces::File {
                    file: Some(file),
                    left: range.end - range.start,
                }
            }
            GetResultPayload::Stream(s) => Pieces::Stream(s),
        })
    }

    async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        match self {
            Pieces::Stream(s) => s.next().await.transpose().map_err(ApiError::internal),
            Pieces::File { file, left } => {
                let (Some(f), true) = (file.take(), *left > 0) else {
                    return Ok(None);
                };
                let want = (*left).min(PIECE);
                let (f, bytes) = tokio::task::spawn_blocking(move || {
                    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
                    let mut f = f;
                    (&mut f).take(want).read_to_end(&mut buf).map(|_| (f, buf))
                })
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
                if bytes.is_empty() {
                    // Shorter than listed; `copy_parts` sees the shortfall.
                    return Ok(None);
                }
                *left -= bytes.len() as u64;
                *file = Some(f);
                Ok(Some(Bytes::from(bytes)))
            }
        }
    }
}
