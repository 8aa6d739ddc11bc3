//! TIFF: baseline stills rewritten from an allowlist.
//!
//! A TIFF keeps its picture and its metadata in the same directory (IFD),
//! so the copy is a new file: the header, one IFD holding only the tags a
//! decoder needs to draw the picture (size, sampling, compression, colour,
//! orientation, ICC profile), their values, and the strips or tiles copied
//! byte for byte. Everything else goes: EXIF, GPS and interoperability
//! IFDs, XMP, IPTC, Photoshop resources, GeoTIFF keys, descriptive and
//! private tags, thumbnails in further IFDs and SubIFDs, and every byte
//! that no kept structure points at. The byte order of the original is
//! kept, so copied values need no conversion.
//!
//! Refused: BigTIFF, camera raw (DNG and TIFF-based raws: colour filter
//! array or linear raw data), a first image that is a preview, multi-page
//! files (a second full-resolution page would be dropped silently),
//! old-style JPEG compression and compressions no decoder here reads.

use crate::exif_min;
use crate::lossless::Picture;
use crate::report::{Removals, RemovedKind, Stripped};
use crate::{Format, Limits, MediaError};

mod decode;
pub(crate) use decode::decode;

const F: Format = Format::Tiff;

const NEW_SUBFILE_TYPE: u16 = 254;
const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const BITS_PER_SAMPLE: u16 = 258;
const COMPRESSION: u16 = 259;
const PHOTOMETRIC: u16 = 262;
const STRIP_OFFSETS: u16 = 273;
const SAMPLES_PER_PIXEL: u16 = 277;
const ROWS_PER_STRIP: u16 = 278;
const STRIP_BYTE_COUNTS: u16 = 279;
const PLANAR_CONFIGURATION: u16 = 284;
const TILE_WIDTH: u16 = 322;
const TILE_LENGTH: u16 = 323;
const TILE_OFFSETS: u16 = 324;
const TILE_BYTE_COUNTS: u16 = 325;
const SUB_IFDS: u16 = 330;
const ICC_PROFILE: u16 = 34675;
const DNG_VERSION: u16 = 50706;

/// Tags a decoder needs to draw the picture: copied with their values.
/// The offsets tags are rewritten; every other tag is dropped.
pub(crate) const KEEP: &[u16] = &[
    IMAGE_WIDTH,
    IMAGE_LENGTH,
    BITS_PER_SAMPLE,
    COMPRESSION,
    PHOTOMETRIC,
    266, // FillOrder
    STRIP_OFFSETS,
    274, // Orientation
    SAMPLES_PER_PIXEL,
    ROWS_PER_STRIP,
    STRIP_BYTE_COUNTS,
    280, // MinSampleValue
    281, // MaxSampleValue
    282, // XResolution
    283, // YResolution
    PLANAR_CONFIGURATION,
    292, // T4Options
    293, // T6Options
    296, // ResolutionUnit
    301, // TransferFunction
    317, // Predictor
    318, // WhitePoint
    319, // PrimaryChromaticities
    320, // ColorMap
    TILE_WIDTH,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_BYTE_COUNTS,
    332, // InkSet
    338, // ExtraSamples
    339, // SampleFormat
    340, // SMinSampleValue
    341, // SMaxSampleValue
    347, // JPEGTables
    529, // YCbCrCoefficients
    530, // YCbCrSubSampling
    531, // YCbCrPositioning
    532, // ReferenceBlackWhite
    ICC_PROFILE,
];

/// Compressions the decoders here read: none, CCITT Group 4 (scanned
/// forms), LZW, JPEG, Deflate (both codes) and PackBits.
const COMPRESSIONS: &[u64] = &[1, 4, 5, 7, 8, 32946, 32773];

/// The largest number of strips or tiles accepted (a 30,000-row picture in
/// one-row strips has 30,000).
const MAX_BLOCKS: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: &[u8]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes([b[0], b[1]]),
            Order::Big => u16::from_be_bytes([b[0], b[1]]),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Order::Big => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        }
    }
    fn put_u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&match self {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        });
    }
    fn put_u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&match self {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        });
    }
}

