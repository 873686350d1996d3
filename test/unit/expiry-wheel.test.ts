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
