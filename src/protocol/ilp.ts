/**
 * ILPv4 packet helpers (RFC 0027): the shapes the actors pass around and the replies the connector
 * makes itself. Packets are parsed once at the link; the actors see plain data (bigint amounts,
 * millisecond expiries) that msgpack can carry unchanged between cluster nodes later.
 */
import { createHash } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import { parsePrepare, parseReply } from './codec'

export { ILP_PREPARE as TYPE_PREPARE, ILP_FULFILL as TYPE_FULFILL, ILP_REJECT as TYPE_REJECT } from './codec'

/** A Prepare as the actors see it: its fields, and its bytes (forwarded with amount and expiry rewritten). */
export interface Prepare {
  amount: bigint
  /** Milliseconds since the epoch. */
  expiresAt: number
  executionCondition: Buffer
  destination: string
  data: Buffer
  packet: Buffer
}

/** A reply from the next hop, kept as its original bytes so it can be relayed without re-encoding. */
export type Reply =
  | { kind: 'fulfill'; fulfillment: Buffer; packet: Buffer }
  | { kind: 'reject'; code: string; packet: Buffer }

export type RejectCode = IlpPacket.IlpErrorCode

export function sha256 (data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

export function fulfillmentMatches (fulfillment: Buffer, condition: Buffer): boolean {
  return fulfillment.length === 32 && sha256(fulfillment).equals(condition)
}

export { MAX_UINT64 } from './codec'

/** Parses a Prepare once, keeping its bytes for forwarding; throws on any malformation (→ F01). */
export function decodePrepare (packet: Buffer): Prepare {
  const p = parsePrepare(packet)
  if (!IlpPacket.isValidIlpAddress(p.destination)) throw new Error('destination is not a valid ILP address')
  return { ...p, packet }
}

/** Parses a Fulfill or Reject from the next hop; throws on malformation. */
export function decodeReply (packet: Buffer): Reply {
  const r = parseReply(packet)
  return r.kind === 'fulfill' ? { kind: 'fulfill', fulfillment: r.fulfillment, packet } : { kind: 'reject', code: r.code, packet }
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

