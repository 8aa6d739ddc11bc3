// Photos dropped from the desktop onto the referral being composed: the
// workspace imports them (through the sanitiser, like any import) and hands
// the stored photos' ids here; the open composer takes them.
import type { ImportReport } from './bindings/ImportReport'

class ReferralAttach {
  /** Ids waiting for the composer, in drop order. */
  pending = $state<string[]>([])

  offer(report: ImportReport | null): void {
    if (!report) return
    const ids = report.files.flatMap((f) =>
      f.status === 'imported' ? [f.id] : f.status === 'duplicate' ? [f.existing_id] : [],
    )
    this.pending = [...this.pending, ...ids]
  }

  take(): string[] {
    const ids = this.pending
    this.pending = []
    return ids
  }
}

export const referralAttach = new ReferralAttach()

/** The drag type for photos dragged from a gallery onto a referral. */
export const MEDIA_DRAG_TYPE = 'application/x-clinshare-media'
