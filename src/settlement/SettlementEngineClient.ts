/**
 * The connector's client of an RFC 0038 settlement engine ("Settlement Engine HTTP API"): set up an
 * account, delete it, ask for an outgoing settlement (with an idempotency key), and hand it a message
 * from the peer's engine. Errors say whether trying again may help: RFC 0038 wants a settlement retried,
 * with the same key, until the engine acknowledges it.
 */
export class EngineError extends Error {
  constructor (message: string, readonly retryable: boolean, readonly status?: number) {
    super(message)
  }
}

export interface EngineMessageAnswer {
  status: number
  body: Buffer
}

/** Statuses worth retrying besides 5xx: timeouts and rate limiting. */
const RETRYABLE_4XX = new Set([408, 425, 429])

export class SettlementEngineClient {
  private readonly base: string

  constructor (baseUrl: string, private readonly timeoutMs: number) {
    this.base = baseUrl.replace(/\/+$/, '')
  }

  /** `POST /accounts` with `{ id }`: the engine learns of the account. An engine that has it already may answer 409: fine. */
  async createAccount (accountId: string): Promise<void> {
    const res = await this.call('POST', '/accounts', JSON.stringify({ id: accountId }), 'application/json')
    if (res.status === 409) return
    this.expectSuccess(res, 'setting up the account')
  }

  /** `DELETE /accounts/:id`; an account the engine does not know is gone already. */
  async deleteAccount (accountId: string): Promise<void> {
    const res = await this.call('DELETE', `/accounts/${encodeURIComponent(accountId)}`)
    if (res.status === 404) return
    this.expectSuccess(res, 'deleting the account')
  }

  /** `POST /accounts/:id/settlements` with a Quantity in the account's scale and the idempotency key. */
  async settle (accountId: string, idempotencyKey: string, amount: bigint, scale: number): Promise<void> {
    const res = await this.call('POST', `/accounts/${encodeURIComponent(accountId)}/settlements`,
      JSON.stringify({ amount: amount.toString(), scale }), 'application/json', { 'Idempotency-Key': idempotencyKey })
    this.expectSuccess(res, 'settling')
  }

  /** `POST /accounts/:id/messages`: a message from the peer's engine; resolves with the engine's answer, whatever its status. */
  async message (accountId: string, data: Buffer, timeoutMs = this.timeoutMs): Promise<EngineMessageAnswer> {
    return await this.call('POST', `/accounts/${encodeURIComponent(accountId)}/messages`, data, 'application/octet-stream', {}, timeoutMs)
  }

  private expectSuccess (res: EngineMessageAnswer, what: string): void {
    if (res.status >= 200 && res.status < 300) return
    const text = res.body.toString('utf8').slice(0, 200)
    throw new EngineError(`settlement engine answered ${res.status} ${what}: ${text}`, res.status >= 500 || RETRYABLE_4XX.has(res.status), res.status)
  }

  private async call (method: string, path: string, body?: string | Buffer, contentType?: string, headers: Record<string, string> = {}, timeoutMs = this.timeoutMs): Promise<EngineMessageAnswer> {
    const h: Record<string, string> = { ...headers }
    if (contentType !== undefined) h['Content-Type'] = contentType
    let res: Response
    try {
      res = await fetch(this.base + path, { method, headers: h, body, signal: AbortSignal.timeout(timeoutMs) })
    } catch (e) {
      const reason = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)
      throw new EngineError(`settlement engine unreachable (${method} ${path}): ${reason}`, true)
    }
    let bytes: Buffer
    try {
      bytes = Buffer.from(await res.arrayBuffer())
    } catch (e) {
      throw new EngineError(`settlement engine's answer broke off (${method} ${path})`, true)
    }
    return { status: res.status, body: bytes }
  }
}
