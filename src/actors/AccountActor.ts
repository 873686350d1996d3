/**
 * One actor per account: its balance and limits, the packets it has in flight in both directions, and
 * its link state. A Prepare from the account's link is checked and held here, routed, and handed to the
 * next hop's AccountActor, which holds it against that account's limits and sends it down its link.
 * The reply comes back the same way. Each actor changes only its own state, one message at a time, so
 * no interleaving of packets can overdraw an account.
 */
import { randomUUID } from 'crypto'
import * as ILDCP from 'ilp-protocol-ildcp'
import { spawn, Ref } from 'nact'
import type { Logger } from 'pino'
import { outgoingExpiry, ExpiryPolicy } from '../protocol/expiry'
import { optionalBigInt } from '../protocol/amounts'
import type { Asset, ConversionResult } from '../protocol/amounts'
import {
  Balance, BalanceLimits, zeroBalance, holdIncoming, holdOutgoing,
  commitIncoming, releaseIncoming, commitOutgoing, releaseOutgoing
} from '../protocol/balance'
import {
  Prepare, Reply, RejectCode, amountTooLargeData, fulfillmentMatches, rejectPacket
} from '../protocol/ilp'
import { forwardedPrepareFrame } from '../protocol/codec'
import { Bucket, fullBucket, take } from '../protocol/limits'
import { LinkEvent, errorFrame, ilpResponseFrame } from '../transport/btp'
import type { AccountMessage, AccountLimitSettings, TransferSource } from './messages'
import type { Store } from '../store/Store'
import type { AccountDirectory } from './AccountDirectory'
import { CONTROL_REQUEST_ID_BASE, ControlReply } from '../core/ControlChannel'
import { NO_HOP } from '../routing/PrefixTable'
import { settlementDue } from '../settlement/amounts'
import { OUTGOING_COLLECTION, INCOMING_COLLECTION, OutgoingSettlementRecord, IncomingSettlementRecord } from '../settlement/records'
import { MAX_UINT64 } from '../protocol/codec'
import type { HistoryRecorder } from '../history/TransferHistory'

export type Relation = 'parent' | 'peer' | 'child'

/** An account's settings (from config or provisioned at run time). */
export interface AccountInfo {
  id: string
  relation: Relation
  asset: Asset
  /** The address we give this account over ILDCP (children only). */
  address?: string
  limits: BalanceLimits
  maxPacketAmount?: bigint
  /** T05 beyond this many Prepares per second from the account. */
  packetsPerSecond?: number
  /** T04 beyond this total amount of Prepares per period from the account. */
  throughputLimit?: { amount: bigint; periodMs: number }
  /** Settlement with this account (configured accounts only); absent: it never settles. */
  settlement?: AccountSettlement
  /** The connector itself receives for this account (SPSP/STREAM): each committed Fulfill is reported to `deps.received`. */
  receiving?: boolean
}

export interface AccountSettlement {
  /** Settle when the balance is at or below this (negative: we owe the peer); undefined: never settle out. */
  threshold?: bigint
  /** The balance a settlement brings it back to. */
  settleTo: bigint
  /** A BTP TRANSFER from the peer is credited (only for peers settling in-band that we trust). */
  creditTransfers: boolean
}

/** A Prepare this account sent us, waiting for the next hop's answer. */
interface IncomingPacket {
  connectionId: number
  requestId: number
  amount: bigint
  expiresAt: number
  condition: Buffer
  /** When the sender is answered R00 if the next hop has not reported back (the safety net). */
  deadline: number
  /** When it arrived (for the latency metric). */
  receivedAt: number
}

/** A Prepare we sent this account on behalf of another, waiting for its answer. */
interface OutgoingPacket {
  /** The connection it left on (its reply may come back on a newer one after a reconnect). */
  connectionId: number
  source: TransferSource
  amount: bigint
  expiresAt: number
  condition: Buffer
  /** The source was already answered (T01: the link dropped); a Fulfill before expiry still counts. */
  sourceAnswered: boolean
}

/** A Fulfill committed and waiting for its group commit before it goes upstream. */
interface PendingAck {
  connectionId: number
  requestId: number
  amount: bigint
  expiresAt: number
  fulfill: Buffer
}

export interface AccountState {
  info: AccountInfo
  balance: Balance
  /** Live connection ids, oldest first. */
  connections: number[]
  incoming: Map<number, IncomingPacket>
  outgoing: Map<number, OutgoingPacket>
  /** Sequence numbers (incoming) and BTP request ids (outgoing): never reused while the process lives. */
  nextSeq: number
  nextRequestId: number
  /** Fulfills to pass upstream once their balance change is stored (sent after each handler run). */
  acks: PendingAck[]
  /** Token buckets of the account's rate limits (when configured). */
  packetBucket?: Bucket
  amountBucket?: Bucket
}

