//! The proof that cleaning left the picture alone: every byte a decoder
//! reads to draw a still photo is present in the cleaned copy unchanged and
//! in the same order as in the original.
//!
//! The sanitiser runs this at every verification level. It is what makes
//! the structural level safe for bulk work: a decode of the copy can only
//! show that the picture is decodable, while this shows that it is the
//! original picture, which a decode cannot (a changed quantisation table
//! still decodes). HEIF and video are rewritten box by box with the coded
//! data left where it is; their structural walk covers them.

use crate::{jpeg, png, webp, Format, MediaError};

/// A still picture as a decoder reads it. JPEG's colour segments (ICC,
/// Adobe) are a separate sequence: the writer moves them ahead of the
/// tables, and a decoder reads them wherever they are.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Picture<'a> {
    coding: Vec<&'a [u8]>,
    colour: Vec<&'a [u8]>,
}

impl<'a> Picture<'a> {
    /// A picture from its parts in decoder order, and its colour parts.
    pub(crate) fn from_parts(coding: Vec<&'a [u8]>, colour: Vec<&'a [u8]>) -> Self {
        Self { coding, colour }
    }
}

/// Fails unless `output` carries exactly the picture data of `input` (for
/// tests; the sanitiser compares the pictures of the walks it makes).
#[cfg(test)]
pub(crate) fn same_picture(format: Format, input: &[u8], output: &[u8]) -> Result<(), MediaError> {
    let (before, after) = match format {
        Format::Jpeg => {
            let walk = |d| jpeg::walk(d, usize::MAX, Format::Jpeg).map(|(p, _)| jpeg_picture(&p));
            (walk(input)?, walk(output)?)
        }
        Format::Png => {
            let walk = |d| png::walk(d, usize::MAX, Format::Png).map(|(c, _)| png_picture(&c));
            (walk(input)?, walk(output)?)
        }
        Format::WebP => {
            let walk =
                |d| webp::walk(d, usize::MAX, Format::WebP).and_then(|(c, _)| webp_picture(&c));
            (walk(input)?, walk(output)?)
        }
        _ => return Ok(()),
    };
    compare(format, &before, &after)
}

/// Fails unless the two pictures are the same, naming the first difference.
pub(crate) fn compare(
    format: Format,
    before: &Picture<'_>,
    after: &Picture<'_>,
) -> Result<(), MediaError> {
    for (what, a, b) in [
        ("picture part", &before.coding, &after.coding),
        ("colour segment", &before.colour, &after.colour),
    ] {
        if a.len() != b.len() {
            return Err(differs(
                format,
                format!("{} {what}s before cleaning, {} after", a.len(), b.len()),
            ));
        }
        if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
            return Err(differs(format, format!("{what} {} changed", i + 1)));
        }
    }
    Ok(())
}

fn differs(format: Format, detail: String) -> MediaError {
    MediaError::verification(
        format,
        format!("the cleaned copy does not hold the original picture ({detail})"),
    )
}

/// Tables, frame and scan headers, entropy-coded data with its restart
/// markers; and apart, ICC profile segments and the Adobe colour transform.
pub(crate) fn jpeg_picture<'a>(pieces: &[jpeg::Piece<'a>]) -> Picture<'a> {
    let mut p = Picture::default();
    for piece in pieces {
        match *piece {
            jpeg::Piece::Scan { raw } | jpeg::Piece::Standalone { raw } => p.coding.push(raw),
            jpeg::Piece::Segment { marker, raw, .. } if jpeg::is_coding_segment(marker) => {
                p.coding.push(raw);
            }
            jpeg::Piece::Segment {
                marker: 0xE2,
                payload,
                raw,
            } if payload.starts_with(jpeg::ICC_ID) => p.colour.push(raw),
            // The sanitiser keeps only the 12 defined bytes of APP14.
            jpeg::Piece::Segment {
                marker: 0xEE,
                payload,
                ..
            } if payload.starts_with(b"Adobe") && payload.len() >= 12 => {
                p.colour.push(&payload[..12]);
            }
            jpeg::Piece::Segment { .. } => {}
        }
    }
    p
}

/// Every allowlisted chunk, whole (type, data and CRC): image header,
/// palette, image data, animation and colour chunks.
pub(crate) fn png_picture<'a>(chunks: &[png::Chunk<'a>]) -> Picture<'a> {
    Picture {
        coding: chunks
            .iter()
            .filter(|c| png::KEEP.contains(&&c.kind))
            .map(|c| c.raw)
            .collect(),
        colour: Vec::new(),
    }
}

