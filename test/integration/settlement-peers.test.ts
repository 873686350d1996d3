/**
 * Two Metamorphosis connectors peered with each other settle both ways: through RFC 0038 engines (one per
 * connector, run by the test: when A's engine is asked to settle it "pays" by telling B's connector, as
 * B's engine would on seeing the money arrive) and in-band with BTP TRANSFER. Each side keeps its own
 * balance of the other: on A, what B owes A; on B, what A owes B. After a settlement both come back
 * to 0, each worked out by hand below.
 *
 *   alice (child of A) ── A ══ b-engine / b-transfer ══ a-engine / a-transfer ── B ── carl, dora (children of B)
 */

import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, within, Plugin, payCarryingFulfillment as pay, fulfilFromData as fulfil } from '../helpers/ilp'
import { tempDir, eventually } from '../helpers/connectorProcess'
import { TestEngine, creditIncoming, sendMessage } from '../helpers/settlementEngine'

let engineA: TestEngine
let engineB: TestEngine
let A: Connector
let B: Connector
let alice: Plugin
let carl: Plugin
let dora: Plugin
const settling = { retryMinDelayMs: 20, retryMaxDelayMs: 200, requestTimeoutMs: 2000, port: 0 }

beforeAll(async () => {
  engineA = new TestEngine()
  engineB = new TestEngine()
  await Promise.all([engineA.start(), engineB.start()])
  const account = (link: unknown, settlement: unknown): unknown => ({ relation: 'peer', assetCode: 'EUR', assetScale: 4, link, settlement })
  A = createConnector(validateConfig({
    ilpAddress: 'test.a',
    dataDir: tempDir(),
    listeners: { default: { port: 0 } },
    settlement: settling,
    accounts: {
      alice: { relation: 'child', assetCode: 'EUR', assetScale: 4, link: { type: 'btp-server', token: 'alice-token' } },
      'b-engine': account({ type: 'btp-server', token: 'b-engine-token' }, { threshold: '-1000', method: { type: 'rfc0038', url: engineA.url } }),
      'b-transfer': account({ type: 'btp-server', token: 'b-transfer-token' }, { threshold: '-1000', settleTo: '-200', method: { type: 'btp-transfer', creditIncoming: true } })
    },
    routes: [{ prefix: 'test.b.carl', account: 'b-engine' }, { prefix: 'test.b.dora', account: 'b-transfer' }]
  }), { logger: pino({ level: 'silent' }) })
  await A.start()
  const aUrl = (token: string): string => `btp+ws://:${token}@127.0.0.1:${A.port('default') as number}`
  B = createConnector(validateConfig({
    ilpAddress: 'test.b',
    dataDir: tempDir(),
    listeners: { default: { port: 0 } },
    settlement: settling,
    accounts: {
      carl: { relation: 'child', assetCode: 'EUR', assetScale: 4, link: { type: 'btp-server', token: 'carl-token' } },
      dora: { relation: 'child', assetCode: 'EUR', assetScale: 4, link: { type: 'btp-server', token: 'dora-token' } },
      'a-engine': account({ type: 'btp-client', url: aUrl('b-engine-token') }, { method: { type: 'rfc0038', url: engineB.url } }),
      'a-transfer': account({ type: 'btp-client', url: aUrl('b-transfer-token') }, { method: { type: 'btp-transfer', creditIncoming: true } })
    }
  }), { logger: pino({ level: 'silent' }) })
  await B.start()
  const bUrl = (token: string): string => `btp+ws://:${token}@127.0.0.1:${B.port('default') as number}`
  ;[alice, carl, dora] = await Promise.all([connected(aUrl('alice-token')), connected(bUrl('carl-token')), connected(bUrl('dora-token'))])
  carl.registerDataHandler(fulfil)
  dora.registerDataHandler(fulfil)
  await eventually(() => A.account('b-engine')?.connections === 1 && A.account('b-transfer')?.connections === 1 ? true : undefined, 5000)
  // What A's engine settles, B's engine sees arrive and reports to B (same key, same quantity).
  engineA.onSettle = request => { void creditIncoming(B.settlementPort as number, 'a-engine', `ledger-tx-${request.key ?? ''}`, { amount: request.amount, scale: request.scale }) }
})

afterAll(async () => {
  await Promise.all([alice, carl, dora].map(async p => await within(p.disconnect(), 1000)))
  await B.stop(1000)
  await A.stop(1000)
  await Promise.all([engineA.stop(), engineB.stop()])
})

test('through the engines: A owes B past the threshold, A\'s engine settles, B credits it; both sides back to 0', async () => {
  // alice pays carl 700 through A and B: on A, b-engine −700; on B, a-engine +700 (A owes B 700).
  expect(await pay(alice, 'test.b.carl', 700)).toBe('fulfill')
  expect(A.account('b-engine')?.balance).toBe('-700')
  expect(B.account('a-engine')?.balance).toBe('700')
  // 500 more: A's b-engine −1200 ≤ −1000 → A settles 1200 (to settleTo 0); B is told 1200 arrived: 1200 − 1200 = 0.
  expect(await pay(alice, 'test.b.carl', 500)).toBe('fulfill')
  expect(A.account('b-engine')?.balance).toBe('0')
  await eventually(() => B.account('a-engine')?.balance === '0' ? true : undefined, 5000)
  expect([...engineA.settled.values()].map(s => [s.account, s.amount, s.scale])).toStrictEqual([['b-engine', '1200', 4]])
  // B's children: carl was paid 1200 by B (B owes carl 1200); alice owes A 1200.
  expect(B.account('carl')?.balance).toBe('-1200')
  expect(A.account('alice')?.balance).toBe('1200')
})

test('engine messages cross between the two connectors over peer.settle, both ways', async () => {
  engineB.answerMessage = data => Buffer.concat([Buffer.from('B-engine-got:'), data])
  engineA.answerMessage = data => Buffer.concat([Buffer.from('A-engine-got:'), data])
  const fromA = await sendMessage(A.settlementPort as number, 'b-engine', Buffer.from('my ledger address is rA'))
  expect(fromA.status).toBe(201)
  expect(fromA.body.toString()).toBe('B-engine-got:my ledger address is rA')
  const fromB = await sendMessage(B.settlementPort as number, 'a-engine', Buffer.from('mine is rB'))
  expect(fromB.status).toBe(201)
  expect(fromB.body.toString()).toBe('A-engine-got:mine is rB')
  expect(engineB.messages.map(m => m.toString())).toContain('my ledger address is rA')
  expect(engineA.messages.map(m => m.toString())).toContain('mine is rB')
})

test('in-band: A sends B a TRANSFER named by its settlement_id, B credits it once; both sides back to settleTo', async () => {
  // alice pays dora 1100: on A, b-transfer −1100 ≤ −1000 → A settles −200 − (−1100) = 900 and is at −200 at once.
  expect(await pay(alice, 'test.b.dora', 1100)).toBe('fulfill')
  expect(A.account('b-transfer')?.balance).toBe('-200')
  // On B, a-transfer was +1100 (A owed B); the TRANSFER of 900 is credited: 1100 − 900 = 200. Mirror images.
  await eventually(() => B.account('a-transfer')?.balance === '200' ? true : undefined, 5000)
  await new Promise(resolve => setTimeout(resolve, 200))
  expect(B.account('a-transfer')?.balance).toBe('200')
})
