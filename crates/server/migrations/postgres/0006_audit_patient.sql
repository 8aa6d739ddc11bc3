-- Whose record an entry read or wrote: `kind:value` of the patient's
-- identifier (never a name), NULL where no patient is concerned. Entries
-- that name one are hashed with it (audit.rs, encoding v2); older entries
-- stay NULL and keep their v1 hashes.
ALTER TABLE audit_log ADD COLUMN patient TEXT;
