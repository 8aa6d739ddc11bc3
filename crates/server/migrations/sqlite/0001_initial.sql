-- The approved server's state (embedded mode). Blobs live in files named by
-- SHA-256 beside this database; rows only reference them.

CREATE TABLE teams (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    organisation      TEXT NOT NULL,
    accepts_referrals INTEGER NOT NULL CHECK (accepts_referrals IN (0, 1))
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    team_id TEXT NOT NULL REFERENCES teams (id),
    PRIMARY KEY (user_id, team_id)
);

-- Bumped by every change the signed directory shows.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 1);

CREATE TABLE enrol_codes (
    code_hash  TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE nonces (
    device_id TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX nonces_seen_at ON nonces (seen_at);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    device_id  TEXT NOT NULL REFERENCES devices (id),
    expires_at INTEGER NOT NULL
);

CREATE TABLE referrals (
    id                   TEXT PRIMARY KEY,
    sender_user_id       TEXT NOT NULL REFERENCES users (id),
    sender_device_id     TEXT NOT NULL REFERENCES devices (id),
    recipient_team_id    TEXT NOT NULL REFERENCES teams (id),
    idempotency_key      TEXT NOT NULL,
    manifest_json        TEXT NOT NULL,
    manifest_sha256      TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('uploading', 'delivered', 'acknowledged')),
    created_at           INTEGER NOT NULL,
    delivered_at         INTEGER,
    acknowledged_at      INTEGER,
    acknowledged_by      TEXT,
    consent_withdrawn_at INTEGER,
    receipt_json         TEXT,
    UNIQUE (sender_user_id, idempotency_key)
);
CREATE INDEX referrals_inbox ON referrals (recipient_team_id, state);

CREATE TABLE referral_media (
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    position    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    verified    INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    PRIMARY KEY (referral_id, sha256)
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    device    TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
