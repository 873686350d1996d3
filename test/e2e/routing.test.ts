/**
 * Route exchange between our own connectors, as real processes with no static routes: what their
 * clients observe (packets delivered, reject codes and who triggered them) as links come and go.
 *
 * - A line A – B – C, where C is B's child (a customer with its own address test.c) and A is B's peer:
 *   C's routes reach A through B; C dies → A's route to it is withdrawn and packets get F02 from A;
 *   C comes back → reachable again; B restarts → resynced, and everything is reachable again.
 * - A triangle of peers: no loops, unknown addresses rejected by the first connector.
 * - A connector with a parent and no address of its own takes one from the parent (ILDCP).
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, freePort, eventually, tempDir, RunningConnector, StartOptions } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, newFulfillment, prepare, parseReply, within, Plugin, ParsedReply } from '../helpers/ilp'

const HOST = '127.0.0.1'
const ROUTING = { broadcastIntervalMs: 300, routeExpiryMs: 1500, requestTimeoutMs: 1000 }
const FAST_RECONNECT = { METAMORPHOSIS_BTP__RECONNECT_MIN_DELAY_MS: '50', METAMORPHOSIS_BTP__RECONNECT_MAX_DELAY_MS: '300' }
const plugins: Plugin[] = []
const running: RunningConnector[] = []

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await Promise.all(running.map(async c => await within(c.stop('SIGKILL'), 3000)))
})

async function start (options: StartOptions): Promise<RunningConnector> {
  const c = await startConnector({ ...options, env: { ...FAST_RECONNECT, ...options.env } })
  running.push(c)
  return c
}

function node (address: string | undefined, port: number, accounts: Record<string, unknown>): unknown {
  return {
    ...(address === undefined ? {} : { ilpAddress: address }),
    listeners: { default: { host: HOST, port, localAccounts: { enabled: true } } },
    routing: ROUTING,
    accounts
  }
}

const peerServer = (token: string, extra: object = {}): unknown => ({ relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token }, ...extra })
const peerClient = (port: number, token: string, relation = 'peer'): unknown => ({ relation, assetCode: 'XRP', assetScale: 9, link: { type: 'btp-client', url: `btp+ws://:${token}@${HOST}:${port}` } })

interface Client { plugin: Plugin; address: string; fulfillments: Map<string, Buffer> }

/** A client of a connector that fulfils the Prepares whose condition it was told about. */
async function client (c: RunningConnector, token: string): Promise<Client> {
  const plugin = btpClient(c.url(token))
  plugins.push(plugin)
  await plugin.connect()
  const fulfillments = new Map<string, Buffer>()
  plugin.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    const f = fulfillments.get(p.executionCondition.toString('hex'))
    if (f !== undefined) return IlpPacket.serializeIlpFulfill({ fulfillment: f, data: Buffer.alloc(0) })
    return IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: p.destination, message: 'unexpected', data: Buffer.alloc(0) })
  })
  return { plugin, address: await ildcpAddress(plugin), fulfillments }
}

/** One Prepare from `from` to `to` that `to` fulfils; the parsed reply. */
async function pay (from: Client, to: Client, expiresInMs = 5000): Promise<ParsedReply> {
  const { fulfillment, condition } = newFulfillment()
  to.fulfillments.set(condition.toString('hex'), fulfillment)
  return parseReply(await from.plugin.sendData(prepare(to.address, '10', { condition, expiresInMs })))
}

/** Pays until it is fulfilled (routes take a moment to travel); fails after `timeoutMs`. */
async function reachable (from: Client, to: Client, timeoutMs = 10000): Promise<void> {
  let last: ParsedReply | undefined
  try {
    await eventually(async () => (last = await pay(from, to)).type === 'fulfill' ? true : undefined, timeoutMs, 100)
  } catch {
    throw new Error(`${to.address} not reachable from ${from.address} within ${timeoutMs} ms; last reply ${JSON.stringify(last)}`)
  }
}

