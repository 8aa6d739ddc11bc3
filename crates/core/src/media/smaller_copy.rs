//! A smaller copy of a photo, for a recipient team that takes files only up
//! to a size (the signed directory says so). The copy is a new JPEG made
//! from the stored, already sanitised picture (upright, no metadata), then
//! imported like any photo: sanitised and verified again, tagged to the
//! same patient with the same body site and capture time. The original
//! stays in the store untouched.

use rusqlite::OptionalExtension;
use serde_json::json;

use super::{import_bytes, ImportError, Imported};
use crate::audit::{self, AuditAction, NewEntry};
use crate::error::{ErrorClass, ErrorCode};
use crate::session::Actor;
use crate::store::{Store, StoreError};

/// Long edges tried, largest first: the first copy under the limit wins.
const EDGES: [u32; 10] = [4096, 3200, 2560, 2048, 1600, 1280, 1024, 800, 640, 480];

#[derive(Debug, thiserror::Error)]
pub enum SmallerCopyError {
    #[error("That photo is not in the store.")]
    UnknownMedia,
    #[error("A smaller copy can be made of still photos only (not of {0}).")]
    NotAPhoto(String),
    #[error("Even a 480-pixel copy of this photo is larger than the recipient accepts.")]
    CannotFit,
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SmallerCopyError {
    fn from(e: rusqlite::Error) -> Self {
        SmallerCopyError::Store(e.into())
    }
}

impl ErrorCode for SmallerCopyError {
    fn code(&self) -> &'static str {
        match self {
            SmallerCopyError::UnknownMedia => "media.unknown",
            SmallerCopyError::NotAPhoto(_) => "media.smaller_copy_format",
            SmallerCopyError::CannotFit => "media.smaller_copy_too_large",
            SmallerCopyError::Import(e) => e.code(),
            SmallerCopyError::Store(e) => e.code(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            SmallerCopyError::Import(e) => e.class(),
            SmallerCopyError::Store(e) => e.class(),
            _ => ErrorClass::Refused,
        }
    }
}

struct Source {
    bytes: Vec<u8>,
    format: String,
    patient_id: Option<i64>,
    captured_at: Option<String>,
    body_site: Option<String>,
    body_site_detail: Option<String>,
}

/// The id of a copy of `media_id` no larger than `max_bytes` (the photo's
/// own id when it already fits). Audited as an import, with what it was
/// made from.
pub fn smaller_copy(
    store: &mut Store,
    actor: &Actor,
    media_id: &str,
    max_bytes: u64,
) -> Result<String, SmallerCopyError> {
    let source = store
        .conn()
        .query_row(
            "SELECT c.bytes, m.format, m.patient_id, m.captured_at, m.body_site, m.body_site_detail \
             FROM media m JOIN media_content c ON c.media_id = m.id WHERE m.id = ?1",
            [media_id],
            |r| {
                Ok(Source {
                    bytes: r.get(0)?,
                    format: r.get(1)?,
                    patient_id: r.get(2)?,
                    captured_at: r.get(3)?,
                    body_site: r.get(4)?,
                    body_site_detail: r.get(5)?,
                })
            },
        )
        .optional()?
        .ok_or(SmallerCopyError::UnknownMedia)?;
    if source.bytes.len() as u64 <= max_bytes {
        return Ok(media_id.to_owned());
    }
    if !matches!(source.format.as_str(), "jpeg" | "png" | "webp" | "tiff") {
        return Err(SmallerCopyError::NotAPhoto(source.format.to_uppercase()));
    }
    let copy = EDGES
        .iter()
        .filter_map(|&edge| clinshare_media::thumbnail(&source.bytes, edge).ok())
        .find(|jpeg| jpeg.len() as u64 <= max_bytes)
        .ok_or(SmallerCopyError::CannotFit)?;
    let id = match import_bytes(store, actor, &copy, source.patient_id)? {
        Imported::New { id, .. } => id,
        Imported::Duplicate { existing_id } => existing_id,
    };
    let tx = store.conn_mut().transaction()?;
    tx.execute(
        "UPDATE media SET captured_at = ?1, body_site = ?2, body_site_detail = ?3 WHERE id = ?4",
        rusqlite::params![
            source.captured_at,
            source.body_site,
            source.body_site_detail,
            id
        ],
    )?;
    audit::append(
        &tx,
        &NewEntry {
            actor: actor.audit(),
            action: AuditAction::Import,
            patient_id: source.patient_id,
            media_id: Some(&id),
            details: json!({"smaller_copy_of": media_id, "max_bytes": max_bytes}),
        },
    )?;
    tx.commit()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::media::{import_bytes, Imported};
    use crate::test_support::{actor, open_store};

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../media/tests/fixtures")
                .join(name),
        )
        .expect("fixture")
    }

    fn count(store: &Store) -> i64 {
        store
            .conn()
            .query_row("SELECT count(*) FROM media", [], |r| r.get(0))
            .expect("count")
    }

    #[test]
    fn a_copy_under_the_limit_is_a_clean_photo_of_the_same_patient_and_the_original_stays() {
        let (_dir, mut store) = open_store();
        let nurse = actor(&store, "Nurse Jackie");
        let original = fixture("ia_landscape_6.jpg");
        let Imported::New { id, .. } =
            import_bytes(&mut store, &nurse, &original, None).expect("import")
        else {
            panic!("not new")
        };
        store
            .conn()
            .execute(
                "UPDATE media SET body_site = 'left_heel', captured_at = '2026-11-20T10:15:00' WHERE id = ?1",
                [&id],
            )
            .expect("annotate");
        let stored_original: Vec<u8> = store
            .conn()
            .query_row(
                "SELECT bytes FROM media_content WHERE media_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .expect("bytes");

        let copy = smaller_copy(&mut store, &nurse, &id, 80_000).expect("copy");
        assert_ne!(copy, id);
        let (bytes, site, captured): (Vec<u8>, Option<String>, Option<String>) = store
            .conn()
            .query_row(
                "SELECT c.bytes, m.body_site, m.captured_at FROM media m \
                 JOIN media_content c ON c.media_id = m.id WHERE m.id = ?1",
                [&copy],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("copy row");
        assert!(bytes.len() <= 80_000, "{} bytes", bytes.len());
        assert!(clinshare_media::verify(&bytes, clinshare_media::Format::Jpeg).is_ok());
        assert_eq!(site.as_deref(), Some("left_heel"));
        assert_eq!(captured.as_deref(), Some("2026-11-20T10:15:00"));
        let unchanged: Vec<u8> = store
            .conn()
            .query_row(
                "SELECT bytes FROM media_content WHERE media_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .expect("bytes");
        assert_eq!(unchanged, stored_original, "the original stays as it was");
        let audited: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE details LIKE ?1",
                [format!("%\"smaller_copy_of\":\"{id}\"%")],
                |r| r.get(0),
            )
            .expect("audit");
        assert_eq!(audited, 1);

        // Already small enough: the photo itself.
        assert_eq!(
            smaller_copy(&mut store, &nurse, &id, original.len() as u64 * 2).expect("same"),
            id
        );
    }

    #[test]
    fn an_impossible_limit_or_an_unknown_photo_is_refused_and_adds_nothing() {
        let (_dir, mut store) = open_store();
        let nurse = actor(&store, "Nurse Jackie");
        let Imported::New { id, .. } =
            import_bytes(&mut store, &nurse, &fixture("ia_landscape_6.jpg"), None).expect("import")
        else {
            panic!("not new")
        };
        let before = count(&store);
        assert!(matches!(
            smaller_copy(&mut store, &nurse, &id, 100),
            Err(SmallerCopyError::CannotFit)
        ));
        assert!(matches!(
            smaller_copy(&mut store, &nurse, &"0".repeat(32), 100),
            Err(SmallerCopyError::UnknownMedia)
        ));
        assert_eq!(count(&store), before);
    }
}
