/**
 * The route broadcaster and receiver (CCP, RFC 0010), as one actor: it owns our forwarding table's
 * epoch log and, per neighbour, what we have told it and what it has told us. Learned routes go into
 * the routing shards; every change the shards report comes back here as a new epoch and goes out to
 * the neighbours in sync mode, as incremental updates (heartbeats when nothing changed).
 *
 * - A neighbour's link comes up: we ask it for its routes (route control, sync from the last epoch we
 *   hold of its table, which survives restarts). Its link goes down, or it stops refreshing its routes
 *   for longer than it said to keep them: its routes are withdrawn at once (kept aside, so that a
 *   reconnect only needs the changes since).
 * - It restarted (a new table id): everything it told us before is dropped and it resyncs from zero.
 *   It skipped epochs (a gap): we ask again from the last epoch we have.
 */
import { randomUUID } from 'crypto'
import { spawn, dispatch, Ref } from 'nact'
import type { Logger } from 'pino'
import * as Ccp from 'ilp-protocol-ccp'
import type { CcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import type { Reply } from '../protocol/ilp'
import type { Store } from '../store/Store'
import type { RoutingTable } from './RoutingShard'
import type { Relation, Route } from '../routing/PrefixTable'
import {
  EpochLog, ReceivedTable, emptyReceivedTable, applyRouteUpdate, exportRoute, refuseRoute, nextUpdate, within, Neighbour
} from '../routing/ccp'

export interface RoutingSettings {
  /** How often a neighbour in sync mode hears from us at the latest (a heartbeat if nothing changed). */
  broadcastIntervalMs: number
  /** How long our routes stay valid at a neighbour without a refresh (the hold-down time we send). */
  routeExpiryMs: number
  /** How long we wait for a neighbour to answer a route control or update. */
  requestTimeoutMs: number
  /** Most routes accepted from one neighbour (beyond: refused, with a warning). */
  maxRoutesPerNeighbour: number
}

export interface NeighbourSettings extends Neighbour {
  /** It may ask for our routes (route control) and is sent them. */
  sendRoutes: boolean
  /** We ask it for its routes and accept its updates. */
  receiveRoutes: boolean
}

export type RouteManagerMessage =
  | { type: 'neighbour'; neighbour: NeighbourSettings }
  | { type: 'neighbourRemoved'; id: string }
  | { type: 'linkUp'; id: string }
  | { type: 'linkDown'; id: string }
  /** A neighbour's route control: it wants our routes (sync) from an epoch, or no more (idle). */
  | { type: 'control'; from: string; sync: boolean; lastKnownTableId: string; lastKnownEpoch: number }
  | { type: 'update'; from: string; update: CcpRouteUpdateRequest }
  /** From the routing shards: these prefixes' chosen routes changed. */
  | { type: 'changed'; prefixes: string[] }
  | { type: 'updateAnswered'; to: string; fromEpoch: number; toEpoch: number; error?: string }
  | { type: 'controlAnswered'; to: string; error?: string }
  | { type: 'tick' }

export interface RouteManagerDeps {
  address: string
  settings: RoutingSettings
  routing: RoutingTable
  store: Store
  log: Logger
  now: () => number
  /** What an account is to us (for the export policy: routes through children go to peers and parents). */
  relationOf: (id: string) => Relation | undefined
  /** Sends one of our own `peer.*` Prepares to an account and resolves with its reply. */
  request: (accountId: string, prepare: Buffer, timeoutMs: number) => Promise<Reply>
}

interface NeighbourState extends NeighbourSettings {
  linkUp: boolean
  // what we tell it
  sync: boolean
  lastKnownEpoch: number
  updateInFlight: boolean
  lastUpdateAt: number
  /** After a failed update, not before this time. */
  retryAt: number
  updateFailures: number
  // what it tells us
  held: ReceivedTable
  /** Its routes are in the routing table (link up, and it has confirmed its table since). */
  active: boolean
  expiresAt: number
  controlInFlight: boolean
  lastControlAt: number
  controlFailures: number
  /** It refused our route control (F00): not asked again until its link comes up again. */
  controlRefused: boolean
}

export interface RouteManagerState {
  tableId: string
  log: EpochLog
  neighbours: Map<string, NeighbourState>
  /** What we held of neighbours' tables before a restart, until their accounts are registered. */
  saved: Map<string, ReceivedTable>
}

/** Longest hold-down time we honour: past it, a neighbour that stopped refreshing loses its routes. */
export const MAX_HOLD_DOWN_MS = 3_600_000

export const ROUTES_COLLECTION = 'ccp-routes'
export const TABLES_COLLECTION = 'ccp-tables'

/** Reads what the receiver kept of each neighbour's table (its id, epoch and routes). */
export async function loadReceivedTables (store: Store): Promise<Map<string, ReceivedTable>> {
  const tables = new Map<string, ReceivedTable>()
  for (const { key, value } of await store.list(TABLES_COLLECTION)) {
    const v = value as { tableId?: unknown; epoch?: unknown }
    if (typeof v?.tableId === 'string' && typeof v.epoch === 'number') tables.set(key, { tableId: v.tableId, epoch: v.epoch, routes: new Map() })
  }
  for (const { key, value } of await store.list(ROUTES_COLLECTION)) {
    const space = key.indexOf(' ')
    const table = tables.get(key.slice(0, space))
    const path = (value as { path?: unknown })?.path
    if (table !== undefined && Array.isArray(path)) table.routes.set(key.slice(space + 1), path.map(String))
  }
  return tables
}

export function initialRouteManagerState (saved: Map<string, ReceivedTable>): RouteManagerState {
  return { tableId: randomUUID(), log: new EpochLog(), neighbours: new Map(), saved }
}

export function handleRouteManagerMessage (state: RouteManagerState, msg: RouteManagerMessage, deps: RouteManagerDeps, self: Ref<RouteManagerMessage>): RouteManagerState {
  switch (msg.type) {
    case 'neighbour': onNeighbour(state, msg.neighbour, deps); break
    case 'neighbourRemoved': onNeighbourRemoved(state, msg.id, deps); break
    case 'linkUp': {
      const n = state.neighbours.get(msg.id)
      if (n === undefined) break
      n.linkUp = true
      n.controlRefused = false
      if (n.receiveRoutes) sendControl(n, deps, self)
      break
    }
    case 'linkDown': {
      const n = state.neighbours.get(msg.id)
      if (n === undefined) break
      n.linkUp = false
      n.sync = false
      deactivate(n, deps, 'its link went down')
      break
    }
    case 'control': onControl(state, msg, deps); break
    case 'update': onUpdate(state, msg.from, msg.update, deps, self); break
    case 'changed':
      for (const prefix of msg.prefixes) {
        // Addresses under ours are covered by our own route, and the default route is never sent:
        // changes to them are no news to any neighbour.
        if (prefix !== '' && (prefix === deps.address || !within(prefix, deps.address))) state.log.record(prefix)
      }
      break
    case 'updateAnswered': {
      const n = state.neighbours.get(msg.to)
      if (n === undefined) break
      n.updateInFlight = false
      if (msg.error === undefined) {
        // Only if it still has what that update started from (it may have asked again, from further back, meanwhile).
        if (n.lastKnownEpoch === msg.fromEpoch) n.lastKnownEpoch = msg.toEpoch
        n.updateFailures = 0
      } else {
        n.updateFailures++
        n.retryAt = deps.now() + Math.min(deps.settings.broadcastIntervalMs, 1000 * 2 ** Math.min(n.updateFailures, 10))
        deps.log[n.updateFailures === 1 ? 'warn' : 'debug']({ account: n.id, reason: msg.error, failures: n.updateFailures }, 'route update not accepted; will retry')
      }
      break
    }
    case 'controlAnswered': {
      const n = state.neighbours.get(msg.to)
      if (n === undefined) break
      n.controlInFlight = false
      if (msg.error === undefined) n.controlFailures = 0
      else if (msg.error === 'rejected with F00') {
        // Its choice (a parent does not send routes to its children by default): do not ask again until
        // its link comes up again.
        n.controlRefused = true
        deps.log.info({ account: n.id }, 'this neighbour does not send us routes (it refused our route control)')
      } else {
        n.controlFailures++
        deps.log[n.controlFailures === 1 ? 'info' : 'debug']({ account: n.id, reason: msg.error }, 'asking a neighbour for its routes failed; will retry')
      }
      break
    }
    case 'tick': onTick(state, deps, self); break
  }
  sendUpdates(state, deps, self)
  return state
}

function onNeighbour (state: RouteManagerState, settings: NeighbourSettings, deps: RouteManagerDeps): void {
  const existing = state.neighbours.get(settings.id)
  if (existing !== undefined) {
    Object.assign(existing, settings)
    if (!settings.receiveRoutes) deactivate(existing, deps, 'routes from it are no longer accepted')
    if (!settings.sendRoutes) existing.sync = false
    return
  }
  const held = state.saved.get(settings.id) ?? emptyReceivedTable()
  state.saved.delete(settings.id)
  state.neighbours.set(settings.id, {
    ...settings,
    linkUp: false,
    sync: false,
    lastKnownEpoch: 0,
    updateInFlight: false,
    lastUpdateAt: 0,
    retryAt: 0,
    updateFailures: 0,
    held,
    active: false,
    expiresAt: 0,
    controlInFlight: false,
    lastControlAt: 0,
    controlFailures: 0,
    controlRefused: false
  })
}

function onNeighbourRemoved (state: RouteManagerState, id: string, deps: RouteManagerDeps): void {
  const n = state.neighbours.get(id)
  if (n === undefined) return
  deactivate(n, deps, 'its account was removed')
  for (const prefix of n.held.routes.keys()) deps.store.delete(ROUTES_COLLECTION, routeKey(id, prefix))
  deps.store.delete(TABLES_COLLECTION, id)
  state.neighbours.delete(id)
}

function onControl (state: RouteManagerState, msg: Extract<RouteManagerMessage, { type: 'control' }>, deps: RouteManagerDeps): void {
  const n = state.neighbours.get(msg.from)
  if (n === undefined || !n.sendRoutes) return
  if (!msg.sync) {
    n.sync = false
    deps.log.debug({ account: n.id }, 'neighbour asked for no more route updates')
    return
  }
  // It has our table up to an epoch only if that is this table (not one from before our restart).
  const known = msg.lastKnownTableId === state.tableId && msg.lastKnownEpoch <= state.log.epoch ? msg.lastKnownEpoch : 0
  n.sync = true
  n.lastKnownEpoch = known
  n.retryAt = 0
  n.lastUpdateAt = 0
  deps.log.info({ account: n.id, fromEpoch: known, epoch: state.log.epoch }, 'neighbour asked for our routes')
}

function onUpdate (state: RouteManagerState, from: string, update: CcpRouteUpdateRequest, deps: RouteManagerDeps, self: Ref<RouteManagerMessage>): void {
  const n = state.neighbours.get(from)
  if (n === undefined || !n.receiveRoutes || !n.linkUp) return
  // Its latest word on how long they hold (RFC 0010), within reason: a neighbour cannot pin routes for weeks.
  n.expiresAt = deps.now() + Math.min(update.holdDownTime, MAX_HOLD_DOWN_MS)
  const cap = deps.settings.maxRoutesPerNeighbour
  const outcome = applyRouteUpdate(n.held, update, route =>
    refuseRoute(route, n, deps.address) ??
    (n.held.routes.size >= cap && !n.held.routes.has(route.prefix) ? `${n.id} already has ${cap} routes here, the most accepted from one neighbour` : undefined))
  if (outcome.reset) deps.log.info({ account: n.id, tableId: update.routingTableId }, 'neighbour has a new routing table (it restarted): resyncing')
  // One line per refused route, up to a few: a flood of bad routes must not flood the log.
  for (const r of outcome.refused.slice(0, 5)) deps.log.warn({ account: n.id, prefix: shorten(r.prefix), reason: r.reason }, 'route refused')
  if (outcome.refused.length > 5) deps.log.warn({ account: n.id, refused: outcome.refused.length }, 'routes refused (more)')

  // Persist what we hold of its table, so a restart of ours resumes from this epoch.
  for (const prefix of outcome.withdrawn) deps.store.delete(ROUTES_COLLECTION, routeKey(n.id, prefix))
  for (const r of outcome.added) deps.store.put(ROUTES_COLLECTION, routeKey(n.id, r.prefix), { path: r.path })
  deps.store.put(TABLES_COLLECTION, n.id, { tableId: n.held.tableId, epoch: n.held.epoch })

  if (n.active) {
    deps.routing.apply(outcome.added.map(r => learnedRoute(n, r.prefix, r.path)), outcome.withdrawn.map(prefix => ({ prefix, nextHop: n.id, kind: 'learned' })))
    if (outcome.gap) {
      // Keep what we have (it was right up to our epoch) and ask for the rest.
      sendControl(n, deps, self)
    }
    return
  }
  if (outcome.gap) {
    sendControl(n, deps, self)
    return
  }
  // Its table is confirmed (same id, contiguous epochs): everything we hold of it goes live.
  n.active = true
  deps.routing.apply([...n.held.routes].map(([prefix, path]) => learnedRoute(n, prefix, path)), [])
  deps.log.info({ account: n.id, routes: n.held.routes.size, epoch: n.held.epoch }, 'routes from neighbour in use')
}

function learnedRoute (n: NeighbourState, prefix: string, path: readonly string[]): Route {
  return { prefix, nextHop: n.id, kind: 'learned', relation: n.relation, path }
}

/** Its routes leave the routing table (we keep them aside for a quick resync). */
function deactivate (n: NeighbourState, deps: RouteManagerDeps, why: string): void {
  if (!n.active) return
  n.active = false
  deps.routing.removeNextHop(n.id, 'learned')
  deps.log.info({ account: n.id, routes: n.held.routes.size, reason: why }, 'routes from neighbour withdrawn')
}

function sendControl (n: NeighbourState, deps: RouteManagerDeps, self: Ref<RouteManagerMessage>): void {
  if (n.controlInFlight || !n.linkUp) return
  n.controlInFlight = true
  n.lastControlAt = deps.now()
  const packet = Ccp.serializeCcpRouteControlRequest({
    mode: Ccp.Mode.MODE_SYNC,
    lastKnownRoutingTableId: n.held.tableId === '' ? '00000000-0000-0000-0000-000000000000' : n.held.tableId,
    lastKnownEpoch: n.held.epoch,
    features: []
  })
  deps.request(n.id, packet, deps.settings.requestTimeoutMs).then(
    reply => { dispatch(self, { type: 'controlAnswered', to: n.id, error: reply.kind === 'reject' ? `rejected with ${reply.code}` : undefined }) },
    (err: Error) => { dispatch(self, { type: 'controlAnswered', to: n.id, error: err.message }) }
  )
}

function onTick (state: RouteManagerState, deps: RouteManagerDeps, self: Ref<RouteManagerMessage>): void {
  const now = deps.now()
  for (const n of state.neighbours.values()) {
    if (n.active && n.expiresAt < now) {
      deactivate(n, deps, 'it stopped refreshing them (expired)')
      sendControl(n, deps, self)
      continue
    }
    // Not hearing from a neighbour we asked: ask again, once per broadcast interval.
    if (n.receiveRoutes && n.linkUp && !n.active && !n.controlInFlight && !n.controlRefused && now - n.lastControlAt >= deps.settings.broadcastIntervalMs) {
      sendControl(n, deps, self)
    }
  }
}

/** Sends each neighbour in sync mode what changed since its last known epoch, or a heartbeat when due. */
function sendUpdates (state: RouteManagerState, deps: RouteManagerDeps, self: Ref<RouteManagerMessage>): void {
  const now = deps.now()
  for (const n of state.neighbours.values()) {
    if (!n.sync || !n.linkUp || n.updateInFlight || now < n.retryAt) continue
    const behind = n.lastKnownEpoch < state.log.epoch
    if (!behind && now - n.lastUpdateAt < deps.settings.broadcastIntervalMs) continue
    const chunk = nextUpdate(state.log, n.lastKnownEpoch, prefix => exportRoute(deps.routing.bestRoute(prefix), n, deps.address, deps.relationOf))
    const packet = Ccp.serializeCcpRouteUpdateRequest({
      speaker: deps.address,
      routingTableId: state.tableId,
      currentEpochIndex: state.log.epoch,
      fromEpochIndex: n.lastKnownEpoch,
      toEpochIndex: chunk.toEpoch,
      holdDownTime: deps.settings.routeExpiryMs,
      newRoutes: chunk.newRoutes,
      withdrawnRoutes: chunk.withdrawnRoutes
    })
    n.updateInFlight = true
    n.lastUpdateAt = now
    if (chunk.newRoutes.length + chunk.withdrawnRoutes.length > 0) {
      deps.log.debug({ account: n.id, fromEpoch: n.lastKnownEpoch, toEpoch: chunk.toEpoch, routes: chunk.newRoutes.length, withdrawn: chunk.withdrawnRoutes.length }, 'sending route update')
    }
    for (const prefix of chunk.oversized) deps.log.warn({ account: n.id, prefix }, 'route too large for a route update (path too long): sent as withdrawn')
    const to = n.id
    const fromEpoch = n.lastKnownEpoch
    const toEpoch = chunk.toEpoch
    deps.request(to, packet, deps.settings.requestTimeoutMs).then(
      reply => { dispatch(self, { type: 'updateAnswered', to, fromEpoch, toEpoch, error: reply.kind === 'reject' ? `rejected with ${reply.code}` : undefined }) },
      (err: Error) => { dispatch(self, { type: 'updateAnswered', to, fromEpoch, toEpoch, error: err.message }) }
    )
  }
}

/** A peer-supplied prefix in a log line, cut to a readable length. */
function shorten (prefix: string): string {
  return prefix.length <= 120 ? prefix : `${prefix.slice(0, 117)}...`
}

function routeKey (accountId: string, prefix: string): string {
  // Account ids have no spaces (they are address segments).
  return `${accountId} ${prefix}`
}

/** Spawns the actor and its tick (expiry, retries, heartbeats). */
export function spawnRouteManager (parent: Ref<unknown>, saved: Map<string, ReceivedTable>, deps: RouteManagerDeps): { ref: Ref<RouteManagerMessage>; state: RouteManagerState; stop: () => void } {
  const state = initialRouteManagerState(saved)
  let ref: Ref<RouteManagerMessage> | undefined
  ref = spawn(
    parent,
    (s: RouteManagerState, msg: RouteManagerMessage) => handleRouteManagerMessage(s, msg, deps, ref as Ref<RouteManagerMessage>),
    'route-manager',
    {
      initialState: state,
      onCrash: (msg: RouteManagerMessage | undefined, err: Error | undefined, ctx) => {
        deps.log.error({ err, message: msg?.type }, 'route manager failed to handle a message')
        return ctx.resume
      }
    }
  )
  const tickMs = Math.max(50, Math.min(1000, Math.floor(deps.settings.routeExpiryMs / 10)))
  const timer = setInterval(() => { dispatch(ref as Ref<RouteManagerMessage>, { type: 'tick' }) }, tickMs)
  timer.unref()
  return { ref, state, stop: () => { clearInterval(timer) } }
}
