/**
 * The audit log: one record per change made through the admin API (who, what, when), in the store's
 * `audit` collection under time-ordered keys, so the newest are a reverse range scan. Written after the
 * change has been applied; secrets (tokens, URL passwords) are replaced before they are recorded.
 */
import type { Store } from '../store/Store'
import type { Caller, AuditEvent } from './http'

const COLLECTION = 'audit'

export interface AuditRecord {
  id: string
  /** ISO 8601 time. */
  at: string
  who: string
  remote: string
  action: string
  target: string
  details?: unknown
}

export class AuditLog {
  private seq = 0

  constructor (private readonly store: Store) {}

  record (caller: Caller, event: AuditEvent): AuditRecord {
    const now = Date.now()
    // Milliseconds, then a per-process counter: unique and in order within a millisecond.
    const id = `${String(now).padStart(15, '0')}-${String(this.seq++ % 1e6).padStart(6, '0')}`
    const record: AuditRecord = { id, at: new Date(now).toISOString(), who: caller.who, remote: caller.remote, action: event.action, target: event.target }
    if (event.details !== undefined) record.details = redact(event.details)
    this.store.put(COLLECTION, id, record)
    return record
  }

  /** Newest first; `before` (an id) pages back. */
  async list (limit: number, before?: string): Promise<AuditRecord[]> {
    const records = await this.store.list(COLLECTION, { reverse: true, limit, lt: before })
    return records.map(r => r.value as AuditRecord)
  }
}

const SECRET_KEYS = new Set(['token'])

/** A copy with secret fields replaced and passwords taken out of URLs. */
export function redact (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact)
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEYS.has(k)) out[k] = '(redacted)'
    else if (k === 'url' && typeof v === 'string') out[k] = v.replace(/\/\/([^/@]*):[^/@]*@/, '//$1:(redacted)@')
    else out[k] = redact(v)
  }
  return out
}
