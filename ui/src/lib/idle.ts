// Locks the app after a period without keyboard or pointer input. The shell
// enforces the same limit on every command, so this is what makes the lock
// screen appear on time, not what keeps patient data safe.

export type IdleOptions = {
  minutes: number
  lock: () => void
  /** Tells the shell the user is active (its own idle timer restarts). */
  ping: () => void
  pingEveryMs?: number
  now?: () => number
}

export class IdleWatcher {
  private last: number
  private lastPing: number
  private locked = false
  private readonly now: () => number
  private readonly pingEveryMs: number

  constructor(private readonly opts: IdleOptions) {
    this.now = opts.now ?? (() => Date.now())
    this.pingEveryMs = opts.pingEveryMs ?? 20_000
    this.last = this.now()
    this.lastPing = this.last
  }

  /** Keyboard or pointer input was seen. */
  input(): void {
    const t = this.now()
    this.last = t
    if (t - this.lastPing >= this.pingEveryMs) {
      this.lastPing = t
      this.opts.ping()
    }
  }

  /** Called every few seconds: locks once the idle time has passed. */
  tick(): void {
    if (this.locked) return
    if (this.now() - this.last >= this.opts.minutes * 60_000) {
      this.locked = true
      this.opts.lock()
    }
  }
}
