//! The verifier's walk of a sanitised `meta` box, independent of the
//! rewrite: only allowed boxes, item types and properties, no thumbnail
//! reference, and no auxiliary image other than an alpha plane.

use super::super::boxes::{children, BoxHdr, Reader};
use super::super::Ctx;
use super::auxiliary::{aux_type, is_alpha};
use super::properties::{self, Props};
use super::{items, references, IMAGE_ITEMS, META_KEEP, PROPERTY_KEEP};
use crate::report::fourcc_name;
use std::collections::BTreeSet;

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
    let dims = properties::primary_size(data, &kids, primary, &mut ctx.budget)?;
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
                let items = items::parse_iinf(ctx, c).map_err(|e| e.to_string())?;
                if let Some(i) = items.iter().find(|i| !IMAGE_ITEMS.contains(&&i.kind)) {
                    return Err(format!(
                        "item of type '{}' is not allowed",
                        fourcc_name(&i.kind)
                    ));
                }
            }
            b"iref" => {
                let (_, refs) = references::parse_iref(ctx, c).map_err(|e| e.to_string())?;
                if refs.iter().any(|r| &r.kind == b"thmb") {
                    return Err("a thumbnail item is still referenced".into());
                }
                auxiliary.extend(refs.iter().filter(|r| &r.kind == b"auxl").map(|r| r.from));
            }
            b"iloc" => {
                let iloc = items::parse_iloc(ctx, c).map_err(|e| e.to_string())?;
                for l in &iloc.locs {
                    let r = items::item_ranges(l, data.len() as u64, idat_len)
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
