import { clearMocks, mockIPC } from '@tauri-apps/api/mocks'
import { render, screen, waitFor, within } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it } from 'vitest'
import App from './App.svelte'
import type { IpcError } from './lib/bindings/IpcError'
import type { SessionState } from './lib/bindings/SessionState'
import type { StoreStatus } from './lib/bindings/StoreStatus'

type Call = { cmd: string; args: unknown }
type Handler = (cmd: string, args: unknown) => unknown

const LOCATION = '/home/nurse/.local/share/uk.nhs.clinshare/store.db'

const openStatus: StoreStatus = {
  location: LOCATION,
  state: {
    kind: 'open',
    schema_version: 3,
    latest_schema_version: 3,
    encrypted: true,
    cipher_version: '4.6.1 community',
  },
}

const signedOut: SessionState = { kind: 'signed_out' }

const notInitialised: StoreStatus = { location: LOCATION, state: { kind: 'not_initialised' } }

const keyringError: IpcError = {
  code: 'keyring.unavailable',
  message: 'The system keyring is locked. Unlock it (log out and in again), then try again.',
}

/** Mock the Tauri bridge; every invoke is recorded, unknown commands reject. */
function mockCommands(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = []
  // An open store with nobody signed in, unless a test says otherwise.
  const all: Record<string, Handler> = { session_state: () => signedOut, ...handlers }
  mockIPC((cmd, args) => {
    calls.push({ cmd, args })
    const handler = all[cmd]
    if (!handler) throw { code: 'test.unknown_command', message: `unexpected ${cmd}` }
    return handler(cmd, args)
  })
  return calls
}

const commands = (calls: Call[]) => calls.map((c) => c.cmd)

afterEach(() => {
  clearMocks()
})

describe('start-up', () => {
  it('shows a loading line until the status arrives', async () => {
    let resolve: (s: StoreStatus) => void = () => {}
    mockCommands({
      store_status: () => new Promise<StoreStatus>((r) => (resolve = r)),
      report_first_paint: () => null,
    })
    render(App)
    expect(screen.getByRole('status')).toHaveProperty('textContent', 'Opening the secure store…')
    resolve(openStatus)
    await screen.findByRole('heading', { level: 1, name: 'Sign in' })
    expect(screen.queryByText('Opening the secure store…')).toBeNull()
  })

  it('reports the first paint exactly once, after the first screen is shown', async () => {
    const calls = mockCommands({
      store_status: () => openStatus,
      report_first_paint: () => null,
    })
    render(App)
    await waitFor(() => expect(commands(calls)).toContain('report_first_paint'))
    expect(document.getElementById('store-status')).not.toBeNull()
    await new Promise((r) => setTimeout(r, 50))
    expect(commands(calls).filter((c) => c === 'report_first_paint')).toHaveLength(1)
  })

  it('ignores a failing first-paint report', async () => {
    const calls = mockCommands({
      store_status: () => openStatus,
      report_first_paint: () => {
        throw { code: 'shell.gone', message: 'no listener' }
      },
    })
    render(App)
    await waitFor(() => expect(commands(calls)).toContain('report_first_paint'))
    await new Promise((r) => setTimeout(r, 20))
    expect(document.getElementById('store-status')).not.toBeNull()
  })

  it('has one h1, header and main landmarks and a skip link', async () => {
    mockCommands({ store_status: () => openStatus, report_first_paint: () => null })
    render(App)
    await screen.findByRole('heading', { level: 1 })
    expect(screen.getAllByRole('heading', { level: 1 })).toHaveLength(1)
    expect(screen.getByRole('banner').textContent).toContain('ClinShare')
    expect(screen.getByRole('main').id).toBe('maincontent')
    expect(screen.getByRole('link', { name: 'Skip to main content' }).getAttribute('href')).toBe(
      '#maincontent',
    )
  })
})

