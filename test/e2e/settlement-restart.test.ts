/**
 * Settlement survives kill -9: the real connector process, a minimal RFC 0038 engine run by the test,
 * and ilp-plugin-btp peers. Settlements debited before the kill are performed after the restart with
 * the same idempotency key, exactly once; an incoming settlement credited before the kill is not
 * credited again when the engine repeats it afterwards. Balances (what the account owes the connector)
 * are read from the data directory and worked out by hand.
 *
 * bob (engine) and carol (BTP TRANSFER, creditIncoming) both settle at −1000 down to 0.
 */

import path from 'path'
import pino from 'pino'
import { startConnector, tempDir, freePort, eventually, RunningConnector } from '../helpers/connectorProcess'
import { connected, within, Plugin, moneyPlugin, MoneyPlugin, payCarryingFulfillment as pay, fulfilFromData as fulfil } from '../helpers/ilp'
import { TestEngine, creditIncoming } from '../helpers/settlementEngine'
import { LevelStore } from '../../src/store/LevelStore'
import { OUTGOING_COLLECTION, INCOMING_COLLECTION } from '../../src/settlement/records'

jest.setTimeout(60000)

interface Persisted { balances: Map<string, string>; pendingOut: unknown[]; incomingKeys: string[] }

async function persisted (cwd: string): Promise<Persisted> {
  const store = await LevelStore.open(path.join(cwd, 'data'), { durability: 'strict', fastFlushIntervalMs: 100, log: pino({ level: 'silent' }) })
  try {
    return {
      balances: new Map(store.accounts().map(r => [r.id, r.balance])),
      pendingOut: (await store.list(OUTGOING_COLLECTION)).map(r => r.value),
      incomingKeys: (await store.list(INCOMING_COLLECTION)).map(r => r.key)
    }
  } finally {
    await store.close()
  }
}

test('kill -9 in the middle of settling: nothing lost, nothing doubled', async () => {
  const engine = new TestEngine()
  await engine.start()
  const [btpPort, apiPort] = [await freePort(), await freePort()]
  const cwd = tempDir()
  const config = {
    ilpAddress: 'test.a',
    listeners: { default: { port: btpPort } },
    settlement: { port: apiPort, retryMinDelayMs: 50, retryMaxDelayMs: 300, requestTimeoutMs: 2000 },
    accounts: {
      alice: { relation: 'child', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'alice-token' } },
      bob: {
        relation: 'peer', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'bob-token' },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'rfc0038', url: engine.url } }
      },
      carol: {
        relation: 'peer', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'carol-token' },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'btp-transfer', creditIncoming: true } }
      }
    },
    routes: [{ prefix: 'test.bob', account: 'bob' }, { prefix: 'test.carol', account: 'carol' }]
  }
  const url = (token: string): string => `btp+ws://:${token}@127.0.0.1:${btpPort}`
  let connector: RunningConnector | undefined
  let plugins: Plugin[] = []
  try {
    // ---- before the kill ----
    connector = await startConnector({ config, cwd })
    engine.failNext = Number.MAX_SAFE_INTEGER // the engine is down: every settlement request gets 503
    const alice = await connected(url('alice-token'))
    const bob = await connected(url('bob-token'))
    const carol = moneyPlugin(url('carol-token'))
    await carol.connect()
    carol.refuseMoney = Number.MAX_SAFE_INTEGER // carol takes no TRANSFER for now
    plugins = [alice, bob, carol]
    bob.registerDataHandler(fulfil)
    carol.registerDataHandler(fulfil)

    // alice pays bob 1200: bob −1200 ≤ −1000 → debited 1200, back to 0; the engine refuses (503) again and again.
    expect(await pay(alice, 'test.bob', 1200)).toBe('fulfill')
    // alice pays carol 1500: carol −1500 → debited 1500, back to 0; carol refuses the TRANSFER again and again.
    expect(await pay(alice, 'test.carol', 1500)).toBe('fulfill')
    await eventually(() => engine.settleRequests.length >= 2 && carol.refused.length >= 2 ? true : undefined, 10000)
    const bobKey = engine.settleRequests[0].key
    const carolKey = carol.refused[0].key
    expect(engine.settleRequests.every(r => r.key === bobKey && r.amount === '1200' && r.scale === 6)).toBe(true)
    expect(carol.refused.every(r => r.key === carolKey && r.amount === '1500')).toBe(true)

    // Money comes in: bob's engine says 0.000400 XRP arrived (scale 6: 400): bob 0 − 400 = −400.
    const credit = await creditIncoming(apiPort, 'bob', 'incoming-1', { amount: '400', scale: 6 })
    expect(credit.status).toBe(201)
    // carol pays us 300 in-band: carol 0 − 300 = −300.
    await carol.sendMoney('300')

    // ---- kill -9 ----
    await connector.stop('SIGKILL')
    await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
    const atKill = await persisted(cwd)
    // alice owes us what she paid through us: 1200 + 1500 = 2700.
    expect(Object.fromEntries(atKill.balances)).toStrictEqual({ alice: '2700', bob: '-400', carol: '-300' })
    // Both settlements are still owed (debited, not yet accepted), under their keys.
    expect(atKill.pendingOut).toHaveLength(2)
    expect(atKill.incomingKeys).toContain('bob/incoming-1')

    // ---- restart: the engine is back, carol takes TRANSFERs again ----
    engine.failNext = 0
    const requestsBefore = engine.settleRequests.length
    connector = await startConnector({ config, cwd })
    const carol2 = moneyPlugin(url('carol-token'))
    await carol2.connect()
    plugins = [carol2]
    await eventually(() => engine.settled.size === 1 && carol2.received.length === 1 ? true : undefined, 10000)
    // The same settlements, with the same keys, performed once each.
    expect([...engine.settled.keys()]).toStrictEqual([bobKey])
    expect(engine.settledTotal('bob')).toBe(1200n)
    expect(engine.settleRequests.slice(requestsBefore).every(r => r.key === bobKey)).toBe(true)
    expect(carol2.received).toStrictEqual([{ amount: '1500', key: carolKey }])

    // The engine repeats the incoming settlement (it never saw our answer): same answer, no second credit.
    const repeat = await creditIncoming(apiPort, 'bob', 'incoming-1', { amount: '400', scale: 6 })
    expect(repeat.status).toBe(201)
    expect(repeat.json()).toStrictEqual({ amount: '400', scale: 6 })

    // Give a wrongly repeated settlement every chance to show up, then stop cleanly and look.
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(engine.settled.size).toBe(1)
    expect(carol2.received).toHaveLength(1)
    await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
    plugins = []
    expect(await connector.stop('SIGTERM')).toBe(0)
    const after = await persisted(cwd)
    // Unchanged by the restart: the repeated credit did not count again, the settlements were debited once.
    expect(Object.fromEntries(after.balances)).toStrictEqual({ alice: '2700', bob: '-400', carol: '-300' })
    expect(after.pendingOut).toHaveLength(0)
  } finally {
    await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
    await connector?.stop('SIGKILL')
    await engine.stop()
  }
})
