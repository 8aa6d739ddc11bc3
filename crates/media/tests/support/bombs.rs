//! Crafted hostile inputs: small files that would cost a decoder far more
//! memory or time than their size suggests. Shared by the tests
//! (`tests/bombs.rs`) and the benchmark's generator (`examples/make_bombs.rs`),
//! so no large file is checked in.
#![allow(dead_code)]

include!("boxes.rs");

/// A `side`×`side` RGBA PNG of 16-bit zeros (14142² is 1.6 GB decoded,
/// about 1.5 MB on disk), written row by row so making it costs little.
pub fn png_rgba16(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, side, side);
        e.set_color(png::ColorType::Rgba);
        e.set_depth(png::BitDepth::Sixteen);
        e.set_compression(png::Compression::Fast);
        let mut w = e.write_header().expect("header");
        let mut s = w.stream_writer().expect("stream");
        let row = vec![0u8; side as usize * 8];
        for _ in 0..side {
            std::io::Write::write_all(&mut s, &row).expect("row");
        }
        s.finish().expect("finish");
    }
    out
}

/// Only the header of a `side`×`side` RGBA16 PNG and one empty IDAT:
/// enough for every check that must refuse before decoding.
pub fn png_rgba16_header(side: u32) -> Vec<u8> {
    let chunk = |kind: &[u8; 4], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        let mut typed = kind.to_vec();
        typed.extend_from_slice(data);
        c.extend_from_slice(&typed);
        c.extend_from_slice(&crc32fast::hash(&typed).to_be_bytes());
        c
    };
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(chunk(b"IHDR", &ihdr));
    v.extend(chunk(
        b"IDAT",
        &[0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    v.extend(chunk(b"IEND", &[]));
    v
}

/// A JPEG whose frame header claims `w`×`h` (65500² in the benchmark).
pub fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    j.extend_from_slice(&[1; 64]);
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8]);
    j.extend_from_slice(&h.to_be_bytes());
    j.extend_from_slice(&w.to_be_bytes());
    j.extend_from_slice(&[1, 1, 0x11, 0]);
    j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x00, 1]);
    j.extend_from_slice(&[0; 15]);
    j.push(0);
    j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, 0x00, 0x00]);
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// A progressive 64×64 grey JPEG with `scans` scans (a decoder makes a
/// pass over every coefficient for each).
pub fn jpeg_progressive(scans: usize) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    j.extend_from_slice(&[1; 64]);
    j.extend_from_slice(&[0xFF, 0xC2, 0x00, 0x0B, 8, 0, 64, 0, 64, 1, 1, 0x11, 0]);
    j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x00, 1]);
    j.extend_from_slice(&[0; 15]);
    j.push(0);
    for _ in 0..scans {
        j.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 0, 0, 0x00]);
    }
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// A lossless WebP header claiming `w`×`h` (16383², the format's largest).
pub fn webp_claiming(w: u32, h: u32) -> Vec<u8> {
    let bits = (w - 1) | ((h - 1) << 14) | (1 << 28);
    let mut vp8l = vec![0x2F];
    vp8l.extend_from_slice(&bits.to_le_bytes());
    vp8l.extend_from_slice(&[0; 8]);
    let mut body = b"WEBPVP8L".to_vec();
    body.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
    body.extend_from_slice(&vp8l);
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend(body);
    v
}

