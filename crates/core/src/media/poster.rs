//! A video's poster frame, for its thumbnail. The system's `ffmpeg` decodes
//! the first frame in a separate process: its C decoders stay out of the
//! app's process, and a decoder that fails or hangs costs a placeholder,
//! never the import. The sanitised bytes reach it as its standard input
//! through an in-memory file (`memfd_create`): seekable, so a video whose
//! index (`moov`) follows its media still opens, and never on disk.
//!
//! Linux only; elsewhere, and where `ffmpeg` is not installed, videos keep
//! the placeholder.

use std::time::Duration;

/// ffmpeg gets this long for one frame.
const TIMEOUT: Duration = Duration::from_secs(20);
/// A frame larger than this is not a poster.
const MAX_FRAME_BYTES: u64 = 32 * 1024 * 1024;

/// The first frame of a sanitised video, upright (ffmpeg applies the
/// track's rotation), as a JPEG no larger than `max_px` on its long edge;
/// `None` when it cannot be made here.
pub fn poster(video: &[u8], max_px: u32) -> Option<Vec<u8>> {
    let frame = first_frame(video, max_px)?;
    // Re-encoded by our own encoder: the same quality as photo thumbnails,
    // and nothing of ffmpeg's (its JPEG carries a comment naming it).
    clinshare_media::thumbnail(&frame, max_px).ok()
}

#[cfg(target_os = "linux")]
fn first_frame(video: &[u8], max_px: u32) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, Write};
    use std::process::{Command, Stdio};

    let mut input = std::fs::File::from(
        rustix::fs::memfd_create("clinshare-video", rustix::fs::MemfdFlags::CLOEXEC).ok()?,
    );
    input.write_all(video).ok()?;
    input.rewind().ok()?;
    let scale = format!("scale={max_px}:{max_px}:force_original_aspect_ratio=decrease");
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-threads",
            "1",
        ])
        // The memfd, reopened by path so ffmpeg can seek in it.
        .args(["-i", "/dev/stdin"])
        .args(["-map", "0:v:0", "-frames:v", "1", "-vf", &scale])
        .args(["-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "2", "pipe:1"])
        .env_clear()
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut frame = Vec::new();
        stdout
            .by_ref()
            .take(MAX_FRAME_BYTES)
            .read_to_end(&mut frame)
            .map(|_| frame)
    });
    let status = super::isolated::wait_or_kill(&mut child, TIMEOUT);
    let frame = reader.join().ok()?.ok()?;
    (status?.success() && !frame.is_empty()).then_some(frame)
}

#[cfg(not(target_os = "linux"))]
fn first_frame(_video: &[u8], _max_px: u32) -> Option<Vec<u8>> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::poster;

    #[test]
    fn what_ffmpeg_cannot_decode_gives_no_poster() {
        assert_eq!(poster(b"not a video at all", 256), None);
        let mut cut = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../media/tests/fixtures/dn_with-gps.mov"),
        )
        .expect("fixture");
        cut.truncate(cut.len() / 10);
        assert_eq!(poster(&cut, 256), None);
    }
}
