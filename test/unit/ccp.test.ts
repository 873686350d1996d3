/**
 * The CCP rules (RFC 0010 and the routing policy) as pure functions. Expected values are
 * worked out by hand from the rules, not taken from the code's output.
 */
import type { CcpRoute, CcpRouteUpdateRequest } from 'ilp-protocol-ccp'
import { EpochLog, exportRoute, refuseRoute, applyRouteUpdate, emptyReceivedTable, nextUpdate, Neighbour } from '../../src/routing/ccp'
import { compareRoutes, Route, Relation } from '../../src/routing/PrefixTable'

describe('EpochLog', () => {
  test('each change takes the next epoch; since(e) lists each prefix once, at its latest change, oldest first', () => {
    const log = new EpochLog()
    expect(log.record('test.a')).toBe(1)
    expect(log.record('test.b')).toBe(2)
    expect(log.record('test.a')).toBe(3)
    expect(log.epoch).toBe(3)
    expect(log.since(0)).toStrictEqual([{ epoch: 2, prefix: 'test.b' }, { epoch: 3, prefix: 'test.a' }])
    expect(log.since(2)).toStrictEqual([{ epoch: 3, prefix: 'test.a' }])
    expect(log.since(3)).toStrictEqual([])
  })

  test('stays bounded by the number of prefixes and still answers right after many changes of one prefix', () => {
    const log = new EpochLog()
    log.record('test.y') // epoch 1
    for (let i = 0; i < 10000; i++) log.record('test.x') // epochs 2 … 10001
    expect(log.since(0)).toStrictEqual([{ epoch: 1, prefix: 'test.y' }, { epoch: 10001, prefix: 'test.x' }])
    expect(log.since(1)).toStrictEqual([{ epoch: 10001, prefix: 'test.x' }])
    expect((log as unknown as { entries: unknown[] }).entries.length).toBeLessThan(2000)
  })
})

describe('export policy', () => {
  const us = 'test.us'
  const peer: Neighbour = { id: 'p', relation: 'peer' }
  const parent: Neighbour = { id: 'up', relation: 'parent' }
  const child: Neighbour = { id: 'c', relation: 'child', address: 'test.us.c' }
  const relations: Record<string, Relation> = { c: 'child', kid: 'child', p: 'peer', q: 'peer', up: 'parent' }
  const relationOf = (id: string): Relation | undefined => relations[id]
  const told = (route: Route | undefined, to: Neighbour): string[] | undefined => exportRoute(route, to, us, relationOf)?.path

  test('our own address goes to everyone, with us as the path', () => {
    const self: Route = { prefix: us, nextHop: '', kind: 'self' }
    expect(told(self, peer)).toStrictEqual([us])
    expect(told(self, parent)).toStrictEqual([us])
    expect(told(self, child)).toStrictEqual([us])
  })

  test('addresses under ours are covered by it: never sent one by one', () => {
    expect(told({ prefix: 'test.us.c', nextHop: 'c', kind: 'local' }, peer)).toBeUndefined()
    expect(told({ prefix: 'test.us.c.sub', nextHop: 'c', kind: 'learned', relation: 'child', path: ['test.us.c'] }, parent)).toBeUndefined()
  })

  test('routes through a child go to peers and parents, with our address in front of the path', () => {
    const viaKid: Route = { prefix: 'test.other', nextHop: 'kid', kind: 'learned', relation: 'child', path: ['test.other'] }
    expect(told(viaKid, peer)).toStrictEqual([us, 'test.other'])
    expect(told(viaKid, parent)).toStrictEqual([us, 'test.other'])
    expect(told({ prefix: 'test.s', nextHop: 'c', kind: 'static' }, peer)).toStrictEqual([us])
  })

  test('no free transit: routes through peers and parents are not sent to peers and parents, but are to a child that gets routes', () => {
    const viaPeer: Route = { prefix: 'test.q', nextHop: 'q', kind: 'learned', relation: 'peer', path: ['test.q'] }
    expect(told(viaPeer, peer)).toBeUndefined()
    expect(told(viaPeer, parent)).toBeUndefined()
    expect(told(viaPeer, child)).toStrictEqual([us, 'test.q'])
    expect(told({ prefix: 'test.s', nextHop: 'q', kind: 'static' }, peer)).toBeUndefined()
  })

  test('never a route back to the account it came from, never the default route', () => {
    expect(told({ prefix: 'test.p', nextHop: 'p', kind: 'learned', relation: 'peer', path: ['test.p'] }, peer)).toBeUndefined()
    expect(told({ prefix: 'test.k', nextHop: 'c', kind: 'learned', relation: 'child', path: ['test.k'] }, child)).toBeUndefined()
    expect(told({ prefix: '', nextHop: 'up', kind: 'parent-default' }, child)).toBeUndefined()
    expect(told(undefined, peer)).toBeUndefined()
  })

  test('auth is 32 bytes, props empty', () => {
    const r = exportRoute({ prefix: us, nextHop: '', kind: 'self' }, peer, us, relationOf) as CcpRoute
    expect(r.auth).toHaveLength(32)
    expect(r.props).toStrictEqual([])
  })
})

