/**
 * ILP-over-HTTP (RFC 0035), the synchronous form deployed peers speak (`ilp-plugin-http`, Rafiki,
 * interledger-rs): one HTTP POST per Prepare, its body the OER-encoded Prepare, the Fulfill or Reject
 * in the 200 response body. One HttpLink per peer account, both directions:
 *
 * - incoming: `HttpServer` authenticates the POST (bearer token) and calls `handle()`, which waits for
 *   the account actor's answer;
 * - outgoing: a Prepare from the connector is POSTed to the peer's URL with our bearer token; a non-200
 *   answer, a network failure or a time-out becomes a Reject of ours (RFC 0035: "relay an ILP Reject
 *   back to the original sender with an appropriate Final or Temporary error").
 *
 * HTTP has no connection to lose: the link is up from start to stop (a peer that cannot be reached
 * gets T01 per packet).
 */
import { MessageLink, LinkFailure, PeerAnswer } from './MessageLink'
import { parsePrepare } from '../protocol/codec'
import { MAX_BODY_BYTES } from './HttpServer'

export const ILP_CONTENT_TYPE = 'application/octet-stream'

export interface HttpLinkOptions {
  accountId: string
  /** Where we POST our Prepares (absent: the peer only sends to us; our Prepares to it get T01). */
  outgoing?: { url: string; token: string; peerName?: string }
  /** Longest wait for an answer when the Prepare's own expiry is further away. */
  maxWaitMs: number
  address: () => string
}

/** What an incoming POST is answered with. */
export interface HttpAnswer {
  status: number
  contentType: string
  body: Buffer
}

export class HttpLink extends MessageLink {
  private readonly aborts = new Set<AbortController>()

  constructor (private readonly options: HttpLinkOptions) {
    super(options.address)
  }

  /** An authenticated POST's body (a Prepare, we hope): resolves with the HTTP answer. */
  async handle (body: Buffer): Promise<HttpAnswer> {
    return httpAnswer(await this.fromPeer(body))
  }

  protected async sendPrepare (prepare: Buffer): Promise<Buffer> {
    const outgoing = this.options.outgoing
    if (outgoing === undefined) throw new LinkFailure('T01', `account ${this.options.accountId} has no outgoing ILP-over-HTTP URL`)
    // Wait no longer than the packet lives: an answer after its expiry is worthless.
    const waitMs = Math.max(0, Math.min(parsePrepare(prepare).expiresAt - Date.now(), this.options.maxWaitMs))
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), waitMs)
    this.aborts.add(abort)
    try {
      const headers: Record<string, string> = {
        'Content-Type': ILP_CONTENT_TYPE,
        Accept: ILP_CONTENT_TYPE,
        Authorization: `Bearer ${outgoing.token}`
      }
      if (outgoing.peerName !== undefined) headers['ILP-Peer-Name'] = outgoing.peerName
      let res: Response
      try {
        // No redirects: our token and the Prepare go to the configured URL and nowhere else.
        res = await fetch(outgoing.url, { method: 'POST', headers, body: prepare, signal: abort.signal, redirect: 'error' })
      } catch (e) {
        throw new LinkFailure('T01', abort.signal.aborted
          ? `no answer over ILP-over-HTTP from ${this.options.accountId} before the packet expired`
          : `ILP-over-HTTP peer ${this.options.accountId} unreachable: ${causeOf(e)}`)
      }
      const body = await readReply(res, abort)
      if (res.status !== 200) throw statusFailure(this.options.accountId, res.status, body)
      return body
    } finally {
      clearTimeout(timer)
      this.aborts.delete(abort)
    }
  }

  protected async sendMoney (): Promise<void> {
    throw new Error('ILP-over-HTTP carries no settlements (use an RFC 0038 engine for this account)')
  }

  protected override async onClose (): Promise<void> {
    for (const abort of this.aborts) abort.abort()
  }
}

/** A peer's answer, at most MAX_BODY_BYTES (an ILP reply is far smaller): a huge one is cut off, not buffered. */
async function readReply (res: Response, abort: AbortController): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0')
  if (declared > MAX_BODY_BYTES) {
    abort.abort()
    throw new LinkFailure('T01', `ILP-over-HTTP peer answered with ${declared} bytes, more than an ILP packet can be`)
  }
  const chunks: Buffer[] = []
  let size = 0
  if (res.body !== null) {
    for await (const chunk of res.body) {
      size += (chunk as Uint8Array).length
      if (size > MAX_BODY_BYTES) {
        abort.abort()
        throw new LinkFailure('T01', `ILP-over-HTTP peer answered with more than ${MAX_BODY_BYTES} bytes`)
      }
      chunks.push(Buffer.from(chunk as Uint8Array))
    }
  }
  return Buffer.concat(chunks)
}

/** The connector's answer as an HTTP response: ILP packets with 200 (RFC 0035), refusals as 4xx/5xx text. */
export function httpAnswer (answer: PeerAnswer): HttpAnswer {
  if (answer.kind === 'ilp') return { status: 200, contentType: ILP_CONTENT_TYPE, body: answer.packet }
  if (answer.kind === 'ack') return { status: 200, contentType: 'text/plain; charset=utf-8', body: Buffer.alloc(0) }
  // F.. (the request itself is wrong) → 400; T.. (try again later) → 503.
  const status = answer.code.startsWith('F') ? 400 : 503
  return { status, contentType: 'text/plain; charset=utf-8', body: Buffer.from(`${answer.code} ${answer.message}\n`, 'utf8') }
}

/** A non-200 answer from the peer, as the Reject its sender gets. */
function statusFailure (accountId: string, status: number, body: Buffer): LinkFailure {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200)
  const message = `ILP-over-HTTP peer ${accountId} answered HTTP ${status}${text === '' ? '' : `: ${text}`}`
  // 401/403: it refuses our token (a configuration problem on one side, to be fixed, so retrying helps
  // once it is); 429 and 5xx: temporary; other 4xx: it refuses this packet as such.
  if (status === 401 || status === 403) return new LinkFailure('T01', message)
  if (status === 429) return new LinkFailure('T05', message)
  if (status >= 400 && status < 500) return new LinkFailure('F00', message)
  return new LinkFailure('T01', message)
}

function causeOf (e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e))
}
