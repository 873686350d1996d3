/**
 * Every reject the connector makes itself, seen by real ilp-plugin-btp clients sending raw ILP packets
 * through the running process: the code (RFC 0027), triggeredBy = the connector's address, and the
 * packet the next hop receives.
 */
import { randomBytes } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { connected, ildcpAddress, newFulfillment, parseReply, prepare, sha256, within, Plugin } from '../helpers/ilp'

const child = (token: string, extra: Record<string, unknown> = {}) =>
  ({ relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token }, ...extra })

const config = (overrides: Record<string, unknown> = {}) => ({
  ilpAddress: 'test.local',
  listeners: {
    default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true, maxPacketAmount: '1000000', maxBalance: '5000000' } }
  },
  accounts: {
    carol: child('carol-secret'), // configured, never connects
    dave: child('dave-secret', { minBalance: '0' }),
    erin: child('erin-secret', { assetCode: 'USD', assetScale: 2 })
  },
  ...overrides
})

let connector: RunningConnector
const plugins: Plugin[] = []

async function client (token: string): Promise<{ plugin: Plugin; address: string }> {
  const plugin = await connected(connector.url(token))
  plugins.push(plugin)
  return { plugin, address: await ildcpAddress(plugin) }
}

async function send (from: Plugin, packet: Buffer) {
  return parseReply(await from.sendData(packet))
}

function expectOwnReject (reply: ReturnType<typeof parseReply>, code: string) {
  expect(reply).toMatchObject({ type: 'reject', code, triggeredBy: 'test.local' })
  if (reply.type === 'reject') expect(reply.message.length).toBeGreaterThan(0)
}

afterEach(async () => {
  for (const p of plugins.splice(0)) {
    p.deregisterDataHandler()
    await within(p.disconnect(), 1000)
  }
})

