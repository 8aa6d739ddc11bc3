//! Wall-clock timestamps as stored in the database (RFC 3339, UTC).

use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("a UTC timestamp always formats as RFC 3339")
}
