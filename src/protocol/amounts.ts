/**
 * Exact amount arithmetic. Amounts are uint64 and always `bigint`; balances are sums and may go beyond
 * 64 bits, so they are `bigint` in memory and decimal strings at rest and on the wire.
 */
import { MAX_UINT64 } from './ilp'
import type { Rational } from './rates'

export type ConversionResult =
  | { ok: true; amount: bigint }
  | { ok: false; code: 'F08' | 'R01' | 'F02' | 'T00'; message: string }

export interface Asset { code: string; scale: number }

const POW10: bigint[] = []
/** 10^k for an asset scale difference (0..255), computed once each. */
function pow10 (k: number): bigint {
  let p = POW10[k]
  if (p === undefined) POW10[k] = p = 10n ** BigInt(k)
  return p
}

/**
 * Converts an amount with a rate factor (rate × (1 − spread), exact): amount × factor ×
 * 10^(to.scale − from.scale), rounded down so the connector never pays out more than it received.
 * Zero stays zero; a non-zero amount that becomes zero is R01; beyond a uint64 is F08.
 */
export function convertWithFactor (amount: bigint, from: Asset, to: Asset, factor: Rational): ConversionResult {
  let n = amount * factor.n
  let d = factor.d
  if (to.scale >= from.scale) n *= pow10(to.scale - from.scale)
  else d *= pow10(from.scale - to.scale)
  const out = n / d
  if (amount > 0n && out === 0n) {
    return { ok: false, code: 'R01', message: `amount ${amount} ${from.code} (scale ${from.scale}) is zero in ${to.code} at scale ${to.scale}` }
  }
  if (out > MAX_UINT64) {
    return { ok: false, code: 'F08', message: `amount ${amount} ${from.code} converts to ${out} ${to.code}, more than a uint64 holds` }
  }
  return { ok: true, amount: out }
}

/** Parses an optional signed integer string from config; undefined stays undefined (no limit). */
export function optionalBigInt (value: string | undefined): bigint | undefined {
  return value === undefined ? undefined : BigInt(value)
}
