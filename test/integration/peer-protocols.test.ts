/**
 * The connector's own requests to a neighbour (ControlChannel) and `peer.*` protocols served to it,
 * against a real ilp-plugin-btp peer: both directions, replies routed by request id, BTP errors,
 * dead links and timeouts, and a handler that answers later or fails.
 */
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore, Connector } from '../../src'
import { connected, parseReply, prepare, within, Plugin } from '../helpers/ilp'

let connector: Connector
let peer: Plugin
const ZERO = Buffer.alloc(32)
const fulfill = (data: Buffer = Buffer.alloc(0)): Buffer => IlpPacket.serializeIlpFulfill({ fulfillment: ZERO, data })

beforeAll(async () => {
  const config = validateConfig({
    ilpAddress: 'test.us',
    listeners: { default: { port: 0 } },
    accounts: { bob: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', listener: 'default', token: 'bob-token' } } }
  })
  connector = createConnector(config, { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  connector.registerPeerProtocol('peer.echo', (account, p) => fulfill(Buffer.from(`${account.id}:${p.data.toString()}`)))
  connector.registerPeerProtocol('peer.later', async (_account, p) => {
    await new Promise(resolve => setTimeout(resolve, 50))
    return fulfill(p.data)
  })
  connector.registerPeerProtocol('peer.broken', async () => { throw new Error('engine down') })
  await connector.start()
  peer = await connected(`btp+ws://:bob-token@127.0.0.1:${connector.port('default')}`)
})
afterAll(async () => {
  await within(peer.disconnect(), 1000)
  await connector.stop(1000)
})

test('a peer protocol is answered by its handler, at once or later; a failing handler gives T00; an unknown one F02', async () => {
  const echo = IlpPacket.deserializeIlpFulfill(await peer.sendData(prepare('peer.echo', '0', { data: Buffer.from('hi') })))
  expect(echo.data.toString()).toBe('bob:hi')
  const later = IlpPacket.deserializeIlpFulfill(await peer.sendData(prepare('peer.later', '0', { data: Buffer.from('x') })))
  expect(later.data.toString()).toBe('x')
  expect(parseReply(await peer.sendData(prepare('peer.broken', '0')))).toMatchObject({ type: 'reject', code: 'T00' })
  expect(parseReply(await peer.sendData(prepare('peer.unknown', '0')))).toMatchObject({ type: 'reject', code: 'F02' })
  // Every one of them was counted as answered (a graceful stop would not wait for them).
  expect(connector.packetsInFlight).toBe(0)
})

test('a peer protocol request that carries money is refused F01 (it would be fulfilled without being booked)', async () => {
  expect(parseReply(await peer.sendData(prepare('peer.echo', '5')))).toMatchObject({ type: 'reject', code: 'F01' })
  expect(parseReply(await peer.sendData(prepare('peer.config', '1')))).toMatchObject({ type: 'reject', code: 'F01' })
  expect(connector.account('bob')).toMatchObject({ balance: '0', packetsInFlight: 0 })
})

test('only peer.* addresses of their own can be registered', () => {
  expect(() => connector.registerPeerProtocol('peer.config', () => fulfill())).toThrow()
  expect(() => connector.registerPeerProtocol('g.x', () => fulfill())).toThrow()
})

test('the connector\'s own requests reach the peer and their replies come back by request id, Fulfill or Reject', async () => {
  const seen: string[] = []
  peer.registerDataHandler(async (data: Buffer) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    seen.push(p.destination)
    if (p.destination === 'peer.yes') return fulfill(Buffer.from('ok'))
    return IlpPacket.serializeIlpReject({ code: 'F00', triggeredBy: 'test.bob', message: 'no', data: Buffer.alloc(0) })
  })
  const [yes, no] = await Promise.all([
    connector.peerRequest('bob', prepare('peer.yes', '0'), 2000),
    connector.peerRequest('bob', prepare('peer.no', '0'), 2000)
  ])
  expect(yes.kind).toBe('fulfill')
  expect(no).toMatchObject({ kind: 'reject', code: 'F00' })
  expect(seen.sort()).toStrictEqual(['peer.no', 'peer.yes'])
  expect(connector.control.size).toBe(0)
  // The packet path never saw them: no balance moved, nothing in flight.
  expect(connector.account('bob')).toMatchObject({ balance: '0', packetsInFlight: 0 })
  peer.deregisterDataHandler()
})

test('a peer that answers with a BTP error, or not at all, or an account with no link: the request fails with the reason', async () => {
  // ilp-plugin-btp answers with a BTP error when its data handler throws.
  peer.registerDataHandler(async () => { throw new Error('handler exploded') })
  await expect(connector.peerRequest('bob', prepare('peer.x', '0'), 2000)).rejects.toThrow(/BTP error/)
  peer.deregisterDataHandler()
  peer.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
  await expect(connector.peerRequest('bob', prepare('peer.x', '0'), 300)).rejects.toThrow(/no answer from bob within 300 ms/)
  peer.deregisterDataHandler()
  await expect(connector.peerRequest('nobody', prepare('peer.x', '0'), 300)).rejects.toThrow(/link to nobody is down/)
  expect(connector.control.size).toBe(0)
})

test('when the link closes, the connector\'s requests waiting on it fail at once, not at their timeout', async () => {
  const other = await connected(`btp+ws://:bob-token@127.0.0.1:${connector.port('default') as number}`)
  peer.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
  other.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
  const started = Date.now()
  const pending = connector.peerRequest('bob', prepare('peer.x', '0'), 20000)
  await new Promise(resolve => setTimeout(resolve, 100))
  await Promise.all([within(other.disconnect(), 2000), within(peer.disconnect(), 2000)])
  await expect(pending).rejects.toThrow(/link to bob closed/)
  expect(Date.now() - started).toBeLessThan(5000)
  expect(connector.control.size).toBe(0)
})
