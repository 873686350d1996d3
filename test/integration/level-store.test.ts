/**
 * The LevelDB store against real directories: round trips across restarts, group commit (few batches,
 * callbacks only after their batch is on disk), flush, both durability modes, the schema version and
 * the upgrade path, and refusing damaged, foreign, newer or locked directories without changing them.
 * Expected values come from the Store contract, not from running the code.
 */
import fs from 'fs'
import os from 'os'
import path from 'path'
import { Level } from 'level'
import pino from 'pino'
import { LevelStore, StoreError, SCHEMA_VERSION, encode, decode } from '../../src/store/LevelStore'
import type { LevelStoreOptions, Migration } from '../../src/store/LevelStore'
import { MemoryStore } from '../../src/store/MemoryStore'
import type { AccountRecord, ProvisionedAccount } from '../../src/store/Store'

const log = pino({ level: 'silent' })

// ---------------------------------------------------------------------------------------------------
// Helpers

const directories: string[] = []
function tempDir (): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-level-store-'))
  directories.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true })
})
afterEach(() => {
  jest.restoreAllMocks()
})

async function openStore (dir: string, options: Partial<LevelStoreOptions> = {}): Promise<LevelStore> {
  return await LevelStore.open(dir, { durability: 'strict', fastFlushIntervalMs: 50, log, ...options })
}

function rawDb (dir: string): Level<string, Buffer> {
  return new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
}

/** Writes raw entries with a plain Level (no LevelStore involved). */
async function writeRaw (dir: string, entries: Array<[string, Buffer]>): Promise<void> {
  const db = rawDb(dir)
  await db.open()
  try {
    for (const [key, value] of entries) await db.put(key, value)
  } finally {
    await db.close()
  }
}

async function readRaw (dir: string, key: string): Promise<Buffer | undefined> {
  const db = rawDb(dir)
  await db.open()
  try {
    return await db.get(key)
  } finally {
    await db.close()
  }
}

/** Every key and value in the directory, byte for byte (hex). */
async function dump (dir: string): Promise<Array<[string, string]>> {
  const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  const out: Array<[string, string]> = []
  try {
    for await (const [key, value] of db.iterator()) out.push([key.toString('hex'), value.toString('hex')])
  } finally {
    await db.close()
  }
  return out
}

/** The files of a LevelDB directory and their contents (hex), except the human-readable info logs. */
function fileContents (dir: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === 'LOG' || name === 'LOG.old') continue
    out.set(name, fs.readFileSync(path.join(dir, name)).toString('hex'))
  }
  return out
}

async function waitFor (condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return true
}

const byId = (a: AccountRecord, b: AccountRecord): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

interface BatchCall {
  options: unknown
  ops: Array<{ type: string; key: string; value?: Buffer }>
  resolved: boolean
}

/**
 * Spies on Level.prototype.batch, calling through. Records each call (ops, options) and, when its
 * promise resolves, what is durable: `durable` maps key → the decoded value of the last resolved put.
 */
function spyOnBatch (delayMs = 0): { calls: BatchCall[], durable: Map<string, unknown>, events: string[] } {
  const calls: BatchCall[] = []
  const durable = new Map<string, unknown>()
  const events: string[] = []
  type AnyFn = (...args: unknown[]) => unknown
  const proto = Level.prototype as unknown as { batch: AnyFn }
  const realBatch = proto.batch
  jest.spyOn(proto, 'batch').mockImplementation(function (this: unknown, ...args: unknown[]) {
    if (args.length === 0) return realBatch.apply(this, args) // chained batch: not used by the store
    const call: BatchCall = { options: args[1], ops: [...(args[0] as BatchCall['ops'])], resolved: false }
    calls.push(call)
    const index = calls.length - 1
    events.push(`batch ${index} called`)
    return (async () => {
      if (delayMs > 0) await new Promise(resolve => setTimeout(resolve, delayMs))
      await (realBatch.apply(this, args) as Promise<void>)
      for (const op of call.ops) {
        if (op.type === 'put' && op.value !== undefined) durable.set(op.key, decode(op.value))
        else durable.delete(op.key)
      }
      call.resolved = true
      events.push(`batch ${index} resolved`)
    })()
  })
  return { calls, durable, events }
}

