/**
 * The connector's side of RFC 0038 ("Accounting System HTTP API"), which settlement engines call:
 *
 * - `POST /accounts/:id/settlements` (JSON Quantity, `Idempotency-Key` header): money arrived from the
 *   peer; we credit it once per key and answer 201 with the Quantity we credited (the engine keeps the
 *   leftover our scale cannot hold);
 * - `POST /accounts/:id/messages` (octet-stream): relay these bytes to the peer's engine over
 *   `peer.settle`; answer 201 with the peer engine's reply.
 *
 * Everything is checked here, before anything is changed: a bad request gets a 4xx naming what is
 * wrong and changes nothing. The listener is meant for loopback or a private network.
 */
import { IncomingMessage, Server, ServerResponse } from 'http'
import type { Logger } from 'pino'
import { shortRequestServer, listen } from '../transport/httpListener'

/** The largest JSON body accepted (a Quantity is a few dozen bytes). */
const MAX_JSON_BYTES = 4096
/** A settlement message travels as an ILP packet's data: RFC 0027 caps it at 32767 bytes. */
export const MAX_MESSAGE_BYTES = 32767
/** The longest amount string accepted (well beyond a uint64; the exact bound is checked after scaling). */
const MAX_AMOUNT_DIGITS = 80
const ACCOUNT_PATH = /^\/accounts\/([^/]+)\/(settlements|messages)$/

export interface Quantity { amount: bigint; scale: number }

export type ApiAnswer =
  | { status: number; json: unknown }
  | { status: number; bytes: Buffer }

/** What the API asks of the settlement service. */
export interface SettlementApiHandler {
  creditIncoming: (accountId: string, idempotencyKey: string, quantity: Quantity) => Promise<ApiAnswer>
  relayMessage: (accountId: string, data: Buffer) => Promise<ApiAnswer>
}

export class HttpError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

/** Parses and checks a Quantity body: `{ "amount": "<non-negative integer string>", "scale": 0..255 }`. */
export function parseQuantity (body: Buffer): Quantity {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw new HttpError(400, 'body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'body must be a JSON object { "amount": "<integer string>", "scale": <0-255> }')
  const { amount, scale } = value as Record<string, unknown>
  if (typeof amount !== 'string') throw new HttpError(400, 'amount: must be a string of digits (amounts are strings, not numbers)')
  if (!/^[0-9]+$/.test(amount) || amount.length > MAX_AMOUNT_DIGITS) throw new HttpError(400, `amount: must be a non-negative integer string of at most ${MAX_AMOUNT_DIGITS} digits`)
  if (typeof scale !== 'number' || !Number.isInteger(scale) || scale < 0 || scale > 255) throw new HttpError(400, 'scale: must be an integer from 0 to 255')
  return { amount: BigInt(amount), scale }
}

/** RFC 0038: a key from a secure random source; we accept 1 to 128 printable ASCII characters. */
export function checkIdempotencyKey (header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw new HttpError(400, 'the Idempotency-Key header is required')
  if (Array.isArray(header) || !/^[\x21-\x7e]{1,128}$/.test(header)) throw new HttpError(400, 'Idempotency-Key: must be one value of 1 to 128 printable ASCII characters')
  return header
}

export class SettlementApi {
  private server: Server | undefined

  constructor (private readonly handler: SettlementApiHandler, private readonly log: Logger) {}

  /** Starts listening; resolves with the bound port. */
  async listen (host: string, port: number): Promise<number> {
    const server = shortRequestServer((req, res) => { void this.serve(req, res) })
    this.server = server
    return await listen(server, host, port)
  }

  async close (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const answer = await this.route(req)
      send(res, answer)
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, { status: err.status, json: { error: err.message } })
      } else {
        this.log.error({ err, method: req.method, url: req.url }, 'settlement API request failed')
        send(res, { status: 500, json: { error: 'internal error in the connector' } })
      }
    }
  }

  private async route (req: IncomingMessage): Promise<ApiAnswer> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const match = ACCOUNT_PATH.exec(url.pathname)
    if (match === null) throw new HttpError(404, `no such endpoint: ${url.pathname.slice(0, 100)}`)
    if (req.method !== 'POST') throw new HttpError(405, `${req.method ?? ''} is not allowed here; use POST`)
    let accountId: string
    try {
      accountId = decodeURIComponent(match[1])
    } catch {
      throw new HttpError(400, 'account id is not valid URL encoding')
    }
    if (match[2] === 'settlements') {
      const key = checkIdempotencyKey(req.headers['idempotency-key'])
      const quantity = parseQuantity(await readBody(req, MAX_JSON_BYTES))
      return await this.handler.creditIncoming(accountId, key, quantity)
    }
    return await this.handler.relayMessage(accountId, await readBody(req, MAX_MESSAGE_BYTES))
  }
}

function send (res: ServerResponse, answer: ApiAnswer): void {
  if (res.headersSent) return
  if ('json' in answer) {
    const body = JSON.stringify(answer.json)
    res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
    res.end(body)
  } else {
    res.writeHead(answer.status, { 'Content-Type': 'application/octet-stream', 'Content-Length': answer.bytes.length })
    res.end(answer.bytes)
  }
}

async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const b = chunk as Buffer
    size += b.length
    if (size > limit) throw new HttpError(413, `body larger than ${limit} bytes`)
    chunks.push(b)
  }
  return Buffer.concat(chunks)
}
