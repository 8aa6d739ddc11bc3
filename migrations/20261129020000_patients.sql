-- Store-wide settings (e.g. the local hospital number pattern).
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  INTEGER REFERENCES users (id)
);

CREATE TABLE patients (
    id              INTEGER PRIMARY KEY,
    id_kind         TEXT NOT NULL CHECK (id_kind IN ('nhs', 'chi', 'hc', 'local')),
    id_value        TEXT NOT NULL,      -- canonical: digits only, or upper-case local number
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    date_of_birth   TEXT NOT NULL,      -- YYYY-MM-DD
    created_at      TEXT NOT NULL,
    created_by      INTEGER NOT NULL REFERENCES users (id),
    updated_at      TEXT,
    updated_by      INTEGER REFERENCES users (id),
    UNIQUE (id_kind, id_value)
);

-- The values a patient record had before each edit: nothing is overwritten
-- without a trace.
CREATE TABLE patient_history (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    id_kind         TEXT NOT NULL,
    id_value        TEXT NOT NULL,
    family_name     TEXT NOT NULL,
    given_name      TEXT NOT NULL,
    date_of_birth   TEXT NOT NULL,
    changed_at      TEXT NOT NULL,
    changed_by      INTEGER NOT NULL REFERENCES users (id)
);

CREATE INDEX patient_history_patient ON patient_history (patient_id);