/// Canvas size and the alpha/animation flags, then each image, alpha,
/// animation, ICC and frame-header payload (with its type), frames opened.
pub(crate) fn webp_picture<'a>(chunks: &[webp::Chunk<'a>]) -> Result<Picture<'a>, MediaError> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in chunks {
        match &c.kind {
            b"VP8X" if c.data.len() == 10 => parts.push(&c.data[4..10]),
            b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ICCP" => {
                parts.push(&c.raw[..4]);
                parts.push(c.data);
            }
            b"ANMF" if c.data.len() >= 16 => {
                parts.push(&c.raw[..4]);
                parts.push(&c.data[..16]);
                let inner = webp::walk_chunks(c.data, 16, usize::MAX)
                    .map_err(|e| MediaError::malformed(Format::WebP, e))?;
                for ic in inner {
                    if matches!(&ic.kind, b"VP8 " | b"VP8L" | b"ALPH") {
                        parts.push(&ic.raw[..4]);
                        parts.push(ic.data);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Picture {
        coding: parts,
        colour: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A baseline JPEG skeleton: SOI, APP1, DQT, SOF0, DHT, SOS + data, EOI.
    fn jpeg_with(dqt: u8, scan: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08, b'E', b'x', b'i', b'f', 0, 0]);
        v.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x04, 0x00, dqt]);
        v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 16, 0, 16, 1, 1, 0x11, 0]);
        v.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x04, 0x00, 0x01]);
        v.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
        v.extend_from_slice(scan);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn without_app1(v: &[u8]) -> Vec<u8> {
        let mut out = v[..2].to_vec();
        out.extend_from_slice(&v[12..]);
        out
    }

    #[test]
    fn jpeg_without_metadata_is_the_same_picture() {
        let input = jpeg_with(1, &[0x12, 0xFF, 0x00, 0x34]);
        same_picture(Format::Jpeg, &input, &without_app1(&input)).expect("test input");
    }

    #[test]
    fn a_changed_quantisation_table_is_refused() {
        // Decodes fine, looks different: exactly what a decode cannot see.
        let input = jpeg_with(1, &[0x12, 0x34]);
        let output = without_app1(&jpeg_with(2, &[0x12, 0x34]));
        let e = same_picture(Format::Jpeg, &input, &output).expect_err("must differ");
        assert_eq!(e.code(), "media.verification_failed");
        assert!(e.to_string().contains("original picture"), "{e}");
        assert!(e.to_string().contains("picture part 1 changed"), "{e}");
    }

    #[test]
    fn changed_or_missing_coded_data_is_refused() {
        let input = jpeg_with(1, &[0x12, 0x34]);
        let flipped = without_app1(&jpeg_with(1, &[0x12, 0x35]));
        assert!(same_picture(Format::Jpeg, &input, &flipped).is_err());
        // A table dropped by the writer.
        let mut dropped = without_app1(&input);
        let at = dropped
            .windows(2)
            .position(|w| w == [0xFF, 0xC4])
            .expect("test input");
        dropped.drain(at..at + 6);
        let e = same_picture(Format::Jpeg, &input, &dropped).expect_err("must differ");
        assert!(
            e.to_string()
                .contains("4 picture parts before cleaning, 3 after"),
            "{e}"
        );
    }

    #[test]
    fn a_dropped_icc_segment_is_refused() {
        let mut input = jpeg_with(1, &[0x12]);
        let mut icc = vec![0xFF, 0xE2, 0x00, 0x12];
        icc.extend_from_slice(b"ICC_PROFILE\0\x01\x01ab");
        input.splice(2..2, icc);
        let output = without_app1(&jpeg_with(1, &[0x12]));
        assert!(same_picture(Format::Jpeg, &input, &output).is_err());
    }

    #[test]
    fn icc_moved_ahead_of_the_tables_is_the_same_picture() {
        // Segments may sit anywhere; the writer puts ICC first.
        let icc = {
            let mut v = vec![0xFF, 0xE2, 0x00, 0x12];
            v.extend_from_slice(b"ICC_PROFILE\0\x01\x01ab");
            v
        };
        let mut input = jpeg_with(1, &[0x12]);
        let dqt = input
            .windows(2)
            .position(|w| w == [0xFF, 0xDB])
            .expect("test input");
        input.splice(dqt + 6..dqt + 6, icc.clone());
        let mut output = without_app1(&jpeg_with(1, &[0x12]));
        output.splice(2..2, icc);
        same_picture(Format::Jpeg, &input, &output).expect("test input");
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        png::write_chunk(&mut v, kind, data);
        v
    }

    fn png_with(idat: &[u8], text: bool) -> Vec<u8> {
        let mut v = png::SIGNATURE.to_vec();
        v.extend(png_chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
        if text {
            v.extend(png_chunk(b"tEXt", b"Author\0Jane Doe"));
        }
        v.extend(png_chunk(b"IDAT", idat));
        v.extend(png_chunk(b"IEND", b""));
        v
    }

    #[test]
    fn png_image_data_must_be_unchanged() {
        let input = png_with(b"\x78\x9c\x01", true);
        same_picture(Format::Png, &input, &png_with(b"\x78\x9c\x01", false)).expect("test input");
        // A valid chunk with a valid CRC, but other pixels.
        let e = same_picture(Format::Png, &input, &png_with(b"\x78\x9c\x02", false))
            .expect_err("must differ");
        assert!(e.to_string().contains("picture part 2 changed"), "{e}");
    }

    fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, d) in chunks {
            body.extend_from_slice(*k);
            body.extend_from_slice(&(d.len() as u32).to_le_bytes());
            body.extend_from_slice(d);
            if d.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(body.len() as u32 + 4).to_le_bytes());
        v.extend_from_slice(b"WEBP");
        v.extend(body);
        v
    }

    #[test]
    fn webp_image_data_must_be_unchanged() {
        let vp8x = [0x08, 0, 0, 0, 9, 0, 0, 9, 0, 0];
        let clean_x = [0x00, 0, 0, 0, 9, 0, 0, 9, 0, 0];
        let input = riff(&[
            (b"VP8X", &vp8x),
            (b"VP8L", b"\x2f\x01\x02"),
            (b"EXIF", b"II*\0"),
        ]);
        let same = riff(&[(b"VP8X", &clean_x), (b"VP8L", b"\x2f\x01\x02")]);
        same_picture(Format::WebP, &input, &same).expect("test input");
        let other = riff(&[(b"VP8X", &clean_x), (b"VP8L", b"\x2f\x01\x03")]);
        assert!(same_picture(Format::WebP, &input, &other).is_err());
        // A different canvas is a different picture.
        let wider = riff(&[
            (b"VP8X", &[0, 0, 0, 0, 10, 0, 0, 9, 0, 0]),
            (b"VP8L", b"\x2f\x01\x02"),
        ]);
        assert!(same_picture(Format::WebP, &input, &wider).is_err());
    }
}
