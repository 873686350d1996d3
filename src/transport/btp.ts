/**
 * BTP 2.0 frames (RFC 0023) as the connector uses them: decoding an incoming frame into one typed
 * link event, and encoding the few frames we send. Pure functions, no I/O.
 */
import * as Btp from 'btp-packet'
import { decodePrepare, decodeReply, Prepare, Reply, TYPE_PREPARE } from '../protocol/ilp'
import { readIlpFrame, ilpFrame, IlpFrame, BTP_MESSAGE, BTP_RESPONSE, MAX_UINT64 } from '../protocol/codec'

export const ILP_PROTOCOL = 'ilp'

/** What a frame from an authenticated peer means to the connector. */
export type LinkEvent =
  | { type: 'prepare'; requestId: number; prepare: Prepare }
  /** A Prepare that could not be parsed: answered with F01. */
  | { type: 'badPrepare'; requestId: number; reason: string }
  | { type: 'reply'; requestId: number; reply: Reply }
  /** A RESPONSE whose ILP reply could not be parsed. */
  | { type: 'badReply'; requestId: number; reason: string }
  /** A BTP ERROR answering one of our requests. */
  | { type: 'error'; requestId: number; code: string; name: string; message: string }
  /** A frame we answer with a BTP error (TRANSFER, unknown sub-protocol, unparsable frame...). */
  | { type: 'refuse'; requestId: number; code: string; name: string; message: string }
  /** A BTP TRANSFER (in-band settlement): `key`, when the sender gives one, identifies it across resends. */
  | { type: 'transfer'; requestId: number; amount: bigint; key?: string }
  /** A RESPONSE or ERROR that is not for a packet we can relay (nothing to do). */
  | { type: 'ignore'; requestId: number }

/**
 * Decodes a frame from an authenticated peer. The frames every packet crosses (a MESSAGE or RESPONSE
 * carrying `ilp`) take the fast path; anything else, or anything malformed, the general decoder below.
 */
export function decodeFrame (frame: Buffer): LinkEvent {
  let f: IlpFrame | undefined
  try {
    f = readIlpFrame(frame)
  } catch {
    return decodeOtherFrame(frame)
  }
  if (f === undefined || f.ilp === undefined) return decodeOtherFrame(frame)
  return f.type === BTP_MESSAGE ? messageEvent(f.requestId, f.ilp) : responseEvent(f.requestId, f.ilp)
}

/** A MESSAGE's ILP packet: must be a Prepare. */
function messageEvent (requestId: number, ilp: Buffer): LinkEvent {
  if (ilp[0] !== TYPE_PREPARE) {
    return refuse(requestId, 'F00', 'NotAcceptedError', `a BTP MESSAGE must carry an ILP Prepare, got packet type ${ilp[0] ?? 'none'}`)
  }
  try {
    return { type: 'prepare', requestId, prepare: decodePrepare(ilp) }
  } catch (e) {
    return { type: 'badPrepare', requestId, reason: errorMessage(e) }
  }
}

/** A RESPONSE's ILP packet: a Fulfill or Reject answering one of our Prepares. */
function responseEvent (requestId: number, ilp: Buffer): LinkEvent {
  try {
    return { type: 'reply', requestId, reply: decodeReply(ilp) }
  } catch (e) {
    return { type: 'badReply', requestId, reason: errorMessage(e) }
  }
}

/** The general decoder (btp-packet): rare frames, and precise answers to malformed ones. */
function decodeOtherFrame (frame: Buffer): LinkEvent {
  let btp: ReturnType<typeof Btp.deserialize>
  try {
    btp = Btp.deserialize(frame)
  } catch (e) {
    // The request id sits right after the type byte, so even a broken frame usually gets an answer.
    const requestId = frame.length >= 5 ? frame.readUInt32BE(1) : 0
    return refuse(requestId, 'F01', 'InvalidFieldsError', `malformed BTP frame: ${errorMessage(e)}`)
  }
  const requestId = btp.requestId
  switch (btp.type) {
    case Btp.TYPE_MESSAGE: {
      const ilp = ilpData(btp.data as Btp.BtpMessage)
      if (ilp === undefined) {
        const names = (btp.data as Btp.BtpMessage).protocolData.map(p => p.protocolName).join(', ')
        return refuse(requestId, 'F00', 'NotAcceptedError', `unsupported BTP sub-protocol(s): ${names || 'none'}`)
      }
      return messageEvent(requestId, ilp)
    }
    case Btp.TYPE_RESPONSE: {
      const ilp = ilpData(btp.data as Btp.BtpMessage)
      return ilp === undefined ? { type: 'ignore', requestId } : responseEvent(requestId, ilp)
    }
    case Btp.TYPE_ERROR: {
      const err = btp.data as { code: string; name: string; data: string }
      return { type: 'error', requestId, code: err.code, name: err.name, message: err.data }
    }
    case Btp.TYPE_TRANSFER:
      return transferEvent(requestId, btp.data as Btp.BtpTransfer)
    default:
      return refuse(requestId, 'F01', 'InvalidFieldsError', `unknown BTP frame type ${String(btp.type)}`)
  }
}

