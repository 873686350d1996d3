/**
 * A routing table shard's data: for each prefix the candidate routes and the best of them. Longest
 * prefix match walks the destination's own prefixes (one Map lookup per address segment), so a lookup
 * costs the same with 10 routes or 100,000.
 */

/** Where a route came from; lower rank wins. Learned routes (CCP) join in a later issue. */
export type RouteKind = 'static' | 'local' | 'parent-default'
const RANK: Record<RouteKind, number> = { static: 0, local: 1, 'parent-default': 2 }

export interface Route {
  prefix: string
  nextHop: string
  kind: RouteKind
}

export class PrefixTable {
  private readonly candidates = new Map<string, Route[]>()
  private readonly best = new Map<string, string>()

  get size (): number { return this.best.size }

  /** The next hop for exactly this prefix, if any. */
  nextHop (prefix: string): string | undefined {
    return this.best.get(prefix)
  }

  add (route: Route): void {
    const list = (this.candidates.get(route.prefix) ?? []).filter(r => !(r.nextHop === route.nextHop && r.kind === route.kind))
    list.push(route)
    this.candidates.set(route.prefix, list)
    this.choose(route.prefix, list)
  }

  remove (prefix: string, nextHop: string, kind: RouteKind): void {
    const list = this.candidates.get(prefix)
    if (list === undefined) return
    this.choose(prefix, list.filter(r => !(r.nextHop === nextHop && r.kind === kind)))
  }

  /** Removes every route through an account (the account was removed). */
  removeNextHop (nextHop: string): void {
    for (const [prefix, list] of this.candidates) {
      if (list.some(r => r.nextHop === nextHop)) this.choose(prefix, list.filter(r => r.nextHop !== nextHop))
    }
  }

  routes (): Route[] {
    return [...this.candidates.values()].flat()
  }

  private choose (prefix: string, list: Route[]): void {
    if (list.length === 0) {
      this.candidates.delete(prefix)
      this.best.delete(prefix)
      return
    }
    this.candidates.set(prefix, list)
    // Stable tie-break: rank, then account id, so every restart picks the same route.
    const winner = list.reduce((a, b) => (RANK[b.kind] < RANK[a.kind] || (RANK[b.kind] === RANK[a.kind] && b.nextHop < a.nextHop)) ? b : a)
    this.best.set(prefix, winner.nextHop)
  }
}

/** The part of a prefix that picks its shard: its first two segments, so one destination's longer
 * prefixes all live in one shard and a lookup touches at most three shards. */
export function shardKey (prefix: string): string {
  const first = prefix.indexOf('.')
  if (first < 0) return prefix
  const second = prefix.indexOf('.', first + 1)
  return second < 0 ? prefix : prefix.slice(0, second)
}

/** FNV-1a over the shard key. */
export function shardOf (prefix: string, shardCount: number): number {
  if (shardCount === 1) return 0
  const key = shardKey(prefix)
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shardCount
}

/**
 * Longest-prefix match over the shards' tables (read directly: only the owning shard actor changes a
 * table, and JavaScript never runs a read in the middle of that change). Segment boundaries count:
 * a route for `g.alice` matches `g.alice.x` but not `g.alicex`. The empty prefix is the default route.
 */
export function longestPrefixMatch (tables: readonly PrefixTable[], destination: string): string | undefined {
  const n = tables.length
  let candidate = destination
  let shard = shardOf(candidate, n)
  let segments = countDots(destination) + 1
  for (;;) {
    const hop = tables[shard].nextHop(candidate)
    if (hop !== undefined) return hop
    const dot = candidate.lastIndexOf('.')
    if (dot < 0) break
    candidate = candidate.slice(0, dot)
    segments--
    if (segments === 1) shard = shardOf(candidate, n)
  }
  return tables[shardOf('', n)].nextHop('')
}

function countDots (s: string): number {
  let n = 0
  for (let i = s.indexOf('.'); i >= 0; i = s.indexOf('.', i + 1)) n++
  return n
}
