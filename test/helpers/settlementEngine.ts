/**
 * A minimal RFC 0038 settlement engine, written for the tests from the RFC: its HTTP API over real HTTP
 * on loopback (accounts, settlements with idempotency keys, messages), a ledger of what it was asked to
 * settle, and a client of the connector's side (credit incoming settlements, send messages).
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http'
import type { AddressInfo } from 'net'

export interface SettleRequest { account: string; key: string | undefined; amount: string; scale: number }

export class TestEngine {
  private server: Server | undefined
  port = 0
  /** Accounts set up with POST /accounts (in order, repeats included). */
  readonly accountsCreated: string[] = []
  readonly accountsDeleted: string[] = []
  /** Every settlement request received, retries included. */
  readonly settleRequests: SettleRequest[] = []
  /** Settlements performed: one per idempotency key. */
  readonly settled = new Map<string, SettleRequest>()
  /** The next this-many settlement requests are answered with this status (engine trouble). */
  failNext = 0
  failStatus = 503
  /** Messages received from the connector (relayed from the peer's engine). */
  readonly messages: Buffer[] = []
  answerMessage: (data: Buffer) => Buffer = data => Buffer.concat([Buffer.from('engine-got:'), data])
  /** Called once per new settlement (a new key), as a real engine would then pay on its ledger. */
  onSettle: ((request: SettleRequest) => void) | undefined

  async start (port = 0): Promise<void> {
    const server = createServer((req, res) => { void this.serve(req, res) })
    this.server = server
    await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
  }

  get url (): string { return `http://127.0.0.1:${this.port}` }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  /** Sum of the amounts settled for an account (one per key), at the scale they came in. */
  settledTotal (account: string): bigint {
    let sum = 0n
    for (const s of this.settled.values()) if (s.account === account) sum += BigInt(s.amount)
    return sum
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req)
    const url = req.url ?? '/'
    if (req.method === 'POST' && url === '/accounts') {
      this.accountsCreated.push((JSON.parse(body.toString()) as { id: string }).id)
      res.writeHead(201).end()
      return
    }
    let m = /^\/accounts\/([^/]+)$/.exec(url)
    if (req.method === 'DELETE' && m !== null) {
      this.accountsDeleted.push(decodeURIComponent(m[1]))
      res.writeHead(204).end()
      return
    }
    m = /^\/accounts\/([^/]+)\/settlements$/.exec(url)
    if (req.method === 'POST' && m !== null) {
      const q = JSON.parse(body.toString()) as { amount: string; scale: number }
      const key = req.headers['idempotency-key'] as string | undefined
      const request = { account: decodeURIComponent(m[1]), key, amount: q.amount, scale: q.scale }
      this.settleRequests.push(request)
      if (this.failNext > 0) {
        this.failNext--
        res.writeHead(this.failStatus).end('engine trouble')
        return
      }
      if (key === undefined) { res.writeHead(400).end('Idempotency-Key missing'); return }
      if (!this.settled.has(key)) {
        this.settled.set(key, request)
        this.onSettle?.(request)
      }
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ amount: q.amount, scale: q.scale }))
      return
    }
    m = /^\/accounts\/([^/]+)\/messages$/.exec(url)
    if (req.method === 'POST' && m !== null) {
      this.messages.push(body)
      res.writeHead(201, { 'Content-Type': 'application/octet-stream' }).end(this.answerMessage(body))
      return
    }
    res.writeHead(404).end()
  }
}

async function readAll (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export interface HttpAnswer { status: number; body: Buffer; json: () => unknown }

/** The engine's calls to the connector's side of RFC 0038. */
export async function post (url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const res = await fetch(url, { method: 'POST', body, headers })
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, body: bytes, json: () => JSON.parse(bytes.toString()) }
}

export async function creditIncoming (port: number, account: string, key: string | undefined, quantity: unknown): Promise<HttpAnswer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (key !== undefined) headers['Idempotency-Key'] = key
  return await post(`http://127.0.0.1:${port}/accounts/${account}/settlements`, typeof quantity === 'string' ? quantity : JSON.stringify(quantity), headers)
}

export async function sendMessage (port: number, account: string, data: Buffer): Promise<HttpAnswer> {
  return await post(`http://127.0.0.1:${port}/accounts/${account}/messages`, data, { 'Content-Type': 'application/octet-stream' })
}