describe('a line A – B – C (C a child of B, A a peer of B)', () => {
  let portB: number
  let a: RunningConnector
  let b: RunningConnector
  let c: RunningConnector
  let alice: Client
  let bob: Client
  let carol: Client
  const configB = (): unknown => node('test.b', portB, {
    a: peerServer('a-secret'),
    // A child that is itself a connector: we accept its routes (children's are off by default).
    c: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'c-secret' }, receiveRoutes: true }
  })
  const configC = (): unknown => node('test.c', 0, { b: peerClient(portB, 'c-secret', 'parent') })

  beforeAll(async () => {
    portB = await freePort()
    b = await start({ config: configB() })
    a = await start({ config: node('test.a', 0, { b: peerClient(portB, 'a-secret') }) })
    c = await start({ config: configC() })
    ;[alice, bob, carol] = await Promise.all([client(a, 'alice'), client(b, 'bob'), client(c, 'carol')])
  })

  test('C\'s child becomes reachable from A\'s child (C → B → A), and A\'s from C\'s (C\'s default route is its parent)', async () => {
    expect(carol.address).toMatch(/^test\.c\./)
    await reachable(alice, carol)
    await reachable(carol, alice)
    await reachable(alice, bob)
  })

  test('C goes down: within the route expiry A\'s route through B is withdrawn and packets get F02 from A, not a hang', async () => {
    await c.stop('SIGKILL')
    const downAt = Date.now()
    const reply = await eventually(async () => {
      const r = await pay(alice, carol, 3000)
      return r.type === 'reject' && r.code === 'F02' && r.triggeredBy === 'test.a' ? r : undefined
    }, ROUTING.routeExpiryMs + 2000, 50)
    expect(reply.type).toBe('reject')
    expect(Date.now() - downAt).toBeLessThan(ROUTING.routeExpiryMs + 2000)
    // B still reaches A's client.
    expect((await pay(bob, alice)).type).toBe('fulfill')
  })

  test('C comes back: reachable again', async () => {
    await within(carol.plugin.disconnect(), 2000) // (or it reconnects by itself, as a second connection)
    c = await start({ config: configC(), cwd: c.cwd })
    const again = await client(c, 'carol')
    expect(again.address).toBe(carol.address)
    carol = again
    await reachable(alice, carol)
  })

  test('B restarts (killed): A and C reconnect, are resynced, and every route is right afterwards', async () => {
    await within(bob.plugin.disconnect(), 2000)
    await b.stop('SIGKILL')
    // While B is down, A has no route to C (F02 from A once B's routes are withdrawn with its link).
    const whileDown = await eventually(async () => {
      const r = await pay(alice, carol, 2000)
      return r.type === 'reject' ? r : undefined
    }, 3000, 50)
    expect(whileDown).toMatchObject({ type: 'reject', triggeredBy: 'test.a' })
    b = await start({ config: configB(), cwd: b.cwd })
    bob = await client(b, 'bob')
    await reachable(alice, carol, 15000)
    await reachable(carol, alice)
    await reachable(alice, bob)
    await reachable(bob, carol)
  })
})

describe('a triangle of peers A, B, C', () => {
  let a: RunningConnector
  let b: RunningConnector
  let c: RunningConnector
  let alice: Client
  let bob: Client
  let carol: Client
  let portB: number

  beforeAll(async () => {
    portB = await freePort()
    const portC = await freePort()
    b = await start({ config: node('test.b', portB, { a: peerServer('ba'), c: peerServer('cb') }) })
    c = await start({ config: node('test.c', portC, { a: peerServer('ca'), b: peerClient(portB, 'cb') }) })
    a = await start({ config: node('test.a', 0, { b: peerClient(portB, 'ba'), c: peerClient(portC, 'ca') }) })
    ;[alice, bob, carol] = await Promise.all([client(a, 'alice'), client(b, 'bob'), client(c, 'carol')])
  })

  test('each reaches the others directly', async () => {
    await reachable(alice, bob)
    await reachable(alice, carol)
    await reachable(bob, carol)
    await reachable(carol, alice)
  })

  test('an address nobody has is rejected F02 by the first connector at once, not passed round', async () => {
    const started = Date.now()
    const reply = parseReply(await alice.plugin.sendData(prepare('test.nowhere.x', '1', { expiresInMs: 10000 })))
    expect(reply).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: 'test.a' })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  test('an unknown address under a neighbour\'s own: F02 from that neighbour, which never sends it back', async () => {
    const reply = parseReply(await alice.plugin.sendData(prepare('test.b.nobody', '1', { expiresInMs: 10000 })))
    expect(reply).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: 'test.b' })
  })

  test('no free transit: with the A – C link down, A gets no route to C through its peer B', async () => {
    await c.stop('SIGKILL')
    c = await start({ config: node('test.c', 0, { b: peerClient(portB, 'cb') }) })
    // C now only has its link to B. B learns C's routes, but does not pass a peer's routes on to a peer.
    await reachable(bob, await client(c, 'carol2'))
    const reply = await eventually(async () => {
      const r = parseReply(await alice.plugin.sendData(prepare(carol.address, '1', { expiresInMs: 3000 })))
      return r.type === 'reject' && r.code === 'F02' ? r : undefined
    }, ROUTING.routeExpiryMs + 2000, 100)
    expect(reply).toMatchObject({ triggeredBy: 'test.a' })
  })
})

describe('a connector with a parent and no address of its own', () => {
  test('waits for its parent, then takes its address from it (ILDCP); its children follow, and pay through', async () => {
    const portP = await freePort()
    // The child connector starts first: its parent is not there yet.
    const d = startConnector({
      config: node(undefined, 0, { up: peerClient(portP, 'd-secret', 'parent') }),
      env: FAST_RECONNECT
    })
    await new Promise(resolve => setTimeout(resolve, 500))
    const p = await start({
      config: node('test.p', portP, { d: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'd-secret' }, receiveRoutes: true } })
    })
    const child = await d
    running.push(child)
    expect(child.logs.find(l => l.msg === 'address learned from the parent')).toMatchObject({ address: 'test.p.d' })
    const dave = await client(child, 'dave')
    expect(dave.address).toMatch(/^test\.p\.d\.[a-zA-Z0-9_~-]+$/)
    const paula = await client(p, 'paula')
    await reachable(paula, dave)
    await reachable(dave, paula)
  })

  test('a parent whose asset is not the one configured for it: the connector refuses to start, naming the field', async () => {
    const portP = await freePort()
    await start({
      config: node('test.q', portP, { e: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'e-secret' } } })
    })
    // Configured as scale 6 while the parent says 9: every amount with the parent would be 1,000 times off.
    const failed = startConnector({ config: node(undefined, 0, { up: { ...(peerClient(portP, 'e-secret', 'parent') as object), assetScale: 6 } }), cwd: tempDir() })
    await expect(failed).rejects.toThrow(/accounts\.up is configured with XRP scale 6/)
  })
})
