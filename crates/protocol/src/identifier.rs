//! Patient identifiers of the UK nations, validated before anything is stored.
//!
//! - **NHS number** (England, Wales, Isle of Man): 10 digits, the last a
//!   modulus 11 check digit.
//! - **CHI number** (Scotland): 10 digits, the first six the date of birth as
//!   DDMMYY, the last the same modulus 11 check digit.
//! - **H&C number** (Northern Ireland): 10 digits from 320 000 0000 to
//!   399 999 9999, modulus 11 check digit.
//! - **Local hospital number**: letters and digits matching the pattern
//!   configured for this store (see [`LocalPattern`]).
//!
//! Spaces and hyphens are ignored on input; the national numbers display as
//! 3-3-4 (`943 476 5919`).
//!
//! ## Which kind is a bare number?
//!
//! The check digit is the same for all three national schemes, so it cannot
//! tell them apart; their allocated ranges can. A reference without a kind
//! prefix (`nhs:`, `chi:`, `hc:`, `local:`) is read by its first three digits:
//!
//! | first digits | read as | why |
//! |---|---|---|
//! | 010–319 with a real DDMMYY date first | CHI | CHI numbers start with the date of birth |
//! | 320–399 | H&C | the range allocated to Northern Ireland |
//! | 400–999 | NHS | England, Wales and the Isle of Man (999 is the test range) |
//!
//! Anything else (000–319 without a real date) is ambiguous and refused with
//! [`IdentifierError::Ambiguous`], which asks for a kind prefix. A prefix
//! always wins: `nhs:0101…` is checked as an NHS number (check digit only).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};
use ts_rs::TS;

use crate::error::{ErrorClass, ErrorCode};

/// The longest local hospital number (and pattern) accepted.
pub const MAX_LOCAL_CHARS: usize = 20;

/// Which scheme an identifier belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    Nhs,
    Chi,
    Hc,
    Local,
}

impl IdentifierKind {
    /// The stored code and reference prefix (`nhs`, `chi`, `hc`, `local`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKind::Nhs => "nhs",
            IdentifierKind::Chi => "chi",
            IdentifierKind::Hc => "hc",
            IdentifierKind::Local => "local",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "nhs" => Some(IdentifierKind::Nhs),
            "chi" => Some(IdentifierKind::Chi),
            "hc" => Some(IdentifierKind::Hc),
            "local" => Some(IdentifierKind::Local),
            _ => None,
        }
    }

    /// The name people use for it, for messages.
    pub fn label(self) -> &'static str {
        match self {
            IdentifierKind::Nhs => "NHS number",
            IdentifierKind::Chi => "CHI number",
            IdentifierKind::Hc => "H&C number",
            IdentifierKind::Local => "local hospital number",
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A validated identifier. The value is canonical: ten digits for the
/// national schemes, upper-case letters and digits for a local number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, TS)]
pub struct PatientIdentifier {
    kind: IdentifierKind,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("Enter the {kind}.")]
    Empty { kind: IdentifierKind },
    #[error("A {kind} has 10 digits; \"{typed}\" has {found}.")]
    WrongLength {
        kind: IdentifierKind,
        typed: String,
        found: usize,
    },
    #[error("A {kind} has only digits (spaces and hyphens are allowed); \"{typed}\" has other characters.")]
    NotDigits { kind: IdentifierKind, typed: String },
    #[error("The {kind} \"{typed}\": check digit does not match — please re-read the number.")]
    CheckDigit { kind: IdentifierKind, typed: String },
    #[error(
        "The CHI number \"{typed}\" does not start with a real date of birth (DDMMYY) — please \
         re-read the number."
    )]
    ChiDate { typed: String },
    #[error(
        "The CHI number \"{typed}\" starts with the date {chi_date}, but the date of birth is \
         {date_of_birth}. A CHI number begins with the date of birth (DDMMYY): check both."
    )]
    ChiDateOfBirthMismatch {
        typed: String,
        chi_date: String,
        date_of_birth: String,
    },
    #[error("An H&C number lies between 320 000 0000 and 399 999 9999; \"{typed}\" does not.")]
    HcRange { typed: String },
    #[error(
        "\"{typed}\" could be more than one kind of identifier. Write the kind before it: nhs:, \
         chi:, hc: or local: (for example nhs:{typed})."
    )]
    Ambiguous { typed: String },
    #[error("Unknown identifier kind \"{prefix}:\"; use nhs:, chi:, hc: or local:.")]
    UnknownKind { prefix: String },
    #[error(
        "Local hospital numbers are not set up on this computer (no pattern is configured), so \
         \"{typed}\" cannot be checked."
    )]
    LocalNotConfigured { typed: String },
    #[error(
        "The local hospital number \"{typed}\" does not match this hospital's pattern {pattern}."
    )]
    LocalPattern { typed: String, pattern: String },
    #[error(
        "The local number pattern \"{pattern}\" is not valid: use A for a letter, 9 for a digit, \
         X for either, and upper-case letters or digits for themselves (at most {MAX_LOCAL_CHARS})."
    )]
    BadPattern { pattern: String },
    #[error("The two entries of the identifier differ; nothing was saved. Re-type it.")]
    ConfirmationMismatch,
}

