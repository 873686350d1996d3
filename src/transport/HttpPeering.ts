/**
 * The accounts linked over ILP-over-HTTP: one HttpLink each, and the one listener they share (opened
 * only when some account accepts incoming Prepares). The bearer token of a request picks the account;
 * tokens are compared as SHA-256 digests, and never logged.
 */
import { tokenKey } from '../protocol/address'
import type { Logger } from 'pino'
import { HttpLink } from './HttpLink'
import { HttpServer } from './HttpServer'
import type { Link } from './Link'
import type { HttpLinkConfig, HttpListenerConfig } from '../config'

export class HttpPeering {
  private readonly byToken = new Map<string, HttpLink>()
  private server: HttpServer | undefined
  private boundPort: number | undefined

  constructor (private readonly listener: HttpListenerConfig, private readonly log: Logger) {}

  /** The link of an account; `start()` attaches it to the connector (an HTTP link is up from then on). */
  add (accountId: string, config: HttpLinkConfig, maxWaitMs: number, address: () => string, attach: (accountId: string, link: Link) => void): { start: () => void, stop: () => Promise<void> } {
    const link = new HttpLink({ accountId, outgoing: config.outgoing, maxWaitMs, address })
    if (config.incoming !== undefined) this.byToken.set(tokenKey(config.incoming.token), link)
    let started = false
    return {
      start: () => {
        if (started) return
        started = true
        attach(accountId, link)
      },
      stop: async () => { await link.close(1001, 'connector shutting down') }
    }
  }

  /** Opens the listener if an account takes incoming Prepares; resolves with its port. */
  async listen (): Promise<number | undefined> {
    if (this.byToken.size === 0) return undefined
    this.server = new HttpServer(this.listener, token => this.byToken.get(tokenKey(token)), this.log)
    this.boundPort = await this.server.listen()
    return this.boundPort
  }

  get port (): number | undefined { return this.boundPort }

  /** No new connections (at the start of a drain); requests in progress still get their answers. */
  stopListening (): void { this.server?.stopListening() }

  close (): void { this.server?.close() }
}

