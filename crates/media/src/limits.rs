//! Resource limits that keep hostile or broken files from exhausting memory or time.

use serde::Serialize;

/// Upper bounds applied before and during parsing and decoding.
///
/// The defaults fit phone and camera output (up to ~200 MP stills and 4 GiB
/// videos are well beyond what community nurses capture) while rejecting
/// decompression bombs.
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
    /// Largest allocation a decoder may make while verifying or thumbnailing.
    pub max_decode_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_image_bytes: 200 * 1024 * 1024,
            max_video_bytes: 4 * 1024 * 1024 * 1024,
            max_dimension: 30_000,
            max_pixels: 200_000_000,
            max_parts: 100_000,
            max_decode_alloc: 2 * 1024 * 1024 * 1024,
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
