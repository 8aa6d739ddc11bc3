//! Patients: who a photo or consent belongs to.
//!
//! A patient is registered with a validated identifier that a person has
//! confirmed (typed twice in the app; for a CHI number, agreeing with the
//! date of birth is the confirmation). Edits keep the previous values in
//! `patient_history`. Every change and every listing is audited in the same
//! transaction; audit details hold patient ids only.

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;
use time::{Date, Month, OffsetDateTime};
use ts_rs::TS;

use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::identifiers::{IdentifierError, IdentifierKind, LocalPattern, PatientIdentifier};
use crate::session::Actor;
use crate::store::{Store, StoreError};

const MAX_NAME_CHARS: usize = 100;
/// Settings key of the local hospital number pattern.
pub const LOCAL_PATTERN_SETTING: &str = "identifiers.local_pattern";

/// A registered patient, as the UI and `clinshare` show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Patient {
    #[ts(type = "number")]
    pub id: i64,
    pub identifier: PatientIdentifier,
    /// The identifier as people read it (`943 476 5919`).
    pub identifier_display: String,
    pub family_name: String,
    pub given_name: String,
    /// YYYY-MM-DD.
    pub date_of_birth: String,
    /// `DOE, Jane`.
    pub display_name: String,
}

/// How the person entering an identifier confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Typed a second time (the app's confirmation field).
    Retyped(String),
    /// A CHI number begins with the date of birth, so a matching date of
    /// birth confirms it. Not accepted for other kinds.
    DateOfBirth,
    /// Read from a file by a script, not typed by a person (`clinshare` run
    /// without a terminal): the check digit is the only confirmation.
    Unattended,
}

#[derive(Debug, Clone)]
pub struct NewPatient {
    pub identifier: PatientIdentifier,
    pub confirmation: Confirmation,
    pub family_name: String,
    pub given_name: String,
    pub date_of_birth: Date,
}

/// Changes to a patient; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PatientEdit {
    pub identifier: Option<(PatientIdentifier, Confirmation)>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub date_of_birth: Option<Date>,
}

