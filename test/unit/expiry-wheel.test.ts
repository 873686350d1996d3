import { ExpiryWheel } from '../../src/core/ExpiryWheel'

describe('ExpiryWheel', () => {
  it('reports each deadline once, never before it, grouped by account', async () => {
    const fired: Array<{ account: string; ids: number[]; at: number }> = []
    const wheel = new ExpiryWheel((account, ids) => fired.push({ account, ids: [...ids], at: Date.now() }), 5)
    const t0 = Date.now()
    wheel.add('a', 1, t0 + 40)
    wheel.add('b', 2, t0 + 20)
    wheel.add('a', 3, t0 + 40)
    wheel.add('a', -4, t0 + 60)
    await new Promise(resolve => setTimeout(resolve, 150))
    expect(fired.map(f => [f.account, f.ids])).toEqual([['b', [2]], ['a', [1, 3]], ['a', [-4]]])
    expect(fired[0].at).toBeGreaterThanOrEqual(t0 + 20)
    expect(fired[1].at).toBeGreaterThanOrEqual(t0 + 40)
    expect(fired[2].at).toBeGreaterThanOrEqual(t0 + 60)
    expect(wheel.pendingSlots).toBe(0)
    wheel.stop()
  })
  it('re-arms for an earlier deadline added later', async () => {
    const fired: number[] = []
    const wheel = new ExpiryWheel((_a, ids) => fired.push(...ids), 5)
    const t0 = Date.now()
    wheel.add('a', 1, t0 + 1000)
    wheel.add('a', 2, t0 + 10)
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(fired).toEqual([2])
    wheel.stop()
  })
})

describe('far deadlines', () => {
  it('does not spin on a deadline beyond what setTimeout can hold (2^31 − 1 ms)', async () => {
    const fired: number[] = []
    const timers: number[] = []
    const realSetTimeout = global.setTimeout
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      timers.push(ms ?? 0)
      return realSetTimeout(fn, ms)
    }) as typeof setTimeout)
    const wheel = new ExpiryWheel((_a, ids) => fired.push(...ids), 10)
    wheel.add('a', 1, Date.now() + 30 * 24 * 3600 * 1000) // 30 days: more than 24.8 days
    wheel.add('a', 2, Date.now() + 20)
    await new Promise(resolve => realSetTimeout(resolve, 100))
    spy.mockRestore()
    expect(fired).toEqual([2])
    // Every timer asked for fits in 32 bits (Node would turn a larger one into 1 ms, and spin).
    expect(timers.every(ms => ms <= 2 ** 31 - 1)).toBe(true)
    // After the near deadline the wheel re-arms for the far one at the longest delay, not every millisecond.
    expect(timers.length).toBeLessThan(5)
    wheel.stop()
  })
})
