/**
 * In-band settlement with BTP TRANSFER, against real ilp-plugin-btp peers (subclassed to send and take
 * TRANSFERs, as settling plugins do). Balances are what the account owes the connector; every expected
 * value is worked out in the comments.
 *
 * carol settles by TRANSFER both ways: threshold -1000, settleTo -100, creditIncoming on.
 * dave settles by TRANSFER too, but his TRANSFERs are not credited (creditIncoming off, the default).
 */

import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, within, Plugin, moneyPlugin, MoneyPlugin, payCarryingFulfillment as pay, fulfilFromData as fulfil } from '../helpers/ilp'
import { tempDir, eventually } from '../helpers/connectorProcess'

let connector: Connector
let alice: Plugin
let carol: MoneyPlugin
let dave: MoneyPlugin

const balance = (id: string): string | undefined => connector.account(id)?.balance

beforeAll(async () => {
  const peer = (token: string, settlement: unknown): unknown => ({ relation: 'peer', assetCode: 'USD', assetScale: 2, link: { type: 'btp-server', token }, settlement })
  connector = createConnector(validateConfig({
    ilpAddress: 'test.a',
    dataDir: tempDir(),
    log: { level: 'silent' },
    listeners: { default: { port: 0 } },
    settlement: { retryMinDelayMs: 20, retryMaxDelayMs: 200, requestTimeoutMs: 2000 },
    accounts: {
      alice: { relation: 'child', assetCode: 'USD', assetScale: 2, link: { type: 'btp-server', token: 'alice-token' } },
      carol: peer('carol-token', { threshold: '-1000', settleTo: '-100', method: { type: 'btp-transfer', creditIncoming: true } }),
      dave: peer('dave-token', { threshold: '-1000', method: { type: 'btp-transfer' } })
    },
    routes: [{ prefix: 'test.carol', account: 'carol' }, { prefix: 'test.dave', account: 'dave' }]
  }), { logger: pino({ level: 'silent' }) })
  await connector.start()
  const url = (token: string): string => `btp+ws://:${token}@127.0.0.1:${connector.port('default') as number}`
  carol = moneyPlugin(url('carol-token'))
  dave = moneyPlugin(url('dave-token'))
  ;[alice] = await Promise.all([connected(url('alice-token')), carol.connect(), dave.connect()])
  carol.registerDataHandler(fulfil)
  dave.registerDataHandler(fulfil)
})

afterAll(async () => {
  await Promise.all([alice, carol, dave].map(async p => await within(p.disconnect(), 1000)))
  await connector.stop(1000)
})

test('owing carol past the threshold sends her a TRANSFER down to settleTo, acknowledged before it counts as done', async () => {
  // alice pays carol 800: carol's balance −800 (above −1000, nothing to settle).
  expect(await pay(alice, 'test.carol', 800)).toBe('fulfill')
  expect(balance('carol')).toBe('-800')
  expect(carol.received).toHaveLength(0)
  // carol refuses the first TRANSFER (a BTP error): it is retried.
  carol.refuseMoney = 1
  // alice pays 400 more: −1200 ≤ −1000 → settle −100 − (−1200) = 1100; carol's balance is −100 at once.
  expect(await pay(alice, 'test.carol', 400)).toBe('fulfill')
  expect(balance('carol')).toBe('-100')
  await eventually(() => carol.received.length === 1 ? true : undefined, 5000)
  expect(carol.received[0].amount).toBe('1100')
  // Our TRANSFER names its settlement, the same on every attempt.
  expect(carol.received[0].key).toMatch(/^[0-9a-f-]{36}$/)
  expect(carol.refused).toStrictEqual([{ amount: '1100', key: carol.received[0].key }])
  // alice owes us what she paid through us: 800 + 400 = 1200.
  expect(balance('alice')).toBe('1200')
})

test('a TRANSFER from carol (creditIncoming on) is credited once it is stored', async () => {
  // carol pays us 300 in-band: what she owes falls by 300: −100 − 300 = −400.
  await carol.sendMoney('300')
  expect(balance('carol')).toBe('-400')
  await carol.sendMoney('50')
  expect(balance('carol')).toBe('-450')
  // A TRANSFER named by a settlement_id (as Metamorphosis sends them) and resent is credited once: −450 − 25 = −475.
  await carol.sendMoney('25', 'carol-settlement-1')
  await carol.sendMoney('25', 'carol-settlement-1')
  expect(balance('carol')).toBe('-475')
  // Reusing the id for another amount is refused.
  await expect(carol.sendMoney('26', 'carol-settlement-1')).rejects.toThrow(/different amount/)
  expect(balance('carol')).toBe('-475')
})

test('a TRANSFER from dave (creditIncoming off) is refused with a BTP error and credits nothing', async () => {
  await expect(dave.sendMoney('500')).rejects.toThrow(/not accepted/)
  expect(balance('dave')).toBe('0')
  // His link still works.
  expect(await pay(alice, 'test.dave', 10)).toBe('fulfill')
  expect(balance('dave')).toBe('-10')
})

test('a settlement whose peer goes offline is retried, with the same key, until the peer is back and takes it', async () => {
  // dave refuses the next TRANSFER and drops his link right after.
  dave.refuseMoney = 1
  dave.onRefused = () => { void dave.disconnect() }
  // alice pays dave 990 more: −10 − 990 = −1000 ≤ −1000 → settle 0 − (−1000) = 1000 (dave's settleTo is the default 0).
  expect(await pay(alice, 'test.dave', 990)).toBe('fulfill')
  expect(balance('dave')).toBe('0')
  await eventually(() => dave.refused.length === 1 ? true : undefined, 3000)
  expect(dave.received).toHaveLength(0)
  await eventually(() => connector.account('dave')?.connections === 0 ? true : undefined, 3000)
  // Retries fail while he is away (no link); he comes back with a new connection and the TRANSFER arrives.
  await new Promise(resolve => setTimeout(resolve, 300))
  const back = moneyPlugin(`btp+ws://:dave-token@127.0.0.1:${connector.port('default') as number}`)
  back.registerDataHandler(fulfil)
  await back.connect()
  await eventually(() => back.received.length === 1 ? true : undefined, 5000)
  expect(back.received[0]).toStrictEqual({ amount: '1000', key: dave.refused[0].key })
  // Exactly once: nothing more arrives, and the balance stays at settleTo.
  await new Promise(resolve => setTimeout(resolve, 300))
  expect(back.received).toHaveLength(1)
  expect(balance('dave')).toBe('0')
  dave = back
})
