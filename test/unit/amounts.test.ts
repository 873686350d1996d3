import { convertAmount } from '../../src/protocol/amounts'

const xrp = (scale: number) => ({ code: 'XRP', scale })

describe('convertAmount (same asset, scales only until rates exist)', () => {
  it('is the identity for the same asset and scale', () => {
    expect(convertAmount(123456789n, xrp(9), xrp(9))).toEqual({ ok: true, amount: 123456789n })
    expect(convertAmount(0n, xrp(9), xrp(9))).toEqual({ ok: true, amount: 0n })
  })
  it('scale 9 → 2 rounds down (in the connector’s favour)', () => {
    // 1.234567899 XRP → 1.23 XRP = 123 at scale 2
    expect(convertAmount(1234567899n, xrp(9), xrp(2))).toEqual({ ok: true, amount: 123n })
  })
  it('scale 2 → 9 is exact', () => {
    expect(convertAmount(123n, xrp(2), xrp(9))).toEqual({ ok: true, amount: 1230000000n })
  })
  it('a non-zero amount that becomes zero is R01', () => {
    const r = convertAmount(9999999n, xrp(9), xrp(2)) // 0.009999999 XRP < 0.01
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('R01')
  })
  it('a result above 2^64 − 1 is F08', () => {
    const r = convertAmount(18446744073709551615n, xrp(0), xrp(1))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('F08')
  })
  it('different asset codes have no rate yet: F02', () => {
    const r = convertAmount(1n, { code: 'USD', scale: 2 }, { code: 'EUR', scale: 2 })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.code).toBe('F02')
  })
})
