//! ISO base media file format (HEIF/HEIC/AVIF stills, MP4/MOV/3GP video).
//!
//! Top level: `ftyp`, `mdat`, a sanitised `meta` (HEIF) and a sanitised
//! `moov` (video, image sequences) are kept; `free`/`skip`/`wide` padding,
//! `uuid` boxes (XMP), top-level `udta`/`meta` in videos, Samsung `mpvd`
//! motion-photo video, unknown boxes and trailing bytes are dropped. Because
//! removing boxes moves the media data, every chunk offset (stco/co64) and
//! item location (iloc) is remapped. Bytes inside `mdat` that no kept track
//! or item references (removed metadata items, metadata-track samples,
//! leftovers) are zeroed in place so that no identifying byte remains.

mod boxes;
mod heif;
mod mp4;

use crate::report::{fourcc_name, CaptureTime, CaptureTimeSource, Removals, RemovedKind, Stripped};
use crate::{Format, Limits, MediaError};
use boxes::{children, next_box, BoxHdr};

/// Shared state while walking one file.
pub(crate) struct Ctx<'a> {
    pub data: &'a [u8],
    pub budget: usize,
    pub removed: Removals,
    pub format: Format,
    pub limits: &'a Limits,
}

impl Ctx<'_> {
    pub fn children(&mut self, from: usize, to: usize) -> Result<Vec<BoxHdr>, MediaError> {
        children(self.data, from, to, &mut self.budget).map_err(|e| self.malformed(e))
    }
    pub fn malformed(&self, reason: impl Into<String>) -> MediaError {
        MediaError::malformed(self.format, reason)
    }
    pub fn unsupported(&self, feature: &str) -> MediaError {
        MediaError::unsupported_feature(self.format, feature)
    }
    /// Records a dropped box under the kind that explains why it went.
    pub fn drop_box(&mut self, b: &BoxHdr) {
        let kind = match &b.kind {
            b"udta" | b"meta" | b"ilst" | b"keys" => RemovedKind::UserData,
            b"uuid" => RemovedKind::UuidBox,
            b"free" | b"skip" | b"wide" => RemovedKind::Padding,
            b"mpvd" => RemovedKind::MotionPhoto,
            b"xml " | b"bxml" => RemovedKind::Xmp,
            b"thmb" => RemovedKind::Thumbnail,
            _ => RemovedKind::UnknownChunk,
        };
        self.removed
            .add(kind, Some(&fourcc_name(&b.kind)), b.end - b.start);
    }
}

/// Maps an offset in the original file to the sanitised file.
pub(crate) trait OffsetMap {
    fn map(&self, off: u64) -> Option<u64>;
}

struct Identity;
impl OffsetMap for Identity {
    fn map(&self, off: u64) -> Option<u64> {
        Some(off)
    }
}

/// Original spans of the boxes copied verbatim, and where they now start.
struct Layout(Vec<(u64, u64, u64)>);
impl OffsetMap for Layout {
    fn map(&self, off: u64) -> Option<u64> {
        self.0
            .iter()
            .find(|(s, e, _)| *s <= off && off <= *e)
            .map(|(s, _, n)| n + (off - s))
    }
}

enum Plan {
    Raw(BoxHdr),
    Meta(BoxHdr),
    Moov(BoxHdr),
}

