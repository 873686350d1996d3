/**
 * A BTP 2.0 WebSocket listener. Each connection must authenticate within the auth timeout with its
 * first frame; the connector decides which account the token belongs to (or refuses it). Frames larger
 * than the limit close the socket (WebSocket code 1009) before they are buffered.
 */
import { createServer, Server } from 'http'
import type { Socket } from 'net'
import { WebSocketServer } from 'ws'
import type WebSocket from 'ws'
import type { Logger } from 'pino'
import { BtpConnection } from './BtpConnection'
import { decodeAuth, emptyResponseFrame, errorFrame } from './btp'

export interface BtpServerOptions {
  name: string
  host: string
  port: number
  authTimeoutMs: number
  maxFrameBytes: number
  /** Connections not yet authenticated, at most (beyond: refused with HTTP 503). */
  maxUnauthenticated: number
}

export type AuthResult = { ok: true; accountId: string } | { ok: false; message: string }
/** Decides which account a token opens on this listener. Must not log the token. */
export type Authenticate = (listener: string, token: string, username: string) => AuthResult | Promise<AuthResult>
export type OnLink = (accountId: string, connection: BtpConnection) => void

export class BtpServer {
  private wss: WebSocketServer | undefined
  private http: Server | undefined
  private readonly pending = new Set<WebSocket>()

  constructor (
    private readonly options: BtpServerOptions,
    private readonly authenticate: Authenticate,
    private readonly onLink: OnLink,
    private readonly log: Logger
  ) {}

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen (): Promise<number> {
    // Our own HTTP server, so that a client that never completes its upgrade request (or sends bytes that
    // are not HTTP at all) is dropped after the auth timeout rather than Node's minutes.
    const http = createServer({ connectionsCheckingInterval: Math.min(1000, this.options.authTimeoutMs) })
    http.headersTimeout = this.options.authTimeoutMs
    http.requestTimeout = this.options.authTimeoutMs
    http.on('clientError', (_err: Error, socket: Socket) => { socket.destroy() })
    http.on('request', (_req, res) => { res.writeHead(426, { 'Content-Type': 'text/plain' }).end('a BTP (WebSocket) listener: upgrade required\n') })
    this.http = http
    const wss = new WebSocketServer({
      server: http,
      maxPayload: this.options.maxFrameBytes,
      // A flood of connections that never authenticate is refused before it costs more than a socket.
      verifyClient: (_info, done) => {
        if (this.pending.size < this.options.maxUnauthenticated) { done(true); return }
        this.log.warn({ listener: this.options.name, pending: this.pending.size }, 'too many connections waiting to authenticate: refusing new ones')
        done(false, 503, 'too many unauthenticated connections')
      }
    })
    this.wss = wss
    wss.on('connection', (ws, req) => this.accept(ws, req.socket.remoteAddress ?? 'unknown'))
    await new Promise<void>((resolve, reject) => {
      http.once('listening', resolve)
      http.once('error', reject)
      http.listen(this.options.port, this.options.host)
    })
    http.on('error', (e) => this.log.error({ err: e }, 'BTP listener error'))
    wss.on('error', (e) => this.log.error({ err: e }, 'BTP listener error'))
    const address = http.address()
    const port = typeof address === 'object' && address !== null ? address.port : this.options.port
    this.log.info({ listener: this.options.name, host: this.options.host, port }, 'BTP listener ready')
    return port
  }

  /** Stops accepting connections; authenticated ones are closed by their owner (the link registry). */
  async close (): Promise<void> {
    for (const ws of this.pending) ws.terminate()
    const wss = this.wss
    if (wss === undefined) return
    this.wss = undefined
    // Stops listening at once. Not awaited: the close callbacks wait for every open connection to end,
    // and authenticated connections stay open while packets in flight drain.
    wss.close()
    this.http?.close()
  }

  private accept (ws: WebSocket, remote: string): void {
    // Fields instead of a child logger: a pino child per connection costs memory for every idle link.
    const where = { listener: this.options.name, remote }
    const log = {
      warn: (fields: object, msg?: string) => this.log.warn({ ...where, ...fields }, msg),
      error: (fields: object, msg?: string) => this.log.error({ ...where, ...fields }, msg)
    }
    this.pending.add(ws)
    ws.on('error', (e) => log.warn({ err: e.message }, 'BTP socket error'))
    const timer = setTimeout(() => {
      log.warn({}, 'BTP client did not authenticate in time')
      ws.send(errorFrame(0, 'F00', 'NotAcceptedError', `no auth message within ${this.options.authTimeoutMs} ms`))
      ws.close(1008, 'auth timeout')
      setTimeout(() => ws.terminate(), 1000).unref()
    }, this.options.authTimeoutMs)
    ws.once('close', () => {
      clearTimeout(timer)
      this.pending.delete(ws)
    })
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer)
      this.pending.delete(ws)
      const auth = decodeAuth(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer))
      const refuse = (message: string): void => {
        log.warn({ reason: message }, 'BTP auth refused')
        ws.send(errorFrame(auth.requestId, 'F00', 'NotAcceptedError', message))
        ws.close(1008, 'auth refused')
        setTimeout(() => ws.terminate(), 1000).unref()
      }
      if (!auth.ok) { refuse(auth.message); return }
      // Deciding may wait for the disk (a new account is stored before it is acknowledged). Frames
      // right behind the auth frame may already be parsed (ws emits them at once): keep them, and
      // stop reading more until the connection exists.
      const early: Buffer[] = []
      const keep = (d: Buffer): void => { early.push(Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer)) }
      ws.on('message', keep)
      ws.pause()
      Promise.resolve(this.authenticate(this.options.name, auth.token, auth.username)).then(result => {
        ws.off('message', keep)
        if (ws.readyState !== ws.OPEN) return
        if (!result.ok) { refuse(result.message); return }
        ws.send(emptyResponseFrame(auth.requestId))
        this.onLink(result.accountId, new BtpConnection(ws, early))
        ws.resume()
      }, (err: unknown) => {
        log.error({ err }, 'BTP auth failed')
        refuse('internal error')
      })
    })
  }
}
