//! What decoding a picture costs in memory, known from its headers before
//! a byte is decoded, and one budget that every decode in the process
//! shares.
//!
//! A 1.5 MB PNG can declare 14142×14142 16-bit pixels: 1.6 GB once
//! decoded. Pixel counts alone do not catch it (a 200 MP limit lets it
//! through), so each decode's cost is computed from the format's own
//! header (samples per pixel, bit depth, progressive coefficient buffers)
//! and refused above [`Limits::max_decode_alloc`]. A cost within that
//! limit then waits for room in a process-wide pool of
//! [`Limits::decode_pool`] bytes, so that import workers on every core
//! cannot each hold a large decode at once.

use std::sync::{Condvar, Mutex};

use crate::{jpeg, png, tiff, Format, Limits, MediaError};

/// Why a picture is decoded: the two paths allocate differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The verifier's full decode (JPEG: luma only).
    Verify,
    /// A thumbnail or preview of this long edge: JPEG at the smallest DCT
    /// scale that reaches it, the rest at full size, then converted to
    /// 8-bit RGB.
    Thumbnail(u32),
}

/// Bytes a decoder allocates for `bytes` (already sniffed and walked, of
/// `width`×`height`), with a margin for its working buffers.
pub(crate) fn decode_cost(
    bytes: &[u8],
    format: Format,
    (width, height): (u32, u32),
    purpose: Purpose,
) -> u64 {
    let px = u64::from(width) * u64::from(height);
    let rgb8 = if matches!(purpose, Purpose::Thumbnail(_)) {
        3 * px
    } else {
        0
    };
    match format {
        Format::Jpeg => {
            let (components, progressive) = jpeg::frame_header(bytes)
                .map_or((3, true), |(_, _, n, progressive)| (n, progressive));
            let components = u64::from(components.max(1));
            // A progressive picture keeps every coefficient (two bytes each)
            // until its last scan; a baseline one is decoded row by row.
            let coefficients = if progressive { 2 * components * px } else { 0 };
            let output = match purpose {
                Purpose::Verify => px,
                // The thumbnailer's n/8 scale (`thumbnail::decode_with_turbojpeg`).
                Purpose::Thumbnail(max_px) => {
                    let long = u64::from(width.max(height).max(1));
                    let eighths = (8 * u64::from(max_px)).div_ceil(long).clamp(1, 8);
                    let edge = |x: u32| (u64::from(x) * eighths).div_ceil(8);
                    2 * components * edge(width) * edge(height)
                }
            };
            coefficients + output
        }
        Format::Png => png::header_facts(bytes).map_or(8, |(_, _, b)| b) * px + rgb8,
        Format::WebP => 4 * px + rgb8,
        Format::Tiff => {
            tiff::header_facts(bytes, &Limits::default()).map_or(8, |f| f.bytes_per_pixel) * px
                + rgb8
        }
        // libheif's planes (up to 16-bit) and the interleaved copy.
        Format::Heic | Format::Heif | Format::Avif => 6 * px + rgb8,
        Format::Mp4 | Format::Mov | Format::ThreeGp => 0,
    }
}

/// Fails when decoding would cost more than one decode may use.
pub(crate) fn check(cost: u64, limits: &Limits) -> Result<(), MediaError> {
    let limit = limits.max_decode_alloc.min(limits.decode_pool);
    if cost > limit {
        return Err(MediaError::DecodeTooLarge {
            needed_mb: cost.div_ceil(1 << 20),
            limit_mb: limit >> 20,
        });
    }
    Ok(())
}

/// Bytes of decodes in progress in this process.
static IN_USE: Mutex<u64> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Room for one decode in the shared pool, given back when dropped.
#[must_use]
pub(crate) struct Reservation(u64);

/// Checks `cost`, then waits until the pool has room for it. A thread holds
/// one reservation at a time (decodes do not nest), so waiting cannot
/// deadlock: every holder finishes without asking for more.
pub(crate) fn reserve(cost: u64, limits: &Limits) -> Result<Reservation, MediaError> {
    check(cost, limits)?;
    let mut in_use = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    // An empty pool always admits one decode, whatever its size.
    while *in_use > 0 && *in_use + cost > limits.decode_pool {
        in_use = FREED.wait(in_use).unwrap_or_else(|p| p.into_inner());
    }
    *in_use += cost;
    Ok(Reservation(cost))
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut in_use = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        *in_use = in_use.saturating_sub(self.0);
        FREED.notify_all();
    }
}

/// Bytes reserved by decodes in progress (for tests).
#[cfg(test)]
pub(crate) fn in_use() -> u64 {
    *IN_USE.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_decode_over_the_limit_is_refused_with_its_cost() {
        let limits = Limits::default();
        let e = check(limits.max_decode_alloc + 1, &limits).expect_err("over");
        assert_eq!(e.code(), "media.decode_too_large");
        assert!(e.to_string().contains("MB of memory"), "{e}");
        check(limits.max_decode_alloc, &limits).expect("at the limit");
    }

    #[test]
    fn concurrent_decodes_never_hold_more_than_the_pool() {
        let limits = Limits {
            decode_pool: 100,
            max_decode_alloc: 100,
            ..Limits::default()
        };
        // Two reservations of 40 fit in 100, three do not; other tests'
        // decodes only make the pool fuller.
        let holding = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let r = reserve(40, &limits).expect("within the limit");
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(r);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2, "{:?}", most);
        assert_eq!(holding.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_lone_decode_larger_than_the_free_room_still_runs() {
        let limits = Limits {
            decode_pool: 100,
            max_decode_alloc: 100,
            ..Limits::default()
        };
        let r = reserve(100, &limits).expect("fits an empty pool");
        assert!(in_use() >= 100);
        drop(r);
    }
}
