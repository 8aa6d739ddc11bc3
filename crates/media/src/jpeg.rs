//! JPEG: allowlist rewrite of the marker stream.
//!
//! Kept: SOI, DQT, DHT, DAC, SOFn, DRI, DNL, SOS with its entropy-coded data
//! (byte-identical, restart markers included), EOI, APP2 ICC_PROFILE segments
//! (all of them, byte-identical, in order), APP14 Adobe (rewritten to its 12
//! defined bytes: CMYK/YCCK colours depend on it), and a JFIF APP0 rewritten
//! without thumbnail. Orientation survives as a one-tag EXIF APP1.
//! Everything else is dropped: EXIF, XMP, extended XMP, IPTC/IRB, JFXX, COM,
//! MPF, other APPn, and all bytes after EOI (MPF images, gain maps,
//! motion-photo video, vendor trailers).
//!
//! Damage outside the coded picture that every viewer tolerates is
//! repaired on the way in, never in the verifier's walk: an application
//! segment or comment whose length runs past its real end (some Samsung
//! phones) ends where the next segment does, and stray bytes where a marker
//! should be are skipped, as libjpeg does. Both are reported; the coded
//! picture is still copied byte for byte. Arithmetic-coded JPEGs, which no
//! phone or camera writes, are refused with a message saying so.

use crate::exif_min::{self, ExifFacts};
use crate::lossless::{self, Picture};
use crate::report::{Removals, RemovedKind, Stripped};
use crate::{Format, Limits, MediaError};

const F: Format = Format::Jpeg;

pub(crate) const SOI: u8 = 0xD8;
pub(crate) const EOI: u8 = 0xD9;
pub(crate) const SOS: u8 = 0xDA;
const EXIF_ID: &[u8] = b"Exif\0";
pub(crate) const ICC_ID: &[u8] = b"ICC_PROFILE\0";

/// Start-of-frame markers (C0–CF except DHT C4, JPG C8, DAC CC).
pub(crate) fn is_sof(m: u8) -> bool {
    (0xC0..=0xCF).contains(&m) && !matches!(m, 0xC4 | 0xC8 | 0xCC)
}

/// Tables and parameters that the decoder needs, copied unchanged.
pub(crate) fn is_coding_segment(m: u8) -> bool {
    is_sof(m) || matches!(m, 0xC4 | 0xCC | 0xDB | 0xDD | 0xDC | 0xDE | 0xDF)
}

/// One marker-delimited piece of a JPEG stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Piece<'a> {
    /// A segment with a length field: marker and payload (without the length).
    Segment {
        marker: u8,
        payload: &'a [u8],
        raw: &'a [u8],
    },
    /// SOS header plus the entropy-coded data that follows it.
    Scan { raw: &'a [u8] },
    /// A marker without payload (RSTn or TEM outside a scan).
    Standalone { raw: &'a [u8] },
}

/// Damage outside the coded picture that the sanitiser's walk got past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repair {
    /// A segment's length ran past its real end; `bytes` it claimed too many.
    Overlong { marker: u8, bytes: usize },
    /// Bytes that were neither a marker nor part of a segment.
    Stray { bytes: usize },
}

/// Walks the marker stream up to EOI. Returns the pieces and the offset just
/// after EOI. Strict: anything unexpected is an error.
pub(crate) fn walk<'a>(
    data: &'a [u8],
    max_parts: usize,
    format: Format,
) -> Result<(Vec<Piece<'a>>, usize), MediaError> {
    walk_inner(data, max_parts, format, None)
}

/// Markers that may start a segment between other segments.
fn segment_marker(m: u8) -> bool {
    matches!(m, 0xC0..=0xCF | 0xD9 | 0xDA..=0xDF | 0xE0..=0xEF | 0xFE)
}

