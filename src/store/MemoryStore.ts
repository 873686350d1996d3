import type { AccountRecord, Store } from './Store'

/** Keeps state for the life of the process only: for tests and embedding without a disk. */
export class MemoryStore implements Store {
  private readonly accounts = new Map<string, AccountRecord>()

  loadAccount (id: string): AccountRecord | undefined {
    const r = this.accounts.get(id)
    return r === undefined ? undefined : { ...r }
  }

  saveAccount (record: AccountRecord): void {
    this.accounts.set(record.id, { ...record })
  }

  async flush (): Promise<void> {}
  async close (): Promise<void> {}
}
