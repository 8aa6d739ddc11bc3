//! Identifier validation against published and worked examples.
//!
//! Modulus 11: multiply the first nine digits by 10, 9, …, 2, add them up,
//! take the remainder on division by 11; the check digit is 11 minus that
//! remainder (11 becomes 0; 10 means no valid number has those nine digits).

use time::macros::date;

use super::*;

fn err_code(r: Result<PatientIdentifier, IdentifierError>) -> &'static str {
    r.expect_err("should be rejected").code()
}

#[test]
fn published_nhs_numbers_validate() {
    // 943 476 5919 (NHS Digital's example): 9×10 + 4×9 + 3×8 + 4×7 + 7×6
    // + 6×5 + 5×4 + 9×3 + 1×2 = 299; 299 mod 11 = 2; 11 − 2 = 9. ✓
    let id = PatientIdentifier::nhs("943 476 5919").expect("valid");
    assert_eq!(id.kind(), IdentifierKind::Nhs);
    assert_eq!(id.value(), "9434765919");
    assert_eq!(id.display(), "943 476 5919");
    assert_eq!(id.reference(), "nhs:943 476 5919");
    // 401 023 2137: 4×10 + 0 + 1×8 + 0 + 2×6 + 3×5 + 2×4 + 1×3 + 3×2 = 92;
    // 92 mod 11 = 4; 11 − 4 = 7. ✓
    assert!(PatientIdentifier::nhs("4010232137").is_ok());
    // 450 557 7104: sum 216; 216 mod 11 = 7; 11 − 7 = 4. ✓
    assert!(PatientIdentifier::nhs("450-557-7104").is_ok());
    // Separators in odd places and surrounding space are all ignored.
    assert_eq!(
        PatientIdentifier::nhs(" 9434 7659-19 ")
            .expect("valid")
            .value(),
        "9434765919"
    );
}

#[test]
fn a_wrong_check_digit_is_refused_with_a_clear_message() {
    let err = PatientIdentifier::nhs("943 476 5910").expect_err("bad check digit");
    assert_eq!(err.code(), "identifier.check_digit");
    assert!(err
        .to_string()
        .contains("check digit does not match — please re-read the number"));
    assert!(
        err.to_string().contains("943 476 5910"),
        "echoes what was typed"
    );
}

#[test]
fn a_remainder_of_one_means_no_valid_number() {
    // 123 456 789: sum 210; 210 mod 11 = 1; 11 − 1 = 10: no check digit
    // exists, so every completion is invalid.
    let nine = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    assert_eq!(check_digit(&nine), None);
    for last in 0..=9 {
        let n = format!("123456789{last}");
        assert_eq!(
            err_code(PatientIdentifier::nhs(&n)),
            "identifier.check_digit"
        );
    }
    // A remainder of 0 gives 11, written as 0.
    assert_eq!(check_digit(&[0; 9]), Some(0));
}

#[test]
fn wrong_length_and_non_digits_are_named() {
    let err = PatientIdentifier::nhs("943 476 591").expect_err("nine digits");
    assert_eq!(err.code(), "identifier.length");
    assert!(err.to_string().contains("has 9"));
    assert_eq!(
        err_code(PatientIdentifier::nhs("94347659190")),
        "identifier.length"
    );
    let err = PatientIdentifier::nhs("943 476 59I9").expect_err("letter I");
    assert_eq!(err.code(), "identifier.not_digits");
    assert_eq!(err_code(PatientIdentifier::nhs("  ")), "identifier.empty");
    assert_eq!(
        err_code(PatientIdentifier::nhs("943.476.5919")),
        "identifier.not_digits"
    );
}

