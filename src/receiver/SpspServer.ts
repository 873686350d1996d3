/**
 * SPSP (RFC 0009) for the receiving accounts: `GET /<account id>` (the payment pointer
 * `$host/<account id>`) and, for the account with `wellKnown`, `GET /.well-known/pay` (the payment
 * pointer `$host`), with `Accept: application/spsp4+json`, answer a fresh STREAM
 * `destination_account` and base64 `shared_secret`. Anything else gets a 4xx with a JSON `{ error }`
 * naming the problem.
 */
import { IncomingMessage, Server, ServerResponse } from 'http'
import type { Logger } from 'pino'
import type { Receiver } from './Receiver'
import { shortRequestServer, listen, closeNow } from '../transport/httpListener'

export const SPSP_CONTENT_TYPE = 'application/spsp4+json'
export const WELL_KNOWN_PATH = '/.well-known/pay'

export interface SpspServerOptions {
  host: string
  port: number
  /** The account served at /.well-known/pay, if any. */
  wellKnownAccount?: string
}

export class SpspServer {
  private server: Server | undefined

  constructor (private readonly options: SpspServerOptions, private readonly receiver: Receiver, private readonly log: Logger) {}

  async listen (): Promise<number> {
    const server = shortRequestServer((req, res) => { this.onRequest(req, res) })
    this.server = server
    const port = await listen(server, this.options.host, this.options.port)
    server.on('error', (err) => this.log.error({ err }, 'SPSP listener error'))
    this.log.info({ host: this.options.host, port }, 'SPSP listener ready')
    return port
  }

  close (): void {
    closeNow(this.server)
    this.server = undefined
  }

  private onRequest (req: IncomingMessage, res: ServerResponse): void {
    const answer = spspAnswer(req.method ?? '', req.url ?? '/', req.headers.accept, this.options.wellKnownAccount, this.receiver)
    if (answer.status !== 200) this.log.info({ status: answer.status, path: (req.url ?? '').slice(0, 100), reason: 'error' in answer.body ? answer.body.error : undefined }, 'SPSP request refused')
    const body = Buffer.from(JSON.stringify(answer.body), 'utf8')
    const headers: Record<string, string> = {
      'Content-Type': answer.status === 200 ? SPSP_CONTENT_TYPE : 'application/json',
      'Content-Length': String(body.length),
      // Every query gets a new STREAM connection: never cache it.
      'Cache-Control': 'no-store'
    }
    if (answer.status === 405) headers.Allow = 'GET'
    res.writeHead(answer.status, headers)
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

export type SpspAnswer =
  | { status: 200; body: { destination_account: string; shared_secret: string } }
  | { status: number; body: { error: string } }

/** The answer to one request (pure apart from the receiver's fresh address). */
export function spspAnswer (method: string, url: string, accept: string | undefined, wellKnownAccount: string | undefined, receiver: Receiver): SpspAnswer {
  const path = url.split('?')[0]
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, body: { error: `SPSP queries are GET requests (got ${method.slice(0, 20)})` } }
  let accountId: string | undefined
  if (path === WELL_KNOWN_PATH) {
    if (wellKnownAccount === undefined) return { status: 404, body: { error: 'no account is served at /.well-known/pay here; use /<account>' } }
    accountId = wellKnownAccount
  } else {
    const match = /^\/([A-Za-z0-9_~-]+)\/?$/.exec(path)
    if (match === null) return { status: 404, body: { error: 'not an SPSP endpoint: use /<account> or /.well-known/pay' } }
    accountId = match[1]
  }
  if (!acceptsSpsp4(accept)) return { status: 406, body: { error: `SPSP needs the header "Accept: ${SPSP_CONTENT_TYPE}"` } }
  const details = receiver.spspDetails(accountId)
  if (details === undefined) return { status: 404, body: { error: `no receiving account "${accountId}"` } }
  if (details === 'not running') return { status: 503, body: { error: `the receiver of account "${accountId}" is not running` } }
  return { status: 200, body: { destination_account: details.destinationAccount, shared_secret: details.sharedSecret.toString('base64') } }
}

function acceptsSpsp4 (accept: string | undefined): boolean {
  if (accept === undefined) return false
  return accept.split(',').some(part => part.split(';')[0].trim().toLowerCase() === SPSP_CONTENT_TYPE)
}