pub(crate) fn sanitise(
    data: &[u8],
    limits: &Limits,
    format: Format,
) -> Result<Stripped, MediaError> {
    let still = !format.is_video();
    let mut ctx = Ctx {
        data,
        budget: limits.max_parts,
        removed: Removals::default(),
        format,
        limits,
    };

    // Top level, tolerating trailing bytes that are not boxes (vendor trailers).
    let mut plans = Vec::new();
    let mut pos = 0;
    let (mut metas, mut moovs, mut mdats) = (0, 0, 0);
    while pos < data.len() {
        let b = match next_box(data, pos, data.len(), &mut ctx.budget) {
            Ok(b) => b,
            Err(_) if ctx.budget > 0 => {
                ctx.removed.add(
                    RemovedKind::TrailingData,
                    Some("after last box"),
                    data.len() - pos,
                );
                break;
            }
            Err(e) => return Err(ctx.malformed(e)),
        };
        pos = b.end;
        match &b.kind {
            b"ftyp" if plans.is_empty() => plans.push(Plan::Raw(b)),
            b"mdat" => {
                mdats += 1;
                plans.push(Plan::Raw(b));
            }
            b"meta" if still => {
                metas += 1;
                plans.push(Plan::Meta(b));
            }
            b"moov" => {
                moovs += 1;
                plans.push(Plan::Moov(b));
            }
            b"moof" | b"mfra" | b"sidx" | b"styp" => {
                return Err(ctx.unsupported("fragmented movie"))
            }
            _ => ctx.drop_box(&b),
        }
    }
    if still && metas != 1 {
        return Err(ctx.malformed("expected exactly one item metadata box"));
    }
    if !still && moovs != 1 {
        return Err(ctx.malformed("expected exactly one movie box (moov)"));
    }
    if mdats == 0 && !still {
        return Err(MediaError::NoImageData { format });
    }

    let boxes: Vec<BoxHdr> = plans
        .iter()
        .map(|p| match p {
            Plan::Raw(b) | Plan::Meta(b) | Plan::Moov(b) => *b,
        })
        .collect();
    over_limits(&mut ctx, &boxes)?;

    // Pass 1 with identity offsets: sizes and facts; removals are recorded.
    let mut meta_facts = None;
    let mut moov_facts = None;
    let mut sizes = Vec::with_capacity(plans.len());
    for p in &plans {
        match p {
            Plan::Raw(b) => sizes.push((b.end - b.start) as u64),
            Plan::Meta(b) => {
                let (bytes, f) = heif::build_meta(&mut ctx, b, &Identity)?;
                sizes.push(bytes.len() as u64);
                meta_facts = Some(f);
            }
            Plan::Moov(b) => {
                let (bytes, f) = mp4::build_moov(&mut ctx, b, &Identity)?;
                sizes.push(bytes.len() as u64);
                moov_facts = Some(f);
            }
        }
    }
    let mut spans = Vec::new();
    let mut at = 0u64;
    for (p, size) in plans.iter().zip(&sizes) {
        if let Plan::Raw(b) = p {
            spans.push((b.start as u64, b.end as u64, at));
        }
        at += size;
    }
    let layout = Layout(spans);

    // Pass 2 with the real offsets; removals were already counted.
    let removed = std::mem::take(&mut ctx.removed);
    let mut out = Vec::with_capacity(usize::try_from(at).unwrap_or(0));
    let mut mdat_spans = Vec::new();
    for p in &plans {
        match p {
            Plan::Raw(b) => {
                if &b.kind == b"mdat" {
                    mdat_spans.push((b.body, b.end, out.len() + b.header_len()));
                }
                out.extend_from_slice(b.raw(data));
            }
            Plan::Meta(b) => out.extend_from_slice(&heif::build_meta(&mut ctx, b, &layout)?.0),
            Plan::Moov(b) => out.extend_from_slice(&mp4::build_moov(&mut ctx, b, &layout)?.0),
        }
    }
    ctx.removed = removed;
    if out.len() as u64 != at {
        return Err(MediaError::Internal {
            reason: "box sizes changed between passes".into(),
        });
    }

    // Zero media bytes that nothing kept refers to.
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut exact = true;
    if let Some(f) = &meta_facts {
        kept.extend_from_slice(&f.kept_ranges);
        dropped.extend_from_slice(&f.dropped_ranges);
    }
    if let Some(f) = &moov_facts {
        kept.extend_from_slice(&f.kept_ranges);
        dropped.extend_from_slice(&f.dropped_ranges);
        exact &= f.ranges_exact;
    }
    let zeroed = zero_unreferenced(&mut out, &mdat_spans, &kept, &dropped, exact);
    if zeroed > 0 {
        ctx.removed
            .add(RemovedKind::UnreferencedData, Some("mdat"), zeroed);
    }

    let (width, height, orientation, captured_at) = if still {
        let f = meta_facts.ok_or_else(|| ctx.malformed("no item metadata"))?;
        (f.width, f.height, f.exif.orientation, f.exif.captured_at)
    } else {
        let f = moov_facts.ok_or_else(|| ctx.malformed("no movie box"))?;
        if f.width == 0 || f.height == 0 {
            return Err(MediaError::NoImageData { format });
        }
        let captured = f
            .created
            .and_then(boxes::mac_time_to_iso)
            .map(|local| CaptureTime {
                local,
                offset: Some("+00:00".into()),
                source: CaptureTimeSource::MovieHeader,
            });
        (f.width, f.height, None, captured)
    };
    limits.check_dimensions(width, height)?;
    Ok(Stripped {
        bytes: out,
        width,
        height,
        orientation,
        captured_at,
        removed: ctx.removed,
    })
}

