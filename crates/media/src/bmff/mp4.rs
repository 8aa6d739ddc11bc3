//! MP4/MOV/3GP movie box (`moov`): allowlist rebuild.
//!
//! Kept: the track structure needed to play (mvhd, trak, tkhd, edts, tref,
//! mdia, mdhd, hdlr, minf, media headers, dinf, stbl and its tables) for
//! video, audio, auxiliary video and HEIF image-sequence (`pict`) tracks:
//! a burst's or a live photo's pictures are pictures. Dropped: udta and
//! meta anywhere (©xyz, loci, Apple mdta keys for location/make/model/
//! software, covers and thumbnails), uuid boxes (XMP, vendor data),
//! timed-metadata, text and timecode tracks (a timecode's first sample is
//! the time of day the recording started; their samples are zeroed in
//! mdat), references to dropped tracks, and unknown boxes. Creation and
//! modification times in mvhd/tkhd/mdhd are zeroed; handler names
//! ("GoPro AVC") become empty and a visual sample entry's compressor name
//! ("GoPro AVC encoder") is zeroed. Chunk offsets (stco/co64) are remapped
//! so the media data is still found after boxes before it shrank.
//! Fragmented and encrypted movies are rejected.

use super::boxes::{children, put_uint, rewrap, write_box, BoxHdr, Reader};
use super::{Ctx, OffsetMap};
use crate::report::{fourcc_name, RemovedKind};
use crate::MediaError;

/// Track handlers that carry picture or sound; every other track is dropped.
pub(crate) const KEPT_HANDLERS: &[&[u8; 4]] = &[b"vide", b"soun", b"auxv", b"pict"];
pub(crate) const STBL_KEEP: &[&[u8; 4]] = &[
    b"stsd", b"stts", b"ctts", b"cslg", b"stss", b"stps", b"sdtp", b"stsc", b"stsz", b"stz2",
    b"sgpd", b"sbgp", b"subs", b"padb", b"stdp", b"stco", b"co64",
];
pub(crate) const MINF_KEEP: &[&[u8; 4]] = &[
    b"vmhd", b"smhd", b"hmhd", b"nmhd", b"sthd", b"gmhd", b"hdlr", b"dinf", b"stbl",
];
pub(crate) const TRAK_KEEP: &[&[u8; 4]] = &[b"tkhd", b"edts", b"tref", b"tapt", b"load", b"mdia"];
pub(crate) const MDIA_KEEP: &[&[u8; 4]] = &[b"mdhd", b"hdlr", b"elng", b"minf"];
pub(crate) const MOOV_KEEP: &[&[u8; 4]] = &[b"mvhd", b"trak", b"iods"];

/// What the movie box tells about the media data.
#[derive(Debug, Default)]
pub(crate) struct MoovFacts {
    /// Original byte ranges holding samples of kept tracks.
    pub kept_ranges: Vec<(u64, u64)>,
    /// Original byte ranges holding samples of dropped tracks.
    pub dropped_ranges: Vec<(u64, u64)>,
    /// False when a kept track's sample layout could not be computed exactly
    /// (old QuickTime sound), so unreferenced bytes must not be zeroed.
    pub ranges_exact: bool,
    pub width: u32,
    pub height: u32,
    pub created: Option<u64>,
}