/// One directory entry: the 12 bytes as found and where its value lies.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    /// Where the 12-byte entry starts in the file.
    at: usize,
    tag: u16,
    kind: u16,
    count: u32,
    /// Tag, type and count as written (8 bytes).
    head: &'a [u8],
    /// The value bytes, inline or out of line.
    value: &'a [u8],
    /// Where the value lies in the file when out of line.
    out_of_line: Option<usize>,
}

fn type_size(kind: u16) -> Option<usize> {
    match kind {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 => Some(8),
        _ => None,
    }
}

impl Entry<'_> {
    /// The `i`-th value of an integer entry (BYTE, SHORT, LONG).
    fn uint(&self, order: Order, i: usize) -> Option<u64> {
        let n = type_size(self.kind)?;
        let b = self.value.get(i * n..(i + 1) * n)?;
        match self.kind {
            1 => Some(u64::from(b[0])),
            3 => Some(u64::from(order.u16(b))),
            4 | 13 => Some(u64::from(order.u32(b))),
            _ => None,
        }
    }
    fn uints(&self, order: Order) -> Option<Vec<u64>> {
        (0..self.count as usize)
            .map(|i| self.uint(order, i))
            .collect()
    }
}

/// One image directory.
#[derive(Debug)]
struct Ifd<'a> {
    start: usize,
    entries: Vec<Entry<'a>>,
    next: u32,
}

impl<'a> Ifd<'a> {
    fn get(&self, tag: u16) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.tag == tag)
    }
    fn uint(&self, tag: u16, order: Order) -> Option<u64> {
        self.get(tag).and_then(|e| e.uint(order, 0))
    }
    /// The IFD's own bytes (count, entries, next offset).
    fn len(&self) -> usize {
        2 + 12 * self.entries.len() + 4
    }
}

fn header(data: &[u8], format: Format) -> Result<(Order, u32), MediaError> {
    let bad = |r: &str| MediaError::malformed(format, r);
    let h = data
        .get(..8)
        .ok_or_else(|| bad("the header is cut short"))?;
    let order = match &h[..2] {
        b"II" => Order::Little,
        b"MM" => Order::Big,
        _ => return Err(bad("the byte-order mark is not valid")),
    };
    match order.u16(&h[2..4]) {
        42 => {}
        43 => return Err(MediaError::unsupported_feature(format, "BigTIFF")),
        _ => return Err(bad("the version number is not 42")),
    }
    Ok((order, order.u32(&h[4..8])))
}

fn read_ifd<'a>(
    data: &'a [u8],
    order: Order,
    at: u32,
    limits: &Limits,
    format: Format,
) -> Result<Ifd<'a>, MediaError> {
    let bad = |r: String| MediaError::malformed(format, r);
    let start = at as usize;
    if start < 8 {
        return Err(bad(format!(
            "an image directory lies inside the header ({at})"
        )));
    }
    let n = data
        .get(start..start + 2)
        .map(|b| usize::from(order.u16(b)))
        .ok_or_else(|| bad(format!("an image directory lies outside the file ({at})")))?;
    if n == 0 || n > limits.max_parts {
        return Err(bad(format!("an image directory has {n} entries")));
    }
    let body = data
        .get(start + 2..start + 2 + 12 * n + 4)
        .ok_or_else(|| bad("an image directory is cut short".into()))?;
    let mut entries: Vec<Entry<'a>> = Vec::with_capacity(n);
    for (i, raw) in body[..12 * n].chunks_exact(12).enumerate() {
        let tag = order.u16(&raw[0..2]);
        let kind = order.u16(&raw[2..4]);
        let count = order.u32(&raw[4..8]);
        // Unknown types are skipped by readers; only dropped tags may have them.
        let Some(size) = type_size(kind) else {
            if KEEP.contains(&tag) {
                return Err(bad(format!("tag {tag} has an unknown type {kind}")));
            }
            continue;
        };
        let len = (count as usize)
            .checked_mul(size)
            .ok_or_else(|| bad(format!("tag {tag} has an impossible count")))?;
        let (value, out_of_line) = if len <= 4 {
            (&raw[8..8 + len], None)
        } else {
            let off = order.u32(&raw[8..12]) as usize;
            match data.get(off..off.saturating_add(len)) {
                Some(v) => (v, Some(off)),
                // A dropped tag pointing outside the file does not matter.
                None if !KEEP.contains(&tag) => continue,
                None => return Err(bad(format!("the value of tag {tag} lies outside the file"))),
            }
        };
        if let Some(prev) = entries.last() {
            if prev.tag >= tag && KEEP.contains(&tag) {
                return Err(bad("the directory's tags are not in ascending order".into()));
            }
        }
        entries.push(Entry {
            at: start + 2 + 12 * i,
            tag,
            kind,
            count,
            head: &raw[..8],
            value,
            out_of_line,
        });
    }
    Ok(Ifd {
        start,
        entries,
        next: order.u32(&body[12 * n..]),
    })
}