#[test]
fn chi_numbers_start_with_a_real_date() {
    // 010 190 1232 — born 01/01/90: sum 0×10 + 1×9 + 0×8 + 1×7 + 9×6 + 0×5
    // + 1×4 + 2×3 + 3×2 = 86; 86 mod 11 = 9; 11 − 9 = 2. ✓
    let id = PatientIdentifier::chi("010190 1232").expect("valid");
    assert_eq!(id.display(), "010 190 1232");
    assert!(id.check_date_of_birth(date!(1990 - 01 - 01)).is_ok());
    // 150 472 0318 — born 15/04/72: sum 146; 146 mod 11 = 3; 11 − 3 = 8. ✓
    assert!(PatientIdentifier::chi("1504720318").is_ok());
    // 311 299 0005 — born 31/12/99: sum 160; 160 mod 11 = 6; 11 − 6 = 5. ✓
    assert!(PatientIdentifier::chi("3112990005").is_ok());
    // 310 290 1239 has a right check digit (sum 101 → 9) but 31 February
    // is not a date.
    let err = PatientIdentifier::chi("310 290 1239").expect_err("31 Feb");
    assert_eq!(err.code(), "identifier.chi_date");
    assert!(err.to_string().contains("real date of birth"));
    // And a CHI number with a wrong check digit says so.
    assert_eq!(
        err_code(PatientIdentifier::chi("010 190 1233")),
        "identifier.check_digit"
    );
}

#[test]
fn a_chi_number_must_agree_with_the_date_of_birth() {
    let id = PatientIdentifier::chi("1504720318").expect("valid");
    assert!(id.check_date_of_birth(date!(1972 - 04 - 15)).is_ok());
    // The century is not in the number; 2072 would still agree on DDMMYY,
    // but a different day, month or year does not.
    let err = id
        .check_date_of_birth(date!(1972 - 05 - 14))
        .expect_err("mismatch");
    assert_eq!(err.code(), "identifier.chi_dob_mismatch");
    let msg = err.to_string();
    assert!(msg.contains("15/04/72"), "{msg}");
    assert!(msg.contains("14/05/1972"), "{msg}");
    assert!(id.check_date_of_birth(date!(1973 - 04 - 15)).is_err());
    // Other kinds carry no date.
    let nhs = PatientIdentifier::nhs("9434765919").expect("valid");
    assert!(nhs.check_date_of_birth(date!(2001 - 01 - 01)).is_ok());
}

#[test]
fn hc_numbers_lie_in_the_northern_ireland_range() {
    // 320 000 0015: 3×10 + 2×9 + 1×2 = 50; 50 mod 11 = 6; 11 − 6 = 5. ✓
    assert_eq!(
        PatientIdentifier::hc("320 000 0015")
            .expect("valid")
            .display(),
        "320 000 0015"
    );
    // 391 234 5678: sum 223; 223 mod 11 = 3; 11 − 3 = 8. ✓
    assert!(PatientIdentifier::hc("3912345678").is_ok());
    // A valid NHS number outside the range is not an H&C number.
    let err = PatientIdentifier::hc("943 476 5919").expect_err("range");
    assert_eq!(err.code(), "identifier.hc_range");
    assert_eq!(
        err_code(PatientIdentifier::hc("391 234 5679")),
        "identifier.check_digit"
    );
}

#[test]
fn bare_numbers_resolve_by_allocated_range() {
    let r = |s| PatientIdentifier::parse_reference(s, None);
    assert_eq!(r("943 476 5919").expect("nhs").kind(), IdentifierKind::Nhs);
    assert_eq!(r("9434765919").expect("nhs").kind(), IdentifierKind::Nhs);
    assert_eq!(r("320 000 0015").expect("hc").kind(), IdentifierKind::Hc);
    assert_eq!(r("0101901232").expect("chi").kind(), IdentifierKind::Chi);
    // 000 000 0019 has a right check digit but is in the CHI range without
    // a date: which scheme is meant cannot be told, so the kind is asked for.
    let err = r("000 000 0019").expect_err("ambiguous");
    assert_eq!(err.code(), "identifier.ambiguous");
    assert!(err.to_string().contains("nhs:"));
    assert_eq!(
        r("310 290 1239").expect_err("ambiguous").code(),
        "identifier.ambiguous"
    );
    // A prefix settles it.
    assert_eq!(
        r("nhs:310 290 1239").expect("nhs").kind(),
        IdentifierKind::Nhs
    );
    assert_eq!(
        r("NHS: 943 476 5919").expect("nhs").kind(),
        IdentifierKind::Nhs
    );
    assert_eq!(
        r("chi:310 290 1239").expect_err("date").code(),
        "identifier.chi_date"
    );
    assert_eq!(
        r("hc:943 476 5919").expect_err("range").code(),
        "identifier.hc_range"
    );
    assert_eq!(
        r("xx:1").expect_err("kind").code(),
        "identifier.unknown_kind"
    );
    // Bad check digits are still bad without a prefix.
    assert_eq!(
        r("943 476 5910").expect_err("check").code(),
        "identifier.check_digit"
    );
    assert_eq!(r("12345").expect_err("length").code(), "identifier.length");
}

