//! Clinical media sanitiser: sniff, strip metadata losslessly, verify, thumbnail.
//!
//! Pure bytes in, bytes out: no database, no network, no files.
#![forbid(unsafe_code)]
