import { copyRecord } from './Store'
import type { AccountRecord, Store } from './Store'

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

  readonly healthy = true
  afterCommit (fn: () => void): void { fn() }
  async flush (): Promise<void> {}
  async close (): Promise<void> {}
}
