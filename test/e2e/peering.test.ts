/**
 * Two of our connectors peered over BTP, as two operators would run them: B (test.b) listens, A (test.a)
 * dials B with a btp-client link. Clients of A pay clients of B and back (raw ILP packets and a real
 * STREAM payment); then B dies, A's clients get T01 for B's addresses, B comes back on the same port and
 * A's link reconnects by itself.
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, freePort, eventually, RunningConnector } from '../helpers/connectorProcess'
import { streamPayment } from '../helpers/stream'
import { btpClient, ildcpAddress, newFulfillment, prepare, parseReply, within, Plugin, ParsedReply } from '../helpers/ilp'

const SECRET = 'secret'
let portB: number
let connA: RunningConnector
let connB: RunningConnector
const connectors: RunningConnector[] = []
const plugins: Plugin[] = []

function configB (port: number): unknown {
  return {
    ilpAddress: 'test.b',
    listeners: { default: { host: '127.0.0.1', port, localAccounts: { enabled: true } } },
    accounts: {
      a: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: SECRET } }
    },
    routes: [{ prefix: 'test.a', account: 'a' }]
  }
}

function configA (bPort: number): unknown {
  return {
    ilpAddress: 'test.a',
    listeners: { default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true } } },
    accounts: {
      b: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-client', url: `btp+ws://:${SECRET}@127.0.0.1:${bPort}` } }
    },
    routes: [{ prefix: 'test.b', account: 'b' }]
  }
}

async function startB (): Promise<RunningConnector> {
  const c = await startConnector({ config: configB(portB), env: { METAMORPHOSIS_BTP__AUTH_TIMEOUT_MS: '1000' } })
  connectors.push(c)
  return c
}

beforeAll(async () => {
  portB = await freePort()
  connB = await startB()
  expect(connB.ports.default).toBe(portB)
  connA = await startConnector({
    config: configA(portB),
    env: {
      METAMORPHOSIS_BTP__AUTH_TIMEOUT_MS: '1000',
      METAMORPHOSIS_BTP__RECONNECT_MIN_DELAY_MS: '100',
      METAMORPHOSIS_BTP__RECONNECT_MAX_DELAY_MS: '1000'
    }
  })
  connectors.push(connA)
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await Promise.all(connectors.map(async c => await within(c.stop('SIGKILL'), 3000)))
})

async function client (c: RunningConnector, token: string): Promise<{ plugin: Plugin; address: string }> {
  const plugin = btpClient(c.url(token))
  plugins.push(plugin)
  await plugin.connect()
  return { plugin, address: await ildcpAddress(plugin) }
}

/**
 * A receiver that fulfills Prepares carrying `condition` (with `fulfillment`), records what it got,
 * and rejects anything else with F99 triggered by itself.
 */
function receive (receiver: { plugin: Plugin; address: string }): {
  expect: (fulfillment: Buffer) => void
  got: IlpPacket.IlpPrepare[]
  /** Resolves when a Prepare to `<address>.hold` arrives (those are never answered). */
  held: Promise<void>
} {
  const got: IlpPacket.IlpPrepare[] = []
  let expected: Buffer | undefined
  let onHeld!: () => void
  const held = new Promise<void>(resolve => { onHeld = resolve })
  receiver.plugin.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    got.push(p)
    if (p.destination === receiver.address + '.hold') {
      onHeld()
      return await new Promise<Buffer>(() => { /* never answered */ })
    }
    if (expected !== undefined && IlpPacket.deserializeIlpPrepare(data).executionCondition.equals(sha(expected))) {
      return IlpPacket.serializeIlpFulfill({ fulfillment: expected, data: Buffer.from('hello from ' + receiver.address) })
    }
    return IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: receiver.address, message: 'not expected', data: Buffer.from('app data') })
  })
  return { expect: (f) => { expected = f }, got, held }
}

function sha (b: Buffer): Buffer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('crypto') as typeof import('crypto')).createHash('sha256').update(b).digest()
}

/** Sends one Prepare and parses the reply. */
async function pay (sender: Plugin, destination: string, amount: string, condition: Buffer, expiresInMs = 10000): Promise<ParsedReply> {
  return parseReply(await sender.sendData(prepare(destination, amount, { condition, expiresInMs })))
}

let alice: { plugin: Plugin; address: string }
let bob: { plugin: Plugin; address: string }
let aliceIn: ReturnType<typeof receive>
let bobIn: ReturnType<typeof receive>

test('clients get addresses under their own connector', async () => {
  alice = await client(connA, 'alice-token')
  bob = await client(connB, 'bob-token')
  expect(alice.address).toMatch(/^test\.a\.[a-zA-Z0-9_~-]+$/)
  expect(bob.address).toMatch(/^test\.b\.[a-zA-Z0-9_~-]+$/)
  aliceIn = receive(alice)
  bobIn = receive(bob)
})

test('a Prepare from a client of A to a client of B is fulfilled, across both connectors', async () => {
  const { fulfillment, condition } = newFulfillment()
  bobIn.expect(fulfillment)
  let sentExpiry = 0
  // A dials B at start; allow its link a moment to come up (retrying only while A says the link is down).
  const reply = await eventually(async () => {
    const packet = prepare(bob.address, '1000', { condition, expiresInMs: 10000 })
    sentExpiry = IlpPacket.deserializeIlpPrepare(packet).expiresAt.getTime()
    const r = parseReply(await alice.plugin.sendData(packet))
    return r.type === 'reject' && r.code === 'T01' ? undefined : r
  }, 5000, 100)
  expect(reply.type).toBe('fulfill')
  if (reply.type === 'fulfill') {
    expect(reply.fulfillment.equals(fulfillment)).toBe(true)
    expect(reply.data.toString()).toBe('hello from ' + bob.address)
  }
  const got = bobIn.got[bobIn.got.length - 1]
  expect(got.destination).toBe(bob.address)
  expect(got.amount).toBe('1000')
  expect(got.executionCondition.equals(condition)).toBe(true)
  // RFC 0027: each connector gives the next hop less time than it was given.
  expect(got.expiresAt.getTime()).toBeLessThan(sentExpiry)
})

