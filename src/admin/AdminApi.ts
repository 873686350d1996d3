/**
 * The admin HTTP API (docs/admin-api.yaml): off the packet path, on its own listener (loopback by
 * default), JSON in and out. Every call but GET /healthz presents the admin token
 * (`Authorization: Bearer TOKEN`); /healthz tells a load balancer only "ok" or not, so it needs none.
 * An account's API key (see ApiKeys) may be presented instead, for that account's balance and history only.
 * Bad input gets a 4xx naming the problem, checked before anything is applied; every change is
 * recorded in the audit log once it has been applied.
 */
import { IncomingMessage, Server, ServerResponse } from 'http'
import { createHash, timingSafeEqual } from 'crypto'
import type { Logger } from 'pino'
import type { Connector } from '../Connector'
import type { AdminConfig } from '../config'
import type { Store } from '../store/Store'
import type { Metrics } from '../metrics/Metrics'
import { AuditLog } from './AuditLog'
import { ApiKeys, isApiKey } from './ApiKeys'
import * as keys from './handlers/keys'
import * as transfers from './handlers/transfers'
import * as receipts from './handlers/receipts'
import { HttpError, statusOf, intParam, onlyParams, ok, type ApiRequest, type HandlerResult, type Caller } from './http'
import * as accounts from './handlers/accounts'
import * as routes from './handlers/routes'
import { status, healthz } from './handlers/status'
import { shortRequestServer, listen } from '../transport/httpListener'

/** Largest request body accepted. */
const MAX_BODY_BYTES = 64 * 1024

type Handler = (req: ApiRequest, params: string[]) => HandlerResult | Promise<HandlerResult>

interface Route {
  method: string
  /** Path segments; "*" matches one segment, passed to the handler. */
  path: string[]
  handler: Handler
  /** An API key of the account named by the first "*" may call it (admin-only otherwise). */
  key?: true
}

export class AdminApi {
  private server: Server | undefined
  private metricsServer: Server | undefined
  private readonly audit: AuditLog
  readonly keys: ApiKeys
  private readonly tokenDigest: Buffer
  private readonly routes: Route[]
  port: number | undefined
  metricsPort: number | undefined

  constructor (private readonly connector: Connector, private readonly config: AdminConfig, store: Store, private readonly metrics: Metrics | undefined, private readonly log: Logger) {
    if (config.token === undefined) throw new Error('admin.token is required when the admin API is enabled')
    this.tokenDigest = digest(config.token)
    this.audit = new AuditLog(store)
    this.keys = new ApiKeys(store)
    const c = connector
    const k = this.keys
    this.routes = [
      { method: 'GET', path: ['status'], handler: req => status(c, req) },
      { method: 'GET', path: ['accounts'], handler: req => accounts.listAccounts(c, req) },
      { method: 'POST', path: ['accounts'], handler: async req => await accounts.createAccount(c, req) },
      { method: 'GET', path: ['accounts', '*'], handler: (req, [id]) => accounts.getAccount(c, req, id) },
      { method: 'PATCH', path: ['accounts', '*'], handler: async (req, [id]) => await accounts.updateAccount(c, req, id) },
      {
        method: 'DELETE',
        path: ['accounts', '*'],
        handler: async (req, [id]) => {
          const result = await accounts.deleteAccount(c, req, id)
          // Its keys go with it (its history stays readable with the admin token).
          k.revokeAll(id)
          return result
        }
      },
      { method: 'GET', path: ['accounts', '*', 'balance'], handler: (req, [id]) => accounts.getBalance(c, req, id), key: true },
      { method: 'GET', path: ['accounts', '*', 'transfers'], handler: async (req, [id]) => await transfers.accountTransfers(c, req, id), key: true },
      { method: 'GET', path: ['accounts', '*', 'receipts'], handler: (req, [id]) => receipts.getReceipts(c, req, id), key: true },
      { method: 'GET', path: ['transfers'], handler: async req => await transfers.findTransfers(c, req) },
      { method: 'GET', path: ['transfers', '*'], handler: async (req, [id]) => await transfers.getTransfer(c, req, id) },
      { method: 'GET', path: ['accounts', '*', 'keys'], handler: (req, [id]) => keys.listKeys(k, req, id) },
      { method: 'POST', path: ['accounts', '*', 'keys'], handler: (req, [id]) => keys.createKey(c, k, req, id) },
      { method: 'DELETE', path: ['accounts', '*', 'keys', '*'], handler: (req, [id, keyId]) => keys.revokeKey(k, req, id, keyId) },
      { method: 'POST', path: ['accounts', '*', 'balance', 'adjustments'], handler: async (req, [id]) => await accounts.adjustBalance(c, req, id) },
      { method: 'GET', path: ['routes'], handler: req => routes.listRoutes(c, req) },
      { method: 'POST', path: ['routes'], handler: async req => await routes.addRoute(c, req) },
      { method: 'DELETE', path: ['routes', '*'], handler: async (req, [prefix]) => await routes.removeRoute(c, req, prefix) },
      { method: 'GET', path: ['audit'], handler: async req => await this.listAudit(req) }
    ]
    // Metrics need the token here, unless they have a listener of their own.
    if (config.metricsPort === undefined) this.routes.push({ method: 'GET', path: ['metrics'], handler: async () => await this.scrape() })
  }

