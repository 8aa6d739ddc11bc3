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
})
