/** Settlement arithmetic: when to settle and how much, scale conversion of incoming settlements, backoff. */
import { settlementDue, scaleIncoming, retryDelay } from '../../src/settlement/amounts'
import { parseQuantity, checkIdempotencyKey, HttpError } from '../../src/settlement/SettlementApi'

describe('settlementDue (balance = what the peer owes us; negative = we owe it)', () => {
  it('is 0 above the threshold, and settleTo − balance at or below it', () => {
    expect(settlementDue(-999n, -1000n, 0n)).toBe(0n)
    expect(settlementDue(-1000n, -1000n, 0n)).toBe(1000n)
    expect(settlementDue(-1500n, -1000n, -200n)).toBe(1300n)
    expect(settlementDue(5n, 10n, 100n)).toBe(95n)
  })
  it('never settles without a threshold', () => {
    expect(settlementDue(-(10n ** 30n), undefined, 0n)).toBe(0n)
  })
  it('stays exact far beyond 2^53', () => {
    expect(settlementDue(-(2n ** 70n) - 3n, -1n, 0n)).toBe(2n ** 70n + 3n)
  })
})

describe('scaleIncoming (engine scale → account scale, rounded down, leftover kept by the engine)', () => {
  it('is the identity at the same scale', () => {
    expect(scaleIncoming(12345n, 9, 9)).toStrictEqual({ credited: 12345n, creditedInEngineScale: 12345n, leftover: 0n })
  })
  it('multiplies exactly towards a finer account scale', () => {
    // 7 units at scale 2 (0.07) are 7,000,000 at scale 8.
    expect(scaleIncoming(7n, 2, 8)).toStrictEqual({ credited: 7000000n, creditedInEngineScale: 7n, leftover: 0n })
  })
  it('rounds down towards a coarser account scale and reports the rest', () => {
    // 1,234,567 at scale 9 is 0.001234567; at scale 6 that is 1234 units (0.001234) and 567 left at scale 9.
    expect(scaleIncoming(1234567n, 9, 6)).toStrictEqual({ credited: 1234n, creditedInEngineScale: 1234000n, leftover: 567n })
    expect(scaleIncoming(999n, 9, 6)).toStrictEqual({ credited: 0n, creditedInEngineScale: 0n, leftover: 999n })
  })
  it('handles the extreme scales and big amounts exactly', () => {
    expect(scaleIncoming(10n ** 255n + 1n, 255, 0)).toStrictEqual({ credited: 1n, creditedInEngineScale: 10n ** 255n, leftover: 1n })
    expect(scaleIncoming(1n, 0, 255).credited).toBe(10n ** 255n)
  })
  it('refuses a negative amount', () => {
    expect(() => scaleIncoming(-1n, 0, 0)).toThrow(RangeError)
  })
})

describe('retryDelay', () => {
  it('doubles from the minimum, with jitter between half and full, and never exceeds the cap', () => {
    expect(retryDelay(1, 100, 60000, () => 1)).toBe(100)
    expect(retryDelay(1, 100, 60000, () => 0)).toBe(50)
    expect(retryDelay(4, 100, 60000, () => 1)).toBe(800)
    expect(retryDelay(50, 100, 60000, () => 1)).toBe(60000)
    expect(retryDelay(1000, 100, 3600000, () => 0.5)).toBeLessThanOrEqual(3600000)
  })
})

describe('the settlement API\'s input checks', () => {
  const body = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))
  const status = (f: () => unknown): number | undefined => {
    try { f() } catch (e) { return e instanceof HttpError ? e.status : -1 }
    return undefined
  }
  it('accepts a Quantity', () => {
    expect(parseQuantity(body({ amount: '100', scale: 9 }))).toStrictEqual({ amount: 100n, scale: 9 })
    expect(parseQuantity(body({ amount: '0', scale: 0 }))).toStrictEqual({ amount: 0n, scale: 0 })
  })
  it.each([
    ['not JSON', '{"amount":'],
    ['an array', [1]],
    ['null', 'null'],
    ['a number amount', { amount: 100, scale: 9 }],
    ['a negative amount', { amount: '-5', scale: 9 }],
    ['a decimal amount', { amount: '1.5', scale: 9 }],
    ['a huge amount', { amount: '9'.repeat(81), scale: 9 }],
    ['no scale', { amount: '1' }],
    ['a scale of 256', { amount: '1', scale: 256 }],
    ['a fractional scale', { amount: '1', scale: 1.5 }],
    ['a string scale', { amount: '1', scale: '9' }]
  ])('refuses %s with 400', (_name, value) => {
    expect(status(() => parseQuantity(body(value)))).toBe(400)
  })
  it('wants one Idempotency-Key of printable ASCII', () => {
    expect(checkIdempotencyKey('a1b2-c3')).toBe('a1b2-c3')
    expect(status(() => checkIdempotencyKey(undefined))).toBe(400)
    expect(status(() => checkIdempotencyKey(''))).toBe(400)
    expect(status(() => checkIdempotencyKey(['a', 'b']))).toBe(400)
    expect(status(() => checkIdempotencyKey('has space'))).toBe(400)
    expect(status(() => checkIdempotencyKey('x'.repeat(129)))).toBe(400)
  })
})
