/**
 * A routing-table shard: the actor that owns one part of the prefix table (see `shardOf`). Changes go
 * through its mailbox one at a time; lookups read its table directly (see `RoutingTable`), so routing a
 * packet costs no message. Each change that alters a prefix's chosen route is logged and reported
 * (`onChanged`), which is how the route broadcaster learns what to tell its neighbours.
 */
import { spawn, dispatch, Ref } from 'nact'
import type { Logger } from 'pino'
import { PrefixTable, longestPrefixMatch, shardOf, Route, RouteKind } from '../routing/PrefixTable'
import type { RoutingMessage, RouteRemoval } from './messages'

/** Beyond this many changes in one message, one summary line is logged instead of a line per prefix. */
const LOG_EACH_UP_TO = 20

export function handleRoutingMessage (table: PrefixTable, msg: RoutingMessage, log: Logger): string[] {
  const changed: string[] = []
  const before = new Map<string, Route | undefined>()
  const note = (prefix: string): void => { if (!before.has(prefix)) before.set(prefix, table.bestRoute(prefix)) }
  switch (msg.type) {
    case 'addRoute':
      note(msg.route.prefix)
      if (table.add(msg.route)) changed.push(msg.route.prefix)
      break
    case 'removeRoute':
      note(msg.prefix)
      if (table.remove(msg.prefix, msg.nextHop, msg.kind)) changed.push(msg.prefix)
      break
    case 'apply':
      for (const r of msg.remove) { note(r.prefix); if (table.remove(r.prefix, r.nextHop, r.kind)) changed.push(r.prefix) }
      for (const r of msg.add) { note(r.prefix); if (table.add(r)) changed.push(r.prefix) }
      break
    case 'removeNextHop':
      for (const route of table.routes()) if (route.nextHop === msg.nextHop && (msg.kind === undefined || route.kind === msg.kind)) note(route.prefix)
      changed.push(...table.removeNextHop(msg.nextHop, msg.kind))
      break
  }
  const unique = [...new Set(changed)]
  logChanges(log, table, unique, before)
  return unique
}

function describe (route: Route | undefined): string | null {
  if (route === undefined) return null
  if (route.kind === 'self') return '(this connector)'
  return route.path !== undefined && route.path.length > 0 ? `${route.nextHop} via ${route.path.join(' → ')}` : route.nextHop
}

function logChanges (log: Logger, table: PrefixTable, prefixes: string[], before: Map<string, Route | undefined>): void {
  if (prefixes.length > LOG_EACH_UP_TO) {
    log.info({ changed: prefixes.length, examples: prefixes.slice(0, 5) }, 'routes changed')
    return
  }
  for (const prefix of prefixes) {
    const was = before.get(prefix)
    const now = table.bestRoute(prefix)
    // A local account's own route is routine (one per account at start): debug, not info.
    const routine = (was === undefined || was.kind === 'local' || was.kind === 'self') && (now === undefined || now.kind === 'local' || now.kind === 'self')
    log[routine ? 'debug' : 'info']({
      prefix: prefix === '' ? '(default)' : prefix,
      from: describe(was),
      to: describe(now),
      kind: now?.kind ?? was?.kind
    }, now === undefined ? 'route withdrawn' : was === undefined ? 'route added' : 'route changed')
  }
}

/** The whole routing table: the shard actors (for changes) and their tables (for lookups). */
export class RoutingTable {
  readonly tables: PrefixTable[]
  private readonly shards: Array<Ref<RoutingMessage>>

  /** `onChanged` hears of every prefix whose chosen route changed (from inside a shard's turn). */
  constructor (parent: Ref<unknown>, shardCount: number, log: Logger, onChanged: (prefixes: string[]) => void = () => {}) {
    this.tables = Array.from({ length: shardCount }, () => new PrefixTable())
    this.shards = this.tables.map((table, i) => spawn(
      parent,
      (state: PrefixTable, msg: RoutingMessage) => {
        const changed = handleRoutingMessage(state, msg, log)
        if (changed.length > 0) onChanged(changed)
        return state
      },
      `routing-shard-${i}`,
      {
        initialState: table,
        // A failed change leaves the rest of the table as it was: keep serving it.
        onCrash: (msg: RoutingMessage | undefined, err: Error | undefined, ctx) => {
          log.error({ err, message: msg?.type }, 'routing shard failed to apply a change')
          return ctx.resume
        }
      }
    ))
  }

  lookup (destination: string): string | undefined {
    return longestPrefixMatch(this.tables, destination)
  }

  /** The chosen route for exactly this prefix (read directly from its shard's table). */
  bestRoute (prefix: string): Route | undefined {
    return this.tables[shardOf(prefix, this.tables.length)].bestRoute(prefix)
  }

  add (route: Route): void {
    dispatch(this.shards[shardOf(route.prefix, this.shards.length)], { type: 'addRoute', route })
  }

  remove (prefix: string, nextHop: string, kind: RouteKind): void {
    dispatch(this.shards[shardOf(prefix, this.shards.length)], { type: 'removeRoute', prefix, nextHop, kind })
  }

  /** Many changes at once: one message per shard, removals applied before additions. */
  apply (add: Route[], remove: RouteRemoval[]): void {
    const n = this.shards.length
    const adds: Route[][] = Array.from({ length: n }, () => [])
    const removes: RouteRemoval[][] = Array.from({ length: n }, () => [])
    for (const r of add) adds[shardOf(r.prefix, n)].push(r)
    for (const r of remove) removes[shardOf(r.prefix, n)].push(r)
    for (let i = 0; i < n; i++) {
      if (adds[i].length > 0 || removes[i].length > 0) dispatch(this.shards[i], { type: 'apply', add: adds[i], remove: removes[i] })
    }
  }

  /** Removes the routes through an account (of one kind, or all of them). */
  removeNextHop (nextHop: string, kind?: RouteKind): void {
    for (const shard of this.shards) dispatch(shard, { type: 'removeNextHop', nextHop, kind })
  }

  get size (): number {
    return this.tables.reduce((n, t) => n + t.size, 0)
  }
}
