//! HEIF/HEIC/AVIF metadata box (`meta`): remove metadata and thumbnail items.
//!
//! Items of type Exif, mime (XMP and others) and uri, old-style items,
//! thumbnails (`thmb` references), auxiliary images other than alpha planes
//! and anything that only served a removed item (tiles of a thumbnail grid,
//! its alpha plane) are removed from iinf, iloc, iref and ipma. Their bytes
//! are zeroed where they lie (mdat or idat), along with any other media
//! bytes no kept item references. Item properties not needed to render
//! (e.g. user descriptions, creation times), and those only removed items
//! used, become zero-filled `free` boxes so that property indices stay
//! valid. The coded image bytes are never touched.
//!
//! Auxiliary images: only alpha (`auxC` of [`ALPHA_AUX_TYPES`]) is needed
//! to render the picture. Depth maps and portrait, skin, hair or teeth
//! mattes are a 3-D model or segmentation of the patient beyond the visible
//! picture; Apple's HDR gain map names the maker in its type, and nothing
//! in ClinShare renders HDR. An item is auxiliary when it has an `auxl`
//! reference or an `auxC` property; the ISO gain map (a `tmap` derived
//! item and its input) is not, and stays.
//!
//! Orientation: when the primary item has no `irot`/`imir` of its own, the
//! orientation of the removed EXIF (else XMP `tiff:Orientation`) is carried
//! into new `irot` then `imir` properties associated with the primary (a
//! grid itself, never its tiles), so the picture still displays upright;
//! the reported orientation is what the output's transforms show.
//!
//! Layout: `items` (iinf, iloc, idat), `references` (iref, and what served
//! only removed items), `properties` (ipco, ipma, the primary's size),
//! `auxiliary` (which auxiliary images stay), `transforms` (irot/imir from
//! and to an orientation), `metadata` (the removed items accounted for, and
//! what their EXIF or XMP said), and `verify` (the verifier's own walk).
//! This file reads the tables and rebuilds the box from them.

mod auxiliary;
mod items;
mod metadata;
mod properties;
mod references;
mod transforms;
mod verify;

pub(crate) use verify::verify_meta;

use super::boxes::{write_box, BoxHdr, Reader};
use super::{Ctx, OffsetMap};
use crate::exif_min::ExifFacts;
use crate::report::fourcc_name;
use crate::MediaError;
use items::{Iloc, Item};
use properties::Props;
use references::Ref;
use std::collections::BTreeSet;
use transforms::Transform;

/// More than any camera writes (a 48-tile grid plus aux images is ~60).
pub(crate) const MAX_ITEMS: usize = 4096;

pub(crate) const PROPERTY_KEEP: &[&[u8; 4]] = &[
    b"hvcC", b"av1C", b"vvcC", b"jpgC", b"ispe", b"colr", b"pixi", b"irot", b"imir", b"clap",
    b"auxC", b"rloc", b"lsel", b"a1op", b"a1lx", b"pasp", b"clli", b"mdcv", b"cclv", b"amve",
    b"uncC", b"cmpd", b"iscl",
];
pub(crate) const META_KEEP: &[&[u8; 4]] = &[
    b"hdlr", b"dinf", b"pitm", b"iinf", b"iref", b"iloc", b"iprp", b"idat",
];
/// Item types that hold pictures; any other type is dropped.
pub(crate) const IMAGE_ITEMS: &[&[u8; 4]] = &[
    b"hvc1", b"av01", b"grid", b"iovl", b"iden", b"jpeg", b"vvc1", b"unci", b"tmap", b"hvt1",
    b"lhv1",
];

#[derive(Debug, Default)]
pub(crate) struct MetaFacts {
    pub kept_ranges: Vec<(u64, u64)>,
    pub dropped_ranges: Vec<(u64, u64)>,
    pub exif: ExifFacts,
    pub width: u32,
    pub height: u32,
}

/// The meta box's tables, as read.
struct Meta {
    primary: u32,
    items: Vec<Item>,
    iref_version: u8,
    refs: Vec<Ref>,
    iloc: Iloc,
    idat: Option<BoxHdr>,
    idat_len: u64,
    props: Props,
}

impl Meta {
    /// Reads pitm, iinf, iref, iloc, idat and iprp from meta's children.
    fn parse(ctx: &mut Ctx<'_>, kids: &[BoxHdr]) -> Result<Meta, MediaError> {
        let data = ctx.data;
        let find = |k: &[u8; 4]| kids.iter().find(|c| &c.kind == k).copied();
        let primary = match find(b"pitm") {
            Some(p) => primary_item(ctx, &p)?,
            None => return Err(ctx.malformed("no primary item")),
        };
        let items = match find(b"iinf") {
            Some(b) => items::parse_iinf(ctx, &b)?,
            None => return Err(ctx.malformed("no item information")),
        };
        let (iref_version, refs) = match find(b"iref") {
            Some(b) => references::parse_iref(ctx, &b)?,
            None => (0, vec![]),
        };
        let iloc_box = find(b"iloc").ok_or_else(|| ctx.malformed("no item locations"))?;
        let iloc = items::parse_iloc(ctx, &iloc_box)?;
        let idat = find(b"idat");
        let idat_len = idat.map_or(0, |b| (b.end - b.body) as u64);
        if !items.iter().any(|i| i.id == primary) {
            return Err(ctx.malformed("the primary item is not described"));
        }
        let props = match find(b"iprp") {
            Some(b) => Props::parse(data, &b, &mut ctx.budget).map_err(|e| ctx.malformed(e))?,
            None => Props::default(),
        };
        Ok(Meta {
            primary,
            items,
            iref_version,
            refs,
            iloc,
            idat,
            idat_len,
            props,
        })
    }
}