/** What an account actor needs from the rest of the connector; all of it is addressed by name. */
export interface AccountDeps {
  ilpAddress: () => string
  expiry: ExpiryPolicy
  maxInFlight: number
  now: () => number
  lookupRoute: (destination: string) => string | undefined
  /**
   * Converts an amount between two accounts' assets with the current exchange rates, rounded down:
   * F02 no rate for the pair, T00 rates out of date, R01 becomes zero, F08 beyond a uint64.
   */
  convert: (amount: bigint, from: Asset, to: Asset) => ConversionResult
  /** Account actors by name: `tell` delivers a message (false if there is no such account). */
  directory: AccountDirectory
  send: (accountId: string, connectionId: number, frame: Buffer) => boolean
  connectionIds: (accountId: string) => number[]
  expireAt: (accountId: string, id: number, expiresAt: number) => void
  store: Store
  log: Logger
  /**
   * Called each time a Prepare from a link gets its answer (the link layer counts them in), so that a
   * shutdown can wait until every Prepare the connector took in has been answered.
   */
  answered: (count: number) => void
  /** Called when a batch of frames from a connection has been handled (incoming backpressure). */
  linkBatchHandled: (connectionId: number) => void
  /**
   * Serves a `peer.*` request other than ILDCP (CCP, settlement): the reply packet now, or a promise of
   * it. Unknown protocols get F02 from the handler.
   */
  peerRequest: (account: AccountInfo, prepare: Prepare) => Buffer | Promise<Buffer>
  /** The answer to one of the connector's own requests on this link (ids from CONTROL_REQUEST_ID_BASE). */
  controlAnswer: (accountId: string, requestId: number, reply: ControlReply | string) => void
  /** Called with each fresh state (at spawn and at every restart), so the owner can read balances. */
  stateCreated: (state: AccountState) => void
  /** An outgoing settlement was debited and its record is durable: perform it (engine or BTP TRANSFER). */
  settle: (accountId: string, key: string, amount: bigint) => void
  /** An incoming settlement asked for with `creditSettlement` is credited and durable. */
  settlementCredited: (accountId: string, recordKey: string) => void
  /** A BTP TRANSFER from an account that may credit them: the settlement service checks and credits it. */
  incomingTransfer: (accountId: string, connectionId: number, requestId: number, amount: bigint, key: string | undefined) => void
  /** Reports an admin balance adjustment applied (its new committed balance, saved with the next group commit). */
  balanceAdjusted?: (accountId: string, adjustmentId: number, balance: string) => void
  /**
   * Each Prepare from an account answered: "fulfilled" or the reject code, with its time in flight when
   * it was forwarded (metrics). On the packet path: must be cheap.
   */
  observePacket?: (accountId: string, outcome: string, latencyMs?: number) => void
  /** Transfer history of forwarded packets (it only buffers: cheap on the packet path). */
  history?: HistoryRecorder
  /**
   * A Fulfill to a receiving account was committed (its balance already lowered by `amount`): the
   * receiver records it in this same handler run, so it rides the same group commit as the balance.
   */
  received?: (accountId: string, amount: bigint, condition: Buffer) => void
}

export function initialAccountState (info: AccountInfo, deps: AccountDeps): AccountState {
  const saved = deps.store.loadAccount(info.id)
  return {
    info,
    balance: zeroBalance(saved === undefined ? 0n : BigInt(saved.balance)),
    connections: deps.connectionIds(info.id),
    incoming: new Map(),
    outgoing: new Map(),
    nextSeq: 1,
    nextRequestId: 1,
    acks: [],
    ...limitBuckets(info, deps.now())
  }
}

export function handleAccountMessage (state: AccountState, msg: AccountMessage, deps: AccountDeps): AccountState {
  switch (msg.type) {
    case 'batch':
      for (const m of msg.messages) handleAccountMessage(state, m, deps)
      break
    case 'link':
      // Each frame on its own: one that fails is answered and repaired, the rest still run.
      // (try/catch inline rather than `isolated`: no closures per frame on the packet path)
      for (const event of msg.events) {
        try {
          onLinkEvent(state, msg.connectionId, event, deps)
        } catch (err) {
          recover(state, deps, err, () => failLinkEvent(state, msg.connectionId, event, deps))
        }
      }
      deps.linkBatchHandled(msg.connectionId)
      break
    default:
      isolated(state, deps, () => handleOne(state, msg, deps), () => failMessage(state, msg, deps))
  }
  return state
}