/// What the first image's directory says before anything is decoded.
pub(crate) struct HeaderFacts {
    pub width: u32,
    pub height: u32,
    /// Bytes per decoded pixel (a palette picture is drawn through a grey
    /// copy of its indices, then as RGB).
    pub bytes_per_pixel: u64,
    /// A palette picture, which the `image` crate cannot even open to read
    /// its size.
    pub palette: bool,
}

/// The first image's size and sampling, for the decode budget, thumbnails
/// and the structural level's size check.
pub(crate) fn header_facts(data: &[u8], limits: &Limits) -> Option<HeaderFacts> {
    let (order, first) = header(data, F).ok()?;
    let ifd = read_ifd(data, order, first, limits, F).ok()?;
    let dim = |tag| ifd.uint(tag, order).and_then(|v| u32::try_from(v).ok());
    let (width, height) = (dim(IMAGE_WIDTH)?, dim(IMAGE_LENGTH)?);
    let palette = ifd.uint(PHOTOMETRIC, order) == Some(3);
    let samples = ifd.uint(SAMPLES_PER_PIXEL, order).unwrap_or(1).max(1);
    let bits = ifd.uint(BITS_PER_SAMPLE, order).unwrap_or(8).max(1);
    Some(HeaderFacts {
        width,
        height,
        bytes_per_pixel: if palette {
            5
        } else {
            samples * bits.div_ceil(8).max(1)
        },
        palette,
    })
}

/// The picture's layout, checked: size, and the strips or tiles.
#[derive(Debug)]
struct Layout<'a> {
    width: u32,
    height: u32,
    tiled: bool,
    blocks: Vec<&'a [u8]>,
    /// Where each block starts in the file.
    block_offsets: Vec<usize>,
}

