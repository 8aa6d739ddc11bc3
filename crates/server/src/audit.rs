//! The server's audit trail: every request that touches patient data (and
//! every refusal of one) appends an entry; entries are hash-chained like the
//! app's (`clinshare-core` `audit.rs`), so an edited, removed or reordered
//! entry breaks the chain. Entries hold ids only, never identifiers or names.

use sha2::{Digest, Sha256};

use crate::store::AuditRecord;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the encoding, so a future change of it is explicit.
const DOMAIN: &[u8] = b"clinshare.server.audit.v1\0";

/// SHA-256 over the previous hash and every field, each length-prefixed so
/// no field can bleed into the next.
pub fn entry_hash(prev_hash: &str, seq: i64, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    let fields: [&[u8]; 8] = [
        prev_hash.as_bytes(),
        &seq.to_be_bytes(),
        &r.at.to_be_bytes(),
        r.actor.as_bytes(),
        r.device.as_bytes(),
        r.action.as_bytes(),
        r.object.as_bytes(),
        r.outcome.as_bytes(),
    ];
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f);
    }
    hex::encode(h.finalize())
}

/// What was done; stored as these codes.
pub mod action {
    pub const ENROL: &str = "enrol";
    pub const SIGN_IN: &str = "sign_in";
    pub const DIRECTORY: &str = "directory";
    pub const REFERRAL_CREATE: &str = "referral_create";
    pub const REFERRAL_VIEW: &str = "referral_view";
    pub const UPLOAD: &str = "upload";
    pub const DELIVER: &str = "deliver";
    pub const INBOX_LIST: &str = "inbox_list";
    pub const INBOX_OPEN: &str = "inbox_open";
    pub const MEDIA_DOWNLOAD: &str = "media_download";
    pub const ACKNOWLEDGE: &str = "acknowledge";
    pub const CONSENT_WITHDRAW: &str = "consent_withdraw";
    pub const ADMIN: &str = "admin";
    pub const FHIR_SEARCH: &str = "fhir_search";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: &str) -> AuditRecord {
        AuditRecord {
            at: 1,
            actor: "u".into(),
            device: "d".into(),
            action: action.into(),
            object: "o".into(),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn the_hash_depends_on_every_field_and_the_previous_hash() {
        let a = entry_hash(GENESIS_HASH, 1, &rec("x"));
        assert_ne!(a, entry_hash(GENESIS_HASH, 1, &rec("y")));
        assert_ne!(a, entry_hash(GENESIS_HASH, 2, &rec("x")));
        assert_ne!(a, entry_hash(&a, 1, &rec("x")));
        // Length prefixes: moving a byte between fields changes the hash.
        let mut shifted = rec("x");
        shifted.actor = "ud".into();
        shifted.device = String::new();
        assert_ne!(a, entry_hash(GENESIS_HASH, 1, &shifted));
    }
}
