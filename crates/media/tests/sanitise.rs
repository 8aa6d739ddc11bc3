//! Behaviour of sanitise/verify/thumbnail on small real-world fixtures.

use clinshare_media::{
    jpeg, sanitise, sniff, thumbnail, verify, verify_structure, Format, Limits, MediaError,
    RemovedKind, Sanitised,
};
use std::io::Cursor;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn clean(name: &str) -> Sanitised {
    sanitise(&fixture(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn exif_fields(bytes: &[u8]) -> Vec<exif::Tag> {
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(e) => e.fields().map(|f| f.tag).collect(),
        Err(_) => vec![],
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes)
        .expect("decodes")
        .to_rgba16()
        .into_raw()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

fn has_kind(s: &Sanitised, kind: RemovedKind) -> bool {
    s.removed.iter().any(|r| r.kind == kind)
}

#[test]
fn jpeg_keeps_entropy_data_and_drops_everything_else() {
    let src = fixture("et_ExifTool.jpg");
    let s = clean("et_ExifTool.jpg");
    assert_eq!(s.format, Format::Jpeg);
    assert_eq!(
        jpeg::scan_data(&src).expect("src"),
        jpeg::scan_data(&s.bytes).expect("out")
    );
    for kind in [
        RemovedKind::Exif,
        RemovedKind::Xmp,
        RemovedKind::JfifThumbnail,
        RemovedKind::MultiPicture,
    ] {
        assert!(has_kind(&s, kind), "{kind:?} not reported: {:?}", s.removed);
    }
    assert!(exif_fields(&s.bytes)
        .iter()
        .all(|t| *t == exif::Tag::Orientation));
    for secret in [
        &b"ExifTool"[..],
        b"Phil Harvey",
        b"adobe:ns:meta",
        b"Photoshop",
    ] {
        assert!(
            !contains(&s.bytes, secret),
            "{} survived",
            String::from_utf8_lossy(secret)
        );
    }
    assert_eq!(pixels(&src), pixels(&s.bytes));
}

#[test]
fn jpeg_orientation_is_kept_as_the_only_exif_tag() {
    let s = clean("ia_landscape_6.jpg");
    assert_eq!(s.orientation, Some(6));
    let e = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&s.bytes))
        .expect("exif kept");
    let o = e
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .expect("orientation");
    assert_eq!(o.value.get_uint(0), Some(6));
    assert_eq!(e.fields().count(), 1);
}

#[test]
fn jpeg_multi_segment_icc_profile_is_byte_identical() {
    let src = fixture("dn_Multiple_ICC_segments.jpg");
    let s = clean("dn_Multiple_ICC_segments.jpg");
    let before = jpeg::icc_profile(&src).expect("walk").expect("profile");
    let after = jpeg::icc_profile(&s.bytes)
        .expect("walk")
        .expect("profile kept");
    assert_eq!(before, after);
    assert!(before.len() > 65_000, "profile spans several segments");
}

#[test]
fn jpeg_trailer_after_eoi_is_removed() {
    let s = clean("et_FotoStation.jpg");
    assert!(has_kind(&s, RemovedKind::TrailingData));
    assert_eq!(&s.bytes[s.bytes.len() - 2..], &[0xFF, 0xD9]);
}

#[test]
fn jpeg_jfxx_thumbnail_is_removed_and_capture_time_returned() {
    let s = clean("dn_Sony_Cybershot_5.jpg");
    assert!(has_kind(&s, RemovedKind::JfifThumbnail));
    let t = s.captured_at.as_ref().expect("capture time");
    assert_eq!(t.local, "2002-05-25T07:08:26");
}

#[test]
fn cmyk_jpeg_keeps_adobe_segment_and_colours() {
    let src = fixture("cmyk_adobe.jpg");
    let s = clean("cmyk_adobe.jpg");
    assert!(contains(&s.bytes, b"Adobe"));
    assert_eq!(pixels(&src), pixels(&s.bytes));
    // The thumbnail path decodes with another decoder: colours must agree.
    let thumb = image::load_from_memory(&thumbnail(&s.bytes, 256).expect("thumb"))
        .expect("jpeg")
        .to_rgb8();
    let full = image::load_from_memory(&s.bytes).expect("decode").to_rgb8();
    let (a, b) = (thumb.get_pixel(2, 32), full.get_pixel(2, 32));
    for c in 0..3 {
        assert!(
            (i32::from(a[c]) - i32::from(b[c])).abs() < 24,
            "thumb {a:?} vs full {b:?}"
        );
    }
}

#[test]
fn png_keeps_pixels_and_drops_text_time_and_exif() {
    let src = fixture("dn_sampleWithExifData.png");
    let s = clean("dn_sampleWithExifData.png");
    assert_eq!(pixels(&src), pixels(&s.bytes));
    for kind in [RemovedKind::Text, RemovedKind::Timestamp, RemovedKind::Exif] {
        assert!(has_kind(&s, kind), "{kind:?}: {:?}", s.removed);
    }
    assert!(exif_fields(&s.bytes).is_empty());
}

#[test]
fn png_named_jpg_is_sniffed_as_png() {
    let src = fixture("ente_normalphoto.jpg");
    assert_eq!(sniff(&src).expect("sniff"), Format::Png);
    assert_eq!(clean("ente_normalphoto.jpg").format, Format::Png);
}

#[test]
fn webp_drops_exif_xmp_and_unknown_chunks_and_fixes_the_header() {
    for name in ["kam_exif.webp", "et_RIFF.webp", "dn_Issue_473_Java.webp"] {
        let src = fixture(name);
        let s = clean(name);
        assert_eq!(pixels(&src), pixels(&s.bytes), "{name}");
        let riff = u32::from_le_bytes([s.bytes[4], s.bytes[5], s.bytes[6], s.bytes[7]]) as usize;
        assert_eq!(riff + 8, s.bytes.len(), "{name}: RIFF size");
        assert!(!contains(&s.bytes, b"XMP "), "{name}");
        assert!(
            exif_fields(&s.bytes)
                .iter()
                .all(|t| *t == exif::Tag::Orientation),
            "{name}"
        );
    }
    // Orientation 6 survives in a minimal EXIF chunk with the VP8X flag set.
    let s = clean("dn_Issue_473_Java.webp");
    assert_eq!(s.orientation, Some(6));
    assert_eq!(exif_fields(&s.bytes), vec![exif::Tag::Orientation]);
}

#[test]
fn heif_and_avif_lose_exif_items_but_keep_the_picture() {
    for name in ["kam_exif.heic", "dn_32Bit-72dpi-sRGB-800x600.avif"] {
        let s = clean(name);
        assert!(has_kind(&s, RemovedKind::Exif), "{name}: {:?}", s.removed);
        assert!(exif_fields(&s.bytes).is_empty(), "{name}");
        assert!(!contains(&s.bytes, b"Exif\0\0"), "{name}");
        let v = verify(&s.bytes, s.format).expect("verifies");
        assert_eq!((v.width, v.height), (s.width, s.height));
    }
    let s = clean("dn_32Bit-72dpi-sRGB-800x600.avif");
    assert_eq!((s.format, s.width, s.height), (Format::Avif, 800, 600));
    // Video has no thumbnail; HEIF/AVIF do (see the libheif test below).
    let mov = clean("dn_with-gps.mov");
    assert!(matches!(
        thumbnail(&mov.bytes, 256),
        Err(MediaError::ThumbnailUnavailable { .. })
    ));
}

#[test]
fn mov_loses_location_track_and_dates_and_keeps_offsets_valid() {
    let src = fixture("dn_with-gps.mov");
    let s = clean("dn_with-gps.mov");
    assert_eq!(s.format, Format::Mov);
    assert!(has_kind(&s, RemovedKind::ZeroedTimestamps));
    assert!(has_kind(&s, RemovedKind::MetadataTrack) || has_kind(&s, RemovedKind::UserData));
    assert!(s.captured_at.is_some());
    for secret in [
        &b"com.apple.quicktime.location.ISO6709"[..],
        b"com.apple.quicktime.make",
        b"detected-face",
    ] {
        assert!(contains(&src, secret));
        assert!(
            !contains(&s.bytes, secret),
            "{}",
            String::from_utf8_lossy(secret)
        );
    }
    verify(&s.bytes, Format::Mov).expect("verifies");
}

#[test]
fn sanitising_is_idempotent() {
    for name in [
        "et_ExifTool.jpg",
        "ia_landscape_6.jpg",
        "kam_exif.png",
        "kam_exif.webp",
        "kam_exif.heic",
        "dn_with-gps.mov",
    ] {
        let once = clean(name);
        let twice = sanitise(&once.bytes, &Limits::default()).expect("re-sanitise");
        assert_eq!(once.bytes, twice.bytes, "{name}");
        assert_eq!(once.sha256(), twice.sha256());
    }
}

#[test]
fn verifier_rejects_unsanitised_originals() {
    for (name, format) in [
        ("et_ExifTool.jpg", Format::Jpeg),
        ("dn_sampleWithExifData.png", Format::Png),
        ("kam_exif.webp", Format::WebP),
        ("kam_exif.heic", Format::Heic),
        ("dn_with-gps.mov", Format::Mov),
    ] {
        let e = verify(&fixture(name), format).expect_err(name);
        assert_eq!(e.code(), "media.verification_failed", "{name}: {e}");
        let e = verify_structure(&fixture(name), format).expect_err(name);
        assert_eq!(e.code(), "media.verification_failed", "{name}: {e}");
    }
    let s = clean("kam_exif.png");
    assert!(
        verify(&s.bytes, Format::Jpeg).is_err(),
        "wrong format must fail"
    );
}

#[test]
fn rejects_bad_and_unsupported_input_with_clear_codes() {
    let cases = [
        ("et_GIF.gif", "media.unsupported_format"),
        ("lx_canon_makernote_variant_1.jpg", "media.malformed"),
        ("dn_fuzzed-276e9fb645fc.webp", "media.malformed"),
        (
            "dn_NegativeArraySizeException.ItemInfoBox.init.heif",
            "media.malformed",
        ),
    ];
    for (name, code) in cases {
        let e = sanitise(&fixture(name), &Limits::default()).expect_err(name);
        assert_eq!(e.code(), code, "{name}: {e}");
    }
    let gif = sanitise(&fixture("et_GIF.gif"), &Limits::default()).expect_err("gif");
    assert!(gif.to_string().contains("GIF"));
}

#[test]
fn limits_reject_oversized_files_and_pictures() {
    let src = fixture("ia_landscape_6.jpg");
    let small = Limits {
        max_image_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(
        sanitise(&src, &small).expect_err("size").code(),
        "media.too_large"
    );
    let tiny = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    assert_eq!(
        sanitise(&src, &tiny).expect_err("pixels").code(),
        "media.dimensions_too_large"
    );
}

#[test]
fn truncated_files_give_errors_not_panics() {
    for name in [
        "et_ExifTool.jpg",
        "kam_exif.png",
        "kam_exif.webp",
        "kam_exif.heic",
        "dn_32Bit-72dpi-sRGB-800x600.avif",
    ] {
        let src = fixture(name);
        for cut in (0..src.len()).step_by((src.len() / 97).max(1)) {
            if let Ok(s) = sanitise(&src[..cut], &Limits::default()) {
                // A prefix may still be a complete file (e.g. trailing data cut off).
                verify(&s.bytes, s.format).expect("anything returned verifies");
            }
        }
    }
}

#[test]
fn thumbnails_are_small_upright_jpegs() {
    let s = clean("ia_landscape_6.jpg"); // 450x600 stored, orientation 6
    let t = image::load_from_memory(&thumbnail(&s.bytes, 256).expect("thumb")).expect("jpeg");
    assert_eq!((t.width(), t.height()), (256, 192), "rotated to landscape");
    let p = image::load_from_memory(&thumbnail(&s.bytes, 1600).expect("preview")).expect("jpeg");
    assert_eq!((p.width(), p.height()), (600, 450), "never upscaled");
    let png = clean("dn_sampleWithExifData.png");
    let t = image::load_from_memory(&thumbnail(&png.bytes, 64).expect("thumb")).expect("jpeg");
    assert_eq!((t.width(), t.height()), (64, 64));
}

/// A JPEG from the image crate's encoder: `px` is row-major, 1 or 3 bytes a pixel.
fn encode_jpeg(px: &[u8], w: u32, h: u32, colour: image::ExtendedColorType) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(px, w, h, colour)
        .expect("encode");
    out
}

/// The thumbnail of a sanitised copy of `src`, decoded.
fn thumb_of(src: &[u8], max_px: u32) -> image::RgbImage {
    let s = sanitise(src, &Limits::default()).expect("sanitise");
    image::load_from_memory(&thumbnail(&s.bytes, max_px).expect("thumb"))
        .expect("jpeg")
        .to_rgb8()
}

/// Each channel of the pixel at (x, y) is within JPEG's error of `want`.
fn assert_near(t: &image::RgbImage, (x, y): (u32, u32), want: [u8; 3]) {
    let p = t.get_pixel(x, y);
    let near = (0..3).all(|c| (i32::from(p[c]) - i32::from(want[c])).abs() < 24);
    assert!(near, "({x}, {y}) is {p:?}, not near {want:?}");
}

#[test]
fn thumbnails_scale_colour_and_grey_jpegs_without_mixing_channels() {
    // Left half red, right half blue: a swapped channel order or a wrong
    // scale would show at once.
    let (w, h) = (1600u32, 1000u32);
    let px: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            if i % w < w / 2 {
                [230, 20, 20]
            } else {
                [20, 20, 230]
            }
        })
        .collect();
    let src = encode_jpeg(&px, w, h, image::ExtendedColorType::Rgb8);
    let t = thumb_of(&src, 256);
    assert_eq!(t.dimensions(), (256, 160));
    assert_near(&t, (40, 80), [230, 20, 20]);
    assert_near(&t, (216, 80), [20, 20, 230]);
    assert_eq!(
        thumb_of(&src, 1600).dimensions(),
        (1600, 1000),
        "the source size"
    );

    // A portrait greyscale picture: one channel in, grey RGB out.
    let (w, h) = (600u32, 900u32);
    let grey: Vec<u8> = (0..w * h)
        .map(|i| if i / w < h / 2 { 40 } else { 200 })
        .collect();
    let t = thumb_of(&encode_jpeg(&grey, w, h, image::ExtendedColorType::L8), 300);
    assert_eq!(t.dimensions(), (200, 300));
    assert_near(&t, (100, 40), [40, 40, 40]);
    assert_near(&t, (100, 260), [200, 200, 200]);
}