function handleOne (state: AccountState, msg: Exclude<AccountMessage, { type: 'batch' | 'link' }>, deps: AccountDeps): void {
  switch (msg.type) {
    case 'forward': onForward(state, msg.source, msg.sourceAsset, msg.prepare, deps); break
    case 'forwardResult': onForwardResult(state, msg.seq, msg.reply, msg.condition, deps); break
    case 'expire': onExpire(state, msg.ids, deps); break
    case 'linkUp':
      if (!state.connections.includes(msg.connectionId)) state.connections.push(msg.connectionId)
      break
    case 'linkDown': onLinkDown(state, msg.connectionId, deps); break
    case 'ackTooLate':
      // The Fulfill could not go upstream before the sender's expiry: the sender is not charged.
      state.balance.balance -= msg.amount
      saveBalance(state, deps)
      deps.log.warn({ account: state.info.id, amount: msg.amount.toString() }, 'a Fulfill was stored too late to pass upstream: the sender got R00 and was not charged')
      if (state.info.settlement !== undefined) maybeSettle(state, deps)
      break
    case 'creditSettlement': creditSettlement(state, msg.recordKey, msg.amount, msg.record, deps); break
    case 'checkSettlement': if (state.info.settlement !== undefined) maybeSettle(state, deps); break
    case 'adjustBalance':
      // Inside the actor, so it cannot interleave with a packet's hold, commit or release.
      state.balance.balance += BigInt(msg.amount)
      saveBalance(state, deps)
      deps.log.info({ account: state.info.id, amount: msg.amount, reason: msg.reason, balance: state.balance.balance.toString() }, 'balance adjusted by an operator')
      deps.balanceAdjusted?.(state.info.id, msg.adjustmentId, state.balance.balance.toString())
      break
    case 'setLimits': setLimits(state, msg.limits, deps); break
  }
}

/**
 * Debit first (RFC 0038): when we owe the account past its threshold, the balance is raised to settleTo
 * and the settlement recorded under a fresh idempotency key in the same group commit; only once both
 * are durable is it handed to the settlement service, which retries it until it is accepted (after a
 * restart too). So a settlement is never lost, and never made twice.
 */
function maybeSettle (state: AccountState, deps: AccountDeps): void {
  const s = state.info.settlement as AccountSettlement
  let amount = settlementDue(state.balance.balance, s.threshold, s.settleTo)
  if (amount <= 0n) return
  // One settlement is at most a uint64 (what BTP TRANSFER carries); a larger debt settles in several.
  if (amount > MAX_UINT64) amount = MAX_UINT64
  const id = state.info.id
  const key = randomUUID()
  state.balance.balance += amount
  saveBalance(state, deps)
  const record: OutgoingSettlementRecord = { account: id, amount: amount.toString(), createdAt: deps.now() }
  deps.store.put(OUTGOING_COLLECTION, key, record)
  deps.log.info({ account: id, amount: amount.toString(), key, balance: state.balance.balance.toString() }, 'settlement due: debited, sending it')
  // Durable in any durability mode: money leaves only once its debit can never be lost.
  deps.store.afterDurable(() => { deps.settle(id, key, amount) })
}

/** An incoming settlement lowers what the account owes; its idempotency record is stored with it. */
function creditSettlement (state: AccountState, recordKey: string, amount: bigint, record: IncomingSettlementRecord, deps: AccountDeps): void {
  const id = state.info.id
  state.balance.balance -= amount
  saveBalance(state, deps)
  deps.store.put(INCOMING_COLLECTION, recordKey, record)
  deps.log.info({ account: id, amount: amount.toString(), balance: state.balance.balance.toString() }, 'incoming settlement credited')
  // Durable in any durability mode: the engine is told "credited" only once that cannot be lost.
  deps.store.afterDurable(() => { deps.settlementCredited(id, recordKey) })
}

/**
 * Supervision at the level of one packet: if handling one item throws (a bug, a failing store), that
 * item's packet is answered (T00), the committed balance is reloaded from the store and the holds are
 * recomputed from the packets still in flight, which stay live. Nothing else in the batch is lost.
 */
function isolated (state: AccountState, deps: AccountDeps, run: () => void, fail: () => void): void {
  try {
    run()
  } catch (err) {
    recover(state, deps, err, fail)
  }
}

/** After an item failed: answer its packet (`fail`), then restore the account from its stored state. */
function recover (state: AccountState, deps: AccountDeps, err: unknown, fail: () => void): void {
  deps.log.error({ err, account: state.info.id }, 'failed to handle a packet: answering it and restoring the account from its stored state')
  try {
    fail()
  } catch (failure) {
    deps.log.error({ err: failure, account: state.info.id }, 'failed to answer the packet that failed')
  }
  restoreFromStore(state, deps)
}

