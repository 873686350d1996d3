/**
 * Exchange rates end to end: the real connector process with configured child accounts in different
 * assets and static rates, real ilp-plugin-btp clients, real STREAM payments. Each client learns its
 * asset over ILDCP from the connector; the STREAM receiver tells the sender its asset, and the sender
 * probes the rate through the connector.
 *
 * Rates (value of one unit in a common base): USD "1", EUR "1.1", XRP "0.5"; spread "0.01". So:
 *   USD → EUR: (1 / 1.1) × (1 − 0.01) = (10/11) × (99/100) = 990/1100 = 9/10
 *   USD → XRP: (1 / 0.5) × 0.99 = 2 × 0.99 = 1.98; from scale 2 to scale 6 another × 10^4 → 19800 per cent
 * JPY has no rate at all.
 */
import { createServer, createConnection, DataAndMoneyStream } from 'ilp-protocol-stream'
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, newFulfillment, parseReply, prepare, within, Plugin } from '../helpers/ilp'

let connector: RunningConnector
const plugins: Plugin[] = []

const link = (token: string): { type: 'btp-server'; token: string } => ({ type: 'btp-server', token })

beforeAll(async () => {
  connector = await startConnector({
    config: {
      ilpAddress: 'test.fx',
      listeners: { default: { port: 0 } },
      accounts: {
        alice: { relation: 'child', assetCode: 'USD', assetScale: 2, link: link('alice-secret') },
        bob: { relation: 'child', assetCode: 'EUR', assetScale: 2, link: link('bob-secret') },
        dave: { relation: 'child', assetCode: 'XRP', assetScale: 6, link: link('dave-secret') },
        carol: { relation: 'child', assetCode: 'JPY', assetScale: 0, link: link('carol-secret') }
      },
      rates: { backend: 'static', spread: '0.01', rates: { USD: '1', EUR: '1.1', XRP: '0.5' } }
    }
  })
})
afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await connector.stop()
})

async function client (token: string): Promise<Plugin> {
  const p = btpClient(connector.url(token))
  plugins.push(p)
  await p.connect()
  return p
}

/**
 * A STREAM payment of `amount` (sender's units). Returns what arrived (receiver's units), what was
 * sent, and how many Prepares the receiver fulfilled (the packets the money travelled in).
 */
async function streamPayment (sender: Plugin, receiver: Plugin, amount: number): Promise<{ received: bigint; sent: string; packets: number }> {
  // Count the Fulfills the receiver's STREAM server gives back: one per packet that carried money.
  let packets = 0
  const register = receiver.registerDataHandler.bind(receiver)
  receiver.registerDataHandler = (handler) => register(async (data) => {
    const reply = await handler(data)
    if (reply[0] === IlpPacket.Type.TYPE_ILP_FULFILL) packets++
    return reply
  })
  const server = await createServer({ plugin: receiver as never })
  let received = 0n
  server.on('connection', (conn) => {
    conn.on('stream', (stream: DataAndMoneyStream) => {
      stream.setReceiveMax('100000000000')
      stream.on('money', (m: string) => { received += BigInt(m) })
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  const conn = await createConnection({ plugin: sender as never, destinationAccount, sharedSecret })
  const stream = conn.createStream()
  await stream.sendTotal(amount, { timeout: 15000 })
  const sent = stream.totalSent
  await within(conn.end(), 2000)
  await within(server.close(), 2000)
  return { received, sent, packets }
}

test('each client learns its own asset over ILDCP', async () => {
  const alice = await client('alice-secret')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ILDCP = require('ilp-protocol-ildcp') as typeof import('ilp-protocol-ildcp')
  const info = await ILDCP.fetch(async (d) => await alice.sendData(d))
  expect(info).toMatchObject({ clientAddress: 'test.fx.alice', assetCode: 'USD', assetScale: 2 })
})

test('a raw Prepare between two assets with no rate gets F02 naming the pair', async () => {
  const alice = await client('alice-secret')
  const reply = parseReply(await alice.sendData(prepare('test.fx.carol', '100', { condition: newFulfillment().condition })))
  expect(reply).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: 'test.fx', message: 'no exchange rate from USD to JPY' })
})

test('a raw Prepare USD → EUR arrives converted and rounded down', async () => {
  const alice = await client('alice-secret')
  const bob = await client('bob-secret')
  expect(await ildcpAddress(bob)).toBe('test.fx.bob')
  const { fulfillment, condition } = newFulfillment()
  let got: string | undefined
  bob.registerDataHandler(async (data) => {
    got = IlpPacket.deserializeIlpPrepare(data).amount
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })
  // 1.23 USD = 123 cents: floor(123 × 9/10) = floor(110.7) = 110 (1.10 EUR)
  const reply = parseReply(await alice.sendData(prepare('test.fx.bob', '123', { condition })))
  expect(reply.type).toBe('fulfill')
  expect(got).toBe('110')
  // 1 cent: floor(1 × 9/10) = 0 → R01 from the connector
  const small = parseReply(await alice.sendData(prepare('test.fx.bob', '1', { condition })))
  expect(small).toMatchObject({ type: 'reject', code: 'R01', triggeredBy: 'test.fx' })
  bob.deregisterDataHandler()
})

test('STREAM USD → XRP: every packet converts exactly, so the total is exact', async () => {
  const alice = await client('alice-secret')
  const dave = await client('dave-secret')
  // 5.00 USD = 500 cents; each packet of a cents becomes a × 19800 XRP drops-of-scale-6 (an integer: no
  // rounding at all), so however STREAM splits it the total is 500 × 19800 = 9,900,000 (9.9 XRP: 5 USD
  // buys 10 XRP at 0.5 each, less 1%).
  const r = await streamPayment(alice, dave, 500)
  expect(r.sent).toBe('500')
  expect(r.received).toBe(9_900_000n)
})

test('STREAM USD → EUR: each packet is rounded down on its own; the total is within one unit per packet', async () => {
  const alice = await client('alice-secret')
  const bob = await client('bob-secret')
  // 100.00 USD = 10000 cents at 9/10 → exactly 9000 cents EUR (90.00) if sent in one piece. STREAM may
  // split it into several packets; each packet of a cents arrives as floor(9a/10), which loses less than
  // 1 cent (and nothing when a is a multiple of 10). So 9000 − packets < received <= 9000.
  const r = await streamPayment(alice, bob, 10000)
  expect(r.sent).toBe('10000')
  expect(r.packets).toBeGreaterThan(0)
  expect(r.received).toBeLessThanOrEqual(9000n)
  expect(r.received).toBeGreaterThan(9000n - BigInt(r.packets))
})
