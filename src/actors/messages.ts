/**
 * Every message the actors exchange, as discriminated unions of plain data (no functions, no class
 * instances): amounts are bigint (uint64) and packets Buffers, so msgpack can carry them unchanged when
 * accounts live on other cluster nodes.
 */
import type { LinkEvent } from '../transport/btp'
import type { Prepare, Reply } from '../protocol/ilp'
import type { Asset } from '../protocol/amounts'
import type { Route, RouteKind } from '../routing/PrefixTable'
import type { IncomingSettlementRecord } from '../settlement/records'

/** Identifies a forwarded packet at its source: the source account and its sequence number there. */
export interface TransferSource {
  account: string
  seq: number
}

export type AccountMessage =
  /** A BTP connection of this account authenticated / closed. */
  | { type: 'linkUp'; connectionId: number }
  | { type: 'linkDown'; connectionId: number }
  /** Frames from one of this account's connections (those that arrived together). */
  | { type: 'link'; connectionId: number; events: LinkEvent[] }
  /** To the next hop's account: send this Prepare (amount still in the source asset). */
  | { type: 'forward'; source: TransferSource; sourceAsset: Asset; prepare: Prepare }
  /** Back to the source account: how the forwarded packet ended (a Fulfill names its packet's condition). */
  | { type: 'forwardResult'; seq: number; reply: Reply; condition?: Buffer }
  /** To itself: a Fulfill that could not be stored before its expiry was answered R00; reverse its charge. */
  | { type: 'ackTooLate'; amount: bigint }
  /** From the transfer expirer: these packets' deadlines have passed (outgoing ids > 0, incoming < 0). */
  | { type: 'expire'; ids: number[] }
  /**
   * From the settlement service: credit an incoming settlement (it lowers what the account owes us) and
   * store `record` under `recordKey` in the same group commit, so the credit and its idempotency key are
   * durable together or not at all.
   */
  | { type: 'creditSettlement'; recordKey: string; amount: bigint; record: IncomingSettlementRecord }
  /** Settle now if the balance is at or past the threshold (at start, and when the link comes up). */
  | { type: 'checkSettlement' }
  /**
   * From the admin API: add `amount` (a signed integer string) to the committed balance, for `reason`.
   * Operator corrections are not held against the limits. The result is reported with `adjustmentId`.
   */
  | { type: 'adjustBalance'; adjustmentId: number; amount: string; reason: string }
  /** From the admin API: new limits (integer strings; absent = no limit). Packets in flight keep their holds. */
  | { type: 'setLimits'; limits: AccountLimitSettings }
  /** Several messages from one sender, delivered as one mailbox entry (see AccountDirectory). */
  | { type: 'batch'; messages: AccountMessage[] }

/** An account's limits as plain data (amounts as integer strings). */
export interface AccountLimitSettings {
  minBalance?: string
  maxBalance?: string
  maxPacketAmount?: string
  packetsPerSecond?: number
  throughputLimit?: { amount: string; periodMs: number }
}

export interface RouteRemoval { prefix: string; nextHop: string; kind: RouteKind }

/** To a routing-table shard. */
export type RoutingMessage =
  | { type: 'addRoute'; route: Route }
  | { type: 'removeRoute'; prefix: string; nextHop: string; kind: RouteKind }
  /** Many changes at once (a CCP update): removals first, then additions. */
  | { type: 'apply'; add: Route[]; remove: RouteRemoval[] }
  /** Every route through an account (of one kind, or all). */
  | { type: 'removeNextHop'; nextHop: string; kind?: RouteKind }
