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

function show(status: StoreStatus, createResult?: () => unknown) {
  mockIPC((cmd) => {
    if (cmd === 'store_status') return status
    if (cmd === 'create_store' && createResult) return createResult()
    return null
  })
  render(App)
}

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
})
