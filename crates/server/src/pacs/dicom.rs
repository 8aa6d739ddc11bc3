//! One photo as a DICOM VL Photographic Image (XC), its JPEG bitstream
//! encapsulated exactly as stored (JPEG Baseline transfer syntax, one
//! fragment, basic offset table). Only patient, referral and team facts go
//! in: no camera make, model, serial, software, location or device tag is
//! ever written, so nothing the app stripped comes back here.
//!
//! UIDs are derived from the referral id and the file's SHA-256
//! (`2.25.<UUID as decimal>`), so a retried delivery produces the same
//! study, series and instance UIDs and the PACS keeps one copy.

use dicom_core::value::{DataSetSequence, PixelFragmentSequence};
use dicom_core::{DataElement, Length, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::body_site;
use super::jpeg::{frame_header, JpegError};
use clinshare_protocol::consent::ConsentLevel;
use clinshare_protocol::identifier::IdentifierKind;
use clinshare_protocol::referral::ReferralManifest;

/// Identifies this encoder in the file meta group (a fixed, derived UID).
const IMPLEMENTATION_VERSION: &str = "CLINSHARE_01";

#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    #[error("the photo is not a JPEG the PACS can take as is: {0}")]
    Jpeg(#[from] JpegError),
    #[error("only 8-bit baseline or extended JPEG with 1 or 3 components is filed")]
    UnsupportedJpeg,
    #[error("DICOM encoding failed: {0}")]
    Encode(String),
}

/// What is filed for one referral, whatever the photo.
pub struct StudyFacts<'a> {
    pub referral_id: &'a str,
    pub manifest: &'a ReferralManifest,
    /// `FAMILY^Given`, when the manifest carries the name.
    pub patient_name: Option<&'a str>,
    /// `YYYYMMDD`, same condition.
    pub birth_date: Option<&'a str>,
    pub sender_name: &'a str,
    pub team_name: &'a str,
    pub delivered_at: i64,
}

/// One photo.
pub struct PhotoFacts<'a> {
    pub sha256: &'a str,
    pub jpeg: &'a [u8],
    pub instance_number: u32,
    /// A `BodySite` code of the app (`left_heel`, ...).
    pub body_site: Option<&'a str>,
    /// Unix seconds, when the app sends it; otherwise the delivery time is
    /// used as Content Date/Time (type 1 in the VL Image module).
    pub captured_at: Option<i64>,
}

/// `2.25.` followed by the decimal form of a version 8 (name-based, custom)
/// UUID made from SHA-256 over a label and the parts.
pub fn derived_uid(label: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"clinshare.dicom.uid.v1\0");
    h.update(label.as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(b))
}

pub fn study_uid(referral_id: &str) -> String {
    derived_uid("study", &[referral_id])
}

pub fn series_uid(referral_id: &str) -> String {
    derived_uid("series", &[referral_id])
}

pub fn instance_uid(referral_id: &str, sha256: &str) -> String {
    derived_uid("instance", &[referral_id, sha256])
}

/// The issuer written beside each identifier kind.
pub fn issuer(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Nhs => "NHS",
        IdentifierKind::Chi => "CHI",
        IdentifierKind::Hc => "H&C",
        IdentifierKind::Local => "LOCAL",
    }
}

/// Text for LO/PN values: no backslash (the value separator) or control
/// characters, at most `max` characters.
fn clean(s: &str, max: usize, also: &[char]) -> String {
    s.chars()
        .map(|c| {
            if c == '\\' || c.is_control() || also.contains(&c) {
                ' '
            } else {
                c
            }
        })
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn consent_text(m: &ReferralManifest, team_name: &str) -> String {
    let level = match m.consent.level {
        ConsentLevel::Record => "clinical record",
        ConsentLevel::Care => "sharing for care",
        ConsentLevel::Teaching => "teaching",
        ConsentLevel::Publication => "publication",
    };
    let limited = if m.consent.recipient_team.is_some() {
        format!(", limited to {team_name}")
    } else {
        String::new()
    };
    format!(
        "ClinShare consent: {level}{limited}; given by {:?}; recorded {}",
        m.consent.given_by, m.consent.recorded_at
    )
}

fn da_tm(unix: i64) -> (String, String) {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (
        format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()),
        format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second()),
    )
}

fn el(tag: dicom_core::Tag, vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v.into())
}

