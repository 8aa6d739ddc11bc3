-- The approved server's state (scale-out mode). Same shape as the SQLite
-- schema; several stateless instances share it, so every rule that must hold
-- across instances is a constraint here.

CREATE TABLE teams (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    organisation      TEXT NOT NULL,
    accepts_referrals BOOLEAN NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    team_id TEXT NOT NULL REFERENCES teams (id),
    PRIMARY KEY (user_id, team_id)
);

CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 1);

CREATE TABLE enrol_codes (
    code_hash  TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  BYTEA NOT NULL UNIQUE CHECK (length(public_key) = 32),
    enrolled_at BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE nonces (
    device_id TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
CREATE INDEX nonces_seen_at ON nonces (seen_at);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    device_id  TEXT NOT NULL REFERENCES devices (id),
    expires_at BIGINT NOT NULL
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
    created_at           BIGINT NOT NULL,
    delivered_at         BIGINT,
    acknowledged_at      BIGINT,
    acknowledged_by      TEXT,
    consent_withdrawn_at BIGINT,
    receipt_json         TEXT,
    UNIQUE (sender_user_id, idempotency_key)
);
CREATE INDEX referrals_inbox ON referrals (recipient_team_id, state);

CREATE TABLE referral_media (
    referral_id TEXT NOT NULL REFERENCES referrals (id),
    position    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (referral_id, sha256)
);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    device    TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
-- Appenders on any instance take this row's lock, so the chain stays a chain.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
