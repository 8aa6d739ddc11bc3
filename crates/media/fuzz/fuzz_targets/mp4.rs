//! Fuzzes the mp4 path: inputs are steered to the mp4 parser by a fixed prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIX: &[u8] = b"\0\0\0\x18ftypisom\0\0\0\0isomqt  ";

fuzz_target!(|data: &[u8]| {
    let mut v = Vec::with_capacity(data.len() + 24);
    if data.get(4..8) != Some(b"ftyp") {
        v.extend_from_slice(PREFIX);
    }
    v.extend_from_slice(data);
    common::run(&v);
});