test('a Reject from B\'s client comes back to A\'s client unchanged', async () => {
  const { condition } = newFulfillment() // bob does not know this fulfillment: he rejects with F99
  const reply = await pay(alice.plugin, bob.address + '.sub', '5', condition)
  expect(reply).toMatchObject({ type: 'reject', code: 'F99', triggeredBy: bob.address, message: 'not expected' })
  if (reply.type === 'reject') expect(reply.data.toString()).toBe('app data')
})

test('and back: a client of B pays a client of A', async () => {
  const { fulfillment, condition } = newFulfillment()
  aliceIn.expect(fulfillment)
  const reply = await pay(bob.plugin, alice.address, '2500', condition)
  expect(reply.type).toBe('fulfill')
  if (reply.type === 'fulfill') expect(reply.fulfillment.equals(fulfillment)).toBe(true)
  const got = aliceIn.got[aliceIn.got.length - 1]
  expect(got).toMatchObject({ destination: alice.address, amount: '2500' })
})

test('an address under neither connector is unreachable: F02 from the first connector', async () => {
  const reply = await pay(alice.plugin, 'test.c.nobody', '1', newFulfillment().condition)
  expect(reply).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: 'test.a' })
})

test('a STREAM payment from a client of A to a client of B, and one back, arrive exactly', async () => {
  // Fresh plugins: STREAM registers its own data handlers.
  const sa = await client(connA, 'stream-a')
  const sb = await client(connB, 'stream-b')
  const there = await streamPayment(sa.plugin, sb.plugin, 300_000)
  // Same asset and scale on every hop and no spread: exactly what was sent arrives.
  expect(there).toEqual({ received: 300_000n, sent: '300000' })
  const sa2 = await client(connA, 'stream-a2')
  const sb2 = await client(connB, 'stream-b2')
  const back = await streamPayment(sb2.plugin, sa2.plugin, 200_000)
  expect(back).toEqual({ received: 200_000n, sent: '200000' })
})

test('B dies: A\'s client gets T01 from A for B\'s addresses; A itself keeps running', async () => {
  // One packet is in flight at bob (he holds it) when B dies: A must answer it now, not at its expiry.
  const inFlight = pay(alice.plugin, bob.address + '.hold', '11', newFulfillment().condition, 15000)
  await bobIn.held
  const killedAt = Date.now()
  const killed = await connB.stop('SIGKILL')
  expect(killed).toBeNull() // killed by the signal
  const inFlightReply = await within(inFlight, 3000)
  expect(inFlightReply).not.toBe('timeout')
  expect(inFlightReply).toMatchObject({ type: 'reject', code: 'T01', triggeredBy: 'test.a' })
  expect(Date.now() - killedAt).toBeLessThan(3000)
  // Bob's plugin would keep dialling the dead B: stop it (a fresh client is used after the restart).
  await within(bob.plugin.disconnect(), 2000)
  // A dead process's sockets are closed by the kernel: on loopback A learns of it at once. Allow a moment.
  await new Promise(resolve => setTimeout(resolve, 300))
  const reply = await pay(alice.plugin, bob.address, '10', newFulfillment().condition, 5000)
  expect(reply).toMatchObject({ type: 'reject', code: 'T01', triggeredBy: 'test.a' })
  expect(connA.proc.exitCode).toBeNull()
  // A still serves its own clients meanwhile: local payments work.
  const { fulfillment, condition } = newFulfillment()
  aliceIn.expect(fulfillment)
  const local = await client(connA, 'alice-neighbour')
  expect((await pay(local.plugin, alice.address, '3', condition)).type).toBe('fulfill')
})

test('B restarts on the same port: A reconnects by itself and forwarding works again', async () => {
  connB = await startB()
  expect(connB.ports.default).toBe(portB)
  const bob2 = await client(connB, 'bob-token')
  // Same token, same local account id: the same address as before.
  expect(bob2.address).toBe(bob.address)
  const { fulfillment, condition } = newFulfillment()
  const bob2In = receive(bob2)
  bob2In.expect(fulfillment)
  const t0 = Date.now()
  // Nothing is done to A: its btp-client link must come back on its own (backoff capped at 1 s).
  const reply = await eventually(async () => {
    const r = await pay(alice.plugin, bob2.address, '42', condition, 5000)
    return r.type === 'reject' && r.code === 'T01' ? undefined : r
  }, 5000, 100)
  expect(reply.type).toBe('fulfill')
  if (reply.type === 'fulfill') expect(reply.fulfillment.equals(fulfillment)).toBe(true)
  expect(Date.now() - t0).toBeLessThan(5000)
  expect(bob2In.got.map(p => p.amount)).toContain('42')
  // And the other way round, over the re-established link.
  const back = newFulfillment()
  aliceIn.expect(back.fulfillment)
  expect((await pay(bob2.plugin, alice.address, '43', back.condition)).type).toBe('fulfill')
})