/** An account's limits from their settings (config file, stored record or admin API: amounts as strings). */
export function limitsFromSettings (s: AccountLimitSettings): Pick<AccountInfo, 'limits' | 'maxPacketAmount' | 'packetsPerSecond' | 'throughputLimit'> {
  return {
    limits: { minBalance: optionalBigInt(s.minBalance), maxBalance: optionalBigInt(s.maxBalance) },
    maxPacketAmount: optionalBigInt(s.maxPacketAmount),
    packetsPerSecond: s.packetsPerSecond,
    throughputLimit: s.throughputLimit === undefined ? undefined : { amount: BigInt(s.throughputLimit.amount), periodMs: s.throughputLimit.periodMs }
  }
}

/** The rate limits' token buckets, full (absent: no limit). */
function limitBuckets (info: AccountInfo, now: number): Pick<AccountState, 'packetBucket' | 'amountBucket'> {
  return {
    packetBucket: info.packetsPerSecond === undefined ? undefined : fullBucket(BigInt(info.packetsPerSecond), 1000, now),
    amountBucket: info.throughputLimit === undefined ? undefined : fullBucket(info.throughputLimit.amount, info.throughputLimit.periodMs, now)
  }
}

/** Committed balance from the store (the last one saved), holds from the packets in flight. */
export function restoreFromStore (state: AccountState, deps: AccountDeps): void {
  const saved = deps.store.loadAccount(state.info.id)
  state.balance.balance = saved === undefined ? 0n : BigInt(saved.balance)
  let held = 0n
  for (const p of state.incoming.values()) held += p.amount
  state.balance.heldIncoming = held
  held = 0n
  for (const p of state.outgoing.values()) held += p.amount
  state.balance.heldOutgoing = held
}

const INTERNAL_ERROR = 'internal error in the connector'

function failLinkEvent (state: AccountState, connectionId: number, event: LinkEvent, deps: AccountDeps): void {
  if (event.type === 'prepare' || event.type === 'badPrepare') {
    // Answer it unless it got as far as being recorded (then its result or the safety net answers it).
    for (const p of state.incoming.values()) if (p.connectionId === connectionId && p.requestId === event.requestId) return
    answer(state, connectionId, event.requestId, rejectPacket('T00', deps.ilpAddress(), INTERNAL_ERROR), deps)
  } else if (event.type === 'reply' || event.type === 'error' || event.type === 'badReply') {
    failOutgoing(state, event.requestId, deps)
  }
}

function failMessage (state: AccountState, msg: AccountMessage, deps: AccountDeps): void {
  const address = deps.ilpAddress()
  if (msg.type === 'forward') {
    for (const p of state.outgoing.values()) if (p.source.account === msg.source.account && p.source.seq === msg.source.seq) return
    deps.directory.tell(msg.source.account, { type: 'forwardResult', seq: msg.source.seq, reply: ownReject('T00', address, INTERNAL_ERROR) })
  } else if (msg.type === 'forwardResult') {
    const packet = state.incoming.get(msg.seq)
    if (packet === undefined) return
    state.incoming.delete(msg.seq)
    answer(state, packet.connectionId, packet.requestId, rejectPacket('T00', address, INTERNAL_ERROR), deps)
  }
}

/** An outgoing packet whose reply could not be handled: its source is told T00 (if not yet told). */
function failOutgoing (state: AccountState, requestId: number, deps: AccountDeps): void {
  const packet = state.outgoing.get(requestId)
  if (packet === undefined) return
  state.outgoing.delete(requestId)
  if (!packet.sourceAnswered) {
    deps.directory.tell(packet.source.account, { type: 'forwardResult', seq: packet.source.seq, reply: ownReject('T00', deps.ilpAddress(), INTERNAL_ERROR) })
  }
}

/**
 * After each handler run: the Fulfills it committed go upstream once the store has them. One that
 * would arrive after the sender's expiry (a very slow disk) is turned into R00 and its charge reversed.
 */
export function sendAcks (state: AccountState, deps: AccountDeps): void {
  if (state.acks.length === 0) return
  const acks = state.acks
  state.acks = []
  const id = state.info.id
  deps.store.afterCommit(() => {
    const now = deps.now()
    for (const ack of acks) {
      if (now < ack.expiresAt) {
        deps.send(id, ack.connectionId, ilpResponseFrame(ack.requestId, ack.fulfill))
        continue
      }
      deps.send(id, ack.connectionId, ilpResponseFrame(ack.requestId, rejectPacket('R00', deps.ilpAddress(), 'the connector could not store the Fulfill before the packet expired')))
      deps.directory.tell(id, { type: 'ackTooLate', amount: ack.amount })
    }
  })
}

/**
 * New limits from the admin API. `info` is changed in place: the actor's spawn closure holds the same
 * object. Rate buckets start full under their new sizes.
 */
function setLimits (state: AccountState, limits: AccountLimitSettings, deps: AccountDeps): void {
  const info = state.info
  Object.assign(info, limitsFromSettings(limits))
  Object.assign(state, limitBuckets(info, deps.now()))
  deps.log.info({ account: info.id }, 'account limits changed by an operator')
}

