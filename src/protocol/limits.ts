/**
 * Per-account rate limits as token buckets with exact integer arithmetic. A bucket holds at most
 * `capacity` per `periodMs` and refills continuously. To stay exact, its level is kept in units of
 * (token × ms): each elapsed millisecond adds `capacity` units, and taking `n` tokens costs
 * `n × periodMs` units — no fractions, no floating point.
 */
export interface Bucket {
  capacity: bigint
  periodMs: bigint
  /** Level in token·ms units; full is capacity × periodMs. */
  level: bigint
  updatedAt: number
}

export function fullBucket (capacity: bigint, periodMs: number, now: number): Bucket {
  const period = BigInt(periodMs)
  return { capacity, periodMs: period, level: capacity * period, updatedAt: now }
}

/** Takes `n` tokens if the bucket has them (after refilling up to `now`); false leaves it unchanged. */
export function take (bucket: Bucket, n: bigint, now: number): boolean {
  const full = bucket.capacity * bucket.periodMs
  if (now > bucket.updatedAt) {
    const level = bucket.level + BigInt(now - bucket.updatedAt) * bucket.capacity
    bucket.level = level > full ? full : level
    bucket.updatedAt = now
  }
  const cost = n * bucket.periodMs
  if (cost > bucket.level) return false
  bucket.level -= cost
  return true
}
