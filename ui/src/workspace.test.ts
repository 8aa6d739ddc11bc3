// The signed-in app against a mocked shell: every command is recorded and
// unknown commands reject, so a screen calling something unexpected fails.
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks'
import type { Channel } from '@tauri-apps/api/core'
import { render, screen, waitFor, within } from '@testing-library/svelte'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it } from 'vitest'
import App from './App.svelte'
import type { GalleryItem } from './lib/bindings/GalleryItem'
import type { Patient } from './lib/bindings/Patient'
import type { PatientRecord } from './lib/bindings/PatientRecord'
import type { Progress } from './lib/bindings/Progress'
import type { SessionState } from './lib/bindings/SessionState'
import type { StoreStatus } from './lib/bindings/StoreStatus'

type Call = { cmd: string; args: unknown }
type Handler = (args: Record<string, unknown>) => unknown

const open: StoreStatus = {
  location: '/store/clinshare.db',
  state: { kind: 'open', schema_version: 7, latest_schema_version: 7, encrypted: true, cipher_version: '4.6.1' },
}
const signedIn: SessionState = { kind: 'signed_in', user: 'Nurse Jackie', idle_lock_minutes: 5 }
const jane: Patient = {
  id: 7,
  identifier: { kind: 'nhs', value: '9434765919' },
  identifier_display: '943 476 5919',
  family_name: 'Doe',
  given_name: 'Jane',
  date_of_birth: '1972-04-15',
  display_name: 'DOE, Jane',
}
const photo: GalleryItem = {
  id: 'a'.repeat(32),
  patient_id: 7,
  format: 'jpeg',
  width: 4000,
  height: 3000,
  captured_at: '2026-11-20T10:15:00',
  imported_at: '2026-11-29T09:00:00Z',
  size: 3_000_000,
  has_thumbnail: true,
  sha256_prefix: 'abcdef012345',
  body_site: 'left_heel',
  body_site_detail: null,
  notes: null,
  shareable: false,
}
const record: PatientRecord = { patient: jane, history: [], consents: [], today: '2026-11-29' }

function shell(handlers: Record<string, Handler>, session: SessionState = signedIn): Call[] {
  const calls: Call[] = []
  const all: Record<string, Handler> = {
    store_status: () => open,
    session_state: () => session,
    report_first_paint: () => null,
    patient_search: () => [jane],
    referral_list: () => [],
    ...handlers,
  }
  mockIPC((cmd, args) => {
    calls.push({ cmd, args })
    const h = all[cmd]
    if (!h) throw { code: 'test.unknown_command', message: `unexpected ${cmd}` }
    return h((args ?? {}) as Record<string, unknown>)
  })
  return calls
}

afterEach(() => clearMocks())

describe('sign in', () => {
  it('shows the refusal with its code, clears the passphrase, then signs in', async () => {
    let attempts = 0
    const calls = shell(
      {
        sign_in: () => {
          attempts += 1
          if (attempts === 1) throw { code: 'session.bad_credentials', message: 'The name or passphrase is not right.' }
          return signedIn
        },
      },
      { kind: 'signed_out' },
    )
    render(App)
    const u = userEvent.setup()
    await u.type(await screen.findByLabelText('Your name'), 'Nurse Jackie')
    await u.type(screen.getByLabelText('Passphrase'), 'wrong passphrase')
    await u.click(screen.getByRole('button', { name: 'Sign in' }))
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain('The name or passphrase is not right.')
    expect(within(summary).getByTestId('sign-in-error-code').textContent).toBe('session.bad_credentials')
    expect((screen.getByLabelText('Passphrase') as HTMLInputElement).value).toBe('')
    await u.type(screen.getByLabelText('Passphrase'), 'correct horse battery')
    await u.click(screen.getByRole('button', { name: 'Sign in' }))
    await screen.findByRole('heading', { level: 1, name: 'Patients' })
    expect(calls.filter((c) => c.cmd === 'sign_in')).toHaveLength(2)
  })

  it('asks for both fields before calling the shell', async () => {
    const calls = shell({}, { kind: 'signed_out' })
    render(App)
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Sign in' }))
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain('Enter your name')
    expect(summary.textContent).toContain('Enter your passphrase')
    expect(calls.map((c) => c.cmd)).not.toContain('sign_in')
  })
})