impl ErrorCode for IdentifierError {
    fn code(&self) -> &'static str {
        match self {
            IdentifierError::Empty { .. } => "identifier.empty",
            IdentifierError::WrongLength { .. } => "identifier.length",
            IdentifierError::NotDigits { .. } => "identifier.not_digits",
            IdentifierError::CheckDigit { .. } => "identifier.check_digit",
            IdentifierError::ChiDate { .. } => "identifier.chi_date",
            IdentifierError::ChiDateOfBirthMismatch { .. } => "identifier.chi_dob_mismatch",
            IdentifierError::HcRange { .. } => "identifier.hc_range",
            IdentifierError::Ambiguous { .. } => "identifier.ambiguous",
            IdentifierError::UnknownKind { .. } => "identifier.unknown_kind",
            IdentifierError::LocalNotConfigured { .. } => "identifier.local_not_configured",
            IdentifierError::LocalPattern { .. } => "identifier.local_pattern",
            IdentifierError::BadPattern { .. } => "identifier.bad_pattern",
            IdentifierError::ConfirmationMismatch => "identifier.confirmation_mismatch",
        }
    }

    fn class(&self) -> ErrorClass {
        ErrorClass::Refused
    }
}

/// The modulus 11 check digit over the first nine digits (weights 10 down
/// to 2), or `None` when the remainder makes 10: no valid number has those
/// nine digits.
pub fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

/// Remove the separators people type: spaces and hyphens.
fn compact(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// Ten digits with a matching check digit, in canonical form.
fn ten_digits(kind: IdentifierKind, input: &str) -> Result<[u8; 10], IdentifierError> {
    let typed = input.trim().to_owned();
    let c = compact(input);
    if c.is_empty() {
        return Err(IdentifierError::Empty { kind });
    }
    if !c.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(IdentifierError::NotDigits { kind, typed });
    }
    if c.len() != 10 {
        return Err(IdentifierError::WrongLength {
            kind,
            typed,
            found: c.len(),
        });
    }
    let mut digits = [0u8; 10];
    for (d, b) in digits.iter_mut().zip(c.bytes()) {
        *d = b - b'0';
    }
    let mut nine = [0u8; 9];
    nine.copy_from_slice(&digits[..9]);
    if check_digit(&nine) != Some(digits[9]) {
        return Err(IdentifierError::CheckDigit { kind, typed });
    }
    Ok(digits)
}

fn digits_to_string(d: &[u8; 10]) -> String {
    d.iter().map(|x| char::from(b'0' + x)).collect()
}

