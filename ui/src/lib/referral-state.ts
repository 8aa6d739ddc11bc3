// How the outbox names a referral's state, and the tag colour it gets.
import type { ReferralState } from './bindings/ReferralState'

export const STATE_TEXT: Record<ReferralState, string> = {
  draft: 'Draft',
  queued: 'Queued',
  blocked: 'Blocked',
  sending: 'Sending',
  delivered: 'Delivered',
  acknowledged: 'Acknowledged',
  failed: 'Failed',
}

export function stateTag(state: ReferralState): string {
  switch (state) {
    case 'delivered':
    case 'acknowledged':
      return 'green'
    case 'blocked':
    case 'failed':
      return 'red'
    case 'sending':
    case 'queued':
      return 'blue'
    default:
      return 'grey'
  }
}