describe('import filter', () => {
  const us = 'test.us'
  const peer: Neighbour = { id: 'p', relation: 'peer' }
  const child: Neighbour = { id: 'c', relation: 'child', address: 'test.us.c' }
  const refuse = (prefix: string, path: string[], from: Neighbour): string | undefined => refuseRoute({ prefix, path, auth: Buffer.alloc(32), props: [] }, from, us)

  test.each([
    ['test.x', ['test.x'], peer, undefined],
    ['test.x.y', ['test.x', 'test.w'], peer, undefined],
    ['g.x', ['g.x'], peer, /scheme/],
    ['test', ['test.x'], peer, /whole address scheme/],
    ['test..x', ['test.x'], peer, /valid/],
    ['test.x', ['test.x', 'test.us', 'test.z'], peer, /loop/],
    ['test.us', ['test.p'], peer, /own address/],
    ['test.us.zzz', ['test.p'], peer, /own address/],
    ['test.us.c.sub', ['test.us.c'], child, undefined],
    ['test.us.c', ['test.us.c'], child, undefined],
    ['test.us.other', ['test.us.c'], child, /own address/]
  ] as Array<[string, string[], Neighbour, RegExp | undefined]>)('%s via %j from %o', (prefix, path, from, expected) => {
    const reason = refuse(prefix, path, from)
    if (expected === undefined) expect(reason).toBeUndefined()
    else expect(reason).toMatch(expected)
  })
})

