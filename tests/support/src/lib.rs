//! Checks shared by the CLI and end-to-end tests.
//!
//! The one that matters: after a workflow, nothing on disk outside the
//! encrypted store may hold a picture or a piece of patient data in the
//! clear. The scan must never fail by chance on ciphertext, which is
//! megabytes of uniformly random bytes, so it looks only for byte runs too
//! long to turn up at random (see [`picture_start`]).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// Every regular file under `dir`, depth first; symlinks are not followed
/// (a link out of the folder is not the folder's content).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Shortest needle worth looking for: a 3-byte one (a short surname)
/// turns up by chance about once per 16 MB of ciphertext, an 8-byte one
/// about once per 16 million TB.
pub const MIN_NEEDLE: usize = 8;

/// Every file among `files` holding a picture (a JPEG or PNG start) or one
/// of `needles`, described for an assertion message. Unreadable files (a
/// temp file removed mid-scan) are skipped.
///
/// # Panics
///
/// On a needle shorter than [`MIN_NEEDLE`]: the scan would fail by chance.
pub fn plaintext_in<N: AsRef<[u8]>>(files: &[PathBuf], needles: &[N]) -> Vec<String> {
    let needles: Vec<&[u8]> = needles.iter().map(AsRef::as_ref).collect();
    if let Some(short) = needles.iter().find(|n| n.len() < MIN_NEEDLE) {
        panic!(
            "needle {} is shorter than {MIN_NEEDLE} bytes and would turn up in ciphertext by chance",
            describe(short)
        );
    }
    let mut found = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        if let Some(at) = picture_start(&bytes) {
            found.push(format!("{} holds a picture at byte {at}", path.display()));
        }
        for n in &needles {
            if let Some(at) = find(&bytes, n) {
                found.push(format!(
                    "{} holds {} at byte {at}",
                    path.display(),
                    describe(n)
                ));
            }
        }
    }
    found
}

/// [`plaintext_in`] over every file under `dir`.
pub fn plaintext_under<N: AsRef<[u8]>>(dir: &Path, needles: &[N]) -> Vec<String> {
    plaintext_in(&files_under(dir), needles)
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Pieces of a picture to look for: `count` (at least one) runs of 64
/// bytes spread over it. A run of 64 bytes cannot turn up in ciphertext by
/// chance, and finding any one shows the picture was written in the clear
/// even if its start was not.
///
/// # Panics
///
/// On a picture shorter than 64 bytes.
pub fn pieces(picture: &[u8], count: usize) -> Vec<Vec<u8>> {
    const RUN: usize = 64;
    assert!(picture.len() >= RUN, "a picture of {} bytes", picture.len());
    let count = count.max(1);
    let span = picture.len() - RUN;
    (1..=count)
        .map(|i| {
            let at = span * i / (count + 1);
            picture[at..at + RUN].to_vec()
        })
        .collect()
}

/// Where a PNG (its 8-byte signature) or a JPEG starts in `bytes`. A JPEG
/// start is SOI and a first marker segment whose length leads to the next
/// marker, as in every JPEG: SOI's three bytes alone turn up by chance in
/// ciphertext about once per 16 MB, and a store's write-ahead log is
/// megabytes of it.
pub fn picture_start(bytes: &[u8]) -> Option<usize> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if let Some(at) = find(bytes, PNG) {
        return Some(at);
    }
    (0..bytes.len().saturating_sub(6)).find(|&i| {
        bytes[i..i + 3] == [0xFF, 0xD8, 0xFF] && (0xC0..=0xFE).contains(&bytes[i + 3]) && {
            let len = usize::from(u16::from_be_bytes([bytes[i + 4], bytes[i + 5]]));
            len >= 2 && bytes.get(i + 4 + len) == Some(&0xFF)
        }
    })
}

fn describe(needle: &[u8]) -> String {
    match std::str::from_utf8(needle) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("a {}-byte piece of a picture", needle.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_found_and_chance_bytes_are_not() {
        let jfif = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xDB";
        let mut cipher = vec![0x5Au8; 64];
        cipher[10..13].copy_from_slice(b"\xFF\xD8\xFF");
        assert_eq!(picture_start(&cipher), None, "SOI by chance");
        cipher[20..20 + jfif.len()].copy_from_slice(jfif);
        assert_eq!(picture_start(&cipher), Some(20));
        let png = b"\x00\x00\x89PNG\r\n\x1a\n";
        assert_eq!(picture_start(png), Some(2));
    }

    #[test]
    fn pieces_come_from_inside_the_picture() {
        let picture: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let found = pieces(&picture, 3);
        assert_eq!(found.len(), 3);
        for p in &found {
            assert_eq!(p.len(), 64);
            assert!(find(&picture, p).is_some());
        }
        assert_ne!(found[0], found[2]);
    }

    #[test]
    #[should_panic(expected = "shorter than 8 bytes")]
    fn a_needle_that_could_turn_up_by_chance_is_refused() {
        plaintext_in(&[], &[b"Doe"]);
    }

    #[test]
    fn a_scan_names_the_file_and_what_it_holds() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        let nested = dir.join("a/b");
        std::fs::create_dir_all(&nested).expect("mkdir");
        std::fs::write(nested.join("clear.bin"), b"xx9434765919yy").expect("write");
        std::fs::write(dir.join("noise.bin"), [0xFFu8, 0xD8, 0xFF, 0x00, 0x01]).expect("write");
        let found = plaintext_under(&dir, &[b"9434765919"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("clear.bin holds \"9434765919\" at byte 2"));
    }
}
