//! Which tracks of a movie (or a HEIF burst) survive, and that what
//! survives names no maker: built box by box, so each case is exact.

use clinshare_media::{sanitise_with, verify_structure, Format, Limits, RemovedKind, Verification};

include!("support/boxes.rs");

fn hdlr(kind: &[u8; 4], name: &str) -> Vec<u8> {
    let mut b = vec![0; 4];
    b.extend_from_slice(kind);
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    full(b"hdlr", 0, &b)
}

fn tkhd(id: u32) -> Vec<u8> {
    let mut b = vec![0; 8]; // creation, modification
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0; 72]);
    full(b"tkhd", 0, &b)
}

fn mdhd() -> Vec<u8> {
    // No dates: the verifier cases must fail for their own reason.
    let mut b = vec![0; 8];
    b.extend_from_slice(&600u32.to_be_bytes());
    b.extend_from_slice(&[0; 8]);
    full(b"mdhd", 0, &b)
}

/// A visual sample entry of `kind` with a compressor name.
fn visual_entry(kind: &[u8; 4], w: u16, h: u16, compressor: &str) -> Vec<u8> {
    let mut b = vec![0; 6];
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[0, 0x48, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 1]);
    let mut name = [0u8; 32];
    name[0] = compressor.len() as u8;
    name[1..=compressor.len()].copy_from_slice(compressor.as_bytes());
    b.extend_from_slice(&name);
    b.extend_from_slice(&[0, 0x18, 0xFF, 0xFF]);
    bx(kind, &b)
}

/// One sample of `len` bytes at `offset` (patched once the layout is known).
fn stbl(entry: &[u8], offset: u32, len: u32) -> Vec<u8> {
    let mut stsd = 1u32.to_be_bytes().to_vec();
    stsd.extend_from_slice(entry);
    let one = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    [
        full(b"stsd", 0, &stsd),
        full(b"stts", 0, &one(&[1, 1, 600])),
        full(b"stsc", 0, &one(&[1, 1, 1, 1])),
        full(b"stsz", 0, &one(&[0, 1, len])),
        full(b"stco", 0, &one(&[1, offset])),
    ]
    .concat()
}

fn dinf() -> Vec<u8> {
    let mut dref = 1u32.to_be_bytes().to_vec();
    dref.extend(full(b"url ", 1, &[]));
    bx(b"dinf", &full(b"dref", 0, &dref))
}

struct Track {
    id: u32,
    handler: &'static [u8; 4],
    name: &'static str,
    entry: Vec<u8>,
    tref: Option<Vec<u8>>,
    sample: Vec<u8>,
}

