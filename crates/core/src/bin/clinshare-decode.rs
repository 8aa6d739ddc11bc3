//! `clinshare-decode MAX_PX`: decodes one HEIF/HEIC/AVIF picture from
//! standard input in a process of its own and writes its pixels, at most
//! MAX_PX on the long edge, to standard output (see
//! `clinshare_core::media::isolated`). Started by the app and the CLI;
//! not meant to be run by hand.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(max_px) = std::env::args().nth(1).and_then(|a| a.parse::<u32>().ok()) else {
        eprintln!("usage: clinshare-decode MAX_PX < picture");
        return ExitCode::from(2);
    };
    let limits = clinshare_media::Limits::default();
    let status = clinshare_core::media::isolated::serve_helper(max_px, &limits);
    ExitCode::from(u8::try_from(status).unwrap_or(2))
}
