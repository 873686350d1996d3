/**
 * Settlement, both directions, for the accounts that have it configured. The balances themselves are
 * changed only by the account actors (debit on the way out, credit on the way in); this service does
 * the talking and keeps the promises:
 *
 * - outgoing: a settlement the actor has debited and recorded (`settle-out`) is performed by the
 *   account's method — an RFC 0038 engine or a BTP TRANSFER — and retried with backoff, with the same
 *   idempotency key, until it is accepted; the records left at a crash are resumed at start;
 * - incoming: an engine's `POST /accounts/:id/settlements`, or a BTP TRANSFER from a peer allowed to
 *   settle that way, is credited once per idempotency key (records in `settle-in`, kept at least a day);
 * - messages: the engine's messages go to the peer's connector as `peer.settle` Prepares, and the
 *   peer's come to our engine.
 */
import { randomUUID } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import type { Logger } from 'pino'
import type { AccountInfo } from '../actors/AccountActor'
import type { AccountMessage } from '../actors/messages'
import type { SettlementConfig, AccountSettlementConfig } from '../config'
import type { Prepare, Reply } from '../protocol/ilp'
import { MAX_UINT64, rejectPacket } from '../protocol/ilp'
import type { Store } from '../store/Store'
import { scaleIncoming, retryDelay } from './amounts'
import { SettlementApi, ApiAnswer, Quantity, MAX_MESSAGE_BYTES } from './SettlementApi'
import { SettlementEngineClient, EngineError } from './SettlementEngineClient'
import {
  OUTGOING_COLLECTION, INCOMING_COLLECTION, OutgoingSettlementRecord, IncomingSettlementRecord, incomingKey
} from './records'

export const PEER_SETTLE = 'peer.settle'
/** RFC 0038: settlement messages are Prepares of 0 whose fulfillment is 32 zero bytes. */
export const PEER_SETTLE_FULFILLMENT = Buffer.alloc(32)
export const PEER_SETTLE_CONDITION = Buffer.from('66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925', 'hex')
/** How often idempotency records past their retention are removed. */
const PRUNE_INTERVAL_MS = 3600000
/** `peer.settle` messages one account may have waiting for our engine at once (beyond: T03). */
const MAX_MESSAGES_IN_FLIGHT = 4

/** A settlement that will not succeed by trying again (the engine refused it with a 4xx). */
class PermanentSettlementError extends Error {}

export interface SettlingAccount {
  info: AccountInfo
  settlement: AccountSettlementConfig
}

export interface SettlementServiceDeps {
  config: SettlementConfig
  /** Accounts with settlement configured, by id. */
  accounts: Map<string, SettlingAccount>
  store: Store
  log: Logger
  now: () => number
  tell: (accountId: string, msg: AccountMessage) => boolean
  /** Sends our own `peer.*` Prepare to the account's peer; resolves with its reply. */
  peerRequest: (accountId: string, prepare: Buffer, timeoutMs: number) => Promise<Reply>
  /** Sends a BTP TRANSFER on the account's link; resolves once the peer acknowledges it. */
  sendTransfer: (accountId: string, amount: bigint, key: string, timeoutMs: number) => Promise<void>
  /** Puts a BTP frame on one of the account's connections (the answer to an incoming TRANSFER). */
  sendFrame: (accountId: string, connectionId: number, frame: Buffer) => boolean
  transferAnswer: (requestId: number, error?: string) => Buffer
}