describe('applying route updates', () => {
  const route = (prefix: string): CcpRoute => ({ prefix, path: [prefix], auth: Buffer.alloc(32), props: [] })
  const update = (tableId: string, from: number, to: number, add: string[], withdraw: string[] = []): CcpRouteUpdateRequest => ({
    routingTableId: tableId, currentEpochIndex: to, fromEpochIndex: from, toEpochIndex: to, holdDownTime: 45000, speaker: 'test.p',
    newRoutes: add.map(route), withdrawnRoutes: withdraw
  })
  const accept = (): undefined => undefined

  test('a sequence: first sync, heartbeat, gap, overlap, restart (new table), restart with a gap', () => {
    const held = emptyReceivedTable()
    let o = applyRouteUpdate(held, update('T1', 0, 3, ['test.a', 'test.b']), accept)
    expect(o).toMatchObject({ reset: false, gap: false, withdrawn: [] })
    expect(o.added.map(r => r.prefix)).toStrictEqual(['test.a', 'test.b'])
    expect(held.epoch).toBe(3)

    o = applyRouteUpdate(held, update('T1', 3, 3, []), accept) // heartbeat
    expect(o).toMatchObject({ reset: false, gap: false, added: [], withdrawn: [] })
    expect(held.epoch).toBe(3)

    o = applyRouteUpdate(held, update('T1', 5, 7, ['test.z']), accept) // epochs 4 and 5 missed
    expect(o).toMatchObject({ gap: true, added: [], withdrawn: [] })
    expect(held.epoch).toBe(3)
    expect([...held.routes.keys()]).toStrictEqual(['test.a', 'test.b'])

    o = applyRouteUpdate(held, update('T1', 2, 5, ['test.c'], ['test.a']), accept) // overlaps what we have
    expect(o.withdrawn).toStrictEqual(['test.a'])
    expect(o.added.map(r => r.prefix)).toStrictEqual(['test.c'])
    expect(held.epoch).toBe(5)

    o = applyRouteUpdate(held, update('T1', 1, 4, ['test.old']), accept) // wholly old
    expect(o).toMatchObject({ gap: false, added: [], withdrawn: [] })

    o = applyRouteUpdate(held, update('T2', 0, 1, ['test.d']), accept) // it restarted
    expect(o.reset).toBe(true)
    expect(o.withdrawn.sort()).toStrictEqual(['test.b', 'test.c'])
    expect(o.added.map(r => r.prefix)).toStrictEqual(['test.d'])
    expect(held).toMatchObject({ tableId: 'T2', epoch: 1 })

    o = applyRouteUpdate(held, update('T3', 4, 6, ['test.e']), accept) // restarted, and we missed its start
    expect(o).toMatchObject({ reset: true, gap: true, withdrawn: ['test.d'], added: [] })
    expect(held).toMatchObject({ tableId: 'T3', epoch: 0 })
    expect(held.routes.size).toBe(0)
  })

  test('a refused route is not held, and replaces (withdraws) one held for that prefix', () => {
    const held = emptyReceivedTable()
    applyRouteUpdate(held, update('T', 0, 1, ['test.a']), accept)
    const o = applyRouteUpdate(held, update('T', 1, 2, ['test.a', 'test.b']), r => r.prefix === 'test.a' ? 'loop' : undefined)
    expect(o.refused).toStrictEqual([{ prefix: 'test.a', reason: 'loop' }])
    expect(o.withdrawn).toStrictEqual(['test.a'])
    expect([...held.routes.keys()]).toStrictEqual(['test.b'])
  })
})

describe('cutting updates', () => {
  test('the changes since an epoch, cut where the packet is full; the rest follows from there', () => {
    const log = new EpochLog()
    log.record('test.a') // 1
    log.record('test.b') // 2
    log.record('test.gone') // 3
    log.record('test.c') // 4
    const describe = (prefix: string): CcpRoute | undefined => prefix === 'test.gone' ? undefined : { prefix, path: ['test.us'], auth: Buffer.alloc(32), props: [] }
    // Each route is about 6 + 3 + 32 + 6 + 10 = 57 bytes by the estimate, a withdrawal 9 + 3: room for two routes.
    const first = nextUpdate(log, 0, describe, 120)
    expect(first.newRoutes.map(r => r.prefix)).toStrictEqual(['test.a', 'test.b'])
    // (from 0 the neighbour holds nothing: test.gone's withdrawal is not sent at all)
    expect(first.withdrawnRoutes).toStrictEqual([])
    expect(first.toEpoch).toBe(3)
    const second = nextUpdate(log, first.toEpoch, describe, 120)
    expect(second.newRoutes.map(r => r.prefix)).toStrictEqual(['test.c'])
    expect(second.toEpoch).toBe(4)
    // A neighbour that has epoch 1: test.b and the withdrawal fit (69 bytes), test.c would not.
    const fromOne = nextUpdate(log, 1, describe, 120)
    expect(fromOne).toMatchObject({ toEpoch: 3, withdrawnRoutes: ['test.gone'] })
    expect(fromOne.newRoutes.map(r => r.prefix)).toStrictEqual(['test.b'])
    expect(nextUpdate(log, 4, describe)).toStrictEqual({ toEpoch: 4, newRoutes: [], withdrawnRoutes: [], oversized: [] })
  })
})

