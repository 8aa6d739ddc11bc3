-- When a photo purged by retention was imported again: the retention
-- period counts from then, so the next sync does not purge what the nurse
-- has just brought back (and whose original on the card may be gone).
ALTER TABLE media ADD COLUMN restored_at TEXT;
