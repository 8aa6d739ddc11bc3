export const MIN_PASSPHRASE_LENGTH = 12

export type SetupFieldId = 'setup-user' | 'setup-passphrase' | 'setup-passphrase-confirm'

export type SetupFieldError = { field: SetupFieldId; message: string }

export type SetupInput = { user: string; passphrase: string; confirm: string }

/** Length in characters (code points), not UTF-16 units. */
function characterCount(text: string): number {
  return Array.from(text).length
}

/** Client-side checks, in the order the fields appear on the form. */
export function validateSetup({ user, passphrase, confirm }: SetupInput): SetupFieldError[] {
  const errors: SetupFieldError[] = []
  if (user.trim() === '') {
    errors.push({ field: 'setup-user', message: 'Enter your name' })
  }
  if (passphrase === '') {
    errors.push({ field: 'setup-passphrase', message: 'Enter a passphrase' })
  } else if (characterCount(passphrase) < MIN_PASSPHRASE_LENGTH) {
    errors.push({
      field: 'setup-passphrase',
      message: `Passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`,
    })
  }
  if (confirm === '') {
    errors.push({ field: 'setup-passphrase-confirm', message: 'Confirm your passphrase' })
  } else if (passphrase !== '' && confirm !== passphrase) {
    errors.push({ field: 'setup-passphrase-confirm', message: 'Passphrases do not match' })
  }
  return errors
}
