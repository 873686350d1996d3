/**
 * What the connector persists, behind one small interface so the engine can change (LevelDB for a
 * single node, a replicated store for a cluster) without touching the actors. Balances are decimal
 * strings at rest: they are sums and may outgrow 64 bits.
 */

/** An account made at run time (local mode): its settings are stored so it comes back after a restart. */
export interface ProvisionedAccount {
  listener: string
  relation: 'parent' | 'peer' | 'child'
  assetCode: string
  assetScale: number
  address?: string
  minBalance?: string
  maxBalance?: string
  maxPacketAmount?: string
  packetsPerSecond?: number
  throughputLimit?: { amount: string; periodMs: number }
  /** Milliseconds since the epoch. */
  createdAt: number
  /** "api": created through the admin API (absent: made in local mode by a new token). */
  origin?: 'api'
  /** How an API-created account is linked; `listener` above is "" for a dialled link. */
  link?: StoredLink
  /** Removed through the admin API at this time: not restored at start; its balance stays readable. */
  removedAt?: number
}

/**
 * An API-created account's link, as much as is needed to bring it back after a restart. A server-side
 * token is kept only as its SHA-256 (it is only ever compared); a dialled link must present its token,
 * so that one is kept as given (the data directory holds it, as the config file would).
 */
export type StoredLink =
  | { type: 'btp-server'; listener: string; tokenHash: string }
  | { type: 'btp-client'; url: string; token: string }

export interface AccountRecord {
  id: string
  /** Committed balance: what the account owes the connector, as a decimal string. */
  balance: string
  /** Present for accounts the connector created itself; configured accounts take settings from config. */
  provisioned?: ProvisionedAccount
}

export interface Store {
  /** Every stored account (read once at start). */
  accounts: () => AccountRecord[]
  /** The account's last saved state (including changes not yet on disk), or undefined. */
  loadAccount: (id: string) => AccountRecord | undefined
  /** Saves an account's state; it reaches the disk with the next group commit. */
  saveAccount: (record: AccountRecord) => void
  /** Saves only the balance of an account (the hot path). */
  saveBalance: (id: string, balance: bigint) => void
  /**
   * Runs `fn` once everything saved so far is durable: after the group commit that carries it (strict
   * durability), or at once (fast durability). What must not be acknowledged before it is on disk —
   * a Fulfill passed upstream, an account created — is sent from here.
   */
  afterCommit: (fn: () => void) => void
  /**
   * Like `afterCommit`, but durable whatever the durability mode: in fast mode it forces a synced batch
   * now. For what must never be lost even where losing a few Fulfills is accepted: a settlement's debit
   * before the money is sent, an incoming settlement's credit before the engine is told it is done.
   */
  afterDurable: (fn: () => void) => void
  /** Resolves when everything saved so far is on disk. */
  flush: () => Promise<void>
  /**
   * Records other than accounts (learned routes, idempotency keys, API keys, transfer history, ...), in
   * named collections. Values are plain data (MessagePack); writes ride the same group commit as the
   * balances, so `afterCommit` covers them too. Reads see writes not yet on disk.
   */
  put: (collection: string, key: string, value: unknown) => void
  delete: (collection: string, key: string) => void
  get: (collection: string, key: string) => Promise<unknown>
  /** A collection's records in key order (`reverse`: highest key first), within [gte, lt), at most `limit`. */
  list: (collection: string, options?: ListOptions) => Promise<StoredRecord[]>
  /** False while writes keep failing: the connector then refuses new packets (T00). */
  readonly healthy: boolean
  close: () => Promise<void>
}

export interface ListOptions {
  gte?: string
  lt?: string
  limit?: number
  reverse?: boolean
}

export interface StoredRecord {
  key: string
  value: unknown
}

/** Collection names are short words, so a record's LevelDB key `r:<collection>:<key>` is unambiguous. */
export function checkCollection (collection: string): void {
  if (!/^[a-z][a-z0-9-]*$/.test(collection)) throw new Error(`invalid collection name: ${collection}`)
}

/** Applies ListOptions to records already in key order (shared by the stores). */
export function selectRecords (sorted: StoredRecord[], options: ListOptions): StoredRecord[] {
  let out = sorted.filter(r => (options.gte === undefined || r.key >= options.gte) && (options.lt === undefined || r.key < options.lt))
  if (options.reverse === true) out = out.reverse()
  return options.limit === undefined ? out : out.slice(0, options.limit)
}

/** Stores hand out and take in copies, so nothing outside can change a record without saving it. */
export function copyRecord (r: AccountRecord): AccountRecord {
  return r.provisioned === undefined ? { id: r.id, balance: r.balance } : { id: r.id, balance: r.balance, provisioned: { ...r.provisioned } }
}
