/**
 * Transfer history: every forwarded packet gets a transfer id, and its record — prepared, then
 * fulfilled (with the fulfillment) or rejected (with the code and who triggered it) — is kept in the
 * store, looked up by id, by condition, or as an account's history with paging and a time range.
 *
 * The packet path only appends a small event to an in-memory buffer (no encoding, no store call, no
 * string building); a timer turns the buffer into records and store writes in batches, which ride the
 * store's group commit. Memory is bounded: beyond MAX_BUFFERED events, new ones are dropped (counted and
 * logged once per flush) rather than growing the heap. Records older than the retention are deleted.
 *
 * Transfer ids: `<prepared at, ms, 13 digits>-<boot>-<seq>-<source account>`, where seq is the source
 * account's sequence number of the packet and boot counts the connector's starts (stored), so ids are
 * unique across restarts and sort by time. Keys:
 *   transfers            <id>                       → the record
 *   account-transfers    <account>|<id>             → "" (for the source and for the next hop)
 *   condition-transfers  <condition hex>|<id>       → ""
 */
import * as IlpPacket from 'ilp-packet'
import type { Logger } from 'pino'
import type { Store } from '../store/Store'
import type { Prepare, Reply } from '../protocol/ilp'

const TRANSFERS = 'transfers'
const BY_ACCOUNT = 'account-transfers'
const BY_CONDITION = 'condition-transfers'
const META = 'meta'

/** Events waiting for the next flush, at most. */
export const MAX_BUFFERED = 100_000
const FLUSH_INTERVAL_MS = 100
const PRUNE_INTERVAL_MS = 60_000
const PRUNE_BATCH = 1000

export interface TransferRecord {
  id: string
  state: 'prepared' | 'fulfilled' | 'rejected'
  /** The account the Prepare came from, and the one it was forwarded to. */
  source: string
  nextHop: string
  destination: string
  /** As the source sent it (in its asset). */
  amount: string
  executionCondition: string
  expiresAt: string
  preparedAt: string
  settledAt?: string
  fulfillment?: string
  reject?: { code: string; triggeredBy: string; message: string }
}

type Event =
  | { prepared: true; source: string; seq: number; prepare: Prepare; nextHop: string; at: number }
  | { prepared: false; source: string; seq: number; reply: Reply; at: number }

/** What the account actors call on the packet path (see AccountDeps.history). */
export interface HistoryRecorder {
  prepared: (source: string, seq: number, prepare: Prepare, nextHop: string, now: number) => void
  settled: (source: string, seq: number, reply: Reply, now: number) => void
}

export interface HistoryPage {
  transfers: TransferRecord[]
  /** Pass as `before` for the next (older) page; null when there is none. */
  next: string | null
}

export class TransferHistory implements HistoryRecorder {
  private buffer: Event[] = []
  private dropped = 0
  /** Records prepared and not yet settled, by `<source>|<seq>` (bounded by the packets in flight). */
  private readonly open = new Map<string, TransferRecord>()
  private boot = 0
  private flushTimer: NodeJS.Timeout | undefined
  private pruneTimer: NodeJS.Timeout | undefined
  private pruning = false

  constructor (private readonly store: Store, private readonly retentionMs: number, private readonly log: Logger) {}