/// Whether a marker that can follow segments starts at `p` and, unless it is
/// EOI, its length leads to another such marker (after any fill bytes): two
/// links of the chain, which a stray 0xFF in other data rarely forms.
fn chains_at(data: &[u8], p: usize) -> bool {
    let marker_at = |q: usize| {
        let mut q = q;
        if data.get(q) != Some(&0xFF) {
            return None;
        }
        while data.get(q + 1) == Some(&0xFF) {
            q += 1;
        }
        data.get(q + 1)
            .copied()
            .filter(|&m| segment_marker(m))
            .map(|m| (q + 1, m))
    };
    let Some((at, m)) = marker_at(p) else {
        return false;
    };
    if m == EOI {
        return true;
    }
    let Some(l) = data.get(at + 1..at + 3) else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
    if len < 2 || at + 1 + len > data.len() {
        return false;
    }
    // A scan header is followed by coded data, not a marker.
    m == SOS || marker_at(at + 1 + len).is_some()
}

/// An application segment or comment at `pos` (its length field) that the
/// sanitiser drops anyway: not a JFIF, ICC or Adobe segment, which it keeps.
fn droppable(data: &[u8], pos: usize, marker: u8) -> bool {
    let kept = [&b"JFIF\0"[..], ICC_ID, b"Adobe"]
        .iter()
        .any(|id| data.get(pos + 2..).is_some_and(|p| p.starts_with(id)));
    matches!(marker, 0xE0..=0xEF | 0xFE) && !kept
}

/// The walk the sanitiser makes: as [`walk`], but getting past damage
/// outside the coded picture (see the module notes), each recorded in
/// `repairs`.
pub(crate) fn walk_repairing<'a>(
    data: &'a [u8],
    max_parts: usize,
    repairs: &mut Vec<Repair>,
) -> Result<(Vec<Piece<'a>>, usize), MediaError> {
    walk_inner(data, max_parts, F, Some(repairs))
}

fn walk_inner<'a>(
    data: &'a [u8],
    max_parts: usize,
    format: Format,
    mut repairs: Option<&mut Vec<Repair>>,
) -> Result<(Vec<Piece<'a>>, usize), MediaError> {
    let bad = |r: String| MediaError::malformed(format, r);
    if data.len() < 4 || data[0] != 0xFF || data[1] != SOI {
        return Err(bad(
            "it does not start with a JPEG start-of-image marker".into()
        ));
    }
    let mut pieces = Vec::new();
    let mut pos = 2;
    loop {
        if pieces.len() >= max_parts {
            return Err(bad("too many segments".into()));
        }
        if pos >= data.len() {
            return Err(bad("the file ends before the end-of-image marker".into()));
        }
        if data[pos] != 0xFF {
            // Stray bytes: skip to the next marker that chains, as libjpeg
            // skips to the next marker.
            let next = repairs.as_ref().and_then(|_| {
                (pos + 1..data.len().saturating_sub(1)).find(|&q| chains_at(data, q))
            });
            match (next, repairs.as_deref_mut()) {
                (Some(q), Some(r)) => {
                    r.push(Repair::Stray { bytes: q - pos });
                    pos = q;
                }
                _ => {
                    return Err(bad(format!(
                        "unexpected data where a marker was expected (offset {pos})"
                    )))
                }
            }
        }
        let start = pos;
        while pos < data.len() && data[pos] == 0xFF {
            pos += 1; // fill bytes
        }
        let Some(&marker) = data.get(pos) else {
            return Err(bad("the file ends inside a marker".into()));
        };
        pos += 1;
        match marker {
            EOI => return Ok((pieces, pos)),
            SOI | 0x00 => {
                return Err(bad(format!(
                    "misplaced marker 0xFF{marker:02X} (offset {start})"
                )))
            }
            0xD0..=0xD7 | 0x01 => pieces.push(Piece::Standalone {
                raw: &data[start..pos],
            }),
            _ => {
                let len_bytes = data
                    .get(pos..pos + 2)
                    .ok_or_else(|| bad("the file ends inside a segment header".into()))?;
                let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
                if len < 2 {
                    return Err(bad(format!(
                        "segment 0xFF{marker:02X} has an invalid length"
                    )));
                }
                let mut end = pos + len;
                // An application segment or comment (dropped anyway) whose
                // length runs past the next segment ends where that begins:
                // the latest point before its claimed end where the marker
                // chain goes on. Only where the strict walk would stop (no
                // marker at the claimed end), so no file it reads changes.
                if let Some(r) = repairs.as_deref_mut() {
                    if data.get(end) != Some(&0xFF) && droppable(data, pos, marker) {
                        let last = end.min(data.len().saturating_sub(2));
                        if let Some(q) = (pos + 2..=last).rev().find(|&q| chains_at(data, q)) {
                            r.push(Repair::Overlong {
                                marker,
                                bytes: end - q,
                            });
                            end = q;
                        }
                    }
                }
                let payload = data
                    .get(pos + 2..end)
                    .ok_or_else(|| bad(format!("the file ends inside segment 0xFF{marker:02X}")))?;
                if marker == SOS {
                    let scan_end = entropy_end(data, end).ok_or_else(|| {
                        bad("the file ends inside the image data (truncated)".into())
                    })?;
                    pieces.push(Piece::Scan {
                        raw: &data[start..scan_end],
                    });
                    pos = scan_end;
                } else {
                    pieces.push(Piece::Segment {
                        marker,
                        payload,
                        raw: &data[start..end],
                    });
                    pos = end;
                }
            }
        }
    }
}