/**
 * Closes a strict store that may have got stuck (see the afterCommit tests): a stuck store must not be
 * closed through store.close(), whose flush() would then spin forever without yielding to the event loop
 * (no jest timeout could end it). A probe save shows whether commits still happen; if not, only the
 * underlying database is closed.
 */
async function closeSafely (store: LevelStore): Promise<void> {
  let committed = false
  store.saveBalance('__probe__', 1n)
  store.afterCommit(() => { committed = true })
  if (await waitFor(() => committed, 2000)) await store.close()
  else await (store as unknown as { db: Level<string, Buffer> }).db.close()
}

const provisioned: ProvisionedAccount = {
  listener: 'default',
  relation: 'child',
  assetCode: 'USD',
  assetScale: 9,
  address: 'g.example.carol',
  minBalance: '-1000000',
  maxBalance: '5000000000',
  maxPacketAmount: '100000',
  createdAt: 1700000000123
}

// ---------------------------------------------------------------------------------------------------
// 1. Round trip

describe('round trip', () => {
  const TWO_POW_70_NEG = '-1180591620717411303424' // -(2^70)
  const TWO_POW_80 = '1208925819614629174706176' // 2^80

  test('saved accounts and balances (beyond 64 bits, with provisioned settings) come back after a restart; last write wins', async () => {
    const dir = tempDir()
    let store = await openStore(dir)
    try {
      store.saveAccount({ id: 'alice', balance: '0' })
      store.saveBalance('alice', -(2n ** 70n))
      store.saveBalance('bob', 2n ** 80n) // never saved with saveAccount
      store.saveAccount({ id: 'carol', balance: '0', provisioned: { ...provisioned } })
      store.saveBalance('carol', 42n) // keeps the provisioned settings
      store.saveBalance('dave', 1n)
      store.saveBalance('dave', 2n)
      await store.flush() // part of the history in an earlier batch
      store.saveBalance('dave', 3n)
      store.saveAccount({ id: 'dave', balance: '-7' })
      store.saveAccount({ id: 'erin', balance: '5' })
      store.saveBalance('erin', 6n)
      store.saveAccount({ id: 'frank', balance: '1', provisioned: { ...provisioned, listener: 'other' } })
      store.saveAccount({ id: 'frank', balance: '9' }) // a whole record replaces the previous one
    } finally {
      await store.close()
    }

    const expected: AccountRecord[] = [
      { id: 'alice', balance: TWO_POW_70_NEG },
      { id: 'bob', balance: TWO_POW_80 },
      { id: 'carol', balance: '42', provisioned },
      { id: 'dave', balance: '-7' },
      { id: 'erin', balance: '6' },
      { id: 'frank', balance: '9' }
    ]

    store = await openStore(dir)
    try {
      expect(store.accounts().sort(byId)).toStrictEqual(expected)
      for (const record of expected) expect(store.loadAccount(record.id)).toStrictEqual(record)
      expect(store.loadAccount('nobody')).toBeUndefined()
    } finally {
      await store.close()
    }
  })

  test('loadAccount of an unknown id is undefined, on a fresh store and on a reopened one', async () => {
    const dir = tempDir()
    let store = await openStore(dir)
    expect(store.loadAccount('ghost')).toBeUndefined()
    expect(store.accounts()).toStrictEqual([])
    store.saveBalance('someone', 1n)
    await store.close()
    store = await openStore(dir)
    expect(store.loadAccount('ghost')).toBeUndefined()
    await store.close()
  })

  test('loadAccount and accounts() return copies: mutating them does not change the store', async () => {
    const dir = tempDir()
    const store = await openStore(dir)
    try {
      store.saveAccount({ id: 'carol', balance: '10', provisioned: { ...provisioned } })
      const copy = store.loadAccount('carol') as AccountRecord
      copy.balance = '999'
      copy.id = 'mallory'
      delete copy.provisioned
      const listed = store.accounts()
      listed[0].balance = '12345'
      listed.pop()
      expect(store.loadAccount('carol')).toStrictEqual({ id: 'carol', balance: '10', provisioned })
      expect(store.loadAccount('mallory')).toBeUndefined()
      expect(store.accounts()).toStrictEqual([{ id: 'carol', balance: '10', provisioned }])
    } finally {
      await store.close()
    }
  })

  test('loadAccount returns a copy all the way down: mutating its provisioned settings does not change the store', async () => {
    const dir = tempDir()
    let store = await openStore(dir)
    try {
      store.saveAccount({ id: 'carol', balance: '10', provisioned: { ...provisioned } })
      await store.flush()
      const copy = store.loadAccount('carol') as AccountRecord
      ;(copy.provisioned as ProvisionedAccount).listener = 'hijacked'
      ;(copy.provisioned as ProvisionedAccount).maxBalance = '0'
      expect(store.loadAccount('carol')).toStrictEqual({ id: 'carol', balance: '10', provisioned })
      store.saveBalance('carol', 11n) // the next write of this account must not carry the caller's mutation
    } finally {
      await store.close()
    }
    store = await openStore(dir)
    try {
      expect(store.loadAccount('carol')).toStrictEqual({ id: 'carol', balance: '11', provisioned })
    } finally {
      await store.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// 2. Group commit

describe('group commit (strict)', () => {
  test('1,000 saves over 200 accounts and 1,000 callbacks in one turn: < 10 batches, each callback once and only after its data is on disk', async () => {
    const dir = tempDir()
    const store = await openStore(dir, { durability: 'strict' })
    const { calls, durable } = spyOnBatch()

    const runs = new Array<number>(1000).fill(0)
    const violations: string[] = []
    const lastSaved = new Map<string, number>()
    for (let i = 0; i < 1000; i++) {
      const id = `acct${i % 200}`
      store.saveBalance(id, BigInt(i))
      lastSaved.set(id, i)
      const mustBeDurable = [...lastSaved] // every save made before this callback was registered
      store.afterCommit(() => {
        runs[i]++
        for (const [accountId, balance] of mustBeDurable) {
          const onDisk = durable.get(`account:${accountId}`) as { balance?: string } | undefined
          if (onDisk === undefined || onDisk.balance === undefined || BigInt(onDisk.balance) < BigInt(balance)) {
            violations.push(`callback ${i} ran before account:${accountId}=${balance} was durable (on disk: ${String(onDisk?.balance)})`)
            return
          }
        }
      })
    }
    // Nothing is acknowledged in the same turn.
    expect(runs.every(n => n === 0)).toBe(true)

    try {
      expect(await waitFor(() => runs.every(n => n > 0), 10000)).toBe(true)
      await store.flush()
      await new Promise(resolve => setTimeout(resolve, 50)) // room for a second (wrong) run of any callback
      expect(runs.filter(n => n !== 1)).toStrictEqual([])
      expect(violations.slice(0, 5)).toStrictEqual([])
      expect(calls.length).toBeGreaterThan(0)
      expect(calls.length).toBeLessThan(10)
      for (const call of calls) expect(call.options).toMatchObject({ sync: true })
      // The final state is what was saved last per account: acct k got 800 + k.
      for (let k = 0; k < 200; k++) expect(durable.get(`account:acct${k}`)).toStrictEqual({ id: `acct${k}`, balance: String(800 + k) })
    } finally {
      await store.close()
    }
  })

  test('a callback registered while a batch is in flight, with no new saves, waits for that batch', async () => {
    const dir = tempDir()
    const store = await openStore(dir, { durability: 'strict' })
    const { calls, events } = spyOnBatch(300) // a slow disk: each batch takes >= 300 ms
    let alive = false
    try {
      store.saveBalance('a', 1n)
      store.afterCommit(() => events.push('cb1'))
      await new Promise(resolve => setTimeout(resolve, 50)) // batch 0 is in flight now
      expect(calls.length).toBe(1)
      expect(calls[0].resolved).toBe(false)
      store.afterCommit(() => events.push('cb2'))
      expect(await waitFor(() => events.includes('cb2'), 3000)).toBe(true)
      expect(events.indexOf('batch 0 resolved')).toBeGreaterThanOrEqual(0)
      expect(events.indexOf('cb1')).toBeGreaterThan(events.indexOf('batch 0 resolved'))
      expect(events.indexOf('cb2')).toBeGreaterThan(events.indexOf('batch 0 resolved'))

      // And the store keeps committing afterwards.
      store.saveBalance('a', 2n)
      store.afterCommit(() => events.push('cb3'))
      alive = await waitFor(() => events.includes('cb3'), 3000)
      expect(alive).toBe(true)
      expect(calls.length).toBe(2)
      expect(events.indexOf('cb3')).toBeGreaterThan(events.indexOf('batch 1 resolved'))
    } finally {
      if (alive) await store.close()
      else await closeSafely(store)
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// 3. afterCommit with nothing dirty

describe('afterCommit with nothing dirty (strict)', () => {
  test('the callback still runs', async () => {
    const dir = tempDir()
    const store = await openStore(dir, { durability: 'strict' })
    let ran = 0
    try {
      store.afterCommit(() => { ran++ })
      expect(ran).toBe(0) // strict: not in the same turn
      expect(await waitFor(() => ran > 0, 3000)).toBe(true)
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(ran).toBe(1)
    } finally {
      await closeSafely(store)
    }
  })

  test('after such a callback, later saves are still committed and later callbacks still run', async () => {
    const dir = tempDir()
    const store = await openStore(dir, { durability: 'strict' })
    const { calls, durable } = spyOnBatch()
    let alive = false
    try {
      store.saveBalance('a', 1n)
      await new Promise<void>(resolve => store.afterCommit(resolve))
      const before = calls.length

      let ran = 0
      store.afterCommit(() => { ran++ }) // nothing dirty now
      expect(await waitFor(() => ran > 0, 3000)).toBe(true)

      let ran2 = 0
      store.saveBalance('a', 2n)
      store.afterCommit(() => { ran2++ })
      alive = await waitFor(() => ran2 > 0, 3000)
      expect(alive).toBe(true)
      expect(calls.length).toBe(before + 1)
      expect(durable.get('account:a')).toStrictEqual({ id: 'a', balance: '2' })
    } finally {
      if (alive) await store.close()
      else await closeSafely(store)
    }
    // Written for real: the value is in the directory.
    expect(decode(await readRaw(dir, 'account:a') as Buffer)).toStrictEqual({ id: 'a', balance: '2' })
  })
})

// ---------------------------------------------------------------------------------------------------
// 4. flush

describe('flush', () => {
  test('resolves only when everything saved is written (including saves made while a batch was in flight)', async () => {
    const dir = tempDir()
    const store = await openStore(dir, { durability: 'strict' })
    const { calls, durable } = spyOnBatch(20)
    const expected = new Map<string, string>()
    let callsBeforeClose: number
    try {
      for (let i = 0; i < 100; i++) {
        store.saveBalance(`f${i}`, BigInt(i) * 1000n - 50000n)
        expected.set(`f${i}`, String(i * 1000 - 50000))
      }
      await new Promise(resolve => setTimeout(resolve, 5)) // the first batch is in flight
      for (let i = 50; i < 150; i++) {
        store.saveBalance(`f${i}`, -(2n ** 70n) + BigInt(i))
        expected.set(`f${i}`, (-(2n ** 70n) + BigInt(i)).toString())
      }
      store.saveBalance('huge', 2n ** 80n)
      expected.set('huge', '1208925819614629174706176')
      await store.flush()
      // Everything is in batches that have completed, before close() had any chance to write.
      expect(calls.every(c => c.resolved)).toBe(true)
      for (const [id, balance] of expected) expect(durable.get(`account:${id}`)).toStrictEqual({ id, balance })
      callsBeforeClose = calls.length
    } finally {
      await store.close()
    }
    expect(calls.length).toBe(callsBeforeClose) // close() found nothing left to write

    const db = rawDb(dir)
    await db.open()
    try {
      for (const [id, balance] of expected) {
        const raw = await db.get(`account:${id}`)
        expect(raw).toBeDefined()
        expect(decode(raw as Buffer)).toStrictEqual({ id, balance })
      }
    } finally {
      await db.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// 5. Fast durability

describe('durability fast', () => {
  test('afterCommit runs at once; saves reach the disk within the flush interval, without fsync', async () => {
    const dir = tempDir()
    let store = await openStore(dir, { durability: 'fast', fastFlushIntervalMs: 50 })
    const { calls, durable } = spyOnBatch()
    try {
      let ran = false
      store.afterCommit(() => { ran = true })
      expect(ran).toBe(true)

      store.saveBalance('x', 5n)
      store.saveAccount({ id: 'y', balance: '-1', provisioned: { ...provisioned } })
      store.saveBalance('z', 2n ** 80n)
      let ran2 = false
      store.afterCommit(() => { ran2 = true })
      expect(ran2).toBe(true)

      await new Promise(resolve => setTimeout(resolve, 300))
      // Written by the periodic flush, before close().
      expect(calls.length).toBeGreaterThan(0)
      expect(durable.get('account:x')).toStrictEqual({ id: 'x', balance: '5' })
      expect(durable.get('account:y')).toStrictEqual({ id: 'y', balance: '-1', provisioned })
      expect(durable.get('account:z')).toStrictEqual({ id: 'z', balance: '1208925819614629174706176' })
      for (const call of calls) expect(call.options).toMatchObject({ sync: false })
    } finally {
      await store.close()
    }

    store = await openStore(dir, { durability: 'fast', fastFlushIntervalMs: 50 })
    try {
      expect(store.accounts().sort(byId)).toStrictEqual([
        { id: 'x', balance: '5' },
        { id: 'y', balance: '-1', provisioned },
        { id: 'z', balance: '1208925819614629174706176' }
      ])
    } finally {
      await store.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// 6.–10. Schema version and refusing directories

describe('schema version', () => {
  test('a fresh directory gets meta:schema = SCHEMA_VERSION', async () => {
    const dir = tempDir()
    const store = await openStore(dir)
    await store.close()
    const raw = await readRaw(dir, 'meta:schema')
    expect(raw).toBeDefined()
    expect(decode(raw as Buffer)).toBe(SCHEMA_VERSION)
  })

  test('a directory written by a newer version is refused, and nothing in it is changed', async () => {
    const dir = tempDir()
    await writeRaw(dir, [
      ['meta:schema', encode(SCHEMA_VERSION + 1)],
      ['account:a', encode({ id: 'a', balance: '5', futureField: true })],
      ['future:thing', Buffer.from([1, 2, 3])]
    ])
    const before = await dump(dir)
    expect(before.length).toBe(3)

    const error = await LevelStore.open(dir, { durability: 'strict', fastFlushIntervalMs: 50, log }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as Error).message).toMatch(/newer/i)
    expect((error as Error).message).toMatch(/nothing was changed/i)

    expect(await dump(dir)).toStrictEqual(before)
  })

  test('a directory with data but no meta:schema is refused, unchanged', async () => {
    const dir = tempDir()
    await writeRaw(dir, [['account:a', encode({ id: 'a', balance: '5' })], ['other', Buffer.from('x')]])
    const before = await dump(dir)

    await expect(openStore(dir)).rejects.toBeInstanceOf(StoreError)

    expect(await dump(dir)).toStrictEqual(before)
  })

  test.each([
    ['an invalid MessagePack byte', Buffer.from([0xc1])],
    ['a map that is not an account', encode({ foo: 1 })]
  ])('a damaged record (%s) is refused with an error naming its key, unchanged', async (_name, damaged) => {
    const dir = tempDir()
    await writeRaw(dir, [
      ['meta:schema', encode(SCHEMA_VERSION)],
      ['account:a', encode({ id: 'a', balance: '5' })],
      ['account:x', damaged]
    ])
    const before = await dump(dir)

    const error = await openStore(dir).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as Error).message).toContain('account:x')

    expect(await dump(dir)).toStrictEqual(before)
  })

  test('a damaged LevelDB directory (garbage CURRENT) is refused; no repair or destroy happens', async () => {
    const dir = tempDir()
    const store = await openStore(dir)
    store.saveBalance('a', 5n)
    await store.close()
    fs.writeFileSync(path.join(dir, 'CURRENT'), Buffer.from([0x00, 0xff, 0x13, 0x37, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65]))
    const before = fileContents(dir)
    const namesBefore = fs.readdirSync(dir)
    expect(namesBefore.length).toBeGreaterThan(1)

    const error = await openStore(dir).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)
    expect((error as Error).message).toContain(`cannot open the data directory ${dir}`)

    const namesAfter = fs.readdirSync(dir)
    for (const name of namesBefore) expect(namesAfter).toContain(name)
    const after = fileContents(dir)
    for (const [name, content] of before) expect([name, after.get(name)]).toStrictEqual([name, content])
  })

  test('opening a directory that is already open is refused (lock held); the first store keeps working', async () => {
    const dir = tempDir()
    const first = await openStore(dir)
    try {
      const error = await openStore(dir).then(async s => { await s.close(); return undefined }, (e: unknown) => e)
      expect(error).toBeInstanceOf(StoreError)
      expect((error as Error).message).toMatch(/another process|lock/i)

      first.saveBalance('a', 7n)
      await first.flush()
    } finally {
      await first.close()
    }
    const again = await openStore(dir)
    expect(again.loadAccount('a')).toStrictEqual({ id: 'a', balance: '7' })
    await again.close()
  })
})

// ---------------------------------------------------------------------------------------------------
// 11. Migrations

describe('migrations', () => {
  const timesTen: Migration = {
    from: 1,
    describe: 'test: balances x10',
    run: async (db) => {
      const ops: Array<{ type: 'put'; key: string; value: Buffer }> = []
      for await (const [key, value] of db.iterator({ gte: 'account:', lt: 'account:\xff' })) {
        const record = decode(value) as AccountRecord
        ops.push({ type: 'put', key, value: encode({ ...record, balance: (BigInt(record.balance) * 10n).toString() }) })
      }
      return ops
    }
  }

  async function makeV1 (dir: string): Promise<void> {
    const store = await openStore(dir, { schemaVersion: 1, migrations: [] })
    store.saveBalance('m1', 7n)
    store.saveBalance('m2', -3n)
    store.saveBalance('m3', 2n ** 70n)
    store.saveAccount({ id: 'm4', balance: '12', provisioned: { ...provisioned } })
    await store.close()
    expect(decode(await readRaw(dir, 'meta:schema') as Buffer)).toBe(1)
  }

  const migrated: AccountRecord[] = [
    { id: 'm1', balance: '70' },
    { id: 'm2', balance: '-30' },
    { id: 'm3', balance: '11805916207174113034240' },
    { id: 'm4', balance: '120', provisioned }
  ]

  test('upgrades 1 → 2 once: balances migrated, meta:schema = 2; reopening does not migrate again', async () => {
    const dir = tempDir()
    await makeV1(dir)

    const run = jest.fn(timesTen.run)
    let store = await openStore(dir, { schemaVersion: 2, migrations: [{ ...timesTen, run }] })
    try {
      expect(run).toHaveBeenCalledTimes(1)
      expect(store.accounts().sort(byId)).toStrictEqual(migrated)
    } finally {
      await store.close()
    }
    expect(decode(await readRaw(dir, 'meta:schema') as Buffer)).toBe(2)

    store = await openStore(dir, { schemaVersion: 2, migrations: [{ ...timesTen, run }] })
    try {
      expect(run).toHaveBeenCalledTimes(1)
      expect(store.accounts().sort(byId)).toStrictEqual(migrated)
    } finally {
      await store.close()
    }
    expect(decode(await readRaw(dir, 'meta:schema') as Buffer)).toBe(2)
  })

  test('a missing step (v2 directory, target 3, only the 1 → 2 migration) is refused, unchanged', async () => {
    const dir = tempDir()
    await makeV1(dir)
    const store = await openStore(dir, { schemaVersion: 2, migrations: [timesTen] })
    await store.close()
    const before = await dump(dir)

    await expect(openStore(dir, { schemaVersion: 3, migrations: [timesTen] })).rejects.toBeInstanceOf(StoreError)

    expect(await dump(dir)).toStrictEqual(before)
    expect(decode(await readRaw(dir, 'meta:schema') as Buffer)).toBe(2)
  })

  test('a missing later step (v1 directory, target 3, only the 1 → 2 migration) is refused before anything is written', async () => {
    const dir = tempDir()
    await makeV1(dir)
    const before = await dump(dir)

    const error = await openStore(dir, { schemaVersion: 3, migrations: [timesTen] }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(StoreError)

    // The refusal says "nothing was changed": the 1 → 2 step must not have been committed either.
    expect(decode(await readRaw(dir, 'meta:schema') as Buffer)).toBe(1)
    expect(await dump(dir)).toStrictEqual(before)
  })
})

// ---------------------------------------------------------------------------------------------------
// 12. MemoryStore

describe('MemoryStore', () => {
  test('satisfies the same basic contract', async () => {
    const store = new MemoryStore()
    expect(store.accounts()).toStrictEqual([])
    expect(store.loadAccount('nobody')).toBeUndefined()

    store.saveAccount({ id: 'alice', balance: '0' })
    store.saveBalance('alice', -(2n ** 70n))
    store.saveBalance('bob', 2n ** 80n)
    store.saveAccount({ id: 'carol', balance: '0', provisioned: { ...provisioned } })
    store.saveBalance('carol', 42n)
    store.saveBalance('dave', 1n)
    store.saveAccount({ id: 'dave', balance: '-7' })

    const expected: AccountRecord[] = [
      { id: 'alice', balance: '-1180591620717411303424' },
      { id: 'bob', balance: '1208925819614629174706176' },
      { id: 'carol', balance: '42', provisioned },
      { id: 'dave', balance: '-7' }
    ]
    expect(store.accounts().sort(byId)).toStrictEqual(expected)
    for (const record of expected) expect(store.loadAccount(record.id)).toStrictEqual(record)
    expect(store.loadAccount('nobody')).toBeUndefined()

    const copy = store.loadAccount('dave') as AccountRecord
    copy.balance = '1'
    expect(store.loadAccount('dave')).toStrictEqual({ id: 'dave', balance: '-7' })

    let ran = 0
    store.afterCommit(() => { ran++ })
    await store.flush()
    expect(ran).toBe(1)
    await store.close()
  })
})

describe('records (collections beside the accounts)', () => {
  const value = { path: ['g.b', 'g.c'], n: 3, nested: { big: '18446744073709551616' } }

  test('put, get, delete and list round-trip across a restart; deletes and overwrites win', async () => {
    const dir = tempDir()
    const store = await openStore(dir)
    store.put('routes', 'g.a', value)
    store.put('routes', 'g.b', { x: 1 })
    store.put('routes', 'g.c', { x: 2 })
    store.put('other', 'g.a', 'not a route')
    store.delete('routes', 'g.b')
    store.put('routes', 'g.c', { x: 3 })
    // Seen before the group commit.
    expect(await store.get('routes', 'g.a')).toStrictEqual(value)
    expect(await store.get('routes', 'g.b')).toBeUndefined()
    let committed = false
    store.afterCommit(() => { committed = true })
    await store.close()
    expect(committed).toBe(true)

    const reopened = await openStore(dir)
    expect(await reopened.get('routes', 'g.a')).toStrictEqual(value)
    expect(await reopened.get('routes', 'g.b')).toBeUndefined()
    expect(await reopened.list('routes')).toStrictEqual([{ key: 'g.a', value }, { key: 'g.c', value: { x: 3 } }])
    expect(await reopened.list('other')).toStrictEqual([{ key: 'g.a', value: 'not a route' }])
    expect(reopened.accounts()).toStrictEqual([])
    await reopened.close()
  })

  test('list: range, limit and reverse, over what is on disk and what is not yet', async () => {
    const dir = tempDir()
    const store = await openStore(dir)
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) store.put('h', k, k)
    await store.flush()
    // Not yet on disk: k2 deleted, k6 added, k3 changed.
    store.delete('h', 'k2')
    store.put('h', 'k6', 'k6')
    store.put('h', 'k3', 'new')
    const keys = async (o: object): Promise<string[]> => (await store.list('h', o)).map(r => r.key)
    expect(await keys({})).toStrictEqual(['k1', 'k3', 'k4', 'k5', 'k6'])
    expect(await keys({ limit: 2 })).toStrictEqual(['k1', 'k3'])
    expect(await keys({ reverse: true, limit: 2 })).toStrictEqual(['k6', 'k5'])
    expect(await keys({ gte: 'k2', lt: 'k5' })).toStrictEqual(['k3', 'k4'])
    expect(await keys({ gte: 'k2', lt: 'k5', reverse: true, limit: 1 })).toStrictEqual(['k4'])
    expect((await store.list('h', { gte: 'k3', limit: 1 }))[0].value).toBe('new')
    await store.close()
  })

  test('a bad collection name is refused', async () => {
    const store = new MemoryStore()
    expect(() => store.put('has:colon', 'k', 1)).toThrow(/collection/)
    const level = await openStore(tempDir())
    expect(() => level.put('', 'k', 1)).toThrow(/collection/)
    await level.close()
  })

  test('MemoryStore: same contract, and stored values are copies', async () => {
    const store = new MemoryStore()
    const v = { a: [1, 2] }
    store.put('c', 'b', v)
    store.put('c', 'a', 'first')
    v.a.push(3)
    expect(await store.get('c', 'b')).toStrictEqual({ a: [1, 2] })
    expect((await store.list('c', { reverse: true })).map(r => r.key)).toStrictEqual(['b', 'a'])
    store.delete('c', 'a')
    expect(await store.list('c')).toStrictEqual([{ key: 'b', value: { a: [1, 2] } }])
  })
})

describe('afterDurable', () => {
  test('fast durability: it forces a synced batch now, not at the next flush interval', async () => {
    const store = await openStore(tempDir(), { durability: 'fast', fastFlushIntervalMs: 60000 })
    const batch = jest.spyOn((store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db, 'batch')
    store.saveBalance('bob', -1100n)
    store.put('settle-out', 'k1', { amount: '1100' })
    let ran = false
    store.afterDurable(() => { ran = true })
    const started = Date.now()
    while (!ran && Date.now() - started < 5000) await new Promise(resolve => setTimeout(resolve, 5))
    expect(ran).toBe(true)
    expect(Date.now() - started).toBeLessThan(5000)
    // The batch that carried them was fsync'd, and carried both writes.
    const call = batch.mock.calls.find(c => (c[1] as { sync?: boolean })?.sync === true)
    expect(call).toBeDefined()
    expect((call?.[0] as Array<{ key: string }>).map(op => op.key).sort()).toStrictEqual(['account:bob', 'r:settle-out:k1'])
    await store.close()
  })

  test('fast durability with nothing new to write: earlier unsynced batches are made durable by a synced write', async () => {
    const store = await openStore(tempDir(), { durability: 'fast', fastFlushIntervalMs: 20 })
    store.saveBalance('bob', 5n)
    await new Promise(resolve => setTimeout(resolve, 100)) // written, without fsync
    const db = (store as unknown as { db: { put: (...a: unknown[]) => Promise<void> } }).db
    const put = jest.spyOn(db, 'put')
    let ran = false
    store.afterDurable(() => { ran = true })
    await store.flush()
    expect(ran).toBe(true)
    expect(put.mock.calls.some(c => (c[2] as { sync?: boolean })?.sync === true)).toBe(true)
    await store.close()
  })

  test('strict durability: the same as afterCommit', async () => {
    const store = await openStore(tempDir())
    store.saveBalance('bob', 1n)
    let ran = false
    store.afterDurable(() => { ran = true })
    expect(ran).toBe(false)
    await store.flush()
    expect(ran).toBe(true)
    await store.close()
  })
})
