/**
 * The embedded single-node store: LevelDB (`level`), values in MessagePack.
 *
 * Group commit: saves only mark an account dirty in memory; one batch at a time carries every account
 * changed since the previous batch to disk (in strict mode with fsync), then runs the callbacks that
 * were waiting for it. So a thousand Fulfills in one turn cost one fsync, not a thousand, and the
 * actors never wait for the disk — only the acknowledgements that must be durable do.
 *
 * Layout: `meta:schema` → schema version; `account:<id>` → { id, balance, provisioned? }; `r:<collection>:<key>`
 * → any plain value (see Store.put). Values are
 * plain MessagePack maps (no record structures, which would not survive a restart), balances strings.
 */
import { Level } from 'level'
import { Packr } from 'msgpackr'
import type { Logger } from 'pino'
import { copyRecord, checkCollection, selectRecords } from './Store'
import type { AccountRecord, Store, ListOptions, StoredRecord } from './Store'

export const SCHEMA_VERSION = 1
const SCHEMA_KEY = 'meta:schema'
/** Written (empty) only to force an fsync in fast mode when a durable callback has nothing else to write. */
const SYNC_KEY = 'meta:sync'
const ACCOUNT_PREFIX = 'account:'
const RECORD_PREFIX = 'r:'
/** Sorts after any key character a record key will use. */
const KEY_END = '\uffff'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })
export const encode = (value: unknown): Buffer => packr.pack(value)
export const decode = (bytes: Buffer): unknown => packr.unpack(bytes)

type Db = Level<string, Buffer>

/** Upgrades the data of schema version `from` to `from + 1`, as a list of writes. */
export interface Migration {
  from: number
  describe: string
  run: (db: Db) => Promise<Array<{ type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string }>>
}

/** The data format's history. Version 1 is the first; later formats add their step here. */
export const MIGRATIONS: Migration[] = []

export class StoreError extends Error {}

export interface LevelStoreOptions {
  durability: 'strict' | 'fast'
  fastFlushIntervalMs: number
  log: Logger
  /** For tests of the upgrade path; defaults to this build's format. */
  schemaVersion?: number
  migrations?: Migration[]
}

export class LevelStore implements Store {
  private readonly cache = new Map<string, AccountRecord>()
  private dirty = new Set<string>()
  /** Record writes (a value, or null for a delete) not yet on disk, by LevelDB key. */
  private records = new Map<string, Buffer | null>()
  /** Those of the batch being written now (reads must still see them). */
  private writingRecords = new Map<string, Buffer | null>()
  /** Fast mode: a callback waits for a synced batch (afterDurable), so the next batch is fsync'd. */
  private syncNext = false
  private waiting: Array<() => void> = []
  private writing: Promise<void> | undefined
  private scheduled = false
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private failures = 0

  private constructor (private readonly db: Db, private readonly options: LevelStoreOptions) {}