describe('lock', () => {
  it('hides every patient detail, including the title, until unlocked', async () => {
    shell({
      patient_get: () => record,
      media_list: () => [photo],
      lock_session: () => ({ kind: 'locked', user: 'Nurse Jackie' }),
      unlock_session: (a) => {
        const request = a.request as { passphrase: string }
        if (request.passphrase !== 'correct horse battery')
          throw { code: 'session.bad_credentials', message: 'The name or passphrase is not right.' }
        return signedIn
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await screen.findByRole('heading', { level: 1, name: 'DOE, Jane' })
    await waitFor(() => expect(document.title).toBe('DOE, Jane – ClinShare'))
    expect(document.querySelectorAll('img').length).toBe(1)

    await u.click(screen.getByRole('button', { name: 'Lock' }))
    await screen.findByRole('heading', { level: 1, name: 'ClinShare is locked' })
    await waitFor(() => expect(document.title).toBe('Locked – ClinShare'))
    expect(document.body.textContent).not.toContain('DOE')
    expect(document.body.textContent).not.toContain('943 476 5919')
    expect(document.querySelectorAll('img').length).toBe(0)

    await u.type(screen.getByLabelText('Passphrase'), 'not it')
    await u.click(screen.getByRole('button', { name: 'Unlock' }))
    expect((await screen.findByTestId('unlock-error-code')).textContent).toBe('session.bad_credentials')
    await u.type(screen.getByLabelText('Passphrase'), 'correct horse battery')
    await u.click(screen.getByRole('button', { name: 'Unlock' }))
    await screen.findByRole('heading', { level: 1, name: 'Patients' })
  })
})

describe('add a patient', () => {
  it('shows a wrong check digit against the identifier field and stays on the form', async () => {
    const calls = shell({
      patient_create: () => {
        throw {
          code: 'identifier.check_digit',
          message: 'The NHS number "943 476 5918": check digit does not match — please re-read the number.',
        }
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Add a patient' }))
    await u.type(screen.getByRole('textbox', { name: 'NHS number' }), '943 476 5918')
    await u.type(screen.getByLabelText('Type it again'), '943 476 5918')
    await u.type(screen.getByLabelText('Family name'), 'Doe')
    await u.type(screen.getByLabelText('Given name'), 'Jane')
    await u.type(screen.getByLabelText('Date of birth'), '15/04/1972')
    await u.click(screen.getByRole('button', { name: 'Add patient' }))
    const summary = await screen.findByTestId('error-summary')
    const link = within(summary).getByRole('link')
    expect(link.textContent).toContain('check digit does not match — please re-read the number')
    expect(link.getAttribute('href')).toBe('#patient-identifier')
    expect(screen.getByText(/check digit does not match/, { selector: '#patient-identifier-error' })).toBeTruthy()
    const create = calls.find((c) => c.cmd === 'patient_create')?.args as { request: Record<string, string> }
    expect(create.request).toEqual({
      kind: 'nhs',
      identifier: '943 476 5918',
      identifier_again: '943 476 5918',
      family_name: 'Doe',
      given_name: 'Jane',
      date_of_birth: '1972-04-15',
    })
    expect((screen.getByLabelText('Family name') as HTMLInputElement).value).toBe('Doe')
  })

  it('refuses a date it cannot read without calling the shell', async () => {
    const calls = shell({})
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Add a patient' }))
    await u.type(screen.getByLabelText('Date of birth'), '15/04/72')
    await u.click(screen.getByRole('button', { name: 'Add patient' }))
    const summary = await screen.findByTestId('error-summary')
    expect(summary.textContent).toContain('Enter the date of birth as DD/MM/YYYY')
    expect(calls.map((c) => c.cmd)).not.toContain('patient_create')
  })
})

describe('patient page', () => {
  it('shows consent status, photos, and records consent with the team required for care', async () => {
    let consents: PatientRecord['consents'] = []
    const calls = shell({
      patient_get: () => ({ ...record, consents }),
      media_list: () => [photo],
      consent_record: (a) => {
        const r = a.request as { level: string; recipient_team: string }
        const c = {
          id: 1,
          patient_id: 7,
          level: r.level,
          given_by: 'patient',
          best_interests_reason: null,
          method: 'verbal',
          evidence_media_id: null,
          has_drawn_signature: false,
          recipient_team: r.recipient_team,
          expires_on: null,
          media_ids: [],
          recorded_at: '2026-11-29T10:00:00Z',
          recorded_by: 1,
          withdrawn_at: null,
          withdrawal_reason: null,
        } as PatientRecord['consents'][number]
        consents = [c]
        return c
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    expect((await screen.findByTestId('consent-status')).textContent).toBe(
      'No consent recorded: photos cannot be shared',
    )
    expect(screen.getByTestId('patient-identifier').textContent).toContain('943 476 5919')
    expect(screen.getByTestId('patient-identifier').textContent).toContain('15/04/1972')
    const gallery = screen.getByTestId('gallery')
    expect(gallery.textContent).toContain('20 Nov 2026, 10:15, Left heel')
    expect(gallery.textContent).toContain('Not shareable')
    expect(gallery.querySelector('img')?.getAttribute('src')).toBe(`media://localhost/thumb/${photo.id}`)

    await u.click(screen.getByRole('button', { name: 'Record consent' }))
    await u.click(screen.getByRole('button', { name: 'Record consent' }))
    expect((await screen.findByTestId('error-summary')).textContent).toContain(
      'Enter the team the photos may be shared with',
    )
    expect(calls.map((c) => c.cmd)).not.toContain('consent_record')
    await u.type(screen.getByLabelText('Team the photos may be shared with'), 'Tissue Viability')
    await u.click(screen.getByRole('button', { name: 'Record consent' }))
    await waitFor(() =>
      expect(screen.getByTestId('consent-status').textContent).toBe(
        'Consent to share for care with Tissue Viability',
      ),
    )
  })
})

describe('import', () => {
  it('says which items are videos, shown by their first frame', async () => {
    const video: GalleryItem = { ...photo, id: 'b'.repeat(32), format: 'mp4', body_site: null }
    shell({ patient_get: () => record, media_list: () => [video, photo] })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    const gallery = await screen.findByTestId('gallery')
    const open = within(gallery).getAllByRole('button', { name: /^Open / })
    expect(open.map((b) => b.textContent?.replace(/\s+/g, ' ').trim())).toEqual([
      'Open video Video, 20 Nov 2026, 10:15',
      'Open photo 20 Nov 2026, 10:15, Left heel',
    ])
    expect(gallery.querySelector('img')?.getAttribute('src')).toBe(`media://localhost/thumb/${video.id}`)
  })

  it('shows overall and per-file progress, then what was rejected and why', async () => {
    let finish: (v: unknown) => void = () => {}
    let channel: Channel<Progress> | undefined
    shell({
      patient_get: () => record,
      media_list: () => [],
      pick_files: () => ['/media/card/DCIM'],
      import_files: (a) => {
        channel = a.onProgress as Channel<Progress>
        return new Promise((r) => (finish = r))
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Import a folder or camera card…' }))
    await waitFor(() => expect(channel).toBeDefined())
    const send = (p: Progress) => channel?.onmessage(p)
    send({ event: 'found', total: 2 })
    send({ event: 'preparing', index: 0, name: 'IMG_0001.JPG' })
    const panel = await screen.findByTestId('import-panel')
    await waitFor(() => expect(panel.textContent).toContain('IMG_0001.JPG: Removing metadata and checking'))
    expect(panel.textContent).toContain('Importing to DOE, Jane')
    expect(within(panel).getByRole('button', { name: 'Cancel import' })).toBeTruthy()
    send({ event: 'finished', index: 0, name: 'IMG_0001.JPG', outcome: { status: 'imported', id: 'x' }, done: 1, total: 2 })
    const rejected = { status: 'rejected', code: 'media.unsupported_format', message: 'This is a GIF image; ClinShare accepts JPEG, PNG, WebP, HEIC/AVIF and MP4/MOV.' } as const
    send({ event: 'finished', index: 1, name: 'anim.gif', outcome: rejected, done: 2, total: 2 })
    finish({ files: [], skipped_hidden: 0, cancelled: 0, originals_deleted: 0, originals_kept: [] })
    await waitFor(() => expect(document.getElementById('import-summary')?.textContent).toContain('1 imported, 1 rejected'))
    expect(document.getElementById('import-rejected')?.textContent).toContain('anim.gif: This is a GIF image')
  })
})

describe('edit a patient', () => {
  it('keeps the identifier unless a new one is typed, and shows earlier details', async () => {
    let current = jane
    let history: PatientRecord['history'] = []
    const calls = shell({
      patient_get: () => ({ ...record, patient: current, history }),
      media_list: () => [],
      patient_edit: (a) => {
        const r = a.request as { family_name: string }
        history = [{ identifier: jane.identifier, family_name: 'Doe', given_name: 'Jane', date_of_birth: '1972-04-15', changed_at: '2026-11-29T10:00:00Z', changed_by: 1 }]
        current = { ...jane, family_name: r.family_name, display_name: `${r.family_name.toUpperCase()}, Jane` }
        return current
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Edit details' }))
    expect((screen.getByLabelText('Family name') as HTMLInputElement).value).toBe('Doe')
    expect((screen.getByLabelText('Date of birth') as HTMLInputElement).value).toBe('15/04/1972')
    await u.clear(screen.getByLabelText('Family name'))
    await u.type(screen.getByLabelText('Family name'), 'Smith')
    await u.click(screen.getByRole('button', { name: 'Save details' }))
    await screen.findByRole('heading', { level: 1, name: 'SMITH, Jane' })
    const edit = calls.find((c) => c.cmd === 'patient_edit')?.args as { request: Record<string, unknown> }
    expect(edit.request).toMatchObject({ patient_id: 7, identifier: '', family_name: 'Smith', date_of_birth: '1972-04-15' })
    expect(document.getElementById('patient-history')?.textContent).toContain('DOE, Jane, NHS 9434765919, born 15/04/1972')
  })
})

describe('referral', () => {
  const directory = {
    version: 4,
    fetched_at: '2026-11-29T08:00:00Z',
    recipients: [
      { team_id: 'tv', name: 'Tissue Viability', organisation: 'NHS Lanarkshire', clinicians: ['Anna Smith'], max_file_bytes: null },
      { team_id: 'derm', name: 'Dermatology', organisation: 'NHS Lothian', clinicians: [], max_file_bytes: null },
    ],
  }
  const draft = {
    id: 'r1',
    patient_id: 7,
    team_id: 'tv',
    team_name: 'Tissue Viability',
    organisation: 'NHS Lanarkshire',
    clinical_question: 'Is it healing?',
    urgency: 'urgent',
    state: 'draft',
    blocked: [],
    media_ids: [photo.id],
    created_at: '2026-11-29T09:00:00Z',
    updated_at: '2026-11-29T09:00:00Z',
    confirmed_at: null,
    delivered_at: null,
    consent_withdrawal: null,
  }

  it('offers only directory teams, shows the refusal, then confirms the full sentence and queues', async () => {
    let saves = 0
    const calls = shell({
      patient_get: () => record,
      media_list: () => [photo],
      directory_get: () => directory,
      referral_save_draft: () => {
        saves += 1
        if (saves === 1) throw { code: 'referral.question', message: 'Write the clinical question (at most 2000 characters).' }
        return draft
      },
      referral_confirmation: () => ({
        question: 'Send 1 photo of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?',
        patient_name: 'Jane DOE',
        identifier_display: '943 476 5919',
        team_name: 'Tissue Viability',
        organisation: 'NHS Lanarkshire',
        media_ids: [photo.id],
      }),
      referral_queue: () => ({ ...draft, state: 'queued' }),
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Refer these photos' }))

    // Type-ahead over the directory; a name not in it offers nothing.
    await u.type(await screen.findByLabelText('Recipient'), 'whatsapp')
    expect(screen.getByText('No team in the directory matches.')).toBeTruthy()
    await u.clear(screen.getByLabelText('Recipient'))
    await u.type(screen.getByLabelText('Recipient'), 'lanark')
    const options = within(screen.getByRole('list', { name: 'Matching recipients' })).getAllByRole('button')
    expect(options.map((o) => o.textContent?.trim())).toEqual(['Tissue Viability, NHS Lanarkshire (Anna Smith)'])
    await u.click(options[0])

    // Attach the selected photo (the keyboard way to what dragging does).
    await u.click(screen.getByLabelText(/^Select/))
    await u.click(screen.getByRole('button', { name: 'Attach the 1 selected photo' }))
    expect(screen.getByRole('heading', { name: 'Photos to send (1)' })).toBeTruthy()
    expect(screen.getByText(/2.9 MB/)).toBeTruthy()

    await u.click(screen.getByRole('button', { name: 'Check and send' }))
    expect((await screen.findByRole('alert')).textContent).toContain('Write the clinical question')
    expect(calls.map((c) => c.cmd)).not.toContain('referral_queue')

    await u.type(screen.getByLabelText('Clinical question'), 'Is it healing?')
    await u.click(screen.getByLabelText('Urgent'))
    await u.click(screen.getByRole('button', { name: 'Check and send' }))
    const dialog = await screen.findByRole('dialog')
    expect(within(dialog).getByRole('heading').textContent).toBe(
      'Send 1 photo of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?',
    )
    expect(dialog.querySelectorAll('img')).toHaveLength(1)
    const saved = calls.filter((c) => c.cmd === 'referral_save_draft').at(-1)?.args as { request: Record<string, unknown> }
    expect(saved.request).toMatchObject({
      id: null,
      patient_id: 7,
      team_id: 'tv',
      clinical_question: 'Is it healing?',
      urgency: 'urgent',
      media_ids: [photo.id],
    })
    expect(calls.map((c) => c.cmd)).not.toContain('referral_queue')
    await u.click(within(dialog).getByRole('button', { name: 'Send' }))
    await waitFor(() => expect(document.getElementById('referral-message')?.textContent).toContain('Queued'))
    expect(screen.queryByRole('dialog')).toBeNull()
    expect(calls.filter((c) => c.cmd === 'referral_queue')).toHaveLength(1)
  })

  it('offers a smaller copy of a photo above the team limit and attaches the copy instead', async () => {
    const copy = { ...photo, id: 'd'.repeat(32), size: 900_000 }
    let photos = [photo]
    const calls = shell({
      patient_get: () => record,
      media_list: () => photos,
      directory_get: () => ({
        ...directory,
        recipients: [{ ...directory.recipients[0], max_file_bytes: 1_000_000 }],
      }),
      media_smaller_copy: () => {
        photos = [copy, photo]
        return copy.id
      },
      referral_save_draft: (a) => ({ ...draft, media_ids: (a.request as { media_ids: string[] }).media_ids }),
      referral_confirmation: () => ({
        question: 'Send 1 photo of Jane DOE (943 476 5919) to Tissue Viability, NHS Lanarkshire?',
        patient_name: 'Jane DOE',
        identifier_display: '943 476 5919',
        team_name: 'Tissue Viability',
        organisation: 'NHS Lanarkshire',
        media_ids: [copy.id],
      }),
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Refer these photos' }))
    await u.type(await screen.findByLabelText('Recipient'), 'tissue')
    await u.click(screen.getByRole('button', { name: /Tissue Viability, NHS Lanarkshire/ }))
    expect(screen.getByText(/takes photos up to 977 KB/)).toBeTruthy()
    await u.click(screen.getAllByLabelText(/^Select/)[0])
    await u.click(screen.getByRole('button', { name: 'Attach the 1 selected photo' }))
    expect(screen.getByText(/Larger than Tissue Viability takes/)).toBeTruthy()
    await u.click(screen.getByRole('button', { name: 'Use a smaller copy of this photo' }))
    await waitFor(() => expect(document.querySelector('[data-too-large]')).toBeNull())
    expect(document.querySelector('[data-attached-id]')?.getAttribute('data-attached-id')).toBe(copy.id)
    expect(calls.find((c) => c.cmd === 'media_smaller_copy')?.args).toEqual({
      request: { media_id: photo.id, max_bytes: 1_000_000 },
    })
  })

  it('reopens a kept draft and explains when no directory has been fetched', async () => {
    const calls = shell({
      patient_get: () => record,
      media_list: () => [photo],
      referral_list: () => [draft],
      directory_get: () => {
        throw { code: 'directory.not_fetched', message: 'No directory of recipients has been fetched yet.' }
      },
      referral_save_draft: () => draft,
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('link', { name: 'DOE, Jane' }))
    await u.click(await screen.findByRole('button', { name: 'Continue draft to Tissue Viability' }))
    expect((await screen.findByText(/No directory of recipients/)).id).toBe('directory-error')
    expect((screen.getByLabelText('Clinical question') as HTMLTextAreaElement).value).toBe('Is it healing?')
    expect(screen.getByRole('heading', { name: 'Photos to send (1)' })).toBeTruthy()
    // Without a recipient nothing is saved.
    await u.click(screen.getByRole('button', { name: 'Save draft' }))
    expect((await screen.findByRole('alert')).textContent).toContain('Choose the recipient')
    expect(calls.map((c) => c.cmd)).not.toContain('referral_save_draft')
  })
})

describe('outbox and enrolment', () => {
  it('shows each referral with its state and the reason it is blocked', async () => {
    shell({
      server_get: () => ({
        enrolment: {
          server_url: 'https://127.0.0.1:8443',
          spki_sha256: 'ab'.repeat(32),
          device_id: 'dev-1',
          server_signing_key: 'cd'.repeat(32),
          server_key_id: 'k1',
          enrolled_at: '2026-11-29T08:00:00Z',
        },
        directory_version: 4,
        directory_fetched_at: '2026-11-29T08:00:00Z',
        sync: {
          running: false,
          last_pass_at: '2026-11-29T09:30:00Z',
          last_report: null,
          error: { code: 'sync.offline', message: 'The server could not be reached (no connection).' },
          progress: [],
        },
      }),
      referral_list: () => [
        {
          id: 'r2',
          patient_id: 7,
          team_id: 'tv',
          team_name: 'Tissue Viability',
          organisation: 'NHS Lanarkshire',
          clinical_question: 'Is it healing?',
          urgency: 'routine',
          state: 'blocked',
          blocked: [{ code: 'gate.consent_missing', message: 'There is no consent to share these photos.', media_id: null }],
          media_ids: ['x'],
          created_at: '2026-11-29T09:00:00Z',
          updated_at: '2026-11-29T09:10:00Z',
          confirmed_at: '2026-11-29T09:05:00Z',
          delivered_at: null,
          consent_withdrawal: null,
        },
      ],
    })
    render(App)
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Outbox' }))
    const item = await screen.findByText(/There is no consent to share/)
    expect(item.closest('[data-state]')?.getAttribute('data-state')).toBe('blocked')
    expect(screen.getByText('Blocked')).toBeTruthy()
    expect(screen.getByText(/could not be reached/).id).toBe('sync-error')
    expect(screen.getByText('1 waiting to go, 0 sent.')).toBeTruthy()
  })

  it('shows the pin in groups for comparison and the refusal when the server shows another key', async () => {
    const calls = shell({
      settings_get: () => ({ idle_lock_minutes: 5, local_number_pattern: null, retention_days: 7 }),
      server_get: () => ({ enrolment: null, directory_version: null, directory_fetched_at: null, sync: { running: false, last_pass_at: null, last_report: null, error: null, progress: [] } }),
      server_enrol: () => {
        throw {
          code: 'sync.pin_mismatch',
          message: 'The server did not present the key this laptop was enrolled with. Nothing was sent.',
        }
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Settings' }))
    await u.clear(await screen.findByLabelText('Server address'))
    await u.type(screen.getByLabelText('Server address'), 'https://clinshare.example.nhs.uk:8443')
    await u.type(screen.getByLabelText('One-time code'), 'ABCD-EFGH')
    await u.type(screen.getByLabelText('Server key pin'), 'AB'.repeat(32))
    expect(screen.getByText(/abab abab abab/).closest('p')?.id).toBe('enrol-pin-groups')
    await u.click(screen.getByRole('button', { name: 'Enrol this laptop' }))
    expect((await screen.findByRole('alert')).textContent).toContain('did not present the key')
    const enrol = calls.find((c) => c.cmd === 'server_enrol')?.args as { request: Record<string, unknown> }
    expect(enrol.request).toMatchObject({ server_url: 'https://clinshare.example.nhs.uk:8443', code: 'ABCD-EFGH', pin: 'AB'.repeat(32) })
    // Still not enrolled: the form stays for another try.
    expect(screen.getByRole('button', { name: 'Enrol this laptop' })).toBeTruthy()
  })
})

describe('inbox', () => {
  const entry = {
    referral_id: 'b'.repeat(32),
    recipient_team: 'team-tv',
    recipient_team_name: 'Tissue Viability',
    urgency: 'urgent',
    state: 'delivered',
    delivered_at: '2026-11-29T10:00:00Z',
    acknowledged_at: null,
    consent_withdrawn: false,
    consent_withdrawn_at: null,
  }
  const detail = {
    entry,
    identifier_kind: 'nhs',
    identifier: '943 476 5919',
    patient_name: 'DOE, Jane',
    date_of_birth: '1972-04-15',
    clinical_question: 'Is it healing?',
    sender_name: 'Nurse Jackie',
    sender_team_name: 'District Nurses',
    consent_level: 'care',
    consent_given_by: 'patient',
    consent_recorded_by: 'Nurse Jackie',
    consent_recorded_at: '2026-11-29T09:00:00Z',
    photos: [{ sha256: 'c'.repeat(64), format: 'jpeg', size: 40_000 }],
  }

  it('opens a referral with its photos from the store and acknowledges it', async () => {
    const calls = shell({
      inbox_list: () => [entry],
      inbox_open: () => detail,
      inbox_ack: () => ({ ...entry, state: 'acknowledged', acknowledged_at: '2026-11-29T10:05:00Z' }),
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Inbox' }))
    await u.click(await screen.findByRole('button', { name: /^Open/ }))
    expect((await screen.findByRole('heading', { level: 2, name: 'DOE, Jane, NHS 943 476 5919' })).id).toBe('inbox-referral-heading')
    expect(screen.getByText('Born 15/04/1972')).toBeTruthy()
    expect(screen.getByText(/Is it healing\?/)).toBeTruthy()
    expect(screen.getByText(/From Nurse Jackie, District Nurses, to Tissue Viability/)).toBeTruthy()
    const img = screen.getByRole('img', { name: /Photo, JPEG/ }) as HTMLImageElement
    expect(img.getAttribute('src')).toBe(`media://localhost/inbox/${'b'.repeat(32)}/${'c'.repeat(64)}`)
    await u.click(screen.getByRole('button', { name: 'Acknowledge' }))
    expect((await screen.findByText(/^Acknowledged 29 Nov 2026/)).id).toBe('inbox-acknowledged')
    expect(calls.filter((c) => c.cmd === 'inbox_ack')).toHaveLength(1)
  })

  it('says why the inbox cannot be fetched, and shows a withdrawn referral without photos', async () => {
    let first = true
    shell({
      inbox_list: () => {
        if (first) {
          first = false
          throw { code: 'sync.offline', message: 'The server could not be reached (no connection).' }
        }
        return [{ ...entry, consent_withdrawn: true }]
      },
      // What the server sends of a withdrawn referral: its reference and dates only.
      inbox_open: () => ({
        ...detail,
        entry: { ...entry, consent_withdrawn: true, consent_withdrawn_at: '2026-11-30T09:00:00Z' },
        identifier: '',
        patient_name: null,
        date_of_birth: null,
        clinical_question: '',
        photos: [],
      }),
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Inbox' }))
    expect((await screen.findByRole('alert')).textContent).toContain('could not be reached')
    await u.click(screen.getByRole('button', { name: 'Check for new referrals' }))
    expect(await screen.findByText('Consent withdrawn')).toBeTruthy()
    await u.click(screen.getByRole('button', { name: /^Open/ }))
    const withdrawn = await screen.findByText(/Consent was withdrawn/)
    expect(withdrawn.id).toBe('inbox-withdrawn')
    expect(withdrawn.textContent).toContain("on 30 Nov 2026")
    expect(withdrawn.textContent).toContain("the referral's details and photos have been removed")
    expect(screen.getByRole('heading', { level: 2, name: 'Referral bbbbbbbb' })).toBeTruthy()
    expect(screen.queryByText(/Question:/)).toBeNull()
    expect(screen.queryAllByRole('img')).toHaveLength(0)
  })
})

describe('retention setting', () => {
  it('refuses a value out of range with the reason and keeps the setting', async () => {
    const calls = shell({
      settings_get: () => ({ idle_lock_minutes: 5, local_number_pattern: null, retention_days: 7 }),
      server_get: () => ({ enrolment: null, directory_version: null, directory_fetched_at: null, sync: { running: false, last_pass_at: null, last_report: null, error: null, progress: [] } }),
      settings_set_retention: (a) => {
        const days = (a.request as { days: number }).days
        if (days > 365) throw { code: 'settings.retention_out_of_range', message: 'Keep sent photos for between 0 and 365 days.' }
        return { idle_lock_minutes: 5, local_number_pattern: null, retention_days: days }
      },
    })
    render(App)
    const u = userEvent.setup()
    await u.click(await screen.findByRole('button', { name: 'Settings' }))
    const field = await screen.findByLabelText(/Keep sent photos/)
    await waitFor(() => expect((field as HTMLInputElement).value).toBe('7'))
    await u.clear(field)
    await u.type(field, '400')
    await u.click(within(document.getElementById('retention-form')!).getByRole('button', { name: 'Save' }))
    expect((await screen.findByText(/between 0 and 365/)).id).toBe('retention-days-error')
    await u.clear(field)
    await u.type(field, '0')
    await u.click(within(document.getElementById('retention-form')!).getByRole('button', { name: 'Save' }))
    expect((await screen.findByText(/removed from this laptop as soon as/)).id).toBe('retention-message')
    expect(calls.filter((c) => c.cmd === 'settings_set_retention').map((c) => c.args)).toEqual([
      { request: { days: 400 } },
      { request: { days: 0 } },
    ])
  })
})
