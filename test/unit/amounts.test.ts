import { convertWithFactor, Asset, ConversionResult } from '../../src/protocol/amounts'
import { RateTable, parseDecimal, parseFeedValue, rational, Rational } from '../../src/protocol/rates'

const xrp = (scale: number): Asset => ({ code: 'XRP', scale })
const usd = (scale: number): Asset => ({ code: 'USD', scale })
const eur = (scale: number): Asset => ({ code: 'EUR', scale })
const ONE: Rational = { n: 1n, d: 1n }
const MAX = 18446744073709551615n // 2^64 − 1

/** A table from decimal strings, as the static backend builds it. */
function table (values: Record<string, string>, spread = '0'): RateTable {
  const map = new Map<string, Rational>()
  for (const [code, text] of Object.entries(values)) map.set(code, parseDecimal(text) as Rational)
  return new RateTable(map, parseDecimal(spread) as Rational)
}

function convert (t: RateTable, amount: bigint, from: Asset, to: Asset): ConversionResult {
  const f = t.factor(from.code, to.code)
  if (f === undefined) return { ok: false, code: 'F02', message: 'no rate' }
  return convertWithFactor(amount, from, to, f)
}

function code (r: ConversionResult): string | undefined {
  return r.ok ? undefined : r.code
}

describe('parseDecimal: exact rationals from decimal strings', () => {
  it('reads tricky decimals exactly (in lowest terms)', () => {
    expect(parseDecimal('0.1')).toEqual({ n: 1n, d: 10n }) // not 0.1000000000000000055...
    expect(parseDecimal('1.08')).toEqual({ n: 27n, d: 25n }) // 108/100 = 27/25
    expect(parseDecimal('0.9')).toEqual({ n: 9n, d: 10n })
    expect(parseDecimal('1')).toEqual({ n: 1n, d: 1n })
    expect(parseDecimal('0')).toEqual({ n: 0n, d: 1n })
    expect(parseDecimal('1e-7')).toEqual({ n: 1n, d: 10000000n })
    expect(parseDecimal('1.5E+3')).toEqual({ n: 1500n, d: 1n })
    expect(parseDecimal('2.50e-1')).toEqual({ n: 1n, d: 4n }) // 250/1000
    expect(parseDecimal('0.30000000000000004')).toEqual({ n: 7500000000000001n, d: 25000000000000000n }) // 30000000000000004/10^17, halved twice
  })
  it('refuses anything that is not a plain non-negative decimal', () => {
    for (const bad of ['', ' 1', '1 ', '-1', '+1', '.5', '5.', '1,5', 'NaN', 'Infinity', '0x10', '1e', '1e1000', '1e-101']) {
      expect(parseDecimal(bad)).toBeUndefined()
    }
  })
  it('takes feed JSON numbers through their shortest decimal string', () => {
    // JSON.parse('1.08') is the double 1.0800000000000000710542735760100185871124267578125; String() gives "1.08".
    expect(parseFeedValue(JSON.parse('1.08'))).toEqual({ n: 27n, d: 25n })
    expect(parseFeedValue(0.1 + 0.2)).toEqual(parseDecimal('0.30000000000000004')) // the double itself, as printed
    expect(parseFeedValue(1e-7)).toEqual({ n: 1n, d: 10000000n }) // String(1e-7) === "1e-7"
    expect(parseFeedValue(1e21)).toEqual({ n: 10n ** 21n, d: 1n }) // String(1e21) === "1e+21"
    expect(parseFeedValue('0.52')).toEqual({ n: 13n, d: 25n })
    expect(parseFeedValue(-1)).toBeUndefined()
    expect(parseFeedValue(null)).toBeUndefined()
    expect(parseFeedValue(NaN)).toBeUndefined()
  })
})

