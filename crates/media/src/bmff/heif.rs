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
/// The auxiliary image types needed to render the picture: alpha planes.
/// Any other auxiliary image (depth, mattes, Apple's HDR gain map) goes.
pub(crate) const ALPHA_AUX_TYPES: &[&str] = &[
    "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
    "urn:mpeg:hevc:2015:auxid:1",
];
/// `imir` modes as ISO/IEC 23008-12 (amended; the field was first called
/// `axis`) and libheif read them: 0 exchanges top and bottom, 1 left and
/// right.
const MIRROR_TOP_BOTTOM: u8 = 0;
const MIRROR_LEFT_RIGHT: u8 = 1;
/// Indices that fit ipma's narrow (7-bit) property index.
const NARROW_INDEX_MAX: usize = 0x7F;
const WIDE_INDEX_MAX: usize = 0x7FFF;

/// A transformative property of the primary item, in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `irot`: anti-clockwise quarter turns.
    Rotate(u8),
    /// `imir`: [`MIRROR_TOP_BOTTOM`] or [`MIRROR_LEFT_RIGHT`].
    Mirror(u8),
}

/// The `irot`/`imir` properties (applied in this order) that display a
/// picture as an EXIF orientation (1–8) asks; none for 1 or a bad value.
pub(crate) fn transforms_for(orientation: u16) -> Vec<Transform> {
    use Transform::{Mirror, Rotate};
    match orientation {
        2 => vec![Mirror(MIRROR_LEFT_RIGHT)],
        3 => vec![Rotate(2)],
        4 => vec![Mirror(MIRROR_TOP_BOTTOM)],
        // Transpose: a quarter turn anti-clockwise, then top for bottom.
        5 => vec![Rotate(1), Mirror(MIRROR_TOP_BOTTOM)],
        6 => vec![Rotate(3)],
        // Transverse: a quarter turn clockwise, then top for bottom.
        7 => vec![Rotate(3), Mirror(MIRROR_TOP_BOTTOM)],
        8 => vec![Rotate(1)],
        _ => vec![],
    }
}

type Matrix = [[i8; 2]; 2];

/// Where a transform sends a point (x right, y down, about the centre).
fn matrix(t: Transform) -> Matrix {
    match t {
        Transform::Rotate(a) => {
            let mut m = [[1, 0], [0, 1]];
            for _ in 0..(a & 3) {
                // A quarter turn anti-clockwise: right goes to the top.
                m = mul([[0, 1], [-1, 0]], m);
            }
            m
        }
        Transform::Mirror(MIRROR_TOP_BOTTOM) => [[1, 0], [0, -1]],
        Transform::Mirror(_) => [[-1, 0], [0, 1]],
    }
}

fn mul(a: Matrix, b: Matrix) -> Matrix {
    let mut m = [[0; 2]; 2];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    m
}