/// One earlier version of a patient record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PatientHistoryEntry {
    pub identifier: PatientIdentifier,
    pub family_name: String,
    pub given_name: String,
    pub date_of_birth: String,
    /// When it stopped being current, and who changed it.
    pub changed_at: String,
    #[ts(type = "number")]
    pub changed_by: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PatientError {
    #[error(transparent)]
    Identifier(#[from] IdentifierError),
    #[error("Enter the patient's {field} (1 to {MAX_NAME_CHARS} characters).")]
    InvalidName { field: &'static str },
    #[error("\"{typed}\" is not a date: write it as YYYY-MM-DD, e.g. 1972-04-15.")]
    InvalidDate { typed: String },
    #[error("The date of birth {typed} is in the future.")]
    FutureDateOfBirth { typed: String },
    #[error("The date of birth {typed} is before 1880; please check it.")]
    ImplausibleDateOfBirth { typed: String },
    #[error("The {kind} has not been confirmed: type it a second time. Nothing was saved.")]
    Unconfirmed { kind: IdentifierKind },
    #[error("A patient with this {kind} is already registered; nothing was saved.")]
    Duplicate { kind: IdentifierKind },
    #[error("No patient with the identifier \"{reference}\" is registered.")]
    NotFound { reference: String },
    #[error("Nothing to change: the new details are the same as the current ones.")]
    NoChange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for PatientError {
    fn from(e: rusqlite::Error) -> Self {
        PatientError::Store(e.into())
    }
}

impl ErrorCode for PatientError {
    fn code(&self) -> &'static str {
        match self {
            PatientError::Identifier(e) => e.code(),
            PatientError::InvalidName { .. } => "patient.invalid_name",
            PatientError::InvalidDate { .. } => "patient.invalid_date",
            PatientError::FutureDateOfBirth { .. } => "patient.future_date_of_birth",
            PatientError::ImplausibleDateOfBirth { .. } => "patient.implausible_date_of_birth",
            PatientError::Unconfirmed { .. } => "patient.identifier_unconfirmed",
            PatientError::Duplicate { .. } => "patient.duplicate_identifier",
            PatientError::NotFound { .. } => "patient.not_found",
            PatientError::NoChange => "patient.no_change",
            PatientError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            PatientError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

/// Parse a YYYY-MM-DD date (as typed on the command line or in a form).
pub fn parse_date(typed: &str) -> Result<Date, PatientError> {
    let t = typed.trim();
    let bad = || PatientError::InvalidDate {
        typed: t.to_owned(),
    };
    let parts: Vec<&str> = t.split('-').collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || parts[1].len() != 2
        || parts[2].len() != 2
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let year: i32 = parts[0].parse().map_err(|_| bad())?;
    let month: u8 = parts[1].parse().map_err(|_| bad())?;
    let day: u8 = parts[2].parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// YYYY-MM-DD.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Today's date (UTC).
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn check_date_of_birth(d: Date) -> Result<(), PatientError> {
    let typed = format_date(d);
    if d > today() {
        return Err(PatientError::FutureDateOfBirth { typed });
    }
    if d.year() < 1880 {
        return Err(PatientError::ImplausibleDateOfBirth { typed });
    }
    Ok(())
}

fn clean_name(name: &str, field: &'static str) -> Result<String, PatientError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(PatientError::InvalidName { field });
    }
    Ok(n.to_owned())
}

fn check_confirmation(
    identifier: &PatientIdentifier,
    confirmation: &Confirmation,
    local: Option<&LocalPattern>,
) -> Result<(), PatientError> {
    match confirmation {
        Confirmation::Unattended => Ok(()),
        Confirmation::DateOfBirth if identifier.kind() == IdentifierKind::Chi => Ok(()),
        Confirmation::DateOfBirth => Err(PatientError::Unconfirmed {
            kind: identifier.kind(),
        }),
        Confirmation::Retyped(second) => {
            match PatientIdentifier::parse_as(identifier.kind(), second, local) {
                Ok(again) if &again == identifier => Ok(()),
                _ => Err(IdentifierError::ConfirmationMismatch.into()),
            }
        }
    }
}

/// The local hospital number pattern configured for this store, if any.
pub fn local_pattern(store: &Store) -> Result<Option<LocalPattern>, PatientError> {
    let value = crate::settings::read(store, LOCAL_PATTERN_SETTING)?;
    Ok(value.map(|v| LocalPattern::new(&v)).transpose()?)
}

/// Configure the local hospital number pattern (see [`LocalPattern`]);
/// audited. Patients already registered keep their numbers.
pub fn set_local_pattern(
    store: &mut Store,
    actor: &Actor,
    pattern: &str,
) -> Result<LocalPattern, PatientError> {
    let pattern = LocalPattern::new(pattern)?;
    crate::settings::write(store, actor, LOCAL_PATTERN_SETTING, pattern.as_str())?;
    Ok(pattern)
}

/// Parse a patient reference using this store's local number pattern.
pub fn parse_reference(store: &Store, reference: &str) -> Result<PatientIdentifier, PatientError> {
    let local = local_pattern(store)?;
    Ok(PatientIdentifier::parse_reference(
        reference,
        local.as_ref(),
    )?)
}

const COLUMNS: &str = "id, id_kind, id_value, family_name, given_name, date_of_birth";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Patient> {
    let kind: String = r.get(1)?;
    let kind = IdentifierKind::from_code(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            "unknown identifier kind".into(),
        )
    })?;
    let identifier = PatientIdentifier::from_stored(kind, r.get(2)?);
    let family_name: String = r.get(3)?;
    let given_name: String = r.get(4)?;
    Ok(Patient {
        id: r.get(0)?,
        identifier_display: identifier.display(),
        identifier,
        display_name: display_name(&family_name, &given_name),
        family_name,
        given_name,
        date_of_birth: r.get(5)?,
    })
}

/// `DOE, Jane`: family name in capitals first, as on clinical records.
pub fn display_name(family: &str, given: &str) -> String {
    format!("{}, {}", family.to_uppercase(), given)
}

/// Register a patient. The identifier must be confirmed (see
/// [`Confirmation`]); a CHI number must agree with the date of birth.
pub fn create(store: &mut Store, actor: &Actor, new: NewPatient) -> Result<Patient, PatientError> {
    let family = clean_name(&new.family_name, "family name")?;
    let given = clean_name(&new.given_name, "given name")?;
    check_date_of_birth(new.date_of_birth)?;
    let local = local_pattern(store)?;
    check_confirmation(&new.identifier, &new.confirmation, local.as_ref())?;
    new.identifier.check_date_of_birth(new.date_of_birth)?;

    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let inserted = tx.execute(
        "INSERT INTO patients (id_kind, id_value, family_name, given_name, date_of_birth, \
         created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![
            new.identifier.kind().as_str(),
            new.identifier.value(),
            family,
            given,
            format_date(new.date_of_birth),
            crate::clock::now_rfc3339(),
            actor.id()
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            return Err(PatientError::Duplicate {
                kind: new.identifier.kind(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    let id = tx.last_insert_rowid();
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::PatientCreate,
            patient_id: Some(id),
            media_id: None,
            details: serde_json::json!({"identifier_kind": new.identifier.kind().as_str()}),
        },
    )?;
    let patient = by_id(&tx, id)?;
    tx.commit()?;
    Ok(patient)
}

/// The patient with this identifier, if registered (not audited: used to
/// resolve references before an audited action).
pub fn find(
    store: &Store,
    identifier: &PatientIdentifier,
) -> Result<Option<Patient>, PatientError> {
    Ok(store
        .conn()
        .query_row(
            &format!("SELECT {COLUMNS} FROM patients WHERE id_kind = ?1 AND id_value = ?2"),
            [identifier.kind().as_str(), identifier.value()],
            from_row,
        )
        .optional()?)
}

/// Resolve a reference as typed (`943 476 5919`, `chi:…`) to a patient.
pub fn resolve(store: &Store, reference: &str) -> Result<Patient, PatientError> {
    let identifier = parse_reference(store, reference)?;
    find(store, &identifier)?.ok_or_else(|| PatientError::NotFound {
        reference: reference.trim().to_owned(),
    })
}

pub fn get(store: &Store, id: i64) -> Result<Option<Patient>, PatientError> {
    Ok(by_id(store.conn(), id).optional()?)
}

/// Open one patient's record: audited as a view of that patient.
pub fn open(store: &mut Store, actor: &Actor, id: i64) -> Result<Patient, PatientError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let patient = by_id(&tx, id)
        .optional()?
        .ok_or_else(|| PatientError::NotFound {
            reference: format!("patient {id}"),
        })?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::View,
            patient_id: Some(id),
            media_id: None,
            details: serde_json::json!({"what": "patient_record"}),
        },
    )?;
    tx.commit()?;
    Ok(patient)
}

/// One patient row by id, on any connection or transaction.
fn by_id(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Patient> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM patients WHERE id = ?1"),
        [id],
        from_row,
    )
}

/// Whether `patient` matches a search: an identifier in any formatting
/// (digits match anywhere in the number), or a name, ignoring case.
fn matches(patient: &Patient, needle: &str) -> bool {
    let compact: String = needle
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !compact.is_empty() && compact.chars().all(|c| c.is_ascii_digit()) {
        return patient.identifier.value().contains(&compact);
    }
    if let Some((_, rest)) = needle.split_once(':') {
        let rest: String = rest
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        return !rest.is_empty() && patient.identifier.value().contains(&rest);
    }
    let n = needle.trim().to_lowercase();
    if n.is_empty() {
        return true;
    }
    let family = patient.family_name.to_lowercase();
    let given = patient.given_name.to_lowercase();
    [
        family.clone(),
        given.clone(),
        format!("{given} {family}"),
        format!("{family} {given}"),
        format!("{family}, {given}"),
    ]
    .iter()
    .any(|s| s.contains(&n))
        || (patient.identifier.kind() == IdentifierKind::Local
            && patient.identifier.value().contains(&compact.to_uppercase()))
}

/// Patients, optionally filtered by identifier or name, sorted by name.
/// Audited as a view of the patients shown.
pub fn search(
    store: &mut Store,
    actor: &Actor,
    text: Option<&str>,
) -> Result<Vec<Patient>, PatientError> {
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // A clinic laptop holds hundreds, not millions, of patients: filtering
    // here gives Unicode-aware case folding that SQLite's lower() lacks.
    let mut found: Vec<Patient> = {
        let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM patients"))?;
        let all = stmt.query_map([], from_row)?;
        let mut found = Vec::new();
        for p in all {
            let p = p?;
            if text.is_none_or(|t| matches(&p, t)) {
                found.push(p);
            }
        }
        found
    };
    found.sort_by(|a, b| {
        (
            a.family_name.to_lowercase(),
            a.given_name.to_lowercase(),
            a.id,
        )
            .cmp(&(
                b.family_name.to_lowercase(),
                b.given_name.to_lowercase(),
                b.id,
            ))
    });
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::View,
            patient_id: None,
            media_id: None,
            details: serde_json::json!({
                "what": "patient_list",
                "searched": text.is_some(),
                "patient_ids": found.iter().map(|p| p.id).collect::<Vec<_>>(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(found)
}

/// Change a patient's details, keeping the previous values in the history.
pub fn edit(
    store: &mut Store,
    actor: &Actor,
    id: i64,
    change: PatientEdit,
) -> Result<Patient, PatientError> {
    let current = get(store, id)?.ok_or_else(|| PatientError::NotFound {
        reference: format!("patient {id}"),
    })?;
    let local = local_pattern(store)?;
    let family = match &change.family_name {
        Some(n) => clean_name(n, "family name")?,
        None => current.family_name.clone(),
    };
    let given = match &change.given_name {
        Some(n) => clean_name(n, "given name")?,
        None => current.given_name.clone(),
    };
    let dob = match change.date_of_birth {
        Some(d) => {
            check_date_of_birth(d)?;
            d
        }
        None => parse_date(&current.date_of_birth)?,
    };
    let identifier = match &change.identifier {
        Some((identifier, confirmation)) => {
            check_confirmation(identifier, confirmation, local.as_ref())?;
            identifier.clone()
        }
        None => current.identifier.clone(),
    };
    identifier.check_date_of_birth(dob)?;

    let mut changed = Vec::new();
    if identifier != current.identifier {
        changed.push("identifier");
    }
    if family != current.family_name {
        changed.push("family_name");
    }
    if given != current.given_name {
        changed.push("given_name");
    }
    if format_date(dob) != current.date_of_birth {
        changed.push("date_of_birth");
    }
    if changed.is_empty() {
        return Err(PatientError::NoChange);
    }

    let now = crate::clock::now_rfc3339();
    let tx = store
        .conn_mut()
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO patient_history (patient_id, id_kind, id_value, family_name, given_name, \
         date_of_birth, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            id,
            current.identifier.kind().as_str(),
            current.identifier.value(),
            current.family_name,
            current.given_name,
            current.date_of_birth,
            now,
            actor.id()
        ],
    )?;
    let updated = tx.execute(
        "UPDATE patients SET id_kind = ?1, id_value = ?2, family_name = ?3, given_name = ?4, \
         date_of_birth = ?5, updated_at = ?6, updated_by = ?7 WHERE id = ?8",
        rusqlite::params![
            identifier.kind().as_str(),
            identifier.value(),
            family,
            given,
            format_date(dob),
            now,
            actor.id(),
            id
        ],
    );
    match updated {
        Ok(_) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            return Err(PatientError::Duplicate {
                kind: identifier.kind(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::PatientEdit,
            patient_id: Some(id),
            media_id: None,
            details: serde_json::json!({"changed": changed}),
        },
    )?;
    let patient = by_id(&tx, id)?;
    tx.commit()?;
    Ok(patient)
}

/// Earlier versions of a patient record, oldest first.
pub fn history(store: &Store, id: i64) -> Result<Vec<PatientHistoryEntry>, PatientError> {
    let mut stmt = store.conn().prepare(
        "SELECT id_kind, id_value, family_name, given_name, date_of_birth, changed_at, \
         changed_by FROM patient_history WHERE patient_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        let kind: String = r.get(0)?;
        Ok(PatientHistoryEntry {
            identifier: PatientIdentifier::from_stored(
                IdentifierKind::from_code(&kind).unwrap_or(IdentifierKind::Local),
                r.get(1)?,
            ),
            family_name: r.get(2)?,
            given_name: r.get(3)?,
            date_of_birth: r.get(4)?,
            changed_at: r.get(5)?,
            changed_by: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