#[test]
fn a_thumbnail_of_a_cut_short_jpeg_is_an_error_not_a_grey_picture() {
    let s = clean("ia_landscape_6.jpg");
    let cut = &s.bytes[..s.bytes.len() * 2 / 3];
    let e = thumbnail(cut, 256).expect_err("a truncated scan");
    assert_eq!(e.code(), "media.undecodable", "{e}");
}

#[test]
fn a_jpeg_libjpeg_turbo_warns_about_still_gets_its_thumbnail() {
    let s = clean("ia_landscape_6.jpg");
    // Stray bytes before the frame header: libjpeg-turbo warns ("extraneous
    // bytes before marker 0xc0"), which TurboJPEG turns into an error.
    let sof = s
        .bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    let mut warned = s.bytes[..sof].to_vec();
    warned.extend_from_slice(&[0x12, 0x34]);
    warned.extend_from_slice(&s.bytes[sof..]);
    let t = image::load_from_memory(&thumbnail(&warned, 256).expect("thumb")).expect("jpeg");
    assert_eq!((t.width(), t.height()), (256, 192));
}

#[test]
fn report_serialises_without_values() {
    let s = clean("et_ExifTool.jpg");
    let json = format!("{:?}", s.removed);
    assert!(!json.contains("ExifTool"));
    assert_eq!(s.sha256_hex().len(), 64);
}

