import { zeroBalance, holdIncoming, holdOutgoing, commitIncoming, releaseIncoming, commitOutgoing, releaseOutgoing } from '../../src/protocol/balance'

describe('balance holds', () => {
  it('counts held incoming amounts against the maximum', () => {
    const b = zeroBalance(0n)
    const limits = { maxBalance: 100n }
    expect(holdIncoming(b, limits, 60n)).toBe(true)
    expect(holdIncoming(b, limits, 40n)).toBe(true) // 0 + 60 + 40 = 100, allowed
    expect(holdIncoming(b, limits, 1n)).toBe(false) // 101 > 100
    expect(b).toEqual({ balance: 0n, heldIncoming: 100n, heldOutgoing: 0n })
    commitIncoming(b, 60n)
    releaseIncoming(b, 40n)
    expect(b).toEqual({ balance: 60n, heldIncoming: 0n, heldOutgoing: 0n })
    expect(holdIncoming(b, limits, 41n)).toBe(false) // 60 + 41 > 100
    expect(holdIncoming(b, limits, 40n)).toBe(true)
  })
  it('counts held outgoing amounts against the minimum', () => {
    const b = zeroBalance(10n)
    const limits = { minBalance: -50n }
    expect(holdOutgoing(b, limits, 60n)).toBe(true) // 10 − 60 = −50, allowed
    expect(holdOutgoing(b, limits, 1n)).toBe(false)
    releaseOutgoing(b, 60n)
    expect(holdOutgoing(b, limits, 30n)).toBe(true)
    commitOutgoing(b, 30n)
    expect(b).toEqual({ balance: -20n, heldIncoming: 0n, heldOutgoing: 0n })
  })
  it('has no limit when none is configured, and does not overflow 64 bits', () => {
    const b = zeroBalance((1n << 64n) - 1n)
    expect(holdIncoming(b, {}, (1n << 64n) - 1n)).toBe(true)
    commitIncoming(b, (1n << 64n) - 1n)
    expect(b.balance).toBe(2n * ((1n << 64n) - 1n))
    expect(holdOutgoing(b, {}, 5n)).toBe(true)
  })
})