/// The day, month and two-digit year a CHI number starts with, when they
/// form a date in either the 1900s or the 2000s.
fn chi_date_parts(d: &[u8; 10]) -> Option<(u8, u8, u8)> {
    let day = d[0] * 10 + d[1];
    let month = d[2] * 10 + d[3];
    let yy = d[4] * 10 + d[5];
    let month_enum = Month::try_from(month).ok()?;
    let real = [1900, 2000]
        .iter()
        .any(|century| Date::from_calendar_date(century + i32::from(yy), month_enum, day).is_ok());
    real.then_some((day, month, yy))
}

impl PatientIdentifier {
    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    /// The canonical value as stored (digits only for national numbers).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Rebuild from parts that were validated before they were stored.
    /// Never use this on input from outside: parse it instead.
    pub fn from_stored(kind: IdentifierKind, value: String) -> Self {
        PatientIdentifier { kind, value }
    }

    pub fn nhs(input: &str) -> Result<Self, IdentifierError> {
        let d = ten_digits(IdentifierKind::Nhs, input)?;
        Ok(PatientIdentifier {
            kind: IdentifierKind::Nhs,
            value: digits_to_string(&d),
        })
    }

    pub fn chi(input: &str) -> Result<Self, IdentifierError> {
        let d = ten_digits(IdentifierKind::Chi, input)?;
        if chi_date_parts(&d).is_none() {
            return Err(IdentifierError::ChiDate {
                typed: input.trim().to_owned(),
            });
        }
        Ok(PatientIdentifier {
            kind: IdentifierKind::Chi,
            value: digits_to_string(&d),
        })
    }

    pub fn hc(input: &str) -> Result<Self, IdentifierError> {
        let d = ten_digits(IdentifierKind::Hc, input)?;
        let lead = u16::from(d[0]) * 100 + u16::from(d[1]) * 10 + u16::from(d[2]);
        if !(320..=399).contains(&lead) {
            return Err(IdentifierError::HcRange {
                typed: input.trim().to_owned(),
            });
        }
        Ok(PatientIdentifier {
            kind: IdentifierKind::Hc,
            value: digits_to_string(&d),
        })
    }

    pub fn local(input: &str, pattern: Option<&LocalPattern>) -> Result<Self, IdentifierError> {
        let typed = input.trim().to_owned();
        let c = compact(input).to_uppercase();
        if c.is_empty() {
            return Err(IdentifierError::Empty {
                kind: IdentifierKind::Local,
            });
        }
        let Some(pattern) = pattern else {
            return Err(IdentifierError::LocalNotConfigured { typed });
        };
        if !pattern.matches(&c) {
            return Err(IdentifierError::LocalPattern {
                typed,
                pattern: pattern.as_str().to_owned(),
            });
        }
        Ok(PatientIdentifier {
            kind: IdentifierKind::Local,
            value: c,
        })
    }

    /// Parse as the given kind.
    pub fn parse_as(
        kind: IdentifierKind,
        input: &str,
        local: Option<&LocalPattern>,
    ) -> Result<Self, IdentifierError> {
        match kind {
            IdentifierKind::Nhs => Self::nhs(input),
            IdentifierKind::Chi => Self::chi(input),
            IdentifierKind::Hc => Self::hc(input),
            IdentifierKind::Local => Self::local(input, local),
        }
    }