pub(crate) fn build_moov(
    ctx: &mut Ctx<'_>,
    moov: &BoxHdr,
    map: &dyn OffsetMap,
) -> Result<(Vec<u8>, MoovFacts), MediaError> {
    let data = ctx.data;
    let mut facts = MoovFacts {
        ranges_exact: true,
        ..Default::default()
    };
    let mut body = Vec::new();
    let mut saw_mvhd = false;
    let mut kept_tracks = Vec::new();
    for c in ctx.children(moov.body, moov.end)? {
        if &c.kind == b"trak" && KEPT_HANDLERS.contains(&&handler_of(ctx, &c)?) {
            kept_tracks.extend(track_id(ctx, &c)?);
        }
    }
    for c in ctx.children(moov.body, moov.end)? {
        match &c.kind {
            b"mvhd" => {
                saw_mvhd = true;
                let (raw, created) = zero_times(ctx, &c)?;
                facts.created = created;
                body.extend_from_slice(&raw);
            }
            b"trak" => build_trak(ctx, &c, map, &kept_tracks, &mut body, &mut facts)?,
            b"iods" => body.extend_from_slice(c.raw(data)),
            b"mvex" | b"moof" => return Err(ctx.unsupported("fragmented movie")),
            _ => ctx.drop_box(&c),
        }
    }
    if !saw_mvhd {
        return Err(ctx.malformed("the movie header (mvhd) is missing"));
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    write_box(&mut out, b"moov", &body);
    Ok((out, facts))
}

fn handler_of(ctx: &mut Ctx<'_>, trak: &BoxHdr) -> Result<[u8; 4], MediaError> {
    let data = ctx.data;
    for c in ctx.children(trak.body, trak.end)? {
        if &c.kind == b"mdia" {
            for m in ctx.children(c.body, c.end)? {
                if &m.kind == b"hdlr" {
                    let b = m.body(data);
                    if b.len() >= 12 {
                        return Ok([b[8], b[9], b[10], b[11]]);
                    }
                }
            }
        }
    }
    Err(ctx.malformed("a track has no handler"))
}

/// The track's id from its header.
fn track_id(ctx: &mut Ctx<'_>, trak: &BoxHdr) -> Result<Option<u32>, MediaError> {
    let data = ctx.data;
    for c in ctx.children(trak.body, trak.end)? {
        if &c.kind == b"tkhd" {
            let b = c.body(data);
            let at = if b.first() == Some(&1) { 20 } else { 12 };
            return Ok(b
                .get(at..at + 4)
                .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]])));
        }
    }
    Ok(None)
}