// ---- this account sends us something -------------------------------------------------------------

function onLinkEvent (state: AccountState, connectionId: number, event: LinkEvent, deps: AccountDeps): void {
  if ((event.type === 'reply' || event.type === 'error' || event.type === 'badReply') && event.requestId >= CONTROL_REQUEST_ID_BASE) {
    controlAnswer(state, event, deps)
    return
  }
  switch (event.type) {
    case 'prepare': onIncomingPrepare(state, connectionId, event.requestId, event.prepare, deps); break
    case 'badPrepare':
      answer(state, connectionId, event.requestId, rejectPacket('F01', deps.ilpAddress(), `invalid packet: ${event.reason}`), deps)
      deps.observePacket?.(state.info.id, 'F01')
      break
    case 'reply': onOutgoingReply(state, event.requestId, event.reply, deps); break
    case 'error':
      onOutgoingReply(state, event.requestId,
        ownReject('T00', deps.ilpAddress(), `${state.info.id} answered with BTP error ${event.code} ${event.name}: ${event.message.slice(0, 200)}`), deps)
      break
    case 'badReply':
      onOutgoingReply(state, event.requestId,
        ownReject('T00', deps.ilpAddress(), `${state.info.id} answered with a malformed ILP reply: ${event.reason}`), deps)
      break
    case 'refuse':
      deps.send(state.info.id, connectionId, errorFrame(event.requestId, event.code, event.name, event.message))
      break
    case 'transfer':
      // A bare TRANSFER carries no proof of payment: credited only where the account's config says so.
      if (state.info.settlement?.creditTransfers === true) {
        deps.incomingTransfer(state.info.id, connectionId, event.requestId, event.amount, event.key)
      } else {
        deps.send(state.info.id, connectionId, errorFrame(event.requestId, 'F00', 'NotAcceptedError', `BTP TRANSFER is not accepted from account ${state.info.id}`))
      }
      break
    case 'ignore':
      // An empty RESPONSE to one of the connector's own requests (a TRANSFER we sent) acknowledges it.
      if (event.requestId >= CONTROL_REQUEST_ID_BASE) deps.controlAnswer(state.info.id, event.requestId, { kind: 'ack' })
      break
  }
}

/** A reply to a request the connector made itself (not a forwarded packet): back to the ControlChannel. */
function controlAnswer (state: AccountState, event: Extract<LinkEvent, { type: 'reply' | 'error' | 'badReply' }>, deps: AccountDeps): void {
  const answer = event.type === 'reply'
    ? event.reply
    : event.type === 'error' ? `${state.info.id} answered with BTP error ${event.code} ${event.name}: ${event.message.slice(0, 200)}` : `${state.info.id} answered with a malformed ILP reply: ${event.reason}`
  deps.controlAnswer(state.info.id, event.requestId, answer)
}

