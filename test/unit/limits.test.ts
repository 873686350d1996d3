import { fullBucket, take } from '../../src/protocol/limits'

describe('token buckets (exact)', () => {
  it('allows a burst up to the capacity, then refills continuously', () => {
    const t0 = 1_000_000
    const b = fullBucket(5n, 1000, t0) // 5 per second
    for (let i = 0; i < 5; i++) expect(take(b, 1n, t0)).toBe(true)
    expect(take(b, 1n, t0)).toBe(false)
    // 5 per 1000 ms = one token every 200 ms: at +199 ms not yet, at +200 ms one.
    expect(take(b, 1n, t0 + 199)).toBe(false)
    expect(take(b, 1n, t0 + 200)).toBe(true)
    expect(take(b, 1n, t0 + 200)).toBe(false)
    // Never more than the capacity, however long it was idle.
    for (let i = 0; i < 5; i++) expect(take(b, 1n, t0 + 100_000)).toBe(true)
    expect(take(b, 1n, t0 + 100_000)).toBe(false)
  })
  it('takes amounts exactly, with no rounding over time', () => {
    const t0 = 0
    const b = fullBucket(1000n, 3000, t0) // 1000 per 3 s: 1/3 per ms
    expect(take(b, 1000n, t0)).toBe(true)
    // After 1 ms: 1/3 of a unit; after 3 ms exactly 1.
    expect(take(b, 1n, t0 + 2)).toBe(false)
    expect(take(b, 1n, t0 + 3)).toBe(true)
    // After 3000 ms more: exactly 1000 again (capped).
    expect(take(b, 1001n, t0 + 3003)).toBe(false)
    expect(take(b, 1000n, t0 + 3003)).toBe(true)
  })
  it('handles amounts near 2^64 without overflow', () => {
    const max = (1n << 64n) - 1n
    const b = fullBucket(max, 1000, 0)
    expect(take(b, max, 0)).toBe(true)
    expect(take(b, 1n, 0)).toBe(false)
    expect(take(b, max, 1000)).toBe(true)
  })
  it('does not refill when the clock goes back', () => {
    const b = fullBucket(1n, 1000, 5000)
    expect(take(b, 1n, 5000)).toBe(true)
    expect(take(b, 1n, 4000)).toBe(false)
  })
})
