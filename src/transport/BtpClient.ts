/**
 * A BTP 2.0 link we dial: `btp+ws://[user]:token@host:port/path`. It authenticates, hands the live
 * connection to the connector, and when the socket drops it dials again with exponential backoff and
 * jitter until stopped.
 */
import WebSocket from 'ws'
import type { Logger } from 'pino'
import { BtpConnection } from './BtpConnection'
import { authFrame, decodeAuthAnswer } from './btp'
import type { OnLink } from './BtpServer'

export interface BtpClientOptions {
  accountId: string
  url: string
  /** Overrides the password part of the URL. */
  token?: string
  authTimeoutMs: number
  maxFrameBytes: number
  reconnectMinDelayMs: number
  reconnectMaxDelayMs: number
}

/** Splits a btp+ws URL into the WebSocket URL and the credentials. */
export function parseBtpUrl (url: string): { wsUrl: string; username: string; token: string } {
  const u = new URL(url)
  if (u.protocol !== 'btp+ws:' && u.protocol !== 'btp+wss:') throw new Error(`not a btp+ws(s) URL: ${u.protocol}`)
  const username = decodeURIComponent(u.username)
  const token = decodeURIComponent(u.password)
  const wsUrl = `${u.protocol === 'btp+wss:' ? 'wss' : 'ws'}://${u.host}${u.pathname}${u.search}`
  return { wsUrl, username, token }
}

export class BtpClient {
  private stopped = true
  private ws: WebSocket | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private delay: number
  private readonly target: { wsUrl: string; username: string; token: string }

  constructor (private readonly options: BtpClientOptions, private readonly onLink: OnLink, private readonly log: Logger) {
    const parsed = parseBtpUrl(options.url)
    this.target = { ...parsed, token: options.token ?? parsed.token }
    this.delay = options.reconnectMinDelayMs
  }

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    this.dial()
  }

  stop (): void {
    this.stopped = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.ws?.terminate()
  }

  private dial (): void {
    const log = this.log.child({ account: this.options.accountId, url: this.target.wsUrl })
    const ws = new WebSocket(this.target.wsUrl, { maxPayload: this.options.maxFrameBytes, handshakeTimeout: this.options.authTimeoutMs })
    this.ws = ws
    let authenticated = false
    const authRequestId = 1 + Math.floor(Math.random() * 0x7fffffff)
    const authTimer = setTimeout(() => {
      log.warn('BTP peer did not answer our auth in time')
      ws.terminate()
    }, this.options.authTimeoutMs)
    ws.on('error', (e) => log.warn({ err: e.message }, 'BTP link error'))
    ws.once('open', () => ws.send(authFrame(authRequestId, this.target.username, this.target.token)))
    ws.once('message', (data: Buffer) => {
      clearTimeout(authTimer)
      const answer = decodeAuthAnswer(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), authRequestId)
      if (!answer.ok) {
        log.error({ reason: answer.message }, 'BTP peer refused our auth')
        ws.close(1008, 'auth failed')
        return
      }
      authenticated = true
      this.delay = this.options.reconnectMinDelayMs
      log.debug('BTP link up') // (the connector logs every account's link up and down)
      this.onLink(this.options.accountId, new BtpConnection(ws))
    })
    ws.once('close', () => {
      clearTimeout(authTimer)
      if (authenticated) log.warn('BTP link down')
      if (this.stopped) return
      const wait = Math.round(this.delay * (0.5 + Math.random() / 2))
      this.delay = Math.min(this.delay * 2, this.options.reconnectMaxDelayMs)
      log.debug({ retryInMs: wait }, 'BTP link: dialling again')
      this.retryTimer = setTimeout(() => this.dial(), wait)
    })
  }
}