function onIncomingPrepare (state: AccountState, connectionId: number, requestId: number, prepare: Prepare, deps: AccountDeps): void {
  if (prepare.destination.startsWith('peer.')) {
    if (prepare.amount !== 0n) {
      // Peer protocols carry no money: fulfilling one would book a payment we never account for.
      answer(state, connectionId, requestId, rejectPacket('F01', deps.ilpAddress(), `requests to ${prepare.destination} must have amount 0`), deps)
      return
    }
    if (prepare.destination === 'peer.config') {
      answer(state, connectionId, requestId, ildcpResponse(state, deps.ilpAddress()), deps)
    } else {
      answerPeerRequest(state.info.id, connectionId, requestId, deps.peerRequest(state.info, prepare), deps)
    }
    return
  }
  const { info } = state
  if (!deps.store.healthy) { rejectIncoming(state, connectionId, requestId, deps, 'T00', 'the connector cannot store balances right now'); return }
  if (info.maxPacketAmount !== undefined && prepare.amount > info.maxPacketAmount) {
    rejectIncoming(state, connectionId, requestId, deps, 'F08', `packet amount ${prepare.amount} exceeds the maximum of ${info.maxPacketAmount} for account ${info.id}`,
      amountTooLargeData(prepare.amount, info.maxPacketAmount))
    return
  }
  const now = deps.now()
  // Rate limits count every Prepare the account sends us, whatever becomes of it.
  if (state.packetBucket !== undefined && !take(state.packetBucket, 1n, now)) {
    rejectIncoming(state, connectionId, requestId, deps, 'T05', `account ${info.id} sends more than ${info.packetsPerSecond} packets per second`)
    return
  }
  if (state.amountBucket !== undefined && !take(state.amountBucket, prepare.amount, now)) {
    rejectIncoming(state, connectionId, requestId, deps, 'T04', `account ${info.id} sends more than ${info.throughputLimit?.amount} per ${info.throughputLimit?.periodMs} ms`)
    return
  }
  const expiry = outgoingExpiry(prepare.expiresAt, now, deps.expiry)
  if (!expiry.ok) { rejectIncoming(state, connectionId, requestId, deps, expiry.code, expiry.message); return }
  const nextHop = deps.lookupRoute(prepare.destination)
  // (NO_HOP: the destination is in our own address space, and no account there matches it.)
  if (nextHop === undefined || nextHop === NO_HOP) { rejectIncoming(state, connectionId, requestId, deps, 'F02', `no route to ${prepare.destination}`); return }
  if (nextHop === info.id) { rejectIncoming(state, connectionId, requestId, deps, 'F02', `the route to ${prepare.destination} leads back to the sender`); return }
  if (state.incoming.size >= deps.maxInFlight) {
    rejectIncoming(state, connectionId, requestId, deps, 'T03', `account ${info.id} has ${state.incoming.size} packets in flight, the most allowed`)
    return
  }
  if (!holdIncoming(state.balance, info.limits, prepare.amount)) {
    rejectIncoming(state, connectionId, requestId, deps, 'T04', `account ${info.id} would exceed its maximum balance of ${info.limits.maxBalance}`)
    return
  }
  const seq = state.nextSeq++
  const delivered = deps.directory.tell(nextHop, {
    type: 'forward',
    source: { account: info.id, seq },
    sourceAsset: info.asset,
    prepare: { ...prepare, expiresAt: expiry.expiresAt }
  })
  if (!delivered) {
    releaseIncoming(state.balance, prepare.amount)
    rejectIncoming(state, connectionId, requestId, deps, 'F02', `next hop ${nextHop} for ${prepare.destination} does not exist`)
    return
  }
  // The safety net: should the next hop never report back, the sender still gets R00 — one message
  // window after the next hop's deadline, and never after the sender's own expiry.
  const deadline = Math.min(prepare.expiresAt, expiry.expiresAt + deps.expiry.minMessageWindowMs)
  state.incoming.set(seq, { connectionId, requestId, amount: prepare.amount, expiresAt: prepare.expiresAt, condition: prepare.executionCondition, deadline, receivedAt: now })
  if (deps.history !== undefined) deps.history.prepared(info.id, seq, prepare, nextHop, now)
  deps.expireAt(info.id, -seq, deadline)
}

/** Answers a Prepare from this account's link with a reject of our own (a function, not a per-packet closure). */
function rejectIncoming (state: AccountState, connectionId: number, requestId: number, deps: AccountDeps, code: RejectCode, message: string, data?: Buffer): void {
  answer(state, connectionId, requestId, rejectPacket(code, deps.ilpAddress(), message, data), deps)
  deps.observePacket?.(state.info.id, code)
}

/** `peer.config` (RFC 0031): a child learns its address and asset from us. */
function ildcpResponse (state: AccountState, address: string): Buffer {
  if (state.info.relation !== 'child' || state.info.address === undefined) {
    return rejectPacket('F00', address, `ILDCP is served to child accounts only; ${state.info.id} is a ${state.info.relation}`)
  }
  return ILDCP.serializeIldcpResponse({
    clientAddress: state.info.address,
    assetCode: state.info.asset.code,
    assetScale: state.info.asset.scale
  })
}

/**
 * `peer.*` destinations are for this hop only and never forwarded. Their handlers may answer later
 * (a settlement engine asked over HTTP): the answer then goes straight to the link, since it touches
 * none of the actor's state.
 */
function answerPeerRequest (accountId: string, connectionId: number, requestId: number, reply: Buffer | Promise<Buffer>, deps: AccountDeps): void {
  if (Buffer.isBuffer(reply)) {
    deps.send(accountId, connectionId, ilpResponseFrame(requestId, reply))
    deps.answered(1)
    return
  }
  reply.then(
    packet => { deps.send(accountId, connectionId, ilpResponseFrame(requestId, packet)) },
    (err: unknown) => {
      deps.log.error({ err, account: accountId }, 'a peer protocol request failed')
      deps.send(accountId, connectionId, ilpResponseFrame(requestId, rejectPacket('T00', deps.ilpAddress(), INTERNAL_ERROR)))
    }
  ).finally(() => { deps.answered(1) }).catch(() => {})
}

// ---- the next hop's side -------------------------------------------------------------------------

