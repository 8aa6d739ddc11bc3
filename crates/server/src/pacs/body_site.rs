//! The app's body sites (`clinshare-core` `media::annotate::BodySite`
//! codes) as DICOM Body Part Examined terms and SNOMED CT codes from
//! DICOM CID 4031, with laterality split off. `other` has no code.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodedSite {
    pub body_part: &'static str,
    pub snomed: &'static str,
    pub meaning: &'static str,
    pub laterality: Option<&'static str>,
}

pub fn coded(code: &str) -> Option<CodedSite> {
    let (side, rest) = if let Some(r) = code.strip_prefix("left_") {
        (Some("L"), r)
    } else if let Some(r) = code.strip_prefix("right_") {
        (Some("R"), r)
    } else {
        (None, code)
    };
    let (body_part, snomed, meaning) = match rest {
        "sacrum" => ("SACRUM", "54735007", "Sacrum"),
        "heel" => ("HEEL", "76853006", "Heel"),
        "foot" => ("FOOT", "56459004", "Foot"),
        "lower_leg" => ("LEG", "30021000", "Lower leg"),
        "hip" => ("HIP", "29836001", "Hip"),
        "buttock" => ("BUTTOCK", "46862004", "Buttock"),
        "abdomen" => ("ABDOMEN", "818983003", "Abdomen"),
        "chest" => ("CHEST", "43799004", "Chest"),
        "back" => ("BACK", "77568009", "Back"),
        "arm" => ("ARM", "40983000", "Arm"),
        "hand" => ("HAND", "85562004", "Hand"),
        "head_and_face" => ("HEAD", "69536005", "Head"),
        _ => return None,
    };
    Some(CodedSite {
        body_part,
        snomed,
        meaning,
        laterality: side,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sides_and_unknown_codes() {
        let h = super::coded("left_heel").expect("coded");
        assert_eq!((h.snomed, h.laterality), ("76853006", Some("L")));
        assert_eq!(super::coded("sacrum").and_then(|s| s.laterality), None);
        assert!(super::coded("other").is_none());
    }
}
