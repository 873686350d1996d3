/**
 * A routing table shard's data: for each prefix the candidate routes and the chosen one. Longest
 * prefix match walks the destination's own prefixes (one Map lookup per address segment), so a lookup
 * costs the same with 10 routes or 100,000.
 */

/**
 * Where a route came from. `self` is our own address (packets to it that match no longer route are for
 * no one: F02 here, never passed on); `learned` routes come from neighbours over CCP.
 */
export type RouteKind = 'static' | 'local' | 'self' | 'learned' | 'parent-default'
export type Relation = 'parent' | 'peer' | 'child'

/** The next hop of a `self` route: no account (the connector itself). */
export const NO_HOP = ''

export interface Route {
  prefix: string
  nextHop: string
  kind: RouteKind
  /** Learned routes: what the next hop is to us (child beats peer beats parent). */
  relation?: Relation
  /** Learned routes: the connectors the route passes through, nearest first (fewer is better). */
  path?: readonly string[]
}

// `self` first: nothing may take the place of our own address (a static route for it would hand our
// whole address space, and what we announce for it, to one account); config and API refuse one anyway.
const KIND_RANK: Record<RouteKind, number> = { self: 0, static: 1, local: 2, learned: 3, 'parent-default': 4 }
const RELATION_RANK: Record<Relation, number> = { child: 0, peer: 1, parent: 2 }

/**
 * Route choice, in order: configured static routes, local accounts (and our own address), learned
 * routes by the relation of who taught us (child, then peer, then parent), then the shorter path, then
 * the account id — so every connector and every restart picks the same route. Negative if a wins.
 */
export function compareRoutes (a: Route, b: Route): number {
  const kind = KIND_RANK[a.kind] - KIND_RANK[b.kind]
  if (kind !== 0) return kind
  if (a.kind === 'learned') {
    const relation = RELATION_RANK[a.relation ?? 'parent'] - RELATION_RANK[b.relation ?? 'parent']
    if (relation !== 0) return relation
    const path = (a.path?.length ?? 0) - (b.path?.length ?? 0)
    if (path !== 0) return path
  }
  return a.nextHop < b.nextHop ? -1 : a.nextHop > b.nextHop ? 1 : 0
}

function sameRoute (a: Route | undefined, b: Route | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  if (a.nextHop !== b.nextHop || a.kind !== b.kind || (a.path?.length ?? 0) !== (b.path?.length ?? 0)) return false
  return (a.path ?? []).every((hop, i) => b.path?.[i] === hop)
}

export class PrefixTable {
  private readonly candidates = new Map<string, Route[]>()
  private readonly best = new Map<string, string>()
  private readonly bestRoutes = new Map<string, Route>()
  /** How many prefixes have each number of segments: a lookup skips the lengths no prefix has. */
  private readonly bySegments: number[] = []

  get size (): number { return this.best.size }

  /** True if some prefix here has this many segments ('' has 0, 'g' 1, 'g.a' 2). */
  hasSegments (segments: number): boolean {
    return (this.bySegments[segments] ?? 0) > 0
  }

  /** The next hop for exactly this prefix, if any. */
  nextHop (prefix: string): string | undefined {
    return this.best.get(prefix)
  }

  /** The chosen route for exactly this prefix, if any. */
  bestRoute (prefix: string): Route | undefined {
    return this.bestRoutes.get(prefix)
  }

  /** Adds (or replaces: same prefix, next hop and kind) a route; true if the prefix's chosen route changed. */
  add (route: Route): boolean {
    const list = (this.candidates.get(route.prefix) ?? []).filter(r => !(r.nextHop === route.nextHop && r.kind === route.kind))
    list.push(route)
    return this.choose(route.prefix, list)
  }

  /** True if the prefix's chosen route changed. */
  remove (prefix: string, nextHop: string, kind: RouteKind): boolean {
    const list = this.candidates.get(prefix)
    if (list === undefined) return false
    return this.choose(prefix, list.filter(r => !(r.nextHop === nextHop && r.kind === kind)))
  }

  /** Removes every route through an account (of one kind, or all); returns the prefixes whose choice changed. */
  removeNextHop (nextHop: string, kind?: RouteKind): string[] {
    const changed: string[] = []
    for (const [prefix, list] of this.candidates) {
      const matches = (r: Route): boolean => r.nextHop === nextHop && (kind === undefined || r.kind === kind)
      if (list.some(matches) && this.choose(prefix, list.filter(r => !matches(r)))) changed.push(prefix)
    }
    return changed
  }

  routes (): Route[] {
    return [...this.candidates.values()].flat()
  }

  /** The chosen route of every prefix. */
  chosen (): IterableIterator<Route> {
    return this.bestRoutes.values()
  }

  private choose (prefix: string, list: Route[]): boolean {
    const before = this.bestRoutes.get(prefix)
    if (list.length === 0) {
      this.candidates.delete(prefix)
      this.best.delete(prefix)
      this.bestRoutes.delete(prefix)
      if (before !== undefined) this.bySegments[segmentCount(prefix)]--
      return before !== undefined
    }
    if (before === undefined) {
      const n = segmentCount(prefix)
      this.bySegments[n] = (this.bySegments[n] ?? 0) + 1
    }
    this.candidates.set(prefix, list)
    const winner = list.reduce((a, b) => compareRoutes(b, a) < 0 ? b : a)
    this.best.set(prefix, winner.nextHop)
    this.bestRoutes.set(prefix, winner)
    return !sameRoute(before, winner)
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
    const table = tables[shard]
    if (table.hasSegments(segments)) {
      const hop = table.nextHop(candidate)
      if (hop !== undefined) return hop
    }
    const dot = candidate.lastIndexOf('.')
    if (dot < 0) break
    candidate = candidate.slice(0, dot)
    segments--
    if (segments === 1) shard = shardOf(candidate, n)
  }
  return tables[shardOf('', n)].nextHop('')
}

function segmentCount (prefix: string): number {
  return prefix === '' ? 0 : countDots(prefix) + 1
}

function countDots (s: string): number {
  let n = 0
  for (let i = s.indexOf('.'); i >= 0; i = s.indexOf('.', i + 1)) n++
  return n
}
