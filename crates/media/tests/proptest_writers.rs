//! Property tests: whatever the segment/chunk layout, strings planted in
//! metadata never survive, the output verifies and the picture is unchanged.

use clinshare_media::{jpeg, sanitise, verify, Limits};
use image::{ImageEncoder, RgbImage};
use proptest::prelude::*;

fn base_image() -> RgbImage {
    RgbImage::from_fn(16, 12, |x, y| {
        image::Rgb([(x * 15) as u8, (y * 20) as u8, 128])
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn secret_strategy() -> impl Strategy<Value = String> {
    "[A-Z]{10,16}".prop_map(|s| format!("PLANTED{s}"))
}

/// Where and how a secret is planted: the text is stored plain or as UTF-16.
fn encode(secret: &str, utf16: bool) -> Vec<u8> {
    if utf16 {
        secret.encode_utf16().flat_map(u16::to_le_bytes).collect()
    } else {
        secret.as_bytes().to_vec()
    }
}

fn planted_payload(prefix: &[u8], secret: &[u8], pad: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(pad);
    v.extend_from_slice(secret);
    v.extend_from_slice(pad);
    v
}

// ---------------------------------------------------------------- JPEG

fn base_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            base_image().as_raw(),
            16,
            12,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode");
    out
}

/// Offsets of the boundaries between header segments (before SOS).
fn jpeg_boundaries(j: &[u8]) -> Vec<usize> {
    let mut v = vec![2];
    let mut pos = 2;
    while j[pos + 1] != 0xDA {
        pos += 2 + usize::from(u16::from_be_bytes([j[pos + 2], j[pos + 3]]));
        v.push(pos);
    }
    v
}

const JPEG_PREFIXES: &[&[u8]] = &[
    b"Exif\0\0",
    b"http://ns.adobe.com/xap/1.0/\0",
    b"http://ns.adobe.com/xmp/extension/\0",
    b"MPF\0",
    b"JFXX\0\x10",
    b"Photoshop 3.0\0",
    b"FPXR\0",
    b"",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn jpeg_planted_strings_never_leak(
        secret in secret_strategy(),
        segs in prop::collection::vec((0usize..64, prop::sample::select(vec![0xE0u8, 0xE1, 0xE2, 0xE3, 0xE9, 0xEB, 0xEC, 0xED, 0xEF, 0xFE]), 0usize..JPEG_PREFIXES.len(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..40)), 1..8),
        trailer in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let base = base_jpeg();
        let bounds = jpeg_boundaries(&base);
        let mut inserts: Vec<(usize, Vec<u8>)> = Vec::new();
        for (at, marker, prefix, utf16, pad) in &segs {
            let payload = planted_payload(JPEG_PREFIXES[*prefix], &encode(&secret, *utf16), pad);
            let mut seg = vec![0xFF, *marker];
            seg.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
            seg.extend_from_slice(&payload);
            inserts.push((bounds[at % bounds.len()], seg));
        }
        inserts.sort_by_key(|(at, _)| *at);
        let mut file = Vec::new();
        let mut last = 0;
        for (at, seg) in &inserts {
            file.extend_from_slice(&base[last..*at]);
            file.extend_from_slice(seg);
            last = *at;
        }
        file.extend_from_slice(&base[last..]);
        if let Some(t) = &trailer {
            file.extend_from_slice(t);
            file.extend_from_slice(secret.as_bytes());
        }
        let s = sanitise(&file, &Limits::default()).expect("sanitises");
        for enc in [false, true] {
            prop_assert!(!contains(&s.bytes, &encode(&secret, enc)));
        }
        prop_assert_eq!(jpeg::scan_data(&base).expect("scan"), jpeg::scan_data(&s.bytes).expect("scan"));
        prop_assert!(verify(&s.bytes, s.format).is_ok());
    }
}

// ---------------------------------------------------------------- PNG

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    let crc = crc32fast::hash(&v[4..]);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

/// Signature, IHDR, the image data chunks, IEND as separate pieces.
fn base_png_chunks() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            base_image().as_raw(),
            16,
            12,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode");
    let mut chunks = Vec::new();
    let mut pos = 8;
    while pos < out.len() {
        let len = u32::from_be_bytes([out[pos], out[pos + 1], out[pos + 2], out[pos + 3]]) as usize;
        chunks.push(out[pos..pos + 12 + len].to_vec());
        pos += 12 + len;
    }
    (out[..8].to_vec(), chunks)
}

const PNG_KINDS: &[&[u8; 4]] = &[
    b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf", b"prVW", b"mkBT", b"vpAg", b"sPLT", b"caNv",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn png_planted_strings_never_leak(
        secret in secret_strategy(),
        chunks in prop::collection::vec((any::<bool>(), 0usize..PNG_KINDS.len(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..32)), 1..8),
        trailer in any::<bool>(),
    ) {
        let (sig, base) = base_png_chunks();
        let (ihdr, rest) = base.split_first().expect("IHDR");
        let (iend, data) = rest.split_last().expect("IEND");
        let mut before = Vec::new();
        let mut after = Vec::new();
        for (pre_idat, kind, utf16, pad) in &chunks {
            let payload = planted_payload(b"Comment\0", &encode(&secret, *utf16), pad);
            let c = png_chunk(PNG_KINDS[*kind], &payload);
            if *pre_idat { before.push(c) } else { after.push(c) }
        }
        let mut file = sig.clone();
        file.extend_from_slice(ihdr);
        before.iter().for_each(|c| file.extend_from_slice(c));
        data.iter().for_each(|c| file.extend_from_slice(c));
        after.iter().for_each(|c| file.extend_from_slice(c));
        file.extend_from_slice(iend);
        if trailer {
            file.extend_from_slice(secret.as_bytes());
        }
        let s = sanitise(&file, &Limits::default()).expect("sanitises");
        for enc in [false, true] {
            prop_assert!(!contains(&s.bytes, &encode(&secret, enc)));
        }
        let a = image::load_from_memory(&file).expect("decode").to_rgb8();
        let b = image::load_from_memory(&s.bytes).expect("decode").to_rgb8();
        prop_assert_eq!(a.as_raw(), b.as_raw());
    }
}

