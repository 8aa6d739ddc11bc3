-- The inbox cache, consent-withdrawal notices for delivered referrals, and
-- retention of sent photos.

-- Photos of referrals addressed to this user's teams, downloaded from the
-- server and checked against the manifest's SHA-256. Kept only here, in the
-- encrypted store, never as files.
CREATE TABLE inbox_media (
    referral_id  TEXT NOT NULL,        -- the server's referral id
    sha256       TEXT NOT NULL,        -- hex of `bytes`
    format       TEXT NOT NULL,
    bytes        BLOB NOT NULL,
    fetched_at   TEXT NOT NULL,
    fetched_by   INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (referral_id, sha256)
);

-- A consent covering a referral that already left (or was leaving) was
-- withdrawn: the server must be told. Written in the same transaction as
-- the withdrawal; `sent_at` is set once the server has confirmed.
CREATE TABLE referral_withdrawals (
    referral_id   TEXT PRIMARY KEY REFERENCES referrals (id),
    consent_id    INTEGER NOT NULL REFERENCES consents (id),
    requested_at  TEXT NOT NULL,
    requested_by  INTEGER NOT NULL REFERENCES users (id),
    sent_at       TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT                -- an error code, never patient data
);

-- When the signed receipt arrived (this laptop's clock): retention counts
-- from here.
ALTER TABLE referrals ADD COLUMN delivered_at TEXT;
UPDATE referrals SET delivered_at = updated_at WHERE state IN ('delivered', 'acknowledged');

-- When retention removed the photo's bytes and thumbnail; the record stays.
ALTER TABLE media ADD COLUMN purged_at TEXT;
