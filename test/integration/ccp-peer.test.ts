/**
 * The connector's CCP as a neighbour sees it, with a hand-driven CCP peer (an ilp-plugin-btp client
 * speaking ilp-protocol-ccp): the route control it is sent, the routes it is told, the routes it teaches
 * the connector — and, after the connector restarts on the same data directory, a route control that
 * resumes from the epoch it had, with the routes in use again after a mere heartbeat.
 */
import fs from 'fs'
import os from 'os'
import path from 'path'
import * as IlpPacket from 'ilp-packet'
import * as Ccp from 'ilp-protocol-ccp'
import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { LevelStore } from '../../src/store/LevelStore'
import { btpClient, newFulfillment, prepare, parseReply, within, Plugin } from '../helpers/ilp'
import { eventually } from '../helpers/connectorProcess'

const log = pino({ level: 'silent' })
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-ccp-'))
const plugins: Plugin[] = []
let connector: Connector | undefined
afterAll(async () => {
  for (const p of plugins) await within(p.disconnect(), 1000)
  await connector?.stop(500)
  fs.rmSync(dir, { recursive: true, force: true })
})

const config = validateConfig({
  ilpAddress: 'test.x',
  listeners: { default: { port: 0, localAccounts: { enabled: true } } },
  routing: { broadcastIntervalMs: 200, routeExpiryMs: 5000, requestTimeoutMs: 1000 },
  accounts: { p: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'p-token' } } }
})

async function startConnector (): Promise<Connector> {
  const store = await LevelStore.open(dir, { durability: 'strict', fastFlushIntervalMs: 100, log })
  connector = createConnector(config, { store, logger: log })
  await connector.start()
  return connector
}

/** The test's CCP peer: records route controls and updates it gets, fulfils payments to test.p.*. */
async function ccpPeer (c: Connector): Promise<{ plugin: Plugin; controls: Ccp.CcpRouteControlRequest[]; updates: Ccp.CcpRouteUpdateRequest[]; paid: string[] }> {
  const plugin = btpClient(`btp+ws://:p-token@127.0.0.1:${c.port('default') as number}`)
  plugins.push(plugin)
  const controls: Ccp.CcpRouteControlRequest[] = []
  const updates: Ccp.CcpRouteUpdateRequest[] = []
  const paid: string[] = []
  plugin.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    if (p.destination === Ccp.CCP_CONTROL_DESTINATION) { controls.push(Ccp.deserializeCcpRouteControlRequest(data)); return Ccp.serializeCcpResponse() }
    if (p.destination === Ccp.CCP_UPDATE_DESTINATION) { updates.push(Ccp.deserializeCcpRouteUpdateRequest(data)); return Ccp.serializeCcpResponse() }
    paid.push(p.destination)
    return IlpPacket.serializeIlpFulfill({ fulfillment: fulfillments.get(p.executionCondition.toString('hex')) as Buffer, data: Buffer.alloc(0) })
  })
  await plugin.connect()
  return { plugin, controls, updates, paid }
}

const fulfillments = new Map<string, Buffer>()
async function payToPeer (c: Connector): Promise<string> {
  const sender = btpClient(`btp+ws://:sender@127.0.0.1:${c.port('default') as number}`)
  plugins.push(sender)
  await sender.connect()
  const { fulfillment, condition } = newFulfillment()
  fulfillments.set(condition.toString('hex'), fulfillment)
  const reply = parseReply(await sender.sendData(prepare('test.p.bob', '5', { condition })))
  await within(sender.disconnect(), 1000)
  return reply.type === 'fulfill' ? 'fulfill' : `${reply.code} ${reply.message}`
}

const PEER_TABLE = '3b2cd3d5-6a53-4b0e-9c2e-111111111111'
function update (from: number, to: number, routes: Ccp.CcpRoute[], holdDownTime = 5000): Buffer {
  return Ccp.serializeCcpRouteUpdateRequest({
    routingTableId: PEER_TABLE, currentEpochIndex: to, fromEpochIndex: from, toEpochIndex: to, holdDownTime,
    speaker: 'test.p', newRoutes: routes, withdrawnRoutes: []
  })
}
const route = (prefix: string, pathHops: string[]): Ccp.CcpRoute => ({ prefix, path: pathHops, auth: Buffer.alloc(32), props: [] })

