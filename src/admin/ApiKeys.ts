/**
 * Per-account API keys: a key lets its holder read that account's balance and history, nothing else.
 * A key is `mmk_<id>_<secret>`: the id (public, 16 hex digits) finds the record, the secret (32 random
 * bytes) is stored only as its SHA-256 — enough for a random secret of that size (it is not a password
 * to be guessed), and compared in constant time. The whole key is shown once, when it is created.
 * Records live in the store's `api-keys` collection (key: the key id) and in memory for the checks.
 */
import { createHash, randomBytes, timingSafeEqual } from 'crypto'
import type { Store } from '../store/Store'

const COLLECTION = 'api-keys'
const KEY_PATTERN = /^mmk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

export interface ApiKeyRecord {
  id: string
  account: string
  label?: string
  /** SHA-256 of the secret, hex. */
  secretHash: string
  /** ISO 8601. */
  createdAt: string
}

/** What a key's holder may see of it (never the hash). */
export interface ApiKeyView {
  id: string
  account: string
  label?: string
  createdAt: string
}

export function isApiKey (token: string): boolean {
  return token.startsWith('mmk_')
}

export class ApiKeys {
  private readonly byId = new Map<string, ApiKeyRecord>()

  constructor (private readonly store: Store) {}

  /** Reads every key (once, at start). */
  async load (): Promise<void> {
    for (const { value } of await this.store.list(COLLECTION)) {
      const r = value as ApiKeyRecord
      this.byId.set(r.id, r)
    }
  }

  /** A new key for an account: the record (stored), and the key itself (to be shown once). */
  create (account: string, label?: string): { view: ApiKeyView; key: string } {
    const id = randomBytes(8).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const record: ApiKeyRecord = { id, account, secretHash: hash(secret), createdAt: new Date().toISOString() }
    if (label !== undefined) record.label = label
    this.byId.set(id, record)
    this.store.put(COLLECTION, id, record)
    return { view: view(record), key: `mmk_${id}_${secret}` }
  }

  list (account: string): ApiKeyView[] {
    return [...this.byId.values()].filter(r => r.account === account).sort((a, b) => a.createdAt < b.createdAt ? -1 : 1).map(view)
  }

  /** Revokes one key of an account; false if it has no such key. */
  revoke (account: string, id: string): boolean {
    const r = this.byId.get(id)
    if (r === undefined || r.account !== account) return false
    this.byId.delete(id)
    this.store.delete(COLLECTION, id)
    return true
  }

  /** Revokes every key of an account (it was removed); the number revoked. */
  revokeAll (account: string): number {
    let n = 0
    for (const r of [...this.byId.values()]) if (r.account === account && this.revoke(account, r.id)) n++
    return n
  }

  /** The key's record if `token` is a valid key, else undefined. */
  check (token: string): ApiKeyRecord | undefined {
    const m = KEY_PATTERN.exec(token)
    if (m === null) return undefined
    const r = this.byId.get(m[1])
    if (r === undefined) return undefined
    return timingSafeEqual(Buffer.from(hash(m[2]), 'hex'), Buffer.from(r.secretHash, 'hex')) ? r : undefined
  }
}

function hash (secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

function view (r: ApiKeyRecord): ApiKeyView {
  return r.label === undefined ? { id: r.id, account: r.account, createdAt: r.createdAt } : { id: r.id, account: r.account, label: r.label, createdAt: r.createdAt }
}
