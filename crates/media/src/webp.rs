//! WebP: allowlist rewrite of the RIFF chunk list.
//!
//! Kept: VP8X (flags corrected), VP8, VP8L, ALPH, ANIM, ANMF (its inner
//! chunks filtered too) and ICCP. Dropped: EXIF, XMP, unknown chunks and
//! bytes after the RIFF end. An EXIF orientation is kept as a minimal EXIF
//! chunk at the end, with the VP8X EXIF flag set to match.

use crate::exif_min::{self, ExifFacts};
use crate::lossless::{self, Picture};
use crate::report::{fourcc_name, Removals, RemovedKind, Stripped};
use crate::{Format, Limits, MediaError};

const F: Format = Format::WebP;
const FLAG_ICC: u8 = 0x20;
const FLAG_ALPHA: u8 = 0x10;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;
const FLAG_ANIM: u8 = 0x02;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    pub kind: [u8; 4],
    pub data: &'a [u8],
    /// Header, payload and padding byte.
    pub raw: &'a [u8],
}

/// Walks the chunks of a RIFF body. Returns them and the RIFF end offset.
pub(crate) fn walk(
    data: &[u8],
    max_parts: usize,
    format: Format,
) -> Result<(Vec<Chunk<'_>>, usize), MediaError> {
    let bad = |r: String| MediaError::malformed(format, r);
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"WEBP" {
        return Err(bad("missing RIFF/WEBP header".into()));
    }
    let riff_end = 8 + u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if riff_end > data.len() {
        return Err(bad(
            "the file is shorter than its header says (truncated)".into()
        ));
    }
    let chunks = walk_chunks(&data[..riff_end], 12, max_parts).map_err(bad)?;
    Ok((chunks, riff_end))
}

pub(crate) fn walk_chunks(
    data: &[u8],
    mut pos: usize,
    max_parts: usize,
) -> Result<Vec<Chunk<'_>>, String> {
    let mut chunks = Vec::new();
    while pos < data.len() {
        if chunks.len() >= max_parts {
            return Err("too many chunks".into());
        }
        let head = data
            .get(pos..pos + 8)
            .ok_or("a chunk header is cut short")?;
        let kind = [head[0], head[1], head[2], head[3]];
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body_end = pos + 8 + len;
        let padded_end = body_end + (len & 1);
        let payload = data
            .get(pos + 8..body_end)
            .ok_or_else(|| format!("chunk {} runs past the end of the file", fourcc_name(&kind)))?;
        let raw_end = padded_end.min(data.len());
        chunks.push(Chunk {
            kind,
            data: payload,
            raw: &data[pos..raw_end],
        });
        pos = padded_end;
    }
    Ok(chunks)
}

/// Canvas or frame dimensions from the first image-bearing chunk.
pub(crate) fn dimensions(chunks: &[Chunk<'_>]) -> Option<(u32, u32)> {
    for c in chunks {
        let d = c.data;
        match &c.kind {
            b"VP8X" if d.len() >= 10 => {
                let w = 1 + u32::from_le_bytes([d[4], d[5], d[6], 0]);
                let h = 1 + u32::from_le_bytes([d[7], d[8], d[9], 0]);
                return Some((w, h));
            }
            b"VP8 " if d.len() >= 10 && d[3..6] == [0x9D, 0x01, 0x2A] => {
                let w = u32::from(u16::from_le_bytes([d[6], d[7]]) & 0x3FFF);
                let h = u32::from(u16::from_le_bytes([d[8], d[9]]) & 0x3FFF);
                return Some((w, h));
            }
            b"VP8L" if d.len() >= 5 && d[0] == 0x2F => {
                let bits = u32::from_le_bytes([d[1], d[2], d[3], d[4]]);
                return Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1));
            }
            _ => {}
        }
    }
    None
}

fn exif_tiff(payload: &[u8]) -> &[u8] {
    // Some writers prefix the TIFF block with the JPEG "Exif\0\0" header.
    payload.strip_prefix(b"Exif\0\0").unwrap_or(payload)
}

