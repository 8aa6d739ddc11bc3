//! Baseline TIFF on real files: the picture survives byte for byte, the
//! metadata does not, and what cannot be cleaned with certainty is refused.

use clinshare_media::{sanitise, sniff, thumbnail, verify, Format, Limits, RemovedKind};
use std::io::Cursor;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Tiff)
        .expect("decodes")
        .to_rgba16()
        .into_raw()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

fn tags(bytes: &[u8]) -> Vec<(exif::Tag, exif::In)> {
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(e) => e.fields().map(|f| (f.tag, f.ifd_num)).collect(),
        Err(_) => vec![],
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn real_tiffs_keep_their_pixels_and_lose_their_metadata() {
    // Big-endian deflate with a GPS IFD; LZW with IPTC and XMP; a palette
    // picture with GeoTIFF keys.
    for (name, gone) in [
        (
            "kam_yaminabe.tif",
            &[exif::Tag::GPSLatitude, exif::Tag::ImageDescription][..],
        ),
        (
            "et_ExifTool.tif",
            &[exif::Tag::Make, exif::Tag::Model, exif::Tag::Software][..],
        ),
        ("et_GeoTiff.tif", &[][..]),
    ] {
        let src = fixture(name);
        assert_eq!(sniff(&src).expect("sniff"), Format::Tiff, "{name}");
        let s = sanitise(&src, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.format, Format::Tiff);
        // The `image` crate draws no palette pictures; the thumbnailer
        // (which looks colours up itself) compares those.
        if name != "et_GeoTiff.tif" {
            assert_eq!(pixels(&src), pixels(&s.bytes), "{name}: pixels changed");
        }
        assert_eq!(
            thumbnail(&src, 64).expect("original thumbnail"),
            thumbnail(&s.bytes, 64).expect("copy thumbnail"),
            "{name}: the pictures differ"
        );
        let left = tags(&s.bytes);
        for tag in gone {
            assert!(
                tags(&src).iter().any(|(t, _)| t == tag),
                "{name}: test input"
            );
            assert!(!left.iter().any(|(t, _)| t == tag), "{name}: {tag} kept");
        }
        assert!(
            left.iter().all(|(_, ifd)| *ifd == exif::In::PRIMARY),
            "{name}: a second IFD kept"
        );
        verify(&s.bytes, Format::Tiff).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The structural level (strip's default, the gate, the server).
        clinshare_media::verify_structure(&s.bytes, Format::Tiff)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        clinshare_media::sanitise_with(
            &src,
            &Limits::default(),
            clinshare_media::Verification::Structure,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = sanitise(&s.bytes, &Limits::default()).expect("the copy sanitises");
        assert_eq!(again.bytes, s.bytes, "{name}: sanitising is not idempotent");
    }
}

#[test]
fn identifying_values_are_gone_from_the_bytes() {
    let src = fixture("kam_yaminabe.tif");
    let s = sanitise(&src, &Limits::default()).expect("sanitised");
    assert!(s.removed.iter().any(|r| r.kind == RemovedKind::Exif));
    // Owner name and serial number sit in the EXIF IFD as ASCII.
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&src))
        .expect("test input");
    for tag in [exif::Tag::CameraOwnerName, exif::Tag::BodySerialNumber] {
        if let Some(f) = exif.get_field(tag, exif::In::PRIMARY) {
            if let exif::Value::Ascii(v) = &f.value {
                let value = v.first().expect("value");
                assert!(contains(&src, value), "test input");
                assert!(!contains(&s.bytes, value), "{tag} value kept");
            }
        }
    }
    let geo = fixture("et_GeoTiff.tif");
    let s = sanitise(&geo, &Limits::default()).expect("sanitised");
    assert!(s
        .removed
        .iter()
        .any(|r| r.detail.as_deref() == Some("GeoTIFF tag")));
}

#[test]
fn camera_raw_is_refused_with_a_clear_message() {
    let e = sanitise(&fixture("et_DNG.dng"), &Limits::default()).expect_err("DNG refused");
    assert_eq!(e.code(), "media.unsupported_format");
    assert!(e.to_string().contains("DNG"), "{e}");
}

#[test]
fn a_truncated_tiff_is_refused_not_half_kept() {
    let src = fixture("et_ExifTool.tif");
    let cut = &src[..src.len() / 2];
    let e = sanitise(cut, &Limits::default()).expect_err("truncated");
    assert!(
        matches!(
            e.code(),
            "media.malformed" | "media.verification_failed" | "media.undecodable"
        ),
        "{e}"
    );
}
