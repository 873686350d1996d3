import { copyRecord, checkCollection, selectRecords } from './Store'
import type { AccountRecord, Store, ListOptions, StoredRecord } from './Store'
import { encode, decode } from './LevelStore'

/** Keeps state for the life of the process only: for tests and for embedding without a disk. */
export class MemoryStore implements Store {
  private readonly records = new Map<string, AccountRecord>()

  accounts (): AccountRecord[] {
    return [...this.records.values()].map(copyRecord)
  }

  loadAccount (id: string): AccountRecord | undefined {
    const r = this.records.get(id)
    return r === undefined ? undefined : copyRecord(r)
  }

  saveAccount (record: AccountRecord): void {
    this.records.set(record.id, copyRecord(record))
  }

  saveBalance (id: string, balance: bigint): void {
    const r = this.records.get(id)
    if (r === undefined) this.records.set(id, { id, balance: balance.toString() })
    else r.balance = balance.toString()
  }

  /** Kept encoded, as on disk, so a caller can never change a stored value in place. */
  private readonly collections = new Map<string, Map<string, Buffer>>()

  put (collection: string, key: string, value: unknown): void {
    checkCollection(collection)
    let c = this.collections.get(collection)
    if (c === undefined) this.collections.set(collection, c = new Map())
    c.set(key, encode(value))
  }

  delete (collection: string, key: string): void {
    this.collections.get(collection)?.delete(key)
  }

  async get (collection: string, key: string): Promise<unknown> {
    const v = this.collections.get(collection)?.get(key)
    return v === undefined ? undefined : decode(v)
  }

  async list (collection: string, options: ListOptions = {}): Promise<StoredRecord[]> {
    const c = this.collections.get(collection)
    if (c === undefined) return []
    const sorted = [...c.keys()].sort().map(key => ({ key, value: decode(c.get(key) as Buffer) }))
    return selectRecords(sorted, options)
  }

  readonly healthy = true
  afterCommit (fn: () => void): void { fn() }
  afterDurable (fn: () => void): void { fn() }
  async flush (): Promise<void> {}
  async close (): Promise<void> {}
}
