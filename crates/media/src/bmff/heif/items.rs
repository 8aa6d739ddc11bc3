//! Items: their descriptions (`iinf`), where their bytes lie (`iloc`, in
//! the file's media data or in `idat`), and both rewritten with only the
//! kept items, every file offset remapped to where the data now lies.

use super::super::boxes::{put_uint, write_box, BoxHdr, Reader};
use super::super::{gaps, merged, Ctx, OffsetMap};
use super::full_header;
use crate::report::RemovedKind;
use crate::MediaError;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub(super) struct Item {
    pub id: u32,
    pub kind: [u8; 4],
    /// The `infe` box, copied as it is when the item stays.
    pub raw: BoxHdr,
}

#[derive(Debug, Clone)]
struct Extent {
    index: u64,
    offset: u64,
    length: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Loc {
    pub id: u32,
    /// 0: in the file, 1: in `idat`.
    pub method: u16,
    pub dref: u16,
    base: u64,
    extents: Vec<Extent>,
}

#[derive(Debug)]
pub(super) struct Iloc {
    version: u8,
    flags: [u8; 3],
    off_sz: usize,
    len_sz: usize,
    base_sz: usize,
    idx_sz: usize,
    pub locs: Vec<Loc>,
}

pub(super) fn parse_iinf(ctx: &mut Ctx<'_>, b: &BoxHdr) -> Result<Vec<Item>, MediaError> {
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

pub(super) fn parse_iloc(ctx: &Ctx<'_>, b: &BoxHdr) -> Result<Iloc, MediaError> {
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
pub(super) fn item_ranges(loc: &Loc, file_len: u64, idat_len: u64) -> Option<Vec<(u64, u64)>> {
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

/// An item's bytes, from the file or from idat.
pub(super) fn item_bytes(
    data: &[u8],
    loc: &Loc,
    ranges: &[(u64, u64)],
    idat: Option<BoxHdr>,
) -> Vec<u8> {
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

/// `iinf` with only the items that stay.
pub(super) fn write_iinf(
    ctx: &Ctx<'_>,
    iinf: &BoxHdr,
    items: &[Item],
    removed: &BTreeSet<u32>,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let version = full_header(ctx, iinf)?[0];
    let kept: Vec<&Item> = items.iter().filter(|i| !removed.contains(&i.id)).collect();
    let mut b = full_header(ctx, iinf)?;
    let n = kept.len() as u64;
    put_uint(&mut b, n, if version == 0 { 2 } else { 4 }).map_err(|e| ctx.malformed(e))?;
    for i in kept {
        b.extend_from_slice(i.raw.raw(ctx.data));
    }
    write_box(out, b"iinf", &b);
    Ok(())
}

pub(super) fn write_iloc(
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

/// `idat` with every byte no kept item uses zeroed (removed items' data
/// and leftovers).
pub(super) fn write_idat(
    ctx: &mut Ctx<'_>,
    idat: &BoxHdr,
    iloc: &Iloc,
    removed: &BTreeSet<u32>,
    out: &mut Vec<u8>,
) {
    let file_len = ctx.data.len() as u64;
    let idat_len = (idat.end - idat.body) as u64;
    let mut b = idat.body(ctx.data).to_vec();
    let used: Vec<(u64, u64)> = iloc
        .locs
        .iter()
        .filter(|l| l.method == 1 && !removed.contains(&l.id))
        .flat_map(|l| item_ranges(l, file_len, idat_len).unwrap_or_default())
        .collect();
    let mut zeroed = 0;
    for (x, y) in gaps(&merged(&used, 0, b.len()), b.len()) {
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
    write_box(out, b"idat", &b);
}
