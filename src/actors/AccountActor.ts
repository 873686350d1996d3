/**
 * One actor per account: its balance and limits, the packets it has in flight in both directions, and
 * its link state. A Prepare from the account's link is checked and held here, routed, and handed to the
 * next hop's AccountActor, which holds it against that account's limits and sends it down its link.
 * The reply comes back the same way. Each actor changes only its own state, one message at a time, so
 * no interleaving of packets can overdraw an account.
 */
import * as ILDCP from 'ilp-protocol-ildcp'
import { spawn, Ref } from 'nact'
import type { Logger } from 'pino'
import { outgoingExpiry, ExpiryPolicy } from '../protocol/expiry'
import { convertAmount, Asset } from '../protocol/amounts'
import {
  Balance, BalanceLimits, zeroBalance, holdIncoming, holdOutgoing,
  commitIncoming, releaseIncoming, commitOutgoing, releaseOutgoing
} from '../protocol/balance'
import {
  Prepare, Reply, RejectCode, amountTooLargeData, fulfillmentMatches, rejectPacket
} from '../protocol/ilp'
import { forwardedPrepareFrame } from '../protocol/codec'
import { LinkEvent, errorFrame, ilpResponseFrame } from '../transport/btp'
import type { AccountMessage, TransferSource } from './messages'
import type { Store } from '../store/Store'
import type { AccountDirectory } from './AccountDirectory'

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
}

/** A Prepare this account sent us, waiting for the next hop's answer. */
interface IncomingPacket {
  connectionId: number
  requestId: number
  amount: bigint
  /** When the sender is answered R00 if the next hop has not reported back (the safety net). */
  deadline: number
}

/** A Prepare we sent this account on behalf of another, waiting for its answer. */
interface OutgoingPacket {
  connectionId: number
  source: TransferSource
  amount: bigint
  expiresAt: number
  condition: Buffer
}

export interface AccountState {
  info: AccountInfo
  balance: Balance
  /** Live connection ids, oldest first. */
  connections: number[]
  incoming: Map<number, IncomingPacket>
  outgoing: Map<number, OutgoingPacket>
  nextSeq: number
  nextRequestId: number
  /** Fulfills to pass upstream once their balance change is stored (sent after each handler run). */
  acks: Array<{ connectionId: number; requestId: number; fulfill: Buffer }>
}

/** What an account actor needs from the rest of the connector; all of it is addressed by name. */
export interface AccountDeps {
  ilpAddress: () => string
  expiry: ExpiryPolicy
  maxInFlight: number
  now: () => number
  lookupRoute: (destination: string) => string | undefined
  /** Account actors by name: `tell` delivers a message (false if there is no such account). */
  directory: AccountDirectory
  send: (accountId: string, connectionId: number | undefined, frame: Buffer) => boolean
  connectionIds: (accountId: string) => number[]
  expireAt: (accountId: string, id: number, expiresAt: number) => void
  store: Store
  log: Logger
  /**
   * Called each time a Prepare from a link gets its answer (the link layer counts them in), so that a
   * shutdown can wait until every Prepare the connector took in has been answered.
   */
  answered: (count: number) => void
  /** Called with each fresh state (at spawn and at every restart), so the owner can read balances. */
  stateCreated: (state: AccountState) => void
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
    acks: []
  }
}

export function handleAccountMessage (state: AccountState, msg: AccountMessage, deps: AccountDeps): AccountState {
  switch (msg.type) {
    case 'link':
      for (const event of msg.events) onLinkEvent(state, msg.connectionId, event, deps)
      break
    case 'batch':
      for (const m of msg.messages) handleAccountMessage(state, m, deps)
      break
    case 'forward': onForward(state, msg.source, msg.sourceAsset, msg.prepare, deps); break
    case 'forwardResult': onForwardResult(state, msg.seq, msg.reply, deps); break
    case 'expire': onExpire(state, msg.ids, deps); break
    case 'linkUp':
      if (!state.connections.includes(msg.connectionId)) state.connections.push(msg.connectionId)
      break
    case 'linkDown': onLinkDown(state, msg.connectionId, deps); break
  }
  return state
}

/** After each handler run: the Fulfills it committed go upstream once the store has them. */
export function sendAcks (state: AccountState, deps: AccountDeps): void {
  if (state.acks.length === 0) return
  const acks = state.acks
  state.acks = []
  const id = state.info.id
  deps.store.afterCommit(() => {
    for (const ack of acks) deps.send(id, ack.connectionId, ilpResponseFrame(ack.requestId, ack.fulfill))
  })
}

/**
 * Answers everything in flight when the actor crashed, so that no request hangs on a restart: its
 * senders get T00 and the sources of its outgoing packets learn they failed.
 */
