//! The server's audit trail: every request that touches patient data (and
//! every refusal of one) appends an entry; entries are hash-chained like the
//! app's (`clinshare-core` `audit.rs`), so an edited, removed or reordered
//! entry breaks the chain. Entries hold ids and codes, and for reads and
//! writes of a referral the patient's identifier (`patient`), so "who
//! looked at this patient" has an answer; never a name.

use sha2::{Digest, Sha256};

use crate::store::AuditRecord;

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the encoding, so a future change of it is explicit.
const DOMAIN: &[u8] = b"clinshare.server.audit.v1\0";
/// The encoding of entries that name a patient: v1's fields and the
/// patient. Entries without one keep v1, so chains written before the
/// patient column existed still verify.
const DOMAIN_V2: &[u8] = b"clinshare.server.audit.v2\0";

/// SHA-256 over the previous hash and every field, each length-prefixed so
/// no field can bleed into the next.
pub fn entry_hash(prev_hash: &str, seq: i64, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    h.update(if r.patient.is_some() {
        DOMAIN_V2
    } else {
        DOMAIN
    });
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
    for f in fields
        .into_iter()
        .chain(r.patient.as_deref().map(str::as_bytes))
    {
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
            patient: None,
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

    #[test]
    fn the_patient_is_hashed_and_entries_without_one_keep_the_old_encoding() {
        // The v1 hash of this record, as written before the patient column:
        // an existing chain must still verify.
        let old = entry_hash(GENESIS_HASH, 1, &rec("x"));
        assert_eq!(
            old,
            "91f77b337785318aec9e11dcbc5a1d0f377747640d3c504269b9c5ec844ab801"
        );
        let mut named = rec("x");
        named.patient = Some("nhs:9434765919".into());
        let a = entry_hash(GENESIS_HASH, 1, &named);
        assert_ne!(a, old);
        named.patient = Some("nhs:9434765911".into());
        assert_ne!(a, entry_hash(GENESIS_HASH, 1, &named));
        // An empty patient is not the same as none.
        named.patient = Some(String::new());
        assert_ne!(old, entry_hash(GENESIS_HASH, 1, &named));
    }
}