/// The EXIF orientation (1–8) that shows what `transforms`, applied in
/// order, show.
pub(crate) fn orientation_of(transforms: &[Transform]) -> u16 {
    // EXIF 1–8 as matrices: identity, left-right, half turn, top-bottom,
    // transpose, clockwise, transverse, anti-clockwise.
    const EXIF: [Matrix; 8] = [
        [[1, 0], [0, 1]],
        [[-1, 0], [0, 1]],
        [[-1, 0], [0, -1]],
        [[1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [1, 0]],
        [[0, -1], [-1, 0]],
        [[0, 1], [-1, 0]],
    ];
    let m = transforms
        .iter()
        .fold([[1, 0], [0, 1]], |m, &t| mul(matrix(t), m));
    EXIF.iter()
        .position(|e| *e == m)
        .map_or(1, |i| i as u16 + 1)
}

/// One item property association box: entries of item id and associations
/// (bit 15 essential, the low 15 bits the 1-based property index).
#[derive(Debug, Clone)]
struct Ipma {
    version: u8,
    flags: [u8; 3],
    entries: Vec<(u32, Vec<u16>)>,
}

impl Ipma {
    fn wide(&self) -> bool {
        self.flags[2] & 1 != 0
    }
}

fn parse_ipma(body: &[u8]) -> Result<Ipma, String> {
    let mut r = Reader::new(body);
    let version = r.u8()?;
    let f = r.bytes(3)?;
    let flags = [f[0], f[1], f[2]];
    let wide = flags[2] & 1 != 0;
    let n = r.u32()?;
    let mut entries = Vec::with_capacity((n as usize).min(r.remaining()));
    for _ in 0..n {
        let id = if version < 1 {
            u32::from(r.u16()?)
        } else {
            r.u32()?
        };
        let k = r.u8()?;
        let mut assoc = Vec::with_capacity(usize::from(k));
        for _ in 0..k {
            assoc.push(if wide {
                r.u16()?
            } else {
                let b = r.u8()?;
                (u16::from(b & 0x80) << 8) | u16::from(b & 0x7F)
            });
        }
        entries.push((id, assoc));
    }
    Ok(Ipma {
        version,
        flags,
        entries,
    })
}

fn write_ipma(out: &mut Vec<u8>, ipma: &Ipma) -> Result<(), String> {
    let mut b = vec![ipma.version, ipma.flags[0], ipma.flags[1], ipma.flags[2]];
    put_uint(&mut b, ipma.entries.len() as u64, 4)?;
    for (id, assoc) in &ipma.entries {
        put_uint(&mut b, u64::from(*id), if ipma.version < 1 { 2 } else { 4 })?;
        let k = u8::try_from(assoc.len()).map_err(|_| "too many property associations")?;
        b.push(k);
        for &a in assoc {
            if ipma.wide() {
                put_uint(&mut b, u64::from(a), 2)?;
            } else {
                let idx = a & 0x7FFF;
                if usize::from(idx) > NARROW_INDEX_MAX {
                    return Err("a property index does not fit its field".into());
                }
                b.push(((a >> 8) as u8 & 0x80) | idx as u8);
            }
        }
    }
    write_box(out, b"ipma", &b);
    Ok(())
}

/// The item properties: ipco's children and every ipma box, in order, and
/// each item's associations (over all ipma boxes, in order).
#[derive(Debug, Default)]
struct Props {
    ipco: Vec<BoxHdr>,
    ipmas: Vec<Ipma>,
    by_item: BTreeMap<u32, Vec<u16>>,
}

impl Props {
    fn parse(data: &[u8], iprp: &BoxHdr, budget: &mut usize) -> Result<Self, String> {
        let mut props = Props::default();
        let mut ipcos = 0;
        for c in children(data, iprp.body, iprp.end, budget)? {
            match &c.kind {
                b"ipco" => {
                    ipcos += 1;
                    if ipcos > 1 {
                        return Err("more than one item property container".into());
                    }
                    props.ipco = children(data, c.body, c.end, budget)?;
                }
                b"ipma" => props.ipmas.push(parse_ipma(c.body(data))?),
                _ => {}
            }
        }
        for (id, a) in props.ipmas.iter().flat_map(|m| m.entries.iter()) {
            props.by_item.entry(*id).or_default().extend(a);
        }
        Ok(props)
    }

    /// The properties associated with `id`, in the order listed.
    fn of(&self, id: u32) -> impl Iterator<Item = &BoxHdr> + '_ {
        self.by_item
            .get(&id)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&a| self.ipco.get(usize::from(a & 0x7FFF).checked_sub(1)?))
    }

    /// The auxiliary type of `id`'s `auxC` property, if it has one.
    fn aux_type(&self, data: &[u8], id: u32) -> Option<String> {
        self.of(id)
            .find(|p| &p.kind == b"auxC")
            .map(|p| aux_type(data, p))
    }

    fn transforms(&self, data: &[u8], id: u32) -> Vec<Transform> {
        self.of(id)
            .filter_map(|p| {
                let v = *p.body(data).first()?;
                match &p.kind {
                    b"irot" => Some(Transform::Rotate(v & 3)),
                    b"imir" => Some(Transform::Mirror(v & 1)),
                    _ => None,
                }
            })
            .collect()
    }
}

