//! PNG: allowlist rewrite of the chunk stream.
//!
//! Kept: IHDR, PLTE, IDAT, IEND and the chunks that change how pixels render
//! (tRNS, gAMA, cHRM, sRGB, iCCP, sBIT, pHYs, bKGD, hIST, cICP, mDCV, cLLI)
//! plus APNG animation (acTL, fcTL, fdAT). Dropped: tEXt, zTXt, iTXt, eXIf,
//! tIME, sPLT (it carries a free-text name), private and unknown chunks, and
//! bytes after IEND. An eXIf orientation is kept as a minimal eXIf chunk
//! holding only Orientation, placed before the image data as the PNG
//! specification requires; the pixels are never re-encoded. A PNG whose
//! orientation only its XMP packet carries (`tiff:Orientation` in an
//! uncompressed iTXt `XML:com.adobe.xmp`) gets the same one-tag eXIf
//! chunk; eXIf's orientation wins when both have one.

use crate::exif_min::{self, ExifFacts};
use crate::lossless::{self, Picture};
use crate::report::{fourcc_name, Removals, RemovedKind, Stripped};
use crate::{Format, Limits, MediaError};

const F: Format = Format::Png;
pub(crate) const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

pub(crate) const KEEP: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"pHYs", b"bKGD", b"hIST", b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi", b"acTL", b"fcTL",
    b"fdAT",
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    pub kind: [u8; 4],
    pub data: &'a [u8],
    pub raw: &'a [u8],
    pub crc_ok: bool,
}