function onForward (state: AccountState, source: TransferSource, sourceAsset: Asset, prepare: Prepare, deps: AccountDeps): void {
  const { info } = state
  const converted = deps.convert(prepare.amount, sourceAsset, info.asset)
  if (!converted.ok) { failForward(source, deps, converted.code, converted.message); return }
  const amount = converted.amount
  const connectionId = state.connections[state.connections.length - 1]
  if (connectionId === undefined) { failForward(source, deps, 'T01', `the link to account ${info.id} is down`); return }
  if (state.outgoing.size >= deps.maxInFlight) {
    failForward(source, deps, 'T03', `account ${info.id} has ${state.outgoing.size} packets in flight to it, the most allowed`)
    return
  }
  if (!holdOutgoing(state.balance, info.limits, amount)) {
    failForward(source, deps, 'T04', `account ${info.id} would go below its minimum balance of ${info.limits.minBalance}`)
    return
  }
  const requestId = nextRequestId(state)
  const frame = forwardedPrepareFrame(requestId, prepare.packet, amount, prepare.expiresAt)
  if (!deps.send(info.id, connectionId, frame)) {
    releaseOutgoing(state.balance, amount)
    failForward(source, deps, 'T01', `the link to account ${info.id} is down`)
    return
  }
  state.outgoing.set(requestId, { connectionId, source, amount, expiresAt: prepare.expiresAt, condition: prepare.executionCondition, sourceAnswered: false })
  deps.expireAt(info.id, requestId, prepare.expiresAt)
}

/** Tells the source a forwarded packet failed here (a function, not a per-packet closure). */
function failForward (source: TransferSource, deps: AccountDeps, code: RejectCode, message: string): void {
  deps.directory.tell(source.account, { type: 'forwardResult', seq: source.seq, reply: ownReject(code, deps.ilpAddress(), message) })
}

function onOutgoingReply (state: AccountState, requestId: number, reply: Reply, deps: AccountDeps): void {
  // Matched by request id alone (unique per account): after a reconnect the reply comes on a new connection.
  const packet = state.outgoing.get(requestId)
  if (packet === undefined) {
    deps.log.debug({ account: state.info.id, requestId }, 'reply to no packet in flight (late or unknown): ignored')
    return
  }
  const address = deps.ilpAddress()
  let result = reply
  if (reply.kind === 'fulfill') {
    if (deps.now() > packet.expiresAt) {
      // Too late: the sender may already have been told R00. Never pass a Fulfill after the deadline.
      releaseOutgoing(state.balance, packet.amount)
      result = ownReject('R00', address, `${state.info.id} fulfilled after the packet expired`)
    } else if (!fulfillmentMatches(reply.fulfillment, packet.condition)) {
      releaseOutgoing(state.balance, packet.amount)
      result = ownReject('F05', address, `fulfillment from ${state.info.id} does not match the condition`)
    } else {
      commitOutgoing(state.balance, packet.amount)
      saveBalance(state, deps)
      if (state.info.settlement !== undefined) maybeSettle(state, deps)
      if (state.info.receiving === true) deps.received?.(state.info.id, packet.amount, packet.condition)
      if (packet.sourceAnswered) {
        deps.log.warn({ account: state.info.id, amount: packet.amount.toString() },
          'Fulfill received after the link dropped and the sender was told T01: honoured, at the connector\'s cost')
      }
    }
  } else {
    releaseOutgoing(state.balance, packet.amount)
  }
  if (!packet.sourceAnswered) {
    deps.directory.tell(packet.source.account, { type: 'forwardResult', seq: packet.source.seq, reply: result, condition: packet.condition })
  }
  state.outgoing.delete(requestId)
}

// ---- back at the source --------------------------------------------------------------------------

function onForwardResult (state: AccountState, seq: number, reply: Reply, condition: Buffer | undefined, deps: AccountDeps): void {
  const packet = state.incoming.get(seq)
  if (packet === undefined) return // already answered (expired)
  if (reply.kind === 'fulfill') {
    // Defence in depth: a Fulfill is only ever for the packet with the same condition.
    if (condition === undefined || !condition.equals(packet.condition)) throw new Error(`Fulfill for transfer ${seq} carries another packet's condition`)
    commitIncoming(state.balance, packet.amount)
    saveBalance(state, deps)
    // The acknowledgement that must not outrun the disk: it leaves with its group commit.
    state.acks.push({ connectionId: packet.connectionId, requestId: packet.requestId, amount: packet.amount, expiresAt: packet.expiresAt, fulfill: reply.packet })
  } else {
    releaseIncoming(state.balance, packet.amount)
    deps.send(state.info.id, packet.connectionId, ilpResponseFrame(packet.requestId, reply.packet))
  }
  state.incoming.delete(seq)
  deps.answered(1)
  if (deps.observePacket !== undefined || deps.history !== undefined) {
    const now = deps.now()
    deps.observePacket?.(state.info.id, reply.kind === 'fulfill' ? 'fulfilled' : reply.code, now - packet.receivedAt)
    deps.history?.settled(state.info.id, seq, reply, now)
  }
}

