/**
 * Settlement with `storage.durability: "fast"`, where a crash may lose the last flush interval of
 * balance changes: a settlement must still never be paid before its debit is on disk, or a kill -9
 * right after it would make the connector pay it again (found in review: 2,100 paid for 1,200 owed).
 */
import path from 'path'
import pino from 'pino'
import { startConnector, tempDir, freePort, eventually, RunningConnector } from '../helpers/connectorProcess'
import { connected, within, Plugin, payCarryingFulfillment as pay, fulfilFromData as fulfil } from '../helpers/ilp'
import { TestEngine } from '../helpers/settlementEngine'
import { LevelStore } from '../../src/store/LevelStore'
import { OUTGOING_COLLECTION } from '../../src/settlement/records'

jest.setTimeout(60000)

test('fast durability, kill -9 just after a settlement: it is not paid twice, and the debit survived', async () => {
  const engine = new TestEngine()
  await engine.start()
  const [btpPort, apiPort] = [await freePort(), await freePort()]
  const cwd = tempDir()
  const config = {
    ilpAddress: 'test.a',
    // A flush interval far longer than the test: only a forced, synced write can have stored the debit.
    storage: { durability: 'fast', fastFlushIntervalMs: 60000 },
    listeners: { default: { port: btpPort } },
    settlement: { port: apiPort, retryMinDelayMs: 50, retryMaxDelayMs: 300, requestTimeoutMs: 2000 },
    accounts: {
      alice: { relation: 'child', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'alice-token' } },
      bob: {
        relation: 'peer', assetCode: 'XRP', assetScale: 6, link: { type: 'btp-server', token: 'bob-token' },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'rfc0038', url: engine.url } }
      }
    },
    routes: [{ prefix: 'test.bob', account: 'bob' }]
  }
  const url = (t: string): string => `btp+ws://:${t}@127.0.0.1:${btpPort}`
  let connector: RunningConnector | undefined
  let plugins: Plugin[] = []
  try {
    connector = await startConnector({ config, cwd })
    let alice = await connected(url('alice-token'))
    let bob = await connected(url('bob-token'))
    plugins = [alice, bob]
    bob.registerDataHandler(fulfil)
    // We owe bob 900, then 1,100: past the threshold of 1,000, we settle 1,100 (down to 0).
    expect(await pay(alice, 'test.bob', 900)).toBe('fulfill')
    expect(await pay(alice, 'test.bob', 200)).toBe('fulfill')
    await eventually(() => engine.settled.size === 1 ? true : undefined, 5000)
    expect(engine.settledTotal('bob')).toBe(1100n)
    await connector.stop('SIGKILL')
    await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))

    // On disk: the debit (bob at 0, not −1,100) and the settlement's record.
    const store = await LevelStore.open(path.join(cwd, 'data'), { durability: 'strict', fastFlushIntervalMs: 100, log: pino({ level: 'silent' }) })
    expect(store.loadAccount('bob')?.balance).toBe('0')
    expect(await store.list(OUTGOING_COLLECTION)).toHaveLength(1)
    await store.close()

    connector = await startConnector({ config, cwd })
    alice = await connected(url('alice-token'))
    bob = await connected(url('bob-token'))
    plugins = [alice, bob]
    bob.registerDataHandler(fulfil)
    expect(await pay(alice, 'test.bob', 100)).toBe('fulfill')
    await new Promise(resolve => setTimeout(resolve, 1000))
    // 1,200 fulfilled to bob in all; 1,100 settled once (the resumed record has the same key); 100 still owed.
    expect(engine.settledTotal('bob')).toBe(1100n)
  } finally {
    await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
    await connector?.stop('SIGKILL')
    await engine.stop()
  }
})