/** The protocolData entry carrying a TRANSFER's idempotency key (sent by us; a plain plugin sends none). */
export const TRANSFER_KEY_PROTOCOL = 'settlement_id'

function transferEvent (requestId: number, transfer: Btp.BtpTransfer): LinkEvent {
  const text = String(transfer.amount)
  if (!/^(0|[1-9][0-9]{0,19})$/.test(text) || BigInt(text) > MAX_UINT64) {
    return refuse(requestId, 'F01', 'InvalidFieldsError', `TRANSFER amount is not a uint64: ${text.slice(0, 40)}`)
  }
  const keyEntry = transfer.protocolData.find(p => p.protocolName === TRANSFER_KEY_PROTOCOL)
  const key = keyEntry === undefined ? undefined : keyEntry.data.toString('utf8')
  if (key !== undefined && !/^[\x21-\x7e]{1,128}$/.test(key)) return refuse(requestId, 'F01', 'InvalidFieldsError', 'TRANSFER settlement_id is not 1 to 128 printable ASCII characters')
  return { type: 'transfer', requestId, amount: BigInt(text), key }
}

/** A BTP TRANSFER of `amount` (a settlement), with our idempotency key in its protocol data. */
export function transferFrame (requestId: number, amount: bigint, key: string): Buffer {
  return Btp.serialize({
    type: Btp.TYPE_TRANSFER,
    requestId,
    data: { amount: amount.toString(), protocolData: [{ protocolName: TRANSFER_KEY_PROTOCOL, contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(key, 'utf8') }] }
  })
}

function refuse (requestId: number, code: string, name: string, message: string): LinkEvent {
  return { type: 'refuse', requestId, code, name, message }
}

function ilpData (message: Btp.BtpMessage): Buffer | undefined {
  for (const p of message.protocolData) if (p.protocolName === ILP_PROTOCOL) return p.data
  return undefined
}

export function errorMessage (e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export function ilpResponseFrame (requestId: number, ilpPacket: Buffer): Buffer {
  return ilpFrame(BTP_RESPONSE, requestId, ilpPacket)
}

export function emptyResponseFrame (requestId: number): Buffer {
  return Btp.serializeResponse(requestId, [])
}

export function errorFrame (requestId: number, code: string, name: string, message: string): Buffer {
  return Btp.serializeError({ code, name, triggeredAt: new Date().toISOString(), data: message }, requestId, [])
}

/** The auth MESSAGE a client sends first (RFC 0023 "Authentication"). */
export function authFrame (requestId: number, username: string, token: string): Buffer {
  return Btp.serializeMessage(requestId, [
    { protocolName: 'auth', contentType: Btp.MIME_APPLICATION_OCTET_STREAM, data: Buffer.alloc(0) },
    { protocolName: 'auth_username', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(username, 'utf8') },
    { protocolName: 'auth_token', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(token, 'utf8') }
  ])
}

export type AuthRequest =
  | { ok: true; requestId: number; username: string; token: string }
  | { ok: false; requestId: number; message: string }

/** Reads the first frame of a connection, which must be the auth MESSAGE. */
export function decodeAuth (frame: Buffer): AuthRequest {
  let btp: ReturnType<typeof Btp.deserialize>
  try {
    btp = Btp.deserialize(frame)
  } catch (e) {
    return { ok: false, requestId: frame.length >= 5 ? frame.readUInt32BE(1) : 0, message: `malformed BTP frame: ${errorMessage(e)}` }
  }
  if (btp.type !== Btp.TYPE_MESSAGE) return { ok: false, requestId: btp.requestId, message: 'the first frame must be the auth MESSAGE' }
  const data = (btp.data as Btp.BtpMessage).protocolData
  if (data[0]?.protocolName !== 'auth') return { ok: false, requestId: btp.requestId, message: 'the first frame must be the auth MESSAGE' }
  const token = data.find(p => p.protocolName === 'auth_token')
  if (token === undefined) return { ok: false, requestId: btp.requestId, message: 'auth_token is missing' }
  const username = data.find(p => p.protocolName === 'auth_username')
  return { ok: true, requestId: btp.requestId, token: token.data.toString('utf8'), username: username?.data.toString('utf8') ?? '' }
}

/** Reads the server's answer to our auth MESSAGE. */
export function decodeAuthAnswer (frame: Buffer, requestId: number): { ok: true } | { ok: false; message: string } {
  try {
    const btp = Btp.deserialize(frame)
    if (btp.requestId !== requestId) return { ok: false, message: `unexpected frame (request id ${btp.requestId}) before the auth answer` }
    if (btp.type === Btp.TYPE_RESPONSE) return { ok: true }
    if (btp.type === Btp.TYPE_ERROR) {
      const err = btp.data as { code: string; name: string; data: string }
      return { ok: false, message: `auth refused: ${err.code} ${err.name} ${err.data}` }
    }
    return { ok: false, message: `unexpected BTP frame type ${btp.type} as the auth answer` }
  } catch (e) {
    return { ok: false, message: `malformed auth answer: ${errorMessage(e)}` }
  }
}