fn layout<'a>(
    data: &'a [u8],
    ifd: &Ifd<'a>,
    order: Order,
    limits: &Limits,
    format: Format,
) -> Result<Layout<'a>, MediaError> {
    let bad = |r: String| MediaError::malformed(format, r);
    let unsupported = |r: &str| MediaError::unsupported_feature(format, r);
    if ifd.get(DNG_VERSION).is_some() {
        return Err(MediaError::UnsupportedFormat {
            detected: "camera raw image (DNG); export it as JPEG or TIFF".into(),
        });
    }
    if let Some(32803 | 34892) = ifd.uint(PHOTOMETRIC, order) {
        return Err(MediaError::UnsupportedFormat {
            detected: "camera raw image (TIFF-based raw); export it as JPEG or TIFF".into(),
        });
    }
    if ifd.uint(NEW_SUBFILE_TYPE, order).unwrap_or(0) & 0b101 != 0 {
        return Err(unsupported(
            "the first image is a preview or a mask (camera raw files are not accepted)",
        ));
    }
    let dim = |tag| {
        ifd.uint(tag, order)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0)
    };
    let (width, height) = match (dim(IMAGE_WIDTH), dim(IMAGE_LENGTH)) {
        (Some(w), Some(h)) => (w, h),
        _ => return Err(MediaError::NoImageData { format }),
    };
    limits.check_dimensions(width, height)?;
    let compression = ifd.uint(COMPRESSION, order).unwrap_or(1);
    if compression == 6 {
        return Err(unsupported("old-style JPEG compression"));
    }
    if !COMPRESSIONS.contains(&compression) {
        return Err(unsupported(&format!("compression scheme {compression}")));
    }
    let samples = ifd.uint(SAMPLES_PER_PIXEL, order).unwrap_or(1).max(1);
    let planes = if ifd.uint(PLANAR_CONFIGURATION, order).unwrap_or(1) == 2 {
        samples
    } else {
        1
    };
    let (w, h) = (u64::from(width), u64::from(height));
    let (tiled, offsets_tag, counts_tag, expected) =
        match (ifd.uint(TILE_WIDTH, order), ifd.uint(TILE_LENGTH, order)) {
            (Some(tw), Some(tl)) if tw > 0 && tl > 0 => (
                true,
                TILE_OFFSETS,
                TILE_BYTE_COUNTS,
                w.div_ceil(tw) * h.div_ceil(tl) * planes,
            ),
            (None, None) => {
                let rows = ifd
                    .uint(ROWS_PER_STRIP, order)
                    .unwrap_or(u64::from(u32::MAX))
                    .clamp(1, h);
                (
                    false,
                    STRIP_OFFSETS,
                    STRIP_BYTE_COUNTS,
                    h.div_ceil(rows) * planes,
                )
            }
            _ => return Err(bad("the tile size is incomplete".into())),
        };
    let list = |tag| {
        ifd.get(tag)
            .and_then(|e| matches!(e.kind, 3 | 4).then(|| e.uints(order)).flatten())
    };
    let (Some(offsets), Some(counts)) = (list(offsets_tag), list(counts_tag)) else {
        return Err(MediaError::NoImageData { format });
    };
    if offsets.len() != counts.len() || offsets.len() as u64 != expected {
        return Err(bad(format!(
            "{} image blocks are listed where the picture's size needs {expected}",
            offsets.len().max(counts.len())
        )));
    }
    if offsets.len() > MAX_BLOCKS {
        return Err(unsupported("more than a million strips or tiles"));
    }
    let blocks = offsets
        .iter()
        .zip(&counts)
        .map(|(&off, &len)| {
            let (off, len) = (off as usize, len as usize);
            data.get(off..off.checked_add(len)?)
                .filter(|b| !b.is_empty())
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("image data lies outside the file or is empty".into()))?;
    Ok(Layout {
        width,
        height,
        tiled,
        blocks,
        block_offsets: offsets.iter().map(|&o| o as usize).collect(),
    })
}

/// What a decoder reads to draw the picture: every kept tag's type, count
/// and value (the offsets tags only through the blocks they point at),
/// then each strip or tile; the ICC profile apart.
fn picture<'a>(ifd: &Ifd<'a>, layout: &Layout<'a>) -> Picture<'a> {
    let mut coding = Vec::new();
    let mut colour = Vec::new();
    for e in ifd.entries.iter().filter(|e| KEEP.contains(&e.tag)) {
        match e.tag {
            STRIP_OFFSETS | TILE_OFFSETS => {}
            ICC_PROFILE => colour.push(e.value),
            _ => {
                coding.push(e.head);
                coding.push(e.value);
            }
        }
    }
    coding.extend_from_slice(&layout.blocks);
    Picture::from_parts(coding, colour)
}

/// The cleaned file and the original's picture for the comparison.
pub(crate) fn sanitise<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<(Stripped, Picture<'a>), MediaError> {
    let (order, first) = header(data, F)?;
    let ifd = read_ifd(data, order, first, limits, F)?;
    let layout = layout(data, &ifd, order, limits, F)?;
    let mut removed = Removals::default();
    for e in ifd.entries.iter().filter(|e| !KEEP.contains(&e.tag)) {
        let (kind, name) = removed_kind(e.tag);
        removed.add(
            kind,
            Some(name),
            12 + e.out_of_line.map_or(0, |_| e.value.len()),
        );
    }
    further_images(data, order, &ifd, limits, &mut removed)?;
    // Orientation and capture time come from the tags and EXIF IFD being
    // dropped; the TIFF itself is the block the EXIF reader expects.
    let facts = exif_min::read_facts(data);
    let out = write(order, &ifd, &layout);
    let picture = picture(&ifd, &layout);
    Ok((
        Stripped::still(out, (layout.width, layout.height), facts, removed),
        picture,
    ))
}

