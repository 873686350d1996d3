/**
 * ILP-over-HTTP (RFC 0035) against the peer deployed connectors use: `ilp-plugin-http` 1.6.1, over real
 * HTTP. alice is a child on our BTP listener; `hp` is a child linked over HTTP to an ilp-plugin-http
 * instance (a child, so the STREAM server on it learns its address from us over ILDCP, through HTTP).
 * `wrong` dials the same ilp-plugin-http with a token it does not know.
 *
 * Balances are what the account owes the connector (USD, scale 2 everywhere, no spread, so every hop
 * carries the same amount). Worked out in each test.
 */
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, parseReply, prepare, within, Plugin } from '../helpers/ilp'
import { tempDir, freePort } from '../helpers/connectorProcess'
import * as ILDCP from 'ilp-protocol-ildcp'
import { streamPayment } from '../helpers/stream'
import { httpPlugin, post } from '../helpers/http'

let connector: Connector
let alice: Plugin
let peer: Plugin
let ourUrl: string
let aliceUrl: string
const clients: Plugin[] = []

beforeAll(async () => {
  const peerPort = await freePort()
  const usd = { assetCode: 'USD', assetScale: 2 }
  connector = createConnector(validateConfig({
    ilpAddress: 'test.a',
    dataDir: tempDir(),
    log: { level: 'silent' },
    listeners: { default: { port: 0 } },
    http: { port: 0 },
    accounts: {
      alice: { relation: 'child', ...usd, link: { type: 'btp-server', token: 'alice-token' } },
      hp: { relation: 'child', ...usd, link: { type: 'http', incoming: { token: 'peer-to-us' }, outgoing: { url: `http://127.0.0.1:${peerPort}/`, token: 'us-to-peer' } } },
      wrong: { relation: 'peer', ...usd, link: { type: 'http', outgoing: { url: `http://127.0.0.1:${peerPort}/`, token: 'not-the-token' } } }
    },
    routes: [{ prefix: 'test.wrong', account: 'wrong' }]
  }), { logger: pino({ level: 'silent' }) })
  await connector.start()
  ourUrl = `http://127.0.0.1:${connector.httpPort as number}/ilp`
  peer = httpPlugin(peerPort, 'us-to-peer', ourUrl, 'peer-to-us')
  aliceUrl = `btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`
  ;[alice] = await Promise.all([connected(aliceUrl), peer.connect()])
})

/**
 * ilp-protocol-stream disconnects the plugins when a payment ends (the server's and the sender's):
 * alice gets a fresh BTP client (same token, same account), the peer connects again.
 */
async function reconnect (): Promise<void> {
  clients.push(alice)
  ;[alice] = await Promise.all([connected(aliceUrl), peer.connect()])
}

afterAll(async () => {
  await Promise.all([alice, peer, ...clients].map(async p => await within(p.disconnect(), 1000)))
  await connector.stop(1000)
})

test('a STREAM payment from a BTP client to a STREAM server behind ilp-plugin-http, and one back', async () => {
  // alice → connector → POST to ilp-plugin-http → its STREAM server; the Fulfills come back in the HTTP responses.
  const out = await streamPayment(alice, peer, 5000)
  expect(out).toEqual({ received: 5000n, sent: '5000' })
  // alice sent 5000: she owes 5000. We passed 5000 on to hp: we owe it 5000.
  expect(connector.account('alice')?.balance).toBe('5000')
  expect(connector.account('hp')?.balance).toBe('-5000')

  await reconnect()
  // hp → POST to our listener → alice's STREAM server.
  const back = await streamPayment(peer, alice, 3000)
  expect(back).toEqual({ received: 3000n, sent: '3000' })
  // alice: 5000 − 3000 received = 2000. hp: −5000 + 3000 it sent = −2000.
  expect(connector.account('alice')?.balance).toBe('2000')
  expect(connector.account('hp')?.balance).toBe('-2000')
}, 30000)

test('the peer learns its address from us over ILDCP, through HTTP', async () => {
  await reconnect()
  const info = await ILDCP.fetch(async (data) => await peer.sendData(data))
  expect(info).toEqual({ clientAddress: 'test.a.hp', assetCode: 'USD', assetScale: 2 })
})

describe('bad input', () => {
  const okPrepare = (): Buffer => prepare('test.a.alice.x', '1')

  test('a wrong token, or none, gets 401 and never reaches an account', async () => {
    const before = connector.account('hp')
    const wrong = await post(ourUrl, okPrepare(), { Authorization: 'Bearer nope', 'Content-Type': 'application/octet-stream' })
    expect(wrong.status).toBe(401)
    expect(wrong.text).toContain('invalid token')
    const none = await post(ourUrl, okPrepare(), { 'Content-Type': 'application/octet-stream' })
    expect(none.status).toBe(401)
    expect(none.text).toContain('Authorization: Bearer')
    expect(connector.account('hp')).toEqual(before)
  })

  test('not a POST: 405; another content type: 415; an empty body: 400; too large: 413', async () => {
    const get = await fetch(ourUrl, { headers: { Authorization: 'Bearer peer-to-us' } })
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
    const json = await post(ourUrl, Buffer.from('{}'), { Authorization: 'Bearer peer-to-us', 'Content-Type': 'application/json' })
    expect(json.status).toBe(415)
    const empty = await post(ourUrl, Buffer.alloc(0), { Authorization: 'Bearer peer-to-us', 'Content-Type': 'application/octet-stream' })
    expect(empty.status).toBe(400)
    // An ILP packet is at most 32767 bytes of data plus a header: 64 KiB is no packet.
    const huge = await post(ourUrl, Buffer.alloc(64 * 1024, 12), { Authorization: 'Bearer peer-to-us', 'Content-Type': 'application/octet-stream' })
    expect(huge.status).toBe(413)
  })

  test('a body that is not a Prepare gets 400 naming it; a malformed Prepare gets an ILP Reject F01', async () => {
    const auth = { Authorization: 'Bearer peer-to-us', 'Content-Type': 'application/octet-stream' }
    const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.alloc(0) })
    const notPrepare = await post(ourUrl, fulfill, auth)
    expect(notPrepare.status).toBe(400)
    expect(notPrepare.text).toContain('got packet type 13')
    // Type 12, then a length prefix that promises more bytes than there are.
    const malformed = await post(ourUrl, Buffer.from([12, 40, 0, 0]), auth)
    expect(malformed.status).toBe(200)
    const reply = parseReply(malformed.body)
    expect(reply).toMatchObject({ type: 'reject', code: 'F01', triggeredBy: 'test.a' })
  })

  test('a peer refusing our token: the sender gets T01 naming the HTTP status; the rest still works', async () => {
    await reconnect()
    const reply = parseReply(await alice.sendData(prepare('test.wrong.bob', '10')))
    expect(reply).toMatchObject({ type: 'reject', code: 'T01', triggeredBy: 'test.a' })
    expect((reply as { message: string }).message).toContain('HTTP 401')
    // Rejected, so nothing was charged: alice is where the first test left her.
    expect(connector.account('alice')?.balance).toBe('2000')
    expect(connector.account('wrong')?.balance).toBe('0')
    await reconnect()
    const again = await streamPayment(alice, peer, 100)
    expect(again.received).toBe(100n)
  }, 20000)
})
