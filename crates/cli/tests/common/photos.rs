//! Distinct photos for tests that send many: also used by the windowed
//! crash test in `tests/e2e`, which includes this file by path.

use std::path::{Path, PathBuf};

/// `n` distinct copies of the JPEG at `original` in `dir`: one entry of
/// its quantisation table changed per copy (valid, and a different hash,
/// so none is skipped as a duplicate on import).
pub fn distinct_copies(original: &Path, dir: &Path, n: usize) -> Vec<PathBuf> {
    let data = std::fs::read(original).expect("the original photo");
    // Walk the segments to the main image's first DQT (APP1 has its own).
    let mut i = 2;
    while data[i + 1] != 0xDB {
        i += 2 + usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
    }
    let entry = i + 5 + 63;
    std::fs::create_dir_all(dir).expect("dir");
    (0..n)
        .map(|k| {
            let mut d = data.clone();
            d[entry] = 1 + ((usize::from(d[entry]) + k) % 255) as u8;
            let p = dir.join(format!("photo_{k:03}.jpg"));
            std::fs::write(&p, d).expect("write");
            p
        })
        .collect()
}
