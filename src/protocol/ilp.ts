/**
 * ILPv4 packet helpers (RFC 0027): the shapes the actors pass around and the replies the connector
 * makes itself. Packets are parsed once at the link; the actors see plain data (bigint amounts,
 * millisecond expiries) that msgpack can carry unchanged between cluster nodes later.
 */
import { createHash } from 'crypto'
import * as IlpPacket from 'ilp-packet'

export const TYPE_PREPARE = 12
export const TYPE_FULFILL = 13
export const TYPE_REJECT = 14

/** A Prepare as the actors see it. */
export interface Prepare {
  amount: bigint
  /** Milliseconds since the epoch. */
  expiresAt: number
  executionCondition: Buffer
  destination: string
  data: Buffer
}

/** A reply from the next hop, kept as its original bytes so it can be relayed without re-encoding. */
export type Reply =
  | { kind: 'fulfill'; fulfillment: Buffer; packet: Buffer }
  | { kind: 'reject'; code: string; packet: Buffer }

export type RejectCode = IlpPacket.IlpErrorCode

/** Peer protocols (ILDCP, CCP) use the all-zero fulfillment and its hash as condition. */
export const PEER_PROTOCOL_FULFILLMENT = Buffer.alloc(32)
export const PEER_PROTOCOL_CONDITION = sha256(PEER_PROTOCOL_FULFILLMENT)

export function sha256 (data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

export function fulfillmentMatches (fulfillment: Buffer, condition: Buffer): boolean {
  return fulfillment.length === 32 && sha256(fulfillment).equals(condition)
}

export const MAX_UINT64 = (1n << 64n) - 1n

/** Parses a Prepare; throws on any malformation (the caller turns that into F01). */
export function decodePrepare (packet: Buffer): Prepare {
  const p = IlpPacket.deserializeIlpPrepare(packet)
  const amount = BigInt(p.amount)
  if (amount < 0n || amount > MAX_UINT64) throw new Error('amount is not a uint64')
  if (!IlpPacket.isValidIlpAddress(p.destination)) throw new Error('destination is not a valid ILP address')
  if (p.executionCondition.length !== 32) throw new Error('execution condition must be 32 bytes')
  const expiresAt = p.expiresAt.getTime()
  if (Number.isNaN(expiresAt)) throw new Error('expiry is not a valid timestamp')
  return { amount, expiresAt, executionCondition: p.executionCondition, destination: p.destination, data: p.data }
}

export function encodePrepare (p: Prepare): Buffer {
  return IlpPacket.serializeIlpPrepare({
    amount: p.amount.toString(),
    expiresAt: new Date(p.expiresAt),
    executionCondition: p.executionCondition,
    destination: p.destination,
    data: p.data
  })
}

/** Parses a Fulfill or Reject from the next hop; throws on malformation. */
export function decodeReply (packet: Buffer): Reply {
  if (packet[0] === TYPE_FULFILL) {
    const f = IlpPacket.deserializeIlpFulfill(packet)
    return { kind: 'fulfill', fulfillment: f.fulfillment, packet }
  }
  if (packet[0] === TYPE_REJECT) {
    const r = IlpPacket.deserializeIlpReject(packet)
    return { kind: 'reject', code: r.code, packet }
  }
  throw new Error(`expected a Fulfill or Reject, got packet type ${packet[0] ?? 'none'}`)
}

/** Builds a reject that this connector originates (triggeredBy = our address). */
export function rejectPacket (code: RejectCode, triggeredBy: string, message: string, data: Buffer = Buffer.alloc(0)): Buffer {
  return IlpPacket.serializeIlpReject({ code, triggeredBy, message, data })
}

/** F08 data as RFC 0027 lays it out: amount received and maximum amount, each a uint64 big-endian. */
export function amountTooLargeData (received: bigint, maximum: bigint): Buffer {
  const data = Buffer.alloc(16)
  data.writeBigUInt64BE(received, 0)
  data.writeBigUInt64BE(maximum, 8)
  return data
}

export function fulfillPacket (fulfillment: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  return IlpPacket.serializeIlpFulfill({ fulfillment, data })
}
