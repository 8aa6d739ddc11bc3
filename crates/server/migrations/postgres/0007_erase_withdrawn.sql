-- Referrals withdrawn before withdrawal erased the patient's details
-- (store::erased_manifest) lose them now, the same fields the same way:
-- identifier value, name, date of birth, question and media list.
UPDATE referrals SET manifest_json = (
        manifest_json::jsonb
        || jsonb_build_object(
               'patient', (manifest_json::jsonb -> 'patient')
                   - 'family_name' - 'given_name' - 'date_of_birth'
                   || jsonb_build_object('value', ''),
               'consent', (manifest_json::jsonb -> 'consent')
                   || jsonb_build_object('withdrawn', true),
               'clinical_question', '',
               'media', '[]'::jsonb)
    )::text
    WHERE consent_withdrawn_at IS NOT NULL;