#[test]
fn local_numbers_follow_the_configured_pattern() {
    let pattern = LocalPattern::new("RH9999999").expect("pattern");
    let id = PatientIdentifier::local("rh 123-4567", Some(&pattern)).expect("valid");
    assert_eq!(id.value(), "RH1234567");
    assert_eq!(id.display(), "RH1234567");
    let err = PatientIdentifier::local("RY1234567", Some(&pattern)).expect_err("literal");
    assert_eq!(err.code(), "identifier.local_pattern");
    assert!(err.to_string().contains("RH9999999"));
    assert!(PatientIdentifier::local("RH123456", Some(&pattern)).is_err());
    let any = LocalPattern::new("AAX999").expect("pattern");
    assert!(PatientIdentifier::local("AB1234", Some(&any)).is_ok());
    assert!(PatientIdentifier::local("ABC234", Some(&any)).is_ok());
    assert!(PatientIdentifier::local("A11234", Some(&any)).is_err());
    // Without a pattern a local number cannot be checked, so it is refused.
    let err = PatientIdentifier::local("RH1234567", None).expect_err("no pattern");
    assert_eq!(err.code(), "identifier.local_not_configured");
    // Letters in a bare reference mean a local number.
    assert_eq!(
        PatientIdentifier::parse_reference("RH1234567", Some(&pattern))
            .expect("local")
            .kind(),
        IdentifierKind::Local
    );
    // Digits-only local numbers of another length than ten need no prefix.
    let digits = LocalPattern::new("99999999").expect("pattern");
    assert_eq!(
        PatientIdentifier::parse_reference("1234 5678", Some(&digits))
            .expect("local")
            .kind(),
        IdentifierKind::Local
    );
    assert_eq!(
        PatientIdentifier::parse_reference("1234567", Some(&digits))
            .expect_err("seven digits")
            .code(),
        "identifier.length"
    );
    for bad in ["", "ab-", "RX*99", "A[0-9]+", "AAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            LocalPattern::new(bad).expect_err("bad pattern").code(),
            "identifier.bad_pattern",
            "{bad}"
        );
    }
}

/// A small deterministic generator, so the property test needs no extra
/// dependency and fails the same way every time.
struct XorShift(u64);
impl XorShift {
    fn digit(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10) as u8
    }
}

#[test]
fn property_valid_numbers_validate_and_any_single_digit_change_is_caught() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    while checked < 2_000 {
        let mut nine = [0u8; 9];
        for d in &mut nine {
            *d = rng.digit();
        }
        let Some(check) = check_digit(&nine) else {
            continue;
        };
        let mut digits: Vec<u8> = nine.to_vec();
        digits.push(check);
        let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        assert!(
            PatientIdentifier::nhs(&text).is_ok(),
            "{text} must validate"
        );
        for pos in 0..10 {
            for v in 0..10u8 {
                if v == digits[pos] {
                    continue;
                }
                let mut changed = digits.clone();
                changed[pos] = v;
                let t: String = changed.iter().map(|d| char::from(b'0' + d)).collect();
                assert_eq!(
                    err_code(PatientIdentifier::nhs(&t)),
                    "identifier.check_digit",
                    "{t} differs from {text} in one digit"
                );
            }
        }
        // Swapping two different neighbours is caught too.
        for pos in 0..9 {
            if digits[pos] != digits[pos + 1] {
                let mut swapped = digits.clone();
                swapped.swap(pos, pos + 1);
                let t: String = swapped.iter().map(|d| char::from(b'0' + d)).collect();
                assert!(
                    PatientIdentifier::nhs(&t).is_err(),
                    "{t} is {text} transposed"
                );
            }
        }
        checked += 1;
    }
}
