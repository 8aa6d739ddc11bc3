//! Phone photos that every viewer shows despite damage outside the coded
//! picture: the sanitiser repairs the damage, reports it, and writes the
//! same copy as for the undamaged photo. The cases are rebuilt from a
//! clean fixture, as the phones damage them.

use clinshare_media::{jpeg, sanitise, verify, Format, Limits, RemovedKind, Sanitised};

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// Offsets of every marker segment before the first scan: (start, marker, end).
fn segments(j: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= j.len() && j[pos] == 0xFF && j[pos + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([j[pos + 2], j[pos + 3]]));
        out.push((pos, j[pos + 1], pos + 2 + len));
        pos += 2 + len;
    }
    out
}

fn clean(bytes: &[u8]) -> Sanitised {
    sanitise(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn damaged(s: &Sanitised, detail: &str) -> bool {
    s.removed
        .iter()
        .any(|r| r.kind == RemovedKind::Damaged && r.detail.as_deref() == Some(detail))
}

#[test]
fn an_app1_whose_length_runs_past_its_end_is_dropped_and_the_rest_kept() {
    let src = fixture("dn_Sony_Cybershot_5.jpg");
    let (start, _, end) = *segments(&src)
        .iter()
        .find(|s| s.1 == 0xE1)
        .expect("the fixture has an APP1");
    assert_ne!(src.get(end + 11), Some(&0xFF), "test input");
    let mut bad = src.clone();
    let len = u16::from_be_bytes([bad[start + 2], bad[start + 3]]) + 11;
    bad[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());

    let repaired = clean(&bad);
    assert!(
        damaged(&repaired, "overlong APP1"),
        "{:?}",
        repaired.removed
    );
    assert_eq!(repaired.bytes, clean(&src).bytes, "the copy differs");
    assert_eq!(
        jpeg::scan_data(&repaired.bytes).expect("out"),
        jpeg::scan_data(&src).expect("in")
    );
    verify(&repaired.bytes, Format::Jpeg).expect("the copy verifies");
}

#[test]
fn a_stray_byte_between_segments_is_skipped() {
    let src = fixture("dn_Sony_Cybershot_5.jpg");
    let segs = segments(&src);
    // Before the quantisation tables: a coding segment must survive it.
    let (dqt, _, _) = *segs.iter().find(|s| s.1 == 0xDB).expect("DQT");
    for stray in [&[0x00][..], &[0x4A, 0x00, 0x13]] {
        let mut bad = src.clone();
        bad.splice(dqt..dqt, stray.iter().copied());
        let repaired = clean(&bad);
        assert!(damaged(&repaired, "stray bytes"), "{:?}", repaired.removed);
        assert_eq!(repaired.bytes, clean(&src).bytes, "the copy differs");
    }
}

#[test]
fn the_verifier_does_not_repair() {
    // The repair is the sanitiser's: a copy with a stray byte is refused.
    let copy = clean(&fixture("dn_Sony_Cybershot_5.jpg")).bytes;
    let (dqt, _, _) = *segments(&copy).iter().find(|s| s.1 == 0xDB).expect("DQT");
    let mut bad = copy.clone();
    bad.insert(dqt, 0);
    let e = verify(&bad, Format::Jpeg).expect_err("strict");
    assert_eq!(e.code(), "media.verification_failed");
}

#[test]
fn arithmetic_coding_is_refused_with_a_message_that_says_so() {
    let mut j = vec![0xFF, 0xD8];
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend_from_slice(&[1; 64]);
    j.extend_from_slice(&[0xFF, 0xC9, 0x00, 0x0B, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, 0x12, 0x34]);
    j.extend_from_slice(&[0xFF, 0xD9]);
    let e = sanitise(&j, &Limits::default()).expect_err("arithmetic");
    assert_eq!(e.code(), "media.unsupported_feature");
    assert!(e.to_string().contains("arithmetic coding"), "{e}");
}

#[test]
fn damage_inside_the_coded_picture_is_still_refused() {
    // Cut inside the scan: no repair reaches coded data.
    let src = fixture("dn_Sony_Cybershot_5.jpg");
    let cut = &src[..src.len() - 200];
    assert!(sanitise(cut, &Limits::default()).is_err());
}
