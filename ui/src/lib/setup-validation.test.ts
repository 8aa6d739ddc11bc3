import { describe, expect, it } from 'vitest'
import { toIpcError } from './ipc-error'
import { validateSetup } from './setup-validation'

describe('validateSetup', () => {
  it('accepts a name and a matching passphrase of exactly 12 characters', () => {
    expect(validateSetup({ user: 'Ann', passphrase: '123456789012', confirm: '123456789012' })).toEqual([])
  })

  it('reports every problem in field order', () => {
    expect(validateSetup({ user: ' ', passphrase: '12345678901', confirm: 'x' })).toEqual([
      { field: 'setup-user', message: 'Enter your name' },
      { field: 'setup-passphrase', message: 'Passphrase must be at least 12 characters' },
      { field: 'setup-passphrase-confirm', message: 'Passphrases do not match' },
    ])
  })

  it('counts an emoji as one character', () => {
    const eleven = '😀'.repeat(11)
    expect(validateSetup({ user: 'Ann', passphrase: eleven, confirm: eleven })).toHaveLength(1)
  })
})

describe('toIpcError', () => {
  it('passes an IpcError through, dropping extra fields', () => {
    expect(toIpcError({ code: 'store.damaged', message: 'Damaged', extra: 1 })).toEqual({
      code: 'store.damaged',
      message: 'Damaged',
    })
  })

  it('wraps anything else as ipc.failed with the detail', () => {
    const e = toIpcError(new Error('bridge down'))
    expect(e.code).toBe('ipc.failed')
    expect(e.message).toContain('bridge down')
  })
})