// ---------------------------------------------------------------- WebP

fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = kind.to_vec();
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    if data.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn base_vp8l() -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(
            base_image().as_raw(),
            16,
            12,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encode");
    // RIFF header (12) + "VP8L" chunk.
    let len = u32::from_le_bytes([out[16], out[17], out[18], out[19]]) as usize;
    out[20..20 + len].to_vec()
}

const WEBP_KINDS: &[&[u8; 4]] = &[b"EXIF", b"XMP ", b"XMP\0", b"JUNK", b"ICCX", b"meta"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn webp_planted_strings_never_leak(
        secret in secret_strategy(),
        chunks in prop::collection::vec((any::<bool>(), 0usize..WEBP_KINDS.len(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..33)), 1..6),
        flags in any::<u8>(),
        trailer in any::<bool>(),
    ) {
        let vp8l = base_vp8l();
        let mut vp8x = vec![flags & 0x0C, 0, 0, 0];
        vp8x.extend_from_slice(&15u32.to_le_bytes()[..3]);
        vp8x.extend_from_slice(&11u32.to_le_bytes()[..3]);
        let mut body = b"WEBP".to_vec();
        body.extend_from_slice(&riff_chunk(b"VP8X", &vp8x));
        let mut after = Vec::new();
        for (before_image, kind, utf16, pad) in &chunks {
            let c = riff_chunk(WEBP_KINDS[*kind], &planted_payload(b"", &encode(&secret, *utf16), pad));
            if *before_image { body.extend_from_slice(&c) } else { after.push(c) }
        }
        body.extend_from_slice(&riff_chunk(b"VP8L", &vp8l));
        after.iter().for_each(|c| body.extend_from_slice(c));
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        if trailer {
            file.extend_from_slice(secret.as_bytes());
        }
        let s = sanitise(&file, &Limits::default()).expect("sanitises");
        for enc in [false, true] {
            prop_assert!(!contains(&s.bytes, &encode(&secret, enc)));
        }
        let b = image::load_from_memory(&s.bytes).expect("decode").to_rgb8();
        let want = base_image();
        prop_assert_eq!(b.as_raw(), want.as_raw());
    }
}
