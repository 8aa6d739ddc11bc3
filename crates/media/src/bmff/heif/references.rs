//! Item references (`iref`): thumbnails (`thmb`), auxiliary images
//! (`auxl`), descriptions (`cdsc`) and derived-image inputs (`dimg`, the
//! tiles of a grid). What served only removed items goes with them, and
//! the references rewritten name only items that stay.

use super::super::boxes::{put_uint, write_box, BoxHdr, Reader};
use super::super::Ctx;
use super::full_header;
use super::items::Item;
use super::IMAGE_ITEMS;
use crate::MediaError;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub(super) struct Ref {
    pub kind: [u8; 4],
    pub from: u32,
    pub to: Vec<u32>,
}

pub(super) fn parse_iref(ctx: &mut Ctx<'_>, b: &BoxHdr) -> Result<(u8, Vec<Ref>), MediaError> {
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

/// Adds to `removed`, until nothing changes, the items that served only
/// removed items: derived-image inputs used only by removed items, and
/// auxiliary images or descriptions of removed items only. Picture items
/// that served only an auxiliary image join `auxiliary`, to be reported
/// with it.
pub(super) fn propagate(
    items: &[Item],
    refs: &[Ref],
    primary: u32,
    removed: &mut BTreeSet<u32>,
    auxiliary: &mut BTreeSet<u32>,
) {
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
        for it in items {
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
}

/// `iref` with only references from and to items that stay (a reference
/// left with no target goes).
pub(super) fn write_iref(
    ctx: &Ctx<'_>,
    iref: &BoxHdr,
    version: u8,
    refs: &[Ref],
    removed: &BTreeSet<u32>,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let mut b = full_header(ctx, iref)?;
    let w = if version == 0 { 2 } else { 4 };
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
    write_box(out, b"iref", &b);
    Ok(())
}