/// The file as far as its end-of-image marker with each scan's
/// entropy-coded data left out: every other byte, in order, for the
/// independent EXIF reader at the structural level. That reader has
/// nothing to find in coded data (a marker there ends the scan, as here)
/// but reads it in small pieces, which was ~90% of the check's time.
pub fn without_coded_data(data: &[u8]) -> Result<Vec<u8>, MediaError> {
    let (pieces, _) = walk(data, usize::MAX, F)?;
    Ok(skeleton(data, &pieces))
}

fn skeleton(data: &[u8], pieces: &[Piece<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    out.extend_from_slice(&data[..2]); // SOI: the walk starts after it
    for piece in pieces {
        match *piece {
            Piece::Scan { raw } => {
                // Fill bytes, SOS, then the header's length field.
                let at = raw.iter().position(|&b| b != 0xFF).unwrap_or(0);
                let len = raw
                    .get(at + 1..at + 3)
                    .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
                out.extend_from_slice(&raw[..(at + 1 + len).min(raw.len())]);
            }
            Piece::Segment { raw, .. } | Piece::Standalone { raw } => out.extend_from_slice(raw),
        }
    }
    out.extend_from_slice(&[0xFF, EOI]);
    out
}

/// Finds the first marker after entropy-coded data starting at `from`
/// (skipping stuffed zero bytes, restart markers and fill bytes).
fn entropy_end(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let j = i + memchr::memchr(0xFF, data.get(i..)?)?;
        let next = *data.get(j + 1)?;
        match next {
            0x00 | 0xD0..=0xD7 => i = j + 2,
            0xFF => i = j + 1,
            _ => return Some(j),
        }
    }
}

/// The first frame's (width, height, components, progressive), from the
/// segments before the first scan: for the decode budget and thumbnails.
pub(crate) fn frame_header(data: &[u8]) -> Option<(u32, u32, u8, bool)> {
    let mut pos = 2;
    while pos + 4 <= data.len() {
        // Stray bytes before a marker, as decoders skip them.
        if data[pos] != 0xFF {
            pos += 1;
            continue;
        }
        let marker = data[pos + 1];
        if marker == 0xFF {
            pos += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
        if is_sof(marker) {
            let (w, h, n) = parse_sof(data.get(pos + 4..pos + 2 + len)?)?;
            return Some((w, h, n, matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE)));
        }
        if marker == SOS || marker == EOI || len < 2 {
            return None;
        }
        pos += 2 + len;
    }
    None
}

