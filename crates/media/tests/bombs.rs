//! Decompression bombs and CPU bombs are refused from their headers, with
//! a coded message, by the sanitiser (import, strip), the structural
//! verifier (the send-time gate, the server's intake) and the thumbnailer
//! alike; `bench/hostile/run.sh` prints what refusing them costs.

#[path = "support/bombs.rs"]
mod bombs;

use clinshare_media::{
    sanitise, sanitise_with, thumbnail, verify_structure, Format, Limits, Verification,
};

/// Refused everywhere, with `code`.
fn refused(bytes: &[u8], format: Format, code: &str) {
    let e = sanitise(bytes, &Limits::default()).expect_err("sanitise must refuse");
    assert_eq!(e.code(), code, "sanitise: {e}");
    let e = sanitise_with(bytes, &Limits::default(), Verification::Structure)
        .expect_err("structural sanitise must refuse");
    assert_eq!(e.code(), code, "structure: {e}");
    assert!(
        verify_structure(bytes, format).is_err(),
        "the verifier passed it"
    );
    assert!(thumbnail(bytes, 256).is_err(), "a thumbnail was made");
}

#[test]
fn a_png_that_decodes_to_1_6_gb_is_refused_from_its_header() {
    let bomb = bombs::png_rgba16_header(14142);
    assert!(bomb.len() < 100, "test input");
    refused(&bomb, Format::Png, "media.decode_too_large");
    let e = sanitise(&bomb, &Limits::default()).expect_err("refused");
    assert!(e.to_string().contains("1526 MB of memory"), "{e}");
}

#[test]
fn a_16_bit_png_within_the_budget_still_imports() {
    let ok = bombs::png_rgba16(1000);
    let s = sanitise(&ok, &Limits::default()).expect("8 MB decoded is fine");
    assert_eq!((s.width, s.height), (1000, 1000));
    thumbnail(&s.bytes, 256).expect("thumbnail");
}

#[test]
fn a_jpeg_claiming_65500_square_is_refused() {
    refused(
        &bombs::jpeg_claiming(65500, 65500),
        Format::Jpeg,
        "media.dimensions_too_large",
    );
}

#[test]
fn a_progressive_jpeg_with_10000_scans_is_refused_before_decoding() {
    let bomb = bombs::jpeg_progressive(10_000);
    refused(&bomb, Format::Jpeg, "media.unsupported_feature");
    let e = sanitise(&bomb, &Limits::default()).expect_err("refused");
    assert!(e.to_string().contains("10000 scans"), "{e}");
    // A file within the limit is not refused for its scans.
    let e = sanitise_with(
        &bombs::jpeg_progressive(20),
        &Limits::default(),
        Verification::Structure,
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(!e.contains("scans"), "{e}");
}

#[test]
fn the_largest_webp_is_refused() {
    refused(
        &bombs::webp_claiming(16383, 16383),
        Format::WebP,
        "media.dimensions_too_large",
    );
}

#[test]
fn a_heic_grid_of_4096_tiles_is_refused() {
    let bomb = bombs::heic_grid(4096);
    let e = sanitise_with(&bomb, &Limits::default(), Verification::Structure).expect_err("refused");
    assert_eq!(e.code(), "media.unsupported_feature", "{e}");
    assert!(e.to_string().contains("4096"), "{e}");
    // The server's check, on what a modified client sends as it is.
    let e = verify_structure(&bomb, Format::Heic).expect_err("the server refuses it too");
    assert_eq!(e.code(), "media.unsupported_feature", "{e}");
    assert!(e.to_string().contains("4097 items"), "{e}");
}

#[test]
fn a_movie_listing_more_samples_than_the_limit_is_refused_before_reading_them() {
    let limits = Limits {
        max_track_samples: 1000,
        ..Limits::default()
    };
    let ok = bombs::mp4_samples(1000);
    sanitise_with(&ok, &limits, Verification::Structure).expect("at the limit");
    let bomb = bombs::mp4_samples(1001);
    let e = sanitise_with(&bomb, &limits, Verification::Structure).expect_err("refused");
    assert!(e.to_string().contains("1001 samples"), "{e}");
    // The server's check, at the default limit, on what a modified client
    // sends as it is (a 40 MB size table).
    let big = bombs::mp4_samples(10_000_001);
    let e = verify_structure(&big, Format::Mp4).expect_err("the server refuses it too");
    assert_eq!(e.code(), "media.unsupported_feature", "{e}");
    assert!(e.to_string().contains("10000001 samples"), "{e}");
}