describe('convertWithFactor: scales, rounding and limits', () => {
  it('same asset, same scale, spread 0: exactly the same amount', () => {
    const t = table({})
    expect(convert(t, 123456789n, xrp(9), xrp(9))).toEqual({ ok: true, amount: 123456789n })
    expect(convert(t, MAX, xrp(9), xrp(9))).toEqual({ ok: true, amount: MAX })
    expect(convert(t, 1n, xrp(9), xrp(9))).toEqual({ ok: true, amount: 1n })
  })
  it('zero stays zero (never R01)', () => {
    expect(convert(table({}), 0n, xrp(9), xrp(2))).toEqual({ ok: true, amount: 0n })
    expect(convert(table({ USD: '1', EUR: '0.9' }, '0.5'), 0n, usd(2), eur(2))).toEqual({ ok: true, amount: 0n })
  })
  it('scale 9 → 2 rounds down (in the connector’s favour)', () => {
    // 1.234567899 XRP → floor(1234567899 / 10^7) = floor(123.4567899) = 123 (1.23 XRP)
    expect(convert(table({}), 1234567899n, xrp(9), xrp(2))).toEqual({ ok: true, amount: 123n })
  })
  it('scale 2 → 9 is exact', () => {
    // 1.23 XRP = 123 × 10^7 = 1230000000 at scale 9
    expect(convert(table({}), 123n, xrp(2), xrp(9))).toEqual({ ok: true, amount: 1230000000n })
  })
  it('a non-zero amount that becomes zero is R01', () => {
    // 9999999 at scale 9 = 0.009999999 XRP: floor(9999999 / 10^7) = 0
    expect(code(convert(table({}), 9999999n, xrp(9), xrp(2)))).toBe('R01')
    // 1 cent USD with XRP worth 1000 USD each, XRP at scale 0: floor(1 × 1/1000 / 100) = 0
    expect(code(convert(table({ USD: '1', XRP: '1000' }), 1n, usd(2), xrp(0)))).toBe('R01')
  })
  it('USD → EUR with a spread: 1.00 USD at EUR 0.9, spread 0.01', () => {
    // The brief's example: EUR "rate" 0.9 means 1 USD buys 0.9 EUR, i.e. value(USD) = 0.9 × value(EUR).
    // With values USD = 0.9, EUR = 1: rate(USD→EUR) = 0.9/1 = 0.9.
    // out = floor(100 × 0.9 × (1 − 0.01)) = floor(100 × 0.9 × 0.99) = floor(89.1) = 89
    expect(convert(table({ USD: '0.9', EUR: '1' }, '0.01'), 100n, usd(2), eur(2))).toEqual({ ok: true, amount: 89n })
    // The other way, same table: rate(EUR→USD) = 1/0.9; floor(100 × (10/9) × 0.99) = floor(110) = 110 exactly
    // (10/9 × 99/100 = 990/900 = 1.1): no float rounding could make this 109.
    expect(convert(table({ USD: '0.9', EUR: '1' }, '0.01'), 100n, eur(2), usd(2))).toEqual({ ok: true, amount: 110n })
  })
  it('the static backend’s shape: value of one unit in a common base', () => {
    // USD "1", EUR "0.9" (1 EUR is worth 0.9 base), XRP "0.5": rate(USD→EUR) = 1/0.9 = 10/9.
    const t = table({ USD: '1', EUR: '0.9', XRP: '0.5' })
    // 9.00 USD → floor(900 × 10/9) = 1000 (10.00 EUR), exact
    expect(convert(t, 900n, usd(2), eur(2))).toEqual({ ok: true, amount: 1000n })
    // 1.00 USD → floor(100 × 10/9) = floor(111.11…) = 111
    expect(convert(t, 100n, usd(2), eur(2))).toEqual({ ok: true, amount: 111n })
    // 1 XRP (scale 9) → USD scale 2: floor(10^9 × 0.5 / 10^7) = floor(50) = 50 (0.50 USD)
    expect(convert(t, 1000000000n, xrp(9), usd(2))).toEqual({ ok: true, amount: 50n })
    // 1.00 USD → XRP scale 9: floor(100 × 2 × 10^7) = 2000000000 (2 XRP)
    expect(convert(t, 100n, usd(2), xrp(9))).toEqual({ ok: true, amount: 2000000000n })
  })
  it('the same asset and scale with a spread takes the spread', () => {
    // floor(1000 × (1 − 0.001)) = floor(999) = 999; floor(1 × 0.999) = 0 → R01
    const t = table({}, '0.001')
    expect(convert(t, 1000n, xrp(9), xrp(9))).toEqual({ ok: true, amount: 999n })
    expect(code(convert(t, 1n, xrp(9), xrp(9)))).toBe('R01')
  })
  it('amounts near 2^64 − 1: exact, and beyond a uint64 is F08', () => {
    // 2^64 − 1 at rate 1/2: floor(18446744073709551615 / 2) = 9223372036854775807 (no float would hold this)
    const half = table({ A: '1', B: '2' })
    expect(convert(half, MAX, { code: 'A', scale: 0 }, { code: 'B', scale: 0 })).toEqual({ ok: true, amount: 9223372036854775807n })
    // (2^64 − 1) × 2 = 36893488147419103230 > 2^64 − 1 → F08
    expect(code(convert(half, MAX, { code: 'B', scale: 0 }, { code: 'A', scale: 0 }))).toBe('F08')
    // scale 0 → 1 multiplies by 10: beyond 2^64 − 1
    expect(code(convert(table({}), MAX, xrp(0), xrp(1)))).toBe('F08')
    // Exactly 2^64 − 1 out is still fine: (2^64 − 1) × 3 / 3 with rate 3/3 = 1 → the same amount
    const ones = table({ A: '3', B: '3' })
    expect(convert(ones, MAX, { code: 'A', scale: 0 }, { code: 'B', scale: 0 })).toEqual({ ok: true, amount: MAX })
    // (2^64 − 1) × 1.0000000001: 18446744073709551615 + floor(18446744073709551615 / 10^10) = + 1844674407 > max → F08
    expect(code(convert(table({ A: '1.0000000001', B: '1' }), MAX, { code: 'A', scale: 0 }, { code: 'B', scale: 0 }))).toBe('F08')
  })
  it('no rate for the pair: F02', () => {
    const t = table({ USD: '1' })
    expect(t.factor('USD', 'EUR')).toBeUndefined()
    expect(t.factor('EUR', 'USD')).toBeUndefined()
    expect(t.factor('EUR', 'EUR')).toEqual(ONE) // the same code needs no entry
  })
  it('pair factors are computed once per table and in lowest terms', () => {
    const t = table({ USD: '1', EUR: '0.9' }, '0.01')
    // (1 / 0.9) × 0.99 = (10/9) × (99/100) = 990/900 = 11/10
    expect(t.factor('USD', 'EUR')).toEqual(rational(11n, 10n))
    expect(t.factor('USD', 'EUR')).toBe(t.factor('USD', 'EUR')) // the same object: cached
  })
  it('refuses a spread outside [0, 1) and non-positive values', () => {
    expect(() => new RateTable(new Map(), { n: 1n, d: 1n })).toThrow(/spread/)
    expect(() => new RateTable(new Map([['USD', { n: 0n, d: 1n }]]), { n: 0n, d: 1n })).toThrow(/USD/)
  })
})
