-- Consent to photography and its uses, in the Institute of Medical
-- Illustrators' levels (see crates/core/src/consent.rs).
CREATE TABLE consents (
    id                  INTEGER PRIMARY KEY,
    patient_id          INTEGER NOT NULL REFERENCES patients (id),
    level               TEXT NOT NULL CHECK (level IN ('record', 'care', 'teaching', 'publication')),
    given_by            TEXT NOT NULL CHECK (given_by IN ('patient', 'parent', 'attorney', 'best-interests')),
    best_interests_reason TEXT,
    method              TEXT NOT NULL CHECK (method IN ('verbal', 'written', 'signature')),
    evidence_media_id   TEXT,           -- the signed form, or a photographed signature
    signature_svg       BLOB,           -- a signature drawn on screen; never a file
    recipient_team      TEXT,
    expires_on          TEXT,           -- YYYY-MM-DD, last day covered
    recorded_at         TEXT NOT NULL,
    recorded_by         INTEGER NOT NULL REFERENCES users (id),
    withdrawn_at        TEXT,
    withdrawn_by        INTEGER REFERENCES users (id),
    withdrawal_reason   TEXT,
    CHECK (level <> 'care' OR recipient_team IS NOT NULL),
    CHECK (given_by <> 'best-interests' OR best_interests_reason IS NOT NULL),
    CHECK (method <> 'signature' OR evidence_media_id IS NOT NULL OR signature_svg IS NOT NULL),
    CHECK ((withdrawn_at IS NULL) = (withdrawal_reason IS NULL))
);

CREATE INDEX consents_patient ON consents (patient_id);

-- A consent may cover only some photos. The media table does not exist
-- yet, so media_id has no foreign key; add one when media arrives.
CREATE TABLE consent_media (
    consent_id  INTEGER NOT NULL REFERENCES consents (id),
    media_id    TEXT NOT NULL,
    PRIMARY KEY (consent_id, media_id)
);

-- What was consented to never changes; only a withdrawal may be added, and
-- once withdrawn a consent stays withdrawn (record a new one instead).
CREATE TRIGGER consents_terms_are_fixed BEFORE UPDATE ON consents
WHEN NEW.patient_id IS NOT OLD.patient_id
  OR NEW.level IS NOT OLD.level
  OR NEW.given_by IS NOT OLD.given_by
  OR NEW.best_interests_reason IS NOT OLD.best_interests_reason
  OR NEW.method IS NOT OLD.method
  OR NEW.evidence_media_id IS NOT OLD.evidence_media_id
  OR NEW.signature_svg IS NOT OLD.signature_svg
  OR NEW.recipient_team IS NOT OLD.recipient_team
  OR NEW.expires_on IS NOT OLD.expires_on
  OR NEW.recorded_at IS NOT OLD.recorded_at
  OR NEW.recorded_by IS NOT OLD.recorded_by
BEGIN
    SELECT RAISE(ABORT, 'the terms of a consent cannot be changed');
END;

CREATE TRIGGER consents_withdrawal_is_final BEFORE UPDATE ON consents
WHEN OLD.withdrawn_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a withdrawn consent cannot be changed');
END;

CREATE TRIGGER consent_media_is_fixed BEFORE DELETE ON consent_media
BEGIN
    SELECT RAISE(ABORT, 'the photos a consent covers cannot be changed');
END;
