-- Filing delivered referrals into a PACS (STOW-RS), and asking it to
-- delete them after consent withdrawal. One row per referral, PACS target
-- and kind; the row is queued in the transaction that delivers the referral.
CREATE TABLE pacs_jobs (
    referral_id     TEXT NOT NULL REFERENCES referrals (id),
    target          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('store', 'delete')),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- A worker holds the job until then; a crashed worker's job is
    -- picked up again after it.
    lease_until     INTEGER,
    -- An error code only (never a response body: it may echo patient data).
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    PRIMARY KEY (referral_id, target, kind)
);
CREATE INDEX pacs_jobs_due ON pacs_jobs (state, next_attempt_at);
