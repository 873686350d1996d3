/**
 * Settlement arithmetic as pure functions, all bigint. The balance is what the account owes the
 * connector: negative means we owe the peer, and settling (we pay the peer) raises it.
 */

/**
 * How much to settle now: when the balance has fallen to the threshold or below, the amount that brings
 * it back up to settleTo; otherwise 0. (The config guarantees settleTo > threshold.)
 */
export function settlementDue (balance: bigint, threshold: bigint | undefined, settleTo: bigint): bigint {
  if (threshold === undefined || balance > threshold) return 0n
  return settleTo - balance
}

export interface ScaledCredit {
  /** What to credit to the account, in the account's scale. */
  credited: bigint
  /** The same amount in the engine's scale: what we answer the engine. */
  creditedInEngineScale: bigint
  /** The part too small for the account's scale, in the engine's scale: the engine keeps it (RFC 0038). */
  leftover: bigint
}

/**
 * An incoming settlement in the engine's scale converted to the account's scale, exactly. Rounded
 * down, in the connector's favour: what cannot be represented is not credited but reported back as
 * leftover, so the engine can add it to a later settlement.
 */
export function scaleIncoming (amount: bigint, engineScale: number, accountScale: number): ScaledCredit {
  if (amount < 0n) throw new RangeError('a settlement amount is never negative')
  if (accountScale >= engineScale) {
    return { credited: amount * 10n ** BigInt(accountScale - engineScale), creditedInEngineScale: amount, leftover: 0n }
  }
  const factor = 10n ** BigInt(engineScale - accountScale)
  const credited = amount / factor
  return { credited, creditedInEngineScale: credited * factor, leftover: amount % factor }
}

/** Exponential backoff with jitter for the n-th retry (n ≥ 1), capped: delay in [half, full] of min(max, min·2^(n−1)). */
export function retryDelay (attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40)
  const full = Math.min(maxMs, minMs * 2 ** exponent)
  return Math.round(full / 2 + (full / 2) * random())
}
