/**
 * CCP (RFC 0010) as pure functions, so each rule is unit-testable without links or actors:
 * - the epoch log of our forwarding table (what changed since a neighbour's last known epoch),
 * - the export policy (what each neighbour is told),
 * - the import filter (which learned routes we refuse),
 * - applying a neighbour's route update to what we hold from it (table ids, gaps, stale updates),
 * - cutting the changes since an epoch into updates that fit in one ILP packet.
 */
import { createHash } from 'crypto'
import type { CcpRoute, CcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import { ILP_PREFIX_PATTERN, ILP_ADDRESS_PATTERN, ILP_ADDRESS_MAX_LENGTH } from '../config/schema'
import type { Relation, Route } from './PrefixTable'

const PREFIX = new RegExp(ILP_PREFIX_PATTERN)
const ADDRESS = new RegExp(ILP_ADDRESS_PATTERN)
/** Longest route path accepted: real paths are a handful of hops; long ones only bloat updates. */
export const MAX_PATH_HOPS = 32

// ---- the epoch log -------------------------------------------------------------------------------

/**
 * Our forwarding table's history. Every change of a prefix's advertised route takes the next epoch;
 * only a prefix's latest change matters to a neighbour catching up, so that is all that is kept (the
 * memory is bounded by the number of prefixes ever seen, not by the number of changes).
 */
export class EpochLog {
  private current = 0
  private readonly changedAt = new Map<string, number>()
  /** (epoch, prefix) in ascending epoch order; an entry is stale once its prefix changed again. */
  private entries: Array<{ epoch: number; prefix: string }> = []

  get epoch (): number { return this.current }

  record (prefix: string): number {
    const epoch = ++this.current
    this.changedAt.set(prefix, epoch)
    this.entries.push({ epoch, prefix })
    if (this.entries.length > 2 * this.changedAt.size + 1024) {
      this.entries = this.entries.filter(e => this.changedAt.get(e.prefix) === e.epoch)
    }
    return epoch
  }

  /** The prefixes whose latest change is after `epoch`, oldest change first. */
  since (epoch: number): Array<{ epoch: number; prefix: string }> {
    let lo = 0
    let hi = this.entries.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.entries[mid].epoch <= epoch) lo = mid + 1
      else hi = mid
    }
    const out: Array<{ epoch: number; prefix: string }> = []
    for (let i = lo; i < this.entries.length; i++) {
      const e = this.entries[i]
      if (this.changedAt.get(e.prefix) === e.epoch) out.push(e)
    }
    return out
  }
}

// ---- export policy -------------------------------------------------------------------------------

export interface Neighbour {
  id: string
  relation: Relation
  /** A child's address (ours + its id); undefined for peers and parents. */
  address?: string
}

/** True if `prefix` is `address` or lies under it (segment boundaries count). */
export function within (prefix: string, address: string): boolean {
  return prefix === address || prefix.startsWith(address + '.')
}

/**
 * The route a neighbour is told for a prefix, or undefined (it is told the prefix is withdrawn).
 * - Never a route back to the account it came from, never the parent default route.
 * - Addresses under our own are covered by the route to our address itself (one route, however many
 *   children we have).
 * - Children (when they get routes at all) are told everything else. Peers and parents are told only
 *   our own address and routes through our children: we do not give them free transit.
 */
export function exportRoute (route: Route | undefined, to: Neighbour, ourAddress: string, relationOf: (id: string) => Relation | undefined): CcpRoute | undefined {
  if (route === undefined || route.kind === 'parent-default' || route.nextHop === to.id) return undefined
  if (route.kind === 'self') return advertised(route.prefix, [ourAddress])
  if (within(route.prefix, ourAddress)) return undefined
  if (to.relation !== 'child') {
    const via = route.kind === 'learned' ? route.relation : relationOf(route.nextHop)
    if (via !== 'child') return undefined
  }
  return advertised(route.prefix, [ourAddress, ...(route.path ?? [])])
}

function advertised (prefix: string, path: string[]): CcpRoute {
  // Nobody checks route auth in practice (RFC 0010 leaves it to a later version); a fixed digest of
  // the prefix keeps the field well-formed and stable.
  return { prefix, path, auth: createHash('sha256').update(prefix, 'utf8').digest(), props: [] }
}

// ---- import filter -------------------------------------------------------------------------------

/** Why a route from a neighbour is refused, or undefined if it is accepted. */
export function refuseRoute (route: CcpRoute, from: Neighbour, ourAddress: string): string | undefined {
  const { prefix, path } = route
  if (prefix.length > ILP_ADDRESS_MAX_LENGTH || !PREFIX.test(prefix)) return 'not a valid address prefix'
  const scheme = ourAddress.slice(0, ourAddress.indexOf('.'))
  if (prefix === scheme) return `the whole address scheme "${scheme}"`
  if (!prefix.startsWith(scheme + '.')) return `outside our address scheme "${scheme}"`
  if (path.length > MAX_PATH_HOPS) return `its path has ${path.length} hops, more than ${MAX_PATH_HOPS}`
  for (const hop of path) if (hop.length > ILP_ADDRESS_MAX_LENGTH || !ADDRESS.test(hop)) return 'its path holds an invalid address'
  if (path.includes(ourAddress)) return 'its path passes through this connector (a loop)'
  if (within(prefix, ourAddress) && !(from.address !== undefined && within(prefix, from.address))) {
    return 'inside this connector\'s own address space'
  }
  return undefined
}

