//! Fuzzes the TIFF path: inputs are steered to the TIFF parser by a
//! little- or big-endian header, picked by the input's first byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let prefix: &[u8] = if pick & 1 == 0 { b"II*\0" } else { b"MM\0*" };
    let mut v = Vec::with_capacity(rest.len() + 4);
    v.extend_from_slice(prefix);
    v.extend_from_slice(rest);
    common::run(&v);
});
