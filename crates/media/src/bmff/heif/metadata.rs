//! The items that go, accounted for: each recorded under the kind that
//! explains why it went (EXIF, XMP, thumbnail, auxiliary image), and what
//! the removed EXIF (else XMP) said that must not be lost: the capture
//! time and the orientation.

use super::super::boxes::BoxHdr;
use super::super::Ctx;
use super::items::{item_bytes, item_ranges, Item};
use super::references::Ref;
use super::{Meta, MetaFacts};
use crate::exif_min::{self, ExifFacts};
use crate::report::{fourcc_name, RemovedKind};
use crate::MediaError;
use std::collections::BTreeSet;

/// Records every removed item and the media ranges of kept and removed
/// ones, and reads the EXIF (else the XMP) that describes the primary,
/// else the first: the facts, and the XMP's orientation.
pub(super) fn account(
    ctx: &mut Ctx<'_>,
    m: &Meta,
    removed: &BTreeSet<u32>,
    auxiliary: &BTreeSet<u32>,
) -> Result<(MetaFacts, Option<u16>), MediaError> {
    let data = ctx.data;
    let mut facts = MetaFacts::default();
    let file_len = data.len() as u64;
    let describes_primary = |id: u32| {
        m.refs
            .iter()
            .any(|r| &r.kind == b"cdsc" && r.from == id && r.to.contains(&m.primary))
    };
    let mut exif_rank = 0;
    let mut xmp_orientation: (u8, Option<u16>) = (0, None);
    for it in &m.items {
        let Some(loc) = m.iloc.locs.iter().find(|l| l.id == it.id) else {
            continue;
        };
        let ranges = item_ranges(loc, file_len, m.idat_len)
            .ok_or_else(|| ctx.malformed("an item lies outside the file"))?;
        if removed.contains(&it.id) {
            let size: u64 = ranges.iter().map(|r| r.1).sum();
            ctx.removed.add(
                removed_kind(it, &m.refs, auxiliary),
                Some(&format!("{} item", fourcc_name(&it.kind))),
                usize::try_from(size).unwrap_or(usize::MAX),
            );
            let rank = if describes_primary(it.id) { 2 } else { 1 };
            if &it.kind == b"Exif" && rank > exif_rank {
                let f = exif_item_facts(&item_bytes(data, loc, &ranges, m.idat));
                if f != ExifFacts::default() {
                    facts.exif = f;
                    exif_rank = rank;
                }
            }
            if &it.kind == b"mime" && rank > xmp_orientation.0 {
                let xmp = mime_content(data, &it.raw)
                    .is_some_and(|(t, e)| t.trim() == "application/rdf+xml" && e.trim().is_empty());
                let o = xmp
                    .then(|| exif_min::xmp_orientation(&item_bytes(data, loc, &ranges, m.idat)))
                    .flatten();
                if o.is_some() {
                    xmp_orientation = (rank, o);
                }
            }
            if loc.method == 0 {
                facts.dropped_ranges.extend(ranges);
            }
        } else if loc.method == 0 {
            if loc.dref != 0 {
                return Err(ctx.unsupported("image data stored in another file"));
            }
            facts.kept_ranges.extend(ranges);
        }
    }
    Ok((facts, xmp_orientation.1))
}

/// Why a removed item went, as the report says it.
fn removed_kind(it: &Item, refs: &[Ref], auxiliary: &BTreeSet<u32>) -> RemovedKind {
    match &it.kind {
        b"Exif" => RemovedKind::Exif,
        b"mime" => RemovedKind::Xmp,
        _ if refs.iter().any(|r| &r.kind == b"thmb" && r.from == it.id) => RemovedKind::Thumbnail,
        _ if auxiliary.contains(&it.id) => RemovedKind::AuxiliaryImage,
        _ => RemovedKind::ApplicationData,
    }
}

/// The content type and encoding of a `mime` item's infe (either version).
fn mime_content(data: &[u8], infe: &BoxHdr) -> Option<(String, String)> {
    let body = infe.body(data);
    let version = *body.first()?;
    let mut at = match version {
        0 | 1 => 8,
        2 => 12,
        3 => 14,
        _ => return None,
    };
    let mut field = || -> Option<String> {
        let s = body.get(at..)?;
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        at += end + 1;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    };
    field()?; // item name
    let content_type = field()?;
    let encoding = field().unwrap_or_default();
    Some((content_type, encoding))
}

fn exif_item_facts(bytes: &[u8]) -> ExifFacts {
    // Exif item: 4-byte offset to the TIFF header, then (usually) "Exif\0\0".
    let Some(off) = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return ExifFacts::default();
    };
    match bytes.get(4 + off..) {
        Some(t) => exif_min::read_facts(t),
        None => ExifFacts::default(),
    }
}
