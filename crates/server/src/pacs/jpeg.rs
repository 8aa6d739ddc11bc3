//! The few facts DICOM needs from a JPEG's frame header (SOF), read without
//! decoding: the bitstream is filed as is, so these must match it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// SOF marker number: 0 baseline, 1 extended, 2 progressive, ...
    pub process: u8,
    pub precision: u8,
    pub rows: u16,
    pub columns: u16,
    pub components: u8,
    /// Horizontal and vertical sampling factors of the first component;
    /// 2×1 or 2×2 against 1×1 chroma is 4:2:2 / 4:2:0.
    pub luma_sampling: (u8, u8),
    /// Adobe APP14 colour transform, when present (0 = RGB/CMYK as is).
    pub adobe_transform: Option<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JpegError {
    #[error("not a JPEG file")]
    NotJpeg,
    #[error("the JPEG has no frame header")]
    NoFrame,
}

/// Walks the marker segments up to the first SOFn.
pub fn frame_header(bytes: &[u8]) -> Result<FrameHeader, JpegError> {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err(JpegError::NotJpeg);
    }
    let mut adobe_transform = None;
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return Err(JpegError::NoFrame);
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let seg = bytes.get(i + 4..i + 2 + len).ok_or(JpegError::NoFrame)?;
        match marker {
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if seg.len() < 6 {
                    return Err(JpegError::NoFrame);
                }
                let components = seg[5];
                let luma = seg.get(7).copied().unwrap_or(0x11);
                return Ok(FrameHeader {
                    process: marker - 0xC0,
                    precision: seg[0],
                    rows: u16::from_be_bytes([seg[1], seg[2]]),
                    columns: u16::from_be_bytes([seg[3], seg[4]]),
                    components,
                    luma_sampling: (luma >> 4, luma & 0x0F),
                    adobe_transform,
                });
            }
            0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => {
                adobe_transform = Some(seg[11]);
            }
            0xDA | 0xD9 => return Err(JpegError::NoFrame),
            _ => {}
        }
        i += 2 + len;
    }
    Err(JpegError::NoFrame)
}

impl FrameHeader {
    /// Photometric Interpretation for the bitstream as coded (PS3.5 8.2.1):
    /// JFIF-style colour JPEG is YCbCr, and with subsampled chroma the
    /// standard's term for Baseline is YBR_FULL_422.
    pub fn photometric(&self) -> &'static str {
        match (self.components, self.adobe_transform) {
            (1, _) => "MONOCHROME2",
            (3, Some(0)) => "RGB",
            (3, _) if self.luma_sampling != (1, 1) => "YBR_FULL_422",
            (3, _) => "YBR_FULL",
            _ => "UNSUPPORTED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frame_header_and_refuses_what_is_not_jpeg() {
        // SOI, APP0 (len 4), SOF0: precision 8, 16 rows, 32 columns, 3 comps,
        // first 2x2.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 8, 0, 16, 0,
            32, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
        ];
        let h = frame_header(&jpeg).expect("header");
        assert_eq!(
            (h.rows, h.columns, h.components, h.precision),
            (16, 32, 3, 8)
        );
        assert_eq!(h.process, 0);
        assert_eq!(h.photometric(), "YBR_FULL_422");
        assert_eq!(frame_header(b"\x89PNG\r\n"), Err(JpegError::NotJpeg));
        assert_eq!(
            frame_header(&[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(JpegError::NoFrame)
        );
    }
}