/// Zeroes bytes of each mdat body (original `start..end`, now at `new`) that
/// no kept range covers; when the layout is not exact, only dropped ranges.
/// Returns how many non-zero bytes were cleared.
fn zero_unreferenced(
    out: &mut [u8],
    mdats: &[(usize, usize, usize)],
    kept: &[(u64, u64)],
    dropped: &[(u64, u64)],
    exact: bool,
) -> usize {
    let mut cleared = 0;
    for &(start, end, new) in mdats {
        let body = &mut out[new..new + (end - start)];
        let spans = if exact {
            gaps(&merged(kept, start, end), end - start)
        } else {
            merged(dropped, start, end)
        };
        for (a, b) in spans {
            for byte in &mut body[a..b] {
                if *byte != 0 {
                    *byte = 0;
                    cleared += 1;
                }
            }
        }
    }
    cleared
}

/// `ranges` (offset, length) clipped to `start..end`, made relative to
/// `start`, sorted and merged.
pub(crate) fn merged(ranges: &[(u64, u64)], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = ranges
        .iter()
        .filter_map(|&(off, len)| {
            let a = usize::try_from(off).ok()?.max(start);
            let b = usize::try_from(off.saturating_add(len))
                .unwrap_or(usize::MAX)
                .min(end);
            (a < b).then(|| (a - start, b - start))
        })
        .collect();
    v.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The complement of merged spans within `0..len`.
pub(crate) fn gaps(spans: &[(usize, usize)], len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(a, b) in spans {
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < len {
        out.push((at, len));
    }
    out
}

/// Structural re-walk of sanitised output: allowed boxes only, no dates, no
/// metadata items, every offset inside the media data, nothing trailing.
pub(crate) fn verify_structure(
    data: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<(u32, u32), MediaError> {
    let fail = |r: String| MediaError::verification(format, r);
    let mut ctx = Ctx {
        data,
        budget: limits.max_parts,
        removed: Removals::default(),
        format,
        limits,
    };
    let top = children(data, 0, data.len(), &mut ctx.budget).map_err(fail)?;
    over_limits(&mut ctx, &top)?;
    let still = !format.is_video();
    if top.first().map(|b| &b.kind) != Some(b"ftyp") && still {
        return Err(fail("the file does not start with ftyp".into()));
    }
    let mdats: Vec<(u64, u64)> = top
        .iter()
        .filter(|b| &b.kind == b"mdat")
        .map(|b| (b.body as u64, b.end as u64))
        .collect();
    let inside = |off: u64, len: u64| mdats.iter().any(|&(s, e)| s <= off && off + len <= e);
    let mut dims = None;
    for b in &top {
        match &b.kind {
            b"ftyp" | b"mdat" => {}
            b"meta" if still => {
                let (ranges, d) = heif::verify_meta(&mut ctx, b).map_err(fail)?;
                if let Some((off, len)) = ranges.into_iter().find(|&(o, l)| !inside(o, l)) {
                    return Err(fail(format!(
                        "an item ({len} bytes at {off}) lies outside the media data"
                    )));
                }
                dims = d;
            }
            b"moov" => {
                let mut d = None;
                let offsets = mp4::verify_moov(&mut ctx, b, &mut d).map_err(fail)?;
                if let Some(off) = offsets.into_iter().find(|&o| !inside(o, 0)) {
                    return Err(fail(format!(
                        "a chunk offset ({off}) lies outside the media data"
                    )));
                }
                if !still {
                    dims = d;
                }
            }
            k => {
                return Err(fail(format!(
                    "top-level box '{}' is not allowed",
                    fourcc_name(k)
                )))
            }
        }
    }
    dims.ok_or_else(|| fail("no picture size found".into()))
}

/// Limits on work a small file can demand, checked before either walk (the
/// sanitiser's, and the verifier's on what a modified client sends the
/// server as it is): more HEIF items than [`heif::MAX_ITEMS`], more samples
/// or chunks in a track than `Limits::max_track_samples`. Refused as an
/// unsupported feature, the same on the laptop and the server.
fn over_limits(ctx: &mut Ctx<'_>, top: &[BoxHdr]) -> Result<(), MediaError> {
    let data = ctx.data;
    let count = |b: &BoxHdr, at: usize, wide: bool| -> usize {
        let body = b.body(data);
        if wide {
            body.get(at..at + 4)
                .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]) as usize)
        } else {
            body.get(at..at + 2)
                .map_or(0, |x| usize::from(u16::from_be_bytes([x[0], x[1]])))
        }
    };
    let inside = |ctx: &mut Ctx<'_>, b: &BoxHdr, skip: usize| {
        children(data, b.body + skip, b.end, &mut ctx.budget).unwrap_or_default()
    };
    for meta in top.iter().filter(|b| &b.kind == b"meta") {
        for iinf in inside(ctx, meta, 4).iter().filter(|b| &b.kind == b"iinf") {
            let wide = iinf.body(data).first().is_some_and(|&v| v != 0);
            let n = count(iinf, 4, wide);
            if n > heif::MAX_ITEMS {
                return Err(
                    ctx.unsupported(&format!("{n} items (the limit is {})", heif::MAX_ITEMS))
                );
            }
        }
    }
    let max = ctx.limits.max_track_samples;
    let path: [&[u8; 4]; 4] = [b"trak", b"mdia", b"minf", b"stbl"];
    for moov in top.iter().filter(|b| &b.kind == b"moov") {
        let mut level = vec![*moov];
        for kind in path {
            level = level
                .iter()
                .flat_map(|b| inside(ctx, b, 0))
                .filter(|c| &c.kind == kind)
                .collect();
        }
        for stbl in &level {
            for table in inside(ctx, stbl, 0) {
                // Entry counts: after the sample size (stsz) or field size
                // (stz2), and straight after version and flags (stco, co64).
                let (at, what) = match &table.kind {
                    b"stsz" | b"stz2" => (8, "samples"),
                    b"stco" | b"co64" => (4, "chunks"),
                    _ => continue,
                };
                let n = count(&table, at, true);
                if n > max {
                    return Err(
                        ctx.unsupported(&format!("a track of {n} {what} (the limit is {max})"))
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_and_complement() {
        let m = merged(&[(15, 5), (10, 3), (12, 2), (40, 100)], 10, 50);
        assert_eq!(m, vec![(0, 4), (5, 10), (30, 40)]);
        assert_eq!(gaps(&m, 40), vec![(4, 5), (10, 30)]);
        assert_eq!(gaps(&[], 3), vec![(0, 3)]);
    }

    #[test]
    fn zeroing_clears_only_unreferenced_bytes() {
        let mut out = vec![7u8; 20];
        // mdat body at original 100..110, now at 5..15; bytes 102..105 kept.
        let n = zero_unreferenced(&mut out, &[(100, 110, 5)], &[(102, 3)], &[], true);
        assert_eq!(n, 7);
        assert_eq!(&out[5..15], &[0, 0, 7, 7, 7, 0, 0, 0, 0, 0]);
        assert_eq!(out[4], 7);
        assert_eq!(out[15], 7);
    }
}
