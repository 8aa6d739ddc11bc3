-- Photos and videos imported into the store. Only sanitised bytes are kept:
-- the original file never enters the store.
CREATE TABLE media (
    id            TEXT PRIMARY KEY,                 -- random 128-bit hex
    patient_id    INTEGER REFERENCES patients (id), -- NULL: the Unassigned tray
    sha256        TEXT NOT NULL UNIQUE,             -- hex of `bytes`: dedupe and integrity
    format        TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    orientation   INTEGER,
    captured_at   TEXT,                             -- as recorded by the device
    imported_at   TEXT NOT NULL,
    imported_by   INTEGER NOT NULL REFERENCES users (id),
    bytes         BLOB NOT NULL,                    -- the sanitised file
    thumbnail     BLOB,                             -- JPEG; NULL when unavailable (e.g. HEIC)
    size          INTEGER NOT NULL,
    body_site     TEXT,
    notes         TEXT,
    removed_json  TEXT NOT NULL                     -- what the sanitiser removed: kinds and counts only
);

CREATE INDEX media_patient_captured ON media (patient_id, captured_at);
