/**
 * Settlement when things go wrong: an engine that is not there yet, one that lost the account (404),
 * one that refuses a settlement for good (4xx), one that is down while the peer's engine has a message
 * for it; and idempotency keys pruned only after their retention. Balances are what the account owes
 * the connector; expected values are worked out in the comments.
 */

import http from 'http'
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, Connector, MemoryStore } from '../../src'
import { connected, parseReply, within, Plugin, sha256, payCarryingFulfillment as pay, fulfilFromData as fulfil } from '../helpers/ilp'
import { freePort, eventually } from '../helpers/connectorProcess'
import { TestEngine } from '../helpers/settlementEngine'
import { SettlementService } from '../../src/settlement/SettlementService'
import { INCOMING_COLLECTION, OUTGOING_COLLECTION, OutgoingSettlementRecord } from '../../src/settlement/records'

describe('an engine in trouble', () => {
  let engine: TestEngine
  let enginePort: number
  let connector: Connector
  let store: MemoryStore
  let alice: Plugin
  let bob: Plugin
  const balance = (id: string): string | undefined => connector.account(id)?.balance

  beforeAll(async () => {
    enginePort = await freePort()
    engine = new TestEngine()
    store = new MemoryStore()
    connector = createConnector(validateConfig({
      ilpAddress: 'test.a',
      listeners: { default: { port: 0 } },
      settlement: { port: 0, retryMinDelayMs: 20, retryMaxDelayMs: 100, requestTimeoutMs: 1000 },
      accounts: {
        alice: { relation: 'child', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'alice-token' } },
        bob: {
          relation: 'peer', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'bob-token' },
          settlement: { threshold: '-100', settleTo: '0', method: { type: 'rfc0038', url: `http://127.0.0.1:${enginePort}` } }
        }
      },
      routes: [{ prefix: 'test.bob', account: 'bob' }]
    }), { store, logger: pino({ level: 'silent' }) })
    // The engine is not running yet: the connector starts anyway and keeps trying to set the account up.
    await connector.start()
    const url = (token: string): string => `btp+ws://:${token}@127.0.0.1:${connector.port('default') as number}`
    ;[alice, bob] = await Promise.all([connected(url('alice-token')), connected(url('bob-token'))])
    bob.registerDataHandler(fulfil)
  })

  afterAll(async () => {
    await Promise.all([within(alice.disconnect(), 1000), within(bob.disconnect(), 1000)])
    await connector.stop(1000)
    await engine.stop()
  })

  test('an engine that comes up after the connector gets the account set up', async () => {
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(engine.accountsCreated).toHaveLength(0)
    await engine.start(enginePort)
    await eventually(() => engine.accountsCreated.includes('bob') ? true : undefined, 3000)
  })

  test('an engine that answers 404 (it lost the account) gets it set up again, then the settlement', async () => {
    const created = engine.accountsCreated.length
    engine.failNext = 1
    engine.failStatus = 404
    // alice pays bob 150: −150 ≤ −100 → settle 150, bob back to 0.
    expect(await pay(alice, 'test.bob', 150)).toBe('fulfill')
    await eventually(() => engine.settled.size === 1 ? true : undefined, 3000)
    expect(engine.accountsCreated.length).toBe(created + 1)
    expect(engine.settleRequests.map(r => r.amount)).toStrictEqual(['150', '150'])
    expect(balance('bob')).toBe('0')
    expect(await store.list(OUTGOING_COLLECTION)).toHaveLength(0)
  })

  test('a settlement the engine refuses for good (400) is not retried nor refunded: kept, marked failed', async () => {
    engine.failNext = 1
    engine.failStatus = 400
    const before = engine.settleRequests.length
    // alice pays bob 120: −120 → settle 120, bob back to 0 (debited first; RFC 0038: no refund).
    expect(await pay(alice, 'test.bob', 120)).toBe('fulfill')
    await eventually(async () => {
      const records = await store.list(OUTGOING_COLLECTION)
      return records.length === 1 && (records[0].value as OutgoingSettlementRecord).failed !== undefined ? records : undefined
    }, 3000)
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(engine.settleRequests.length).toBe(before + 1)
    expect(engine.settled.size).toBe(1)
    expect(balance('bob')).toBe('0')
    const [record] = await store.list(OUTGOING_COLLECTION)
    expect(record.value).toMatchObject({ account: 'bob', amount: '120', failed: expect.stringMatching(/400/) })
  })

  test('a peer.settle message while our engine is down is rejected T00, and the packet path is untouched', async () => {
    await engine.stop()
    const reply = parseReply(await bob.sendData(IlpPacket.serializeIlpPrepare({
      destination: 'peer.settle', amount: '0', executionCondition: sha256(Buffer.alloc(32)), expiresAt: new Date(Date.now() + 5000), data: Buffer.from('hi')
    })))
    expect(reply).toMatchObject({ type: 'reject', code: 'T00', triggeredBy: 'peer.settle' })
    expect(connector.packetsInFlight).toBe(0)
    // alice pays bob 50 (no settlement due: −50 > −100): payments go on while the engine is away.
    expect(await pay(alice, 'test.bob', 50)).toBe('fulfill')
    expect(balance('bob')).toBe('-50')
  })
})

