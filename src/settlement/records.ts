/**
 * What settlement keeps in the store (plain data, amounts as decimal strings), in two collections:
 * - `settle-out`: outgoing settlements debited and not yet accepted by the engine or the peer, so a
 *   settlement interrupted by a crash is resumed after restart with the same idempotency key;
 * - `settle-in`: the idempotency keys of incoming settlements with the answer given, so a repeated
 *   request is answered the same and never credited twice. Kept at least a day.
 */
export const OUTGOING_COLLECTION = 'settle-out'
export const INCOMING_COLLECTION = 'settle-in'

export interface OutgoingSettlementRecord {
  account: string
  /** In the account's scale. */
  amount: string
  /** Milliseconds since the epoch. */
  createdAt: number
  /** Set when the engine refused it for good (a 4xx): kept for the operator, not retried. */
  failed?: string
}

export interface IncomingSettlementRecord {
  account: string
  /** What the request asked to credit, and at which scale (the engine's). */
  amount: string
  scale: number
  /** What was credited, in the account's scale. */
  credited: string
  /** The answer given: the credited amount in the request's scale (the engine keeps the leftover). */
  response: { amount: string; scale: number }
  /** When the key was last seen (milliseconds since the epoch): the retention counts from here. */
  at: number
}

/** Record keys of incoming settlements: account ids contain no "/", so the first "/" splits them. */
export function incomingKey (accountId: string, idempotencyKey: string): string {
  return `${accountId}/${idempotencyKey}`
}
