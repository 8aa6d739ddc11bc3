//! Orientation carried into HEIF's own transforms (`irot`/`imir`) and PNG's
//! eXIf when the EXIF or XMP that held it is removed; the auxiliary-image
//! policy (only alpha planes stay).
//!
//! Fixtures `gen_exif_orientation.heic` and `gen_xmp_orientation.heic` are
//! written by `regenerate_heic_fixtures` below (run it with `--ignored`):
//! 64x32 HEVC pictures of four coloured quadrants, encoded by the system's
//! libheif, without any `irot`/`imir`.

use clinshare_media::{
    sanitise, sanitise_with, thumbnail, verify_structure, Format, Limits, RemovedKind, Sanitised,
    Verification,
};

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn structure(bytes: &[u8]) -> Sanitised {
    sanitise_with(bytes, &Limits::default(), Verification::Structure)
        .unwrap_or_else(|e| panic!("sanitise: {e}"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn has_kind(s: &Sanitised, kind: RemovedKind) -> bool {
    s.removed.iter().any(|r| r.kind == kind)
}

// ---------------------------------------------------------------------------
// The four-quadrant pictures.

const QUADRANTS: [[u8; 3]; 4] = [
    [230, 30, 30],  // top left: red
    [30, 200, 30],  // top right: green
    [30, 30, 230],  // bottom left: blue
    [240, 240, 40], // bottom right: yellow
];
const EXIF_MAKE: &[u8] = b"SecretCam9";
const XMP_MAKE: &[u8] = b"XmpSecretMaker";

/// A big-endian TIFF block: Make, then Orientation.
fn tiff_with_orientation(orientation: u16) -> Vec<u8> {
    let mut v = b"MM\0\x2a\0\0\0\x08".to_vec();
    v.extend_from_slice(&2u16.to_be_bytes());
    // Make: ASCII, stored after the IFD.
    let make_at = 8 + 2 + 2 * 12 + 4;
    v.extend_from_slice(&[0x01, 0x0F, 0, 2]);
    v.extend_from_slice(&(EXIF_MAKE.len() as u32 + 1).to_be_bytes());
    v.extend_from_slice(&(make_at as u32).to_be_bytes());
    v.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(EXIF_MAKE);
    v.push(0);
    v
}

/// Sets the (first) big-endian EXIF Orientation in `bytes` to `o`.
fn with_exif_orientation(bytes: &[u8], o: u16) -> Vec<u8> {
    let tag = [0x01, 0x12, 0, 3, 0, 0, 0, 1];
    let at = bytes
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("an Orientation entry")
        + tag.len();
    let mut v = bytes.to_vec();
    v[at..at + 2].copy_from_slice(&o.to_be_bytes());
    v
}

fn xmp_attribute(o: u16) -> Vec<u8> {
    format!(
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF \
         xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description \
         rdf:about=\"\" xmlns:tiff=\"http://ns.adobe.com/tiff/1.0/\" tiff:Orientation=\"{o}\" \
         tiff:Make=\"{}\"/></rdf:RDF></x:xmpmeta>",
        String::from_utf8_lossy(XMP_MAKE)
    )
    .into_bytes()
}

fn xmp_element(o: u16) -> Vec<u8> {
    format!(
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF \
         xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description \
         rdf:about=\"\" xmlns:tiff=\"http://ns.adobe.com/tiff/1.0/\">\n  \
         <tiff:Orientation>{o}</tiff:Orientation>\n  <tiff:Make>{}</tiff:Make>\n\
         </rdf:Description></rdf:RDF></x:xmpmeta>",
        String::from_utf8_lossy(XMP_MAKE)
    )
    .into_bytes()
}

#[test]
#[ignore = "writes the generated HEIC fixtures; needs libheif's HEVC encoder"]
fn regenerate_heic_fixtures() {
    use libheif_rs::{
        Channel, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, Image, RgbChroma,
    };
    let (w, h) = (64u32, 32u32);
    let mut image = Image::new(w, h, ColorSpace::Rgb(RgbChroma::Rgb)).expect("image");
    image
        .create_plane(Channel::Interleaved, w, h, 24)
        .expect("plane");
    let planes = image.planes_mut();
    let plane = planes.interleaved.expect("interleaved");
    for y in 0..h as usize {
        for x in 0..w as usize {
            let q = usize::from(y >= h as usize / 2) * 2 + usize::from(x >= w as usize / 2);
            let at = y * plane.stride + x * 3;
            plane.data[at..at + 3].copy_from_slice(&QUADRANTS[q]);
        }
    }
    for (name, exif, xmp) in [
        (
            "gen_exif_orientation.heic",
            Some(tiff_with_orientation(6)),
            xmp_attribute(3),
        ),
        ("gen_xmp_orientation.heic", None, xmp_element(8)),
    ] {
        let mut context = HeifContext::new().expect("context");
        let mut encoder = context
            .encoder_for_format(CompressionFormat::Hevc)
            .expect("an HEVC encoder");
        encoder.set_quality(EncoderQuality::Lossy(60)).expect("q");
        let handle = context
            .encode_image(&image, &mut encoder, None)
            .expect("encode");
        if let Some(tiff) = exif {
            context.add_exif_metadata(&handle, &tiff).expect("exif");
        }
        context.add_xmp_metadata(&handle, &xmp).expect("xmp");
        let bytes = context.write_to_bytes().expect("write");
        std::fs::write(fixture_path(name), bytes).expect("write fixture");
    }
}

// ---------------------------------------------------------------------------
// EXIF orientation semantics, and HEIF's, on a grid of labelled pixels.

type Grid = Vec<Vec<u8>>;

/// A `w`x`h` grid whose pixels are labelled 0, 1, 2... row by row.
fn labelled(w: usize, h: usize) -> Grid {
    (0..h)
        .map(|y| (0..w).map(|x| (y * w + x) as u8).collect())
        .collect()
}

/// What a viewer shows for a stored grid with EXIF orientation `o`
/// (TIFF 6.0: where the stored 0th row and 0th column are displayed), as
/// the source pixel of each displayed one.
fn exif_display(g: &Grid, o: u16) -> Grid {
    let (w, h) = (g[0].len(), g.len());
    let (dw, dh) = if o >= 5 { (h, w) } else { (w, h) };
    (0..dh)
        .map(|dy| {
            (0..dw)
                .map(|dx| {
                    let (x, y) = match o {
                        1 => (dx, dy),
                        2 => (w - 1 - dx, dy),
                        3 => (w - 1 - dx, h - 1 - dy),
                        4 => (dx, h - 1 - dy),
                        5 => (dy, dx),
                        6 => (dy, h - 1 - dx),
                        7 => (w - 1 - dy, h - 1 - dx),
                        8 => (w - 1 - dy, dx),
                        _ => unreachable!(),
                    };
                    g[y][x]
                })
                .collect()
        })
        .collect()
}

/// `irot`: `angle` quarter turns anti-clockwise.
fn rotate_ccw(g: &Grid, angle: u8) -> Grid {
    let mut g = g.clone();
    for _ in 0..angle {
        let (w, h) = (g[0].len(), g.len());
        g = (0..w)
            .map(|dy| (0..h).map(|dx| g[dx][w - 1 - dy]).collect())
            .collect();
    }
    g
}

/// `imir` (ISO/IEC 23008-12 as amended, as libheif reads it): mode 0
/// exchanges top and bottom, 1 left and right.
fn mirror(g: &Grid, mode: u8) -> Grid {
    if mode == 0 {
        g.iter().rev().cloned().collect()
    } else {
        g.iter()
            .map(|r| r.iter().rev().copied().collect())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// A small reader of the output's boxes, independent of the crate's.

#[derive(Debug, Clone)]
struct Bx {
    kind: [u8; 4],
    body: std::ops::Range<usize>,
}

fn boxes(d: &[u8], from: usize, to: usize) -> Vec<Bx> {
    let mut v = Vec::new();
    let mut p = from;
    while p + 8 <= to {
        let size = u32::from_be_bytes(d[p..p + 4].try_into().expect("in range")) as usize;
        let kind: [u8; 4] = d[p + 4..p + 8].try_into().expect("in range");
        assert!(size >= 8 && p + size <= to, "bad box at {p}");
        v.push(Bx {
            kind,
            body: p + 8..p + size,
        });
        p += size;
    }
    v
}

fn child(d: &[u8], parent: &Bx, skip: usize, kind: &[u8; 4]) -> Option<Bx> {
    boxes(d, parent.body.start + skip, parent.body.end)
        .into_iter()
        .find(|b| &b.kind == kind)
}

struct Meta {
    primary: u32,
    /// ipco's properties (kind, body).
    props: Vec<([u8; 4], Vec<u8>)>,
    /// ipma entries: item id, (essential, 1-based index); and whether the
    /// box used wide indices.
    assoc: Vec<(u32, Vec<(bool, usize)>)>,
    wide: bool,
    items: Vec<(u32, [u8; 4])>,
    refs: Vec<([u8; 4], u32, Vec<u32>)>,
}

fn read_meta(d: &[u8]) -> Meta {
    let top = boxes(d, 0, d.len());
    let meta = top.iter().find(|b| &b.kind == b"meta").expect("meta");
    let pitm = child(d, meta, 4, b"pitm").expect("pitm");
    let pb = &d[pitm.body.clone()];
    let primary = if pb[0] == 0 {
        u32::from(u16::from_be_bytes([pb[4], pb[5]]))
    } else {
        u32::from_be_bytes(pb[4..8].try_into().expect("in range"))
    };
    let iprp = child(d, meta, 4, b"iprp").expect("iprp");
    let ipco = child(d, &iprp, 0, b"ipco").expect("ipco");
    let props = boxes(d, ipco.body.start, ipco.body.end)
        .into_iter()
        .map(|b| (b.kind, d[b.body].to_vec()))
        .collect();
    let ipma = child(d, &iprp, 0, b"ipma").expect("ipma");
    let m = &d[ipma.body.clone()];
    let (version, wide) = (m[0], m[3] & 1 != 0);
    let n = u32::from_be_bytes(m[4..8].try_into().expect("in range"));
    let mut at = 8;
    let mut assoc = Vec::new();
    for _ in 0..n {
        let id = if version == 0 {
            at += 2;
            u32::from(u16::from_be_bytes([m[at - 2], m[at - 1]]))
        } else {
            at += 4;
            u32::from_be_bytes(m[at - 4..at].try_into().expect("in range"))
        };
        let k = m[at];
        at += 1;
        let mut a = Vec::new();
        for _ in 0..k {
            if wide {
                let v = u16::from_be_bytes([m[at], m[at + 1]]);
                a.push((v & 0x8000 != 0, usize::from(v & 0x7FFF)));
                at += 2;
            } else {
                a.push((m[at] & 0x80 != 0, usize::from(m[at] & 0x7F)));
                at += 1;
            }
        }
        assoc.push((id, a));
    }
    assert_eq!(at, m.len(), "ipma fully read");
    let iinf = child(d, meta, 4, b"iinf").expect("iinf");
    let skip = if d[iinf.body.start] == 0 { 6 } else { 8 };
    let items = boxes(d, iinf.body.start + skip, iinf.body.end)
        .into_iter()
        .map(|b| {
            let e = &d[b.body];
            assert_eq!(e[0], 2, "infe version 2");
            (
                u32::from(u16::from_be_bytes([e[4], e[5]])),
                e[8..12].try_into().expect("in range"),
            )
        })
        .collect();
    let refs = child(d, meta, 4, b"iref").map_or(vec![], |iref| {
        boxes(d, iref.body.start + 4, iref.body.end)
            .into_iter()
            .map(|b| {
                let r = &d[b.body];
                let from = u32::from(u16::from_be_bytes([r[0], r[1]]));
                let n = usize::from(u16::from_be_bytes([r[2], r[3]]));
                let to = (0..n)
                    .map(|i| u32::from(u16::from_be_bytes([r[4 + 2 * i], r[5 + 2 * i]])))
                    .collect();
                (b.kind, from, to)
            })
            .collect()
    });
    Meta {
        primary,
        props,
        assoc,
        wide,
        items,
        refs,
    }
}

impl Meta {
    fn props_of(&self, id: u32) -> Vec<(bool, [u8; 4], Vec<u8>)> {
        self.assoc
            .iter()
            .filter(|(i, _)| *i == id)
            .flat_map(|(_, a)| a.iter())
            .map(|&(e, idx)| {
                let (k, b) = self.props[idx - 1].clone();
                (e, k, b)
            })
            .collect()
    }

    /// The primary's irot/imir, in order: (kind, value).
    fn transforms(&self, id: u32) -> Vec<([u8; 4], u8)> {
        self.props_of(id)
            .into_iter()
            .filter(|(_, k, _)| k == b"irot" || k == b"imir")
            .map(|(e, k, b)| {
                assert!(e, "transformative properties are essential");
                assert_eq!(b.len(), 1);
                (k, b[0])
            })
            .collect()
    }
}

/// Applies HEIF transforms, in order, to a grid.
fn heif_display(g: &Grid, transforms: &[([u8; 4], u8)]) -> Grid {
    transforms.iter().fold(g.clone(), |g, (k, v)| match k {
        b"irot" => rotate_ccw(&g, v & 3),
        _ => mirror(&g, v & 1),
    })
}

#[test]
fn every_exif_orientation_becomes_irot_imir_that_show_the_same_picture() {
    let src = fixture("gen_exif_orientation.heic");
    let grid = labelled(2, 3);
    let mut seen = std::collections::BTreeSet::new();
    for o in 1..=8u16 {
        let s = structure(&with_exif_orientation(&src, o));
        assert_eq!(s.orientation, Some(o), "the report says what is shown");
        assert!(has_kind(&s, RemovedKind::Exif));
        assert!(!contains(&s.bytes, EXIF_MAKE));
        let m = read_meta(&s.bytes);
        let t = m.transforms(m.primary);
        assert_eq!(
            heif_display(&grid, &t),
            exif_display(&grid, o),
            "{o}: {t:?}"
        );
        assert!(seen.insert(exif_display(&grid, o)), "{o} is distinct");
        // irot before imir, each at most once, after the other properties.
        let props = m.props_of(m.primary);
        let first = props.len() - t.len();
        assert!(props[..first]
            .iter()
            .all(|(_, k, _)| k != b"irot" && k != b"imir"));
        assert!(t.len() <= 2 && (t.len() < 2 || (&t[0].0, &t[1].0) == (b"irot", b"imir")));
        assert_eq!(o == 1, t.is_empty(), "{o}");
        // Only the primary (a grid here) carries them, never its tile.
        for (id, kind) in &m.items {
            if *id != m.primary {
                assert_eq!(kind, b"hvc1");
                assert!(m.transforms(*id).is_empty(), "tile {id}");
            }
        }
        verify_structure(&s.bytes, Format::Heic).expect("verifies");
        // Sanitising again changes nothing and adds nothing.
        let again = structure(&s.bytes);
        assert_eq!(again.bytes, s.bytes, "{o}");
        // (Orientation 1 is written nowhere, so the copy has none to report.)
        assert_eq!(again.orientation, (o > 1).then_some(o));
    }
}

/// The quadrant colour at each corner of a thumbnail (inset a quarter).
fn corners(jpeg: &[u8]) -> ((u32, u32), [[u8; 3]; 4]) {
    let img = image::load_from_memory(jpeg).expect("a JPEG").to_rgb8();
    let (w, h) = img.dimensions();
    let at = |x: u32, y: u32| img.get_pixel(x, y).0;
    (
        (w, h),
        [
            at(w / 4, h / 4),
            at(w * 3 / 4, h / 4),
            at(w / 4, h * 3 / 4),
            at(w * 3 / 4, h * 3 / 4),
        ],
    )
}

fn nearest_quadrant(c: [u8; 3]) -> u8 {
    (0..4u8)
        .min_by_key(|&q| {
            QUADRANTS[usize::from(q)]
                .iter()
                .zip(c)
                .map(|(a, b)| (i32::from(*a) - i32::from(b)).pow(2))
                .sum::<i32>()
        })
        .expect("four quadrants")
}

#[test]
fn libheif_shows_each_carried_orientation_as_exif_would() {
    let src = fixture("gen_exif_orientation.heic");
    let quadrants: Grid = vec![vec![0, 1], vec![2, 3]];
    for o in 1..=8u16 {
        let s = sanitise(&with_exif_orientation(&src, o), &Limits::default())
            .unwrap_or_else(|e| panic!("{o}: {e}"));
        let t = thumbnail(&s.bytes, 256).unwrap_or_else(|e| panic!("{o}: {e}"));
        let ((w, h), c) = corners(&t);
        let want = exif_display(&quadrants, o);
        assert_eq!(
            (w, h),
            if o >= 5 { (32, 64) } else { (64, 32) },
            "orientation {o}: {w}x{h}"
        );
        let got = [
            nearest_quadrant(c[0]),
            nearest_quadrant(c[1]),
            nearest_quadrant(c[2]),
            nearest_quadrant(c[3]),
        ];
        assert_eq!(
            got,
            [want[0][0], want[0][1], want[1][0], want[1][1]],
            "orientation {o}: corners {c:?}"
        );
    }
}

#[test]
fn an_orientation_only_xmp_carries_is_kept_as_irot() {
    // Element form, `<tiff:Orientation>8</tiff:Orientation>`; no EXIF.
    let s = sanitise(&fixture("gen_xmp_orientation.heic"), &Limits::default()).expect("clean");
    assert_eq!(s.orientation, Some(8));
    assert!(has_kind(&s, RemovedKind::Xmp));
    assert!(!contains(&s.bytes, XMP_MAKE));
    assert!(!contains(&s.bytes, b"tiff:Orientation"));
    let m = read_meta(&s.bytes);
    assert_eq!(m.transforms(m.primary), vec![(*b"irot", 1)]);
    let ((w, h), c) = corners(&thumbnail(&s.bytes, 256).expect("thumbnail"));
    assert_eq!((w, h), (32, 64), "turned upright");
    // Anti-clockwise: the top right quadrant (green) is now at the top left.
    assert_eq!(nearest_quadrant(c[0]), 1);
}

#[test]
fn exif_orientation_wins_over_xmp() {
    // The fixture's EXIF says 6, its XMP (attribute form) 3.
    let src = fixture("gen_exif_orientation.heic");
    assert!(contains(&src, b"tiff:Orientation=\"3\""));
    let s = structure(&src);
    assert_eq!(s.orientation, Some(6));
    let m = read_meta(&s.bytes);
    assert_eq!(m.transforms(m.primary), vec![(*b"irot", 3)]);
    assert!(!contains(&s.bytes, XMP_MAKE));
}

/// The AVIF fixture with its (little-endian) EXIF Orientation set to `o`.
fn avif_with_orientation(o: u16) -> Vec<u8> {
    let mut v = fixture("dn_32Bit-72dpi-sRGB-800x600.avif");
    let tag = [0x12, 0x01, 3, 0, 1, 0, 0, 0];
    let at = v
        .windows(tag.len())
        .position(|w| w == tag)
        .expect("Orientation")
        + tag.len();
    v[at..at + 2].copy_from_slice(&o.to_le_bytes());
    v
}

#[test]
fn a_grid_primary_gets_the_rotation_and_its_tiles_do_not() {
    for (o, angle) in [(6u16, 3u8), (8, 1)] {
        let s = sanitise(&avif_with_orientation(o), &Limits::default()).expect("clean");
        assert_eq!((s.format, s.width, s.height), (Format::Avif, 800, 600));
        assert_eq!(s.orientation, Some(o));
        let m = read_meta(&s.bytes);
        let grid = m
            .items
            .iter()
            .find(|(id, _)| *id == m.primary)
            .expect("primary");
        assert_eq!(&grid.1, b"grid");
        assert_eq!(m.transforms(m.primary), vec![(*b"irot", angle)]);
        let tiles: Vec<u32> = m
            .refs
            .iter()
            .filter(|r| &r.0 == b"dimg" && r.1 == m.primary)
            .flat_map(|r| r.2.clone())
            .collect();
        assert_eq!(tiles.len(), 4);
        for t in tiles {
            assert!(m.transforms(t).is_empty(), "tile {t}");
        }
        // libheif turns the 800x600 picture upright: portrait.
        let img = image::load_from_memory(&thumbnail(&s.bytes, 256).expect("thumb")).expect("jpeg");
        assert_eq!((img.width(), img.height()), (192, 256), "orientation {o}");
    }
    // Orientation 1 adds nothing and the picture stays landscape.
    let s = sanitise(&avif_with_orientation(1), &Limits::default()).expect("clean");
    let m = read_meta(&s.bytes);
    assert!(m.transforms(m.primary).is_empty());
    let img = image::load_from_memory(&thumbnail(&s.bytes, 256).expect("thumb")).expect("jpeg");
    assert_eq!((img.width(), img.height()), (256, 192));
}

// ---------------------------------------------------------------------------
// A builder of small HEIF files with fake coded data (structure only).

/// id, type, payload, content type (for mime).
type BuiltItem = (u16, [u8; 4], Vec<u8>, Option<&'static str>);

#[derive(Default)]
struct Heif {
    primary: u16,
    items: Vec<BuiltItem>,
    /// Full property boxes.
    props: Vec<Vec<u8>>,
    /// Item, (essential, 1-based property index).
    assoc: Vec<(u16, Vec<(bool, u16)>)>,
    refs: Vec<([u8; 4], u16, Vec<u16>)>,
    wide_ipma: bool,
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b.extend_from_slice(body);
    bx(kind, &b)
}

fn ispe(w: u32, h: u32) -> Vec<u8> {
    let mut b = w.to_be_bytes().to_vec();
    b.extend_from_slice(&h.to_be_bytes());
    full(b"ispe", 0, 0, &b)
}

fn hvcc() -> Vec<u8> {
    bx(b"hvcC", &[1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5a])
}

fn auxc(kind: &str) -> Vec<u8> {
    let mut b = kind.as_bytes().to_vec();
    b.push(0);
    full(b"auxC", 0, 0, &b)
}

impl Heif {
    fn item(&mut self, id: u16, kind: &[u8; 4], payload: &[u8]) -> &mut Self {
        self.items.push((id, *kind, payload.to_vec(), None));
        self
    }

    fn prop(&mut self, p: Vec<u8>) -> u16 {
        self.props.push(p);
        self.props.len() as u16
    }

    fn assoc(&mut self, id: u16, props: &[u16]) -> &mut Self {
        let a: Vec<(bool, u16)> = props.iter().map(|&p| (true, p)).collect();
        match self.assoc.iter_mut().find(|(i, _)| *i == id) {
            Some((_, v)) => v.extend(a),
            None => self.assoc.push((id, a)),
        }
        self
    }

    fn reference(&mut self, kind: &[u8; 4], from: u16, to: &[u16]) -> &mut Self {
        self.refs.push((*kind, from, to.to_vec()));
        self
    }

    fn build(&self) -> Vec<u8> {
        let ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
        let meta_at = |mdat_body: u32| -> Vec<u8> {
            let mut meta = Vec::new();
            meta.extend(full(
                b"hdlr",
                0,
                0,
                b"\0\0\0\0pict\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ));
            meta.extend(full(b"pitm", 0, 0, &self.primary.to_be_bytes()));
            let mut iinf = (self.items.len() as u16).to_be_bytes().to_vec();
            for (id, kind, _, ct) in &self.items {
                let mut e = id.to_be_bytes().to_vec();
                e.extend_from_slice(&[0, 0]);
                e.extend_from_slice(kind);
                e.push(0); // name
                if let Some(ct) = ct {
                    e.extend_from_slice(ct.as_bytes());
                    e.push(0);
                }
                iinf.extend(full(b"infe", 2, 0, &e));
            }
            meta.extend(full(b"iinf", 0, 0, &iinf));
            // iloc v0: offset 4, length 4, no base offset.
            let mut iloc = vec![0x44, 0x00];
            iloc.extend_from_slice(&(self.items.len() as u16).to_be_bytes());
            let mut at = mdat_body;
            for (id, _, payload, _) in &self.items {
                iloc.extend_from_slice(&id.to_be_bytes());
                iloc.extend_from_slice(&[0, 0, 0, 1]);
                iloc.extend_from_slice(&at.to_be_bytes());
                iloc.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                at += payload.len() as u32;
            }
            meta.extend(full(b"iloc", 0, 0, &iloc));
            let mut ipco = Vec::new();
            for p in &self.props {
                ipco.extend_from_slice(p);
            }
            let mut ipma = (self.assoc.len() as u32).to_be_bytes().to_vec();
            for (id, a) in &self.assoc {
                ipma.extend_from_slice(&id.to_be_bytes());
                ipma.push(a.len() as u8);
                for &(e, p) in a {
                    if self.wide_ipma {
                        ipma.extend_from_slice(&((u16::from(e) << 15) | p).to_be_bytes());
                    } else {
                        assert!(p < 128);
                        ipma.push((u8::from(e) << 7) | p as u8);
                    }
                }
            }
            let mut iprp = bx(b"ipco", &ipco);
            iprp.extend(full(b"ipma", 0, u32::from(self.wide_ipma), &ipma));
            meta.extend(bx(b"iprp", &iprp));
            if !self.refs.is_empty() {
                let mut iref = Vec::new();
                for (kind, from, to) in &self.refs {
                    let mut r = from.to_be_bytes().to_vec();
                    r.extend_from_slice(&(to.len() as u16).to_be_bytes());
                    for t in to {
                        r.extend_from_slice(&t.to_be_bytes());
                    }
                    iref.extend(bx(kind, &r));
                }
                meta.extend(full(b"iref", 0, 0, &iref));
            }
            full(b"meta", 0, 0, &meta)
        };
        let probe = meta_at(0);
        let mdat_body = (ftyp.len() + probe.len() + 8) as u32;
        let meta = meta_at(mdat_body);
        let mut mdat = Vec::new();
        for (_, _, payload, _) in &self.items {
            mdat.extend_from_slice(payload);
        }
        let mut out = ftyp;
        out.extend(meta);
        out.extend(bx(b"mdat", &mdat));
        out
    }
}

/// An EXIF item's payload: the offset to the TIFF header, then "Exif\0\0".
fn exif_item(orientation: u16) -> Vec<u8> {
    let mut v = 6u32.to_be_bytes().to_vec();
    v.extend_from_slice(b"Exif\0\0");
    v.extend(tiff_with_orientation(orientation));
    v
}

/// A primary hvc1 item 1 (64x48) with an EXIF item describing it.
fn simple(orientation: u16) -> Heif {
    let mut h = Heif {
        primary: 1,
        ..Heif::default()
    };
    let (c, s) = (h.prop(hvcc()), h.prop(ispe(64, 48)));
    h.item(1, b"hvc1", b"PRIMARY-CODED-DATA")
        .assoc(1, &[c, s])
        .item(2, b"Exif", &exif_item(orientation))
        .reference(b"cdsc", 2, &[1]);
    h
}

#[test]
fn an_existing_irot_is_kept_and_nothing_is_added() {
    let mut h = simple(6);
    let rot = h.prop(bx(b"irot", &[1]));
    h.assoc(1, &[rot]);
    let s = structure(&h.build());
    // The file shows irot 1 (anti-clockwise), whatever the EXIF said.
    assert_eq!(s.orientation, Some(8));
    let m = read_meta(&s.bytes);
    assert_eq!(m.transforms(1), vec![(*b"irot", 1)]);
    assert_eq!(m.props.len(), 3, "no property added");
    // And an existing mirror after it: rotation then mirror is transverse.
    let mut h = simple(1);
    let (rot, mir) = (h.prop(bx(b"irot", &[3])), h.prop(bx(b"imir", &[0])));
    h.assoc(1, &[rot, mir]);
    let s = structure(&h.build());
    assert_eq!(s.orientation, Some(7));
    // No orientation anywhere: none reported, none added.
    let mut h = simple(1);
    h.items.pop();
    h.refs.clear();
    let s = structure(&h.build());
    assert_eq!(s.orientation, None);
    assert_eq!(read_meta(&s.bytes).props.len(), 2);
}

#[test]
fn a_new_property_index_beyond_127_widens_ipma() {
    let mut h = simple(5);
    // Fill ipco to 130 properties; item 1 uses the first two.
    while h.props.len() < 130 {
        h.prop(full(b"colr", 0, 0, b"nclx\0\x01\0\x0d\0\x01\x80"));
    }
    h.item(3, b"hvc1", b"OTHER");
    h.assoc(3, &[2, 100]);
    let src = h.build();
    let s = structure(&src);
    assert_eq!(s.orientation, Some(5));
    let m = read_meta(&s.bytes);
    assert!(m.wide, "ipma rewritten with 15-bit indices");
    assert_eq!(m.transforms(1), vec![(*b"irot", 1), (*b"imir", 0)]);
    let idx: Vec<usize> = m
        .assoc
        .iter()
        .find(|(i, _)| *i == 1)
        .expect("four quadrants")
        .1
        .iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(idx, vec![1, 2, 131, 132]);
    // The other associations survive the rewrite.
    let other: Vec<usize> = m
        .assoc
        .iter()
        .find(|(i, _)| *i == 3)
        .expect("four quadrants")
        .1
        .iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(other, vec![2, 100]);
    assert_eq!((s.width, s.height), (64, 48));
    verify_structure(&s.bytes, Format::Heic).expect("verifies");
    assert_eq!(structure(&s.bytes).bytes, s.bytes, "idempotent");
    // Already wide: indices stay wide.
    let mut h = simple(6);
    h.wide_ipma = true;
    let m = read_meta(&structure(&h.build()).bytes);
    assert!(m.wide);
    assert_eq!(m.transforms(1), vec![(*b"irot", 3)]);
}

#[test]
fn a_primary_with_255_associations_is_refused_cleanly() {
    let mut h = simple(6);
    let c = h.prop(full(b"colr", 0, 0, b"nclx\0\x01\0\x0d\0\x01\x80"));
    for _ in 0..253 {
        h.assoc(1, &[c]);
    }
    assert_eq!(h.assoc[0].1.len(), 255);
    let e = sanitise_with(&h.build(), &Limits::default(), Verification::Structure)
        .expect_err("no room for irot");
    assert_eq!(e.code(), "media.unsupported_feature", "{e}");
}

// ---------------------------------------------------------------------------
// Auxiliary images: only alpha planes stay.

const ALPHA: &str = "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha";
const DEPTH: &str = "urn:mpeg:hevc:2015:auxid:2";
const APPLE_GAIN_MAP: &str = "urn:com:apple:photo:2020:aux:hdrgainmap";
const APPLE_MATTE: &str = "urn:com:apple:photo:2018:aux:portraiteffectsmatte";

/// A primary with an alpha plane, a depth map, Apple's HDR gain map (a
/// grid of two tiles, with its own XMP), a portrait matte, an auxiliary
/// image without auxC, and an ISO gain map (tmap over the primary and a
/// gain-map image).
fn with_auxiliary_images() -> Heif {
    let mut h = Heif {
        primary: 1,
        ..Heif::default()
    };
    let code = h.prop(hvcc());
    let size = h.prop(ispe(64, 48));
    let alpha = h.prop(auxc(ALPHA));
    let depth = h.prop(auxc(DEPTH));
    let gain = h.prop(auxc(APPLE_GAIN_MAP));
    let matte = h.prop(auxc(APPLE_MATTE));
    let small = h.prop(ispe(32, 24));
    h.item(1, b"hvc1", b"PRIMARY-CODED-DATA")
        .assoc(1, &[code, size])
        .item(2, b"hvc1", b"ALPHA-PLANE")
        .assoc(2, &[code, size, alpha])
        .reference(b"auxl", 2, &[1])
        .item(3, b"hvc1", b"DEPTH-SECRET")
        .assoc(3, &[code, small, depth])
        .reference(b"auxl", 3, &[1])
        .item(4, b"grid", b"\0\0\0\x01\0\x20\0\x18")
        .assoc(4, &[small, gain])
        .reference(b"auxl", 4, &[1])
        .reference(b"dimg", 4, &[5, 6])
        .item(5, b"hvc1", b"GAINMAP-TILE-A")
        .assoc(5, &[code, small])
        .item(6, b"hvc1", b"GAINMAP-TILE-B")
        .assoc(6, &[code, small])
        .item(7, b"hvc1", b"MATTE-SECRET")
        .assoc(7, &[code, small, matte])
        .reference(b"auxl", 7, &[1])
        .item(9, b"tmap", b"\0\x01\0\0TMAP-METADATA")
        .assoc(9, &[size])
        .reference(b"dimg", 9, &[1, 10])
        .item(10, b"hvc1", b"ISO-GAIN-MAP")
        .assoc(10, &[code, small])
        .item(11, b"hvc1", b"UNDECLARED-AUX")
        .assoc(11, &[code, small])
        .reference(b"auxl", 11, &[1]);
    h.items.push((
        8,
        *b"mime",
        b"<x:xmpmeta>HDRGainMapVersion</x:xmpmeta>".to_vec(),
        Some("application/rdf+xml"),
    ));
    h.reference(b"cdsc", 8, &[4]);
    h
}

#[test]
fn only_alpha_auxiliary_images_survive() {
    let src = with_auxiliary_images().build();
    for secret in [
        &b"DEPTH-SECRET"[..],
        b"GAINMAP-TILE-A",
        b"MATTE-SECRET",
        b"UNDECLARED-AUX",
        b"HDRGainMap",
        APPLE_GAIN_MAP.as_bytes(),
        APPLE_MATTE.as_bytes(),
        DEPTH.as_bytes(),
    ] {
        assert!(contains(&src, secret));
    }
    let s = structure(&src);
    let m = read_meta(&s.bytes);
    let ids: Vec<u32> = m.items.iter().map(|i| i.0).collect();
    assert_eq!(
        ids,
        vec![1, 2, 9, 10],
        "primary, alpha, tmap and its gain map"
    );
    // Depth, the gain-map grid with its two tiles, the matte and the
    // undeclared auxiliary image, each reported as an auxiliary image.
    let aux: u32 = s
        .removed
        .iter()
        .filter(|r| r.kind == RemovedKind::AuxiliaryImage)
        .map(|r| r.count)
        .sum();
    assert_eq!(aux, 6, "{:?}", s.removed);
    assert!(has_kind(&s, RemovedKind::Xmp));
    for secret in [
        &b"DEPTH-SECRET"[..],
        b"GAINMAP-TILE",
        b"MATTE-SECRET",
        b"UNDECLARED-AUX",
        b"HDRGainMap",
        b"urn:com:apple",
        b"portraiteffectsmatte",
        DEPTH.as_bytes(),
    ] {
        assert!(
            !contains(&s.bytes, secret),
            "{} survived",
            String::from_utf8_lossy(secret)
        );
    }
    for kept in [
        &b"PRIMARY-CODED-DATA"[..],
        b"ALPHA-PLANE",
        b"ISO-GAIN-MAP",
        b"TMAP-METADATA",
        ALPHA.as_bytes(),
    ] {
        assert!(
            contains(&s.bytes, kept),
            "{}",
            String::from_utf8_lossy(kept)
        );
    }
    // Indices stay valid: the removed images' auxC became zeroed `free`.
    assert_eq!(m.props.len(), 7);
    for i in [3, 4, 5] {
        assert_eq!(&m.props[i].0, b"free");
        assert!(m.props[i].1.iter().all(|&b| b == 0));
    }
    assert_eq!(m.props_of(2)[2].1, *b"auxC");
    let mut refs = m.refs.clone();
    refs.sort();
    assert_eq!(
        refs,
        vec![(*b"auxl", 2, vec![1]), (*b"dimg", 9, vec![1, 10])]
    );
    verify_structure(&s.bytes, Format::Heic).expect("verifies");
    assert_eq!(structure(&s.bytes).bytes, s.bytes, "idempotent");
}

#[test]
fn properties_only_removed_items_used_become_free() {
    // A thumbnail's own colour property goes with it, and so does a
    // property nothing uses.
    let mut h = simple(1);
    let colr = h.prop(full(b"colr", 0, 0, b"prof-THUMB-ICC-NAME"));
    let unused = h.prop(full(b"pixi", 0, 0, &[3, 8, 8, 8]));
    h.item(3, b"hvc1", b"THUMBNAIL")
        .assoc(3, &[1, colr])
        .reference(b"thmb", 3, &[1]);
    let s = structure(&h.build());
    let m = read_meta(&s.bytes);
    assert_eq!(&m.props[usize::from(colr) - 1].0, b"free");
    assert_eq!(&m.props[usize::from(unused) - 1].0, b"free");
    assert_eq!(&m.props[0].0, b"hvcC");
    assert!(!contains(&s.bytes, b"THUMB-ICC-NAME"));
}

#[test]
fn the_verifier_refuses_auxiliary_images_other_than_alpha() {
    let base = || {
        let mut h = Heif {
            primary: 1,
            ..Heif::default()
        };
        let (c, s) = (h.prop(hvcc()), h.prop(ispe(64, 48)));
        h.item(1, b"hvc1", b"PRIMARY").assoc(1, &[c, s]);
        h
    };
    // An alpha plane passes.
    let mut h = base();
    let a = h.prop(auxc(ALPHA));
    h.item(2, b"hvc1", b"A")
        .assoc(2, &[1, 2, a])
        .reference(b"auxl", 2, &[1]);
    verify_structure(&h.build(), Format::Heic).expect("alpha is allowed");
    let mut h = base();
    let a = h.prop(auxc("urn:mpeg:hevc:2015:auxid:1"));
    h.item(2, b"hvc1", b"A")
        .assoc(2, &[1, 2, a])
        .reference(b"auxl", 2, &[1]);
    verify_structure(&h.build(), Format::Heic).expect("HEVC alpha is allowed");
    // A depth map, a gain map, or an auxC left unassociated do not.
    for kind in [DEPTH, APPLE_GAIN_MAP, APPLE_MATTE] {
        let mut h = base();
        let d = h.prop(auxc(kind));
        h.item(2, b"hvc1", b"D")
            .assoc(2, &[1, 2, d])
            .reference(b"auxl", 2, &[1]);
        assert!(
            verify_structure(&h.build(), Format::Heic).is_err(),
            "{kind}"
        );
        let mut h = base();
        h.prop(auxc(kind));
        assert!(
            verify_structure(&h.build(), Format::Heic).is_err(),
            "{kind}"
        );
    }
    // An auxiliary image that does not say what it is.
    let mut h = base();
    h.item(2, b"hvc1", b"U")
        .assoc(2, &[1, 2])
        .reference(b"auxl", 2, &[1]);
    assert!(verify_structure(&h.build(), Format::Heic).is_err());
}

// ---------------------------------------------------------------------------
// PNG: an XMP-only orientation becomes the one-tag eXIf chunk.

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    v.extend_from_slice(&crc32fast::hash(&v[4..]).to_be_bytes());
    v
}

/// A 4x2 PNG with `extra` chunks after IHDR.
fn png_with(extra: &[Vec<u8>]) -> Vec<u8> {
    let img = image::RgbImage::from_fn(4, 2, |x, y| image::Rgb([x as u8 * 60, y as u8 * 90, 7]));
    let mut plain = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Png,
    )
    .expect("encode");
    let ihdr_end = 8 + 12 + 13;
    let mut v = plain[..ihdr_end].to_vec();
    for c in extra {
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&plain[ihdr_end..]);
    v
}

fn itxt_xmp(xmp: &[u8]) -> Vec<u8> {
    let mut d = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
    d.extend_from_slice(xmp);
    png_chunk(b"iTXt", &d)
}

fn exif_orientation_of(bytes: &[u8]) -> (Option<u32>, usize) {
    match exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) {
        Ok(e) => (
            e.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .and_then(|f| f.value.get_uint(0)),
            e.fields().count(),
        ),
        Err(_) => (None, 0),
    }
}

#[test]
fn a_png_orientation_only_xmp_carries_becomes_a_one_tag_exif_chunk() {
    for xmp in [xmp_attribute(6), xmp_element(6)] {
        let src = png_with(&[itxt_xmp(&xmp)]);
        assert_eq!(exif_orientation_of(&src), (None, 0));
        let s = sanitise(&src, &Limits::default()).expect("clean");
        assert_eq!(s.orientation, Some(6));
        assert!(has_kind(&s, RemovedKind::Text));
        assert!(!contains(&s.bytes, XMP_MAKE));
        assert!(!contains(&s.bytes, b"iTXt"));
        assert_eq!(exif_orientation_of(&s.bytes), (Some(6), 1));
        assert_eq!(
            image::load_from_memory(&src).expect("src").to_rgb8(),
            image::load_from_memory(&s.bytes).expect("out").to_rgb8()
        );
    }
}

#[test]
fn a_png_exif_orientation_wins_over_its_xmp() {
    let src = png_with(&[
        itxt_xmp(&xmp_attribute(6)),
        png_chunk(b"eXIf", &tiff_with_orientation(3)),
    ]);
    let s = sanitise(&src, &Limits::default()).expect("clean");
    assert_eq!(s.orientation, Some(3));
    assert_eq!(exif_orientation_of(&s.bytes), (Some(3), 1));
    assert!(!contains(&s.bytes, EXIF_MAKE));
    // Other iTXt keywords are not XMP, whatever they hold.
    let src = png_with(&[png_chunk(
        b"iTXt",
        b"Comment\0\0\0\0\0tiff:Orientation=\"6\" ",
    )]);
    assert_eq!(
        sanitise(&src, &Limits::default())
            .expect("clean")
            .orientation,
        None
    );
}
