//! Fuzzes the png path: inputs are steered to the png parser by a fixed prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIX: &[u8] = b"\x89PNG\r\n\x1a\n";

fuzz_target!(|data: &[u8]| {
    let mut v = Vec::with_capacity(data.len() + 8);
    if !data.starts_with(PREFIX) {
        v.extend_from_slice(PREFIX);
    }
    v.extend_from_slice(data);
    common::run(&v);
});
