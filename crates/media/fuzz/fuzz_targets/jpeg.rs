//! Fuzzes the jpeg path: inputs are steered to the jpeg parser by a fixed prefix.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const PREFIX: &[u8] = &[0xFF, 0xD8, 0xFF];

fuzz_target!(|data: &[u8]| {
    let mut v = Vec::with_capacity(data.len() + 3);
    if !data.starts_with(PREFIX) {
        v.extend_from_slice(PREFIX);
    }
    v.extend_from_slice(data);
    common::run(&v);
});