describe('route choice', () => {
  const learned = (nextHop: string, relation: Relation, hops: number): Route => ({ prefix: 'test.x', nextHop, kind: 'learned', relation, path: Array.from({ length: hops }, (_, i) => `test.h${i}`) })
  const best = (...routes: Route[]): string => [...routes].sort(compareRoutes)[0].nextHop

  test('static, then local, then learned by relation (child, peer, parent), then shorter path, then account id', () => {
    expect(best(learned('kid', 'child', 5), { prefix: 'test.x', nextHop: 'loc', kind: 'local' })).toBe('loc')
    expect(best({ prefix: 'test.x', nextHop: 'loc', kind: 'local' }, { prefix: 'test.x', nextHop: 'st', kind: 'static' })).toBe('st')
    expect(best(learned('peer1', 'peer', 1), learned('kid', 'child', 4))).toBe('kid')
    expect(best(learned('up', 'parent', 1), learned('peer1', 'peer', 3))).toBe('peer1')
    expect(best(learned('peer1', 'peer', 3), learned('peer2', 'peer', 2))).toBe('peer2')
    expect(best(learned('peerb', 'peer', 2), learned('peera', 'peer', 2))).toBe('peera')
    expect(best({ prefix: 'test.x', nextHop: 'up', kind: 'parent-default' }, learned('up2', 'parent', 9))).toBe('up2')
  })
})

describe('limits found in review', () => {
  test('a route with a path of more than 32 hops, or a hop that is not an address, is refused', () => {
    const from: Neighbour = { id: 'kid', relation: 'child', address: 'test.us.kid' }
    const hops = (n: number): string[] => Array.from({ length: n }, (_, i) => `test.h${i}`)
    expect(refuseRoute({ prefix: 'test.x', path: hops(32), auth: Buffer.alloc(32), props: [] }, from, 'test.us')).toBeUndefined()
    expect(refuseRoute({ prefix: 'test.x', path: hops(33), auth: Buffer.alloc(32), props: [] }, from, 'test.us')).toMatch(/33 hops/)
    expect(refuseRoute({ prefix: 'test.x', path: ['test.ok', 'not an address'], auth: Buffer.alloc(32), props: [] }, from, 'test.us')).toMatch(/invalid address/)
  })

  test('a route too large for any update goes out as withdrawn, and the rest still goes out', () => {
    const log = new EpochLog()
    log.record('test.big') // 1
    log.record('test.small') // 2
    const long = Array.from({ length: 32 }, (_, i) => `test.${'h'.repeat(990)}${i}`)
    const describe = (prefix: string): CcpRoute => ({ prefix, path: prefix === 'test.big' ? long : ['test.us'], auth: Buffer.alloc(32), props: [] })
    const chunk = nextUpdate(log, 0, describe)
    // From epoch 0 the neighbour holds nothing: the oversized route is simply not sent.
    expect(chunk).toMatchObject({ toEpoch: 2, withdrawnRoutes: [], oversized: ['test.big'] })
    expect(chunk.newRoutes.map(r => r.prefix)).toStrictEqual(['test.small'])
    // From a later epoch it may hold an older route for that prefix: it is told to withdraw it.
    log.record('test.big') // 3
    expect(nextUpdate(log, 2, describe)).toMatchObject({ toEpoch: 3, withdrawnRoutes: ['test.big'], newRoutes: [] })
  })

  test('from epoch 0 no withdrawals are sent (the neighbour holds nothing of ours)', () => {
    const log = new EpochLog()
    log.record('test.gone') // 1
    log.record('test.here') // 2
    const describe = (prefix: string): CcpRoute | undefined => prefix === 'test.gone' ? undefined : { prefix, path: ['test.us'], auth: Buffer.alloc(32), props: [] }
    expect(nextUpdate(log, 0, describe)).toMatchObject({ toEpoch: 2, withdrawnRoutes: [] })
    expect(nextUpdate(log, 0, describe).newRoutes.map(r => r.prefix)).toStrictEqual(['test.here'])
  })
})
