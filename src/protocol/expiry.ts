/**
 * Expiry arithmetic for a forwarded Prepare (RFC 0027 "Expiry"): the next hop gets less time than we
 * were given, so that a Fulfill arriving at the last moment downstream can still be passed upstream.
 */
export interface ExpiryPolicy {
  /** Time kept back from the incoming expiry for passing the reply upstream. */
  minMessageWindowMs: number
  /** The longest we hold a packet (and the sender's funds) waiting for the next hop. */
  maxHoldTimeMs: number
}

export type ExpiryDecision =
  | { ok: true; expiresAt: number }
  | { ok: false; code: 'R00' | 'R02'; message: string }

/**
 * Outgoing expiry = min(incoming − window, now + max hold). The next hop must itself be left at least
 * one message window, or the packet cannot realistically complete: R02. An already expired packet: R00.
 */
export function outgoingExpiry (incomingExpiresAt: number, now: number, policy: ExpiryPolicy): ExpiryDecision {
  if (incomingExpiresAt <= now) {
    return { ok: false, code: 'R00', message: `packet expired ${now - incomingExpiresAt} ms before it arrived` }
  }
  const expiresAt = Math.min(incomingExpiresAt - policy.minMessageWindowMs, now + policy.maxHoldTimeMs)
  if (expiresAt - now < policy.minMessageWindowMs) {
    return {
      ok: false,
      code: 'R02',
      message: `insufficient timeout: ${incomingExpiresAt - now} ms left, at least ${2 * policy.minMessageWindowMs} ms needed`
    }
  }
  return { ok: true, expiresAt }
}
