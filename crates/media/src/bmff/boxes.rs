//! ISO base media file format box walking and small big-endian readers.

/// A box located in the file: absolute offsets of its start, body and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHdr {
    pub kind: [u8; 4],
    pub start: usize,
    /// First byte after the header (after the user type for `uuid`).
    pub body: usize,
    pub end: usize,
}

impl BoxHdr {
    pub fn raw<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.start..self.end]
    }
    pub fn body<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        &data[self.body..self.end]
    }
    pub fn header_len(&self) -> usize {
        self.body - self.start
    }
}

/// Walks the boxes in `data[from..to]`. `budget` bounds the total number of
/// boxes walked in one file so that hostile nesting cannot run away.
pub(crate) fn children(
    data: &[u8],
    from: usize,
    to: usize,
    budget: &mut usize,
) -> Result<Vec<BoxHdr>, String> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        let b = next_box(data, pos, to, budget)?;
        pos = b.end;
        out.push(b);
    }
    Ok(out)
}

/// Parses the box header at `pos`; the box must end by `to`.
pub(crate) fn next_box(
    data: &[u8],
    pos: usize,
    to: usize,
    budget: &mut usize,
) -> Result<BoxHdr, String> {
    if *budget == 0 {
        return Err("too many boxes".into());
    }
    *budget -= 1;
    let to = to.min(data.len());
    let h = data
        .get(pos..pos + 8)
        .filter(|_| pos + 8 <= to)
        .ok_or("a box header is cut short")?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let kind = [h[4], h[5], h[6], h[7]];
    let (size, mut header) = match size32 {
        0 => (to - pos, 8),
        1 => {
            let l = data
                .get(pos + 8..pos + 16)
                .filter(|_| pos + 16 <= to)
                .ok_or("a large box header is cut short")?;
            let v = u64::from_be_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]);
            (usize::try_from(v).map_err(|_| "box size overflows")?, 16)
        }
        n => (n as usize, 8),
    };
    if &kind == b"uuid" {
        header += 16;
    }
    let end = pos.checked_add(size).ok_or("box size overflows")?;
    if size < header || end > to {
        return Err(format!(
            "box '{}' has an invalid size",
            crate::report::fourcc_name(&kind)
        ));
    }
    Ok(BoxHdr {
        kind,
        start: pos,
        body: pos + header,
        end,
    })
}

/// Bounds-checked big-endian reader over a slice.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .data
            .get(self.pos..self.pos.checked_add(n).ok_or("overflow")?)
            .ok_or("a field is cut short")?;
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// An unsigned integer of 0, 1, 2, 4 or 8 bytes.
    pub fn uint(&mut self, size: usize) -> Result<u64, String> {
        let b = self.bytes(size)?;
        match size {
            0 | 1 | 2 | 4 | 8 => Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))),
            _ => Err(format!("invalid field size {size}")),
        }
    }
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

/// Appends an unsigned integer of `size` bytes (0, 1, 2, 4 or 8).
pub(crate) fn put_uint(out: &mut Vec<u8>, v: u64, size: usize) -> Result<(), String> {
    if size < 8 && v >> (size * 8) != 0 {
        return Err("value does not fit its field".into());
    }
    for i in (0..size).rev() {
        out.push((v >> (i * 8)) as u8);
    }
    Ok(())
}

/// Writes a box with a 32-bit (or 64-bit when needed) size.
pub(crate) fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    let len = body.len() + 8;
    if let Ok(l) = u32::try_from(len) {
        out.extend_from_slice(&l.to_be_bytes());
        out.extend_from_slice(kind);
    } else {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(&((len + 8) as u64).to_be_bytes());
    }
    out.extend_from_slice(body);
}

/// Re-emits a box header with a new body (keeps the original header form).
pub(crate) fn rewrap(out: &mut Vec<u8>, hdr: &BoxHdr, data: &[u8], body: &[u8]) {
    if &hdr.kind == b"uuid" {
        let mut b = data[hdr.body - 16..hdr.body].to_vec();
        b.extend_from_slice(body);
        write_box(out, b"uuid", &b);
    } else {
        write_box(out, &hdr.kind, body);
    }
}

/// Seconds since 1904-01-01 UTC → `YYYY-MM-DDTHH:MM:SS`.
pub(crate) fn mac_time_to_iso(secs: u64) -> Option<String> {
    const EPOCH_OFFSET: u64 = 2_082_844_800; // 1904 → 1970
    let unix = secs.checked_sub(EPOCH_OFFSET)?;
    let days = i64::try_from(unix / 86_400).ok()?;
    let rem = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    if !(1970..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_epoch_conversion() {
        assert_eq!(
            mac_time_to_iso(2_082_844_800).as_deref(),
            Some("1970-01-01T00:00:00")
        );
        // 2019-05-01T14:03:22Z
        assert_eq!(
            mac_time_to_iso(1_556_719_402 + 2_082_844_800).as_deref(),
            Some("2019-05-01T14:03:22")
        );
        assert_eq!(mac_time_to_iso(0), None);
    }

    #[test]
    fn walker_rejects_bad_sizes() {
        let mut b = 100;
        assert!(children(b"\0\0\0\x20abcd", 0, 8, &mut b).is_err());
        let mut b = 100;
        assert!(children(b"\0\0\0\x04abcd", 0, 8, &mut b).is_err());
        let mut b = 1;
        assert!(children(b"\0\0\0\x08abcd\0\0\0\x08abcd", 0, 16, &mut b).is_err());
        let mut b = 100;
        let v = children(b"\0\0\0\x08abcd\0\0\0\0efgh1234", 0, 20, &mut b).expect("valid");
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].end, 20);
    }
}
