//! What the media verifier reads of a large movie, without holding the
//! movie.
//!
//! `clinshare_media::verify_structure` takes the whole file as `&[u8]`. Of
//! an MP4/MOV it reads (crates/media: `sniff.rs`, `verify.rs`,
//! `bmff/mod.rs`, `bmff/mp4.rs`):
//! - at most the first 4 KiB through `sniff` (bytes 0..12 and the `ftyp`
//!   brands, which it reads no further than 4 KiB);
//! - the header of every top-level box (`children` over the whole file);
//! - the whole body of each `moov` (`verify_moov`);
//! - of an `mdat`, only where its body starts and ends (every chunk offset
//!   must fall inside one).
//!
//! Any other top-level box is refused by its type before its body is read,
//! and for video there is no decode budget, EXIF read or pixel decode. So a
//! view of the file's length holding those bytes where they are and zeros
//! elsewhere gets the verdict the file itself would get. The zeros are not
//! written: a zeroed allocation this large is fresh pages from the kernel,
//! which take no memory until touched, so a view costs about its movie
//! box. If the media crate comes to read media data, this must follow it
//! (see `LARGE`).

use std::ops::Range;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::error::ApiError;

/// Movies larger than this are verified through a view; smaller files,
/// and every still (whose verifier reads all of it), are read whole. Above
/// glibc's largest mmap threshold (32 MiB), so the view is always its own
/// mapping of untouched zero pages.
pub(super) const LARGE: u64 = 32 * 1024 * 1024;

/// `sniff` reads no further than this.
const SNIFF_BYTES: u64 = 4096;
/// Size, type, 64-bit size and a `uuid` box's user type.
const MAX_HEADER: u64 = 32;
/// Headers are read in windows of this much (a file of many small boxes
/// would otherwise cost a read, or an S3 request, per box).
const WINDOW: u64 = 64 * 1024;
/// Bytes copied into the view are read in pieces of this much.
const PIECE: u64 = 1024 * 1024;
const PAGE: u64 = 4096;

/// The byte ranges of a movie the verifier reads.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    size: u64,
    /// Sorted, not overlapping.
    ranges: Vec<Range<u64>>,
}

impl Plan {
    /// Memory the view will take: every page a range touches.
    pub(super) fn held(&self) -> u64 {
        let mut pages = 0;
        let mut next_free = 0; // first page not yet counted
        for r in &self.ranges {
            let first = (r.start / PAGE).max(next_free);
            let end = r.end.div_ceil(PAGE);
            pages += end.saturating_sub(first);
            next_free = next_free.max(end);
        }
        pages * PAGE
    }

    /// The view: the planned ranges read from `location`, zeros elsewhere.
    pub(super) async fn fill(
        &self,
        store: &dyn ObjectStore,
        location: &Path,
    ) -> Result<Vec<u8>, ApiError> {
        let len = usize::try_from(self.size).map_err(ApiError::internal)?;
        let mut view = vec![0u8; len];
        for r in &self.ranges {
            let mut at = r.start;
            while at < r.end {
                let end = r.end.min(at + PIECE);
                let piece = store
                    .get_range(location, at..end)
                    .await
                    .map_err(ApiError::internal)?;
                if piece.len() as u64 != end - at {
                    // The object changed underneath: not the hashed file.
                    return Err(ApiError::HashMismatch);
                }
                view[index(at)?..index(end)?].copy_from_slice(&piece);
                at = end;
            }
        }
        Ok(view)
    }
}

fn index(at: u64) -> Result<usize, ApiError> {
    usize::try_from(at).map_err(ApiError::internal)
}

/// Reads headers through a window, so consecutive small boxes share a read.
struct Headers<'a> {
    store: &'a dyn ObjectStore,
    location: &'a Path,
    size: u64,
    start: u64,
    window: Bytes,
}