  /** "METHOD /path/{}" of every call served (a "{}" per path parameter), for the docs' test. */
  routeList (): string[] {
    return [...this.routes.map(r => `${r.method} /${r.path.map(p => p === '*' ? '{}' : p).join('/')}`), 'GET /healthz']
  }

  async listen (): Promise<number> {
    await this.keys.load()
    if (this.config.metricsPort !== undefined) await this.listenForMetrics(this.config.metricsPort)
    const server = shortRequestServer((req, res) => { void this.serve(req, res) })
    this.server = server
    this.port = await listen(server, this.config.host, this.config.port)
    this.log.info({ host: this.config.host, port: this.port }, 'admin API ready')
    return this.port
  }

  /**
   * Metrics on a listener of their own (same host), without a token: for a Prometheus that cannot
   * present one. It serves GET /metrics and nothing else.
   */
  private async listenForMetrics (port: number): Promise<void> {
    const server = shortRequestServer((req, res) => {
      req.resume()
      const path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        res.end('only GET /metrics is served here\n')
        return
      }
      this.scrape().then(r => {
        res.writeHead(200, { 'content-type': r.contentType ?? 'text/plain' })
        res.end(r.text)
      }, (err: unknown) => {
        this.log.error({ err }, 'metrics scrape failed')
        res.writeHead(500)
        res.end()
      })
    })
    this.metricsServer = server
    this.metricsPort = await listen(server, this.config.host, port)
    this.log.info({ host: this.config.host, port: this.metricsPort }, 'metrics listener ready')
    if (!['127.0.0.1', '::1', 'localhost'].includes(this.config.host)) {
      // No token on this listener: account ids, balances and packet counts are visible to whoever reaches it.
      this.log.warn({ host: this.config.host, port: this.metricsPort }, 'the metrics listener (no token) is not on loopback: restrict who can reach it')
    }
  }

  private async scrape (): Promise<HandlerResult> {
    if (this.metrics === undefined) throw new HttpError(404, 'metrics are not collected')
    const { contentType, text } = await this.metrics.scrape()
    return { status: 200, body: undefined, text, contentType }
  }

  async close (): Promise<void> {
    const servers = [this.server, this.metricsServer].filter((s): s is Server => s !== undefined)
    this.server = undefined
    this.metricsServer = undefined
    await Promise.all(servers.map(async server => await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })))
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    let result: HandlerResult
    let headers: Record<string, string> = {}
    try {
      result = await this.handle(req)
    } catch (err) {
      const s = statusOf(err)
      if (s.status >= 500) this.log.error({ err, method: req.method, url: req.url }, 'admin API call failed')
      result = { status: s.status, body: { error: s.message } }
      headers = s.headers
    }
    if (res.headersSent || res.destroyed) return
    if (result.text !== undefined) {
      res.writeHead(result.status, { ...headers, 'content-type': result.contentType ?? 'text/plain; charset=utf-8' })
      res.end(result.text)
      return
    }
    const payload = JSON.stringify(result.body, null, 2) + '\n'
    res.writeHead(result.status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
    res.end(payload)
  }

  private async handle (req: IncomingMessage): Promise<HandlerResult> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid')
    let segments: string[]
    try {
      segments = url.pathname.split('/').filter(s => s !== '').map(decodeURIComponent)
    } catch {
      throw new HttpError(400, 'path: not a valid URL path')
    }
    const method = req.method ?? 'GET'
    if (method === 'GET' && segments.length === 1 && segments[0] === 'healthz') {
      req.resume()
      return healthz(this.connector)
    }
    // Authenticate before reading the body or saying which paths exist.
    const caller = this.authenticate(req)
    const candidates = this.routes.filter(r => matches(r.path, segments))
    if (candidates.length === 0) throw new HttpError(404, `no such path: ${url.pathname}`)
    const route = candidates.find(r => r.method === method)
    if (route === undefined) {
      const allowed = candidates.map(r => r.method).join(', ')
      throw new HttpError(405, `method ${method} is not allowed on ${url.pathname} (allowed: ${allowed})`, { allow: allowed })
    }
    const params = route.path.flatMap((p, i) => p === '*' ? [segments[i]] : [])
    if (caller.account !== undefined && (route.key !== true || params[0] !== caller.account)) {
      throw new HttpError(403, `an API key may only read the balance and history of its own account (${caller.account}); this call needs the admin token`)
    }
    const body = await readBody(req)
    const result = await route.handler({ method, segments, query: url.searchParams, caller, body }, params)
    if (result.audit !== undefined) this.audit.record(caller, result.audit)
    return result
  }

  private authenticate (req: IncomingMessage): Caller {
    const header = req.headers.authorization
    const challenge = { 'www-authenticate': 'Bearer realm="metamorphosis-admin"' }
    if (header === undefined || header === '') throw new HttpError(401, 'missing admin token: send "Authorization: Bearer TOKEN"', challenge)
    const match = /^Bearer (.+)$/.exec(header)
    if (match === null) throw new HttpError(401, 'malformed Authorization header: expected "Bearer TOKEN"', challenge)
    if (isApiKey(match[1])) {
      const key = this.keys.check(match[1])
      // A key opens only a live account: should its revocation not have been stored (a crash right after
      // the account was removed), it still opens nothing.
      if (key === undefined || this.connector.account(key.account) === undefined) throw new HttpError(401, 'unknown or revoked API key', challenge)
      return { who: `key:${key.id}`, remote: req.socket.remoteAddress ?? 'unknown', account: key.account }
    }
    // Compared as digests of equal length, in constant time.
    if (!timingSafeEqual(digest(match[1]), this.tokenDigest)) throw new HttpError(401, 'wrong admin token', challenge)
    return { who: 'admin', remote: req.socket.remoteAddress ?? 'unknown' }
  }

  private async listAudit (req: ApiRequest): Promise<HandlerResult> {
    onlyParams(req.query, ['limit', 'before'])
    const limit = intParam(req.query, 'limit', 1, 1000, 100)
    const before = req.query.get('before') ?? undefined
    return ok(await this.audit.list(limit, before))
  }
}

function digest (token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

function matches (pattern: string[], segments: string[]): boolean {
  return pattern.length === segments.length && pattern.every((p, i) => p === '*' || p === segments[i])
}

/** The JSON body, if any: 413 beyond the limit, 400 when it is not JSON. */
async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new HttpError(400, `body: not valid JSON (${err instanceof Error ? err.message : String(err)})`)
  }
}