/// Walks chunks up to and including IEND; returns them and the offset after IEND.
pub(crate) fn walk(
    data: &[u8],
    max_parts: usize,
    format: Format,
) -> Result<(Vec<Chunk<'_>>, usize), MediaError> {
    let bad = |r: String| MediaError::malformed(format, r);
    if !data.starts_with(SIGNATURE) {
        return Err(bad("missing PNG signature".into()));
    }
    let mut pos = SIGNATURE.len();
    let mut chunks = Vec::new();
    loop {
        if chunks.len() >= max_parts {
            return Err(bad("too many chunks".into()));
        }
        let head = data
            .get(pos..pos + 8)
            .ok_or_else(|| bad("the file ends before the IEND chunk (truncated)".into()))?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > 0x7FFF_FFFF {
            return Err(bad("invalid chunk length".into()));
        }
        let kind = [head[4], head[5], head[6], head[7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(bad(format!("invalid chunk type at offset {pos}")));
        }
        let end = pos + 12 + len as usize;
        let raw = data
            .get(pos..end)
            .ok_or_else(|| bad(format!("the file ends inside chunk {}", fourcc_name(&kind))))?;
        let body = &raw[4..raw.len() - 4];
        let crc = u32::from_be_bytes([
            raw[raw.len() - 4],
            raw[raw.len() - 3],
            raw[raw.len() - 2],
            raw[raw.len() - 1],
        ]);
        let crc_ok = crc32fast::hash(body) == crc;
        chunks.push(Chunk {
            kind,
            data: &body[4..],
            raw,
            crc_ok,
        });
        pos = end;
        if &kind == b"IEND" {
            return Ok((chunks, pos));
        }
    }
}

/// The size and the bytes per pixel of the decoded picture (the `image`
/// crate expands palettes to RGBA and low bit depths to 8 bits), from the
/// IHDR chunk, for the decode budget and thumbnails.
pub(crate) fn header_facts(data: &[u8]) -> Option<(u32, u32, u64)> {
    let ihdr = data.get(8..8 + 8 + 13).filter(|h| &h[4..8] == b"IHDR")?;
    let w = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let h = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    let (depth, colour) = (ihdr[16], ihdr[17]);
    let bytes = match colour {
        0 => 1,
        2 => 3,
        3 => return Some((w, h, 4)),
        4 => 2,
        6 => 4,
        _ => return None,
    } * if depth == 16 { 2 } else { 1 };
    Some((w, h, bytes))
}

pub(crate) fn ihdr_dimensions(c: &Chunk<'_>) -> Option<(u32, u32)> {
    if &c.kind != b"IHDR" || c.data.len() != 13 {
        return None;
    }
    let w = u32::from_be_bytes([c.data[0], c.data[1], c.data[2], c.data[3]]);
    let h = u32::from_be_bytes([c.data[4], c.data[5], c.data[6], c.data[7]]);
    Some((w, h))
}

/// The cleaned copy, and the original's picture for the comparison with
/// the copy's ([`crate::lossless`]).
pub(crate) fn sanitise<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<(Stripped, Picture<'a>), MediaError> {
    let (chunks, end) = walk(data, limits.max_parts, F)?;
    let first = chunks
        .first()
        .ok_or_else(|| MediaError::malformed(F, "no chunks"))?;
    let (width, height) = ihdr_dimensions(first)
        .ok_or_else(|| MediaError::malformed(F, "the first chunk is not a valid IHDR"))?;
    if width == 0 || height == 0 {
        return Err(MediaError::malformed(F, "zero image dimensions"));
    }
    limits.check_dimensions(width, height)?;

    let mut removed = Removals::default();
    let mut facts = ExifFacts::default();
    let mut xmp_orientation = None;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut idat = 0usize;
    for c in &chunks {
        let name = fourcc_name(&c.kind);
        if KEEP.contains(&&c.kind) {
            if !c.crc_ok {
                return Err(MediaError::malformed(
                    F,
                    format!("checksum error in the {name} chunk"),
                ));
            }
            if &c.kind == b"IHDR" && !std::ptr::eq(c.raw, first.raw) {
                return Err(MediaError::malformed(F, "more than one IHDR chunk"));
            }
            if &c.kind == b"IDAT" {
                idat += 1;
            }
            kept.push(c.raw);
            continue;
        }
        let kind = match &c.kind {
            b"eXIf" => {
                if facts == ExifFacts::default() {
                    facts = exif_min::read_facts(c.data);
                }
                RemovedKind::Exif
            }
            b"iTXt" => {
                if xmp_orientation.is_none() {
                    xmp_orientation = xmp_text(c.data).and_then(exif_min::xmp_orientation);
                }
                RemovedKind::Text
            }
            b"tEXt" | b"zTXt" => RemovedKind::Text,
            b"tIME" => RemovedKind::Timestamp,
            k if k[0].is_ascii_uppercase() => {
                // An unknown critical chunk means we cannot render it safely.
                return Err(MediaError::unsupported_feature(
                    F,
                    format!("critical chunk {name}"),
                ));
            }
            _ => RemovedKind::UnknownChunk,
        };
        removed.add(kind, Some(&name), c.raw.len());
    }
    if idat == 0 {
        return Err(MediaError::NoImageData { format: F });
    }
    if end < data.len() {
        removed.add(
            RemovedKind::TrailingData,
            Some("after IEND"),
            data.len() - end,
        );
    }

    if facts.orientation.is_none() {
        facts.orientation = xmp_orientation;
    }

    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(SIGNATURE);
    let (ihdr, rest) = kept
        .split_first()
        .ok_or_else(|| MediaError::malformed(F, "no chunks"))?;
    out.extend_from_slice(ihdr);
    if let Some(o) = exif_min::orientation_to_keep(facts.orientation) {
        write_chunk(&mut out, b"eXIf", &exif_min::minimal_tiff(o));
    }
    for raw in rest {
        out.extend_from_slice(raw);
    }
    let picture = lossless::png_picture(&chunks);
    Ok((
        Stripped::still(out, (width, height), facts, removed),
        picture,
    ))
}

/// The XMP packet of an iTXt chunk keyed `XML:com.adobe.xmp`, when it is
/// stored uncompressed (as the XMP specification asks).
fn xmp_text(itxt: &[u8]) -> Option<&[u8]> {
    let rest = itxt.strip_prefix(b"XML:com.adobe.xmp\0")?;
    let (&[compressed, _method], rest) = rest.split_first_chunk::<2>()?;
    if compressed != 0 {
        return None;
    }
    // Language tag, then translated keyword, each null-terminated.
    let after_language = &rest[rest.iter().position(|&b| b == 0)? + 1..];
    Some(&after_language[after_language.iter().position(|&b| b == 0)? + 1..])
}

pub(crate) fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Structural re-walk of sanitised output.
/// With `picture`, also the picture as [`crate::lossless`] sees it.
pub(crate) fn verify_structure<'a>(
    data: &'a [u8],
    picture: Option<&mut Picture<'a>>,
) -> Result<(u32, u32), MediaError> {
    let fail = |r: String| MediaError::verification(F, r);
    let (chunks, end) = walk(data, usize::MAX, F).map_err(|e| fail(e.to_string()))?;
    if end != data.len() {
        return Err(fail("data after IEND".into()));
    }
    let dims = chunks
        .first()
        .and_then(ihdr_dimensions)
        .ok_or_else(|| fail("no IHDR".into()))?;
    let mut exif = 0;
    for c in &chunks {
        if !c.crc_ok {
            return Err(fail(format!("bad checksum in {}", fourcc_name(&c.kind))));
        }
        if &c.kind == b"eXIf" {
            exif += 1;
            exif_min::only_orientation(c.data).map_err(fail)?;
        } else if !KEEP.contains(&&c.kind) {
            return Err(fail(format!(
                "chunk {} is not allowed",
                fourcc_name(&c.kind)
            )));
        }
    }
    if exif > 1 {
        return Err(fail("more than one eXIf chunk".into()));
    }
    if let Some(p) = picture {
        *p = lossless::png_picture(&chunks);
    }
    Ok(dims)
}