  /** Counts this start (for unique ids) and starts the flush and retention timers. */
  async start (): Promise<void> {
    const last = await this.store.get(META, 'boot')
    this.boot = (typeof last === 'number' ? last : 0) + 1
    this.store.put(META, 'boot', this.boot)
    this.flushTimer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS)
    this.flushTimer.unref()
    this.pruneTimer = setInterval(() => { void this.prune() }, PRUNE_INTERVAL_MS)
    this.pruneTimer.unref()
    void this.prune()
  }

  /** Writes what is buffered and stops the timers (the store is flushed by its owner afterwards). */
  stop (): void {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer)
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    this.flush()
  }

  // ---- the packet path: append only ------------------------------------------------------------

  prepared (source: string, seq: number, prepare: Prepare, nextHop: string, now: number): void {
    if (this.buffer.length >= MAX_BUFFERED) { this.dropped++; return }
    this.buffer.push({ prepared: true, source, seq, prepare, nextHop, at: now })
  }

  settled (source: string, seq: number, reply: Reply, now: number): void {
    if (this.buffer.length >= MAX_BUFFERED) { this.dropped++; return }
    this.buffer.push({ prepared: false, source, seq, reply, at: now })
  }

  // ---- off the packet path ---------------------------------------------------------------------

  /** Turns buffered events into records and store writes (they reach the disk with the next group commit). */
  flush (): void {
    if (this.dropped > 0) {
      this.log.warn({ dropped: this.dropped }, 'transfer history: events dropped (the buffer was full); those transfers have incomplete records')
      this.dropped = 0
    }
    if (this.buffer.length === 0) return
    const events = this.buffer
    this.buffer = []
    for (const e of events) {
      try {
        if (e.prepared) this.onPrepared(e)
        else this.onSettled(e)
      } catch (err) {
        // A record that cannot be made (a malformed reply) must not stop the others.
        this.log.error({ err, account: e.source }, 'transfer history: could not record an event')
      }
    }
  }

  private onPrepared (e: Extract<Event, { prepared: true }>): void {
    const id = `${String(e.at).padStart(13, '0')}-${this.boot}-${e.seq}-${e.source}`
    const condition = e.prepare.executionCondition.toString('hex')
    const record: TransferRecord = {
      id,
      state: 'prepared',
      source: e.source,
      nextHop: e.nextHop,
      destination: e.prepare.destination,
      amount: e.prepare.amount.toString(),
      executionCondition: condition,
      expiresAt: new Date(e.prepare.expiresAt).toISOString(),
      preparedAt: new Date(e.at).toISOString()
    }
    this.open.set(`${e.source}|${e.seq}`, record)
    this.store.put(TRANSFERS, id, record)
    this.store.put(BY_ACCOUNT, `${e.source}|${id}`, '')
    if (e.nextHop !== e.source) this.store.put(BY_ACCOUNT, `${e.nextHop}|${id}`, '')
    this.store.put(BY_CONDITION, `${condition}|${id}`, '')
  }

  private onSettled (e: Extract<Event, { prepared: false }>): void {
    const key = `${e.source}|${e.seq}`
    const record = this.open.get(key)
    if (record === undefined) return // its prepared event was dropped, or it began before a restart
    this.open.delete(key)
    record.settledAt = new Date(e.at).toISOString()
    if (e.reply.kind === 'fulfill') {
      record.state = 'fulfilled'
      record.fulfillment = e.reply.fulfillment.toString('hex')
    } else {
      const r = IlpPacket.deserializeIlpReject(e.reply.packet)
      record.state = 'rejected'
      record.reject = { code: r.code, triggeredBy: r.triggeredBy, message: r.message }
    }
    this.store.put(TRANSFERS, record.id, record)
  }

  /** Deletes records older than the retention, a batch at a time; forgets open records long expired. */
  async prune (now = Date.now()): Promise<number> {
    if (this.pruning) return 0
    this.pruning = true
    let deleted = 0
    try {
      for (const [key, r] of this.open) if (Date.parse(r.expiresAt) < now - 60_000) this.open.delete(key)
      const cutoff = String(now - this.retentionMs).padStart(13, '0')
      for (;;) {
        const old = await this.store.list(TRANSFERS, { lt: cutoff, limit: PRUNE_BATCH })
        for (const { key, value } of old) {
          const r = value as TransferRecord
          this.store.delete(TRANSFERS, key)
          this.store.delete(BY_ACCOUNT, `${r.source}|${key}`)
          this.store.delete(BY_ACCOUNT, `${r.nextHop}|${key}`)
          this.store.delete(BY_CONDITION, `${r.executionCondition}|${key}`)
        }
        deleted += old.length
        if (old.length < PRUNE_BATCH) break
      }
      if (deleted > 0) this.log.info({ deleted }, 'transfer history: records past the retention deleted')
    } catch (err) {
      this.log.error({ err }, 'transfer history: pruning failed')
    } finally {
      this.pruning = false
    }
    return deleted
  }

  // ---- queries (they see everything buffered) ---------------------------------------------------

  async get (id: string): Promise<TransferRecord | undefined> {
    this.flush()
    return await this.store.get(TRANSFERS, id) as TransferRecord | undefined
  }

  /** Transfers with a condition (hex), newest first. */
  async byCondition (condition: string, limit: number): Promise<TransferRecord[]> {
    this.flush()
    const keys = await this.store.list(BY_CONDITION, { gte: `${condition}|`, lt: `${condition}}`, reverse: true, limit })
    return await this.records(keys.map(k => k.key.slice(condition.length + 1)))
  }

  /**
   * An account's transfers (as source or next hop), newest first, prepared in [from, to) (ms), older
   * than the transfer `before` when given; at most `limit`.
   */
  async forAccount (account: string, options: { from?: number; to?: number; before?: string; limit: number }): Promise<HistoryPage> {
    this.flush()
    const gte = `${account}|${options.from === undefined ? '' : String(options.from).padStart(13, '0')}`
    let lt = `${account}}`
    if (options.to !== undefined) lt = `${account}|${String(options.to).padStart(13, '0')}`
    if (options.before !== undefined && `${account}|${options.before}` < lt) lt = `${account}|${options.before}`
    const keys = await this.store.list(BY_ACCOUNT, { gte, lt, reverse: true, limit: options.limit + 1 })
    const ids = keys.slice(0, options.limit).map(k => k.key.slice(account.length + 1))
    const transfers = await this.records(ids)
    return { transfers, next: keys.length > options.limit ? ids[ids.length - 1] : null }
  }

  private async records (ids: string[]): Promise<TransferRecord[]> {
    const out: TransferRecord[] = []
    for (const id of ids) {
      const r = await this.store.get(TRANSFERS, id) as TransferRecord | undefined
      if (r !== undefined) out.push(r)
    }
    return out
  }
}
