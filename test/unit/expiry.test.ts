import { outgoingExpiry } from '../../src/protocol/expiry'

const policy = { minMessageWindowMs: 1000, maxHoldTimeMs: 30000 }
const now = 1_700_000_000_000

describe('outgoingExpiry', () => {
  it('takes the message window off the incoming expiry', () => {
    // 10 s left: next hop gets 10 s − 1 s = 9 s.
    expect(outgoingExpiry(now + 10_000, now, policy)).toEqual({ ok: true, expiresAt: now + 9_000 })
  })
  it('caps the hold time at now + maxHoldTime', () => {
    // 60 s left: min(59 s, 30 s) = 30 s.
    expect(outgoingExpiry(now + 60_000, now, policy)).toEqual({ ok: true, expiresAt: now + 30_000 })
  })
  it('accepts exactly two windows of time', () => {
    expect(outgoingExpiry(now + 2_000, now, policy)).toEqual({ ok: true, expiresAt: now + 1_000 })
  })
  it('rejects R02 when the next hop would get less than a window', () => {
    const d = outgoingExpiry(now + 1_999, now, policy)
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.code).toBe('R02')
  })
  it('rejects R00 when the packet had already expired', () => {
    const d = outgoingExpiry(now - 1, now, policy)
    expect(d.ok).toBe(false)
    if (!d.ok) expect(d.code).toBe('R00')
    const atDeadline = outgoingExpiry(now, now, policy)
    expect(atDeadline.ok).toBe(false)
  })
  it('with a zero window passes the incoming expiry through (capped)', () => {
    expect(outgoingExpiry(now + 5, now, { minMessageWindowMs: 0, maxHoldTimeMs: 30000 })).toEqual({ ok: true, expiresAt: now + 5 })
  })
})
