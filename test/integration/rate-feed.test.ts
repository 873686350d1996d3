/**
 * The HTTP rate backend against a real feed served by the test on loopback (node:http), through
 * Node's global fetch: rates load, refresh, go stale (errors, malformed bodies, no answer at all) so
 * that conversions between different assets get T00 with one warning per episode, and come back.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { Writable } from 'node:stream'
import { ExchangeRates, parseFeed } from '../../src/core/ExchangeRates'
import type { HttpRatesConfig } from '../../src/config'
import type { Asset, ConversionResult } from '../../src/protocol/amounts'

const EUR2: Asset = { code: 'EUR', scale: 2 }
const USD2: Asset = { code: 'USD', scale: 2 }
const XRP9: Asset = { code: 'XRP', scale: 9 }
const XRP6: Asset = { code: 'XRP', scale: 6 }

/** What the feed does next: answer with JSON, with an HTTP error, with garbage, or not at all. */
type Behaviour = { kind: 'json'; body: unknown } | { kind: 'status'; status: number } | { kind: 'garbage' } | { kind: 'hang' }

let behaviour: Behaviour = { kind: 'json', body: {} }
let requests = 0
const hanging: http.ServerResponse[] = []
const server = http.createServer((_req, res) => {
  requests++
  switch (behaviour.kind) {
    case 'json': res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(behaviour.body)); break
    case 'status': res.writeHead(behaviour.status).end('down for maintenance'); break
    case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }).end('{"base": "EUR", "rates": '); break
    case 'hang': hanging.push(res); break
  }
})
let url = ''

interface Line { level: number; msg: string }
const lines: Line[] = []
const log = pino({ level: 'debug' }, new Writable({
  write (chunk: Buffer, _enc, done) {
    for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Line)
    done()
  }
}))
const warnings = (text: string): number => lines.filter(l => l.level === 40 && l.msg.includes(text)).length

