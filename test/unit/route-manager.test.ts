/**
 * The route manager's bookkeeping of what each neighbour has of our table, driven message by message
 * with recorded requests (no links): cases found in review.
 */
import * as Ccp from 'ilp-protocol-ccp'
import pino from 'pino'
import type { Ref } from 'nact'
import { handleRouteManagerMessage, initialRouteManagerState, RouteManagerDeps, RouteManagerMessage, RouteManagerState } from '../../src/actors/RouteManager'
import type { RoutingTable } from '../../src/actors/RoutingShard'
import type { Route } from '../../src/routing/PrefixTable'
import { MemoryStore } from '../../src/store/MemoryStore'

function setup (): { deps: RouteManagerDeps; requests: Buffer[]; applied: Route[][]; step: (msg: RouteManagerMessage) => RouteManagerState; advance: (ms: number) => void } {
  let clock = 1_000_000
  const requests: Buffer[] = []
  const applied: Route[][] = []
  const routing = {
    bestRoute: (prefix: string): Route => ({ prefix, nextHop: 'kid', kind: 'learned', relation: 'child', path: ['test.kid'] }),
    apply: (add: Route[]) => { applied.push(add) },
    removeNextHop: () => {}
  } as unknown as RoutingTable
  const deps: RouteManagerDeps = {
    address: 'test.us',
    settings: { broadcastIntervalMs: 30000, routeExpiryMs: 45000, requestTimeoutMs: 5000, maxRoutesPerNeighbour: 3 },
    routing,
    store: new MemoryStore(),
    log: pino({ level: 'silent' }),
    now: () => clock,
    relationOf: () => 'child',
    request: async (_to, prepare) => { requests.push(prepare); return await new Promise(() => {}) }
  }
  let state = initialRouteManagerState(new Map())
  const self = {} as unknown as Ref<RouteManagerMessage>
  return { deps, requests, applied, step: (msg) => (state = handleRouteManagerMessage(state, msg, deps, self)), advance: (ms) => { clock += ms } }
}

test('an update answered after the neighbour asked again from further back does not skip what it lacks', () => {
  const { requests, step } = setup()
  step({ type: 'neighbour', neighbour: { id: 'p', relation: 'peer', sendRoutes: true, receiveRoutes: false } })
  step({ type: 'linkUp', id: 'p' })
  let s = step({ type: 'changed', prefixes: Array.from({ length: 10 }, (_, i) => `test.r${i}`) })
  s = step({ type: 'control', from: 'p', sync: true, lastKnownTableId: s.tableId, lastKnownEpoch: 5 })
  const sent = Ccp.deserializeCcpRouteUpdateRequest(requests[requests.length - 1])
  expect([sent.fromEpochIndex, sent.toEpochIndex]).toStrictEqual([5, 10])
  // It asks again from 0 while that update is in flight; then the old update is answered.
  s = step({ type: 'control', from: 'p', sync: true, lastKnownTableId: s.tableId, lastKnownEpoch: 0 })
  s = step({ type: 'updateAnswered', to: 'p', fromEpoch: 5, toEpoch: 10 })
  expect(s.neighbours.get('p')?.lastKnownEpoch).toBe(0)
  // The next update starts from 0.
  const next = Ccp.deserializeCcpRouteUpdateRequest(requests[requests.length - 1])
  expect(next.fromEpochIndex).toBe(0)
})

test('a neighbour may not give us more routes than the limit', () => {
  const { applied, step } = setup()
  step({ type: 'neighbour', neighbour: { id: 'p', relation: 'peer', sendRoutes: false, receiveRoutes: true } })
  step({ type: 'linkUp', id: 'p' })
  const route = (prefix: string): Ccp.CcpRoute => ({ prefix, path: ['test.p'], auth: Buffer.alloc(32), props: [] })
  const s = step({
    type: 'update',
    from: 'p',
    update: { routingTableId: 'T', currentEpochIndex: 1, fromEpochIndex: 0, toEpochIndex: 1, holdDownTime: 45000, speaker: 'test.p', newRoutes: ['test.a', 'test.b', 'test.c', 'test.d'].map(route), withdrawnRoutes: [] }
  })
  // A limit of 3: the fourth is refused; the three are in use.
  expect([...(s.neighbours.get('p')?.held.routes.keys() ?? [])]).toStrictEqual(['test.a', 'test.b', 'test.c'])
  expect(applied.flat().map(r => r.prefix)).toStrictEqual(['test.a', 'test.b', 'test.c'])
})

test('a neighbour that refuses our route control (F00: it does not send us routes) is not asked again until its link comes up again', () => {
  const { requests, step, advance } = setup()
  const controls = (): number => requests.filter(r => r.includes(Buffer.from('peer.route.control'))).length
  step({ type: 'neighbour', neighbour: { id: 'up', relation: 'parent', sendRoutes: false, receiveRoutes: true } })
  step({ type: 'linkUp', id: 'up' })
  expect(controls()).toBe(1)
  step({ type: 'controlAnswered', to: 'up', error: 'rejected with F00' })
  // Long after the broadcast interval (30 s): still not asked again.
  advance(120_000)
  step({ type: 'tick' })
  expect(controls()).toBe(1)
  step({ type: 'linkDown', id: 'up' })
  step({ type: 'linkUp', id: 'up' })
  expect(controls()).toBe(2)
})
