//! Clinical media sanitiser: sniff, strip metadata losslessly, verify, thumbnail.
//!
//! Pure bytes in, bytes out: no database, no network, no files.
//!
//! ```text
//! bytes ──sniff──▶ Format ──strip (allowlist)──▶ candidate ──verify──▶ Sanitised
//! ```
//!
//! Every container is rewritten by allowlist: only what is needed to render
//! the picture (or play the video) is copied, byte for byte. Orientation is
//! kept as a minimal one-tag EXIF block (JPEG APP1, PNG eXIf, WebP EXIF),
//! as HEIF's own `irot`/`imir` properties (added when only the removed EXIF
//! or XMP held it) or as TIFF's Orientation tag, so the picture still
//! displays upright without re-encoding. Capture time and
//! size are returned as fields, never left in the file. The output is then
//! verified by independent readers and decoded; if anything fails, the caller
//! gets an error and must not store the file.
//!
//! Baseline TIFF is rewritten from an allowlist of its tags (`tiff.rs`);
//! DNG, BigTIFF and GIF are rejected with [`MediaError::UnsupportedFormat`].
#![forbid(unsafe_code)]

mod bmff;
mod budget;
mod error;
mod exif_min;
mod format;
pub mod jpeg;
mod limits;
mod lossless;
mod png;
mod report;
mod sniff;
mod thumbnail;
mod tiff;
mod verify;
mod webp;

pub use error::MediaError;
pub use format::Format;
pub use limits::Limits;
pub use report::{CaptureTime, CaptureTimeSource, Removed, RemovedKind, Sanitised};
pub use sniff::sniff;
pub use thumbnail::{
    heif_rgb, jpeg_from_rgb, thumbnail, thumbnail_with_limits, PREVIEW_PX, THUMBNAIL_PX,
};
pub use verify::{verify, verify_structure, verify_with_limits, Verification, VerifiedInfo};

/// Strips identifying metadata from a photo or video and verifies the result,
/// including a full pixel decode ([`Verification::Full`]).
///
/// The returned bytes are safe to store: they passed [`verify`], and for
/// still photos every byte of the coded picture (tables, scans, ICC profile)
/// was compared with the original. Inputs that cannot be cleaned with
/// certainty are rejected with an error.
pub fn sanitise(bytes: &[u8], limits: &Limits) -> Result<Sanitised, MediaError> {
    sanitise_with(bytes, limits, Verification::Full)
}

/// [`sanitise`] with a choice of how deeply the output is verified.
pub fn sanitise_with(
    bytes: &[u8],
    limits: &Limits,
    verification: Verification,
) -> Result<Sanitised, MediaError> {
    sanitise_reusing(bytes, limits, verification, Vec::new())
}

/// [`sanitise_with`], writing a JPEG's copy into `buffer` (cleared first):
/// for bulk work, where a fresh multi-megabyte buffer per photo costs a page
/// fault per 4 KiB. Pass the last result's `bytes` back in.
pub fn sanitise_reusing(
    bytes: &[u8],
    limits: &Limits,
    verification: Verification,
    buffer: Vec<u8>,
) -> Result<Sanitised, MediaError> {
    let format = sniff(bytes)?;
    let cap = if format.is_video() {
        limits.max_video_bytes
    } else {
        limits.max_image_bytes
    };
    if bytes.len() as u64 > cap {
        return Err(MediaError::TooLarge {
            size: bytes.len() as u64,
            limit: cap,
        });
    }
    // The original's picture comes from the sanitiser's walk and the
    // copy's from the verifier's: for a photo, the coded data is most of
    // the bytes, and walking it is most of the comparison's cost.
    let (stripped, before) = match format {
        Format::Jpeg => {
            let (s, p) = jpeg::sanitise(bytes, limits, buffer)?;
            (s, Some(p))
        }
        Format::Png => {
            let (s, p) = png::sanitise(bytes, limits)?;
            (s, Some(p))
        }
        Format::WebP => {
            let (s, p) = webp::sanitise(bytes, limits)?;
            (s, Some(p))
        }
        Format::Tiff => {
            let (s, p) = tiff::sanitise(bytes, limits)?;
            (s, Some(p))
        }
        // HEIF and video are rewritten box by box with the coded data left
        // in place; their structural walk covers them.
        _ => (bmff::sanitise(bytes, limits, format)?, None),
    };
    let mut after = lossless::Picture::default();
    let info = verify::verify_inner(
        &stripped.bytes,
        format,
        limits,
        verification,
        before.as_ref().map(|_| &mut after),
    )?;
    if let Some(before) = &before {
        lossless::compare(format, before, &after)?;
    }
    if (info.width, info.height) != (stripped.width, stripped.height) {
        return Err(MediaError::verification(
            format,
            format!(
                "size {}x{} after cleaning differs from {}x{} before",
                info.width, info.height, stripped.width, stripped.height
            ),
        ));
    }
    Ok(Sanitised {
        bytes: stripped.bytes,
        format,
        width: stripped.width,
        height: stripped.height,
        orientation: stripped.orientation,
        captured_at: stripped.captured_at,
        removed: stripped.removed.into_vec(),
    })
}