/// Frame header facts: (width, height, components).
pub(crate) fn parse_sof(payload: &[u8]) -> Option<(u32, u32, u8)> {
    if payload.len() < 6 {
        return None;
    }
    let h = u32::from(u16::from_be_bytes([payload[1], payload[2]]));
    let w = u32::from(u16::from_be_bytes([payload[3], payload[4]]));
    let n = payload[5];
    if payload.len() < 6 + 3 * usize::from(n) {
        return None;
    }
    Some((w, h, n))
}

/// The cleaned file (written into `out`), and the original's picture for
/// [`lossless::compare`].
pub(crate) fn sanitise<'a>(
    data: &'a [u8],
    limits: &Limits,
    mut out: Vec<u8>,
) -> Result<(Stripped, Picture<'a>), MediaError> {
    let mut repairs = Vec::new();
    let (pieces, end) = walk_repairing(data, limits.max_parts, &mut repairs)?;
    let picture = lossless::jpeg_picture(&pieces);
    let mut removed = Removals::default();
    for r in &repairs {
        match *r {
            Repair::Overlong { marker, bytes } => removed.add(
                RemovedKind::Damaged,
                Some(&format!("overlong {}", segment_name(marker))),
                bytes,
            ),
            Repair::Stray { bytes } => {
                removed.add(RemovedKind::Damaged, Some("stray bytes"), bytes)
            }
        }
    }
    let mut facts: Option<ExifFacts> = None;
    let mut jfif: Option<[u8; 5]> = None;
    let mut app_keep: Vec<Vec<u8>> = Vec::new();
    let mut coding: Vec<&[u8]> = Vec::new();
    let mut frame: Option<(u32, u32)> = None;
    let mut scans = 0usize;

    for piece in &pieces {
        match *piece {
            Piece::Segment { marker, .. } if ARITHMETIC.contains(&marker) => {
                return Err(MediaError::unsupported_feature(
                    F,
                    "arithmetic coding, which phones and cameras never write; \
                     save the picture again as a standard JPEG",
                ));
            }
            Piece::Scan { raw } => {
                if frame.is_none() {
                    return Err(MediaError::malformed(
                        F,
                        "image data appears before the frame header",
                    ));
                }
                scans += 1;
                coding.push(raw);
            }
            Piece::Standalone { raw } => coding.push(raw),
            Piece::Segment {
                marker,
                payload,
                raw,
            } => match marker {
                m if is_coding_segment(m) => {
                    if is_sof(m) && frame.is_none() {
                        let (w, h, _) = parse_sof(payload).ok_or_else(|| {
                            MediaError::malformed(F, "the frame header is too short")
                        })?;
                        if w == 0 || h == 0 {
                            return Err(MediaError::unsupported_feature(
                                F,
                                "zero or deferred (DNL) image dimensions",
                            ));
                        }
                        limits.check_dimensions(w, h)?;
                        frame = Some((w, h));
                    }
                    coding.push(raw);
                }
                0xE0 if payload.starts_with(b"JFIF\0") && payload.len() >= 14 => {
                    let thumb = usize::from(payload[12]) * usize::from(payload[13]) * 3;
                    if jfif.is_none() {
                        jfif = Some([payload[7], payload[8], payload[9], payload[10], payload[11]]);
                    }
                    if thumb > 0 {
                        removed.add(RemovedKind::JfifThumbnail, Some("APP0 JFIF"), thumb);
                    }
                }
                0xE0 if payload.starts_with(b"JFXX\0") => {
                    removed.add(RemovedKind::JfifThumbnail, Some("APP0 JFXX"), raw.len());
                }
                0xE1 if payload.starts_with(EXIF_ID) => {
                    if facts.is_none() && payload.len() > 6 {
                        facts = Some(exif_min::read_facts(&payload[6..]));
                    }
                    removed.add(RemovedKind::Exif, Some("APP1"), raw.len());
                }
                0xE1 if payload.starts_with(b"http://ns.adobe.com/xap/1.0/") => {
                    removed.add(RemovedKind::Xmp, Some("APP1"), raw.len());
                }
                0xE1 if payload.starts_with(b"http://ns.adobe.com/xmp/extension/") => {
                    removed.add(RemovedKind::ExtendedXmp, Some("APP1"), raw.len());
                }
                0xE2 if payload.starts_with(ICC_ID) => app_keep.push(raw.to_vec()),
                0xE2 if payload.starts_with(b"MPF\0") => {
                    removed.add(RemovedKind::MultiPicture, Some("APP2 MPF"), raw.len());
                }
                0xED => removed.add(RemovedKind::PhotoshopIptc, Some("APP13"), raw.len()),
                0xEE if payload.starts_with(b"Adobe") && payload.len() >= 12 => {
                    // Only the 12 defined bytes: version, flags0, flags1, transform.
                    let mut seg = vec![0xFF, 0xEE, 0x00, 14];
                    seg.extend_from_slice(&payload[..12]);
                    app_keep.push(seg);
                }
                0xFE => removed.add(RemovedKind::Comment, Some("COM"), raw.len()),
                m @ 0xE0..=0xEF => {
                    let name = format!("APP{}", m - 0xE0);
                    removed.add(RemovedKind::ApplicationData, Some(&name), raw.len());
                }
                m => {
                    return Err(MediaError::unsupported_feature(
                        F,
                        format!("marker 0xFF{m:02X} (not a baseline/progressive JPEG)"),
                    ));
                }
            },
        }
    }
    let (width, height) = frame.ok_or(MediaError::NoImageData { format: F })?;
    if scans == 0 {
        return Err(MediaError::NoImageData { format: F });
    }
    if scans > limits.max_jpeg_scans {
        return Err(crate::verify::too_many_scans(scans, limits));
    }
    if end < data.len() {
        removed.add(
            RemovedKind::TrailingData,
            Some("after EOI"),
            data.len() - end,
        );
    }
    let facts = facts.unwrap_or_default();

    out.clear();
    out.reserve(data.len());
    out.extend_from_slice(&[0xFF, SOI]);
    if let Some(d) = jfif {
        out.extend_from_slice(&[0xFF, 0xE0, 0x00, 16]);
        out.extend_from_slice(b"JFIF\0\x01\x02");
        out.extend_from_slice(&d);
        out.extend_from_slice(&[0, 0]); // no thumbnail
    }
    if let Some(o) = exif_min::orientation_to_keep(facts.orientation) {
        out.extend_from_slice(&app1_exif(&exif_min::minimal_tiff(o)));
    }
    for seg in &app_keep {
        out.extend_from_slice(seg);
    }
    for raw in coding {
        out.extend_from_slice(raw);
    }
    out.extend_from_slice(&[0xFF, EOI]);
    Ok((
        Stripped::still(out, (width, height), facts, removed),
        picture,
    ))
}