impl Headers<'_> {
    /// Up to `MAX_HEADER` bytes at `pos`, fewer at the end of the file.
    async fn at(&mut self, pos: u64) -> Result<Bytes, ApiError> {
        let want = MAX_HEADER.min(self.size - pos);
        let end = self.start + self.window.len() as u64;
        if pos < self.start || pos + want > end {
            let to = self.size.min(pos + WINDOW);
            self.window = self
                .store
                .get_range(self.location, pos..to)
                .await
                .map_err(ApiError::internal)?;
            self.start = pos;
            if (self.window.len() as u64) < want {
                return Err(ApiError::HashMismatch);
            }
        }
        let from = index(pos - self.start)?;
        Ok(self.window.slice(from..from + index(want)?))
    }
}

/// A top-level box as the media crate's walker (`bmff::boxes::next_box`)
/// reads it from `header` (the bytes at `pos`): its type and end, or
/// `None` where that walker stops with an error.
fn top_box(header: &[u8], pos: u64, size: u64) -> Option<([u8; 4], u64)> {
    let word = |r: Range<usize>| header.get(r);
    let size32 = u32::from_be_bytes(word(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = word(4..8)?.try_into().ok()?;
    let (len, mut header_len) = match size32 {
        0 => (size - pos, 8),
        1 => (u64::from_be_bytes(word(8..16)?.try_into().ok()?), 16),
        n => (u64::from(n), 8),
    };
    if &kind == b"uuid" {
        header_len += 16;
    }
    let end = pos.checked_add(len)?;
    (len >= header_len && end <= size).then_some((kind, end))
}

/// Walks the top-level boxes of the movie at `location` (`size` bytes) and
/// plans its view. `max_boxes` is the verifier's budget of boxes
/// (`Limits::max_parts`): it stops there too, before reading another
/// header. Where the verifier's walk would fail, the plan ends with the
/// bytes that make it fail.
pub(super) async fn plan(
    store: &dyn ObjectStore,
    location: &Path,
    size: u64,
    max_boxes: usize,
) -> Result<Plan, ApiError> {
    // The bytes `sniff` reads, then each header and movie box.
    let mut ranges = Vec::new();
    ranges.push(0..size.min(SNIFF_BYTES));
    let mut headers = Headers {
        store,
        location,
        size,
        start: 0,
        window: Bytes::new(),
    };
    let mut pos = 0;
    for _ in 0..max_boxes {
        if pos >= size {
            break;
        }
        let header = headers.at(pos).await?;
        ranges.push(pos..pos + header.len() as u64);
        let Some((kind, end)) = top_box(&header, pos, size) else {
            break;
        };
        if &kind == b"moov" {
            ranges.push(pos..end);
        }
        pos = end;
    }
    Ok(Plan {
        size,
        ranges: merged(ranges),
    })
}

fn merged(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges.into_iter().filter(|r| !r.is_empty()) {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinshare_protocol::referral::MediaFormat;
    use object_store::memory::InMemory;

    include!("../../tests/support/mp4.rs");

    const BOXES: usize = 100_000;

    async fn view_of(file: &[u8], max_boxes: usize) -> (Plan, Vec<u8>) {
        let store = InMemory::new();
        let at = Path::from("movie");
        store.put(&at, file.to_vec().into()).await.expect("put");
        let plan = plan(&store, &at, file.len() as u64, max_boxes)
            .await
            .expect("plan");
        let view = plan.fill(&store, &at).await.expect("fill");
        (plan, view)
    }

    fn verdict(bytes: &[u8]) -> Result<(), &'static str> {
        use clinshare_protocol::ErrorCode;
        crate::blobs::verify_media(bytes, MediaFormat::Mp4).map_err(|e| match e {
            ApiError::MediaRejected { code } => code,
            e => e.code(),
        })
    }

    /// The view gets the file's verdict, and holds only its structure.
    async fn same_verdict(file: &[u8], expected: Result<(), &'static str>) -> Plan {
        let (plan, view) = view_of(file, BOXES).await;
        assert_eq!(verdict(file), expected, "the file itself");
        assert_eq!(verdict(&view), expected, "its view");
        plan
    }

    #[tokio::test]
    async fn a_clean_movie_passes_through_its_view_which_holds_its_head() {
        let file = mp4_movie(3 << 20, &[], 7);
        let head = mp4_head(3 << 20, &[]).len();
        let plan = same_verdict(&file, Ok(())).await;
        // The first 4 KiB (which hold the head); nothing of the media data.
        assert_eq!(plan.ranges.len(), 1);
        assert_eq!(plan.ranges[0], 0..4096);
        assert!(head < 4096);
        assert_eq!(plan.held(), 4096);
    }

    #[tokio::test]
    async fn metadata_in_the_movie_box_is_found_through_the_view() {
        let udta = mp4_box(b"udta", &mp4_box(b"\xa9xyz", b"+51.5-000.1/"));
        let file = mp4_movie(2 << 20, &udta, 1);
        same_verdict(&file, Err("upload.residual_metadata")).await;
        // The same movie box far into the file: after the media data.
        let head = mp4_head(2 << 20, &udta);
        let moov_at = head.windows(4).position(|w| w == b"moov").expect("moov") - 4;
        let ftyp = &head[..moov_at];
        let moov = &head[moov_at..head.len() - 8];
        let mut media = vec![0u8; 2 << 20];
        mp4_fill(&mut media, 3);
        let mut moved = ftyp.to_vec();
        moved.extend_from_slice(&u32::try_from(media.len() + 8).expect("mdat").to_be_bytes());
        moved.extend_from_slice(b"mdat");
        moved.extend_from_slice(&media);
        moved.extend_from_slice(moov);
        let plan = same_verdict(&moved, Err("upload.residual_metadata")).await;
        let end = moved.len() as u64;
        assert_eq!(
            plan.ranges.last(),
            Some(&(end - moov.len() as u64..end)),
            "the movie box is in the view"
        );
    }

    #[tokio::test]
    async fn boxes_the_verifier_refuses_are_refused_through_the_view() {
        let clean = mp4_movie(1 << 20, &[], 5);
        // A box after the media data, with bytes in it.
        let mut trailing = clean.clone();
        trailing.extend(mp4_box(b"uuid", &[0x42; 300]));
        same_verdict(&trailing, Err("upload.residual_metadata")).await;
        // A header claiming more than the file holds.
        let mut cut = clean.clone();
        cut.extend_from_slice(&[0, 0x10, 0, 0, b'f', b'r', b'e', b'e', 1, 2]);
        same_verdict(&cut, Err("upload.residual_metadata")).await;
        // A few bytes too short to be a header.
        let mut stub = clean;
        stub.extend_from_slice(&[0, 0, 0]);
        same_verdict(&stub, Err("upload.residual_metadata")).await;
    }

    #[tokio::test]
    async fn the_walk_stops_where_the_verifiers_budget_does() {
        let mut file = mp4_movie(1 << 20, &[], 9);
        for _ in 0..5 {
            file.extend(mp4_box(b"free", &[0; 8192]));
        }
        let (plan, _) = view_of(&file, 4).await;
        // ftyp, moov, mdat and one `free` box: four headers read.
        let mdat_end = mp4_head(1 << 20, &[]).len() as u64 + (1 << 20);
        assert_eq!(plan.ranges.last(), Some(&(mdat_end..mdat_end + 32)));
    }

    #[test]
    fn held_memory_counts_each_page_once() {
        let plan = Plan {
            size: 1 << 20,
            ranges: vec![0..10, 100..200, 5000..5001, 3 * 4096 - 1..3 * 4096 + 1],
        };
        assert_eq!(plan.held(), 4 * 4096);
        assert_eq!(
            merged(vec![10..20, 0..4, 15..30, 30..31, 40..40]),
            vec![0..4, 10..31]
        );
    }
}
