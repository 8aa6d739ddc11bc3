//! Errors with a stable machine code per variant, and messages a nurse can act on.

use crate::Format;

/// Everything that can go wrong while sniffing, sanitising, verifying or
/// thumbnailing. [`MediaError::code`] is stable and safe to match on in the UI;
/// the `Display` text is meant for the person importing the photo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("this file type is not supported ({detected}). Please use JPEG, PNG, WebP, HEIC/AVIF, TIFF, MP4 or MOV")]
    UnsupportedFormat { detected: String },

    #[error("the file is too large ({size} bytes; the limit is {limit} bytes)")]
    TooLarge { size: u64, limit: u64 },

    #[error("the picture is too large ({width}x{height} pixels); it may be damaged or a decompression bomb")]
    DimensionsTooLarge { width: u64, height: u64 },

    #[error("opening this picture would need {needed_mb} MB of memory (the limit is {limit_mb} MB); it may be damaged or a decompression bomb")]
    DecodeTooLarge { needed_mb: u64, limit_mb: u64 },

    #[error("the {format} file is damaged or incomplete: {reason}")]
    Malformed { format: Format, reason: String },

    #[error("the {format} file contains no picture, only metadata")]
    NoImageData { format: Format },

    #[error("the {format} file uses a feature that is not supported: {feature}")]
    UnsupportedFeature { format: Format, feature: String },

    #[error("the cleaned {format} file failed its safety check ({reason}); it was not kept")]
    VerificationFailed { format: Format, reason: String },

    #[error("the {format} picture could not be decoded: {reason}")]
    Undecodable { format: Format, reason: String },

    #[error("the picture decoder stopped before it could show this {format} file ({reason}); the file is kept, and only its preview is missing")]
    DecoderFailed { format: Format, reason: String },

    #[error("a preview cannot be made for this {format} file: {reason}")]
    ThumbnailUnavailable { format: Format, reason: String },

    #[error("internal error while processing the picture: {reason}")]
    Internal { reason: String },
}

impl MediaError {
    /// Stable identifier for the error kind, e.g. `media.unsupported_format`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedFormat { .. } => "media.unsupported_format",
            Self::TooLarge { .. } => "media.too_large",
            Self::DimensionsTooLarge { .. } => "media.dimensions_too_large",
            Self::DecodeTooLarge { .. } => "media.decode_too_large",
            Self::Malformed { .. } => "media.malformed",
            Self::NoImageData { .. } => "media.no_image_data",
            Self::UnsupportedFeature { .. } => "media.unsupported_feature",
            Self::VerificationFailed { .. } => "media.verification_failed",
            Self::Undecodable { .. } => "media.undecodable",
            Self::ThumbnailUnavailable { .. } => "media.thumbnail_unavailable",
            Self::DecoderFailed { .. } => "media.decoder_failed",
            Self::Internal { .. } => "media.internal",
        }
    }

    pub(crate) fn malformed(format: Format, reason: impl Into<String>) -> Self {
        Self::Malformed {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn verification(format: Format, reason: impl Into<String>) -> Self {
        Self::VerificationFailed {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported_feature(format: Format, feature: impl Into<String>) -> Self {
        Self::UnsupportedFeature {
            format,
            feature: feature.into(),
        }
    }
}

impl serde::Serialize for MediaError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("MediaError", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_namespaced() {
        let e = MediaError::UnsupportedFormat {
            detected: "GIF image".into(),
        };
        assert_eq!(e.code(), "media.unsupported_format");
        assert!(e.to_string().contains("GIF image"));
        let json = serde_json_like(&e);
        assert!(json.contains("media.unsupported_format"));
    }

    fn serde_json_like(e: &MediaError) -> String {
        format!("{} {}", e.code(), e)
    }
}
