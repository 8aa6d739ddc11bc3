//! HEIF/HEIC/AVIF metadata box (`meta`): remove metadata and thumbnail items.
//!
//! Items of type Exif, mime (XMP and others) and uri, old-style items,
//! thumbnails (`thmb` references) and anything that only served a removed
//! item (tiles of a thumbnail grid, its alpha plane) are removed from iinf,
//! iloc, iref and ipma. Their bytes are zeroed where they lie (mdat or
//! idat), along with any other media bytes no kept item references. Item
//! properties not needed to render (e.g. user descriptions, creation times)
//! become zero-filled `free` boxes so that property indices stay valid. The
//! coded image bytes are never touched.

use super::boxes::{children, put_uint, write_box, BoxHdr, Reader};
use super::{Ctx, OffsetMap};
use crate::exif_min::{self, ExifFacts};
use crate::report::{fourcc_name, RemovedKind};
use crate::MediaError;
use std::collections::{BTreeMap, BTreeSet};

/// More than any camera writes (a 48-tile grid plus aux images is ~60).
const MAX_ITEMS: usize = 4096;

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

#[derive(Debug, Clone)]
struct Item {
    id: u32,
    kind: [u8; 4],
    raw: BoxHdr,
}

#[derive(Debug, Clone)]
struct Ref {
    kind: [u8; 4],
    from: u32,
    to: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Extent {
    index: u64,
    offset: u64,
    length: u64,
}

#[derive(Debug, Clone)]
struct Loc {
    id: u32,
    method: u16,
    dref: u16,
    base: u64,
    extents: Vec<Extent>,
}

#[derive(Debug)]
struct Iloc {
    version: u8,
    flags: [u8; 3],
    off_sz: usize,
    len_sz: usize,
    base_sz: usize,
    idx_sz: usize,
    locs: Vec<Loc>,
}

#[derive(Debug, Default)]
pub(crate) struct MetaFacts {
    pub kept_ranges: Vec<(u64, u64)>,
    pub dropped_ranges: Vec<(u64, u64)>,
    pub exif: ExifFacts,
    pub width: u32,
    pub height: u32,
}

fn parse_iinf(ctx: &mut Ctx<'_>, b: &BoxHdr) -> Result<Vec<Item>, MediaError> {
    let data = ctx.data;
    let body = b.body(data);
    let version = *body
        .first()
        .ok_or_else(|| ctx.malformed("empty item info box"))?;
    let skip = if version == 0 { 6 } else { 8 };
    let mut items = Vec::new();
    for e in ctx.children(b.body + skip.min(body.len()), b.end)? {
        if &e.kind != b"infe" {
            continue;
        }
        let mut r = Reader::new(e.body(data));
        let parsed = (|| -> Result<(u32, [u8; 4]), String> {
            let v = r.u8()?;
            r.bytes(3)?;
            match v {
                0 | 1 => Ok((u32::from(r.u16()?), *b"mime")),
                2 | 3 => {
                    let id = if v == 2 {
                        u32::from(r.u16()?)
                    } else {
                        r.u32()?
                    };
                    r.u16()?;
                    let t = r.bytes(4)?;
                    Ok((id, [t[0], t[1], t[2], t[3]]))
                }
                _ => Err("unknown item info version".into()),
            }
        })()
        .map_err(|e| ctx.malformed(e))?;
        items.push(Item {
            id: parsed.0,
            kind: parsed.1,
            raw: e,
        });
    }
    Ok(items)
}

fn parse_iref(ctx: &mut Ctx<'_>, b: &BoxHdr) -> Result<(u8, Vec<Ref>), MediaError> {
    let data = ctx.data;
    let version = *b
        .body(data)
        .first()
        .ok_or_else(|| ctx.malformed("empty item reference box"))?;
    let wide = version != 0;
    let mut refs = Vec::new();
    for c in ctx.children(b.body + 4, b.end)? {
        let mut r = Reader::new(c.body(data));
        let id = |r: &mut Reader<'_>| {
            if wide {
                r.u32()
            } else {
                r.u16().map(u32::from)
            }
        };
        let parsed = (|| -> Result<Ref, String> {
            let from = id(&mut r)?;
            let n = r.u16()?;
            let to = (0..n).map(|_| id(&mut r)).collect::<Result<_, _>>()?;
            Ok(Ref {
                kind: c.kind,
                from,
                to,
            })
        })()
        .map_err(|e| ctx.malformed(e))?;
        refs.push(parsed);
    }
    Ok((version, refs))
}

