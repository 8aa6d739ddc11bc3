//! The TIFF rewriter on files built tag by tag.

use super::*;

/// A little- or big-endian RGB TIFF of `w`×`h` in one uncompressed
/// strip, with the extra entries given (tag, type, count, value bytes
/// in file order: inline when they fit, appended otherwise).
pub(crate) fn tiff(big: bool, w: u16, h: u16, extra: &[(u16, u16, u32, Vec<u8>)]) -> Vec<u8> {
    let order = if big { Order::Big } else { Order::Little };
    let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h) * 3)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let s = |v: u16| {
        let mut b = Vec::new();
        order.put_u16(&mut b, v);
        b
    };
    let l = |v: u32| {
        let mut b = Vec::new();
        order.put_u32(&mut b, v);
        b
    };
    let mut entries: Vec<(u16, u16, u32, Vec<u8>)> = vec![
        (IMAGE_WIDTH, 3, 1, s(w)),
        (IMAGE_LENGTH, 3, 1, s(h)),
        (BITS_PER_SAMPLE, 3, 3, [s(8), s(8), s(8)].concat()),
        (COMPRESSION, 3, 1, s(1)),
        (PHOTOMETRIC, 3, 1, s(2)),
        (STRIP_OFFSETS, 4, 1, l(0)), // patched below
        (SAMPLES_PER_PIXEL, 3, 1, s(3)),
        (ROWS_PER_STRIP, 3, 1, s(h)),
        (STRIP_BYTE_COUNTS, 4, 1, l(pixels.len() as u32)),
    ];
    entries.extend(extra.iter().cloned());
    entries.sort_by_key(|e| e.0);
    let ifd_len = 2 + 12 * entries.len() + 4;
    let mut tail = Vec::new();
    let tail_at = 8 + ifd_len;
    let mut ifd = Vec::new();
    order.put_u16(&mut ifd, entries.len() as u16);
    let pixels_at = {
        let extra_len: usize = entries
            .iter()
            .filter(|e| e.3.len() > 4)
            .map(|e| e.3.len() + e.3.len() % 2)
            .sum();
        tail_at + extra_len
    };
    for (tag, kind, count, value) in &entries {
        order.put_u16(&mut ifd, *tag);
        order.put_u16(&mut ifd, *kind);
        order.put_u32(&mut ifd, *count);
        let value = if *tag == STRIP_OFFSETS {
            l(pixels_at as u32)
        } else {
            value.clone()
        };
        if value.len() > 4 {
            order.put_u32(&mut ifd, (tail_at + tail.len()) as u32);
            tail.extend_from_slice(&value);
            if value.len() % 2 == 1 {
                tail.push(0);
            }
        } else {
            let mut inline = [0u8; 4];
            inline[..value.len()].copy_from_slice(&value);
            ifd.extend_from_slice(&inline);
        }
    }
    order.put_u32(&mut ifd, 0);
    let mut out = if big { b"MM".to_vec() } else { b"II".to_vec() };
    order.put_u16(&mut out, 42);
    order.put_u32(&mut out, 8);
    out.extend(ifd);
    out.extend(tail);
    assert_eq!(out.len(), pixels_at);
    out.extend(pixels);
    out
}

fn ascii(s: &str) -> (u32, Vec<u8>) {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    (v.len() as u32, v)
}

#[test]
fn keeps_the_picture_and_drops_descriptive_tags() {
    for big in [false, true] {
        let (n, make) = ascii("SecretCam Corporation");
        let (m, artist) = ascii("Jane Patient-Name");
        let input = tiff(big, 5, 3, &[(271, 2, n, make), (315, 2, m, artist)]);
        let (out, before) = sanitise(&input, &Limits::default()).expect("sanitised");
        assert!(!contains(&out.bytes, b"SecretCam"));
        assert!(!contains(&out.bytes, b"Patient-Name"));
        assert_eq!((out.width, out.height), (5, 3));
        let mut after = Picture::default();
        verify_structure(&out.bytes, &Limits::default(), Some(&mut after)).expect("verified");
        crate::lossless::compare(F, &before, &after).expect("same picture");
    }
}