/// Arithmetic-coded frames (SOF9–11, SOF13–15) and their conditioning
/// tables (DAC): no decoder here reads them.
const ARITHMETIC: &[u8] = &[0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xCC];

/// `APP1`, `COM`: how a segment is named in reports.
fn segment_name(marker: u8) -> String {
    match marker {
        0xE0..=0xEF => format!("APP{}", marker - 0xE0),
        0xFE => "COM".into(),
        m => format!("0xFF{m:02X}"),
    }
}

fn app1_exif(tiff: &[u8]) -> Vec<u8> {
    let len = 2 + 6 + tiff.len();
    let mut v = Vec::with_capacity(2 + len);
    v.extend_from_slice(&[0xFF, 0xE1]);
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(b"Exif\0\0");
    v.extend_from_slice(tiff);
    v
}

/// How many scans the file has (0 when its markers cannot be walked).
pub(crate) fn scan_count(data: &[u8]) -> usize {
    walk(data, usize::MAX, F).map_or(0, |(pieces, _)| {
        pieces
            .iter()
            .filter(|p| matches!(p, Piece::Scan { .. }))
            .count()
    })
}

/// Concatenated entropy-coded scans (with their SOS headers): used by tests to
/// prove the coded picture is untouched.
pub fn scan_data(data: &[u8]) -> Result<Vec<u8>, MediaError> {
    let (pieces, _) = walk(data, usize::MAX, F)?;
    let mut v = Vec::new();
    for p in pieces {
        if let Piece::Scan { raw } = p {
            v.extend_from_slice(raw);
        }
    }
    Ok(v)
}

