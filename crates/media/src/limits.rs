//! Resource limits that keep hostile or broken files from exhausting memory or time.

use serde::Serialize;

/// Upper bounds applied before and during parsing and decoding.
///
/// The defaults fit phone and camera output (up to ~200 MP stills and 4 GiB
/// videos are well beyond what community nurses capture) while rejecting
/// decompression bombs: by the memory a decode would need, computed from
/// the headers, and by the work hidden in a small file (scans, samples).
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// Largest accepted still image file, in bytes.
    pub max_image_bytes: u64,
    /// Largest accepted video file, in bytes.
    pub max_video_bytes: u64,
    /// Largest accepted width or height, in pixels.
    pub max_dimension: u32,
    /// Largest accepted width × height, in pixels.
    pub max_pixels: u64,
    /// Largest number of segments/chunks/boxes walked in one file.
    pub max_parts: usize,
    /// Largest memory one decode may use (verifying or thumbnailing), as
    /// computed from the headers before decoding (`budget.rs`).
    pub max_decode_alloc: u64,
    /// Memory that all decodes in progress in the process share: a decode
    /// waits until the pool has room for it.
    pub decode_pool: u64,
    /// Most scans a progressive JPEG may have (cameras write about ten;
    /// each scan is another pass over every coefficient).
    pub max_jpeg_scans: usize,
    /// Most samples one track of a movie may list (ten hours of 60 fps
    /// video is 2.2 million).
    pub max_track_samples: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_image_bytes: 200 * 1024 * 1024,
            max_video_bytes: 4 * 1024 * 1024 * 1024,
            max_dimension: 30_000,
            max_pixels: 200_000_000,
            max_parts: 100_000,
            // A 200 MP baseline JPEG (luma), a 60 MP RGBA PNG or a 40 MP
            // HEIC; two decodes of that size at once, with the process's
            // own ~40 MB, stay under 400 MB.
            max_decode_alloc: 256 * 1024 * 1024,
            decode_pool: 320 * 1024 * 1024,
            max_jpeg_scans: 500,
            max_track_samples: 10_000_000,
        }
    }
}

impl Limits {
    pub(crate) fn check_dimensions(
        &self,
        width: u32,
        height: u32,
    ) -> Result<(), crate::MediaError> {
        let pixels = u64::from(width) * u64::from(height);
        if width > self.max_dimension || height > self.max_dimension || pixels > self.max_pixels {
            return Err(crate::MediaError::DimensionsTooLarge {
                width: width.into(),
                height: height.into(),
            });
        }
        Ok(())
    }
}