fn removed_kind(tag: u16) -> (RemovedKind, &'static str) {
    match tag {
        34665 => (RemovedKind::Exif, "EXIF IFD"),
        34853 => (RemovedKind::Exif, "GPS IFD"),
        40965 => (RemovedKind::Exif, "interoperability IFD"),
        700 => (RemovedKind::Xmp, "XMP tag"),
        33723 => (RemovedKind::PhotoshopIptc, "IPTC tag"),
        34377 => (RemovedKind::PhotoshopIptc, "Photoshop tag"),
        SUB_IFDS => (RemovedKind::Thumbnail, "SubIFDs"),
        33550 | 33922 | 34264 | 34735..=34737 => (RemovedKind::ApplicationData, "GeoTIFF tag"),
        269 | 270 | 271 | 272 | 285 | 305 | 306 | 315 | 316 | 33432 => {
            (RemovedKind::UserData, "descriptive tag")
        }
        NEW_SUBFILE_TYPE => (RemovedKind::ApplicationData, "NewSubfileType"),
        t if t >= 32768 => (RemovedKind::ApplicationData, "private tag"),
        _ => (RemovedKind::UnknownChunk, "tag"),
    }
}

/// Further IFDs: reduced-resolution copies are thumbnails and go; another
/// full-resolution page is refused, since dropping it would lose a picture.
fn further_images(
    data: &[u8],
    order: Order,
    first: &Ifd<'_>,
    limits: &Limits,
    removed: &mut Removals,
) -> Result<(), MediaError> {
    let mut next = first.next;
    let mut seen = vec![first.start];
    while next != 0 {
        if seen.contains(&(next as usize)) || seen.len() > 64 {
            return Err(MediaError::malformed(
                F,
                "the image directories form a loop",
            ));
        }
        let Ok(ifd) = read_ifd(data, order, next, limits, F) else {
            // A damaged chain after the first image: the copy does not
            // keep it, and readers stop there too.
            removed.add(RemovedKind::TrailingData, Some("damaged IFD"), 0);
            return Ok(());
        };
        seen.push(ifd.start);
        let has_picture = [IMAGE_WIDTH, STRIP_OFFSETS]
            .iter()
            .all(|&t| ifd.get(t).is_some())
            || ifd.get(TILE_OFFSETS).is_some();
        let reduced = ifd.uint(NEW_SUBFILE_TYPE, order).unwrap_or(0) & 1 != 0;
        match (has_picture, reduced) {
            (false, _) => removed.add(RemovedKind::ApplicationData, Some("IFD"), ifd.len()),
            (true, true) => removed.add(RemovedKind::Thumbnail, Some("IFD"), ifd.len()),
            (true, false) => {
                return Err(MediaError::unsupported_feature(
                    F,
                    "a multi-page TIFF (save each page as its own file)",
                ))
            }
        }
        next = ifd.next;
    }
    Ok(())
}

