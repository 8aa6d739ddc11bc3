// Type-ahead over the signed directory: a recipient matches when every word
// typed appears in its team name, organisation or one of its clinicians.
import type { Recipient } from './bindings/Recipient'

export function matchRecipients(recipients: Recipient[], query: string): Recipient[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean)
  return recipients.filter((r) => {
    const text = [r.name, r.organisation, ...r.clinicians].join(' ').toLowerCase()
    return words.every((w) => text.includes(w))
  })
}
