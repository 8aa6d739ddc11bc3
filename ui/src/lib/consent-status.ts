import type { Consent } from './bindings/Consent'

/** A consent level as the screens name it. */
export const LEVEL_TEXT: Record<string, string> = {
  record: 'Clinical record only',
  care: 'Sharing for care',
  teaching: 'Teaching',
  publication: 'Publication',
}

/** Who gave consent, as the screens name them. */
export const GIVER_TEXT: Record<string, string> = {
  patient: 'the patient',
  parent: 'a person with parental responsibility',
  attorney: 'an attorney',
  'best-interests': 'best-interests decision',
}

export type ConsentSummary = { tag: 'green' | 'grey' | 'red' | 'orange'; text: string }

/** Whether a consent is in force on `today` (YYYY-MM-DD). */
export function inForce(c: Consent, today: string): boolean {
  return c.withdrawn_at === null && (c.expires_on === null || c.expires_on >= today)
}

/** One line for the patient's banner: what the current consents allow. */
export function summarise(consents: Consent[], today: string): ConsentSummary {
  if (consents.length === 0) return { tag: 'red', text: 'No consent recorded: photos cannot be shared' }
  const current = consents.filter((c) => inForce(c, today))
  const sharing = current.filter((c) => c.level !== 'record')
  if (sharing.length > 0) {
    const teams = [...new Set(sharing.map((c) => c.recipient_team ?? 'any team'))]
    return { tag: 'green', text: `Consent to share for care with ${teams.join(', ')}` }
  }
  if (current.length > 0) return { tag: 'grey', text: 'Consent for the clinical record only: not shareable' }
  return { tag: 'orange', text: 'Consent withdrawn or expired: photos cannot be shared' }
}
