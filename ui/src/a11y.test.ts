// Structural accessibility checks with axe-core on each screen. happy-dom has
// no layout, so colour contrast and other visual rules are left to the
// real-window E2E tests, which inject axe-core into the Tauri webview.
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks'
import { render, screen } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import axe from 'axe-core'
import { afterEach, describe, expect, it } from 'vitest'
import App from './App.svelte'
import type { StoreStatus } from './lib/bindings/StoreStatus'

const LOCATION = '/var/lib/clinshare/store.db'

async function violations() {
  const result = await axe.run(document.body, {
    rules: { 'color-contrast': { enabled: false } },
    resultTypes: ['violations'],
  })
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.html).join(' | ')}`)
}

function show(status: StoreStatus, createResult?: () => unknown, extra: Record<string, unknown> = {}) {
  mockIPC((cmd) => {
    if (cmd === 'store_status') return status
    if (cmd === 'session_state') return extra.session_state ?? { kind: 'signed_out' }
    if (cmd === 'create_store' && createResult) return createResult()
    if (cmd in extra) return extra[cmd]
    return null
  })
  render(App)
}

const OPEN: StoreStatus = {
  location: LOCATION,
  state: { kind: 'open', schema_version: 1, latest_schema_version: 1, encrypted: true, cipher_version: '4.6.1' },
}
const JANE = {
  id: 7,
  identifier: { kind: 'nhs', value: '9434765919' },
  identifier_display: '943 476 5919',
  family_name: 'Doe',
  given_name: 'Jane',
  date_of_birth: '1972-04-15',
  display_name: 'DOE, Jane',
}
const SIGNED_IN = { session_state: { kind: 'signed_in', user: 'Nurse', idle_lock_minutes: 5 }, patient_search: [JANE] }

afterEach(() => clearMocks())

describe('axe-core (structural rules)', () => {
  it('store status screen', async () => {
    show({
      location: LOCATION,
      state: { kind: 'open', schema_version: 1, latest_schema_version: 1, encrypted: true, cipher_version: '4.6.1' },
    })
    await screen.findByTestId('store-encrypted')
    expect(await violations()).toEqual([])
  })

  it('setup form, with validation errors shown', async () => {
    show({ location: LOCATION, state: { kind: 'not_initialised' } })
    await screen.findByRole('heading', { level: 1, name: 'Set up this laptop' })
    expect(await violations()).toEqual([])
    await userEvent.setup().click(screen.getByRole('button', { name: 'Create secure store' }))
    await screen.findByTestId('error-summary')
    expect(await violations()).toEqual([])
  })

  it('store unavailable screen', async () => {
    show({
      location: LOCATION,
      state: { kind: 'unavailable', error: { code: 'store.damaged', message: 'The store is damaged.' } },
    })
    await screen.findByTestId('store-error-code')
    expect(await violations()).toEqual([])
  })

  it('sign-in screen', async () => {
    show(OPEN)
    await screen.findByRole('heading', { level: 1, name: 'Sign in' })
    expect(await violations()).toEqual([])
  })

  it('lock screen', async () => {
    show(OPEN, undefined, { session_state: { kind: 'locked', user: 'Nurse' } })
    await screen.findByRole('heading', { level: 1, name: 'ClinShare is locked' })
    expect(await violations()).toEqual([])
  })

  it('patient list, add-patient form with errors, patient page and consent form', async () => {
    show(OPEN, undefined, {
      ...SIGNED_IN,
      patient_get: { patient: JANE, history: [], consents: [], today: '2026-11-29' },
      media_list: [
        {
          id: 'a'.repeat(32),
          patient_id: 7,
          format: 'jpeg',
          width: 10,
          height: 10,
          captured_at: null,
          imported_at: '2026-11-29T09:00:00Z',
          size: 10,
          has_thumbnail: true,
          sha256_prefix: 'abc',
          body_site: null,
          body_site_detail: null,
          notes: null,
          shareable: false,
        },
      ],
      audit_recent: [],
      referral_list: [],
    })
    const u = userEvent.setup()
    await screen.findByRole('heading', { level: 1, name: 'Patients' })
    await screen.findByRole('link', { name: 'DOE, Jane' })
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Add a patient' }))
    await u.click(screen.getByRole('button', { name: 'Add patient' }))
    await screen.findByTestId('error-summary')
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Patients' }))
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await screen.findByTestId('gallery')
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Record consent' }))
    await screen.findByRole('heading', { name: 'Record consent' })
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Audit trail' }))
    await screen.findByRole('heading', { level: 1, name: 'Audit trail' })
    expect(await violations()).toEqual([])
  })
  it('referral composer, its confirmation, the outbox and enrolment', async () => {
    const photo = {
      id: 'a'.repeat(32),
      patient_id: 7,
      format: 'jpeg',
      width: 10,
      height: 10,
      captured_at: null,
      imported_at: '2026-11-29T09:00:00Z',
      size: 10,
      has_thumbnail: true,
      sha256_prefix: 'abc',
      body_site: null,
      body_site_detail: null,
      notes: null,
      shareable: true,
    }
    const referral = {
      id: 'r1',
      patient_id: 7,
      team_id: 'tv',
      team_name: 'Tissue Viability',
      organisation: 'NHS Lanarkshire',
      clinical_question: 'Is it healing?',
      urgency: 'routine',
      state: 'blocked',
      blocked: [{ code: 'gate.consent_missing', message: 'No consent.', media_id: null }],
      media_ids: [photo.id],
      created_at: '2026-11-29T09:00:00Z',
      updated_at: '2026-11-29T09:00:00Z',
      confirmed_at: null,
      delivered_at: null,
      consent_withdrawal: null,
    }
    show(OPEN, undefined, {
      ...SIGNED_IN,
      patient_get: { patient: JANE, history: [], consents: [], today: '2026-11-29' },
      media_list: [photo],
      referral_list: [referral],
      directory_get: {
        version: 1,
        fetched_at: '2026-11-29T08:00:00Z',
        recipients: [{ team_id: 'tv', name: 'Tissue Viability', organisation: 'NHS Lanarkshire', clinicians: [], max_file_bytes: null }],
      },
      referral_save_draft: { ...referral, state: 'draft', blocked: [] },
      referral_confirmation: {
        question: 'Send 1 photo of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?',
        patient_name: 'Jane DOE',
        identifier_display: '943 476 5919',
        team_name: 'Tissue Viability',
        organisation: 'NHS Lanarkshire',
        media_ids: [photo.id],
      },
      server_get: { enrolment: null, directory_version: null, directory_fetched_at: null, sync: { running: false, last_pass_at: null, last_report: null, error: null, progress: [] } },
      settings_get: { idle_lock_minutes: 5, local_number_pattern: null, retention_days: 7 },
    })
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Refer these photos' }))
    await u.type(await screen.findByLabelText('Recipient'), 'tiss')
    expect(await violations()).toEqual([])
    await u.click(screen.getByRole('button', { name: /Tissue Viability, NHS Lanarkshire/ }))
    await u.click(screen.getByRole('button', { name: 'Check and send' }))
    await screen.findByRole('dialog')
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Go back' }))
    await u.click(screen.getByRole('button', { name: 'Outbox' }))
    await screen.findByRole('heading', { level: 1, name: 'Outbox' })
    expect(await violations()).toEqual([])

    await u.click(screen.getByRole('button', { name: 'Settings' }))
    await screen.findByRole('button', { name: 'Enrol this laptop' })
    expect(await violations()).toEqual([])
  })
})
