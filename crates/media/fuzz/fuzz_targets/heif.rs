//! Fuzzes the heif path: inputs are steered to the heif parser by a fixed prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIX: &[u8] = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";

fuzz_target!(|data: &[u8]| {
    let mut v = Vec::with_capacity(data.len() + 24);
    if data.get(4..8) != Some(b"ftyp") {
        v.extend_from_slice(PREFIX);
    }
    v.extend_from_slice(data);
    common::run(&v);
});