export class SettlementService {
  private readonly engines = new Map<string, SettlementEngineClient>()
  private api: SettlementApi | undefined
  private apiPort: number | undefined
  private stopped = false
  /** Outgoing settlements being performed, by key (at most one loop each). */
  private readonly active = new Set<string>()
  /** Retry sleeps per account, woken early when the account's link comes up. */
  private readonly sleepers = new Map<string, Set<() => void>>()
  /** Incoming credits asked of an actor and not yet durable, by record key. */
  private readonly awaitingCredit = new Map<string, () => void>()
  /** Incoming settlements being handled, by record key: a repeat waits for the first. */
  private readonly crediting = new Map<string, Promise<IncomingSettlementRecord>>()
  private pruneTimer: NodeJS.Timeout | undefined
  /** `peer.settle` messages per account waiting for our engine. */
  private readonly messagesInFlight = new Map<string, number>()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (private readonly deps: SettlementServiceDeps) {
    for (const [id, a] of deps.accounts) {
      if (a.settlement.method.type === 'rfc0038') this.engines.set(id, new SettlementEngineClient(a.settlement.method.url, deps.config.requestTimeoutMs))
    }
  }

  /** The bound port of the engine-facing API, if it is open. */
  get port (): number | undefined { return this.apiPort }

  async start (): Promise<void> {
    const { config, log } = this.deps
    if (this.engines.size > 0) {
      this.api = new SettlementApi({
        creditIncoming: async (id, key, q) => await this.creditFromEngine(id, key, q),
        relayMessage: async (id, data) => await this.relayToPeer(id, data)
      }, log)
      this.apiPort = await this.api.listen(config.host, config.port)
      log.info({ host: config.host, port: this.apiPort }, 'settlement API listening')
      for (const id of this.engines.keys()) void this.setUpEngineAccount(id)
    }
    // Settlements debited before a restart (a crash included) and not yet accepted: resumed, same keys.
    for (const { key, value } of await this.deps.store.list(OUTGOING_COLLECTION)) {
      const record = value as OutgoingSettlementRecord
      if (record.failed !== undefined) continue
      if (!this.deps.accounts.has(record.account)) {
        log.warn({ account: record.account, key, amount: record.amount }, 'a pending settlement names an account without settlement: left as it is')
        continue
      }
      log.info({ account: record.account, key, amount: record.amount }, 'resuming a settlement from before the restart')
      this.settle(record.account, key, BigInt(record.amount))
    }
    await this.prune()
    this.pruneTimer = setInterval(() => { void this.prune() }, PRUNE_INTERVAL_MS)
    this.pruneTimer.unref()
    // Balances already past their threshold (settings changed, or a debt from before): settle now.
    for (const id of this.deps.accounts.keys()) this.deps.tell(id, { type: 'checkSettlement' })
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const set of this.sleepers.values()) for (const wake of set) wake()
    await this.api?.close()
  }

  /** The account's link came up: settlements waiting to retry on it try again now. */
  linkUp (accountId: string): void {
    const set = this.sleepers.get(accountId)
    if (set !== undefined) for (const wake of set) wake()
    if (this.deps.accounts.has(accountId)) this.deps.tell(accountId, { type: 'checkSettlement' })
  }

  // ---- outgoing -------------------------------------------------------------------------------

  /** Called by the account actor once a settlement is debited and recorded durably. */
  settle (accountId: string, key: string, amount: bigint): void {
    if (this.stopped || this.active.has(key)) return
    this.active.add(key)
    void this.perform(accountId, key, amount).finally(() => this.active.delete(key))
  }

  private async perform (accountId: string, key: string, amount: bigint): Promise<void> {
    const { log, store } = this.deps
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.settleOnce(accountId, key, amount)
        if (this.stopped) return // the store may be closing; the record stays and is resumed (same key)
        store.delete(OUTGOING_COLLECTION, key)
        log.info({ account: accountId, key, amount: amount.toString(), attempts: attempt }, 'settlement accepted')
        return
      } catch (err) {
        if (this.stopped) return
        if (err instanceof PermanentSettlementError) {
          // RFC 0038: no refund (the engine may still settle it); kept for the operator, not retried.
          const record = await store.get(OUTGOING_COLLECTION, key) as OutgoingSettlementRecord | undefined
          if (record !== undefined) store.put(OUTGOING_COLLECTION, key, { ...record, failed: err.message })
          log.error({ account: accountId, key, amount: amount.toString(), reason: err.message }, 'settlement refused for good: not retried, kept in the store')
          return
        }
        const delay = retryDelay(attempt, this.deps.config.retryMinDelayMs, this.deps.config.retryMaxDelayMs)
        log.warn({ account: accountId, key, amount: amount.toString(), attempt, retryInMs: delay, reason: err instanceof Error ? err.message : String(err) }, 'settlement not accepted yet: will retry')
        await this.sleep(accountId, delay)
      }
    }
  }

  private async settleOnce (accountId: string, key: string, amount: bigint): Promise<void> {
    const account = this.deps.accounts.get(accountId)
    if (account === undefined) throw new PermanentSettlementError(`account ${accountId} has no settlement configured`)
    const engine = this.engines.get(accountId)
    if (engine === undefined) {
      await this.deps.sendTransfer(accountId, amount, key, this.deps.config.requestTimeoutMs)
      return
    }
    try {
      await engine.settle(accountId, key, amount, account.info.asset.scale)
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) {
        // The engine does not know the account (it lost its state, or it was down at our start): set it up again.
        await engine.createAccount(accountId)
        throw err
      }
      if (err instanceof EngineError && !err.retryable) throw new PermanentSettlementError(err.message)
      throw err
    }
  }

  private async setUpEngineAccount (accountId: string): Promise<void> {
    const engine = this.engines.get(accountId) as SettlementEngineClient
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await engine.createAccount(accountId)
        this.deps.log.info({ account: accountId }, 'settlement engine account set up')
        return
      } catch (err) {
        if (this.stopped) return
        const delay = retryDelay(attempt, this.deps.config.retryMinDelayMs, this.deps.config.retryMaxDelayMs)
        this.deps.log.warn({ account: accountId, attempt, retryInMs: delay, reason: err instanceof Error ? err.message : String(err) }, 'could not set up the settlement engine account: will retry')
        await this.sleep(accountId, delay)
      }
    }
  }

  private async sleep (accountId: string, ms: number): Promise<void> {
    let set = this.sleepers.get(accountId)
    if (set === undefined) this.sleepers.set(accountId, set = new Set())
    const sleepers = set
    await new Promise<void>(resolve => {
      const wake = (): void => {
        clearTimeout(timer)
        this.timers.delete(timer)
        sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.timers.add(timer)
      sleepers.add(wake)
    })
  }

  // ---- incoming -------------------------------------------------------------------------------

  /** `POST /accounts/:id/settlements` from our engine. */
  private async creditFromEngine (accountId: string, idempotencyKey: string, q: Quantity): Promise<ApiAnswer> {
    if (this.stopped) return { status: 503, json: { error: 'the connector is stopping' } }
    const account = this.deps.accounts.get(accountId)
    if (account === undefined || !this.engines.has(accountId)) return { status: 404, json: { error: `no account ${accountId} settling through a settlement engine` } }
    const scaled = scaleIncoming(q.amount, q.scale, account.info.asset.scale)
    if (scaled.credited > MAX_UINT64) return { status: 400, json: { error: `amount: too large (more than a uint64 at the account's scale ${account.info.asset.scale})` } }
    const record: IncomingSettlementRecord = {
      account: accountId,
      amount: q.amount.toString(),
      scale: q.scale,
      credited: scaled.credited.toString(),
      response: { amount: scaled.creditedInEngineScale.toString(), scale: q.scale },
      at: this.deps.now()
    }
    const done = await this.creditOnce(accountId, incomingKey(accountId, idempotencyKey), record, scaled.credited)
    if (done.amount !== record.amount || done.scale !== record.scale) {
      return { status: 409, json: { error: 'this Idempotency-Key was used for a different settlement' } }
    }
    return { status: 201, json: done.response }
  }

  /** A BTP TRANSFER from an account allowed to settle that way (checked by its actor). */
  incomingTransfer (accountId: string, connectionId: number, requestId: number, amount: bigint, key: string | undefined): void {
    if (amount === 0n) {
      // Nothing to credit, nothing to remember.
      this.deps.sendFrame(accountId, connectionId, this.deps.transferAnswer(requestId, undefined))
      return
    }
    const account = this.deps.accounts.get(accountId)
    const scale = account?.info.asset.scale ?? 0
    const record: IncomingSettlementRecord = {
      account: accountId, amount: amount.toString(), scale, credited: amount.toString(), response: { amount: amount.toString(), scale }, at: this.deps.now()
    }
    // With the sender's key, a resent TRANSFER is credited once; a plain plugin's TRANSFER has no key.
    const recordKey = incomingKey(accountId, `btp:${key ?? randomUUID()}`)
    this.creditOnce(accountId, recordKey, record, amount).then(
      done => {
        const answer = done.amount === record.amount ? undefined : 'this settlement_id was used for a different amount'
        this.deps.sendFrame(accountId, connectionId, this.deps.transferAnswer(requestId, answer))
      },
      (err: unknown) => {
        this.deps.log.error({ err, account: accountId }, 'crediting a BTP TRANSFER failed')
        this.deps.sendFrame(accountId, connectionId, this.deps.transferAnswer(requestId, 'the connector could not credit the TRANSFER'))
      }
    )
  }

  /**
   * Credits a settlement exactly once per record key: a key seen before is answered from its record
   * (once that record is durable); a key being credited right now waits for that credit; a new key is
   * credited by the account's actor, which stores the record in the same group commit as the balance.
   */
  private async creditOnce (accountId: string, recordKey: string, record: IncomingSettlementRecord, credited: bigint): Promise<IncomingSettlementRecord> {
    const running = this.crediting.get(recordKey)
    if (running !== undefined) return await running
    const work = (async () => {
      const { store } = this.deps
      const existing = await store.get(INCOMING_COLLECTION, recordKey) as IncomingSettlementRecord | undefined
      if (existing !== undefined) {
        // RFC 0038: keys are kept a day from the latest request that used them.
        store.put(INCOMING_COLLECTION, recordKey, { ...existing, at: this.deps.now() })
        await new Promise<void>((resolve, reject) => {
          // A failing disk must not leave the engine's retries piling up here.
          const timer = setTimeout(() => reject(new Error('the settlement record could not be stored in time')), this.deps.config.requestTimeoutMs)
          store.afterDurable(() => { clearTimeout(timer); resolve() })
        })
        this.deps.log.info({ account: accountId, key: recordKey }, 'repeated settlement answered from its record, not credited again')
        return existing
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.awaitingCredit.delete(recordKey)
          reject(new Error('the account did not confirm the credit in time'))
        }, this.deps.config.requestTimeoutMs)
        this.awaitingCredit.set(recordKey, () => { clearTimeout(timer); resolve() })
        if (!this.deps.tell(accountId, { type: 'creditSettlement', recordKey, amount: credited, record })) {
          clearTimeout(timer)
          this.awaitingCredit.delete(recordKey)
          reject(new Error(`no account ${accountId}`))
        }
      })
      return record
    })()
    this.crediting.set(recordKey, work)
    try {
      return await work
    } finally {
      this.crediting.delete(recordKey)
    }
  }

  /** From the account actor: the credit and its record are durable. */
  credited (recordKey: string): void {
    const resolve = this.awaitingCredit.get(recordKey)
    this.awaitingCredit.delete(recordKey)
    resolve?.()
  }

  /** Removes idempotency records older than the retention (never less than 24 hours). */
  async prune (): Promise<number> {
    if (this.stopped) return 0
    const cutoff = this.deps.now() - this.deps.config.idempotencyKeyRetentionMs
    let removed = 0
    for (const { key, value } of await this.deps.store.list(INCOMING_COLLECTION)) {
      if ((value as IncomingSettlementRecord).at >= cutoff || this.stopped || this.crediting.has(key)) continue
      // Read it again just before deleting: a repeated request may have refreshed it since the listing.
      const now = await this.deps.store.get(INCOMING_COLLECTION, key) as IncomingSettlementRecord | undefined
      if (now === undefined || now.at >= cutoff || this.crediting.has(key)) continue
      this.deps.store.delete(INCOMING_COLLECTION, key)
      removed++
    }
    if (removed > 0) this.deps.log.info({ removed }, 'expired settlement idempotency keys removed')
    return removed
  }

  // ---- messages between the engines ------------------------------------------------------------

  /** `POST /accounts/:id/messages` from our engine: to the peer's engine over `peer.settle`, its answer back. */
  private async relayToPeer (accountId: string, data: Buffer): Promise<ApiAnswer> {
    if (!this.engines.has(accountId)) return { status: 404, json: { error: `no account ${accountId} settling through a settlement engine` } }
    const timeoutMs = this.deps.config.requestTimeoutMs
    const prepare = IlpPacket.serializeIlpPrepare({
      amount: '0',
      destination: PEER_SETTLE,
      executionCondition: PEER_SETTLE_CONDITION,
      expiresAt: new Date(this.deps.now() + timeoutMs),
      data
    })
    let reply: Reply
    try {
      reply = await this.deps.peerRequest(accountId, prepare, timeoutMs)
    } catch (err) {
      return { status: 502, json: { error: `the message could not reach the peer: ${err instanceof Error ? err.message : String(err)}` } }
    }
    if (reply.kind === 'fulfill') return { status: 201, bytes: IlpPacket.deserializeIlpFulfill(reply.packet).data }
    const reject = IlpPacket.deserializeIlpReject(reply.packet)
    return { status: 502, json: { error: `the peer rejected the message: ${reject.code} ${reject.message}`, data: reject.data.toString('base64') } }
  }

  /** An incoming `peer.settle` Prepare: the peer's engine has a message for ours. */
  async fromPeer (account: AccountInfo, prepare: Prepare): Promise<Buffer> {
    const engine = this.engines.get(account.id)
    if (engine === undefined) return rejectPacket('F02', PEER_SETTLE, `account ${account.id} does not settle through a settlement engine here`)
    // Each message is an HTTP call to our engine: a peer may not have more than a few waiting at once.
    const busy = this.messagesInFlight.get(account.id) ?? 0
    if (busy >= MAX_MESSAGES_IN_FLIGHT) return rejectPacket('T03', PEER_SETTLE, `account ${account.id} has ${busy} settlement messages waiting for the engine, the most allowed`)
    // No point waiting for the engine past the packet's own expiry.
    const timeoutMs = Math.min(this.deps.config.requestTimeoutMs, prepare.expiresAt - this.deps.now())
    if (timeoutMs <= 0) return rejectPacket('R00', PEER_SETTLE, 'the settlement message expired')
    this.messagesInFlight.set(account.id, busy + 1)
    let answer
    try {
      answer = await engine.message(account.id, prepare.data, timeoutMs)
    } catch (err) {
      this.deps.log.warn({ account: account.id, reason: err instanceof Error ? err.message : String(err) }, 'could not pass a settlement message to the engine')
      return rejectPacket('T00', PEER_SETTLE, 'the settlement engine is unreachable')
    } finally {
      const left = (this.messagesInFlight.get(account.id) ?? 1) - 1
      if (left === 0) this.messagesInFlight.delete(account.id)
      else this.messagesInFlight.set(account.id, left)
    }
    if (answer.status >= 200 && answer.status < 300) {
      if (answer.body.length > MAX_MESSAGE_BYTES) return rejectPacket('T00', PEER_SETTLE, 'the settlement engine\'s answer is too large for an ILP packet')
      return IlpPacket.serializeIlpFulfill({ fulfillment: PEER_SETTLE_FULFILLMENT, data: answer.body })
    }
    // RFC 0038: the code follows the HTTP status; the engine's answer goes back as the data.
    const code = answer.status >= 500 ? 'T00' : 'F00'
    const data = answer.body.length > MAX_MESSAGE_BYTES ? Buffer.alloc(0) : answer.body
    return rejectPacket(code, PEER_SETTLE, `the settlement engine answered ${answer.status}`, data)
  }
}
