//! Reading the few EXIF facts worth keeping, and writing the minimal EXIF
//! block that carries Orientation only.
//!
//! Orientation is kept as a one-tag EXIF block (rather than baked into the
//! pixels) because baking requires re-encoding, which would break the promise
//! that pixels and entropy-coded data stay byte-identical.

use crate::report::{CaptureTime, CaptureTimeSource};
use exif::{In, Tag, Value};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ExifFacts {
    pub orientation: Option<u16>,
    pub captured_at: Option<CaptureTime>,
}

/// Extracts orientation and capture time from a TIFF-structured EXIF block.
/// A damaged block yields what could be read; it never fails, because the
/// block is dropped anyway.
pub(crate) fn read_facts(tiff: &[u8]) -> ExifFacts {
    let exif = match exif::Reader::new()
        .continue_on_error(true)
        .read_raw(tiff.to_vec())
    {
        Ok(e) => e,
        Err(exif::Error::PartialResult(p)) => p.into_inner().0,
        Err(_) => return ExifFacts::default(),
    };
    let orientation = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u16::try_from(v).ok())
        .filter(|v| (1..=8).contains(v));
    let ascii = |tag: Tag| -> Option<String> {
        match &exif.get_field(tag, In::PRIMARY)?.value {
            Value::Ascii(v) => v
                .first()
                .map(|s| String::from_utf8_lossy(s).trim().to_owned()),
            _ => None,
        }
    };
    let captured_at = [
        (
            Tag::DateTimeOriginal,
            Tag::OffsetTimeOriginal,
            CaptureTimeSource::ExifDateTimeOriginal,
        ),
        (
            Tag::DateTimeDigitized,
            Tag::OffsetTimeDigitized,
            CaptureTimeSource::ExifDateTimeDigitized,
        ),
    ]
    .into_iter()
    .find_map(|(tag, offset_tag, source)| {
        let local = exif_datetime_to_iso(&ascii(tag)?)?;
        let offset = ascii(offset_tag).filter(|o| is_utc_offset(o));
        Some(CaptureTime {
            local,
            offset,
            source,
        })
    });
    ExifFacts {
        orientation,
        captured_at,
    }
}

/// `2019:05:01 14:03:22` → `2019-05-01T14:03:22`; rejects blanks and junk.
fn exif_datetime_to_iso(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
        && b[4] == b':'
        && b[7] == b':'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':';
    if !ok || &s[0..4] == "0000" {
        return None;
    }
    Some(format!(
        "{}-{}-{}T{}:{}:{}",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    ))
}

fn is_utc_offset(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
}

/// A big-endian TIFF block with a single IFD0 entry: Orientation.
pub(crate) fn minimal_tiff(orientation: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(26);
    v.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header, IFD0 at offset 8
    v.extend_from_slice(&1u16.to_be_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    v.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    v.extend_from_slice(&1u32.to_be_bytes()); // count
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0]); // value padding
    v.extend_from_slice(&0u32.to_be_bytes()); // no IFD1 (no thumbnail)
    v
}

/// Whether an orientation needs to be written at all (1 is the default).
pub(crate) fn orientation_to_keep(o: Option<u16>) -> Option<u16> {
    o.filter(|v| (2..=8).contains(v))
}

/// Checks an EXIF block found in sanitised output: it may hold Orientation
/// and nothing else. Uses kamadak-exif, independent of the writer above.
pub(crate) fn only_orientation(tiff: &[u8]) -> Result<(), String> {
    let exif = exif::Reader::new()
        .read_raw(tiff.to_vec())
        .map_err(|e| format!("EXIF block unreadable: {e}"))?;
    for f in exif.fields() {
        if f.tag != Tag::Orientation || f.ifd_num != In::PRIMARY {
            return Err(format!("EXIF tag {} is still present", f.tag));
        }
    }
    // A thumbnail (IFD1) would show up as fields; a dangling IFD1 pointer too.
    if tiff.len() > 64 {
        return Err("EXIF block is larger than an orientation-only block".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_block_round_trips_through_an_independent_reader() {
        let t = minimal_tiff(6);
        assert_eq!(read_facts(&t).orientation, Some(6));
        assert!(only_orientation(&t).is_ok());
    }

    #[test]
    fn datetime_parsing() {
        assert_eq!(
            exif_datetime_to_iso("2019:05:01 14:03:22").as_deref(),
            Some("2019-05-01T14:03:22")
        );
        assert_eq!(exif_datetime_to_iso("    :  :     :  :  "), None);
        assert_eq!(exif_datetime_to_iso("0000:00:00 00:00:00"), None);
        assert!(is_utc_offset("+01:00"));
        assert!(!is_utc_offset("1:00"));
    }

    #[test]
    fn garbage_yields_nothing() {
        assert_eq!(read_facts(b"not exif at all"), ExifFacts::default());
    }
}
