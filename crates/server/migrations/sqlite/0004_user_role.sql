-- What a user may do: 'clinician' (send and receive referrals) or
-- 'administrator' (also the admin API). Existing users are clinicians.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'clinician'
    CHECK (role IN ('clinician', 'administrator'));