/// Concatenated ICC profile payloads (after the 14-byte APP2 header).
pub fn icc_profile(data: &[u8]) -> Result<Option<Vec<u8>>, MediaError> {
    let (pieces, _) = walk(data, usize::MAX, F)?;
    let mut v = Vec::new();
    for p in pieces {
        if let Piece::Segment {
            marker: 0xE2,
            payload,
            ..
        } = p
        {
            if payload.starts_with(ICC_ID) && payload.len() >= 14 {
                v.extend_from_slice(&payload[14..]);
            }
        }
    }
    Ok((!v.is_empty()).then_some(v))
}

/// Structural re-walk of sanitised output: only allowlisted segments, at most
/// one EXIF block holding Orientation only, nothing after EOI.
/// The structural check: every segment allowed, one frame; its size. With
/// `coded_data_left_out`, also [`without_coded_data`] from the same walk.
/// With `picture`, also the picture as [`lossless::jpeg_picture`] sees it.
pub(crate) fn verify_structure<'a>(
    data: &'a [u8],
    limits: &Limits,
    coded_data_left_out: Option<&mut Vec<u8>>,
    picture: Option<&mut Picture<'a>>,
) -> Result<(u32, u32), MediaError> {
    let fail = |r: String| MediaError::verification(F, r);
    let (pieces, end) = walk(data, usize::MAX, F).map_err(|e| fail(e.to_string()))?;
    if let Some(out) = coded_data_left_out {
        *out = skeleton(data, &pieces);
    }
    if let Some(p) = picture {
        *p = lossless::jpeg_picture(&pieces);
    }
    if end != data.len() {
        return Err(fail("data after the end-of-image marker".into()));
    }
    let scans = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Scan { .. }))
        .count();
    if scans > limits.max_jpeg_scans {
        return Err(crate::verify::too_many_scans(scans, limits));
    }
    let mut frame = None;
    let mut exif_blocks = 0;
    for p in pieces {
        let Piece::Segment {
            marker, payload, ..
        } = p
        else {
            continue;
        };
        match marker {
            m if is_coding_segment(m) => {
                if is_sof(m) && frame.is_none() {
                    let (w, h, _) =
                        parse_sof(payload).ok_or_else(|| fail("bad frame header".into()))?;
                    frame = Some((w, h));
                }
            }
            0xE0 if payload.starts_with(b"JFIF\0")
                && payload.len() == 14
                && payload[12] == 0
                && payload[13] == 0 => {}
            0xE1 if payload.starts_with(b"Exif\0\0") => {
                exif_blocks += 1;
                exif_min::only_orientation(&payload[6..]).map_err(fail)?;
            }
            0xE2 if payload.starts_with(ICC_ID) => {}
            0xEE if payload.starts_with(b"Adobe") && payload.len() == 12 => {}
            m => return Err(fail(format!("segment 0xFF{m:02X} is not allowed"))),
        }
    }
    if exif_blocks > 1 {
        return Err(fail("more than one EXIF block".into()));
    }
    frame.ok_or_else(|| fail("no frame header".into()))
}