  /** Opens (or creates) the data directory; refuses a newer or corrupted one without changing it. */
  static async open (directory: string, options: LevelStoreOptions): Promise<LevelStore> {
    const db: Db = new Level<string, Buffer>(directory, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
    try {
      await db.open()
    } catch (e) {
      throw new StoreError(`cannot open the data directory ${directory}: ${describeOpenError(e)}. Nothing in it was changed.`)
    }
    try {
      const store = new LevelStore(db, options)
      await store.upgrade(directory)
      await store.load(directory)
      if (options.durability === 'fast') store.startFastFlush()
      return store
    } catch (e) {
      await db.close().catch(() => {})
      throw e
    }
  }

  /** Writes failing again and again (a full or broken disk): new packets are refused until one succeeds. */
  get healthy (): boolean { return this.failures < 3 }

  accounts (): AccountRecord[] { return [...this.cache.values()].map(copyRecord) }

  loadAccount (id: string): AccountRecord | undefined {
    const r = this.cache.get(id)
    return r === undefined ? undefined : copyRecord(r)
  }

  saveAccount (record: AccountRecord): void {
    this.cache.set(record.id, copyRecord(record))
    this.markDirty(record.id)
  }

  saveBalance (id: string, balance: bigint): void {
    const r = this.cache.get(id)
    if (r === undefined) this.cache.set(id, { id, balance: balance.toString() })
    else r.balance = balance.toString()
    this.markDirty(id)
  }

  put (collection: string, key: string, value: unknown): void {
    checkCollection(collection)
    this.records.set(recordKey(collection, key), encode(value))
    this.scheduleRecords()
  }

  delete (collection: string, key: string): void {
    checkCollection(collection)
    this.records.set(recordKey(collection, key), null)
    this.scheduleRecords()
  }

  async get (collection: string, key: string): Promise<unknown> {
    checkCollection(collection)
    const k = recordKey(collection, key)
    const pending = this.records.has(k) ? this.records.get(k) : this.writingRecords.get(k)
    if (pending !== undefined) return pending === null ? undefined : decode(pending)
    const raw = await this.db.get(k)
    return raw === undefined ? undefined : decode(raw)
  }

  async list (collection: string, options: ListOptions = {}): Promise<StoredRecord[]> {
    checkCollection(collection)
    const base = recordKey(collection, '')
    const range = { gte: base + (options.gte ?? ''), lt: base + (options.lt ?? KEY_END) }
    // Writes not yet on disk overlay what the disk has: read enough from disk to cover deletions.
    const overlay = new Map<string, Buffer | null>()
    for (const [k, v] of this.writingRecords) if (k >= range.gte && k < range.lt) overlay.set(k, v)
    for (const [k, v] of this.records) if (k >= range.gte && k < range.lt) overlay.set(k, v)
    const limit = options.limit === undefined ? undefined : options.limit + overlay.size
    const found = new Map<string, Buffer>()
    for await (const [k, v] of this.db.iterator({ ...range, reverse: options.reverse === true, limit: limit ?? -1 })) found.set(k, v)
    for (const [k, v] of overlay) {
      if (v === null) found.delete(k)
      else found.set(k, v)
    }
    const sorted = [...found.keys()].sort().map(k => ({ key: k.slice(base.length), value: decode(found.get(k) as Buffer) }))
    return selectRecords(sorted, { reverse: options.reverse, limit: options.limit })
  }

  afterCommit (fn: () => void): void {
    if (this.options.durability === 'fast') {
      fn()
      return
    }
    this.waiting.push(fn)
    this.schedule()
  }

  afterDurable (fn: () => void): void {
    if (this.options.durability === 'strict') {
      this.afterCommit(fn)
      return
    }
    this.waiting.push(fn)
    this.syncNext = true
    this.schedule()
  }

  /** Resolves once everything saved so far is on disk; rejects if that has not happened by `timeoutMs`. */
  async flush (timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.dirty.size > 0 || this.records.size > 0 || this.waiting.length > 0 || this.writing !== undefined) {
      if (Date.now() > deadline) throw new StoreError(`could not write to the data directory for ${timeoutMs} ms`)
      await (this.writing ?? this.commit())
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.flush()
    this.closed = true
    await this.db.close()
  }

  private markDirty (id: string): void {
    this.dirty.add(id)
    if (this.options.durability === 'strict') this.schedule()
  }

  private scheduleRecords (): void {
    if (this.options.durability === 'strict') this.schedule()
  }

  /** Strict mode: start a batch as soon as the current one is done (writes of this turn gathered first). */
  private schedule (): void {
    if (this.scheduled || this.writing !== undefined || this.closed) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.commit()
    })
  }

  private startFastFlush (): void {
    this.timer = setInterval(() => { if (this.writing === undefined && (this.dirty.size > 0 || this.records.size > 0)) void this.commit() }, this.options.fastFlushIntervalMs)
    this.timer.unref()
  }

  private async commit (): Promise<void> {
    if (this.writing !== undefined) return await this.writing
    const ids = this.dirty
    const callbacks = this.waiting
    const records = this.records
    if (ids.size === 0 && callbacks.length === 0 && records.size === 0) return
    this.dirty = new Set()
    this.waiting = []
    this.records = new Map()
    this.writingRecords = records
    const sync = this.options.durability === 'strict' || this.syncNext
    this.syncNext = false
    const writing = this.write(ids, records, callbacks, sync)
    this.writing = writing
    try {
      await writing
    } finally {
      if (this.writing === writing) this.writing = undefined
      this.writingRecords = new Map()
    }
    if (this.dirty.size > 0 || this.records.size > 0 || this.waiting.length > 0) {
      if (this.options.durability === 'strict' || this.failures > 0 || this.syncNext) this.schedule()
    }
  }

  /** Writes one batch, then runs the callbacks that waited for it. */
  private async write (ids: Set<string>, records: Map<string, Buffer | null>, callbacks: Array<() => void>, sync: boolean): Promise<void> {
    try {
      const ops: Array<{ type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string }> =
        [...ids].map(id => ({ type: 'put' as const, key: ACCOUNT_PREFIX + id, value: encodeAccount(this.cache.get(id) as AccountRecord) }))
      for (const [key, value] of records) ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value })
      if (ops.length > 0) await this.db.batch(ops, { sync })
      // Fast mode: earlier batches were written without fsync; a synced write makes them durable too.
      else if (sync && this.options.durability === 'fast') await this.db.put(SYNC_KEY, Buffer.alloc(0), { sync: true })
      this.failures = 0
    } catch (e) {
      // Nothing waiting for this batch may be acknowledged: put it all back and try again shortly.
      for (const id of ids) this.dirty.add(id)
      // Newer writes of the same keys win over the failed batch's.
      for (const [key, value] of records) if (!this.records.has(key)) this.records.set(key, value)
      this.waiting = callbacks.concat(this.waiting)
      if (sync) this.syncNext = true
      this.failures++
      this.options.log.error({ err: e, attempt: this.failures }, 'writing to the data directory failed; retrying')
      await new Promise(resolve => setTimeout(resolve, Math.min(1000, 10 * 2 ** this.failures)))
      return
    }
    for (const fn of callbacks) {
      try {
        fn()
      } catch (e) {
        this.options.log.error({ err: e }, 'a callback after commit failed')
      }
    }
  }

  private async upgrade (directory: string): Promise<void> {
    const target = this.options.schemaVersion ?? SCHEMA_VERSION
    const migrations = this.options.migrations ?? MIGRATIONS
    const raw = await this.db.get(SCHEMA_KEY)
    let version: number
    if (raw === undefined) {
      const anyKey = await this.db.keys({ limit: 1 }).all()
      if (anyKey.length > 0) {
        throw new StoreError(`the data directory ${directory} holds data but no schema version: it was not written by Metamorphosis, or is damaged. Refusing to start; nothing was changed.`)
      }
      await this.db.put(SCHEMA_KEY, encode(target), { sync: true })
      return
    }
    try {
      version = decode(raw) as number
    } catch {
      throw new StoreError(`the schema version in ${directory} is unreadable: the data directory is damaged. Refusing to start; nothing was changed.`)
    }
    if (!Number.isInteger(version)) throw new StoreError(`the schema version in ${directory} is not a number: the data directory is damaged. Refusing to start; nothing was changed.`)
    if (version > target) {
      throw new StoreError(`the data directory ${directory} was written by a newer Metamorphosis (data format ${version}; this version reads up to ${target}). Refusing to start; nothing was changed. Run the newer version, or point dataDir elsewhere.`)
    }
    // Every step must exist before the first one runs, or a missing later step would leave a half-upgraded directory.
    for (let v = version; v < target; v++) {
      if (!migrations.some(m => m.from === v)) throw new StoreError(`no upgrade from data format ${v} to ${v + 1} in this version. Refusing to start; nothing was changed.`)
    }
    while (version < target) {
      const step = migrations.find(m => m.from === version) as Migration
      this.options.log.info({ from: version, to: version + 1, step: step.describe }, 'upgrading the data directory')
      const ops = await step.run(this.db)
      // The data and the new version number are written in one atomic batch: an interrupted upgrade leaves the old format.
      await this.db.batch([...ops, { type: 'put', key: SCHEMA_KEY, value: encode(version + 1) }], { sync: true })
      version++
    }
  }

  private async load (directory: string): Promise<void> {
    for await (const [key, value] of this.db.iterator({ gte: ACCOUNT_PREFIX, lt: ACCOUNT_PREFIX + '\xff' })) {
      let record: AccountRecord
      try {
        record = decodeAccount(value)
      } catch (e) {
        throw new StoreError(`record ${key} in ${directory} is damaged (${e instanceof Error ? e.message : String(e)}). Refusing to start; nothing was changed.`)
      }
      this.cache.set(record.id, record)
    }
  }
}

function recordKey (collection: string, key: string): string {
  return RECORD_PREFIX + collection + ':' + key
}

function encodeAccount (r: AccountRecord): Buffer {
  return encode(r.provisioned === undefined ? { id: r.id, balance: r.balance } : { id: r.id, balance: r.balance, provisioned: r.provisioned })
}

function decodeAccount (bytes: Buffer): AccountRecord {
  const v = decode(bytes) as Partial<AccountRecord> | null
  if (v === null || typeof v !== 'object' || typeof v.id !== 'string' || typeof v.balance !== 'string' || !/^-?\d+$/.test(v.balance)) {
    throw new Error('not an account record')
  }
  return v.provisioned === undefined ? { id: v.id, balance: v.balance } : { id: v.id, balance: v.balance, provisioned: v.provisioned }
}

function describeOpenError (e: unknown): string {
  const err = e as { code?: string; cause?: { message?: string }; message?: string }
  const cause = err.cause?.message ?? err.message ?? String(e)
  if (/lock/i.test(cause)) return 'it is in use by another process (LevelDB lock held)'
  return cause
}
