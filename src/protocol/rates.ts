/**
 * Exchange rates as exact rationals. A rate source gives the value of one unit of each asset code in a
 * common base (any base: only ratios are used); rate(from → to) = value(from) / value(to). Decimal
 * strings (config, feeds) and feed JSON numbers (through their shortest decimal string, `String(n)`)
 * are parsed into bigint numerator/denominator pairs: no floating point ever touches a rate or amount.
 */

/** n / d with d > 0, in lowest terms. */
export interface Rational { readonly n: bigint; readonly d: bigint }

/** Largest decimal exponent accepted ("1e-7" is fine, "1e999999" is refused: it would make huge integers). */
export const MAX_DECIMAL_EXPONENT = 100
const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/

function gcd (a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

export function rational (n: bigint, d: bigint): Rational {
  if (d === 0n) throw new RangeError('denominator is zero')
  if (d < 0n) { n = -n; d = -d }
  const g = gcd(n < 0n ? -n : n, d)
  return g > 1n ? { n: n / g, d: d / g } : { n, d }
}

/**
 * Parses a non-negative decimal: digits, an optional fraction, an optional exponent ("0.9", "1.08",
 * "1e-7", "1.5E+3"). Anything else (a sign, spaces, "NaN", ".5", an exponent beyond ±100) is undefined.
 */
export function parseDecimal (text: string): Rational | undefined {
  const m = DECIMAL.exec(text)
  if (m === null) return undefined
  const fraction = m[2] ?? ''
  const exponent = m[3] === undefined ? 0 : Number(m[3])
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > MAX_DECIMAL_EXPONENT) return undefined
  const digits = BigInt(m[1] + fraction)
  const shift = exponent - fraction.length
  return shift >= 0 ? rational(digits * 10n ** BigInt(shift), 1n) : rational(digits, 10n ** BigInt(-shift))
}

/**
 * A feed value: a decimal string, or a JSON number taken exactly as its shortest decimal string
 * (`String(1.08)` is "1.08", so 1.08 is 108/100 — not the binary double nearest to it).
 */
export function parseFeedValue (value: unknown): Rational | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? parseDecimal(String(value)) : undefined
  if (typeof value === 'string') return parseDecimal(value)
  return undefined
}

export function isPositive (r: Rational): boolean { return r.n > 0n }

/**
 * One snapshot of rates: asset values in a common base and the spread. Immutable; a rate source makes
 * a new one each time its rates change. The factor for each pair of codes — value(from) / value(to) ×
 * (1 − spread), in lowest terms — is computed once, the first time the pair is used, and kept.
 */
export class RateTable {
  private readonly pairs = new Map<string, Map<string, Rational | null>>()
  private readonly keep: Rational

  constructor (private readonly values: ReadonlyMap<string, Rational>, spread: Rational) {
    if (spread.n < 0n || spread.n >= spread.d) throw new RangeError('spread must be >= 0 and < 1')
    for (const [code, value] of values) if (value.n <= 0n) throw new RangeError(`the value of ${code} must be > 0`)
    this.keep = rational(spread.d - spread.n, spread.d)
  }

  get size (): number { return this.values.size }
  codes (): string[] { return [...this.values.keys()] }

  /** value(from) / value(to) × (1 − spread), or undefined when there is no rate for the pair. */
  factor (from: string, to: string): Rational | undefined {
    let byTo = this.pairs.get(from)
    if (byTo === undefined) this.pairs.set(from, byTo = new Map())
    let f = byTo.get(to)
    if (f === undefined) {
      f = this.compute(from, to)
      byTo.set(to, f)
    }
    return f ?? undefined
  }

  private compute (from: string, to: string): Rational | null {
    if (from === to) return this.keep
    const a = this.values.get(from)
    const b = this.values.get(to)
    if (a === undefined || b === undefined) return null
    return rational(a.n * b.d * this.keep.n, a.d * b.n * this.keep.d)
  }
}