describe('store status screen', () => {
  it('shows location, schema version and encryption', async () => {
    mockCommands({ store_status: () => openStatus, report_first_paint: () => null })
    render(App)
    const container = await waitFor(() => {
      const el = document.getElementById('store-status')
      expect(el).not.toBeNull()
      return el as HTMLElement
    })
    const c = within(container)
    expect(c.getByTestId('store-location').textContent?.trim()).toBe(LOCATION)
    expect(c.getByTestId('store-schema-version').textContent?.trim()).toBe('3')
    const encrypted = c.getByTestId('store-encrypted').textContent?.trim() ?? ''
    expect(encrypted.startsWith('Yes')).toBe(true)
    expect(encrypted).toBe('Yes — SQLCipher 4.6.1 community')
    expect(c.getByText('Store open')).toBeTruthy()
  })

  it('names the latest known schema version when it differs, and flags an unencrypted store', async () => {
    mockCommands({
      store_status: () => ({
        location: LOCATION,
        state: { ...openStatus.state, schema_version: 2, encrypted: false },
      }),
      report_first_paint: () => null,
    })
    render(App)
    const version = await screen.findByTestId('store-schema-version')
    expect(version.textContent?.replace(/\s+/g, ' ').trim()).toBe('2 (latest known: 3)')
    const encrypted = screen.getByTestId('store-encrypted')
    expect(encrypted.textContent?.trim()).toBe('No')
    expect(encrypted.querySelector('.nhsuk-tag--red')).not.toBeNull()
  })
})

describe('set up this laptop', () => {
  async function showForm(handlers: Record<string, Handler> = {}) {
    const calls = mockCommands({
      store_status: () => notInitialised,
      report_first_paint: () => null,
      ...handlers,
    })
    render(App)
    await screen.findByRole('heading', { level: 1, name: 'Set up this laptop' })
    return calls
  }

  const field = (id: string) => document.getElementById(id) as HTMLInputElement

  async function fill(user: string, passphrase: string, confirm: string) {
    const u = userEvent.setup()
    if (user) await u.type(field('setup-user'), user)
    if (passphrase) await u.type(field('setup-passphrase'), passphrase)
    if (confirm) await u.type(field('setup-passphrase-confirm'), confirm)
    await u.click(screen.getByRole('button', { name: 'Create secure store' }))
    return u
  }

  it('shows the form with labelled fields when the store is not initialised', async () => {
    await showForm()
    expect(document.getElementById('setup-form')).not.toBeNull()
    expect(screen.getByLabelText('Your name').id).toBe('setup-user')
    const passphrase = screen.getByLabelText('Passphrase') as HTMLInputElement
    expect(passphrase.id).toBe('setup-passphrase')
    expect(passphrase.type).toBe('password')
    expect(passphrase.getAttribute('aria-describedby')).toBe('setup-passphrase-hint')
    expect(document.getElementById('setup-passphrase-hint')?.textContent).toContain(
      'at least 12 characters',
    )
    const confirm = screen.getByLabelText('Confirm passphrase') as HTMLInputElement
    expect(confirm.id).toBe('setup-passphrase-confirm')
    expect(confirm.type).toBe('password')
    expect(document.getElementById('setup-submit')?.textContent?.trim()).toBe(
      'Create secure store',
    )
  })

  it('rejects an empty name, a short passphrase and a missing confirmation without calling create_store', async () => {
    const calls = await showForm({ create_store: () => openStatus })
    await fill('', 'short', '')
    const summary = await screen.findByTestId('error-summary')
    const links = within(summary).getAllByRole('link')
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['Enter your name', '#setup-user'],
      ['Passphrase must be at least 12 characters', '#setup-passphrase'],
      ['Confirm your passphrase', '#setup-passphrase-confirm'],
    ])
    expect(document.activeElement).toBe(summary)
    expect(document.getElementById('setup-user-error')?.textContent).toContain('Enter your name')
    expect(field('setup-user').getAttribute('aria-describedby')).toBe('setup-user-error')
    expect(field('setup-passphrase').getAttribute('aria-describedby')).toBe(
      'setup-passphrase-hint setup-passphrase-error',
    )
    expect(document.title).toMatch(/^Error: /)
    expect(commands(calls)).not.toContain('create_store')
  })

  it('counts characters, not bytes: 11 characters is too short', async () => {
    const calls = await showForm({ create_store: () => openStatus })
    await fill('Ann Nurse', 'ééééééééééé', 'ééééééééééé')
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain('Passphrase must be at least 12 characters')
    expect(commands(calls)).not.toContain('create_store')
  })

  it('rejects passphrases that do not match', async () => {
    const calls = await showForm({ create_store: () => openStatus })
    await fill('Ann Nurse', 'correct horse battery', 'correct horse battery!')
    const summary = await screen.findByTestId('error-summary')
    expect(within(summary).getAllByRole('link').map((a) => a.textContent)).toEqual([
      'Passphrases do not match',
    ])
    expect(document.getElementById('setup-passphrase-confirm-error')?.textContent).toContain(
      'Passphrases do not match',
    )
    expect(commands(calls)).not.toContain('create_store')
  })

  it('rejects a whitespace-only name', async () => {
    const calls = await showForm({ create_store: () => openStatus })
    await fill('   ', 'correct horse battery', 'correct horse battery')
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain('Enter your name')
    expect(commands(calls)).not.toContain('create_store')
  })

  it('links each error to its field', async () => {
    await showForm()
    const u = await fill('', 'correct horse battery', 'correct horse battery')
    await u.click(await screen.findByRole('link', { name: 'Enter your name' }))
    expect(document.activeElement).toBe(field('setup-user'))
  })

  it('creates the store and carries on signed in as its first clinician', async () => {
    const created: StoreStatus = { ...openStatus, location: '/tmp/new-store.db' }
    const calls = await showForm({
      create_store: () => created,
      session_state: () => ({ kind: 'signed_in', user: 'Ann Nurse', idle_lock_minutes: 5 }),
      patient_search: () => [],
    })
    await fill('  Ann Nurse ', 'correct horse battery', 'correct horse battery')
    await screen.findByRole('heading', { level: 1, name: 'Patients' })
    expect(screen.getByText('Ann Nurse', { selector: '#signed-in-user' })).toBeTruthy()
    expect(calls.find((c) => c.cmd === 'create_store')?.args).toEqual({
      request: { user: 'Ann Nurse', passphrase: 'correct horse battery' },
    })
    expect(document.getElementById('setup-form')).toBeNull()
  })

  it('shows a rejected create with its code, keeps the name and clears the passphrases', async () => {
    const calls = await showForm({
      create_store: () => {
        throw keyringError
      },
    })
    await fill('Ann Nurse', 'correct horse battery', 'correct horse battery')
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain(keyringError.message)
    expect(within(summary).getByTestId('setup-error-code').textContent).toBe('keyring.unavailable')
    expect(document.activeElement).toBe(summary)
    expect(field('setup-user').value).toBe('Ann Nurse')
    expect(field('setup-passphrase').value).toBe('')
    expect(field('setup-passphrase-confirm').value).toBe('')
    expect(commands(calls).filter((c) => c === 'create_store')).toHaveLength(1)
    expect(document.getElementById('store-status')).toBeNull()
  })
})

