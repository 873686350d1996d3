import type { AccountRecord, Store } from './Store'

/** Keeps state for the life of the process only: for tests and for embedding without a disk. */
export class MemoryStore implements Store {
  private readonly records = new Map<string, AccountRecord>()

  accounts (): AccountRecord[] {
    return [...this.records.values()].map(r => ({ ...r }))
  }

  loadAccount (id: string): AccountRecord | undefined {
    const r = this.records.get(id)
    return r === undefined ? undefined : { ...r }
  }

  saveAccount (record: AccountRecord): void {
    this.records.set(record.id, { ...record })
  }

  saveBalance (id: string, balance: bigint): void {
    this.saveAccount({ ...this.records.get(id), id, balance: balance.toString() })
  }

  afterCommit (fn: () => void): void { fn() }
  async flush (): Promise<void> {}
  async close (): Promise<void> {}
}