/// The cleaned copy, and the original's picture for the comparison with
/// the copy's ([`crate::lossless`]).
pub(crate) fn sanitise<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<(Stripped, Picture<'a>), MediaError> {
    let (chunks, riff_end) = walk(data, limits.max_parts, F)?;
    let (width, height) =
        dimensions(&chunks).ok_or_else(|| MediaError::malformed(F, "no image header found"))?;
    if width == 0 || height == 0 {
        return Err(MediaError::malformed(F, "zero image dimensions"));
    }
    limits.check_dimensions(width, height)?;

    let mut removed = Removals::default();
    let mut facts = ExifFacts::default();
    let mut body: Vec<u8> = Vec::with_capacity(data.len());
    let mut vp8x: Option<[u8; 10]> = None;
    let mut has_icc = false;
    let mut has_image = false;
    for (i, c) in chunks.iter().enumerate() {
        let name = fourcc_name(&c.kind);
        match &c.kind {
            b"VP8X" if i == 0 && c.data.len() == 10 => {
                let mut v = [0u8; 10];
                v.copy_from_slice(c.data);
                vp8x = Some(v);
            }
            b"VP8X" => return Err(MediaError::malformed(F, "misplaced or invalid VP8X chunk")),
            b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" => {
                has_image |= &c.kind != b"ANIM";
                push_chunk(&mut body, &c.kind, c.data);
            }
            b"ICCP" => {
                has_icc = true;
                push_chunk(&mut body, &c.kind, c.data);
            }
            b"ANMF" => {
                if c.data.len() < 16 {
                    return Err(MediaError::malformed(
                        F,
                        "animation frame header is too short",
                    ));
                }
                let inner = walk_chunks(c.data, 16, limits.max_parts)
                    .map_err(|e| MediaError::malformed(F, e))?;
                let mut frame = c.data[..16].to_vec();
                for ic in inner {
                    if matches!(&ic.kind, b"VP8 " | b"VP8L" | b"ALPH") {
                        has_image = true;
                        push_chunk(&mut frame, &ic.kind, ic.data);
                    } else {
                        removed.add(
                            RemovedKind::UnknownChunk,
                            Some(&fourcc_name(&ic.kind)),
                            ic.raw.len(),
                        );
                    }
                }
                push_chunk(&mut body, b"ANMF", &frame);
            }
            b"EXIF" => {
                if facts == ExifFacts::default() {
                    facts = exif_min::read_facts(exif_tiff(c.data));
                }
                removed.add(RemovedKind::Exif, Some("EXIF"), c.raw.len());
            }
            b"XMP " => removed.add(RemovedKind::Xmp, Some("XMP"), c.raw.len()),
            _ => removed.add(RemovedKind::UnknownChunk, Some(&name), c.raw.len()),
        }
    }
    if !has_image {
        return Err(MediaError::NoImageData { format: F });
    }
    if riff_end < data.len() {
        removed.add(
            RemovedKind::TrailingData,
            Some("after RIFF"),
            data.len() - riff_end,
        );
    }

    let keep_orientation =
        exif_min::orientation_to_keep(facts.orientation).filter(|_| vp8x.is_some());
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    if let Some(mut v) = vp8x {
        let mut flags = v[0] & (FLAG_ALPHA | FLAG_ANIM);
        if has_icc {
            flags |= FLAG_ICC;
        }
        if keep_orientation.is_some() {
            flags |= FLAG_EXIF;
        }
        v[0] = flags;
        v[1..4].fill(0);
        push_chunk(&mut out, b"VP8X", &v);
    } else if has_icc {
        return Err(MediaError::malformed(
            F,
            "ICC profile without an extended header",
        ));
    }
    out.extend_from_slice(&body);
    if let Some(o) = keep_orientation {
        push_chunk(&mut out, b"EXIF", &exif_min::minimal_tiff(o));
    }
    let riff_size = u32::try_from(out.len() - 8)
        .map_err(|_| MediaError::malformed(F, "file too large for RIFF"))?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    let picture = lossless::webp_picture(&chunks)?;
    Ok((
        Stripped::still(out, (width, height), facts, removed),
        picture,
    ))
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// Structural re-walk of sanitised output, including the VP8X flags.
/// With `picture`, also the picture as [`crate::lossless`] sees it.
pub(crate) fn verify_structure<'a>(
    data: &'a [u8],
    picture: Option<&mut Picture<'a>>,
) -> Result<(u32, u32), MediaError> {
    let fail = |r: String| MediaError::verification(F, r);
    let (chunks, riff_end) = walk(data, usize::MAX, F).map_err(|e| fail(e.to_string()))?;
    if riff_end != data.len() {
        return Err(fail("data after the RIFF end".into()));
    }
    let mut exif = false;
    let mut icc = false;
    for c in &chunks {
        match &c.kind {
            b"VP8X" | b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" => {}
            b"ICCP" => icc = true,
            b"ANMF" => {
                let inner =
                    walk_chunks(c.data.get(16..).unwrap_or(&[]), 0, usize::MAX).map_err(fail)?;
                if let Some(bad) = inner
                    .iter()
                    .find(|i| !matches!(&i.kind, b"VP8 " | b"VP8L" | b"ALPH"))
                {
                    return Err(fail(format!(
                        "frame chunk {} is not allowed",
                        fourcc_name(&bad.kind)
                    )));
                }
            }
            b"EXIF" if !exif => {
                exif = true;
                exif_min::only_orientation(c.data).map_err(fail)?;
            }
            k => return Err(fail(format!("chunk {} is not allowed", fourcc_name(k)))),
        }
    }
    if let Some(x) = chunks.first().filter(|c| &c.kind == b"VP8X") {
        let flags = x.data.first().copied().unwrap_or(0);
        if flags & FLAG_XMP != 0
            || (flags & FLAG_EXIF != 0) != exif
            || (flags & FLAG_ICC != 0) != icc
        {
            return Err(fail("VP8X flags do not match the chunks".into()));
        }
    }
    if let Some(p) = picture {
        *p = lossless::webp_picture(&chunks).map_err(|e| fail(e.to_string()))?;
    }
    dimensions(&chunks).ok_or_else(|| fail("no image header".into()))
}
