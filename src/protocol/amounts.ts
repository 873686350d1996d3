/**
 * Exact amount arithmetic. Amounts are uint64 and always `bigint`; balances are sums and may go beyond
 * 64 bits, so they are `bigint` in memory and decimal strings at rest and on the wire.
 */
import { MAX_UINT64 } from './ilp'

export type ConversionResult =
  | { ok: true; amount: bigint }
  | { ok: false; code: 'F08' | 'R01' | 'F02'; message: string }

export interface Asset { code: string; scale: number }

/**
 * Converts between two accounts' assets. Until rates exist (a later issue), only the scale may differ:
 * amount × 10^(to − from), rounded down so the connector never pays out more than it received.
 */
export function convertAmount (amount: bigint, from: Asset, to: Asset): ConversionResult {
  if (from.code !== to.code) {
    return { ok: false, code: 'F02', message: `no exchange rate from ${from.code} to ${to.code}` }
  }
  let out: bigint
  if (to.scale >= from.scale) out = amount * 10n ** BigInt(to.scale - from.scale)
  else out = amount / 10n ** BigInt(from.scale - to.scale)
  if (amount > 0n && out === 0n) {
    return { ok: false, code: 'R01', message: `amount ${amount} (scale ${from.scale}) is zero at scale ${to.scale}` }
  }
  if (out > MAX_UINT64) {
    return { ok: false, code: 'F08', message: `amount ${amount} converts to ${out}, more than a uint64 holds` }
  }
  return { ok: true, amount: out }
}

/** Parses an optional signed integer string from config; undefined stays undefined (no limit). */
export function optionalBigInt (value: string | undefined): bigint | undefined {
  return value === undefined ? undefined : BigInt(value)
}