/// The primary item's id, from `pitm` (either version).
fn primary_item(ctx: &Ctx<'_>, pitm: &BoxHdr) -> Result<u32, MediaError> {
    let mut r = Reader::new(pitm.body(ctx.data));
    let v = r.u8().map_err(|e| ctx.malformed(e))?;
    r.bytes(3).map_err(|e| ctx.malformed(e))?;
    if v == 0 {
        r.u16().map(u32::from)
    } else {
        r.u32()
    }
    .map_err(|e| ctx.malformed(e))
}

/// What stays of the meta box, and the orientation added to it.
struct Keep {
    removed: BTreeSet<u32>,
    kept: BTreeSet<u32>,
    added: Vec<Transform>,
}

pub(crate) fn build_meta(
    ctx: &mut Ctx<'_>,
    meta: &BoxHdr,
    map: &dyn OffsetMap,
) -> Result<(Vec<u8>, MetaFacts), MediaError> {
    let data = ctx.data;
    let kids = ctx.children(meta.body + 4, meta.end)?;
    let m = Meta::parse(ctx, &kids)?;
    let (removed, auxiliary) = removed_items(ctx, &m)?;
    let (mut facts, xmp_orientation) = metadata::account(ctx, &m, &removed, &auxiliary)?;
    // Orientation: HEIF's own transforms, kept when the primary has any;
    // otherwise the removed EXIF's (else XMP's) carried into irot/imir.
    let existing = m.props.transforms(data, m.primary);
    let source = facts.exif.orientation.or(xmp_orientation);
    let (added, orientation) = transforms::carried(existing, source);
    facts.exif.orientation = orientation;
    let kept: BTreeSet<u32> = m
        .items
        .iter()
        .map(|i| i.id)
        .filter(|id| !removed.contains(id))
        .collect();
    let keep = Keep {
        removed,
        kept,
        added,
    };
    let body = rebuild(ctx, meta, &kids, &m, &keep, map)?;
    let (w, h) = properties::primary_size(data, &kids, m.primary, &mut ctx.budget)
        .map_err(|e| ctx.malformed(e))?
        .filter(|&(w, h)| w > 0 && h > 0)
        .ok_or_else(|| ctx.malformed("the primary picture has no size"))?;
    ctx.limits.check_dimensions(w, h)?;
    facts.width = w;
    facts.height = h;
    let mut out = Vec::new();
    write_box(&mut out, b"meta", &body);
    Ok((out, facts))
}

/// The items that go (not pictures, thumbnails, auxiliary images other than
/// alpha, and what served only those), and which of them are reported as
/// auxiliary images.
fn removed_items(ctx: &Ctx<'_>, m: &Meta) -> Result<(BTreeSet<u32>, BTreeSet<u32>), MediaError> {
    let mut removed: BTreeSet<u32> = m
        .items
        .iter()
        .filter(|i| !IMAGE_ITEMS.contains(&&i.kind))
        .map(|i| i.id)
        .collect();
    for r in &m.refs {
        if &r.kind == b"thmb" {
            removed.insert(r.from);
        }
    }
    if m.items.len() > MAX_ITEMS || m.refs.len() > MAX_ITEMS {
        return Err(ctx.unsupported("more than 4096 items or references"));
    }
    let mut auxiliary = auxiliary::non_alpha(ctx.data, &m.items, &m.refs, &m.props);
    removed.extend(&auxiliary);
    references::propagate(&m.items, &m.refs, m.primary, &mut removed, &mut auxiliary);
    if removed.contains(&m.primary) {
        return Err(ctx.malformed("the primary item is not a picture"));
    }
    Ok((removed, auxiliary))
}

/// The body of the new meta box: its kept children rewritten in order,
/// anything else dropped (and recorded).
fn rebuild(
    ctx: &mut Ctx<'_>,
    meta: &BoxHdr,
    kids: &[BoxHdr],
    m: &Meta,
    keep: &Keep,
    map: &dyn OffsetMap,
) -> Result<Vec<u8>, MediaError> {
    let data = ctx.data;
    let mut body = full_header(ctx, meta)?;
    for (i, c) in kids.iter().enumerate() {
        if META_KEEP.contains(&&c.kind) && kids[..i].iter().any(|p| p.kind == c.kind) {
            return Err(ctx.malformed(format!("duplicate '{}' box", fourcc_name(&c.kind))));
        }
    }
    let removed = &keep.removed;
    for c in kids {
        match &c.kind {
            b"hdlr" | b"pitm" => body.extend_from_slice(c.raw(data)),
            b"dinf" => body.extend_from_slice(&super::mp4::canonical_dinf(ctx, c)?),
            b"iinf" => items::write_iinf(ctx, c, &m.items, removed, &mut body)?,
            b"iref" => references::write_iref(ctx, c, m.iref_version, &m.refs, removed, &mut body)?,
            b"iloc" => items::write_iloc(ctx, &m.iloc, removed, map, &mut body)?,
            b"iprp" => properties::build_iprp(
                ctx,
                c,
                &m.props,
                &keep.kept,
                (m.primary, &keep.added),
                &mut body,
            )?,
            b"idat" => items::write_idat(ctx, c, &m.iloc, removed, &mut body),
            _ => ctx.drop_box(c),
        }
    }
    Ok(body)
}

/// Version and flags of a full box, which must be present.
fn full_header(ctx: &Ctx<'_>, b: &BoxHdr) -> Result<Vec<u8>, MediaError> {
    b.body(ctx.data)
        .get(..4)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| ctx.malformed(format!("'{}' box is too short", fourcc_name(&b.kind))))
}
