// UK formats for what the screens show. The store keeps ISO dates
// (YYYY-MM-DD) and RFC 3339 times; people read 15/04/1972 and 29 Nov 2026.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** `1972-04-15` → `15/04/1972`; anything else is shown as it is. */
export function ukDate(iso: string | null | undefined): string {
  if (!iso) return ''
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso)
  return m ? `${m[3]}/${m[2]}/${m[1]}` : iso
}

/**
 * `2026-11-29T14:03:07Z` or a camera's local `2026-11-29T14:03:07` →
 * `29 Nov 2026, 14:03`. Camera times are wall-clock times where the photo
 * was taken, so they are shown as recorded, not converted.
 */
export function ukDateTime(iso: string | null | undefined): string {
  if (!iso) return ''
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})/.exec(iso)
  if (!m) return iso
  const month = MONTHS[Number(m[2]) - 1]
  if (!month) return iso
  return `${Number(m[3])} ${month} ${m[1]}, ${m[4]}:${m[5]}`
}

/** A byte count as people read it: `3.2 MB`. */
export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}

/** Typed UK date (`15/04/1972`, `15-4-1972`) or ISO → ISO; `null` if not a date. */
export function isoFromTyped(typed: string): string | null {
  const t = typed.trim()
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return t
  const m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(t)
  if (!m) return null
  return `${m[3]}-${m[2].padStart(2, '0')}-${m[1].padStart(2, '0')}`
}

/** Pictures are served by the shell's `media:` scheme, never as files. */
export function mediaUrl(size: 'thumb' | 'full', id: string): string {
  return mediaPath(`${size}/${id}`)
}

/** A photo of a received referral, kept in the store when it was opened. */
export function inboxPhotoUrl(referralId: string, sha256: string): string {
  return mediaPath(`inbox/${referralId}/${sha256}`)
}

function mediaPath(path: string): string {
  // WebView2 on Windows reaches custom schemes as http://<scheme>.localhost.
  const windows = typeof navigator !== 'undefined' && navigator.userAgent.includes('Windows')
  return windows ? `http://media.localhost/${path}` : `media://localhost/${path}`
}
