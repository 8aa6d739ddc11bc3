//! The TLS key pin: lower-case hex SHA-256 of the server certificate's
//! SubjectPublicKeyInfo. The server prints it; the app checks it on every
//! connection. Both compute it here.

use sha2::{Digest, Sha256};

/// The pin of a DER certificate.
pub fn spki_pin(cert_der: &[u8]) -> Option<String> {
    spki_der(cert_der).map(|spki| hex::encode(Sha256::digest(spki)))
}

/// The SubjectPublicKeyInfo inside a certificate, found by walking the DER:
/// Certificate → tbsCertificate → [version], serial, signature, issuer,
/// validity, subject, **subjectPublicKeyInfo**. A few lines instead of an
/// X.509 parser dependency; anything unexpected gives `None`.
pub fn spki_der(cert_der: &[u8]) -> Option<&[u8]> {
    let (cert_body, _) = der_element(cert_der, 0x30)?;
    let (tbs, _) = der_element(cert_body, 0x30)?;
    let mut rest = tbs;
    // Optional explicit [0] version.
    if rest.first() == Some(&0xa0) {
        rest = der_skip(rest)?;
    }
    for _ in 0..5 {
        rest = der_skip(rest)?; // serial, signature, issuer, validity, subject
    }
    let len = der_total_len(rest)?;
    (rest.first() == Some(&0x30)).then(|| &rest[..len])
}

/// (contents, remainder after it) of the element at the start of `b`,
/// which must carry `tag`.
fn der_element(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *b.first()? != tag {
        return None;
    }
    let (header, len) = der_header(b)?;
    let end = header.checked_add(len)?;
    Some((b.get(header..end)?, b.get(end..)?))
}

fn der_header(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*b.get(2 + i)?);
    }
    Some((2 + n, len))
}

fn der_total_len(b: &[u8]) -> Option<usize> {
    let (h, l) = der_header(b)?;
    let total = h.checked_add(l)?;
    (total <= b.len()).then_some(total)
}

fn der_skip(b: &[u8]) -> Option<&[u8]> {
    b.get(der_total_len(b)?..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_has_no_pin() {
        assert_eq!(spki_pin(b""), None);
        assert_eq!(spki_pin(&[0x30, 0x82, 0xff]), None);
        assert_eq!(spki_pin(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