describe('store unavailable', () => {
  const unavailable: StoreStatus = {
    location: LOCATION,
    state: { kind: 'unavailable', error: keyringError },
  }

  it('shows the message and code, and Try again asks for the status again', async () => {
    const answers = [unavailable, openStatus]
    const calls = mockCommands({
      store_status: () => answers.shift(),
      report_first_paint: () => null,
    })
    render(App)
    const error = await waitFor(() => {
      const el = document.getElementById('store-error')
      expect(el).not.toBeNull()
      return el as HTMLElement
    })
    expect(error.textContent).toContain(keyringError.message)
    expect(within(error).getByTestId('store-error-code').textContent).toBe('keyring.unavailable')
    expect(commands(calls).filter((c) => c === 'store_status')).toHaveLength(1)

    await userEvent.setup().click(within(error).getByRole('button', { name: 'Try again' }))
    await waitFor(() => expect(document.getElementById('store-status')).not.toBeNull())
    expect(commands(calls).filter((c) => c === 'store_status')).toHaveLength(2)
    expect(document.getElementById('store-error')).toBeNull()
  })

  it('says when it checked again if the store is still unavailable', async () => {
    const damaged: IpcError = { code: 'store.damaged', message: 'The store is damaged.' }
    const answers: StoreStatus[] = [
      unavailable,
      { location: LOCATION, state: { kind: 'unavailable', error: damaged } },
    ]
    const calls = mockCommands({
      store_status: () => answers.shift(),
      report_first_paint: () => null,
    })
    render(App)
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Try again' }))
    await waitFor(() =>
      expect(screen.getByTestId('store-error-code').textContent).toBe('store.damaged'),
    )
    expect(screen.getByTestId('store-retry-status').textContent).toMatch(
      /Checked again at \d{2}:\d{2}:\d{2}\./,
    )
    expect(commands(calls).filter((c) => c === 'store_status')).toHaveLength(2)
  })

  it('turns a failed store_status call into the error screen', async () => {
    mockCommands({
      store_status: () => {
        throw 'command store_status not found'
      },
      report_first_paint: () => null,
    })
    render(App)
    const code = await screen.findByTestId('store-error-code')
    expect(code.textContent).toBe('ipc.failed')
    expect(document.getElementById('store-error')?.textContent).toContain(
      'command store_status not found',
    )
  })
})