fn parse_iloc(ctx: &Ctx<'_>, b: &BoxHdr) -> Result<Iloc, MediaError> {
    let mut r = Reader::new(b.body(ctx.data));
    (|| -> Result<Iloc, String> {
        let version = r.u8()?;
        let f = r.bytes(3)?;
        let flags = [f[0], f[1], f[2]];
        if version > 2 {
            return Err("unknown item location version".into());
        }
        let a = r.u8()?;
        let c = r.u8()?;
        let (off_sz, len_sz, base_sz) = (
            usize::from(a >> 4),
            usize::from(a & 15),
            usize::from(c >> 4),
        );
        let idx_sz = if version > 0 { usize::from(c & 15) } else { 0 };
        let n = if version < 2 {
            u32::from(r.u16()?)
        } else {
            r.u32()?
        };
        let mut locs = Vec::new();
        for _ in 0..n {
            if r.remaining() == 0 {
                return Err("item location table is cut short".into());
            }
            let id = if version < 2 {
                u32::from(r.u16()?)
            } else {
                r.u32()?
            };
            let method = if version > 0 { r.u16()? & 0x0F } else { 0 };
            let dref = r.u16()?;
            let base = r.uint(base_sz)?;
            let ne = r.u16()?;
            let mut extents = Vec::with_capacity(usize::from(ne).min(r.remaining()));
            for _ in 0..ne {
                let index = r.uint(idx_sz)?;
                let offset = r.uint(off_sz)?;
                let length = r.uint(len_sz)?;
                extents.push(Extent {
                    index,
                    offset,
                    length,
                });
            }
            locs.push(Loc {
                id,
                method,
                dref,
                base,
                extents,
            });
        }
        Ok(Iloc {
            version,
            flags,
            off_sz,
            len_sz,
            base_sz,
            idx_sz,
            locs,
        })
    })()
    .map_err(|e| ctx.malformed(e))
}

/// Absolute (file or idat) ranges of one item's data.
fn item_ranges(loc: &Loc, file_len: u64, idat_len: u64) -> Option<Vec<(u64, u64)>> {
    let limit = if loc.method == 1 { idat_len } else { file_len };
    loc.extents
        .iter()
        .map(|e| {
            let start = loc.base.checked_add(e.offset)?;
            let len = if e.length == 0 {
                limit.checked_sub(start)?
            } else {
                e.length
            };
            (start.checked_add(len)? <= limit).then_some((start, len))
        })
        .collect()
}

