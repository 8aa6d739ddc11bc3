//! Fuzzes the webp path: inputs are steered to the webp parser by a fixed prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIX: &[u8] = b"RIFF\0\0\0\0WEBP";

fuzz_target!(|data: &[u8]| {
    let mut v = Vec::with_capacity(data.len() + 12);
    if !data.starts_with(b"RIFF") {
        v.extend_from_slice(PREFIX);
    }
    v.extend_from_slice(data);
    // Keep the RIFF size consistent most of the time so chunk parsing is reached.
    if v.len() >= 8 && data.first().is_some_and(|b| b & 1 == 0) {
        let n = (v.len() - 8) as u32;
        v[4..8].copy_from_slice(&n.to_le_bytes());
    }
    common::run(&v);
});
