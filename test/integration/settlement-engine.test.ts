/**
 * Settlement through an RFC 0038 engine, both directions, against a minimal engine run by the test over
 * real HTTP on loopback and real ilp-plugin-btp peers. Every expected balance is worked out by hand in
 * the comments. Balances are what the account owes the connector (negative: the connector owes it).
 *
 * bob is a peer (scale 6) settling through the engine: threshold -1000, settleTo 0, so once we owe bob
 * 1000 or more we pay him back to 0. alice is a child that pays and gets paid through us.
 */

import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, parseReply, within, Plugin, sha256, payCarryingFulfillment as pay } from '../helpers/ilp'
import { tempDir, eventually } from '../helpers/connectorProcess'
import { TestEngine, creditIncoming, sendMessage, post } from '../helpers/settlementEngine'

let engine: TestEngine
let connector: Connector
let alice: Plugin
let bob: Plugin
let apiPort: number
const peerMessages: Buffer[] = []

/** A receiver's data handler: fulfils payments (the sender puts the fulfillment in the data), answers peer.settle. */
function receiver (name: string) {
  return async (data: Buffer): Promise<Buffer> => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    if (p.destination === 'peer.settle') {
      peerMessages.push(p.data)
      return IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32), data: Buffer.concat([Buffer.from(`${name}-engine-got:`), p.data]) })
    }
    return IlpPacket.serializeIlpFulfill({ fulfillment: p.data, data: Buffer.alloc(0) })
  }
}

const balance = (id: string): string | undefined => connector.account(id)?.balance

beforeAll(async () => {
  engine = new TestEngine()
  await engine.start()
  const config = validateConfig({
    ilpAddress: 'test.a',
    dataDir: tempDir(),
    log: { level: 'silent' },
    listeners: { default: { port: 0 } },
    settlement: { port: 0, retryMinDelayMs: 20, retryMaxDelayMs: 200, requestTimeoutMs: 2000 },
    accounts: {
      alice: { relation: 'child', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'alice-token' } },
      bob: {
        relation: 'peer',
        assetCode: 'XRP',
        assetScale: 6,
        minBalance: '-5000',
        link: { type: 'btp-server', token: 'bob-token' },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'rfc0038', url: engine.url } }
      }
    },
    routes: [{ prefix: 'test.bob', account: 'bob' }]
  })
  connector = createConnector(config, { logger: pino({ level: 'silent' }) })
  await connector.start()
  apiPort = connector.settlementPort as number
  const url = (token: string): string => `btp+ws://:${token}@127.0.0.1:${connector.port('default') as number}`
  ;[alice, bob] = await Promise.all([connected(url('alice-token')), connected(url('bob-token'))])
  alice.registerDataHandler(receiver('alice'))
  bob.registerDataHandler(receiver('bob'))
})

afterAll(async () => {
  await Promise.all([within(alice.disconnect(), 1000), within(bob.disconnect(), 1000)])
  await connector.stop(1000)
  await engine.stop()
})

test('the engine account is set up when the connector starts (POST /accounts { id })', async () => {
  await eventually(() => engine.accountsCreated.includes('bob') ? true : undefined, 3000)
  expect(connector.settlementPort).toBeGreaterThan(0)
})

test('an incoming settlement is credited once per idempotency key, in the account\'s scale, the leftover left to the engine', async () => {
  // bob pays alice 3000 through us: bob owes us 3000, we owe alice 3000.
  expect(await pay(bob, 'test.a.alice', 3000)).toBe('fulfill')
  expect(balance('bob')).toBe('3000')
  expect(balance('alice')).toBe('-3000')

  // bob's engine tells ours it paid 0.002500123 XRP: at scale 9 that is 2500123; bob's account is scale 6,
  // so 2500 units are credited and 123 (scale 9) are left over for the engine. 3000 − 2500 = 500.
  const first = await creditIncoming(apiPort, 'bob', 'key-1', { amount: '2500123', scale: 9 })
  expect(first.status).toBe(201)
  expect(first.json()).toStrictEqual({ amount: '2500000', scale: 9 })
  expect(balance('bob')).toBe('500')

  // The engine retries the same request (it did not see our answer): same answer, not credited again.
  const again = await creditIncoming(apiPort, 'bob', 'key-1', { amount: '2500123', scale: 9 })
  expect(again.status).toBe(201)
  expect(again.json()).toStrictEqual({ amount: '2500000', scale: 9 })
  expect(balance('bob')).toBe('500')

  // Two copies at once (both before the first is stored): still credited once.
  const [a, b] = await Promise.all([
    creditIncoming(apiPort, 'bob', 'key-2', { amount: '100', scale: 6 }),
    creditIncoming(apiPort, 'bob', 'key-2', { amount: '100', scale: 6 })
  ])
  expect([a.status, b.status]).toStrictEqual([201, 201])
  expect(a.json()).toStrictEqual({ amount: '100', scale: 6 })
  // 500 − 100 = 400.
  expect(balance('bob')).toBe('400')

  // The same key for a different amount is refused, and changes nothing.
  const reused = await creditIncoming(apiPort, 'bob', 'key-1', { amount: '1', scale: 9 })
  expect(reused.status).toBe(409)
  expect(balance('bob')).toBe('400')
})

