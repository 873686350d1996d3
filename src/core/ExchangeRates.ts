/**
 * The connector's exchange rates: a `RateTable` snapshot from a static config section or from an HTTP
 * feed polled on an interval, and `convert`, the function the account actors call per packet. The
 * packet path only looks up a cached pair factor and does bigint arithmetic; parsing happens when rates
 * change. A failing or malformed feed never throws: it is logged and the last good rates are kept until
 * they are older than `maxAgeMs`, after which conversions between different assets get T00.
 */
import type { Logger } from 'pino'
import type { RatesConfig } from '../config'
import { convertWithFactor, Asset, ConversionResult } from '../protocol/amounts'
import { RateTable, Rational, parseDecimal, parseFeedValue, isPositive } from '../protocol/rates'

export type FeedFormat = 'base-rates' | 'usd-prices'

/** Parsed feed: asset values in a common base, plus entries that were skipped (with why). */
export interface ParsedFeed { values: Map<string, Rational>; skipped: string[] }

/**
 * Parses a feed body. `base-rates`: `{ "base": "EUR", "rates": { "USD": 1.08 } }` (units of a code per
 * one base unit, so value(code) = 1 / rate, value(base) = 1). `usd-prices`:
 * `[{ "symbol": "XRP", "price_usd": "0.52" }]` (value(code) = price, value(USD) = 1). Entries with a
 * missing, non-decimal or zero value are skipped; a body of the wrong shape, or with no usable entry,
 * throws (the caller keeps its last good rates).
 */
export function parseFeed (format: FeedFormat, body: unknown): ParsedFeed {
  const values = new Map<string, Rational>()
  const skipped: string[] = []
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (format === 'base-rates') {
    if (!isObject(body) || typeof body.base !== 'string' || body.base === '' || !isObject(body.rates)) {
      throw new Error('expected { "base": "<code>", "rates": { "<code>": <number>, ... } }')
    }
    values.set(body.base, { n: 1n, d: 1n })
    for (const [code, raw] of Object.entries(body.rates)) {
      if (code === body.base) continue
      const r = parseFeedValue(raw)
      if (r === undefined || !isPositive(r)) { skipped.push(code); continue }
      values.set(code, { n: r.d, d: r.n }) // 1 / rate
    }
  } else {
    if (!Array.isArray(body)) throw new Error('expected [ { "symbol": "<code>", "price_usd": "<decimal>" }, ... ]')
    values.set('USD', { n: 1n, d: 1n })
    for (const entry of body) {
      const symbol = isObject(entry) ? entry.symbol : undefined
      if (typeof symbol !== 'string' || symbol === '') { skipped.push(String(symbol)); continue }
      const r = parseFeedValue((entry as Record<string, unknown>).price_usd)
      if (r === undefined || !isPositive(r)) { skipped.push(symbol); continue }
      values.set(symbol, r)
    }
  }
  if (values.size < 2) throw new Error('the feed has no usable rate')
  return { values, skipped }
}

export interface ExchangeRatesOptions {
  log: Logger
  now?: () => number
  /** For tests: the fetch to use (default: Node's global fetch). */
  fetch?: typeof fetch
}

export class ExchangeRates {
  private table: RateTable
  /** When the current table was loaded (HTTP backend); 0 = never. */
  private loadedAt = 0
  private staleWarned = false
  private timer: NodeJS.Timeout | undefined
  private stopped = true
  private readonly spread: Rational
  private readonly now: () => number
  private readonly log: Logger
  private readonly fetchFn: typeof fetch