/// `auxC`'s aux_type: a null-terminated string after the full-box header
/// (an unreadable one reads as empty, which is not alpha).
fn aux_type(data: &[u8], p: &BoxHdr) -> String {
    let body = p.body(data);
    let s = body.get(4..).unwrap_or_default();
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

fn is_alpha(aux_type: &str) -> bool {
    ALPHA_AUX_TYPES.contains(&aux_type)
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
    let props = match find(b"iprp") {
        Some(b) => Props::parse(data, &b, &mut ctx.budget).map_err(|e| ctx.malformed(e))?,
        None => Props::default(),
    };

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
    // Auxiliary images (an `auxl` reference or an `auxC` property) other
    // than alpha planes: depth maps, mattes, gain maps.
    let mut auxiliary: BTreeSet<u32> = BTreeSet::new();
    for it in &items {
        let aux = props.aux_type(data, it.id);
        let linked = refs.iter().any(|r| &r.kind == b"auxl" && r.from == it.id);
        if (linked || aux.is_some()) && !aux.as_deref().is_some_and(is_alpha) {
            auxiliary.insert(it.id);
            removed.insert(it.id);
        }
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
                // What served only an auxiliary image is reported with it.
                let for_aux = users.iter().any(|&i| auxiliary.contains(&refs[i].from))
                    || out
                        .iter()
                        .any(|&i| refs[i].to.iter().any(|t| auxiliary.contains(t)));
                if for_aux && IMAGE_ITEMS.contains(&&it.kind) {
                    auxiliary.insert(it.id);
                }
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
    let describes_primary = |id: u32| {
        refs.iter()
            .any(|r| &r.kind == b"cdsc" && r.from == id && r.to.contains(&primary))
    };
    // The EXIF (else the XMP) that describes the primary, else the first.
    let mut exif_rank = 0;
    let mut xmp_orientation: (u8, Option<u16>) = (0, None);
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
                _ if auxiliary.contains(&it.id) => RemovedKind::AuxiliaryImage,
                _ => RemovedKind::ApplicationData,
            };
            ctx.removed.add(
                kind,
                Some(&format!("{} item", fourcc_name(&it.kind))),
                usize::try_from(size).unwrap_or(usize::MAX),
            );
            let rank = if describes_primary(it.id) { 2 } else { 1 };
            if &it.kind == b"Exif" && rank > exif_rank {
                let f = exif_item_facts(&item_bytes(data, loc, &ranges, idat));
                if f != ExifFacts::default() {
                    facts.exif = f;
                    exif_rank = rank;
                }
            }
            if &it.kind == b"mime" && rank > xmp_orientation.0 {
                let xmp = mime_content(data, &it.raw)
                    .is_some_and(|(t, e)| t.trim() == "application/rdf+xml" && e.trim().is_empty());
                let o = xmp
                    .then(|| exif_min::xmp_orientation(&item_bytes(data, loc, &ranges, idat)))
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

    // Orientation: HEIF's own transforms, kept when the primary has any;
    // otherwise the removed EXIF's (else XMP's) carried into irot/imir.
    let existing = props.transforms(data, primary);
    let source = facts.exif.orientation.or(xmp_orientation.1);
    let added = if existing.is_empty() {
        source.map(transforms_for).unwrap_or_default()
    } else {
        vec![]
    };
    facts.exif.orientation = if existing.is_empty() && added.is_empty() {
        source
    } else {
        Some(orientation_of(&[existing, added.clone()].concat()))
    };
    let kept: BTreeSet<u32> = items
        .iter()
        .map(|i| i.id)
        .filter(|id| !removed.contains(id))
        .collect();

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
            b"iprp" => build_iprp(ctx, c, &props, &kept, (primary, &added), &mut body)?,
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

/// An item's bytes, from the file or from idat.
fn item_bytes(data: &[u8], loc: &Loc, ranges: &[(u64, u64)], idat: Option<BoxHdr>) -> Vec<u8> {
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
    bytes
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

/// Rewrites iprp: properties no kept item is associated with (and any not
/// on the allowlist) become zero-filled `free` boxes, so indices stay
/// valid; `added` transforms are appended to ipco and associated with the
/// primary after its other properties.
fn build_iprp(
    ctx: &mut Ctx<'_>,
    iprp: &BoxHdr,
    props: &Props,
    kept: &BTreeSet<u32>,
    (primary, added): (u32, &[Transform]),
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let used: BTreeSet<usize> = props
        .ipmas
        .iter()
        .flat_map(|m| m.entries.iter())
        .filter(|(id, _)| kept.contains(id))
        .flat_map(|(_, a)| a.iter().map(|&x| usize::from(x & 0x7FFF)))
        .collect();
    let first_new = props.ipco.len() + 1;
    if !added.is_empty() && first_new + added.len() - 1 > WIDE_INDEX_MAX {
        return Err(ctx.unsupported("more than 32767 item properties"));
    }
    // The ipma box whose entry for the primary gets the new associations.
    let home = props
        .ipmas
        .iter()
        .position(|m| m.entries.iter().any(|(id, _)| *id == primary))
        .unwrap_or(0);
    let mut body = Vec::new();
    let mut nth_ipma = 0;
    let mut wrote_ipco = false;
    for c in ctx.children(iprp.body, iprp.end)? {
        match &c.kind {
            b"ipco" => {
                wrote_ipco = true;
                let mut b = Vec::new();
                for (i, p) in props.ipco.iter().enumerate() {
                    if PROPERTY_KEEP.contains(&&p.kind) && used.contains(&(i + 1)) {
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
                for t in added {
                    match *t {
                        Transform::Rotate(a) => write_box(&mut b, b"irot", &[a & 3]),
                        Transform::Mirror(m) => write_box(&mut b, b"imir", &[m & 1]),
                    }
                }
                write_box(&mut body, b"ipco", &b);
            }
            b"ipma" => {
                let Some(orig) = props.ipmas.get(nth_ipma) else {
                    return Err(ctx.malformed("item properties changed while reading"));
                };
                let mut m = orig.clone();
                m.entries.retain(|(id, _)| kept.contains(id));
                if nth_ipma == home && !added.is_empty() {
                    let new: Vec<u16> = (0..added.len())
                        // Transformative properties are essential.
                        .map(|j| 0x8000 | (first_new + j) as u16)
                        .collect();
                    match m.entries.iter_mut().find(|(id, _)| *id == primary) {
                        Some((_, a)) => a.extend(new),
                        None => m.entries.push((primary, new)),
                    }
                    if first_new + added.len() - 1 > NARROW_INDEX_MAX {
                        // Every index of this box is rewritten 15 bits wide.
                        m.flags[2] |= 1;
                    }
                }
                nth_ipma += 1;
                write_ipma(&mut body, &m).map_err(|e| ctx.unsupported(&e))?;
            }
            _ => ctx.drop_box(&c),
        }
    }
    if !added.is_empty() && (props.ipmas.is_empty() || !wrote_ipco) {
        return Err(ctx.malformed("no item properties to add the orientation to"));
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
    let mut auxiliary = BTreeSet::new();
    let mut props = None;
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
                auxiliary.extend(refs.iter().filter(|r| &r.kind == b"auxl").map(|r| r.from));
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
                            if &q.kind == b"auxC" && !is_alpha(&aux_type(data, &q)) {
                                return Err(
                                    "an auxiliary image other than an alpha plane remains".into()
                                );
                            }
                        }
                    }
                }
                props = Some(Props::parse(data, c, &mut ctx.budget)?);
            }
            _ => {}
        }
    }
    // An auxiliary image must be an alpha plane, declared by its auxC.
    let props = props.unwrap_or_default();
    if let Some(id) = auxiliary
        .into_iter()
        .find(|&id| !props.aux_type(data, id).as_deref().is_some_and(is_alpha))
    {
        return Err(format!(
            "auxiliary image item {id} is not declared an alpha plane"
        ));
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
