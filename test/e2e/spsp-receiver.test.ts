/**
 * The receiver in the real process (`node dist/src/main.js`), as an operator runs it: the npm
 * `ilp-protocol-spsp` client resolves the payment pointer over HTTP and pays over STREAM through the
 * connector. The admin API shows what was credited (GET /accounts/:id/receipts); after a graceful stop
 * the data directory holds the same: read back with the store, it equals what the sender saw
 * delivered, and the account's balance is its negative.
 */
import path from 'path'
import pino from 'pino'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { connected, within, Plugin } from '../helpers/ilp'
import { LevelStore } from '../../src/store/LevelStore'
import { adminClient, adminPort, ADMIN_TOKEN } from '../helpers/admin'
import { TOTALS_COLLECTION, RECEIPTS_COLLECTION, ReceiverTotals, ReceiptRecord } from '../../src/receiver/records'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const SPSP = require('ilp-protocol-spsp') as { pay: (plugin: Plugin, opts: { receiver: string; sourceAmount: string }) => Promise<{ totalSent: string }> }

let conn: RunningConnector
const plugins: Plugin[] = []

beforeAll(async () => {
  conn = await startConnector({
    config: {
      ilpAddress: 'test.e',
      listeners: { default: { port: 0 } },
      spsp: { port: 0 },
      accounts: {
        payer: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'payer-token' } },
        tips: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'receiver', wellKnown: true } }
      },
      admin: { enabled: true, port: 0, token: ADMIN_TOKEN }
    }
  })
}, 30000)

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
  await within(conn.stop('SIGKILL'), 3000)
})

test('two payments to $host/tips and $host: stored totals and receipts equal what was delivered', async () => {
  const started = conn.logs.find(l => l.msg === 'connector started') as unknown as { spspPort: number }
  const spsp = `http://127.0.0.1:${started.spspPort}`
  const pay = async (receiver: string, amount: string): Promise<string> => {
    const plugin = await connected(conn.url('payer-token'))
    plugins.push(plugin)
    return (await SPSP.pay(plugin, { receiver, sourceAmount: amount })).totalSent
  }
  // XRP scale 9 on both accounts, no spread: each packet delivers what it carries, so delivered = sent.
  expect(await pay(`${spsp}/tips`, '7000000')).toBe('7000000')
  expect(await pay(spsp, '333')).toBe('333')

  // The admin API shows them: GET /accounts/tips/receipts.
  const admin = adminClient(adminPort(conn))
  const shown = await admin.call('GET', '/accounts/tips/receipts')
  expect(shown.status).toBe(200)
  expect(shown.body).toMatchObject({ account: 'tips', address: 'test.e.tips', amount: '7000333' })
  expect((shown.body.receipts as ReceiptRecord[]).map(r => r.amount)).toEqual(['7000000', '333'])
  const notReceiver = await admin.call('GET', '/accounts/payer/receipts')
  expect(notReceiver.status).toBe(404)
  expect(notReceiver.body.error).toContain('not a receiving account')
  expect((await admin.call('GET', '/accounts/tips')).body.link).toEqual({ type: 'receiver', wellKnown: true })

  expect(await conn.stop('SIGTERM')).toBe(0)

  const store = await LevelStore.open(path.join(conn.cwd, 'data'), { durability: 'strict', fastFlushIntervalMs: 100, log: pino({ level: 'silent' }) })
  try {
    const totals = await store.get(TOTALS_COLLECTION, 'tips') as ReceiverTotals
    // 7000000 + 333 = 7000333.
    expect(totals.amount).toBe('7000333')
    const receipts = (await store.list(RECEIPTS_COLLECTION)).map(r => r.value as ReceiptRecord)
    expect(receipts.map(r => r.amount).sort()).toEqual(['333', '7000000'])
    expect(receipts.reduce((n, r) => n + r.packets, 0)).toBe(totals.packets)
    expect(store.loadAccount('tips')?.balance).toBe('-7000333')
    expect(store.loadAccount('payer')?.balance).toBe('7000333')
  } finally {
    await store.close()
  }
}, 40000)