export function abandonInFlight (state: AccountState, deps: AccountDeps, reason: string): void {
  const address = deps.ilpAddress()
  for (const [, p] of state.incoming) {
    deps.send(state.info.id, p.connectionId, ilpResponseFrame(p.requestId, rejectPacket('T00', address, reason)))
  }
  // Fulfills committed in the failed run may not be stored: the sender is told T00, not Fulfill.
  for (const ack of state.acks) {
    deps.send(state.info.id, ack.connectionId, ilpResponseFrame(ack.requestId, rejectPacket('T00', address, reason)))
  }
  state.acks = []
  for (const [, p] of state.outgoing) {
    deps.directory.tell(p.source.account, { type: 'forwardResult', seq: p.source.seq, reply: ownReject('T00', address, reason) })
  }
  deps.answered(state.incoming.size)
  state.incoming.clear()
  state.outgoing.clear()
}

// ---- this account sends us something -------------------------------------------------------------

function onLinkEvent (state: AccountState, connectionId: number, event: LinkEvent, deps: AccountDeps): void {
  switch (event.type) {
    case 'prepare': onIncomingPrepare(state, connectionId, event.requestId, event.prepare, deps); break
    case 'badPrepare':
      answer(state, connectionId, event.requestId, rejectPacket('F01', deps.ilpAddress(), `invalid packet: ${event.reason}`), deps)
      break
    case 'reply': onOutgoingReply(state, connectionId, event.requestId, event.reply, deps); break
    case 'error':
      onOutgoingReply(state, connectionId, event.requestId,
        ownReject('T00', deps.ilpAddress(), `${state.info.id} answered with BTP error ${event.code} ${event.name}: ${event.message}`), deps)
      break
    case 'badReply':
      onOutgoingReply(state, connectionId, event.requestId,
        ownReject('T00', deps.ilpAddress(), `${state.info.id} answered with a malformed ILP reply: ${event.reason}`), deps)
      break
    case 'refuse':
      deps.send(state.info.id, connectionId, errorFrame(event.requestId, event.code, event.name, event.message))
      break
    case 'ignore': break
  }
}

function onIncomingPrepare (state: AccountState, connectionId: number, requestId: number, prepare: Prepare, deps: AccountDeps): void {
  const address = deps.ilpAddress()
  const reject = (code: RejectCode, message: string, data?: Buffer): void =>
    answer(state, connectionId, requestId, rejectPacket(code, address, message, data), deps)

  if (prepare.destination.startsWith('peer.')) {
    answer(state, connectionId, requestId, peerProtocol(state, prepare, address), deps)
    return
  }
  const { info } = state
  if (info.maxPacketAmount !== undefined && prepare.amount > info.maxPacketAmount) {
    reject('F08', `packet amount ${prepare.amount} exceeds the maximum of ${info.maxPacketAmount} for account ${info.id}`,
      amountTooLargeData(prepare.amount, info.maxPacketAmount))
    return
  }
  const now = deps.now()
  const expiry = outgoingExpiry(prepare.expiresAt, now, deps.expiry)
  if (!expiry.ok) { reject(expiry.code, expiry.message); return }
  const nextHop = deps.lookupRoute(prepare.destination)
  if (nextHop === undefined) { reject('F02', `no route to ${prepare.destination}`); return }
  if (nextHop === info.id) { reject('F02', `the route to ${prepare.destination} leads back to the sender`); return }
  if (state.incoming.size >= deps.maxInFlight) {
    reject('T03', `account ${info.id} has ${state.incoming.size} packets in flight, the most allowed`)
    return
  }
  if (!holdIncoming(state.balance, info.limits, prepare.amount)) {
    reject('T04', `account ${info.id} would exceed its maximum balance of ${info.limits.maxBalance}`)
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
    reject('F02', `next hop ${nextHop} for ${prepare.destination} does not exist`)
    return
  }
  // The safety net: should the next hop never report back, the sender still gets R00 — one message
  // window after the next hop's deadline, and never after the sender's own expiry.
  const deadline = Math.min(prepare.expiresAt, expiry.expiresAt + deps.expiry.minMessageWindowMs)
  state.incoming.set(seq, { connectionId, requestId, amount: prepare.amount, deadline })
  deps.expireAt(info.id, -seq, deadline)
}

/** `peer.*` destinations are for this hop only (RFC 0031 ILDCP now, CCP later): never forwarded. */
function peerProtocol (state: AccountState, prepare: Prepare, address: string): Buffer {
  if (prepare.destination === 'peer.config') {
    if (state.info.relation !== 'child' || state.info.address === undefined) {
      return rejectPacket('F00', address, `ILDCP is served to child accounts only; ${state.info.id} is a ${state.info.relation}`)
    }
    return ILDCP.serializeIldcpResponse({
      clientAddress: state.info.address,
      assetCode: state.info.asset.code,
      assetScale: state.info.asset.scale
    })
  }
  return rejectPacket('F02', address, `unsupported peer protocol: ${prepare.destination}`)
}

// ---- the next hop's side -------------------------------------------------------------------------

