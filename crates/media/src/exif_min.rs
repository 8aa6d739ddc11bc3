//! Reading the few EXIF facts worth keeping, and writing the minimal EXIF
//! block that carries Orientation only.
//!
//! Orientation is kept as a one-tag EXIF block (rather than baked into the
//! pixels) because baking requires re-encoding, which would break the promise
//! that pixels and entropy-coded data stay byte-identical.
//!
//! Some files carry their orientation only in XMP (`tiff:Orientation`);
//! [`xmp_orientation`] reads it there, so that dropping the XMP packet does
//! not turn the picture on its side.

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

/// The XMP namespace whose `Orientation` property mirrors EXIF's.
const TIFF_NS: &str = "http://ns.adobe.com/tiff/1.0/";

/// `tiff:Orientation` (1–8) from an XMP packet, as an attribute
/// (`tiff:Orientation="6"`) or an element (`<tiff:Orientation>6</…>`),
/// under whichever prefix the packet binds to the TIFF namespace (and
/// `tiff`, the conventional one). The first valid value wins; anything
/// else (a damaged packet, a value out of range) yields `None`.
pub(crate) fn xmp_orientation(xmp: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(xmp);
    let mut prefixes = vec!["tiff".to_owned()];
    let mut rest = &text[..];
    while let Some(i) = rest.find("xmlns:") {
        rest = &rest[i + 6..];
        let name_len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        if let Some((uri, _)) = attribute_value(after) {
            if uri == TIFF_NS && !prefixes.iter().any(|p| p == name) {
                prefixes.push(name.to_owned());
            }
        }
    }
    prefixes
        .iter()
        .find_map(|p| property_value(&text, &format!("{p}:Orientation")))
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// After an attribute's name: `= "value"` (or single quotes), with the
/// value and what follows it.
fn attribute_value(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start().strip_prefix('=')?.trim_start();
    let quote = s.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let s = &s[1..];
    let end = s.find(quote)?;
    Some((&s[..end], &s[end + 1..]))
}

/// The first valid orientation given by `name` as an attribute or element.
fn property_value(text: &str, name: &str) -> Option<u16> {
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = text[..at].chars().next_back();
        let after = &text[from..];
        if after.chars().next().is_some_and(is_name_char) {
            continue;
        }
        let value = match before {
            // An element: its text, after any attributes of its own.
            Some('<') => {
                let close = after.find('>')?;
                if after[..close].ends_with('/') {
                    continue;
                }
                let body = &after[close + 1..];
                body.find('<').map(|end| &body[..end])
            }
            // An attribute of another element.
            Some(c) if c.is_whitespace() => attribute_value(after).map(|(v, _)| v),
            _ => None,
        };
        let parsed = value
            .and_then(|v| v.trim().parse::<u16>().ok())
            .filter(|v| (1..=8).contains(v));
        if parsed.is_some() {
            return parsed;
        }
    }
    None
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

    #[test]
    fn xmp_orientation_as_attribute_or_element_under_any_bound_prefix() {
        let attr = br#"<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>"#;
        assert_eq!(xmp_orientation(attr), Some(6));
        let single = b"<rdf:Description tiff:Orientation = '8' tiff:Make='x'/>";
        assert_eq!(xmp_orientation(single), Some(8));
        let element = b"<rdf:Description><tiff:Orientation>3</tiff:Orientation></rdf:Description>";
        assert_eq!(xmp_orientation(element), Some(3));
        let typed = b"<tiff:Orientation rdf:datatype=\"int\">\n  5\n</tiff:Orientation>";
        assert_eq!(xmp_orientation(typed), Some(5));
        let other = br#"<x xmlns:t="http://ns.adobe.com/tiff/1.0/" t:Orientation="7"/>"#;
        assert_eq!(xmp_orientation(other), Some(7));
    }

    #[test]
    fn xmp_orientation_ignores_lookalikes_and_bad_values() {
        for xmp in [
            &b"<x tiff:OrientationX=\"6\" exif:Orientation=\"6\"/>"[..],
            b"<x tiff:Orientation=\"9\"/>",
            b"<x tiff:Orientation=\"0\"/>",
            b"<x tiff:Orientation=\"six\"/>",
            b"<tiff:Orientation/>",
            b"</tiff:Orientation>",
            b"tiff:Orientation=\"6",
            b"",
        ] {
            assert_eq!(
                xmp_orientation(xmp),
                None,
                "{}",
                String::from_utf8_lossy(xmp)
            );
        }
        // A bad value first does not hide a good one later.
        assert_eq!(
            xmp_orientation(b"<a tiff:Orientation=\"x\"/><b tiff:Orientation=\"2\"/>"),
            Some(2)
        );
    }
}