test('bad requests to the settlement API get a 4xx with a reason and change nothing', async () => {
  const cases: Array<[string | undefined, string, unknown, number, RegExp]> = [
    [undefined, 'bob', { amount: '5', scale: 6 }, 400, /Idempotency-Key/],
    ['k-bad-1', 'bob', '{"amount": "5", ', 400, /JSON/],
    ['k-bad-2', 'bob', { amount: 5, scale: 6 }, 400, /amount/],
    ['k-bad-3', 'bob', { amount: '-5', scale: 6 }, 400, /amount/],
    ['k-bad-4', 'bob', { amount: '5', scale: 300 }, 400, /scale/],
    ['k-bad-5', 'bob', { amount: '1' + '0'.repeat(40), scale: 0 }, 400, /too large/],
    ['k-bad-6', 'nobody', { amount: '5', scale: 6 }, 404, /nobody/],
    ['k-bad-7', 'alice', { amount: '5', scale: 6 }, 404, /alice/]
  ]
  for (const [key, account, body, status, message] of cases) {
    const res = await creditIncoming(apiPort, account, key, body)
    expect({ account, key, status: res.status }).toStrictEqual({ account, key, status })
    expect((res.json() as { error: string }).error).toMatch(message)
  }
  expect((await post(`http://127.0.0.1:${apiPort}/nothing/here`, '')).status).toBe(404)
  const get = await fetch(`http://127.0.0.1:${apiPort}/accounts/bob/settlements`)
  expect(get.status).toBe(405)
  expect(balance('bob')).toBe('400')
})

test('owing bob past the threshold settles down to settleTo: debited first, retried with the same key until the engine accepts', async () => {
  // alice pays bob 1000: bob's balance 400 − 1000 = −600 (we owe him 600, above −1000: no settlement).
  expect(await pay(alice, 'test.bob', 1000)).toBe('fulfill')
  expect(balance('bob')).toBe('-600')
  expect(engine.settleRequests).toHaveLength(0)

  // The engine is in trouble for its next two requests.
  engine.failNext = 2
  // alice pays bob 500 more: −600 − 500 = −1100 ≤ −1000 → settle 0 − (−1100) = 1100; the balance goes back to 0 at once.
  expect(await pay(alice, 'test.bob', 500)).toBe('fulfill')
  await eventually(() => engine.settled.size === 1 ? true : undefined, 5000)
  expect(balance('bob')).toBe('0')
  // Three requests (two refused with 503, the third accepted), one key, one amount, in bob's scale.
  expect(engine.settleRequests).toHaveLength(3)
  const keys = new Set(engine.settleRequests.map(r => r.key))
  expect(keys.size).toBe(1)
  expect(engine.settleRequests.every(r => r.account === 'bob' && r.amount === '1100' && r.scale === 6)).toBe(true)
  expect(engine.settledTotal('bob')).toBe(1100n)
  // alice paid 1000 + 500 through us: −3000 + 1500 = −1500.
  expect(balance('alice')).toBe('-1500')
})

test('engine messages go to the peer over peer.settle and back, and the peer\'s come to our engine', async () => {
  // Our engine → connector → bob's connector (its peer.settle handler) → the answer back to our engine.
  const res = await sendMessage(apiPort, 'bob', Buffer.from('hello bob'))
  expect(res.status).toBe(201)
  expect(res.body.toString()).toBe('bob-engine-got:hello bob')
  expect(peerMessages.map(m => m.toString())).toContain('hello bob')

  // bob's connector → us → our engine's /messages → the engine's answer in the Fulfill.
  const reply = parseReply(await bob.sendData(IlpPacket.serializeIlpPrepare({
    destination: 'peer.settle',
    amount: '0',
    executionCondition: sha256(Buffer.alloc(32)),
    expiresAt: new Date(Date.now() + 5000),
    data: Buffer.from('ledger address xyz')
  })))
  expect(reply).toMatchObject({ type: 'fulfill', fulfillment: Buffer.alloc(32) })
  expect(reply.type === 'fulfill' && reply.data.toString()).toBe('engine-got:ledger address xyz')
  expect(engine.messages.map(m => m.toString())).toContain('ledger address xyz')

  // alice has no engine: her peer.settle is rejected, and our engine cannot message her.
  expect(parseReply(await alice.sendData(IlpPacket.serializeIlpPrepare({
    destination: 'peer.settle', amount: '0', executionCondition: sha256(Buffer.alloc(32)), expiresAt: new Date(Date.now() + 5000), data: Buffer.from('x')
  })))).toMatchObject({ type: 'reject', code: 'F02' })
  expect((await sendMessage(apiPort, 'alice', Buffer.from('x'))).status).toBe(404)
  // None of it moved a balance.
  expect(balance('bob')).toBe('0')
})
