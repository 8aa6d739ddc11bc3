//! Consent in the Institute of Medical Illustrators' levels, as both the app
//! (which records it) and the server (which re-checks it at intake) need it.
//! Recording, withdrawal and the local gate live in `clinshare-core`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// IMI consent levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConsentLevel {
    /// For the clinical record only.
    Record,
    /// Sharing with a named team for the patient's care.
    Care,
    /// Teaching of healthcare staff.
    Teaching,
    /// Publication (journals, books, the public domain).
    Publication,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum GivenBy {
    #[serde(rename = "patient")]
    Patient,
    /// A person with parental responsibility.
    #[serde(rename = "parent")]
    Parent,
    /// Lasting power of attorney for health and welfare.
    #[serde(rename = "attorney")]
    Attorney,
    /// A best-interests decision by the clinician (the patient lacks capacity).
    #[serde(rename = "best-interests")]
    BestInterests,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    Verbal,
    Written,
    Signature,
}

macro_rules! codes {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            pub fn code(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($s => Some(Self::$v),)* _ => None }
            }
        }
    };
}
codes!(ConsentLevel { Record = "record", Care = "care", Teaching = "teaching", Publication = "publication" });
codes!(GivenBy { Patient = "patient", Parent = "parent", Attorney = "attorney", BestInterests = "best-interests" });
codes!(ConsentMethod { Verbal = "verbal", Written = "written", Signature = "signature" });

impl ConsentLevel {
    /// Whether this level allows sharing with a recipient team for the
    /// patient's care: `care` or any higher level.
    pub fn covers_sharing_for_care(self) -> bool {
        self >= ConsentLevel::Care
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_only_care_and_above_allow_sharing() {
        assert!(ConsentLevel::Record < ConsentLevel::Care);
        assert!(ConsentLevel::Teaching < ConsentLevel::Publication);
        assert!(!ConsentLevel::Record.covers_sharing_for_care());
        assert!(ConsentLevel::Care.covers_sharing_for_care());
        assert!(ConsentLevel::Publication.covers_sharing_for_care());
    }

    #[test]
    fn wire_spellings_match_the_codes() {
        for l in [
            ConsentLevel::Record,
            ConsentLevel::Care,
            ConsentLevel::Teaching,
            ConsentLevel::Publication,
        ] {
            let json = serde_json::to_string(&l).expect("serialises");
            assert_eq!(json, format!("\"{}\"", l.code()));
            assert_eq!(ConsentLevel::from_code(l.code()), Some(l));
        }
        for g in [
            GivenBy::Patient,
            GivenBy::Parent,
            GivenBy::Attorney,
            GivenBy::BestInterests,
        ] {
            let json = serde_json::to_string(&g).expect("serialises");
            assert_eq!(json, format!("\"{}\"", g.code()));
            let back: GivenBy = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, g);
        }
    }
}