// ---- receiving -----------------------------------------------------------------------------------

/** What we hold from one neighbour: its table's id, the last epoch we have, its routes (prefix → path). */
export interface ReceivedTable {
  tableId: string
  epoch: number
  routes: Map<string, readonly string[]>
}

export function emptyReceivedTable (): ReceivedTable {
  return { tableId: '', epoch: 0, routes: new Map() }
}

export interface UpdateOutcome {
  /** The neighbour has a new routing table (it restarted): everything we held from it was dropped. */
  reset: boolean
  /** Its update starts after the last epoch we have: we must ask it to resync from that epoch. */
  gap: boolean
  /** Routes added or changed, and prefixes withdrawn (including those dropped by a reset). */
  added: Array<{ prefix: string; path: readonly string[] }>
  withdrawn: string[]
  refused: Array<{ prefix: string; reason: string }>
}

/**
 * Applies a route update to what we hold from its sender (RFC 0010): a new table id resets what we
 * hold; an update starting after our epoch is a gap (nothing applied: resync); one wholly before our
 * epoch is old (ignored); otherwise withdrawals, then new routes, and our epoch becomes its `toEpoch`.
 */
export function applyRouteUpdate (held: ReceivedTable, update: CcpRouteUpdateRequest, refuse: (route: CcpRoute) => string | undefined): UpdateOutcome {
  const outcome: UpdateOutcome = { reset: false, gap: false, added: [], withdrawn: [], refused: [] }
  if (held.tableId !== update.routingTableId) {
    outcome.reset = held.tableId !== ''
    outcome.withdrawn.push(...held.routes.keys())
    held.tableId = update.routingTableId
    held.epoch = 0
    held.routes.clear()
  }
  if (update.fromEpochIndex > held.epoch) {
    outcome.gap = true
    return outcome
  }
  if (update.toEpochIndex <= held.epoch) return outcome
  for (const prefix of update.withdrawnRoutes) {
    if (held.routes.delete(prefix)) outcome.withdrawn.push(prefix)
  }
  for (const route of update.newRoutes) {
    const reason = refuse(route)
    if (reason !== undefined) {
      outcome.refused.push({ prefix: route.prefix, reason })
      // A route we held for this prefix is no longer valid either.
      if (held.routes.delete(route.prefix)) outcome.withdrawn.push(route.prefix)
      continue
    }
    held.routes.set(route.prefix, route.path)
    outcome.added.push({ prefix: route.prefix, path: route.path })
  }
  held.epoch = update.toEpochIndex
  // A prefix both withdrawn and re-added in one update is added.
  if (outcome.added.length > 0 && outcome.withdrawn.length > 0) {
    const added = new Set(outcome.added.map(r => r.prefix))
    outcome.withdrawn = outcome.withdrawn.filter(p => !added.has(p))
  }
  return outcome
}

// ---- sending -------------------------------------------------------------------------------------

/** Room for routes in one update: an ILP Prepare carries at most 32,767 bytes of data. */
export const MAX_UPDATE_BYTES = 30000

function routeBytes (route: CcpRoute): number {
  let n = route.prefix.length + 3 + 32 + 3 + 3
  for (const hop of route.path) n += hop.length + 3
  return n
}

export interface UpdateChunk {
  toEpoch: number
  newRoutes: CcpRoute[]
  withdrawnRoutes: string[]
  /** Routes too large for any update (a long path): sent as withdrawn instead. */
  oversized: string[]
}

/**
 * The next update for a neighbour that has our table up to `fromEpoch`: the routes it is told now for
 * every prefix changed since, oldest change first, cut where the packet would be full (`toEpoch` then
 * says how far it got; the rest follows in the next update). From epoch 0 it holds nothing of ours, so
 * it is sent no withdrawals. A route too large to fit in any update is sent as withdrawn.
 */
export function nextUpdate (log: EpochLog, fromEpoch: number, describe: (prefix: string) => CcpRoute | undefined, maxBytes = MAX_UPDATE_BYTES): UpdateChunk {
  const chunk: UpdateChunk = { toEpoch: log.epoch, newRoutes: [], withdrawnRoutes: [], oversized: [] }
  let bytes = 0
  for (const { epoch, prefix } of log.since(fromEpoch)) {
    let route = describe(prefix)
    if (route !== undefined && routeBytes(route) > maxBytes) {
      chunk.oversized.push(prefix)
      route = undefined
    }
    if (route === undefined && fromEpoch === 0) continue
    const size = route === undefined ? prefix.length + 3 : routeBytes(route)
    if (bytes + size > maxBytes && bytes > 0) {
      chunk.toEpoch = epoch - 1
      return chunk
    }
    bytes += size
    if (route === undefined) chunk.withdrawnRoutes.push(prefix)
    else chunk.newRoutes.push(route)
  }
  return chunk
}
