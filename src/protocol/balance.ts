/**
 * An account's balance as pure functions. `balance` is what the account owes the connector: an
 * incoming Prepare (the account pays through us) raises it when fulfilled, an outgoing one (we pay the
 * account) lowers it. Amounts in flight are held: counted against the limits as if they would be
 * fulfilled, committed on Fulfill, released on Reject, so no interleaving of packets can overdraw.
 */
export interface Balance {
  balance: bigint
  /** Sum of the account's incoming Prepares that are not yet fulfilled or rejected. */
  heldIncoming: bigint
  /** Sum of Prepares to the account that are not yet fulfilled or rejected. */
  heldOutgoing: bigint
}

export interface BalanceLimits {
  /** The lowest balance allowed (how far we may come to owe the account); undefined: no limit. */
  minBalance?: bigint
  /** The highest balance allowed (the credit we extend to the account); undefined: no limit. */
  maxBalance?: bigint
}

export function zeroBalance (balance = 0n): Balance {
  return { balance, heldIncoming: 0n, heldOutgoing: 0n }
}

/** Tries to hold an incoming amount; false if it could take the balance above its maximum. */
export function holdIncoming (b: Balance, limits: BalanceLimits, amount: bigint): boolean {
  if (limits.maxBalance !== undefined && b.balance + b.heldIncoming + amount > limits.maxBalance) return false
  b.heldIncoming += amount
  return true
}

/** Tries to hold an outgoing amount; false if it could take the balance below its minimum. */
export function holdOutgoing (b: Balance, limits: BalanceLimits, amount: bigint): boolean {
  if (limits.minBalance !== undefined && b.balance - b.heldOutgoing - amount < limits.minBalance) return false
  b.heldOutgoing += amount
  return true
}

export function commitIncoming (b: Balance, amount: bigint): void {
  b.heldIncoming -= amount
  b.balance += amount
}

export function releaseIncoming (b: Balance, amount: bigint): void {
  b.heldIncoming -= amount
}

export function commitOutgoing (b: Balance, amount: bigint): void {
  b.heldOutgoing -= amount
  b.balance -= amount
}

export function releaseOutgoing (b: Balance, amount: bigint): void {
  b.heldOutgoing -= amount
}