function onForward (state: AccountState, source: TransferSource, sourceAsset: Asset, prepare: Prepare, deps: AccountDeps): void {
  const { info } = state
  const address = deps.ilpAddress()
  const fail = (code: RejectCode, message: string): void => {
    deps.directory.tell(source.account, { type: 'forwardResult', seq: source.seq, reply: ownReject(code, address, message) })
  }
  const converted = convertAmount(prepare.amount, sourceAsset, info.asset)
  if (!converted.ok) { fail(converted.code, converted.message); return }
  const amount = converted.amount
  const connectionId = state.connections[state.connections.length - 1]
  if (connectionId === undefined) { fail('T01', `the link to account ${info.id} is down`); return }
  if (state.outgoing.size >= deps.maxInFlight) {
    fail('T03', `account ${info.id} has ${state.outgoing.size} packets in flight to it, the most allowed`)
    return
  }
  if (!holdOutgoing(state.balance, info.limits, amount)) {
    fail('T04', `account ${info.id} would go below its minimum balance of ${info.limits.minBalance}`)
    return
  }
  const requestId = nextRequestId(state)
  const frame = forwardedPrepareFrame(requestId, prepare.packet, amount, prepare.expiresAt)
  if (!deps.send(info.id, connectionId, frame)) {
    releaseOutgoing(state.balance, amount)
    fail('T01', `the link to account ${info.id} is down`)
    return
  }
  state.outgoing.set(requestId, { connectionId, source, amount, expiresAt: prepare.expiresAt, condition: prepare.executionCondition })
  deps.expireAt(info.id, requestId, prepare.expiresAt)
}

function onOutgoingReply (state: AccountState, connectionId: number, requestId: number, reply: Reply, deps: AccountDeps): void {
  const packet = state.outgoing.get(requestId)
  if (packet === undefined || packet.connectionId !== connectionId) {
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
    }
  } else {
    releaseOutgoing(state.balance, packet.amount)
  }
  deps.directory.tell(packet.source.account, { type: 'forwardResult', seq: packet.source.seq, reply: result })
  // Forgotten only once answered: should anything above throw, the crash handler still answers it.
  state.outgoing.delete(requestId)
}

// ---- back at the source --------------------------------------------------------------------------

function onForwardResult (state: AccountState, seq: number, reply: Reply, deps: AccountDeps): void {
  const packet = state.incoming.get(seq)
  if (packet === undefined) return // already answered (expired)
  if (reply.kind === 'fulfill') {
    commitIncoming(state.balance, packet.amount)
    saveBalance(state, deps)
  } else {
    releaseIncoming(state.balance, packet.amount)
  }
  // A Fulfill is the acknowledgement that must not outrun the disk: it leaves with its group commit.
  if (reply.kind === 'fulfill') state.acks.push({ connectionId: packet.connectionId, requestId: packet.requestId, fulfill: reply.packet })
  else deps.send(state.info.id, packet.connectionId, ilpResponseFrame(packet.requestId, reply.packet))
  state.incoming.delete(seq)
  deps.answered(1)
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
      if (packet === undefined || packet.expiresAt > now) continue
      state.outgoing.delete(id)
      releaseOutgoing(state.balance, packet.amount)
      deps.directory.tell(packet.source.account, {
        type: 'forwardResult',
        seq: packet.source.seq,
        reply: ownReject('R00', address, `${state.info.id} did not answer before the packet expired`)
      })
    } else {
      const packet = state.incoming.get(-id)
      if (packet === undefined || packet.deadline > now) continue
      state.incoming.delete(-id)
      deps.answered(1)
      releaseIncoming(state.balance, packet.amount)
      deps.send(state.info.id, packet.connectionId,
        ilpResponseFrame(packet.requestId, rejectPacket('R00', address, 'no answer from the next hop before the packet expired')))
    }
  }
}

/** Packets sent on a connection that closed can never be answered: fail them upstream now. */
function onLinkDown (state: AccountState, connectionId: number, deps: AccountDeps): void {
  state.connections = state.connections.filter(c => c !== connectionId)
  const address = deps.ilpAddress()
  for (const [requestId, packet] of state.outgoing) {
    if (packet.connectionId !== connectionId) continue
    state.outgoing.delete(requestId)
    releaseOutgoing(state.balance, packet.amount)
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

/** BTP request ids are uint32 and only need to be unique among our requests in flight on a link. */
function nextRequestId (state: AccountState): number {
  let id = state.nextRequestId
  while (state.outgoing.has(id)) id = id >= 0xffffffff ? 1 : id + 1
  state.nextRequestId = id >= 0xffffffff ? 1 : id + 1
  return id
}

/**
 * Spawns the actor. Supervision, chosen on purpose: a crash answers every packet the account had in
 * flight (so nothing hangs) and restarts the actor from its stored state, rather than nact's default
 * of stopping it and silently dropping whatever is sent to it afterwards.
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
        deps.log.error({ account: info.id, err, message: msg?.type }, 'account actor crashed: failing its packets in flight and restarting it from its stored state')
        const crashed = current
        if (crashed !== undefined) deps.directory.collect(() => abandonInFlight(crashed, deps, 'internal error in the connector'))
        return ctx.reset
      }
    }
  )
}
