/**
 * The connector as a receiver (SPSP, RFC 0009 + STREAM, RFC 0029). `shop` (USD, scale 2) and `cafe`
 * (EUR, scale 2) are receiving accounts; alice (USD, scale 2) is a client on the BTP listener. Payments
 * are made by others' code: the npm `ilp-protocol-spsp` client (SPSP over real HTTP) and
 * `ilp-protocol-stream`. Balances are what the account owes the connector, so a receiving account
 * credited X has balance −X.
 */
import { randomBytes } from 'crypto'
import pino from 'pino'
import { createConnection } from 'ilp-protocol-stream'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, parseReply, prepare, within, Plugin } from '../helpers/ilp'
import { tempDir } from '../helpers/connectorProcess'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const SPSP = require('ilp-protocol-spsp') as {
  pay: (plugin: Plugin, opts: { receiver: string; sourceAmount: string }) => Promise<{ totalSent: string }>
  query: (pointer: string) => Promise<{ destination_account: string; shared_secret: string; content_type: string }>
}

const dataDir = tempDir()
let connector: Connector
let spsp: string
let aliceUrl: string
const plugins: Plugin[] = []

function config (): unknown {
  return {
    ilpAddress: 'test.r',
    dataDir,
    listeners: { default: { port: 0 } },
    spsp: { port: 0 },
    // 1 EUR is worth 2 USD: a USD amount a becomes floor(a / 2) EUR (same scale).
    rates: { backend: 'static', rates: { USD: '2', EUR: '4' } },
    accounts: {
      alice: { relation: 'child', assetCode: 'USD', assetScale: 2, link: { type: 'btp-server', token: 'alice-token' } },
      shop: { relation: 'child', assetCode: 'USD', assetScale: 2, link: { type: 'receiver', wellKnown: true } },
      cafe: { relation: 'child', assetCode: 'EUR', assetScale: 2, link: { type: 'receiver' } }
    }
  }
}

async function start (): Promise<void> {
  connector = createConnector(validateConfig(config()), { logger: pino({ level: 'silent' }) })
  await connector.start()
  spsp = `http://127.0.0.1:${connector.spspPort as number}`
  aliceUrl = `btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`
}

/** A fresh client of alice's account (ilp-protocol-stream disconnects its plugin when a payment ends). */
async function alice (): Promise<Plugin> {
  const p = await connected(aliceUrl)
  plugins.push(p)
  return p
}

beforeAll(start)

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
  await connector.stop(1000)
})

test('ilp-protocol-spsp pays the payment pointer $host/shop: the amount credited is the amount delivered', async () => {
  const result = await SPSP.pay(await alice(), { receiver: `${spsp}/shop`, sourceAmount: '12345' })
  // USD scale 2 on both sides, no spread: every packet delivers what it carries, so delivered = sent = 12345.
  expect(result.totalSent).toBe('12345')
  const report = connector.receipts('shop')
  expect(report).toMatchObject({ account: 'shop', address: 'test.r.shop', amount: '12345' })
  expect(report?.receipts).toHaveLength(1)
  expect(report?.receipts[0]).toMatchObject({ account: 'shop', amount: '12345', packets: report?.packets })
  expect(connector.account('shop')?.balance).toBe('-12345')
  expect(connector.account('alice')?.balance).toBe('12345')
}, 20000)

test('the bare host ($host → /.well-known/pay) is the wellKnown account: a second payment, a second receipt', async () => {
  const result = await SPSP.pay(await alice(), { receiver: spsp, sourceAmount: '655' })
  expect(result.totalSent).toBe('655')
  const report = connector.receipts('shop')
  // 12345 + 655 = 13000, in two STREAM connections.
  expect(report?.amount).toBe('13000')
  expect(report?.receipts.map(r => r.amount)).toEqual(['12345', '655'])
  expect(connector.account('shop')?.balance).toBe('-13000')
}, 20000)

test('across a currency: what is credited equals what the STREAM sender saw delivered', async () => {
  const details = await SPSP.query(`${spsp}/cafe`)
  expect(details.content_type).toBe('application/spsp4+json')
  expect(details.destination_account.startsWith('test.r.cafe.')).toBe(true)
  const conn = await createConnection({
    plugin: await alice() as never,
    destinationAccount: details.destination_account,
    sharedSecret: Buffer.from(details.shared_secret, 'base64')
  })
  const stream = conn.createStream()
  await stream.sendTotal(10000, { timeout: 10000 })
  const delivered = conn.totalDelivered
  await within(conn.end(), 2000)
  // Each packet of a USD delivers floor(a / 2) EUR: 10000 USD cents give at most 5000 EUR cents, and
  // rounding loses under 1 per packet. The sender's own count is the reference.
  expect(BigInt(delivered)).toBeLessThanOrEqual(5000n)
  expect(BigInt(delivered)).toBeGreaterThan(4990n)
  expect(connector.receipts('cafe')?.amount).toBe(delivered)
  expect(connector.account('cafe')?.balance).toBe(`-${delivered}`)
}, 20000)

test('a packet the receiver rejects is never counted', async () => {
  const before = connector.receipts('shop')
  const a = await alice()
  // An address under shop that is no STREAM connection of ours: the STREAM server rejects it.
  const reply = parseReply(await a.sendData(prepare('test.r.shop.not-a-connection', '500', { data: randomBytes(20) })))
  expect(reply.type).toBe('reject')
  expect(connector.receipts('shop')).toEqual(before)
  expect(connector.account('shop')?.balance).toBe('-13000')
})

describe('malformed SPSP requests get a 4xx naming the problem', () => {
  const get = async (path: string, headers: Record<string, string> = { Accept: 'application/spsp4+json' }, method = 'GET'): Promise<{ status: number; error: string }> => {
    const res = await fetch(spsp + path, { method, headers })
    return { status: res.status, error: ((await res.json()) as { error: string }).error }
  }

  test('no Accept: application/spsp4+json → 406', async () => {
    expect(await get('/shop', { Accept: 'application/json' })).toEqual({ status: 406, error: 'SPSP needs the header "Accept: application/spsp4+json"' })
    expect((await get('/shop', {})).status).toBe(406)
  })

  test('not a GET → 405; no such receiving account, or not a receiver → 404; not an SPSP path → 404', async () => {
    expect((await get('/shop', undefined, 'POST')).status).toBe(405)
    expect(await get('/nobody')).toEqual({ status: 404, error: 'no receiving account "nobody"' })
    expect(await get('/alice')).toEqual({ status: 404, error: 'no receiving account "alice"' })
    expect((await get('/shop/extra/path')).status).toBe(404)
  })

  test('the receiver still works afterwards', async () => {
    expect((await SPSP.pay(await alice(), { receiver: `${spsp}/shop`, sourceAmount: '1' })).totalSent).toBe('1')
    expect(connector.receipts('shop')?.amount).toBe('13001')
  }, 20000)
})

test('totals and receipts are stored with the balances: the same after a restart', async () => {
  // What the stopped connector had credited (read after its stop: a STREAM close may still be in flight before).
  await connector.stop(1000)
  const shop = connector.receipts('shop')
  const cafe = connector.receipts('cafe')
  await start()
  expect(connector.receipts('shop')).toEqual(shop)
  expect(connector.receipts('cafe')).toEqual(cafe)
  expect(connector.account('shop')?.balance).toBe('-13001')
  // And the restarted receiver takes payments.
  expect((await SPSP.pay(await alice(), { receiver: `${spsp}/shop`, sourceAmount: '99' })).totalSent).toBe('99')
  expect(connector.receipts('shop')?.amount).toBe('13100')
}, 30000)