  constructor (readonly config: RatesConfig, options: ExchangeRatesOptions) {
    this.log = options.log
    this.now = options.now ?? Date.now
    this.fetchFn = options.fetch ?? fetch
    const spread = parseDecimal(config.spread)
    if (spread === undefined || spread.n >= spread.d) throw new Error(`rates.spread: must be a decimal >= 0 and < 1 (got "${config.spread}")`)
    this.spread = spread
    const values = new Map<string, Rational>()
    if (config.backend === 'static') {
      for (const [code, text] of Object.entries(config.rates)) {
        const r = parseDecimal(text)
        if (r === undefined || !isPositive(r)) throw new Error(`rates.rates.${code}: must be a decimal > 0 (got "${text}")`)
        values.set(code, r)
      }
    }
    this.table = new RateTable(values, spread)
  }

  /** The HTTP backend fetches once (waiting for it, so a healthy feed is in use from the start), then polls. */
  async start (): Promise<void> {
    if (this.config.backend !== 'http' || !this.stopped) return
    this.stopped = false
    await this.poll()
  }

  stop (): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** For the packet path: amount in `from` → amount in `to`, rounded down. */
  readonly convert = (amount: bigint, from: Asset, to: Asset): ConversionResult => {
    const config = this.config
    if (config.backend === 'http' && from.code !== to.code && this.isStale()) {
      if (!this.staleWarned) this.warnStale()
      return {
        ok: false,
        code: 'T00',
        message: this.loadedAt === 0 ? 'exchange rates are not available yet' : 'exchange rates are out of date'
      }
    }
    const factor = this.table.factor(from.code, to.code)
    if (factor === undefined) return { ok: false, code: 'F02', message: `no exchange rate from ${from.code} to ${to.code}` }
    return convertWithFactor(amount, from, to, factor)
  }

  /** Replaces the rates (the HTTP backend does this on each good fetch). */
  setValues (values: ReadonlyMap<string, Rational>): void {
    this.table = new RateTable(values, this.spread)
    this.loadedAt = this.now()
    if (this.staleWarned) this.log.info({ assets: values.size }, 'exchange rates are up to date again')
    this.staleWarned = false
  }

  get lastLoadedAt (): number { return this.loadedAt }

  private isStale (): boolean {
    return this.config.backend === 'http' && (this.loadedAt === 0 || this.now() - this.loadedAt > this.config.maxAgeMs)
  }

  private warnStale (): void {
    this.staleWarned = true
    if (this.config.backend !== 'http') return
    this.log.warn(
      { url: redact(this.config.url), loadedAt: this.loadedAt === 0 ? null : new Date(this.loadedAt).toISOString(), maxAgeMs: this.config.maxAgeMs },
      this.loadedAt === 0
        ? 'no exchange rates loaded yet: packets between different assets get T00'
        : 'exchange rates are older than maxAgeMs: packets between different assets get T00 until the feed answers again'
    )
  }

  private async poll (): Promise<void> {
    const config = this.config
    if (config.backend !== 'http') return
    try {
      const response = await this.fetchFn(config.url, {
        // At least a second: a busy machine's first request can take longer than a short refresh interval.
        signal: AbortSignal.timeout(Math.min(Math.max(config.refreshIntervalMs, 1000), 10000)),
        headers: { accept: 'application/json' }
      })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      const { values, skipped } = parseFeed(config.format, await response.json())
      if (this.stopped) return
      this.setValues(values)
      if (skipped.length > 0) {
        this.log.warn({ url: redact(config.url), skipped: skipped.slice(0, 10), count: skipped.length }, 'exchange rate feed: entries without a usable value were skipped')
      }
      this.log.debug({ assets: values.size }, 'exchange rates loaded')
    } catch (err) {
      if (this.stopped) return
      this.log.warn({ url: redact(config.url), err: (err as Error).message }, 'exchange rate feed failed: keeping the last good rates')
    }
    if (this.stopped) return
    if (this.isStale() && !this.staleWarned) this.warnStale()
    this.timer = setTimeout(() => { void this.poll() }, config.refreshIntervalMs)
    this.timer.unref()
  }
}

/** A URL for logs: without credentials or query (either may carry an API key). */
function redact (url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(invalid url)'
  }
}
