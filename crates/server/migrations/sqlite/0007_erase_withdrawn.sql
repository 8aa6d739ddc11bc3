-- Referrals withdrawn before withdrawal erased the patient's details
-- (store::erased_manifest) lose them now, the same fields the same way:
-- identifier value, name, date of birth, question and media list.
UPDATE referrals SET manifest_json = json_set(
        json_remove(manifest_json,
            '$.patient.family_name', '$.patient.given_name', '$.patient.date_of_birth'),
        '$.patient.value', '',
        '$.clinical_question', '',
        '$.media', json('[]'),
        '$.consent.withdrawn', json('true'))
    WHERE consent_withdrawn_at IS NOT NULL;
