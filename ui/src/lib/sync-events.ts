// The shell's background sync announces each change of the outbox as a
// `sync-status` event; screens that show referrals reload on it.
import { listen } from '@tauri-apps/api/event'
import type { SyncStatus } from './bindings/SyncStatus'

/** Call `onstatus` on every sync event; returns the function that stops it. */
export function onSyncStatus(onstatus: (s: SyncStatus) => void): () => void {
  let unlisten: (() => void) | undefined
  let closed = false
  // Outside the Tauri window (unit tests) there are no events, and
  // registering or unregistering may throw: nothing to undo then.
  const stop = (f: (() => void) | undefined) => {
    // Unlistening may fail synchronously or as a rejected promise.
    Promise.resolve()
      .then(() => f?.())
      .catch(() => {
        /* nothing was listening */
      })
  }
  try {
    void listen<SyncStatus>('sync-status', (event) => onstatus(event.payload))
      .then((f) => (closed ? stop(f) : (unlisten = f)))
      .catch(() => {})
  } catch {
    /* no event system */
  }
  return () => {
    closed = true
    stop(unlisten)
  }
}
