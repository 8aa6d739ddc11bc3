//! Sanitise, verify and thumbnail a 12 MP JPEG.
//!
//! Uses `$CLINSHARE_BENCH_JPEG` when set (e.g. a file made by
//! bench/strip/make-photos.sh); otherwise synthesises a 4000x3000 JPEG with
//! an EXIF block and a trailer.

use clinshare_media::{
    sanitise, sanitise_with, thumbnail, verify, verify_structure, Format, Limits, Verification,
    PREVIEW_PX, THUMBNAIL_PX,
};
use criterion::{criterion_group, criterion_main, Criterion};
use image::ImageEncoder;
use std::hint::black_box;

fn photo() -> Vec<u8> {
    if let Ok(p) = std::env::var("CLINSHARE_BENCH_JPEG") {
        return std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    let (w, h) = (4000u32, 3000u32);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
            [
                (x / 16) as u8 ^ n as u8,
                (y / 12) as u8,
                ((x + y) / 28) as u8,
            ]
        })
        .collect();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .write_image(&px, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    // Splice in an EXIF APP1 after SOI and a trailer after EOI.
    let mut exif =
        b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
    exif.extend(std::iter::repeat_n(b'x', 30_000));
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out.extend(std::iter::repeat_n(0xAB, 100_000));
    out
}

fn benches(c: &mut Criterion) {
    let src = photo();
    let limits = Limits::default();
    let clean = sanitise(&src, &limits).expect("sanitise");
    let mut g = c.benchmark_group("jpeg_12mp");
    g.sample_size(10);
    g.bench_function("sanitise", |b| {
        b.iter(|| sanitise(black_box(&src), &limits).expect("ok"))
    });
    g.bench_function("sanitise_structure", |b| {
        b.iter(|| sanitise_with(black_box(&src), &limits, Verification::Structure).expect("ok"))
    });
    g.bench_function("verify", |b| {
        b.iter(|| verify(black_box(&clean.bytes), Format::Jpeg).expect("ok"))
    });
    // What the send-time gate and the server run on every photo.
    g.bench_function("verify_structure", |b| {
        b.iter(|| verify_structure(black_box(&clean.bytes), Format::Jpeg).expect("ok"))
    });
    g.bench_function("thumbnail_256", |b| {
        b.iter(|| thumbnail(black_box(&clean.bytes), THUMBNAIL_PX).expect("ok"))
    });
    g.bench_function("preview_1600", |b| {
        b.iter(|| thumbnail(black_box(&clean.bytes), PREVIEW_PX).expect("ok"))
    });
    g.finish();
}

criterion_group!(media, benches);
criterion_main!(media);
