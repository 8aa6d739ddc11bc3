import { describe, expect, it } from 'vitest'
import type { Consent } from './bindings/Consent'
import { summarise } from './consent-status'

const base: Consent = {
  id: 1,
  patient_id: 1,
  level: 'care',
  given_by: 'patient',
  best_interests_reason: null,
  method: 'verbal',
  evidence_media_id: null,
  has_drawn_signature: false,
  recipient_team: 'Tissue Viability',
  expires_on: null,
  media_ids: [],
  recorded_at: '2026-11-01T10:00:00Z',
  recorded_by: 1,
  withdrawn_at: null,
  withdrawal_reason: null,
}

describe('consent banner', () => {
  it('says when nothing is recorded', () => {
    expect(summarise([], '2026-11-29')).toEqual({ tag: 'red', text: 'No consent recorded: photos cannot be shared' })
  })
  it('names the team sharing is allowed with', () => {
    expect(summarise([base], '2026-11-29').text).toBe('Consent to share for care with Tissue Viability')
  })
  it('treats withdrawn and expired consents as not in force', () => {
    const withdrawn = { ...base, withdrawn_at: '2026-11-20T10:00:00Z', withdrawal_reason: 'changed mind' }
    const expired = { ...base, id: 2, expires_on: '2026-11-28' }
    expect(summarise([withdrawn, expired], '2026-11-29').tag).toBe('orange')
    expect(summarise([{ ...base, expires_on: '2026-11-29' }], '2026-11-29').tag).toBe('green')
  })
  it('record-only consent is not shareable', () => {
    expect(summarise([{ ...base, level: 'record', recipient_team: null }], '2026-11-29').tag).toBe('grey')
  })
})
