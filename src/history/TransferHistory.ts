/**
 * Transfer history: every forwarded packet gets a transfer id, and its record — prepared, then
 * fulfilled (with the fulfillment) or rejected (with the code and who triggered it) — is kept in the
 * store, looked up by id, by condition, or as an account's history with paging and a time range.
 *
 * Cost, measured (docs/benchmarks.md): one store record per transfer (and its index entries) tripled
 * the CPU per forwarded packet, LevelDB's per-record cost dominating. So records are written in
 * **chunks**: the packet path only appends a small event to an in-memory buffer (no encoding, no store
 * call, no string building); every FLUSH_INTERVAL_MS the transfers that have ended are written as one
 * chunk (compact tuples) plus a small head (the accounts and condition prefixes in it), two store
 * records however many transfers, riding the store's group commit. Queries scan heads, newest first,
 * and open only the chunks that can hold what they look for.
 *
 * A transfer is written once, when it has ended (or, still open, at a graceful stop): a crash loses the
 * transfers of the last flush window and those in flight (never a balance). Memory is bounded: events
 * beyond MAX_BUFFERED are dropped (counted, logged), open transfers are bounded by the packets in flight.
 *
 * Transfer ids: `<prepared at, ms, 13 digits>-<boot>-<seq>-<source account>`; seq is the source
 * account's sequence number of the packet, boot counts the connector's starts (stored), so ids are
 * unique across restarts and sort by time. A transfer ends at most `maxWaitMs` after it was prepared
 * (the hold time, the message window and a margin), so its chunk is found from its id.
 */
import * as IlpPacket from 'ilp-packet'
import type { Logger } from 'pino'
import type { Store } from '../store/Store'
import type { Prepare, Reply } from '../protocol/ilp'

const CHUNKS = 'transfer-chunks'
const HEADS = 'transfer-heads'
const META = 'meta'

/** Events waiting for the next flush, at most. */
export const MAX_BUFFERED = 100_000
/**
 * Flushes are short and frequent: building a chunk costs about 5 µs a transfer, all in one go, so a
 * 100 ms window of a busy connector (3,000 transfers) blocked the event loop for 15 ms and showed in the
 * p99 latency. At most EARLY_FLUSH_AT events wait (a flush is due at once beyond), and every 20 ms.
 */
const FLUSH_INTERVAL_MS = 20
const EARLY_FLUSH_AT = 2000
/**
 * Ended transfers are written as a chunk once this many wait, or once the oldest has waited CHUNK_MS:
 * a quiet connector writes at most one chunk (and one head, which queries scan) a second, and a busy
 * one chunks of a size that is quick to encode.
 */
const CHUNK_TRANSFERS = 2000
const CHUNK_MS = 1000
/** How often open transfers are checked for a lost end. */
const SWEEP_INTERVAL_MS = 5000
/** How long after its end at the latest (maxWaitMs after it began) a transfer is in a chunk. */
const WRITE_LAG_MS = SWEEP_INTERVAL_MS + 10 * FLUSH_INTERVAL_MS
const PRUNE_INTERVAL_MS = 60_000
/** Heads read per store call while scanning. */
const HEAD_PAGE = 200

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

/**
 * A transfer in memory: id, source, nextHop, destination, amount, condition, expiresAt, preparedAt,
 * state (0 prepared, 1 fulfilled, 2 rejected), settledAt, fulfillment, reject code, triggeredBy,
 * message, seq. Stored in a chunk's rows in a smaller form (see `encodeChunk`).
 */
type Tuple = [string, string, string, string, string, Buffer, number, number, number, number | null, Buffer | null, string | null, string | null, string | null, number]

/**
 * A chunk as stored (plain data for MessagePack): the start count and write time, the accounts and
 * destinations named in it once each, and ROW values per transfer: seq, source and nextHop (indexes
 * into `accounts`), destination (index), amount, condition, preparedAt (ms before `at`), expiresAt
 * (ms after preparedAt), state, settledAt (ms after preparedAt, or null), fulfillment, code,
 * triggeredBy, message. Fewer and smaller values than one object per transfer: less to encode and to
 * write, which is what history costs on a busy connector.
 */
interface Chunk {
  boot: number
  at: number
  accounts: string[]
  destinations: string[]
  rows: unknown[]
}
const ROW = 14

interface Head {
  /** Accounts (sources and next hops) with transfers in the chunk. */
  accounts: string[]
  /** The first 8 hex digits of each condition in the chunk. */
  conditions: string[]
}