test('first contact: we are asked for our routes from scratch, are told the connector\'s own address, and our route is used', async () => {
  const c = await startConnector()
  const peer = await ccpPeer(c)
  const control = await eventually(() => peer.controls[0], 3000)
  expect(control).toMatchObject({ mode: Ccp.Mode.MODE_SYNC, lastKnownEpoch: 0 })

  // We ask for its routes: it tells us its own address, with itself as the path.
  expect(parseReply(await peer.plugin.sendData(Ccp.serializeCcpRouteControlRequest({ mode: Ccp.Mode.MODE_SYNC, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] }))).type).toBe('fulfill')
  const told = await eventually(() => peer.updates.find(u => u.newRoutes.length > 0), 3000)
  expect(told.newRoutes.map(r => [r.prefix, r.path])).toStrictEqual([['test.x', ['test.x']]])
  expect(told.fromEpochIndex).toBe(0)
  expect(told.speaker).toBe('test.x')

  // No route to test.p yet; then we teach it one (epochs 0 → 5), plus one through the connector (a loop: refused).
  expect(await payToPeer(c)).toMatch(/^F02/)
  expect(parseReply(await peer.plugin.sendData(update(0, 5, [route('test.p', ['test.p']), route('test.loop', ['test.p', 'test.x'])]))).type).toBe('fulfill')
  expect(await eventually(async () => (await payToPeer(c)) === 'fulfill' ? true : undefined, 3000)).toBe(true)
  expect(peer.paid).toStrictEqual(['test.p.bob'])
  await within(peer.plugin.disconnect(), 1000)
  await c.stop(500)
  connector = undefined
})

test('after a restart on the same data: the route control resumes from the epoch we had; a heartbeat puts our routes back in use', async () => {
  const c = await startConnector()
  // Our link is down: no route to test.p.
  expect(await payToPeer(c)).toMatch(/^F02/)
  const peer = await ccpPeer(c)
  const control = await eventually(() => peer.controls[0], 3000)
  expect(control).toMatchObject({ mode: Ccp.Mode.MODE_SYNC, lastKnownRoutingTableId: PEER_TABLE, lastKnownEpoch: 5 })
  // Nothing changed on our side: a heartbeat from epoch 5 is all it needs.
  expect(parseReply(await peer.plugin.sendData(update(5, 5, []))).type).toBe('fulfill')
  expect(await eventually(async () => (await payToPeer(c)) === 'fulfill' ? true : undefined, 3000)).toBe(true)
  await within(peer.plugin.disconnect(), 1000)
})

test('a neighbour that stops refreshing its routes: they expire after its hold-down time, we ask again, and a heartbeat brings them back', async () => {
  const c = connector ?? await startConnector()
  const peer = await ccpPeer(c)
  await eventually(() => peer.controls[0], 3000)
  // Routes valid for 600 ms unless refreshed.
  expect(parseReply(await peer.plugin.sendData(update(5, 6, [route('test.p', ['test.p'])], 600))).type).toBe('fulfill')
  expect(await eventually(async () => (await payToPeer(c)) === 'fulfill' ? true : undefined, 3000)).toBe(true)
  const controlsBefore = peer.controls.length
  // No heartbeat: once the hold-down it announced last (600 ms, shorter than before) has passed, plus a
  // check interval, they are gone, and we are asked again.
  const quietSince = Date.now()
  expect(await eventually(async () => /^F02/.test(await payToPeer(c)) ? true : undefined, 7000, 100)).toBe(true)
  expect(Date.now() - quietSince).toBeLessThan(3000)
  const again = await eventually(() => peer.controls[controlsBefore], 3000)
  expect(again).toMatchObject({ mode: Ccp.Mode.MODE_SYNC, lastKnownRoutingTableId: PEER_TABLE, lastKnownEpoch: 6 })
  expect(parseReply(await peer.plugin.sendData(update(6, 6, [], 5000))).type).toBe('fulfill')
  expect(await eventually(async () => (await payToPeer(c)) === 'fulfill' ? true : undefined, 3000)).toBe(true)
  await within(peer.plugin.disconnect(), 1000)
}, 20000)

test('an account removed at run time: the routes through it are withdrawn from our neighbours', async () => {
  const c = connector ?? await startConnector()
  const peer = await ccpPeer(c)
  await eventually(() => peer.controls[0], 3000)
  // The peer asks for our routes; a child made at run time gets a static route to test.z (routes through
  // children are told to peers).
  await c.createAccount({ id: 'kid', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'kid-token' } })
  await c.addStaticRoute('test.z', 'kid')
  expect(parseReply(await peer.plugin.sendData(Ccp.serializeCcpRouteControlRequest({ mode: Ccp.Mode.MODE_SYNC, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] }))).type).toBe('fulfill')
  await eventually(() => peer.updates.some(u => u.newRoutes.some(r => r.prefix === 'test.z')) ? true : undefined, 3000)
  await c.removeAccount('kid')
  const withdrawal = await eventually(() => peer.updates.find(u => u.withdrawnRoutes.includes('test.z')), 3000)
  expect(withdrawal.speaker).toBe('test.x')
  await within(peer.plugin.disconnect(), 1000)
})

test('malformed CCP requests are refused F01: an unknown route control mode, an update whose epochs run backwards', async () => {
  const c = connector ?? await startConnector()
  const peer = await ccpPeer(c)
  await eventually(() => peer.controls[0], 3000)
  const control = Ccp.serializeCcpRouteControlRequest({ mode: 7 as Ccp.Mode, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] })
  expect(parseReply(await peer.plugin.sendData(control))).toMatchObject({ type: 'reject', code: 'F01' })
  expect(parseReply(await peer.plugin.sendData(update(9, 3, [route('test.q', ['test.p'])])))).toMatchObject({ type: 'reject', code: 'F01' })
  await within(peer.plugin.disconnect(), 1000)
})
