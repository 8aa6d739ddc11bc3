// A clean one-track MP4 built box by box, as the media crate's sanitiser
// leaves one (no dates, no names, self-contained data references), whose one
// sample is the whole media data. Shared by tests/assembly.rs, the unit
// tests of src/blobs/view.rs and examples/upload_load.rs through `include!`
// (hence no inner doc comment).

#[allow(dead_code)]
pub fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = u32::try_from(body.len() + 8)
        .expect("a small box")
        .to_be_bytes()
        .to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

#[allow(dead_code)]
fn mp4_full_box(kind: &[u8; 4], version_flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = version_flags.to_be_bytes().to_vec();
    b.extend_from_slice(body);
    mp4_box(kind, &b)
}

/// The movie box for one video sample of `len` bytes at `offset`, with
/// `extra` appended inside it (to make it unclean).
#[allow(dead_code)]
fn mp4_moov(offset: u32, len: u32, extra: &[u8]) -> Vec<u8> {
    let words = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let mut entry = vec![0; 6];
    entry.extend_from_slice(&1u16.to_be_bytes());
    entry.extend_from_slice(&[0; 16]);
    entry.extend_from_slice(&1920u16.to_be_bytes());
    entry.extend_from_slice(&1080u16.to_be_bytes());
    entry.extend_from_slice(&[0, 0x48, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 1]);
    entry.extend_from_slice(&[0; 32]); // compressor name
    entry.extend_from_slice(&[0, 0x18, 0xFF, 0xFF]);
    let mut stsd = 1u32.to_be_bytes().to_vec();
    stsd.extend(mp4_box(b"avc1", &entry));
    let stbl = [
        mp4_full_box(b"stsd", 0, &stsd),
        mp4_full_box(b"stts", 0, &words(&[1, 1, 600])),
        mp4_full_box(b"stsc", 0, &words(&[1, 1, 1, 1])),
        mp4_full_box(b"stsz", 0, &words(&[0, 1, len])),
        mp4_full_box(b"stco", 0, &words(&[1, offset])),
    ]
    .concat();
    let mut dref = 1u32.to_be_bytes().to_vec();
    dref.extend(mp4_full_box(b"url ", 1, &[]));
    let hdlr = |kind: &[u8; 4]| {
        let mut b = vec![0; 4];
        b.extend_from_slice(kind);
        b.extend_from_slice(&[0; 13]); // reserved, then an empty name
        mp4_full_box(b"hdlr", 0, &b)
    };
    let minf = [
        mp4_full_box(b"vmhd", 1, &[0; 8]),
        hdlr(b"dhlr"),
        mp4_box(b"dinf", &mp4_full_box(b"dref", 0, &dref)),
        mp4_box(b"stbl", &stbl),
    ]
    .concat();
    let mut mdhd = vec![0; 8];
    mdhd.extend_from_slice(&600u32.to_be_bytes());
    mdhd.extend_from_slice(&[0; 8]);
    let mdia = [
        mp4_full_box(b"mdhd", 0, &mdhd),
        hdlr(b"vide"),
        mp4_box(b"minf", &minf),
    ]
    .concat();
    let mut tkhd = vec![0; 8];
    tkhd.extend_from_slice(&1u32.to_be_bytes());
    tkhd.extend_from_slice(&[0; 72]);
    let trak = [mp4_full_box(b"tkhd", 0, &tkhd), mp4_box(b"mdia", &mdia)].concat();
    let mut moov = mp4_full_box(b"mvhd", 0, &[0; 96]);
    moov.extend(mp4_box(b"trak", &trak));
    moov.extend_from_slice(extra);
    mp4_box(b"moov", &moov)
}

/// Everything before the media data: `ftyp`, `moov`, the `mdat` header.
#[allow(dead_code)]
pub fn mp4_head(media_len: u64, extra_moov: &[u8]) -> Vec<u8> {
    let mut ftyp = b"isom".to_vec();
    ftyp.extend_from_slice(&[0, 0, 2, 0]);
    ftyp.extend_from_slice(b"isomiso2avc1mp41");
    let ftyp = mp4_box(b"ftyp", &ftyp);
    let len = u32::try_from(media_len).expect("one sample under 4 GiB");
    let mdat_header = 8;
    let placeholder = mp4_moov(0, len, extra_moov).len();
    let offset = u32::try_from(ftyp.len() + placeholder + mdat_header).expect("small head");
    let mut head = ftyp;
    head.extend(mp4_moov(offset, len, extra_moov));
    head.extend_from_slice(&u32::try_from(media_len + 8).expect("mdat").to_be_bytes());
    head.extend_from_slice(b"mdat");
    head
}

/// Media bytes that look like coded video (no runs a compressor or a
/// filesystem could shortcut): xorshift from `seed`.
#[allow(dead_code)]
pub fn mp4_fill(out: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// A whole clean movie with `media_len` bytes of media data.
#[allow(dead_code)]
pub fn mp4_movie(media_len: usize, extra_moov: &[u8], seed: u64) -> Vec<u8> {
    let mut file = mp4_head(media_len as u64, extra_moov);
    let at = file.len();
    file.resize(at + media_len, 0);
    mp4_fill(&mut file[at..], seed);
    file
}