type Event =
  | { prepared: true; source: string; seq: number; destination: string; amount: bigint; condition: Buffer; expiresAt: number; nextHop: string; at: number }
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
  /** Transfers prepared and not yet ended, by `<source>|<seq>` (bounded by the packets in flight). */
  private readonly open = new Map<string, Tuple>()
  private boot = 0
  private chunkSeq = 0
  private flushTimer: NodeJS.Timeout | undefined
  private pruneTimer: NodeJS.Timeout | undefined
  private pruning = false
  private lastSweep = 0
  /** Ended transfers waiting to be written as a chunk, and when the oldest of them ended. */
  private ended: Tuple[] = []
  private endedSince = 0

  constructor (
    private readonly store: Store,
    private readonly retentionMs: number,
    private readonly maxWaitMs: number,
    private readonly log: Logger
  ) {}

  /** Counts this start (for unique ids) and starts the flush and retention timers. */
  async start (): Promise<void> {
    const last = await this.store.get(META, 'boot')
    this.boot = (typeof last === 'number' ? last : 0) + 1
    this.store.put(META, 'boot', this.boot)
    this.flushTimer = setInterval(() => { this.flush(this.maxWaitMs, Date.now(), false) }, FLUSH_INTERVAL_MS)
    this.flushTimer.unref()
    this.pruneTimer = setInterval(() => { void this.prune() }, PRUNE_INTERVAL_MS)
    this.pruneTimer.unref()
    void this.prune()
  }

  /** Stops the timers and writes everything, transfers still open included (as "prepared"). */
  stop (): void {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer)
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    this.flush(Infinity)
  }

  // ---- the packet path: append only ------------------------------------------------------------

  prepared (source: string, seq: number, prepare: Prepare, nextHop: string, now: number): void {
    if (this.buffer.length >= MAX_BUFFERED) { this.dropped++; return }
    // Only what the record needs: the Prepare's data (up to 32 KB) is not kept, and the condition is
    // copied so the received frame it is a slice of can be freed.
    const p = prepare
    if (this.buffer.push({ prepared: true, source, seq, destination: p.destination, amount: p.amount, condition: Buffer.from(p.executionCondition), expiresAt: p.expiresAt, nextHop, at: now }) === EARLY_FLUSH_AT) setImmediate(flushHistory, this)
  }

  settled (source: string, seq: number, reply: Reply, now: number): void {
    if (this.buffer.length >= MAX_BUFFERED) { this.dropped++; return }
    if (this.buffer.push({ prepared: false, source, seq, reply, at: now }) === EARLY_FLUSH_AT) setImmediate(flushHistory, this)
  }

  // ---- off the packet path ---------------------------------------------------------------------

  /**
   * Applies the buffered events and writes the transfers that have ended as one chunk (the timer's
   * flushes, `writeNow` false, write only once CHUNK_TRANSFERS wait or the oldest has waited CHUNK_MS;
   * a query writes them at once). Open ones are written too once older than `maxWaitMs` (their end was
   * lost), or all of them with `openOlderThan` = Infinity (at stop).
   */
  flush (openOlderThan = this.maxWaitMs, now = Date.now(), writeNow = true): void {
    if (this.dropped > 0) {
      this.log.warn({ dropped: this.dropped }, 'transfer history: events dropped (the buffer was full); those transfers are incomplete or missing')
      this.dropped = 0
    }
    const events = this.buffer
    this.buffer = []
    const ended = this.ended
    for (const e of events) {
      try {
        if (e.prepared) this.open.set(`${e.source}|${e.seq}`, this.tuple(e))
        else this.end(e, ended)
      } catch (err) {
        // A record that cannot be made (a malformed reply) must not stop the others.
        this.log.error({ err, account: e.source }, 'transfer history: could not record an event')
      }
    }
    // Open transfers whose end never came (an event dropped) are looked for now and then, not every flush.
    if (this.open.size > 0 && (openOlderThan === Infinity || now - this.lastSweep > SWEEP_INTERVAL_MS)) {
      this.lastSweep = now
      for (const [key, t] of this.open) {
        if (openOlderThan === Infinity || t[7] < now - openOlderThan) {
          this.open.delete(key)
          ended.push(t)
        }
      }
    }
    if (ended.length === 0) return
    if (this.endedSince === 0) this.endedSince = now
    if (writeNow || openOlderThan === Infinity || ended.length >= CHUNK_TRANSFERS || now - this.endedSince >= CHUNK_MS) {
      this.ended = []
      this.endedSince = 0
      this.writeChunk(ended, now)
    }
  }

  private tuple (e: Extract<Event, { prepared: true }>): Tuple {
    const id = `${String(e.at).padStart(13, '0')}-${this.boot}-${e.seq}-${e.source}`
    return [id, e.source, e.nextHop, e.destination, e.amount.toString(), e.condition, e.expiresAt, e.at, 0, null, null, null, null, null, e.seq]
  }

  private end (e: Extract<Event, { prepared: false }>, ended: Tuple[]): void {
    const key = `${e.source}|${e.seq}`
    const t = this.open.get(key)
    if (t === undefined) return // its prepared event was dropped
    this.open.delete(key)
    t[9] = e.at
    if (e.reply.kind === 'fulfill') {
      t[8] = 1
      t[10] = e.reply.fulfillment
    } else {
      const r = IlpPacket.deserializeIlpReject(e.reply.packet)
      t[8] = 2
      t[11] = r.code
      t[12] = r.triggeredBy
      t[13] = r.message
    }
    ended.push(t)
  }

  private writeChunk (transfers: Tuple[], now: number): void {
    const key = `${String(now).padStart(13, '0')}-${this.boot}-${this.chunkSeq++}`
    const accounts = new Set<string>()
    const conditions = new Set<string>()
    for (const t of transfers) {
      accounts.add(t[1])
      accounts.add(t[2])
      conditions.add(t[5].toString('hex', 0, 4))
    }
    const head: Head = { accounts: [...accounts], conditions: [...conditions] }
    this.store.put(CHUNKS, key, encodeChunk(this.boot, now, head.accounts, transfers))
    this.store.put(HEADS, key, head)
  }

  /** Deletes chunks written before the retention. */
  async prune (now = Date.now()): Promise<number> {
    if (this.pruning) return 0
    this.pruning = true
    let deleted = 0
    try {
      const cutoff = String(now - this.retentionMs).padStart(13, '0')
      for (;;) {
        const old = await this.store.list(HEADS, { lt: cutoff, limit: HEAD_PAGE })
        for (const { key } of old) {
          this.store.delete(HEADS, key)
          this.store.delete(CHUNKS, key)
        }
        deleted += old.length
        if (old.length < HEAD_PAGE) break
      }
      if (deleted > 0) this.log.info({ chunks: deleted }, 'transfer history: chunks past the retention deleted')
    } catch (err) {
      this.log.error({ err }, 'transfer history: pruning failed')
    } finally {
      this.pruning = false
    }
    return deleted
  }

  // ---- queries (they see everything buffered, and transfers still open) -------------------------

  async get (id: string): Promise<TransferRecord | undefined> {
    this.flush()
    const m = /^(\d{13})-(\d+)-(\d+)-(.+)$/.exec(id)
    if (m === null) return undefined
    const open = this.open.get(`${m[4]}|${m[3]}`)
    if (open !== undefined && open[0] === id) return view(open)
    const at = Number(m[1])
    let found: TransferRecord | undefined
    await this.scan({ from: at, to: at + 1 }, head => head.accounts.includes(m[4]), (t) => {
      if (t[0] === id) found = view(t)
      return found !== undefined
    })
    return found
  }

  /** Transfers with a condition (hex), newest first; those prepared in [from, to) when given. */
  async byCondition (condition: string, limit: number, range: { from?: number; to?: number } = {}): Promise<TransferRecord[]> {
    this.flush()
    const prefix = condition.slice(0, 8)
    const matches = (t: Tuple): boolean => t[5].toString('hex') === condition && inRange(t, range.from, range.to)
    const out: Tuple[] = [...this.open.values()].filter(matches)
    await this.scan(range, head => head.conditions.includes(prefix), t => {
      if (matches(t)) out.push(t)
      return false
    })
    return newestFirst(out).slice(0, limit).map(view)
  }

  /**
   * An account's transfers (as source or next hop), newest first by id, prepared in [from, to) (ms),
   * with ids below `before` when given; at most `limit`.
   */
  async forAccount (account: string, options: { from?: number; to?: number; before?: string; limit: number }): Promise<HistoryPage> {
    this.flush()
    const { before, limit } = options
    let to = options.to
    if (before !== undefined) {
      const at = Number(before.slice(0, 13))
      if (Number.isFinite(at)) to = Math.min(to ?? Infinity, at + 1)
    }
    const matches = (t: Tuple): boolean => (t[1] === account || t[2] === account) && inRange(t, options.from, to) && (before === undefined || t[0] < before)
    let found: Tuple[] = [...this.open.values()].filter(matches)
    await this.scan({ from: options.from, to }, head => head.accounts.includes(account), t => {
      if (matches(t)) found.push(t)
      return false
    }, (chunkTime) => {
      // A chunk holds only transfers prepared before it was written: once `limit` transfers newer than
      // this chunk are found, older chunks cannot change the page.
      if (found.length <= limit) return false
      found = newestFirst(found).slice(0, limit + 1)
      return found[limit][7] > chunkTime
    })
    const sorted = newestFirst(found)
    const page = sorted.slice(0, limit)
    return { transfers: page.map(view), next: sorted.length > limit ? page[page.length - 1][0] : null }
  }

  /**
   * Visits the transfers of the chunks that can hold transfers prepared in [from, to), newest chunk
   * first, opening only those whose head `want`s. `visit` returning true, or `done` (given the chunk's
   * time) returning true, stops the scan.
   */
  private async scan (
    range: { from?: number; to?: number },
    want: (head: Head) => boolean,
    visit: (t: Tuple) => boolean,
    done: (chunkTime: number) => boolean = () => false
  ): Promise<void> {
    // A transfer is in a chunk written at most maxWaitMs (and the write lag) after it was prepared.
    let lt = range.to === undefined || !Number.isFinite(range.to) ? undefined : String(range.to + this.maxWaitMs + WRITE_LAG_MS).padStart(13, '0')
    const gte = range.from === undefined ? undefined : String(range.from).padStart(13, '0')
    for (;;) {
      const heads = await this.store.list(HEADS, { gte, lt, reverse: true, limit: HEAD_PAGE })
      for (const { key, value } of heads) {
        if (done(Number(key.slice(0, 13)))) return
        if (!want(value as Head)) continue
        const chunk = await this.store.get(CHUNKS, key) as Chunk | undefined
        for (const t of chunk === undefined ? [] : decodeChunk(chunk)) if (visit(t)) return
      }
      if (heads.length < HEAD_PAGE) return
      lt = heads[heads.length - 1].key
    }
  }
}

