//! Auxiliary images: only alpha planes (`auxC` of [`ALPHA_AUX_TYPES`]) are
//! needed to render the picture. Depth maps and portrait, skin, hair or
//! teeth mattes are a 3-D model or segmentation of the patient beyond the
//! visible picture; Apple's HDR gain map names the maker in its type, and
//! nothing in ClinShare renders HDR. An item is auxiliary when it has an
//! `auxl` reference or an `auxC` property; the ISO gain map (a `tmap`
//! derived item and its input) is not, and stays.

use super::super::boxes::BoxHdr;
use super::items::Item;
use super::properties::Props;
use super::references::Ref;
use std::collections::BTreeSet;

/// The auxiliary image types needed to render the picture: alpha planes.
/// Any other auxiliary image (depth, mattes, Apple's HDR gain map) goes.
pub(crate) const ALPHA_AUX_TYPES: &[&str] = &[
    "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
    "urn:mpeg:hevc:2015:auxid:1",
];

/// `auxC`'s aux_type: a null-terminated string after the full-box header
/// (an unreadable one reads as empty, which is not alpha).
pub(super) fn aux_type(data: &[u8], p: &BoxHdr) -> String {
    let body = p.body(data);
    let s = body.get(4..).unwrap_or_default();
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

pub(super) fn is_alpha(aux_type: &str) -> bool {
    ALPHA_AUX_TYPES.contains(&aux_type)
}

/// The auxiliary images (an `auxl` reference or an `auxC` property) other
/// than alpha planes: depth maps, mattes, gain maps.
pub(super) fn non_alpha(data: &[u8], items: &[Item], refs: &[Ref], props: &Props) -> BTreeSet<u32> {
    let mut auxiliary = BTreeSet::new();
    for it in items {
        let aux = props.aux_type(data, it.id);
        let linked = refs.iter().any(|r| &r.kind == b"auxl" && r.from == it.id);
        if (linked || aux.is_some()) && !aux.as_deref().is_some_and(is_alpha) {
            auxiliary.insert(it.id);
        }
    }
    auxiliary
}
