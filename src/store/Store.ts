/**
 * What the actors persist, behind one small interface so the engine can change (LevelDB for a single
 * node, a replicated store for a cluster) without touching them. Balances are decimal strings at rest:
 * they are sums and may outgrow 64 bits.
 */
export interface AccountRecord {
  id: string
  /** Committed balance: what the account owes the connector, as a decimal string. */
  balance: string
}

export interface Store {
  /** The account's last committed state, or undefined for a new account. */
  loadAccount: (id: string) => AccountRecord | undefined
  /** Records an account's committed state; durable by the time `flush()` resolves. */
  saveAccount: (record: AccountRecord) => void
  flush: () => Promise<void>
  close: () => Promise<void>
}
