//! Content sniffing: the bytes decide the format, never the file name.

use crate::{Format, MediaError};

/// Detects the container format from the leading bytes.
///
/// Known but unsupported formats (GIF, BMP, ...) are rejected with an
/// [`MediaError::UnsupportedFormat`] naming what was found. Classic TIFF
/// is sniffed as [`Format::Tiff`]; BigTIFF and camera raw files built on
/// TIFF (DNG, CR2, ...) are refused by name once their directory is read.
pub fn sniff(bytes: &[u8]) -> Result<Format, MediaError> {
    let unsupported = |what: &str| MediaError::UnsupportedFormat {
        detected: what.to_owned(),
    };
    if bytes.len() < 12 {
        return Err(unsupported("a file too short to be a photo or video"));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if &bytes[4..8] == b"ftyp" {
        return bmff_brand(bytes).ok_or_else(|| {
            let brand = String::from_utf8_lossy(&bytes[8..12]).into_owned();
            unsupported(&format!(
                "ISO media file with brand '{}'",
                brand.escape_default()
            ))
        });
    }
    // QuickTime files from old cameras may start without 'ftyp'.
    if matches!(
        &bytes[4..8],
        b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
    ) {
        return Ok(Format::Mov);
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        // Canon CR2 marks itself right after the header.
        if &bytes[8..10] == b"CR" {
            return Err(unsupported(
                "camera raw image (CR2); export it as JPEG or TIFF",
            ));
        }
        return Ok(Format::Tiff);
    }
    let detected = if bytes.starts_with(b"II+\0") || bytes.starts_with(b"MM\0+") {
        "BigTIFF image (save it as a standard TIFF or JPEG)"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "GIF image"
    } else if bytes.starts_with(b"BM") {
        "BMP image"
    } else if bytes.starts_with(b"%PDF") {
        "PDF document"
    } else if bytes.starts_with(b"PK\x03\x04") {
        "ZIP archive or office document"
    } else if bytes.starts_with(b"RIFF") {
        "RIFF file that is not WebP (e.g. AVI or WAV)"
    } else if bytes.starts_with(&[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50])
        || bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
    {
        "JPEG 2000 image"
    } else if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL ") {
        "JPEG XL image"
    } else if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "Matroska/WebM video"
    } else if bytes.starts_with(b"8BPS") {
        "Photoshop document"
    } else {
        "an unrecognised file type"
    };
    Err(unsupported(detected))
}

fn bmff_brand(bytes: &[u8]) -> Option<Format> {
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = size.clamp(8, bytes.len().min(4096));
    let major = &bytes[8..12];
    let compatible = bytes.get(16..end).unwrap_or(&[]).chunks_exact(4);
    let brands: Vec<&[u8]> = std::iter::once(major).chain(compatible).collect();
    let has = |set: &[&[u8]]| brands.iter().any(|b| set.contains(b));
    // The major brand wins; compatible brands break ties for generic majors.
    let classify = |b: &[u8]| -> Option<Format> {
        match b {
            b"avif" | b"avis" => Some(Format::Avif),
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some(Format::Heic),
            b"qt  " => Some(Format::Mov),
            [b'3', b'g', b'p' | b'2' | b'g' | b's', _] => Some(Format::ThreeGp),
            b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"iso8" | b"mp41"
            | b"mp42" | b"mp71" | b"avc1" | b"M4V " | b"M4VP" | b"MSNV" | b"XAVC" | b"NDAS"
            | b"f4v " | b"mmp4" | b"dash" | b"CAEP" | b"caqv" => Some(Format::Mp4),
            _ => None,
        }
    };
    if let Some(f) = classify(major) {
        return Some(f);
    }
    if major == b"mif1" || major == b"msf1" || has(&[b"mif1", b"msf1"]) {
        return Some(if has(&[b"avif", b"avis"]) {
            Format::Avif
        } else if has(&[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"]) {
            Format::Heic
        } else {
            Format::Heif
        });
    }
    brands.iter().skip(1).find_map(|b| classify(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compat: &[&[u8; 4]]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((16 + 4 * compat.len()) as u32).to_be_bytes());
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 0, 0]);
        for c in compat {
            v.extend_from_slice(*c);
        }
        v
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01").ok(),
            Some(Format::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").ok(),
            Some(Format::Png)
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").ok(), Some(Format::WebP));
        assert_eq!(sniff(b"II*\0\x08\0\0\0\0\0\0\0").ok(), Some(Format::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08\0\0\0\0").ok(), Some(Format::Tiff));
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1"])).ok(), Some(Format::Heic));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"avif"])).ok(), Some(Format::Avif));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"miaf"])).ok(), Some(Format::Heif));
        assert_eq!(sniff(&ftyp(b"qt  ", &[])).ok(), Some(Format::Mov));
        assert_eq!(sniff(&ftyp(b"3gp5", &[])).ok(), Some(Format::ThreeGp));
        assert_eq!(sniff(&ftyp(b"mp42", &[b"isom"])).ok(), Some(Format::Mp4));
    }

    #[test]
    fn names_what_it_rejects() {
        for (bytes, needle) in [
            (&b"GIF89a\x08\0\x08\0\0\0\0"[..], "GIF"),
            (&b"II+\0\x08\0\0\0\0\0\0\0"[..], "BigTIFF"),
            (&b"II*\0\x10\0\0\0CR\x02\0"[..], "CR2"),
            (&b"hello world, not media"[..], "unrecognised"),
            (&b"\xFF\xD8"[..], "too short"),
        ] {
            let err = sniff(bytes).expect_err("must reject");
            assert_eq!(err.code(), "media.unsupported_format");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let err = sniff(&ftyp(b"zzzz", &[])).expect_err("unknown brand");
        assert!(err.to_string().contains("zzzz"));
    }
}