test('idempotency keys are pruned after their retention (at least a day), not before', async () => {
  const store = new MemoryStore()
  let now = 1_000_000_000_000
  const day = 86_400_000
  const service = new SettlementService({
    config: { host: '127.0.0.1', port: 0, idempotencyKeyRetentionMs: day, retryMinDelayMs: 10, retryMaxDelayMs: 10, requestTimeoutMs: 100 },
    accounts: new Map(),
    store,
    log: pino({ level: 'silent' }),
    now: () => now,
    tell: () => true,
    peerRequest: async () => { throw new Error('unused') },
    sendTransfer: async () => { throw new Error('unused') },
    sendFrame: () => true,
    transferAnswer: () => Buffer.alloc(0)
  })
  const record = (at: number): unknown => ({ account: 'bob', amount: '1', scale: 0, credited: '1', response: { amount: '1', scale: 0 }, at })
  store.put(INCOMING_COLLECTION, 'bob/old', record(now - day - 1))
  store.put(INCOMING_COLLECTION, 'bob/exactly-a-day', record(now - day))
  store.put(INCOMING_COLLECTION, 'bob/recent', record(now - 1000))
  expect(await service.prune()).toBe(1)
  expect((await store.list(INCOMING_COLLECTION)).map(r => r.key)).toStrictEqual(['bob/exactly-a-day', 'bob/recent'])
  now += day
  expect(await service.prune()).toBe(2)
  expect(await store.list(INCOMING_COLLECTION)).toHaveLength(0)
  await service.stop()
})

test('a peer cannot keep more than 4 peer.settle messages waiting for a slow engine: the fifth gets T03 at once', async () => {
  // An engine that sets accounts up at once but never answers a message.
  const hanging: http.ServerResponse[] = []
  const slowEngine = http.createServer((req, res) => {
    if (req.url?.endsWith('/messages') === true) { hanging.push(res); return }
    res.writeHead(201, { 'Content-Type': 'application/json' }).end('{}')
  })
  await new Promise<void>(resolve => slowEngine.listen(0, '127.0.0.1', resolve))
  const port = (slowEngine.address() as { port: number }).port
  const c = createConnector(validateConfig({
    ilpAddress: 'test.a',
    listeners: { default: { port: 0 } },
    settlement: { port: 0, requestTimeoutMs: 1000 },
    accounts: {
      bob: {
        relation: 'peer', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'bob-token' },
        settlement: { threshold: '-100', settleTo: '0', method: { type: 'rfc0038', url: `http://127.0.0.1:${port}` } }
      }
    }
  }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await c.start()
  const peer = await connected(`btp+ws://:bob-token@127.0.0.1:${c.port('default') as number}`)
  try {
    const message = (): Promise<Buffer> => peer.sendData(IlpPacket.serializeIlpPrepare({
      destination: 'peer.settle', amount: '0', executionCondition: sha256(Buffer.alloc(32)), expiresAt: new Date(Date.now() + 10000), data: Buffer.from('m')
    }))
    const waiting = [message(), message(), message(), message()]
    await eventually(() => hanging.length === 4 ? true : undefined, 3000)
    const started = Date.now()
    expect(parseReply(await message())).toMatchObject({ type: 'reject', code: 'T03' })
    expect(Date.now() - started).toBeLessThan(1000)
    // The four waiting ones end with the engine's timeout (T00), not never.
    for (const reply of await Promise.all(waiting)) expect(parseReply(reply)).toMatchObject({ type: 'reject', code: 'T00' })
  } finally {
    for (const res of hanging) res.destroy()
    await within(peer.disconnect(), 1000)
    await c.stop(500)
    await new Promise(resolve => slowEngine.close(resolve))
  }
})