function flushHistory (history: TransferHistory): void {
  history.flush(undefined, undefined, false)
}

function encodeChunk (boot: number, at: number, accounts: string[], transfers: Tuple[]): Chunk {
  const accountIndex = new Map(accounts.map((a, i) => [a, i]))
  const destinations: string[] = []
  const destinationIndex = new Map<string, number>()
  const rows: unknown[] = new Array(transfers.length * ROW)
  let i = 0
  for (const t of transfers) {
    let d = destinationIndex.get(t[3])
    if (d === undefined) {
      d = destinations.length
      destinations.push(t[3])
      destinationIndex.set(t[3], d)
    }
    rows[i++] = t[14]
    rows[i++] = accountIndex.get(t[1])
    rows[i++] = accountIndex.get(t[2])
    rows[i++] = d
    rows[i++] = t[4]
    rows[i++] = t[5]
    rows[i++] = at - t[7]
    rows[i++] = t[6] - t[7]
    rows[i++] = t[8]
    rows[i++] = t[9] === null ? null : t[9] - t[7]
    rows[i++] = t[10]
    rows[i++] = t[11]
    rows[i++] = t[12]
    rows[i++] = t[13]
  }
  return { boot, at, accounts, destinations, rows }
}

function decodeChunk (c: Chunk): Tuple[] {
  const out: Tuple[] = []
  const r = c.rows
  for (let i = 0; i + ROW <= r.length; i += ROW) {
    const seq = r[i] as number
    const source = c.accounts[r[i + 1] as number]
    const preparedAt = c.at - (r[i + 6] as number)
    const settled = r[i + 9] as number | null
    out.push([
      `${String(preparedAt).padStart(13, '0')}-${c.boot}-${seq}-${source}`,
      source,
      c.accounts[r[i + 2] as number],
      c.destinations[r[i + 3] as number],
      r[i + 4] as string,
      r[i + 5] as Buffer,
      preparedAt + (r[i + 7] as number),
      preparedAt,
      r[i + 8] as number,
      settled === null ? null : preparedAt + settled,
      r[i + 10] as Buffer | null,
      r[i + 11] as string | null,
      r[i + 12] as string | null,
      r[i + 13] as string | null,
      seq
    ])
  }
  return out
}

function inRange (t: Tuple, from: number | undefined, to: number | undefined): boolean {
  return (from === undefined || t[7] >= from) && (to === undefined || t[7] < to)
}

function newestFirst (list: Tuple[]): Tuple[] {
  return list.sort((a, b) => a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0)
}

const STATES = ['prepared', 'fulfilled', 'rejected'] as const

function view (t: Tuple): TransferRecord {
  const r: TransferRecord = {
    id: t[0],
    state: STATES[t[8]],
    source: t[1],
    nextHop: t[2],
    destination: t[3],
    amount: t[4],
    executionCondition: t[5].toString('hex'),
    expiresAt: new Date(t[6]).toISOString(),
    preparedAt: new Date(t[7]).toISOString()
  }
  if (t[9] !== null) r.settledAt = new Date(t[9]).toISOString()
  if (t[10] !== null) r.fulfillment = t[10].toString('hex')
  if (t[11] !== null) r.reject = { code: t[11], triggeredBy: t[12] ?? '', message: t[13] ?? '' }
  return r
}
