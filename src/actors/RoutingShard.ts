/**
 * A routing-table shard: the actor that owns one part of the prefix table (see `shardOf`). Changes go
 * through its mailbox one at a time; lookups read its table directly (see `RoutingTable`), so routing a
 * packet costs no message.
 */
import { spawn, dispatch, Ref } from 'nact'
import type { Logger } from 'pino'
import { PrefixTable, longestPrefixMatch, shardOf, Route, RouteKind } from '../routing/PrefixTable'
import type { RoutingMessage } from './messages'

export function handleRoutingMessage (table: PrefixTable, msg: RoutingMessage, log: Logger): PrefixTable {
  switch (msg.type) {
    case 'addRoute': {
      const before = table.nextHop(msg.route.prefix)
      table.add(msg.route)
      logChange(log, msg.route.prefix, before, table.nextHop(msg.route.prefix), msg.route.kind)
      break
    }
    case 'removeRoute': {
      const before = table.nextHop(msg.prefix)
      table.remove(msg.prefix, msg.nextHop, msg.kind)
      logChange(log, msg.prefix, before, table.nextHop(msg.prefix), msg.kind)
      break
    }
    case 'removeNextHop':
      table.removeNextHop(msg.nextHop)
      log.info({ account: msg.nextHop }, 'routes through account removed')
      break
  }
  return table
}

function logChange (log: Logger, prefix: string, before: string | undefined, after: string | undefined, kind: RouteKind): void {
  if (before === after) return
  // A local account's own route is routine (one per account at start): debug, not info.
  const level = kind === 'local' ? 'debug' : 'info'
  log[level]({ prefix: prefix === '' ? '(default)' : prefix, from: before ?? null, to: after ?? null, kind }, 'route changed')
}

/** The whole routing table: the shard actors (for changes) and their tables (for lookups). */
export class RoutingTable {
  readonly tables: PrefixTable[]
  private readonly shards: Ref<RoutingMessage>[]

  constructor (parent: Ref<unknown>, shardCount: number, log: Logger) {
    this.tables = Array.from({ length: shardCount }, () => new PrefixTable())
    this.shards = this.tables.map((table, i) => spawn(
      parent,
      (state: PrefixTable, msg: RoutingMessage) => handleRoutingMessage(state, msg, log),
      `routing-shard-${i}`,
      {
        initialState: table,
        // A failed change leaves the rest of the table as it was: keep serving it.
        onCrash: (msg: RoutingMessage | undefined, err: Error | undefined, ctx) => {
          log.error({ err, message: msg }, 'routing shard failed to apply a change')
          return ctx.resume
        }
      }
    ))
  }

  lookup (destination: string): string | undefined {
    return longestPrefixMatch(this.tables, destination)
  }

  add (route: Route): void {
    dispatch(this.shards[shardOf(route.prefix, this.shards.length)], { type: 'addRoute', route })
  }

  remove (prefix: string, nextHop: string, kind: RouteKind): void {
    dispatch(this.shards[shardOf(prefix, this.shards.length)], { type: 'removeRoute', prefix, nextHop, kind })
  }

  removeNextHop (nextHop: string): void {
    for (const shard of this.shards) dispatch(shard, { type: 'removeNextHop', nextHop })
  }

  get size (): number {
    return this.tables.reduce((n, t) => n + t.size, 0)
  }
}