    /// Parse a reference as people write it: `943 476 5919`, `9434765919`,
    /// or with a kind prefix (`nhs:`, `chi:`, `hc:`, `local:`). See the
    /// module documentation for how a bare number's kind is decided.
    pub fn parse_reference(
        input: &str,
        local: Option<&LocalPattern>,
    ) -> Result<Self, IdentifierError> {
        let trimmed = input.trim();
        if let Some((prefix, rest)) = trimmed.split_once(':') {
            let prefix_lc = prefix.trim().to_ascii_lowercase();
            let kind = IdentifierKind::from_code(&prefix_lc).ok_or_else(|| {
                IdentifierError::UnknownKind {
                    prefix: prefix.trim().to_owned(),
                }
            })?;
            return Self::parse_as(kind, rest, local);
        }
        let c = compact(trimmed);
        if c.is_empty() {
            return Err(IdentifierError::Empty {
                kind: IdentifierKind::Nhs,
            });
        }
        if !c.chars().all(|ch| ch.is_ascii_digit()) {
            // Letters: only a local number can have them.
            return Self::local(trimmed, local);
        }
        if c.len() != 10 {
            // Some hospitals number patients with digits only (`99999999`).
            if let Some(p) = local.filter(|p| p.matches(&c)) {
                return Self::local(trimmed, Some(p));
            }
            return Err(IdentifierError::WrongLength {
                kind: IdentifierKind::Nhs,
                typed: trimmed.to_owned(),
                found: c.len(),
            });
        }
        let lead: u16 = c[..3].parse().unwrap_or(0);
        match lead {
            400..=999 => Self::nhs(trimmed),
            320..=399 => Self::hc(trimmed),
            _ => match Self::chi(trimmed) {
                Err(IdentifierError::ChiDate { .. }) => Err(IdentifierError::Ambiguous {
                    typed: trimmed.to_owned(),
                }),
                other => other,
            },
        }
    }

    /// For CHI numbers: check that the number starts with this date of birth.
    /// Other kinds carry no date and always agree.
    pub fn check_date_of_birth(&self, date_of_birth: Date) -> Result<(), IdentifierError> {
        if self.kind != IdentifierKind::Chi {
            return Ok(());
        }
        let b = self.value.as_bytes();
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let (day, month, yy) = (two(0), two(2), two(4));
        let year = date_of_birth.year();
        let matches = day == date_of_birth.day()
            && month == u8::from(date_of_birth.month())
            && i32::from(yy) == year.rem_euclid(100);
        if matches {
            Ok(())
        } else {
            Err(IdentifierError::ChiDateOfBirthMismatch {
                typed: self.display(),
                chi_date: format!("{day:02}/{month:02}/{yy:02}"),
                date_of_birth: format!(
                    "{:02}/{:02}/{:04}",
                    date_of_birth.day(),
                    u8::from(date_of_birth.month()),
                    year
                ),
            })
        }
    }

    /// As people read it: `943 476 5919` for national numbers.
    pub fn display(&self) -> String {
        match self.kind {
            IdentifierKind::Local => self.value.clone(),
            _ => format!(
                "{} {} {}",
                &self.value[..3],
                &self.value[3..6],
                &self.value[6..]
            ),
        }
    }

    /// With its kind prefix, unambiguous anywhere: `nhs:943 476 5919`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.display())
    }
}

impl fmt::Display for PatientIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// The shape of this hospital's local numbers, kept deliberately simple
/// (no general regular expressions, so no surprises and no catastrophic
/// backtracking): `A` a letter, `9` a digit, `X` a letter or digit, and any
/// other upper-case letter or digit stands for itself. `RH9999999` accepts
/// `RH1234567`. Matching ignores case, spaces and hyphens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPattern(String);

impl LocalPattern {
    pub fn new(pattern: &str) -> Result<Self, IdentifierError> {
        let p = compact(pattern);
        let ok = !p.is_empty()
            && p.chars().count() <= MAX_LOCAL_CHARS
            && p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        if ok {
            Ok(LocalPattern(p))
        } else {
            Err(IdentifierError::BadPattern {
                pattern: pattern.trim().to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a compacted, upper-cased candidate matches.
    fn matches(&self, candidate: &str) -> bool {
        candidate.chars().count() == self.0.chars().count()
            && self.0.chars().zip(candidate.chars()).all(|(p, c)| match p {
                'A' => c.is_ascii_uppercase(),
                '9' => c.is_ascii_digit(),
                'X' => c.is_ascii_uppercase() || c.is_ascii_digit(),
                lit => c == lit,
            })
    }
}

#[cfg(test)]
mod tests;
