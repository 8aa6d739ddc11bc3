//! Item properties: `ipco`'s boxes and the `ipma` associations that give
//! each item its properties by 1-based index. Removed or unneeded
//! properties become zero-filled `free` boxes, so every index stays valid;
//! orientation carried from EXIF is appended and associated with the
//! primary item.

use super::super::boxes::{children, put_uint, write_box, BoxHdr, Reader};
use super::super::Ctx;
use super::transforms::Transform;
use super::{auxiliary, PROPERTY_KEEP};
use crate::report::{fourcc_name, RemovedKind};
use crate::MediaError;
use std::collections::{BTreeMap, BTreeSet};

/// Indices that fit ipma's narrow (7-bit) property index.
const NARROW_INDEX_MAX: usize = 0x7F;
const WIDE_INDEX_MAX: usize = 0x7FFF;

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
pub(super) struct Props {
    ipco: Vec<BoxHdr>,
    ipmas: Vec<Ipma>,
    by_item: BTreeMap<u32, Vec<u16>>,
}

impl Props {
    pub(super) fn parse(data: &[u8], iprp: &BoxHdr, budget: &mut usize) -> Result<Self, String> {
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
    pub(super) fn aux_type(&self, data: &[u8], id: u32) -> Option<String> {
        self.of(id)
            .find(|p| &p.kind == b"auxC")
            .map(|p| auxiliary::aux_type(data, p))
    }

    pub(super) fn transforms(&self, data: &[u8], id: u32) -> Vec<Transform> {
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

/// Rewrites iprp: properties no kept item is associated with (and any not
/// on the allowlist) become zero-filled `free` boxes, so indices stay
/// valid; `added` transforms are appended to ipco and associated with the
/// primary after its other properties.
pub(super) fn build_iprp(
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

/// The `ispe` size associated with the primary item through `ipma`.
pub(super) fn primary_size(
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
        let ipma = parse_ipma(ipma.body(data))?;
        let associated = ipma
            .entries
            .iter()
            .filter(|(id, _)| *id == primary)
            .flat_map(|(_, assoc)| assoc.iter().map(|a| usize::from(a & 0x7FFF)));
        for idx in associated {
            if let Some(p) = props.get(idx.wrapping_sub(1)) {
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
    Ok(None)
}