#[test]
fn full_verification_rejects_corrupt_entropy_data() {
    let s = clean("ia_landscape_6.jpg");
    let scan = jpeg::scan_data(&s.bytes).expect("scan");
    assert!(scan.len() > 1000, "the fixture needs a real scan");
    let at = s.bytes.len() - scan.len() / 2;
    let mut bad = s.bytes.clone();
    // Stuffed 0xFF bytes are runs of one-bits: no Huffman table has such a
    // code. A lenient decoder greys out the rest and accepts the file.
    for (i, b) in bad[at..at + 64].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0xFF } else { 0x00 };
    }
    let e = verify(&bad, Format::Jpeg).expect_err("corrupt scan must not verify");
    assert_eq!(e.code(), "media.verification_failed", "{e}");
}

#[test]
fn the_exif_reader_at_the_structural_level_sees_every_segment_but_no_coded_data() {
    for name in [
        "et_ExifTool.jpg",
        "dn_Sony_Cybershot_5.jpg",
        "ia_landscape_6.jpg",
    ] {
        let original = fixture(name);
        let skeleton = jpeg::without_coded_data(&original).expect(name);
        // What the reader finds is the same with or without the coded data.
        assert_eq!(exif_fields(&skeleton), exif_fields(&original), "{name}");
        // Only coded data is left out: the scans' headers stay, in order.
        let scans = jpeg::scan_data(&original).expect(name);
        assert!(
            skeleton.len() + scans.len() - 1024 < original.len(),
            "{name}"
        );
        let sos = original
            .windows(2)
            .position(|w| w == [0xFF, 0xDA])
            .expect("SOS");
        assert_eq!(
            skeleton[..sos],
            original[..sos],
            "{name}: every segment before the scan"
        );
        assert_eq!(skeleton[skeleton.len() - 2..], [0xFF, 0xD9]);
        assert!(
            jpeg::scan_data(&skeleton).expect("walks").len() < 1024,
            "{name}"
        );
    }
    assert!(
        exif_fields(&fixture("et_ExifTool.jpg")).len() > 5,
        "the fixture carries EXIF"
    );
}

