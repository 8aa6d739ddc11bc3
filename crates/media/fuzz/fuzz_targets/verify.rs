//! Fuzzes the public verifier directly (the server runs it on uploads).
#![no_main]
use clinshare_media::{verify, Format};
use libfuzzer_sys::fuzz_target;

const FORMATS: [Format; 6] = [
    Format::Jpeg,
    Format::Png,
    Format::WebP,
    Format::Heic,
    Format::Avif,
    Format::Mp4,
];

fuzz_target!(|data: &[u8]| {
    if let Some((&sel, rest)) = data.split_first() {
        let _ = verify(rest, FORMATS[usize::from(sel) % FORMATS.len()]);
    }
});
