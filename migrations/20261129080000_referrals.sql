-- The server this laptop is enrolled with, the signed directory cached for
-- offline use, and referrals with their outbox state.

-- One row at most: the approved server, its TLS key pin and signing key.
-- The device's own private key is in the OS keyring, never here.
CREATE TABLE enrolment (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    server_url          TEXT NOT NULL,
    spki_sha256         TEXT NOT NULL,     -- hex pin of the server's TLS key
    device_id           TEXT NOT NULL,
    server_signing_key  TEXT NOT NULL,     -- hex Ed25519 public key
    server_key_id       TEXT NOT NULL,
    enrolled_at         TEXT NOT NULL,
    enrolled_by         INTEGER NOT NULL REFERENCES users (id)
);

-- The newest signed directory, exactly as received (re-verified on read).
CREATE TABLE directory_cache (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    version      INTEGER NOT NULL,
    issued_at    TEXT NOT NULL,
    fetched_at   TEXT NOT NULL,
    signed_json  TEXT NOT NULL
);

CREATE TABLE referrals (
    id                  TEXT PRIMARY KEY,   -- random; also the idempotency key
    patient_id          INTEGER NOT NULL REFERENCES patients (id),
    team_id             TEXT NOT NULL,      -- from the signed directory
    team_name           TEXT NOT NULL,      -- as the directory named it when chosen
    organisation        TEXT NOT NULL,
    clinical_question   TEXT NOT NULL,
    urgency             TEXT NOT NULL CHECK (urgency IN ('routine', 'urgent')),
    state               TEXT NOT NULL CHECK (state IN
                          ('draft', 'queued', 'blocked', 'sending', 'delivered', 'acknowledged', 'failed')),
    blocked_reasons     TEXT,               -- JSON list of codes and messages, when blocked
    confirmed_by        INTEGER REFERENCES users (id),
    confirmed_at        TEXT,
    created_by          INTEGER NOT NULL REFERENCES users (id),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    server_referral_id  TEXT,
    receipt_json        TEXT,               -- the signed receipt, kept as received
    CHECK (state = 'draft' OR confirmed_by IS NOT NULL)
);

CREATE INDEX referrals_patient ON referrals (patient_id);
CREATE INDEX referrals_state ON referrals (state);

CREATE TABLE referral_media (
    referral_id  TEXT NOT NULL REFERENCES referrals (id),
    media_id     TEXT NOT NULL REFERENCES media (id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (referral_id, media_id)
);