/// Header, one IFD of the kept tags, their out-of-line values, then the
/// blocks, each at an even offset.
fn write(order: Order, ifd: &Ifd<'_>, layout: &Layout<'_>) -> Vec<u8> {
    let kept: Vec<&Entry<'_>> = ifd
        .entries
        .iter()
        .filter(|e| KEEP.contains(&e.tag))
        .collect();
    let offsets_tag = if layout.tiled {
        TILE_OFFSETS
    } else {
        STRIP_OFFSETS
    };
    let ifd_len = 2 + 12 * kept.len() + 4;
    let values_at = 8 + ifd_len;
    // Out-of-line values, in tag order; the offsets tag's new value is
    // written after the blocks' places are known.
    let n_blocks = layout.blocks.len();
    let value_len = |e: &Entry<'_>| {
        if e.tag == offsets_tag {
            4 * n_blocks
        } else {
            e.value.len()
        }
    };
    let mut cursor = values_at;
    let mut places = Vec::with_capacity(kept.len());
    for e in &kept {
        let len = value_len(e);
        if len > 4 {
            places.push(Some(cursor));
            cursor += len + len % 2;
        } else {
            places.push(None);
        }
    }
    let mut block_at = Vec::with_capacity(n_blocks);
    for b in &layout.blocks {
        block_at.push(cursor as u32);
        cursor += b.len() + b.len() % 2;
    }
    let new_offsets: Vec<u8> = {
        let mut v = Vec::with_capacity(4 * n_blocks);
        for &at in &block_at {
            order.put_u32(&mut v, at);
        }
        v
    };

    let mut out = Vec::with_capacity(cursor);
    out.extend_from_slice(if order == Order::Little { b"II" } else { b"MM" });
    order.put_u16(&mut out, 42);
    order.put_u32(&mut out, 8);
    order.put_u16(&mut out, kept.len() as u16);
    for (e, place) in kept.iter().zip(&places) {
        let value: &[u8] = if e.tag == offsets_tag {
            &new_offsets
        } else {
            e.value
        };
        if e.tag == offsets_tag {
            order.put_u16(&mut out, e.tag);
            order.put_u16(&mut out, 4);
            order.put_u32(&mut out, n_blocks as u32);
        } else {
            out.extend_from_slice(e.head);
        }
        match place {
            Some(at) => order.put_u32(&mut out, *at as u32),
            None => {
                let mut inline = [0u8; 4];
                inline[..value.len()].copy_from_slice(value);
                out.extend_from_slice(&inline);
            }
        }
    }
    order.put_u32(&mut out, 0);
    for (e, place) in kept.iter().zip(&places) {
        if place.is_some() {
            let value: &[u8] = if e.tag == offsets_tag {
                &new_offsets
            } else {
                e.value
            };
            out.extend_from_slice(value);
            if value.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
    for b in &layout.blocks {
        out.extend_from_slice(b);
        if b.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

/// Structural re-walk of a cleaned TIFF: one IFD of allowed tags only,
/// every value and block inside the file, and no byte that nothing points
/// at unless it is zero padding.
pub(crate) fn verify_structure<'a>(
    data: &'a [u8],
    limits: &Limits,
    picture_out: Option<&mut Picture<'a>>,
) -> Result<(u32, u32), MediaError> {
    let fail = |r: String| MediaError::verification(F, r);
    let (order, first) = header(data, F).map_err(|e| fail(e.to_string()))?;
    let ifd = read_ifd(data, order, first, limits, F).map_err(|e| fail(e.to_string()))?;
    if let Some(e) = ifd.entries.iter().find(|e| !KEEP.contains(&e.tag)) {
        return Err(fail(format!("tag {} is not allowed", e.tag)));
    }
    if ifd.next != 0 {
        return Err(fail("a second image directory is present".into()));
    }
    let layout = layout(data, &ifd, order, limits, F).map_err(|e| fail(e.to_string()))?;
    let mut used = vec![(0usize, 8usize), (ifd.start, ifd.start + ifd.len())];
    for e in &ifd.entries {
        if let Some(at) = e.out_of_line {
            used.push((at, at + e.value.len()));
        }
    }
    for (b, &at) in layout.blocks.iter().zip(&layout.block_offsets) {
        used.push((at, at + b.len()));
    }
    used.sort_unstable();
    let mut covered = 0;
    for (a, b) in used {
        if a > covered && data[covered..a].iter().any(|&x| x != 0) {
            return Err(fail(format!(
                "{} bytes at {covered} are not part of the picture",
                a - covered
            )));
        }
        covered = covered.max(b);
    }
    if data.len() > covered && data[covered..].iter().any(|&x| x != 0) {
        return Err(fail("data after the picture".into()));
    }
    if let Some(p) = picture_out {
        *p = picture(&ifd, &layout);
    }
    Ok((layout.width, layout.height))
}

#[cfg(test)]
mod tests;