/// ftyp, moov (mvhd and the tracks), mdat holding each track's one sample;
/// with `meta`, a HEIF still's item box before the movie.
fn movie(brand: &[u8; 4], meta: Option<Vec<u8>>, tracks: &[Track]) -> Vec<u8> {
    let build = |offsets: &[u32]| {
        let mut moov = full(b"mvhd", 0, &[0; 96]);
        for (t, &off) in tracks.iter().zip(offsets) {
            let header = if &t.handler[..] == b"soun" {
                full(b"smhd", 0, &[0; 4])
            } else if &t.handler[..] == b"tmcd" {
                bx(b"gmhd", &full(b"gmin", 0, &[0; 12]))
            } else {
                full(b"vmhd", 1, &[0; 8])
            };
            let minf = [
                header,
                // A track named by its maker also names its data handler.
                hdlr(
                    b"dhlr",
                    if t.name.is_empty() {
                        ""
                    } else {
                        "Apple Alias Data Handler"
                    },
                ),
                dinf(),
                bx(b"stbl", &stbl(&t.entry, off, t.sample.len() as u32)),
            ]
            .concat();
            let mdia = [mdhd(), hdlr(t.handler, t.name), bx(b"minf", &minf)].concat();
            let mut trak = tkhd(t.id);
            if let Some(r) = &t.tref {
                trak.extend(bx(b"tref", r));
            }
            trak.extend(bx(b"mdia", &mdia));
            moov.extend(bx(b"trak", &trak));
        }
        let mut ftyp = brand.to_vec();
        ftyp.extend_from_slice(&[0; 4]);
        ftyp.extend_from_slice(brand);
        let mut head = bx(b"ftyp", &ftyp);
        if let Some(m) = &meta {
            head.extend_from_slice(m);
        }
        head.extend(bx(b"moov", &moov));
        head
    };
    let head_len = build(&vec![0; tracks.len()]).len() as u32 + 8;
    let mut offsets = Vec::new();
    let mut at = head_len;
    for t in tracks {
        offsets.push(at);
        at += t.sample.len() as u32;
    }
    let mut file = build(&offsets);
    file.extend(bx(
        b"mdat",
        &tracks
            .iter()
            .flat_map(|t| t.sample.clone())
            .collect::<Vec<_>>(),
    ));
    file
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn clean(bytes: &[u8]) -> clinshare_media::Sanitised {
    sanitise_with(bytes, &Limits::default(), Verification::Structure).expect("sanitised")
}

#[test]
fn a_timecode_track_and_maker_names_do_not_survive() {
    let video_sample = b"\x00\x00\x00\x05\x65VIDEO-PICTURE-DATA".to_vec();
    // A timecode sample: the frame count since midnight, 10:11:12:13 at 25 fps.
    let tc: u32 = ((10 * 3600 + 11 * 60 + 12) * 25) + 13;
    let tracks = [
        Track {
            id: 1,
            handler: b"vide",
            name: "GoPro AVC",
            entry: visual_entry(b"avc1", 64, 48, "GoPro AVC encoder"),
            tref: Some(bx(b"tmcd", &2u32.to_be_bytes())),
            sample: video_sample.clone(),
        },
        Track {
            id: 2,
            handler: b"tmcd",
            name: "GoPro TCD",
            entry: bx(b"tmcd", &[0; 26]),
            tref: None,
            sample: tc.to_be_bytes().to_vec(),
        },
    ];
    let input = movie(b"qt  ", None, &tracks);
    assert!(contains(&input, &tc.to_be_bytes()), "test input");
    let s = clean(&input);
    assert_eq!(s.format, Format::Mov);
    assert!(!contains(&s.bytes, b"GoPro"), "a maker name survived");
    assert!(
        !contains(&s.bytes, b"Apple Alias"),
        "a data handler name survived"
    );
    assert!(
        !contains(&s.bytes, b"tmcd"),
        "the timecode track or its reference survived"
    );
    assert!(
        !contains(&s.bytes, &tc.to_be_bytes()),
        "the time of day survived"
    );
    assert!(
        contains(&s.bytes, &video_sample),
        "the video sample moved or changed"
    );
    assert!(
        s.removed
            .iter()
            .any(|r| r.kind == RemovedKind::MetadataTrack
                && r.detail.as_deref() == Some("tmcd track"))
    );
    verify_structure(&s.bytes, Format::Mov).expect("verifies");
}

#[test]
fn the_verifier_refuses_a_timecode_track_and_a_named_handler() {
    let video = || Track {
        id: 1,
        handler: b"vide",
        name: "",
        entry: visual_entry(b"avc1", 64, 48, ""),
        tref: None,
        sample: b"\x00\x00\x00\x02\x65\x01".to_vec(),
    };
    let named = movie(
        b"qt  ",
        None,
        &[Track {
            name: "GoPro AVC",
            ..video()
        }],
    );
    let e = verify_structure(&named, Format::Mov).expect_err("handler name");
    assert_eq!(e.code(), "media.verification_failed");
    let encoder = movie(
        b"qt  ",
        None,
        &[Track {
            entry: visual_entry(b"avc1", 64, 48, "GoPro AVC encoder"),
            ..video()
        }],
    );
    assert!(verify_structure(&encoder, Format::Mov).is_err());
    let timecode = movie(
        b"qt  ",
        None,
        &[
            video(),
            Track {
                id: 2,
                handler: b"tmcd",
                name: "",
                entry: bx(b"tmcd", &[0; 26]),
                tref: None,
                sample: vec![0, 0, 1, 2],
            },
        ],
    );
    let e = verify_structure(&timecode, Format::Mov).expect_err("timecode track");
    assert!(e.to_string().contains("tmcd"), "{e}");
}

/// A HEIF item box with one `hvc1` primary picture at `offset`.
fn heif_meta(offset: u32, len: u32) -> Vec<u8> {
    let mut iinf = 1u16.to_be_bytes().to_vec();
    let mut infe = 1u16.to_be_bytes().to_vec();
    infe.extend_from_slice(&[0, 0]);
    infe.extend_from_slice(b"hvc1");
    infe.push(0);
    iinf.extend(full(b"infe", 0x0200_0000, &infe));
    let mut iloc = vec![0x44, 0x00];
    iloc.extend_from_slice(&1u16.to_be_bytes());
    iloc.extend_from_slice(&1u16.to_be_bytes()); // item 1
    iloc.extend_from_slice(&0u16.to_be_bytes()); // data reference
    iloc.extend_from_slice(&1u16.to_be_bytes()); // one extent
    iloc.extend_from_slice(&offset.to_be_bytes());
    iloc.extend_from_slice(&len.to_be_bytes());
    let mut ispe = 64u32.to_be_bytes().to_vec();
    ispe.extend_from_slice(&48u32.to_be_bytes());
    let ipco = bx(b"ipco", &full(b"ispe", 0, &ispe));
    let mut ipma = 1u32.to_be_bytes().to_vec();
    ipma.extend_from_slice(&1u16.to_be_bytes());
    ipma.extend_from_slice(&[1, 0x81]);
    let iprp = bx(b"iprp", &[ipco, full(b"ipma", 0, &ipma)].concat());
    let body = [
        hdlr(b"pict", ""),
        full(b"pitm", 0, &1u16.to_be_bytes()),
        full(b"iinf", 0, &iinf),
        full(b"iloc", 0, &iloc),
        iprp,
    ]
    .concat();
    full(b"meta", 0, &body)
}

#[test]
fn a_heif_burst_keeps_its_picture_sequence() {
    let frame = b"\x00\x00\x00\x06\x26\x01BURST-FRAME".to_vec();
    let primary = b"\x00\x00\x00\x06\x26\x01PRIMARY".to_vec();
    let seq = Track {
        id: 1,
        handler: b"pict",
        name: "",
        entry: visual_entry(b"hvc1", 64, 48, ""),
        tref: None,
        sample: frame.clone(),
    };
    // The primary item's bytes follow the sequence's sample in mdat.
    let probe = movie(b"heic", Some(heif_meta(0, 0)), std::slice::from_ref(&seq));
    let primary_at = probe.len() as u32;
    let mut input = movie(
        b"heic",
        Some(heif_meta(primary_at, primary.len() as u32)),
        std::slice::from_ref(&seq),
    );
    // Grow mdat to hold the primary picture too.
    let mdat_at = input.len() - 8 - frame.len();
    let size = (8 + frame.len() + primary.len()) as u32;
    input[mdat_at..mdat_at + 4].copy_from_slice(&size.to_be_bytes());
    input.extend_from_slice(&primary);
    assert_eq!(input.len() as u32, primary_at + primary.len() as u32);

    let s = clean(&input);
    assert_eq!(s.format, Format::Heic);
    assert!(
        contains(&s.bytes, &frame),
        "the burst's frame was dropped or zeroed"
    );
    assert!(
        contains(&s.bytes, &primary),
        "the primary picture was dropped"
    );
    assert!(
        !s.removed
            .iter()
            .any(|r| r.kind == RemovedKind::MetadataTrack),
        "a picture track was reported as metadata: {:?}",
        s.removed
    );
    verify_structure(&s.bytes, Format::Heic).expect("verifies");
}
