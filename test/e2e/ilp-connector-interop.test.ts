/**
 * Ours peered with the npm ilp-connector (the reference connector, run in its own process) over BTP,
 * with no static routes on either side: each learns the other's address over CCP, and real STREAM
 * payments go from a client of ours to a client of theirs and back.
 *
 *   our client ── ours (test.ours) ══ BTP peer ══ theirs (test.theirs) ── their clients recv / send
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, startIlpConnector, freePort, eventually, RunningConnector, ForeignConnector } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, newFulfillment, prepare, parseReply, within, Plugin } from '../helpers/ilp'
import { streamPayment } from '../helpers/stream'

const HOST = '127.0.0.1'
let ours: RunningConnector
let theirs: ForeignConnector
let ports: { peer: number; recv: number; send: number }
const plugins: Plugin[] = []

function theirAccount (port: number, secret: string, relation: 'peer' | 'child'): unknown {
  return {
    relation,
    plugin: 'ilp-plugin-btp',
    assetCode: 'XRP',
    assetScale: 9,
    // ilp-connector's rate limiter is on by default (10,000 packets a minute): lift it out of the way.
    rateLimit: { refillPeriod: 1000, refillCount: 1e9, capacity: 1e9 },
    options: { listener: { port, secret, wsOpts: { host: HOST, port } } }
  }
}

beforeAll(async () => {
  ports = { peer: await freePort(), recv: await freePort(), send: await freePort() }
  theirs = await startIlpConnector({
    env: 'test',
    ilpAddress: 'test.theirs',
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    initialConnectTimeout: 500,
    routeBroadcastInterval: 500,
    routeExpiry: 3000,
    adminApi: false,
    accounts: {
      ours: theirAccount(ports.peer, 'peer-secret', 'peer'),
      recv: theirAccount(ports.recv, 'recv', 'child'),
      send: theirAccount(ports.send, 'send', 'child')
    }
  })
  ours = await startConnector({
    config: {
      ilpAddress: 'test.ours',
      listeners: { default: { host: HOST, port: 0, localAccounts: { enabled: true } } },
      routing: { broadcastIntervalMs: 500, routeExpiryMs: 3000 },
      accounts: {
        theirs: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-client', url: `btp+ws://:peer-secret@${HOST}:${ports.peer}` } }
      }
    },
    env: { METAMORPHOSIS_BTP__RECONNECT_MAX_DELAY_MS: '500' }
  })
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await within(ours.stop('SIGKILL'), 3000)
  await within(theirs.stop(), 3000)
})

async function connected (url: string): Promise<Plugin> {
  const p = btpClient(url)
  plugins.push(p)
  await p.connect()
  return p
}

test('each learns the other\'s address over CCP: a packet from a client of ours reaches a client of theirs, and back', async () => {
  const mine = await connected(ours.url('my-client'))
  const myAddress = await ildcpAddress(mine)
  const recv = await connected(`btp+ws://:recv@${HOST}:${ports.recv}`)
  const theirAddress = await ildcpAddress(recv)
  expect(theirAddress).toBe('test.theirs.recv')
  const { fulfillment, condition } = newFulfillment()
  const seen: string[] = []
  recv.registerDataHandler(async (data) => {
    seen.push(data.toString('hex'))
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })
  // No static routes anywhere: until the routes are exchanged, ours has no route (F02 from us).
  const reply = await eventually(async () => {
    const r = parseReply(await mine.sendData(prepare(theirAddress, '100', { condition })))
    return r.type === 'reject' && r.code === 'F02' && r.triggeredBy === 'test.ours' ? undefined : r
  }, 15000, 200)
  expect(reply).toMatchObject({ type: 'fulfill' })
  expect(seen).toHaveLength(1)

  // And theirs learned ours: their client reaches ours.
  const send = await connected(`btp+ws://:send@${HOST}:${ports.send}`)
  const back = newFulfillment()
  mine.registerDataHandler(async () => {
    return IlpPacket.serializeIlpFulfill({ fulfillment: back.fulfillment, data: Buffer.alloc(0) })
  })
  const backReply = await eventually(async () => {
    const r = parseReply(await send.sendData(prepare(myAddress, '100', { condition: back.condition })))
    return r.type === 'reject' && r.code === 'F02' ? undefined : r
  }, 15000, 200)
  expect(backReply).toMatchObject({ type: 'fulfill' })
  mine.deregisterDataHandler()
  recv.deregisterDataHandler()
})

test('a STREAM payment from a client of ours to a client of theirs, and one back, arrive exactly', async () => {
  // Fresh plugins: STREAM registers its own data handlers. Same asset and scale, spread 0 on both
  // connectors: what arrives is exactly what was sent.
  const sender = await connected(ours.url('stream-sender'))
  const receiver = await connected(`btp+ws://:recv@${HOST}:${ports.recv}`)
  const there = await streamPayment(sender, receiver, 250000)
  expect(there.received).toBe(250000n)
  expect(there.sent).toBe('250000')

  const theirSender = await connected(`btp+ws://:send@${HOST}:${ports.send}`)
  const myReceiver = await connected(ours.url('stream-receiver'))
  const back = await streamPayment(theirSender, myReceiver, 120000)
  expect(back.received).toBe(120000n)
  expect(back.sent).toBe('120000')
})