/// Track references with every id of a dropped track taken out, and
/// reference types left empty dropped (a video's `tmcd` reference to the
/// timecode track, a `chap` reference to a chapter text track).
fn build_tref(
    ctx: &mut Ctx<'_>,
    tref: &BoxHdr,
    kept: &[u32],
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for r in ctx.children(tref.body, tref.end)? {
        let ids: Vec<u32> = r
            .body(data)
            .chunks_exact(4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
            .collect();
        let keep: Vec<u8> = ids
            .iter()
            .filter(|id| kept.contains(id))
            .flat_map(|id| id.to_be_bytes())
            .collect();
        if keep.len() < 4 * ids.len() {
            ctx.removed.add(
                RemovedKind::MetadataTrack,
                Some(&format!("{} reference", fourcc_name(&r.kind))),
                4 * ids.len() - keep.len(),
            );
        }
        if !keep.is_empty() {
            write_box(&mut body, &r.kind, &keep);
        }
    }
    if !body.is_empty() {
        write_box(out, b"tref", &body);
    }
    Ok(())
}

/// A handler box with its name emptied: one zero byte, which reads as an
/// empty string both as ISO's C string and as QuickTime's counted string.
fn neutral_hdlr(ctx: &mut Ctx<'_>, hdlr: &BoxHdr) -> Result<Vec<u8>, MediaError> {
    let b = hdlr.body(ctx.data);
    let fixed = b
        .get(..24)
        .ok_or_else(|| ctx.malformed("a handler box is cut short"))?;
    if b.len() > 25 || b.get(24).is_some_and(|&x| x != 0) {
        ctx.removed
            .add(RemovedKind::UserData, Some("handler name"), b.len() - 24);
    }
    let mut body = fixed.to_vec();
    body.push(0);
    let mut out = Vec::with_capacity(body.len() + 8);
    write_box(&mut out, b"hdlr", &body);
    Ok(out)
}

/// Offset of a visual sample entry's 32-byte compressor name, from the
/// entry's start: size and type (8), reserved and data reference (8),
/// predefined and reserved (16), size (4), resolution (8), reserved (4),
/// frame count (2).
const COMPRESSOR_NAME: std::ops::Range<usize> = 50..82;

/// A sample description with every visual entry's compressor name zeroed.
fn neutral_stsd(ctx: &mut Ctx<'_>, stsd: &BoxHdr, visual: bool) -> Result<Vec<u8>, MediaError> {
    let mut raw = stsd.raw(ctx.data).to_vec();
    if visual {
        let entries = ctx.children(stsd.body + 8, stsd.end)?;
        for e in entries {
            let at = e.start - stsd.start;
            let name = at + COMPRESSOR_NAME.start..at + COMPRESSOR_NAME.end;
            if e.end - e.start < COMPRESSOR_NAME.end {
                return Err(ctx.malformed("a visual sample entry is cut short"));
            }
            if raw[name.clone()].iter().any(|&x| x != 0) {
                ctx.removed
                    .add(RemovedKind::UserData, Some("compressor name"), 32);
                raw[name].fill(0);
            }
        }
    }
    Ok(raw)
}

fn build_trak(
    ctx: &mut Ctx<'_>,
    trak: &BoxHdr,
    map: &dyn OffsetMap,
    kept_tracks: &[u32],
    out: &mut Vec<u8>,
    facts: &mut MoovFacts,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let handler = handler_of(ctx, trak)?;
    let stbl = find_path(ctx, trak, &[b"mdia", b"minf", b"stbl"])?;
    let layout = match &stbl {
        Some(s) => sample_layout(ctx, s)?,
        None => SampleLayout::default(),
    };
    if !KEPT_HANDLERS.contains(&&handler) {
        let name = format!("{} track", fourcc_name(&handler));
        ctx.removed.add(
            RemovedKind::MetadataTrack,
            Some(&name),
            trak.end - trak.start,
        );
        facts.dropped_ranges.extend(layout.ranges);
        return Ok(());
    }
    if &handler == b"vide" && facts.width == 0 {
        if let Some(s) = &stbl {
            if let Some((w, h)) = visual_dims(ctx, s)? {
                facts.width = w;
                facts.height = h;
            }
        }
    }
    facts.ranges_exact &= layout.exact;
    facts.kept_ranges.extend(layout.ranges);

    let mut body = Vec::new();
    for c in ctx.children(trak.body, trak.end)? {
        match &c.kind {
            b"tkhd" => body.extend_from_slice(&zero_times(ctx, &c)?.0),
            b"tref" => build_tref(ctx, &c, kept_tracks, &mut body)?,
            b"mdia" => build_mdia(ctx, &c, map, visual(&handler), &mut body)?,
            k if TRAK_KEEP.contains(&k) => body.extend_from_slice(c.raw(data)),
            _ => ctx.drop_box(&c),
        }
    }
    rewrap(out, trak, data, &body);
    Ok(())
}

/// Tracks whose sample entries are visual (and carry a compressor name).
fn visual(handler: &[u8; 4]) -> bool {
    matches!(handler, b"vide" | b"auxv" | b"pict")
}

fn build_mdia(
    ctx: &mut Ctx<'_>,
    mdia: &BoxHdr,
    map: &dyn OffsetMap,
    visual: bool,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for c in ctx.children(mdia.body, mdia.end)? {
        match &c.kind {
            b"mdhd" => body.extend_from_slice(&zero_times(ctx, &c)?.0),
            b"hdlr" => body.extend_from_slice(&neutral_hdlr(ctx, &c)?),
            b"minf" => build_minf(ctx, &c, map, visual, &mut body)?,
            k if MDIA_KEEP.contains(&k) => body.extend_from_slice(c.raw(data)),
            _ => ctx.drop_box(&c),
        }
    }
    rewrap(out, mdia, data, &body);
    Ok(())
}

fn build_minf(
    ctx: &mut Ctx<'_>,
    minf: &BoxHdr,
    map: &dyn OffsetMap,
    visual: bool,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for c in ctx.children(minf.body, minf.end)? {
        match &c.kind {
            b"dinf" => body.extend_from_slice(&canonical_dinf(ctx, &c)?),
            b"hdlr" => body.extend_from_slice(&neutral_hdlr(ctx, &c)?),
            b"stbl" => build_stbl(ctx, &c, map, visual, &mut body)?,
            k if MINF_KEEP.contains(&k) => body.extend_from_slice(c.raw(data)),
            _ => ctx.drop_box(&c),
        }
    }
    rewrap(out, minf, data, &body);
    Ok(())
}

fn build_stbl(
    ctx: &mut Ctx<'_>,
    stbl: &BoxHdr,
    map: &dyn OffsetMap,
    visual: bool,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for c in ctx.children(stbl.body, stbl.end)? {
        match &c.kind {
            b"stsd" => body.extend_from_slice(&neutral_stsd(ctx, &c, visual)?),
            b"stco" | b"co64" => {
                let wide = &c.kind == b"co64";
                let offsets = chunk_offsets(ctx, &c)?;
                let mut b = c.body(data)[..8].to_vec();
                for off in offsets {
                    let new = map.map(off).ok_or_else(|| {
                        ctx.malformed("a chunk offset points outside the media data")
                    })?;
                    put_uint(&mut b, new, if wide { 8 } else { 4 })
                        .map_err(|e| ctx.malformed(e))?;
                }
                write_box(&mut body, &c.kind, &b);
            }
            b"saiz" | b"saio" | b"senc" => return Err(ctx.unsupported("encrypted media")),
            k if STBL_KEEP.contains(&k) => body.extend_from_slice(c.raw(data)),
            _ => ctx.drop_box(&c),
        }
    }
    rewrap(out, stbl, data, &body);
    Ok(())
}

/// Data references rewritten to "in this file" entries: an alias or URL
/// could name a path or a host. External references are rejected.
pub(crate) fn canonical_dinf(ctx: &mut Ctx<'_>, dinf: &BoxHdr) -> Result<Vec<u8>, MediaError> {
    let data = ctx.data;
    let mut body = Vec::new();
    for c in ctx.children(dinf.body, dinf.end)? {
        if &c.kind != b"dref" {
            ctx.drop_box(&c);
            continue;
        }
        let entries = ctx.children(c.body + 8, c.end)?;
        let mut dref = vec![0, 0, 0, 0];
        dref.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for e in entries {
            let flags = e
                .body(data)
                .get(1..4)
                .ok_or_else(|| ctx.malformed("bad data reference"))?;
            if flags[2] & 1 == 0 {
                return Err(ctx.unsupported("media stored in another file"));
            }
            let kind = if &e.kind == b"alis" {
                *b"alis"
            } else {
                *b"url "
            };
            write_box(&mut dref, &kind, &[0, 0, 0, 1]);
            if e.end - e.body > 4 {
                ctx.removed
                    .add(RemovedKind::UserData, Some("dref"), e.end - e.body - 4);
            }
        }
        write_box(&mut body, b"dref", &dref);
    }
    let mut out = Vec::new();
    write_box(&mut out, b"dinf", &body);
    Ok(out)
}

/// Copies a mvhd/tkhd/mdhd box with its creation and modification times set
/// to zero; returns the original creation time too.
fn zero_times(ctx: &mut Ctx<'_>, b: &BoxHdr) -> Result<(Vec<u8>, Option<u64>), MediaError> {
    let mut raw = b.raw(ctx.data).to_vec();
    let body = b.body - b.start;
    let version = *raw
        .get(body)
        .ok_or_else(|| ctx.malformed("empty header box"))?;
    let width = if version == 1 { 8 } else { 4 };
    let span = body + 4..body + 4 + 2 * width;
    let times = raw
        .get(span.clone())
        .ok_or_else(|| ctx.malformed("header box is cut short"))?;
    let created = times[..width]
        .iter()
        .fold(0u64, |a, &x| (a << 8) | u64::from(x));
    if times.iter().any(|&x| x != 0) {
        ctx.removed.add(
            RemovedKind::ZeroedTimestamps,
            Some(&fourcc_name(&b.kind)),
            2 * width,
        );
    }
    raw[span].fill(0);
    Ok((raw, (created != 0).then_some(created)))
}

fn find_path(
    ctx: &mut Ctx<'_>,
    from: &BoxHdr,
    path: &[&[u8; 4]],
) -> Result<Option<BoxHdr>, MediaError> {
    let mut cur = *from;
    for kind in path {
        match ctx
            .children(cur.body, cur.end)?
            .into_iter()
            .find(|c| &&c.kind == kind)
        {
            Some(c) => cur = c,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

pub(crate) fn chunk_offsets(ctx: &Ctx<'_>, b: &BoxHdr) -> Result<Vec<u64>, MediaError> {
    let wide = &b.kind == b"co64";
    let mut r = Reader::new(b.body(ctx.data));
    let parse = |r: &mut Reader<'_>| -> Result<Vec<u64>, String> {
        r.u32()?;
        let n = r.u32()? as usize;
        let w = if wide { 8 } else { 4 };
        if n > r.remaining() / w {
            return Err("chunk offset table is cut short".into());
        }
        (0..n).map(|_| r.uint(w)).collect()
    };
    parse(&mut r).map_err(|e| ctx.malformed(e))
}

#[derive(Debug, Default)]
struct SampleLayout {
    ranges: Vec<(u64, u64)>,
    exact: bool,
}

/// Byte ranges of every chunk of samples of one track, from stsc/stsz/stco.
fn sample_layout(ctx: &mut Ctx<'_>, stbl: &BoxHdr) -> Result<SampleLayout, MediaError> {
    let data = ctx.data;
    let kids = ctx.children(stbl.body, stbl.end)?;
    let find = |k: &[u8; 4]| kids.iter().find(|c| &c.kind == k).copied();
    let Some(co) = find(b"stco").or_else(|| find(b"co64")) else {
        return Ok(SampleLayout {
            ranges: vec![],
            exact: true,
        });
    };
    let offsets = chunk_offsets(ctx, &co)?;
    let bad = |e: String| ctx.malformed(e);
    let stsc = find(b"stsc").ok_or_else(|| ctx.malformed("sample-to-chunk table missing"))?;
    let mut r = Reader::new(stsc.body(data));
    let runs: Vec<(u32, u32)> = (|| {
        r.u32()?;
        let n = r.u32()? as usize;
        if n > r.remaining() / 12 {
            return Err("sample-to-chunk table is cut short".to_string());
        }
        (0..n)
            .map(|_| {
                let first = r.u32()?;
                let per = r.u32()?;
                r.u32()?;
                Ok((first, per))
            })
            .collect()
    })()
    .map_err(bad)?;
    let (fixed, sizes) = sample_sizes(&kids, data).map_err(bad)?;
    let mut exact = true;
    if fixed == Some(1) {
        // Old QuickTime sound counts bytes per sample differently; the layout
        // is then not exact.
        exact = false;
    }
    let mut ranges = Vec::with_capacity(offsets.len());
    let mut sample = 0usize;
    for (i, &off) in offsets.iter().enumerate() {
        let chunk_no = (i + 1) as u64;
        let per = runs
            .iter()
            .rev()
            .find(|(first, _)| u64::from(*first) <= chunk_no)
            .map_or(0, |(_, per)| u64::from(*per));
        let len = match fixed {
            Some(sz) => per.checked_mul(u64::from(sz)),
            None => {
                let n = usize::try_from(per).unwrap_or(usize::MAX);
                let end = sample.checked_add(n).filter(|&e| e <= sizes.len());
                match end {
                    Some(end) => {
                        let s = sizes[sample..end].iter().map(|&x| u64::from(x)).sum();
                        sample = end;
                        Some(s)
                    }
                    None => None,
                }
            }
        }
        .ok_or_else(|| ctx.malformed("sample tables disagree"))?;
        if len > 0 {
            ranges.push((off, len));
        }
    }
    Ok(SampleLayout { ranges, exact })
}

/// (fixed sample size, or the per-sample sizes). The counts were held to
/// `Limits::max_track_samples` before the walk (`bmff::over_limits`).
fn sample_sizes(kids: &[BoxHdr], data: &[u8]) -> Result<(Option<u32>, Vec<u32>), String> {
    if let Some(b) = kids.iter().find(|c| &c.kind == b"stsz") {
        let mut r = Reader::new(b.body(data));
        r.u32()?;
        let size = r.u32()?;
        let n = r.u32()? as usize;
        if size != 0 {
            return Ok((Some(size), vec![]));
        }
        if n > r.remaining() / 4 {
            return Err("sample size table is cut short".into());
        }
        return Ok((None, (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?));
    }
    if let Some(b) = kids.iter().find(|c| &c.kind == b"stz2") {
        let mut r = Reader::new(b.body(data));
        r.u32()?;
        let field = r.u32()? & 0xFF;
        let n = r.u32()? as usize;
        let bits = match field {
            4 | 8 | 16 => field as usize,
            _ => return Err("bad compact sample size field".into()),
        };
        if n > r.remaining() * 8 / bits {
            return Err("sample size table is cut short".into());
        }
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let s = match bits {
                16 => u32::from(r.u16()?),
                8 => u32::from(r.u8()?),
                _ => {
                    if i % 2 == 0 {
                        let b = r.bytes(1)?[0];
                        r.pos -= 1;
                        u32::from(b >> 4)
                    } else {
                        u32::from(r.u8()? & 0x0F)
                    }
                }
            };
            v.push(s);
        }
        return Ok((None, v));
    }
    Err("sample size table missing".into())
}

fn visual_dims(ctx: &mut Ctx<'_>, stbl: &BoxHdr) -> Result<Option<(u32, u32)>, MediaError> {
    let data = ctx.data;
    let Some(stsd) = ctx
        .children(stbl.body, stbl.end)?
        .into_iter()
        .find(|c| &c.kind == b"stsd")
    else {
        return Ok(None);
    };
    let b = stsd.body(data);
    // fullbox(4) count(4) entry header(8) reserved(6) dref(2) predefined(16) w(2) h(2)
    Ok(b.get(8 + 8 + 24..8 + 8 + 28).map(|d| {
        (
            u32::from(u16::from_be_bytes([d[0], d[1]])),
            u32::from(u16::from_be_bytes([d[2], d[3]])),
        )
    }))
}

/// Structural re-walk of a sanitised movie box: allowlisted boxes only, no
/// dates, only picture/sound/timecode tracks. Returns the chunk offsets and
/// sets `dims` from the first video track.
pub(crate) fn verify_moov(
    ctx: &mut Ctx<'_>,
    moov: &BoxHdr,
    dims: &mut Option<(u32, u32)>,
) -> Result<Vec<u64>, String> {
    let mut offsets = Vec::new();
    verify_container(ctx, moov, &mut offsets, dims, None)?;
    Ok(offsets)
}

fn verify_container(
    ctx: &mut Ctx<'_>,
    b: &BoxHdr,
    offsets: &mut Vec<u64>,
    dims: &mut Option<(u32, u32)>,
    handler: Option<[u8; 4]>,
) -> Result<(), String> {
    let data = ctx.data;
    let kids = children(data, b.body, b.end, &mut ctx.budget)?;
    let allowed: &[&[u8; 4]] = match &b.kind {
        b"moov" => MOOV_KEEP,
        b"trak" => TRAK_KEEP,
        b"mdia" => MDIA_KEEP,
        b"minf" => MINF_KEEP,
        b"stbl" => STBL_KEEP,
        _ => return Err("unexpected container".into()),
    };
    let mut handler = handler;
    if &b.kind == b"mdia" {
        let h = kids
            .iter()
            .find(|c| &c.kind == b"hdlr")
            .and_then(|c| c.body(data).get(8..12))
            .ok_or("a track has no handler")?;
        if !KEPT_HANDLERS.iter().any(|k| &k[..] == h) {
            return Err(format!(
                "track with handler '{}' is not allowed",
                fourcc_name(h)
            ));
        }
        handler = Some([h[0], h[1], h[2], h[3]]);
    }
    for c in kids {
        if !allowed.contains(&&c.kind) {
            return Err(format!(
                "box '{}' is not allowed in '{}'",
                fourcc_name(&c.kind),
                fourcc_name(&b.kind)
            ));
        }
        match &c.kind {
            b"mvhd" | b"tkhd" | b"mdhd" => {
                let body = c.body(data);
                let w = if body.first() == Some(&1) { 8 } else { 4 };
                let t = body.get(4..4 + 2 * w).ok_or("header box cut short")?;
                if t.iter().any(|&x| x != 0) {
                    return Err(format!("'{}' still carries a date", fourcc_name(&c.kind)));
                }
            }
            b"stco" | b"co64" => offsets.extend(chunk_offsets(ctx, &c).map_err(|e| e.to_string())?),
            b"hdlr"
                if c.body(data)
                    .get(24..)
                    .is_some_and(|n| n.len() > 1 || n.first() != Some(&0)) =>
            {
                return Err("a handler still carries a name".into());
            }
            b"stsd" if handler.as_ref().is_some_and(visual) => {
                for e in children(data, c.body + 8, c.end, &mut ctx.budget)? {
                    let name = e.start + COMPRESSOR_NAME.start..e.start + COMPRESSOR_NAME.end;
                    if data.get(name).is_none_or(|n| n.iter().any(|&x| x != 0)) {
                        return Err("a sample entry still carries a compressor name".into());
                    }
                }
                if dims.is_none() && handler == Some(*b"vide") {
                    if let Some(x) = c.body(data).get(40..44) {
                        *dims = Some((
                            u32::from(u16::from_be_bytes([x[0], x[1]])),
                            u32::from(u16::from_be_bytes([x[2], x[3]])),
                        ));
                    }
                }
            }
            b"dinf" => {
                for d in children(data, c.body, c.end, &mut ctx.budget)? {
                    let entries = children(data, d.body + 8, d.end, &mut ctx.budget)?;
                    if &d.kind != b"dref" || entries.iter().any(|e| e.body(data) != [0, 0, 0, 1]) {
                        return Err("data references are not all self-contained".into());
                    }
                }
            }
            b"trak" | b"mdia" | b"minf" | b"stbl" => {
                verify_container(ctx, &c, offsets, dims, handler)?
            }
            _ => {}
        }
    }
    Ok(())
}
