//! The media formats the sanitiser understands.

use serde::Serialize;
use std::fmt;

/// A supported container format, as detected from the bytes (never the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    /// HEIF with HEVC-coded images (iPhone and most Android phones).
    Heic,
    /// HEIF with another or unspecified codec.
    Heif,
    Avif,
    /// Baseline TIFF stills (scanners, some clinical cameras).
    Tiff,
    Mp4,
    Mov,
    #[serde(rename = "3gp")]
    ThreeGp,
}

impl Format {
    /// The extension written for sanitised copies.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::WebP => "webp",
            Self::Heic => "heic",
            Self::Heif => "heif",
            Self::Avif => "avif",
            Self::Tiff => "tif",
            Self::Mp4 => "mp4",
            Self::Mov => "mov",
            Self::ThreeGp => "3gp",
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
            Self::Heic => "image/heic",
            Self::Heif => "image/heif",
            Self::Avif => "image/avif",
            Self::Tiff => "image/tiff",
            Self::Mp4 => "video/mp4",
            Self::Mov => "video/quicktime",
            Self::ThreeGp => "video/3gpp",
        }
    }

    pub fn is_video(self) -> bool {
        matches!(self, Self::Mp4 | Self::Mov | Self::ThreeGp)
    }

    /// ISO base media file format (HEIF family and MP4 family).
    pub fn is_bmff(self) -> bool {
        matches!(
            self,
            Self::Heic | Self::Heif | Self::Avif | Self::Mp4 | Self::Mov | Self::ThreeGp
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
            Self::WebP => "WebP",
            Self::Heic => "HEIC",
            Self::Heif => "HEIF",
            Self::Avif => "AVIF",
            Self::Tiff => "TIFF",
            Self::Mp4 => "MP4",
            Self::Mov => "MOV",
            Self::ThreeGp => "3GP",
        })
    }
}
