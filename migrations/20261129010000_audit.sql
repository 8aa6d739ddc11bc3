-- The audit trail: append-only and hash-chained (see crates/core/src/audit.rs).
-- hash = SHA-256 over a canonical encoding of every other field and prev_hash,
-- so an edited, deleted or reordered entry breaks the chain.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,    -- 1, 2, 3, … without gaps
    at          TEXT NOT NULL,          -- RFC 3339, UTC
    actor_id    INTEGER,                -- NULL when nobody is signed in (a failed sign-in)
    actor_name  TEXT NOT NULL,          -- as known or as typed
    action      TEXT NOT NULL,
    patient_id  INTEGER,                -- no foreign key: the trail outlives what it describes
    media_id    TEXT,
    details     TEXT NOT NULL,          -- JSON; ids only, never patient names or identifiers
    prev_hash   TEXT NOT NULL,          -- hex; 64 zeros before the first entry
    hash        TEXT NOT NULL
);

CREATE INDEX audit_log_patient ON audit_log (patient_id);

-- Defence in depth: ordinary code cannot change or remove entries. Someone
-- with raw SQL can drop these triggers; `audit verify` still finds the change.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries cannot be deleted');
END;

-- The newest entry, written with it: removing entries from the end of the
-- trail then needs a second, matching edit.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
