import { describe, expect, it } from 'vitest'
import { IdleWatcher } from './idle'

function watcher(minutes: number) {
  let t = 0
  const calls = { lock: 0, ping: 0 }
  const w = new IdleWatcher({
    minutes,
    lock: () => (calls.lock += 1),
    ping: () => (calls.ping += 1),
    pingEveryMs: 20_000,
    now: () => t,
  })
  return { w, calls, advance: (ms: number) => (t += ms) }
}

describe('idle lock', () => {
  it('locks once after the idle time with no input', () => {
    const { w, calls, advance } = watcher(5)
    advance(4 * 60_000 + 59_000)
    w.tick()
    expect(calls.lock).toBe(0)
    advance(1_000)
    w.tick()
    w.tick()
    expect(calls.lock).toBe(1)
  })

  it('input restarts the idle time and pings the shell at most every 20 s', () => {
    const { w, calls, advance } = watcher(1)
    for (let i = 0; i < 10; i += 1) {
      advance(10_000)
      w.input()
      w.tick()
    }
    expect(calls.lock).toBe(0)
    expect(calls.ping).toBe(5)
    advance(60_000)
    w.tick()
    expect(calls.lock).toBe(1)
  })
})