/// A HEIC whose primary is a grid of `tiles` 64×64 tiles (4,096 in the
/// benchmark), each a few bytes of "coded" data.
pub fn heic_grid(tiles: u32) -> Vec<u8> {
    let cols = (tiles as f64).sqrt().ceil() as u32;
    let rows = tiles.div_ceil(cols);
    let n = tiles + 1; // the grid is item 1, tiles 2..
    let mut infes = Vec::new();
    for id in 1..=n {
        let mut e = (id as u16).to_be_bytes().to_vec();
        e.extend_from_slice(&[0, 0]);
        e.extend_from_slice(if id == 1 { b"grid" } else { b"hvc1" });
        e.push(0);
        infes.extend(full(b"infe", 0x0200_0000, &e));
    }
    let mut iinf = (n as u16).to_be_bytes().to_vec();
    iinf.extend(infes);
    let mut dimg = 1u16.to_be_bytes().to_vec();
    dimg.extend_from_slice(&(tiles as u16).to_be_bytes());
    for id in 2..=n {
        dimg.extend_from_slice(&(id as u16).to_be_bytes());
    }
    let iref = full(b"iref", 0, &bx(b"dimg", &dimg));
    let grid = {
        let mut g = vec![0, 0, (rows - 1) as u8, (cols - 1) as u8];
        g.extend_from_slice(&((cols * 64) as u16).to_be_bytes());
        g.extend_from_slice(&((rows * 64) as u16).to_be_bytes());
        g
    };
    let ispe = |w: u32, h: u32| {
        let mut b = w.to_be_bytes().to_vec();
        b.extend_from_slice(&h.to_be_bytes());
        full(b"ispe", 0, &b)
    };
    let ipco = bx(
        b"ipco",
        &[ispe(cols * 64, rows * 64), ispe(64, 64)].concat(),
    );
    let mut ipma = n.to_be_bytes().to_vec();
    for id in 1..=n {
        ipma.extend_from_slice(&(id as u16).to_be_bytes());
        ipma.extend_from_slice(&[1, if id == 1 { 0x81 } else { 0x82 }]);
    }
    let iprp = bx(b"iprp", &[ipco, full(b"ipma", 0, &ipma)].concat());
    // iloc: the grid's 8 bytes, then 4 bytes per tile, in one mdat.
    let build = |mdat_at: u32| {
        let mut iloc = vec![0x44, 0x00];
        iloc.extend_from_slice(&(n as u16).to_be_bytes());
        let mut at = mdat_at + 8;
        for id in 1..=n {
            let len: u32 = if id == 1 { 8 } else { 4 };
            iloc.extend_from_slice(&(id as u16).to_be_bytes());
            iloc.extend_from_slice(&[0, 0, 0, 1]);
            iloc.extend_from_slice(&at.to_be_bytes());
            iloc.extend_from_slice(&len.to_be_bytes());
            at += len;
        }
        let mut hdlr = vec![0; 4];
        hdlr.extend_from_slice(b"pict");
        hdlr.extend_from_slice(&[0; 13]);
        let meta = full(
            b"meta",
            0,
            &[
                full(b"hdlr", 0, &hdlr),
                full(b"pitm", 0, &1u16.to_be_bytes()),
                full(b"iinf", 0, &iinf),
                iref.clone(),
                full(b"iloc", 0, &iloc),
                iprp.clone(),
            ]
            .concat(),
        );
        let mut f = bx(b"ftyp", b"heic\0\0\0\0mif1heic");
        f.extend(meta);
        f
    };
    let head = build(0).len() as u32;
    let mut f = build(head);
    let mut mdat = grid.clone();
    for _ in 0..tiles {
        mdat.extend_from_slice(&[0, 0, 0, 0]);
    }
    f.extend(bx(b"mdat", &mdat));
    f
}

/// An MP4 whose one video track lists `samples` samples of one byte
/// (4 bytes each in its size table: 20 million is an 80 MB table).
pub fn mp4_samples(samples: u32) -> Vec<u8> {
    let mut entry = vec![0; 6];
    entry.extend_from_slice(&1u16.to_be_bytes());
    entry.extend_from_slice(&[0; 16]);
    entry.extend_from_slice(&64u16.to_be_bytes());
    entry.extend_from_slice(&48u16.to_be_bytes());
    entry.extend_from_slice(&[0, 0x48, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 1]);
    entry.extend_from_slice(&[0; 32]);
    entry.extend_from_slice(&[0, 0x18, 0xFF, 0xFF]);
    let mut stsd = 1u32.to_be_bytes().to_vec();
    stsd.extend(bx(b"avc1", &entry));
    let mut stsz = 0u32.to_be_bytes().to_vec();
    stsz.extend_from_slice(&samples.to_be_bytes());
    stsz.reserve(4 * samples as usize);
    for _ in 0..samples {
        stsz.extend_from_slice(&1u32.to_be_bytes());
    }
    let words = |v: &[u32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let build = |mdat_at: u32| {
        let stbl = [
            full(b"stsd", 0, &stsd),
            full(b"stts", 0, &words(&[1, samples, 1])),
            full(b"stsc", 0, &words(&[1, 1, samples, 1])),
            full(b"stsz", 0, &stsz),
            full(b"stco", 0, &words(&[1, mdat_at + 8])),
        ]
        .concat();
        let mut dref = 1u32.to_be_bytes().to_vec();
        dref.extend(full(b"url ", 1, &[]));
        let mut hdlr = vec![0; 4];
        hdlr.extend_from_slice(b"vide");
        hdlr.extend_from_slice(&[0; 13]);
        let minf = [
            full(b"vmhd", 1, &[0; 8]),
            bx(b"dinf", &full(b"dref", 0, &dref)),
            bx(b"stbl", &stbl),
        ]
        .concat();
        let mut mdhd = vec![0; 8];
        mdhd.extend_from_slice(&600u32.to_be_bytes());
        mdhd.extend_from_slice(&[0; 8]);
        let mdia = [
            full(b"mdhd", 0, &mdhd),
            full(b"hdlr", 0, &hdlr),
            bx(b"minf", &minf),
        ]
        .concat();
        let mut tkhd = vec![0; 8];
        tkhd.extend_from_slice(&1u32.to_be_bytes());
        tkhd.extend_from_slice(&[0; 72]);
        let trak = [full(b"tkhd", 0, &tkhd), bx(b"mdia", &mdia)].concat();
        let moov = [full(b"mvhd", 0, &[0; 96]), bx(b"trak", &trak)].concat();
        let mut f = bx(b"ftyp", b"isom\0\0\0\0isom");
        f.extend(bx(b"moov", &moov));
        f
    };
    let head = build(0).len() as u32;
    let mut f = build(head);
    f.extend(bx(b"mdat", &vec![0u8; samples as usize]));
    f
}
