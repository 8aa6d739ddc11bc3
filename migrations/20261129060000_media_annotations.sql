-- Body site in free text beside the coded site (`media.body_site`), and an
-- index for the gallery's order: newest capture first, per patient.
ALTER TABLE media ADD COLUMN body_site_detail TEXT;

CREATE INDEX media_patient_newest ON media (patient_id, coalesce(captured_at, imported_at) DESC);