beforeAll(async () => {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rates`
})
afterAll(async () => {
  for (const res of hanging) res.destroy()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

function config (format: HttpRatesConfig['format'], extra: Partial<HttpRatesConfig> = {}): HttpRatesConfig {
  return { backend: 'http', url, format, spread: '0', refreshIntervalMs: 100, maxAgeMs: 800, ...extra }
}

async function until (check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const amountOf = (r: ConversionResult): bigint | string => r.ok ? r.amount : r.code

describe('parseFeed', () => {
  it('base-rates: value(code) = 1 / rate, value(base) = 1; numbers exactly as written', () => {
    const { values, skipped } = parseFeed('base-rates', { base: 'EUR', rates: { USD: 1.08, JPY: '160.5', BAD: -1, NUL: null, EUR: 1 } })
    expect(values.get('EUR')).toEqual({ n: 1n, d: 1n })
    expect(values.get('USD')).toEqual({ n: 25n, d: 27n }) // 1 / (108/100) = 100/108 = 25/27
    expect(values.get('JPY')).toEqual({ n: 2n, d: 321n }) // 1 / (1605/10) = 10/1605 = 2/321
    expect(skipped).toEqual(['BAD', 'NUL'])
  })
  it('usd-prices: value(code) = price in USD, value(USD) = 1', () => {
    const { values, skipped } = parseFeed('usd-prices', [{ symbol: 'XRP', price_usd: '0.52' }, { symbol: 'EUR', price_usd: 1.08 }, { symbol: 'ZZZ', price_usd: '0' }, { nope: 1 }])
    expect(values.get('USD')).toEqual({ n: 1n, d: 1n })
    expect(values.get('XRP')).toEqual({ n: 13n, d: 25n }) // 52/100
    expect(values.get('EUR')).toEqual({ n: 27n, d: 25n }) // 108/100
    expect(skipped).toEqual(['ZZZ', 'undefined'])
  })
  it('a body of the wrong shape, or with nothing usable, throws', () => {
    expect(() => parseFeed('base-rates', [])).toThrow(/base/)
    expect(() => parseFeed('base-rates', { base: 'EUR' })).toThrow(/base/)
    expect(() => parseFeed('usd-prices', { base: 'EUR', rates: {} })).toThrow(/symbol/)
    expect(() => parseFeed('usd-prices', [{ symbol: 'XRP', price_usd: 'n/a' }])).toThrow(/no usable rate/)
  })
})

describe('ExchangeRates with an HTTP feed on loopback', () => {
  let rates: ExchangeRates | undefined
  afterEach(() => { rates?.stop(); rates = undefined })

  it('loads, refreshes, goes stale (T00, one warning per episode), and comes back', async () => {
    lines.length = 0
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.08 } } }
    rates = new ExchangeRates(config('base-rates'), { log })
    await rates.start() // waits for the first fetch
    // 1.00 EUR → USD: rate = value(EUR)/value(USD) = 1 / (25/27) = 27/25 = 1.08: floor(100 × 1.08) = 108
    expect(amountOf(rates.convert(100n, EUR2, USD2))).toBe(108n)
    // 1.00 USD → EUR: floor(100 × 25/27) = floor(92.59…) = 92
    expect(amountOf(rates.convert(100n, USD2, EUR2))).toBe(92n)
    // No XRP in the feed: F02, naming the pair.
    const missing = rates.convert(100n, EUR2, XRP9)
    expect(missing).toMatchObject({ ok: false, code: 'F02' })
    if (!missing.ok) expect(missing.message).toBe('no exchange rate from EUR to XRP')

    // Refresh: the feed changes, conversions follow. 1.00 EUR at 1.2 → floor(100 × 1.2) = 120
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.2 } } }
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 120n)

    // The feed fails (HTTP 503, then a truncated body): the last good rates are kept while fresh...
    behaviour = { kind: 'status', status: 503 }
    const failedAt = Date.now()
    const before = requests
    await until(() => requests >= before + 2)
    behaviour = { kind: 'garbage' }
    await until(() => requests >= before + 4)
    if (Date.now() - failedAt < 500) expect(amountOf(rates.convert(100n, EUR2, USD2))).toBe(120n)
    expect(warnings('exchange rate feed failed')).toBeGreaterThanOrEqual(2)
    // ...then, past maxAgeMs (800 ms), packets between different assets get T00.
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 'T00')
    for (let i = 0; i < 50; i++) expect(amountOf(rates.convert(100n, USD2, EUR2))).toBe('T00')
    const stale = rates.convert(1n, EUR2, USD2)
    if (!stale.ok) expect(stale.message).toBe('exchange rates are out of date')
    // The same asset needs no rate: still converted (1.00 EUR → 1.00 EUR; 1 XRP scale 9 → 1000000 at scale 6).
    expect(amountOf(rates.convert(100n, EUR2, EUR2))).toBe(100n)
    expect(amountOf(rates.convert(1000000000n, XRP9, XRP6))).toBe(1000000n)
    // One warning for this staleness episode, however many packets and failed polls.
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(warnings('older than maxAgeMs')).toBe(1)

    // The feed answers again: fresh rates, conversions resume. 1.00 EUR at 1.1 → floor(100 × 1.1) = 110 (exact: 11/10)
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.1 } } }
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 110n)
    expect(lines.some(l => l.msg === 'exchange rates are up to date again')).toBe(true)

    // A second episode, this time a feed that stops answering at all (fetch times out): T00 again, a second warning.
    behaviour = { kind: 'hang' }
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 'T00', 5000)
    expect(warnings('older than maxAgeMs')).toBe(2)
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.1 } } }
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 110n, 5000)
  })

  it('usd-prices with a spread', async () => {
    behaviour = { kind: 'json', body: [{ symbol: 'XRP', price_usd: '0.52' }, { symbol: 'EUR', price_usd: 1.08 }] }
    rates = new ExchangeRates(config('usd-prices', { spread: '0.01' }), { log })
    await rates.start()
    // 1 XRP (scale 9) → USD scale 2: floor(10^9 × 0.52 × 0.99 / 10^7) = floor(51.48) = 51
    expect(amountOf(rates.convert(1000000000n, XRP9, USD2))).toBe(51n)
    // 1.00 EUR → XRP scale 6: 100 × (1.08 / 0.52) × 0.99 × 10^4 = 100 × (108/52) × (99/100) × 10^4
    //   = 108 × 99 × 10^4 / 52 = 106920000 / 52 = 2056153.846… → 2056153
    expect(amountOf(rates.convert(100n, EUR2, XRP6))).toBe(2056153n)
    // The same asset and scale takes the spread too: floor(100 × 0.99) = 99
    expect(amountOf(rates.convert(100n, USD2, USD2))).toBe(99n)
  })

  it('a feed that is down at start: T00 ("not available yet") until its first good answer', async () => {
    lines.length = 0
    behaviour = { kind: 'status', status: 500 }
    rates = new ExchangeRates(config('base-rates'), { log })
    await rates.start() // does not throw
    const r = rates.convert(100n, EUR2, USD2)
    expect(r).toMatchObject({ ok: false, code: 'T00', message: 'exchange rates are not available yet' })
    expect(warnings('no exchange rates loaded yet')).toBe(1)
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.08 } } }
    await until(() => amountOf(rates!.convert(100n, EUR2, USD2)) === 108n)
  })

  it('stop() stops polling', async () => {
    behaviour = { kind: 'json', body: { base: 'EUR', rates: { USD: 1.08 } } }
    rates = new ExchangeRates(config('base-rates'), { log })
    await rates.start()
    rates.stop()
    const after = requests
    await new Promise(resolve => setTimeout(resolve, 400))
    expect(requests).toBe(after)
  })
})