fn empty(tag: dicom_core::Tag, vr: VR) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::Empty)
}

/// The Part 10 file (preamble, meta group, data set) for one photo.
pub fn encode(study: &StudyFacts<'_>, photo: &PhotoFacts<'_>) -> Result<Vec<u8>, DicomError> {
    let sof = frame_header(photo.jpeg)?;
    let photometric = sof.photometric();
    if sof.precision != 8 || sof.process > 1 || photometric == "UNSUPPORTED" {
        return Err(DicomError::UnsupportedJpeg);
    }
    let m = study.manifest;
    let sop_uid = instance_uid(study.referral_id, photo.sha256);
    let (study_date, study_time) = da_tm(study.delivered_at);
    let (content_date, content_time) = da_tm(photo.captured_at.unwrap_or(study.delivered_at));
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |e| {
        obj.put(e);
    };
    put(el(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    put(el(
        tags::IMAGE_TYPE,
        VR::CS,
        PrimitiveValue::Strs(
            ["ORIGINAL".to_owned(), "PRIMARY".to_owned()]
                .into_iter()
                .collect(),
        ),
    ));
    put(el(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    ));
    put(el(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str()));
    put(el(tags::STUDY_DATE, VR::DA, study_date.as_str()));
    put(el(tags::CONTENT_DATE, VR::DA, content_date.as_str()));
    put(el(tags::STUDY_TIME, VR::TM, study_time.as_str()));
    put(el(tags::CONTENT_TIME, VR::TM, content_time.as_str()));
    put(empty(tags::ACCESSION_NUMBER, VR::SH));
    put(el(tags::MODALITY, VR::CS, "XC"));
    // Type 2: present and empty. No device facts are known or wanted.
    put(empty(tags::MANUFACTURER, VR::LO));
    put(empty(tags::REFERRING_PHYSICIAN_NAME, VR::PN));
    put(el(
        tags::STUDY_DESCRIPTION,
        VR::LO,
        clean(&m.clinical_question, 64, &[]).as_str(),
    ));
    put(el(
        tags::OPERATORS_NAME,
        VR::PN,
        clean(study.sender_name, 64, &['^', '=']).as_str(),
    ));
    if let Some(code) = photo.body_site.and_then(body_site::coded) {
        put(el(tags::BODY_PART_EXAMINED, VR::CS, code.body_part));
        let mut item = InMemDicomObject::new_empty();
        item.put(el(tags::CODE_VALUE, VR::SH, code.snomed));
        item.put(el(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "SCT"));
        item.put(el(tags::CODE_MEANING, VR::LO, code.meaning));
        put(DataElement::new(
            tags::ANATOMIC_REGION_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![item], Length::UNDEFINED),
        ));
        if let Some(l) = code.laterality {
            put(el(tags::IMAGE_LATERALITY, VR::CS, l));
        }
    }
    // Type 2C in General Series: for a paired part whose side is not given
    // as Image Laterality. Written empty when the site (so the side) is
    // unknown; absent when Image Laterality carries it.
    let side_known = photo
        .body_site
        .and_then(body_site::coded)
        .is_some_and(|c| c.laterality.is_some());
    if !side_known {
        put(el(tags::LATERALITY, VR::CS, ""));
    }
    put(el(
        tags::PATIENT_NAME,
        VR::PN,
        study
            .patient_name
            .map(|n| clean(n, 64, &['=']))
            .unwrap_or_default()
            .as_str(),
    ));
    put(el(tags::PATIENT_ID, VR::LO, m.patient.value.as_str()));
    put(el(
        tags::ISSUER_OF_PATIENT_ID,
        VR::LO,
        issuer(m.patient.kind),
    ));
    if m.patient.kind == IdentifierKind::Nhs {
        // NHS number's registered OID, so a PACS can match it exactly.
        let mut q = InMemDicomObject::new_empty();
        q.put(el(
            tags::UNIVERSAL_ENTITY_ID,
            VR::UT,
            "2.16.840.1.113883.2.1.4.1",
        ));
        q.put(el(tags::UNIVERSAL_ENTITY_ID_TYPE, VR::CS, "ISO"));
        put(DataElement::new(
            tags::ISSUER_OF_PATIENT_ID_QUALIFIERS_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(vec![q], Length::UNDEFINED),
        ));
    }
    put(el(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        study.birth_date.unwrap_or(""),
    ));
    put(empty(tags::PATIENT_SEX, VR::CS));
    put(el(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        study_uid(study.referral_id).as_str(),
    ));
    put(el(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        series_uid(study.referral_id).as_str(),
    ));
    put(el(
        tags::STUDY_ID,
        VR::SH,
        &study.referral_id[..study.referral_id.len().min(16)],
    ));
    put(el(tags::SERIES_NUMBER, VR::IS, "1"));
    put(el(
        tags::INSTANCE_NUMBER,
        VR::IS,
        photo.instance_number.to_string().as_str(),
    ));
    put(empty(tags::PATIENT_ORIENTATION, VR::CS));
    put(el(
        tags::IMAGE_COMMENTS,
        VR::LT,
        consent_text(m, study.team_name).as_str(),
    ));
    put(el(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        u16::from(sof.components),
    ));
    put(el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric));
    if sof.components > 1 {
        put(el(tags::PLANAR_CONFIGURATION, VR::US, 0_u16));
    }
    put(el(tags::ROWS, VR::US, sof.rows));
    put(el(tags::COLUMNS, VR::US, sof.columns));
    put(el(tags::BITS_ALLOCATED, VR::US, 8_u16));
    put(el(tags::BITS_STORED, VR::US, 8_u16));
    put(el(tags::HIGH_BIT, VR::US, 7_u16));
    put(el(tags::PIXEL_REPRESENTATION, VR::US, 0_u16));
    put(el(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01"));
    put(el(
        tags::LOSSY_IMAGE_COMPRESSION_METHOD,
        VR::CS,
        "ISO_10918_1",
    ));
    put(el(
        tags::REQUESTING_SERVICE,
        VR::LO,
        clean(study.team_name, 64, &[]).as_str(),
    ));
    // Type 2 in the Acquisition Context module: present and empty.
    put(DataElement::new(
        tags::ACQUISITION_CONTEXT_SEQUENCE,
        VR::SQ,
        DataSetSequence::<InMemDicomObject>::new(Vec::new(), Length::UNDEFINED),
    ));
    put(el(
        tags::IMAGING_SERVICE_REQUEST_COMMENTS,
        VR::LT,
        clean(&m.clinical_question, 10240, &[]).as_str(),
    ));
    // Fragments must have even length: one zero byte after EOI pads an odd
    // file (PS3.5 A.4); the bytes before it are the stored file.
    let mut fragment = photo.jpeg.to_vec();
    if fragment.len() % 2 == 1 {
        fragment.push(0);
    }
    put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PixelFragmentSequence::new(vec![0_u32], vec![fragment]),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::JPEG_BASELINE8_BIT)
                .implementation_class_uid(derived_uid("implementation", &["clinshare-server"]))
                .implementation_version_name(IMPLEMENTATION_VERSION),
        )
        .map_err(|e| DicomError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(photo.jpeg.len() + 4096);
    file.write_all(&mut out)
        .map_err(|e| DicomError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinshare_protocol::consent::GivenBy;
    use clinshare_protocol::referral::{ConsentSummary, PatientRef, Urgency};

    fn manifest() -> ReferralManifest {
        ReferralManifest {
            protocol_version: 1,
            idempotency_key: "k".repeat(8),
            patient: PatientRef {
                kind: IdentifierKind::Nhs,
                value: "9434765919".into(),
                family_name: None,
                given_name: None,
                date_of_birth: None,
            },
            recipient_team: "t".into(),
            consent: ConsentSummary {
                level: ConsentLevel::Care,
                given_by: GivenBy::Patient,
                recorded_by: "alice".into(),
                recorded_at: "2026-01-05T10:00:00Z".into(),
                recipient_team: Some("t".into()),
                withdrawn: false,
            },
            clinical_question: "Heel ulcer \\ dressing advice?".into(),
            urgency: Urgency::Routine,
            media: Vec::new(),
        }
    }

    #[test]
    fn names_and_questions_outside_ascii_survive_as_utf8() {
        let jpeg = clinshare_media::sanitise(
            include_bytes!("../../tests/fixtures/et_ExifTool.jpg"),
            &clinshare_media::Limits::default(),
        )
        .expect("sanitise")
        .bytes;
        let mut m = manifest();
        m.clinical_question = "Plaie au talon — conseil, s'il vous plaît?".into();
        let study = StudyFacts {
            referral_id: "0123456789abcdef0123456789abcdef",
            manifest: &m,
            patient_name: Some("Ní Bhriain^Siân"),
            birth_date: None,
            sender_name: "Zoë Ó Dálaigh",
            team_name: "Tissue Viability",
            delivered_at: 0,
        };
        let photo = PhotoFacts {
            sha256: "ab",
            jpeg: &jpeg,
            instance_number: 1,
            body_site: None,
            captured_at: None,
        };
        let bytes = encode(&study, &photo).expect("encode");
        // Written as UTF-8 (ISO_IR 192), not merely read back the same way.
        assert!(bytes.windows(5).any(|w| w == "Siân".as_bytes()));
        let obj = dicom_object::from_reader(&bytes[128..]).expect("parse");
        let s = |t| {
            obj.element(t)
                .expect("tag")
                .to_str()
                .expect("str")
                .trim()
                .to_owned()
        };
        assert_eq!(s(tags::PATIENT_NAME), "Ní Bhriain^Siân");
        assert_eq!(s(tags::OPERATORS_NAME), "Zoë Ó Dálaigh");
        assert_eq!(
            s(tags::STUDY_DESCRIPTION),
            "Plaie au talon — conseil, s'il vous plaît?"
        );
        assert!(obj.element(tags::BODY_PART_EXAMINED).is_err());
        assert_eq!(s(tags::LATERALITY), "");
    }

    #[test]
    fn uids_are_stable_distinct_and_valid() {
        let a = instance_uid("r1", "s1");
        assert_eq!(a, instance_uid("r1", "s1"));
        assert_ne!(a, instance_uid("r1", "s2"));
        assert_ne!(study_uid("r1"), series_uid("r1"));
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].bytes().all(|b| b.is_ascii_digit()) && !a[5..].starts_with('0'));
    }

    #[test]
    fn the_jpeg_is_encapsulated_byte_for_byte_with_header_facts() {
        let jpeg = clinshare_media::sanitise(
            include_bytes!("../../tests/fixtures/et_ExifTool.jpg"),
            &clinshare_media::Limits::default(),
        )
        .expect("sanitise")
        .bytes;
        let m = manifest();
        let study = StudyFacts {
            referral_id: "0123456789abcdef0123456789abcdef",
            manifest: &m,
            patient_name: Some("DOE^JANE"),
            birth_date: Some("19400102"),
            sender_name: "alice",
            team_name: "Tissue Viability",
            delivered_at: 1_767_607_200,
        };
        let photo = PhotoFacts {
            sha256: "ab",
            jpeg: &jpeg,
            instance_number: 1,
            body_site: Some("left_heel"),
            captured_at: None,
        };
        let bytes = encode(&study, &photo).expect("encode");
        assert_eq!(&bytes[128..132], b"DICM");
        let obj = dicom_object::from_reader(&bytes[128..]).expect("parse");
        assert_eq!(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            uids::JPEG_BASELINE8_BIT
        );
        let s = |t| {
            obj.element(t)
                .expect("tag")
                .to_str()
                .expect("str")
                .trim()
                .to_owned()
        };
        assert_eq!(s(tags::PATIENT_ID), "9434765919");
        assert_eq!(s(tags::ISSUER_OF_PATIENT_ID), "NHS");
        assert_eq!(s(tags::MODALITY), "XC");
        assert_eq!(s(tags::BODY_PART_EXAMINED), "HEEL");
        assert_eq!(s(tags::STUDY_DESCRIPTION), "Heel ulcer   dressing advice?");
        assert!(s(tags::IMAGE_COMMENTS).contains("sharing for care"));
        let sof = frame_header(&jpeg).expect("sof");
        assert_eq!(
            obj.element(tags::ROWS)
                .expect("rows")
                .to_int::<u16>()
                .expect("int"),
            sof.rows
        );
        let pixel = obj.element(tags::PIXEL_DATA).expect("pixel data");
        let fragments = pixel.fragments().expect("encapsulated");
        assert_eq!(fragments.len(), 1);
        assert_eq!(&fragments[0][..jpeg.len()], &jpeg[..]);
        assert!(fragments[0].len() - jpeg.len() <= 1);
        assert!(obj.element(tags::DEVICE_SERIAL_NUMBER).is_err());
    }
}