#[test]
fn heic_and_avif_get_jpeg_thumbnails_and_previews_through_libheif() {
    for name in ["kam_exif.heic", "dn_32Bit-72dpi-sRGB-800x600.avif"] {
        let s = clean(name);
        for max in [clinshare_media::THUMBNAIL_PX, clinshare_media::PREVIEW_PX] {
            let t = thumbnail(&s.bytes, max).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sniff(&t).expect("sniff"), Format::Jpeg, "{name}");
            let img = image::load_from_memory(&t).expect("a JPEG");
            let (w, h) = (img.width(), img.height());
            assert!(w.max(h) <= max, "{name}: {w}x{h}");
            // The picture's shape, upright either way round.
            let (sw, sh) = (s.width.max(s.height), s.width.min(s.height));
            let (long, short) = (w.max(h), w.min(h));
            let want = f64::from(sw) / f64::from(sh);
            let got = f64::from(long) / f64::from(short);
            assert!(
                (want - got).abs() < 0.05,
                "{name}: {w}x{h} from {}x{}",
                s.width,
                s.height
            );
        }
    }
}

#[test]
fn a_broken_heif_gets_an_error_not_a_thumbnail() {
    let e = thumbnail(
        &fixture("dn_NegativeArraySizeException.ItemInfoBox.init.heif"),
        clinshare_media::THUMBNAIL_PX,
    )
    .expect_err("broken");
    assert!(
        matches!(e.code(), "media.undecodable" | "media.malformed"),
        "{}: {e}",
        e.code()
    );
}