describe('with the default limits of this config', () => {
  beforeAll(async () => { connector = await startConnector({ config: config() }) })
  afterAll(async () => { await connector.stop() })

  test('a Fulfill is passed back, and the next hop gets the Prepare with the expiry shortened by the message window', async () => {
    const alice = await client('alice-1')
    const bob = await client('bob-1')
    const { fulfillment, condition } = newFulfillment()
    const expiresAt = new Date(Date.now() + 10_000)
    let seen: IlpPacket.IlpPrepare | undefined
    bob.plugin.registerDataHandler(async (data) => {
      seen = IlpPacket.deserializeIlpPrepare(data)
      return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('thanks') })
    })
    const reply = await send(alice.plugin, IlpPacket.serializeIlpPrepare({
      destination: bob.address + '.sub', amount: '1000', executionCondition: condition, expiresAt, data: Buffer.from('hello')
    }))
    expect(reply).toEqual({ type: 'fulfill', fulfillment, data: Buffer.from('thanks') })
    expect(seen).toBeDefined()
    expect(seen!.amount).toBe('1000')
    expect(seen!.destination).toBe(bob.address + '.sub')
    expect(seen!.executionCondition).toEqual(condition)
    expect(seen!.data).toEqual(Buffer.from('hello'))
    // 10 s left < 1 s + 30 s max hold: outgoing expiry = incoming − minMessageWindow (1 s).
    expect(seen!.expiresAt.getTime()).toBe(expiresAt.getTime() - 1000)
  })

  test('a reject from the next hop is relayed unchanged', async () => {
    const alice = await client('alice-2')
    const bob = await client('bob-2')
    const theirs = IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.local.somewhere', message: 'nope', data: Buffer.from('why') })
    bob.plugin.registerDataHandler(async () => theirs)
    const reply = await alice.plugin.sendData(prepare(bob.address, '5'))
    expect(reply).toEqual(theirs)
  })

  test('F02: no route', async () => {
    const alice = await client('alice-3')
    expectOwnReject(await send(alice.plugin, prepare('test.local.nobody', '1')), 'F02')
    expectOwnReject(await send(alice.plugin, prepare('g.unknown.place', '1')), 'F02')
  })

  test('F02: a route that leads back to the sender', async () => {
    const alice = await client('alice-4')
    expectOwnReject(await send(alice.plugin, prepare(alice.address + '.x', '1')), 'F02')
  })

  test('F08: amount above the account maximum, with received and maximum amounts in its data', async () => {
    const alice = await client('alice-5')
    const bob = await client('bob-5')
    const reply = await send(alice.plugin, prepare(bob.address, '1000001'))
    expectOwnReject(reply, 'F08')
    // RFC 0027: F08 data = amount received (uint64 BE) then maximum amount (uint64 BE).
    if (reply.type === 'reject') expect(reply.data.toString('hex')).toBe('00000000000f4241' + '00000000000f4240')
  })

  test('F01: a malformed Prepare', async () => {
    const alice = await client('alice-6')
    const garbage = Buffer.concat([Buffer.from([12, 0x50]), randomBytes(20)])
    expectOwnReject(await send(alice.plugin, garbage), 'F01')
  })

  test('T01: the next hop is a known account whose link is down', async () => {
    const alice = await client('alice-7')
    expectOwnReject(await send(alice.plugin, prepare('test.local.carol.x', '1')), 'T01')
  })

  test('F02: no exchange rate between the two assets (none configured)', async () => {
    const alice = await client('alice-8')
    expectOwnReject(await send(alice.plugin, prepare('test.local.erin', '1')), 'F02')
  })

  test('T04: the destination would go below its minimum balance; zero amounts still pass', async () => {
    const alice = await client('alice-9')
    const dave = await client('dave-secret')
    expect(dave.address).toBe('test.local.dave')
    const { fulfillment, condition } = newFulfillment()
    dave.plugin.registerDataHandler(async () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }))
    expectOwnReject(await send(alice.plugin, prepare('test.local.dave', '1', { condition })), 'T04')
    expect(await send(alice.plugin, prepare('test.local.dave', '0', { condition }))).toMatchObject({ type: 'fulfill' })
  })

  test('T04: the source would go above its maximum balance (5,000,000): exactly at the maximum passes', async () => {
    const alice = await client('alice-10')
    const bob = await client('bob-10')
    const { fulfillment, condition } = newFulfillment()
    bob.plugin.registerDataHandler(async () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }))
    for (let i = 0; i < 5; i++) {
      expect(await send(alice.plugin, prepare(bob.address, '1000000', { condition }))).toMatchObject({ type: 'fulfill' })
    }
    // Balance 5,000,000 = maximum; one more unit would exceed it.
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1', { condition })), 'T04')
  })

  test('T04 counts amounts still in flight: holds, not just committed balances', async () => {
    const alice = await client('alice-11')
    const bob = await client('bob-11')
    const { fulfillment, condition } = newFulfillment()
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    bob.plugin.registerDataHandler(async () => { await gate; return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }) })
    const held = [1, 2, 3, 4, 5].map(async () => await send(alice.plugin, prepare(bob.address, '1000000', { condition })))
    await new Promise(resolve => setTimeout(resolve, 300))
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1', { condition })), 'T04')
    release()
    for (const r of await Promise.all(held)) expect(r.type).toBe('fulfill')
  })

  test('R02: too little time left; R00: already expired', async () => {
    const alice = await client('alice-12')
    const bob = await client('bob-12')
    // The next hop needs at least one message window (1 s) after we take ours (1 s): 1.5 s is too little.
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1', { expiresInMs: 1500 })), 'R02')
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1', { expiresInMs: -1000 })), 'R00')
  })

  test('R00 at the outgoing expiry when the next hop never answers', async () => {
    const alice = await client('alice-13')
    const bob = await client('bob-13')
    bob.plugin.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
    const started = Date.now()
    const reply = await send(alice.plugin, prepare(bob.address, '1', { expiresInMs: 3000 }))
    const elapsed = Date.now() - started
    expectOwnReject(reply, 'R00')
    // Outgoing expiry = 3 s − 1 s window = 2 s after sending: the reject comes then, before alice's own expiry.
    expect(elapsed).toBeGreaterThanOrEqual(1900)
    expect(elapsed).toBeLessThan(3000)
  })

  test('F05: a fulfillment that does not match the condition is not passed upstream', async () => {
    const alice = await client('alice-14')
    const bob = await client('bob-14')
    bob.plugin.registerDataHandler(async () => IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32, 9), data: Buffer.alloc(0) }))
    const condition = sha256(Buffer.alloc(32, 8))
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1', { condition })), 'F05')
  })

  test('T01: the next hop disconnects with the packet in flight', async () => {
    const alice = await client('alice-15')
    const bob = await client('bob-15')
    let arrived!: () => void
    const atBob = new Promise<void>(resolve => { arrived = resolve })
    bob.plugin.registerDataHandler(async () => { arrived(); return await new Promise<Buffer>(() => {}) })
    const pending = send(alice.plugin, prepare(bob.address, '1', { expiresInMs: 20000 }))
    await atBob
    const closedAt = Date.now()
    await bob.plugin.disconnect()
    const reply = await pending
    expectOwnReject(reply, 'T01')
    expect(Date.now() - closedAt).toBeLessThan(2000) // at once, not at the 19 s expiry
  })

  test('peer.* destinations are answered by the connector, never forwarded', async () => {
    const alice = await client('alice-16')
    // A child gets no routes unless configured to (sendRoutes): its route control is refused, F00.
    expectOwnReject(await send(alice.plugin, prepare('peer.route.control', '0')), 'F00')
    expectOwnReject(await send(alice.plugin, prepare('peer.unknown', '0')), 'F02')
  })
})

describe('with at most 3 packets in flight per account', () => {
  beforeAll(async () => { connector = await startConnector({ config: config({ packets: { maxInFlightPerAccount: 3 } }) }) })
  afterAll(async () => { await connector.stop('SIGKILL') })

  test('T03: a fourth packet in flight is refused at once', async () => {
    const alice = await client('alice-20')
    const bob = await client('bob-20')
    bob.plugin.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
    const held = [1, 2, 3].map(async () => await send(alice.plugin, prepare(bob.address, '1', { expiresInMs: 4000 })))
    await new Promise(resolve => setTimeout(resolve, 300))
    expectOwnReject(await send(alice.plugin, prepare(bob.address, '1')), 'T03')
    // The three held ones time out (R00) rather than hang.
    for (const r of await Promise.all(held)) expectOwnReject(r, 'R00')
  })
})
