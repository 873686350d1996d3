/**
 * The ILP-over-HTTP listener (RFC 0035): peers POST their Prepares here with `Authorization: Bearer
 * <token>`; the token says which account (and so which HttpLink) it is. Any path is accepted (the RFC
 * lets the receiver choose; peers configure the whole URL). Requests that are not ILP-over-HTTP get a
 * plain-text 4xx naming the problem and never reach an actor.
 */
import { IncomingMessage, Server, ServerResponse } from 'http'
import type { Logger } from 'pino'
import type { HttpAnswer, HttpLink } from './HttpLink'
import { shortRequestServer, listen, closeNow } from './httpListener'

/** An ILP packet is at most a few bytes over 32 KiB (RFC 0027: data ≤ 32767 bytes, address ≤ 1023). */
export const MAX_BODY_BYTES = 40 * 1024
/** Content types deployed peers send: RFC 0035's, and `ilp-plugin-http`'s. */
const CONTENT_TYPES = new Set(['application/octet-stream', 'application/ilp+octet-stream'])

export interface HttpServerOptions {
  host: string
  port: number
}

/** Which link a bearer token opens (undefined: none). Must not log the token. */
export type HttpAuthenticate = (token: string) => HttpLink | undefined

export class HttpServer {
  private server: Server | undefined

  constructor (private readonly options: HttpServerOptions, private readonly authenticate: HttpAuthenticate, private readonly log: Logger) {}

  /** Starts listening; resolves with the bound port. */
  async listen (): Promise<number> {
    // (a Prepare's answer may take up to its expiry; the request itself must arrive quickly)
    const server = shortRequestServer((req, res) => { this.onRequest(req, res) })
    this.server = server
    const port = await listen(server, this.options.host, this.options.port)
    server.on('error', (err) => this.log.error({ err }, 'ILP-over-HTTP listener error'))
    this.log.info({ host: this.options.host, port }, 'ILP-over-HTTP listener ready')
    return port
  }

  /** Stops accepting connections; requests in progress are still answered. */
  stopListening (): void {
    this.server?.close()
    this.server?.closeIdleConnections()
  }

  /** Closes every connection (after the drain). */
  close (): void {
    closeNow(this.server)
    this.server = undefined
  }

  private onRequest (req: IncomingMessage, res: ServerResponse): void {
    const refuse = (status: number, message: string, headers: Record<string, string> = {}): void => {
      this.log.warn({ status, reason: message, remote: req.socket.remoteAddress }, 'ILP-over-HTTP request refused')
      // The body is not read: close the connection rather than leave it half-read.
      send(res, { status, contentType: 'text/plain; charset=utf-8', body: Buffer.from(message + '\n', 'utf8') }, { ...headers, Connection: 'close' })
    }
    if (req.method !== 'POST') { refuse(405, 'ILP-over-HTTP takes a POST with an ILP Prepare as its body', { Allow: 'POST' }); return }
    const token = bearerToken(req.headers.authorization)
    if (token === undefined) { refuse(401, 'missing "Authorization: Bearer <token>" header', { 'WWW-Authenticate': 'Bearer' }); return }
    const link = this.authenticate(token)
    if (link === undefined || link.closed) { refuse(401, 'invalid token', { 'WWW-Authenticate': 'Bearer' }); return }
    const type = req.headers['content-type']?.split(';')[0].trim().toLowerCase()
    if (type !== undefined && !CONTENT_TYPES.has(type)) { refuse(415, `content type must be application/octet-stream (got ${type.slice(0, 60)})`); return }
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > MAX_BODY_BYTES) { refuse(413, `an ILP packet is at most ${MAX_BODY_BYTES} bytes`); return }
    readBody(req, MAX_BODY_BYTES).then(async body => {
      if (body === undefined) { refuse(413, `an ILP packet is at most ${MAX_BODY_BYTES} bytes`); return }
      if (body.length === 0) { refuse(400, 'empty body: expected an OER-encoded ILP Prepare'); return }
      send(res, await link.handle(body))
    }).catch((err: unknown) => {
      this.log.error({ err }, 'ILP-over-HTTP request failed')
      if (!res.headersSent) send(res, { status: 500, contentType: 'text/plain; charset=utf-8', body: Buffer.from('internal error\n') })
    })
  }
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match?.[1]
}

function send (res: ServerResponse, answer: HttpAnswer, headers: Record<string, string> = {}): void {
  res.writeHead(answer.status, { 'Content-Type': answer.contentType, 'Content-Length': String(answer.body.length), ...headers })
  res.end(answer.body)
}

/** The whole body, or undefined once it exceeds `limit` bytes. */
async function readBody (req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