pub(crate) fn build_meta(
    ctx: &mut Ctx<'_>,
    meta: &BoxHdr,
    map: &dyn OffsetMap,
) -> Result<(Vec<u8>, MetaFacts), MediaError> {
    let data = ctx.data;
    let kids = ctx.children(meta.body + 4, meta.end)?;
    let find = |k: &[u8; 4]| kids.iter().find(|c| &c.kind == k).copied();
    let primary = match find(b"pitm") {
        Some(p) => {
            let mut r = Reader::new(p.body(data));
            let v = r.u8().map_err(|e| ctx.malformed(e))?;
            r.bytes(3).map_err(|e| ctx.malformed(e))?;
            if v == 0 {
                r.u16().map(u32::from)
            } else {
                r.u32()
            }
            .map_err(|e| ctx.malformed(e))?
        }
        None => return Err(ctx.malformed("no primary item")),
    };
    let items = match find(b"iinf") {
        Some(b) => parse_iinf(ctx, &b)?,
        None => return Err(ctx.malformed("no item information")),
    };
    let (iref_version, refs) = match find(b"iref") {
        Some(b) => parse_iref(ctx, &b)?,
        None => (0, vec![]),
    };
    let iloc_box = find(b"iloc").ok_or_else(|| ctx.malformed("no item locations"))?;
    let iloc = parse_iloc(ctx, &iloc_box)?;
    let idat = find(b"idat");
    let idat_len = idat.map_or(0, |b| (b.end - b.body) as u64);
    if !items.iter().any(|i| i.id == primary) {
        return Err(ctx.malformed("the primary item is not described"));
    }

    // Which items go.
    let mut removed: BTreeSet<u32> = items
        .iter()
        .filter(|i| !IMAGE_ITEMS.contains(&&i.kind))
        .map(|i| i.id)
        .collect();
    for r in &refs {
        if &r.kind == b"thmb" {
            removed.insert(r.from);
        }
    }
    if items.len() > MAX_ITEMS || refs.len() > MAX_ITEMS {
        return Err(ctx.unsupported("more than 4096 items or references"));
    }
    // Per item: the refs that use it as a derived-image input, and its own
    // non-input references (thumbnail-of, auxiliary-of, describes...).
    let mut inputs_of: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut outgoing: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, r) in refs.iter().enumerate() {
        if &r.kind == b"dimg" {
            for t in &r.to {
                inputs_of.entry(*t).or_default().push(i);
            }
        } else {
            outgoing.entry(r.from).or_default().push(i);
        }
    }
    loop {
        let before = removed.len();
        for it in &items {
            if removed.contains(&it.id) || it.id == primary {
                continue;
            }
            // Derived-image inputs used only by removed items.
            let users = inputs_of.get(&it.id).map_or(&[][..], Vec::as_slice);
            let orphan_input =
                !users.is_empty() && users.iter().all(|&i| removed.contains(&refs[i].from));
            // Auxiliary images/descriptions of removed items only.
            let out = outgoing.get(&it.id).map_or(&[][..], Vec::as_slice);
            let serves_removed = !out.is_empty()
                && out
                    .iter()
                    .all(|&i| refs[i].to.iter().all(|t| removed.contains(t)));
            if orphan_input || serves_removed {
                removed.insert(it.id);
            }
        }
        if removed.len() == before {
            break;
        }
    }
    if removed.contains(&primary) {
        return Err(ctx.malformed("the primary item is not a picture"));
    }

    let mut facts = MetaFacts::default();
    let file_len = data.len() as u64;
    for it in &items {
        let Some(loc) = iloc.locs.iter().find(|l| l.id == it.id) else {
            continue;
        };
        let ranges = item_ranges(loc, file_len, idat_len)
            .ok_or_else(|| ctx.malformed("an item lies outside the file"))?;
        if removed.contains(&it.id) {
            let size: u64 = ranges.iter().map(|r| r.1).sum();
            let kind = match &it.kind {
                b"Exif" => RemovedKind::Exif,
                b"mime" => RemovedKind::Xmp,
                _ if refs.iter().any(|r| &r.kind == b"thmb" && r.from == it.id) => {
                    RemovedKind::Thumbnail
                }
                _ => RemovedKind::ApplicationData,
            };
            ctx.removed.add(
                kind,
                Some(&format!("{} item", fourcc_name(&it.kind))),
                usize::try_from(size).unwrap_or(usize::MAX),
            );
            if &it.kind == b"Exif" && facts.exif == ExifFacts::default() {
                facts.exif = exif_item_facts(data, loc, &ranges, idat);
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

    // Rebuild.
    let mut body = full_header(ctx, meta)?;
    for (i, c) in kids.iter().enumerate() {
        if META_KEEP.contains(&&c.kind) && kids[..i].iter().any(|p| p.kind == c.kind) {
            return Err(ctx.malformed(format!("duplicate '{}' box", fourcc_name(&c.kind))));
        }
    }
    for c in &kids {
        match &c.kind {
            b"hdlr" | b"pitm" => body.extend_from_slice(c.raw(data)),
            b"dinf" => body.extend_from_slice(&super::mp4::canonical_dinf(ctx, c)?),
            b"iinf" => {
                let version = full_header(ctx, c)?[0];
                let kept: Vec<&Item> = items.iter().filter(|i| !removed.contains(&i.id)).collect();
                let mut b = full_header(ctx, c)?;
                let n = kept.len() as u64;
                put_uint(&mut b, n, if version == 0 { 2 } else { 4 })
                    .map_err(|e| ctx.malformed(e))?;
                for i in kept {
                    b.extend_from_slice(i.raw.raw(data));
                }
                write_box(&mut body, b"iinf", &b);
            }
            b"iref" => {
                let mut b = full_header(ctx, c)?;
                let w = if iref_version == 0 { 2 } else { 4 };
                for r in refs.iter().filter(|r| !removed.contains(&r.from)) {
                    let to: Vec<u32> =
                        r.to.iter()
                            .copied()
                            .filter(|t| !removed.contains(t))
                            .collect();
                    if to.is_empty() {
                        continue;
                    }
                    let mut rb = Vec::new();
                    put_uint(&mut rb, u64::from(r.from), w).map_err(|e| ctx.malformed(e))?;
                    put_uint(&mut rb, to.len() as u64, 2).map_err(|e| ctx.malformed(e))?;
                    for t in to {
                        put_uint(&mut rb, u64::from(t), w).map_err(|e| ctx.malformed(e))?;
                    }
                    write_box(&mut b, &r.kind, &rb);
                }
                write_box(&mut body, b"iref", &b);
            }
            b"iloc" => write_iloc(ctx, &iloc, &removed, map, &mut body)?,
            b"iprp" => build_iprp(ctx, c, &removed, &mut body)?,
            b"idat" => {
                let mut b = c.body(data).to_vec();
                let used: Vec<(u64, u64)> = iloc
                    .locs
                    .iter()
                    .filter(|l| l.method == 1 && !removed.contains(&l.id))
                    .flat_map(|l| item_ranges(l, file_len, idat_len).unwrap_or_default())
                    .collect();
                let mut zeroed = 0;
                for (x, y) in super::gaps(&super::merged(&used, 0, b.len()), b.len()) {
                    for byte in &mut b[x..y] {
                        if *byte != 0 {
                            *byte = 0;
                            zeroed += 1;
                        }
                    }
                }
                if zeroed > 0 {
                    ctx.removed
                        .add(RemovedKind::UnreferencedData, Some("idat"), zeroed);
                }
                write_box(&mut body, b"idat", &b);
            }
            _ => ctx.drop_box(c),
        }
    }
    let (w, h) = primary_size(data, &kids, primary, &mut ctx.budget)
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

fn exif_item_facts(
    data: &[u8],
    loc: &Loc,
    ranges: &[(u64, u64)],
    idat: Option<BoxHdr>,
) -> ExifFacts {
    let base = if loc.method == 1 {
        idat.map_or(0, |b| b.body)
    } else {
        0
    };
    let mut bytes = Vec::new();
    for &(s, n) in ranges {
        let s = base + s as usize;
        if let Some(x) = data.get(s..s + n as usize) {
            bytes.extend_from_slice(x);
        }
    }
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

fn write_iloc(
    ctx: &mut Ctx<'_>,
    iloc: &Iloc,
    removed: &BTreeSet<u32>,
    map: &dyn OffsetMap,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let e = |m: String| ctx.malformed(m);
    let mut b = vec![iloc.version, iloc.flags[0], iloc.flags[1], iloc.flags[2]];
    b.push(((iloc.off_sz as u8) << 4) | iloc.len_sz as u8);
    b.push(((iloc.base_sz as u8) << 4) | iloc.idx_sz as u8);
    let kept: Vec<&Loc> = iloc
        .locs
        .iter()
        .filter(|l| !removed.contains(&l.id))
        .collect();
    let id_w = if iloc.version < 2 { 2 } else { 4 };
    put_uint(&mut b, kept.len() as u64, id_w).map_err(e)?;
    for l in kept {
        put_uint(&mut b, u64::from(l.id), id_w).map_err(e)?;
        if iloc.version > 0 {
            put_uint(&mut b, u64::from(l.method), 2).map_err(e)?;
        }
        put_uint(&mut b, u64::from(l.dref), 2).map_err(e)?;
        let in_file = l.method == 0;
        let new_base = if in_file && l.base != 0 {
            map.map(l.base)
                .ok_or_else(|| ctx.malformed("an item base offset points outside the media data"))?
        } else {
            l.base
        };
        put_uint(&mut b, new_base, iloc.base_sz).map_err(e)?;
        put_uint(&mut b, l.extents.len() as u64, 2).map_err(e)?;
        for x in &l.extents {
            put_uint(&mut b, x.index, iloc.idx_sz).map_err(e)?;
            let off = if in_file {
                let abs = map
                    .map(l.base + x.offset)
                    .ok_or_else(|| ctx.malformed("an item offset points outside the media data"))?;
                abs.checked_sub(new_base)
                    .ok_or_else(|| ctx.malformed("item offsets out of order"))?
            } else {
                x.offset
            };
            put_uint(&mut b, off, iloc.off_sz).map_err(e)?;
            put_uint(&mut b, x.length, iloc.len_sz).map_err(e)?;
        }
    }
    write_box(out, b"iloc", &b);
    Ok(())
}

fn build_iprp(
    ctx: &mut Ctx<'_>,
    iprp: &BoxHdr,
    removed: &BTreeSet<u32>,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for c in ctx.children(iprp.body, iprp.end)? {
        match &c.kind {
            b"ipco" => {
                let mut b = Vec::new();
                for p in &ctx.children(c.body, c.end)? {
                    if PROPERTY_KEEP.contains(&&p.kind) {
                        b.extend_from_slice(p.raw(data));
                    } else {
                        ctx.removed.add(
                            RemovedKind::ItemProperty,
                            Some(&fourcc_name(&p.kind)),
                            p.end - p.start,
                        );
                        let mut free = vec![0u8; p.end - p.start];
                        let n = u32::try_from(free.len())
                            .map_err(|_| ctx.malformed("property too large"))?;
                        free[..4].copy_from_slice(&n.to_be_bytes());
                        free[4..8].copy_from_slice(b"free");
                        b.extend_from_slice(&free);
                    }
                }
                write_box(&mut body, b"ipco", &b);
            }
            b"ipma" => {
                let raw = c.body(data);
                let mut r = Reader::new(raw);
                let res = (|| -> Result<Vec<u8>, String> {
                    let version = r.u8()?;
                    let flags = r.bytes(3)?;
                    let big_index = flags[2] & 1 != 0;
                    let n = r.u32()?;
                    let mut b = raw[..4].to_vec();
                    let mut entries = Vec::new();
                    for _ in 0..n {
                        let start = r.pos;
                        let id = if version < 1 {
                            u32::from(r.u16()?)
                        } else {
                            r.u32()?
                        };
                        let k = r.u8()?;
                        r.bytes(usize::from(k) * if big_index { 2 } else { 1 })?;
                        if !removed.contains(&id) {
                            entries.push(&raw[start..r.pos]);
                        }
                    }
                    b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                    for e in entries {
                        b.extend_from_slice(e);
                    }
                    Ok(b)
                })();
                let b = res.map_err(|e| ctx.malformed(e))?;
                write_box(&mut body, b"ipma", &b);
            }
            _ => ctx.drop_box(&c),
        }
    }
    write_box(out, b"iprp", &body);
    Ok(())
}

/// File ranges (offset, length) used by items, and the primary picture size.
pub(crate) type VerifiedMeta = (Vec<(u64, u64)>, Option<(u32, u32)>);

/// Structural re-walk of a sanitised meta box. Returns the file ranges used
/// by items and the primary picture size.
pub(crate) fn verify_meta(ctx: &mut Ctx<'_>, meta: &BoxHdr) -> Result<VerifiedMeta, String> {
    let data = ctx.data;
    let kids = children(data, meta.body + 4, meta.end, &mut ctx.budget)?;
    let mut ranges = Vec::new();
    let pitm = kids
        .iter()
        .find(|c| &c.kind == b"pitm")
        .ok_or("no primary item")?;
    let mut r = Reader::new(pitm.body(data));
    let primary = if r.u32()? >> 24 == 0 {
        u32::from(r.u16()?)
    } else {
        r.u32()?
    };
    let dims = primary_size(data, &kids, primary, &mut ctx.budget)?;
    let mut idat_len = 0;
    for c in &kids {
        if &c.kind == b"idat" {
            idat_len = (c.end - c.body) as u64;
        }
    }
    for c in &kids {
        if !META_KEEP.contains(&&c.kind) {
            return Err(format!(
                "box '{}' is not allowed in meta",
                fourcc_name(&c.kind)
            ));
        }
        match &c.kind {
            b"iinf" => {
                let items = parse_iinf(ctx, c).map_err(|e| e.to_string())?;
                if let Some(i) = items.iter().find(|i| !IMAGE_ITEMS.contains(&&i.kind)) {
                    return Err(format!(
                        "item of type '{}' is not allowed",
                        fourcc_name(&i.kind)
                    ));
                }
            }
            b"iref" => {
                let (_, refs) = parse_iref(ctx, c).map_err(|e| e.to_string())?;
                if refs.iter().any(|r| &r.kind == b"thmb") {
                    return Err("a thumbnail item is still referenced".into());
                }
            }
            b"iloc" => {
                let iloc = parse_iloc(ctx, c).map_err(|e| e.to_string())?;
                for l in &iloc.locs {
                    let r = item_ranges(l, data.len() as u64, idat_len)
                        .ok_or("an item lies outside the file")?;
                    if l.method == 0 {
                        ranges.extend(r);
                    }
                }
            }
            b"iprp" => {
                for p in children(data, c.body, c.end, &mut ctx.budget)? {
                    if &p.kind == b"ipco" {
                        let props = children(data, p.body, p.end, &mut ctx.budget)?;
                        for q in props {
                            let ok = PROPERTY_KEEP.contains(&&q.kind)
                                || (&q.kind == b"free" && q.body(data).iter().all(|&x| x == 0));
                            if !ok {
                                return Err(format!(
                                    "item property '{}' is not allowed",
                                    fourcc_name(&q.kind)
                                ));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok((ranges, dims))
}

/// The `ispe` size associated with the primary item through `ipma`.
fn primary_size(
    data: &[u8],
    meta_kids: &[BoxHdr],
    primary: u32,
    budget: &mut usize,
) -> Result<Option<(u32, u32)>, String> {
    let Some(iprp) = meta_kids.iter().find(|c| &c.kind == b"iprp") else {
        return Ok(None);
    };
    let kids = children(data, iprp.body, iprp.end, budget)?;
    let Some(ipco) = kids.iter().find(|c| &c.kind == b"ipco") else {
        return Ok(None);
    };
    let props = children(data, ipco.body, ipco.end, budget)?;
    for ipma in kids.iter().filter(|c| &c.kind == b"ipma") {
        let mut r = Reader::new(ipma.body(data));
        let version = r.u8()?;
        let big_index = r.bytes(3)?[2] & 1 != 0;
        let n = r.u32()?;
        for _ in 0..n {
            let id = if version < 1 {
                u32::from(r.u16()?)
            } else {
                r.u32()?
            };
            let k = r.u8()?;
            for _ in 0..k {
                let idx = if big_index {
                    r.u16()? & 0x7FFF
                } else {
                    u16::from(r.u8()? & 0x7F)
                };
                if id != primary {
                    continue;
                }
                if let Some(p) = props.get(usize::from(idx).wrapping_sub(1)) {
                    let d = p.body(data);
                    if &p.kind == b"ispe" && d.len() >= 12 {
                        return Ok(Some((
                            u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                            u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
                        )));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// Version and flags of a full box, which must be present.
fn full_header(ctx: &Ctx<'_>, b: &BoxHdr) -> Result<Vec<u8>, MediaError> {
    b.body(ctx.data)
        .get(..4)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| ctx.malformed(format!("'{}' box is too short", fourcc_name(&b.kind))))
}