function saveBalance (state: AccountState, deps: AccountDeps): void {
  deps.store.saveBalance(state.info.id, state.balance.balance)
}

// ---- deadlines and links -------------------------------------------------------------------------

function onExpire (state: AccountState, ids: number[], deps: AccountDeps): void {
  const now = deps.now()
  const address = deps.ilpAddress()
  for (const id of ids) {
    if (id > 0) {
      const packet = state.outgoing.get(id)
      if (packet === undefined) continue
      // Not due by this clock (it stepped back): ask again rather than lose the deadline.
      if (packet.expiresAt > now) { deps.expireAt(state.info.id, id, packet.expiresAt); continue }
      state.outgoing.delete(id)
      releaseOutgoing(state.balance, packet.amount)
      if (packet.sourceAnswered) continue
      deps.directory.tell(packet.source.account, {
        type: 'forwardResult',
        seq: packet.source.seq,
        reply: ownReject('R00', address, `${state.info.id} did not answer before the packet expired`)
      })
    } else {
      const packet = state.incoming.get(-id)
      if (packet === undefined) continue
      if (packet.deadline > now) { deps.expireAt(state.info.id, id, packet.deadline); continue }
      state.incoming.delete(-id)
      deps.answered(1)
      deps.observePacket?.(state.info.id, 'R00', now - packet.receivedAt)
      releaseIncoming(state.balance, packet.amount)
      const reject = rejectPacket('R00', address, 'no answer from the next hop before the packet expired')
      deps.send(state.info.id, packet.connectionId, ilpResponseFrame(packet.requestId, reject))
      deps.history?.settled(state.info.id, -id, { kind: 'reject', code: 'R00', packet: reject }, now)
    }
  }
}

/**
 * A connection closed with packets in flight on it: their senders are told T01 at once rather than
 * left waiting, but the packets are kept (with their holds) until they expire, because the peer may
 * reconnect and still fulfil them — a valid Fulfill before expiry is honoured, at the connector's cost.
 */
function onLinkDown (state: AccountState, connectionId: number, deps: AccountDeps): void {
  state.connections = state.connections.filter(c => c !== connectionId)
  const address = deps.ilpAddress()
  for (const packet of state.outgoing.values()) {
    if (packet.connectionId !== connectionId || packet.sourceAnswered) continue
    packet.sourceAnswered = true
    deps.directory.tell(packet.source.account, {
      type: 'forwardResult',
      seq: packet.source.seq,
      reply: ownReject('T01', address, `the link to ${state.info.id} closed with the packet in flight`)
    })
  }
}

/** Answers a Prepare from this account's link at once (a reject, or a peer protocol's reply). */
function answer (state: AccountState, connectionId: number, requestId: number, packet: Buffer, deps: AccountDeps): void {
  deps.send(state.info.id, connectionId, ilpResponseFrame(requestId, packet))
  deps.answered(1)
}

function ownReject (code: RejectCode, address: string, message: string): Reply {
  return { kind: 'reject', code, packet: rejectPacket(code, address, message) }
}

/**
 * BTP request ids only need to be unique among our requests in flight on a link. Forwarded packets
 * use 1 … 2^31−1; the upper half is the ControlChannel's.
 */
function nextRequestId (state: AccountState): number {
  const last = CONTROL_REQUEST_ID_BASE - 1
  let id = state.nextRequestId
  while (state.outgoing.has(id)) id = id >= last ? 1 : id + 1
  state.nextRequestId = id >= last ? 1 : id + 1
  return id
}

/**
 * Spawns the actor. Supervision, chosen on purpose: failures are contained per packet (see `isolated`);
 * should anything still escape a run, the actor is restored from its stored balance with its packets
 * in flight kept, and resumed — never nact's default of stopping it and silently dropping whatever is
 * sent to it afterwards.
 */
export function spawnAccountActor (parent: Ref<unknown>, info: AccountInfo, deps: AccountDeps): Ref<AccountMessage> {
  let current: AccountState | undefined
  return spawn(
    parent,
    (state: AccountState, msg: AccountMessage) => {
      current = state
      return deps.directory.collect(() => {
        handleAccountMessage(state, msg, deps)
        sendAcks(state, deps)
        return state
      })
    },
    info.id,
    {
      initialStateFunc: () => {
        current = initialAccountState(info, deps)
        deps.stateCreated(current)
        return current
      },
      onCrash: (msg: AccountMessage | undefined, err: Error | undefined, ctx) => {
        try {
          deps.log.error({ account: info.id, err, message: msg?.type }, 'account actor failed outside a packet: restoring it from its stored state')
          if (current !== undefined) restoreFromStore(current, deps)
        } catch (e) {
          deps.log.error({ account: info.id, err: e }, 'restoring the account failed')
        }
        return ctx.resume
      }
    }
  )
}
