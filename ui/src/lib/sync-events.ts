// The shell's background sync announces each change of the outbox as a
// `sync-status` event; screens that show referrals reload on it.
import { listen } from '@tauri-apps/api/event'
import type { SyncStatus } from './bindings/SyncStatus'

/** Call `onstatus` on every sync event; returns the function that stops it. */
export function onSyncStatus(onstatus: (s: SyncStatus) => void): () => void {
  let unlisten: (() => void) | undefined
  let closed = false
  try {
    void listen<SyncStatus>('sync-status', (event) => onstatus(event.payload))
      .then((f) => (closed ? f() : (unlisten = f)))
      .catch(() => {})
  } catch {
    // Outside the Tauri window (unit tests): no events.
  }
  return () => {
    closed = true
    unlisten?.()
  }
}