#[test]
fn private_xmp_and_exif_tags_go_whatever_their_type() {
    let secret = b"NHS 943 476 5919".to_vec();
    let xmp = [
        b"<x:xmpmeta>".to_vec(),
        secret.clone(),
        b"</x:xmpmeta>".to_vec(),
    ]
    .concat();
    let input = tiff(
        false,
        4,
        2,
        &[
            (700, 1, xmp.len() as u32, xmp),                 // XMP
            (33723, 7, secret.len() as u32, secret.clone()), // IPTC
            (65000, 7, secret.len() as u32, secret.clone()), // private
            (34665, 4, 1, vec![0, 0, 0, 0]),                 // EXIF IFD pointer
        ],
    );
    assert!(contains(&input, &secret), "test input");
    let (out, _) = sanitise(&input, &Limits::default()).expect("sanitised");
    assert!(!contains(&out.bytes, &secret), "a planted value survived");
    verify_structure(&out.bytes, &Limits::default(), None).expect("verified");
}

#[test]
fn a_second_page_is_refused_and_a_thumbnail_dropped() {
    let mut input = tiff(false, 4, 4, &[]);
    // Point IFD0's next-IFD field at a copy of IFD0 appended at the end.
    let n = usize::from(u16::from_le_bytes([input[8], input[9]]));
    let ifd = input[8..8 + 2 + 12 * n + 4].to_vec();
    let at = input.len() as u32;
    input.extend_from_slice(&ifd);
    let next = 8 + 2 + 12 * n;
    input[next..next + 4].copy_from_slice(&at.to_le_bytes());
    let Err(e) = sanitise(&input, &Limits::default()) else {
        panic!("a second page must be refused");
    };
    assert_eq!(e.code(), "media.unsupported_feature");
    assert!(e.to_string().contains("multi-page"), "{e}");
}

#[test]
fn bigtiff_and_dng_are_refused_by_name() {
    let mut big = tiff(false, 2, 2, &[]);
    big[2] = 43;
    let Err(e) = sanitise(&big, &Limits::default()) else {
        panic!("BigTIFF must be refused");
    };
    assert!(e.to_string().contains("BigTIFF"), "{e}");
    let dng = tiff(false, 2, 2, &[(DNG_VERSION, 1, 4, vec![1, 4, 0, 0])]);
    let Err(e) = sanitise(&dng, &Limits::default()) else {
        panic!("DNG must be refused");
    };
    assert_eq!(e.code(), "media.unsupported_format");
    assert!(e.to_string().contains("DNG"), "{e}");
}

#[test]
fn verifier_refuses_hidden_bytes_and_foreign_tags() {
    let input = tiff(false, 3, 3, &[]);
    let (out, _) = sanitise(&input, &Limits::default()).expect("sanitised");
    let mut trailing = out.bytes.clone();
    trailing.extend_from_slice(b"GPS 51.5N");
    let e = verify_structure(&trailing, &Limits::default(), None).expect_err("trailing");
    assert_eq!(e.code(), "media.verification_failed");
    let (n, make) = ascii("SecretCam");
    let with_make = tiff(false, 3, 3, &[(271, 2, n, make)]);
    let e = verify_structure(&with_make, &Limits::default(), None).expect_err("tag 271");
    assert!(e.to_string().contains("tag 271"), "{e}");
}

#[test]
fn a_changed_strip_is_not_the_same_picture() {
    let input = tiff(false, 3, 3, &[]);
    let (out, before) = sanitise(&input, &Limits::default()).expect("sanitised");
    let mut bytes = out.bytes.clone();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    let mut after = Picture::default();
    verify_structure(&bytes, &Limits::default(), Some(&mut after)).expect("structure");
    let e = crate::lossless::compare(F, &before, &after).expect_err("differs");
    assert!(e.to_string().contains("original picture"), "{e}");
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}
