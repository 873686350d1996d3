/**
 * The packet path's own codec for the frames every packet crosses: a BTP MESSAGE or RESPONSE whose one
 * sub-protocol is `ilp`, and the ILP Prepare, Fulfill and Reject inside (OER, RFC 0027 / RFC 0023).
 * Each packet is parsed once, without copying; a forwarded Prepare is the incoming bytes with its two
 * fixed-width fields (amount, expiry) overwritten, written straight into the outgoing frame. Rare frames
 * (ERROR, TRANSFER, several sub-protocols) are left to the general decoder (`btp.ts`).
 */
export const MAX_UINT64 = (1n << 64n) - 1n

const TYPE_RESPONSE = 1
const TYPE_MESSAGE = 6
export const ILP_PREPARE = 12
export const ILP_FULFILL = 13
export const ILP_REJECT = 14
const ILP_NAME = Buffer.from('ilp', 'ascii')
/** RFC 0027: a packet's data is at most 32767 bytes. */
const MAX_DATA_LENGTH = 32767
/** RFC 0027: expiry is 17 ASCII digits, YYYYMMDDHHmmssfff, UTC. */
const EXPIRY_LENGTH = 17

export class CodecError extends Error {}

/** Reads an OER length prefix at `offset`: [length, offset of the contents]. */
function readLength (buf: Buffer, offset: number): [number, number] {
  if (offset >= buf.length) throw new CodecError('length prefix missing')
  const first = buf[offset]
  if (first < 0x80) return [first, offset + 1]
  const n = first & 0x7f
  if (n === 0 || n > 4 || offset + 1 + n > buf.length) throw new CodecError('bad length prefix')
  let length = 0
  for (let i = 1; i <= n; i++) length = length * 256 + buf[offset + i]
  return [length, offset + 1 + n]
}

function lengthPrefixSize (length: number): number {
  if (length < 0x80) return 1
  if (length < 0x100) return 2
  if (length < 0x10000) return 3
  if (length < 0x1000000) return 4
  return 5
}

function writeLength (buf: Buffer, offset: number, length: number): number {
  if (length < 0x80) {
    buf[offset] = length
    return offset + 1
  }
  const n = lengthPrefixSize(length) - 1
  buf[offset] = 0x80 | n
  for (let i = n; i >= 1; i--) {
    buf[offset + i] = length & 0xff
    length = Math.floor(length / 256)
  }
  return offset + 1 + n
}

/** The `ilp` sub-protocol data of a BTP MESSAGE or RESPONSE, or undefined if the frame is not one. */
export interface IlpFrame {
  type: typeof TYPE_MESSAGE | typeof TYPE_RESPONSE
  requestId: number
  /** The ILP packet (a view into the frame, not a copy); undefined if the frame has no `ilp` entry. */
  ilp: Buffer | undefined
}

/**
 * Reads a MESSAGE or RESPONSE frame. Returns undefined for other frame types; throws CodecError if the
 * frame is malformed (the caller then uses the general decoder for a precise answer).
 */
export function readIlpFrame (frame: Buffer): IlpFrame | undefined {
  if (frame.length < 6) throw new CodecError('frame too short')
  const type = frame[0]
  if (type !== TYPE_MESSAGE && type !== TYPE_RESPONSE) return undefined
  const requestId = frame.readUInt32BE(1)
  const [contentLength, contentStart] = readLength(frame, 5)
  const end = contentStart + contentLength
  if (end > frame.length) throw new CodecError('frame shorter than its length prefix')
  // protocolData: a count (its byte length first), then entries of name, content type, data.
  let offset = contentStart
  if (offset >= end) throw new CodecError('protocol data missing')
  const countBytes = frame[offset++]
  if (countBytes === 0 || countBytes > 4 || offset + countBytes > end) throw new CodecError('bad protocol data count')
  let count = 0
  for (let i = 0; i < countBytes; i++) count = count * 256 + frame[offset++]
  let ilp: Buffer | undefined
  for (let i = 0; i < count; i++) {
    const [nameLength, nameStart] = readLength(frame, offset)
    const contentTypeAt = nameStart + nameLength
    if (contentTypeAt >= end) throw new CodecError('protocol data entry truncated')
    const [dataLength, dataStart] = readLength(frame, contentTypeAt + 1)
    offset = dataStart + dataLength
    if (offset > end) throw new CodecError('protocol data entry truncated')
    if (ilp === undefined && nameLength === 3 && frame[nameStart] === 0x69 && frame[nameStart + 1] === 0x6c && frame[nameStart + 2] === 0x70) {
      ilp = frame.subarray(dataStart, offset)
    }
  }
  return { type, requestId, ilp }
}

/** Where a Prepare's fields sit in its bytes. */
export interface PrepareLayout {
  amount: bigint
  expiresAt: number
  executionCondition: Buffer
  destination: string
  data: Buffer
}

/** Parses an ILP Prepare; throws CodecError naming what is wrong. */
export function parsePrepare (packet: Buffer): PrepareLayout {
  if (packet[0] !== ILP_PREPARE) throw new CodecError(`not a Prepare (type ${packet[0] ?? 'none'})`)
  const [length, start] = readLength(packet, 1)
  const end = start + length
  if (end > packet.length) throw new CodecError('packet shorter than its length prefix')
  if (end < packet.length) throw new CodecError(`${packet.length - end} bytes after the packet`)
  if (start + 8 + EXPIRY_LENGTH + 32 > end) throw new CodecError('Prepare truncated')
  const amount = packet.readBigUInt64BE(start)
  const expiresAt = readExpiry(packet, start + 8)
  const conditionAt = start + 8 + EXPIRY_LENGTH
  const executionCondition = packet.subarray(conditionAt, conditionAt + 32)
  const [destinationLength, destinationStart] = readLength(packet, conditionAt + 32)
  const destinationEnd = destinationStart + destinationLength
  if (destinationEnd > end) throw new CodecError('destination truncated')
  const destination = packet.toString('latin1', destinationStart, destinationEnd)
  const [dataLength, dataStart] = readLength(packet, destinationEnd)
  if (dataStart + dataLength > end) throw new CodecError('data truncated')
  if (dataStart + dataLength < end) throw new CodecError('bytes after the data field')
  if (dataLength > MAX_DATA_LENGTH) throw new CodecError(`data is ${dataLength} bytes, more than the ${MAX_DATA_LENGTH} allowed`)
  return { amount, expiresAt, executionCondition, destination, data: packet.subarray(dataStart, dataStart + dataLength) }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function digits (buf: Buffer, at: number, count: number): number {
  let n = 0
  for (let i = at; i < at + count; i++) {
    const c = buf[i] - 48
    if (c < 0 || c > 9) throw new CodecError('expiry is not 17 digits')
    n = n * 10 + c
  }
  return n
}

function readExpiry (buf: Buffer, at: number): number {
  const year = digits(buf, at, 4)
  const month = digits(buf, at + 4, 2)
  const day = digits(buf, at + 6, 2)
  const hour = digits(buf, at + 8, 2)
  const minute = digits(buf, at + 10, 2)
  const second = digits(buf, at + 12, 2)
  const millis = digits(buf, at + 14, 3)
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]
  if (month < 1 || month > 12 || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) {
    throw new CodecError('expiry is not a valid date')
  }
  // Date.UTC reads years 0-99 as 1900-1999: shift such years by one 400-year Gregorian cycle and back.
  if (year < 100) return Date.UTC(year + 400, month - 1, day, hour, minute, second, millis) - GREGORIAN_CYCLE_MS
  return Date.UTC(year, month - 1, day, hour, minute, second, millis)
}

const GREGORIAN_CYCLE_MS = 146097 * 86400000

function writeExpiry (buf: Buffer, at: number, ms: number): void {
  const d = new Date(ms)
  const year = d.getUTCFullYear()
  if (year < 0 || year > 9999) throw new CodecError('expiry out of range')
  writeDigits(buf, at, year, 4)
  writeDigits(buf, at + 4, d.getUTCMonth() + 1, 2)
  writeDigits(buf, at + 6, d.getUTCDate(), 2)
  writeDigits(buf, at + 8, d.getUTCHours(), 2)
  writeDigits(buf, at + 10, d.getUTCMinutes(), 2)
  writeDigits(buf, at + 12, d.getUTCSeconds(), 2)
  writeDigits(buf, at + 14, d.getUTCMilliseconds(), 3)
}

function writeDigits (buf: Buffer, at: number, value: number, count: number): void {
  for (let i = at + count - 1; i >= at; i--) {
    buf[i] = 48 + (value % 10)
    value = Math.floor(value / 10)
  }
}

/** Bytes a BTP frame needs around one `ilp` entry of `ilpLength` bytes. */
function frameHeaderSize (ilpLength: number): number {
  const entry = 1 + 3 + 1 + lengthPrefixSize(ilpLength) + ilpLength // name, content type, data
  const content = 2 + entry // count: one byte of length, one byte of count
  return 1 + 4 + lengthPrefixSize(content) + content - ilpLength
}

/** Writes the frame header of a MESSAGE/RESPONSE with one `ilp` entry; returns where the packet goes. */
function writeFrameHeader (frame: Buffer, type: number, requestId: number, ilpLength: number): number {
  frame[0] = type
  frame.writeUInt32BE(requestId, 1)
  const entry = 1 + 3 + 1 + lengthPrefixSize(ilpLength) + ilpLength
  let offset = writeLength(frame, 5, 2 + entry)
  frame[offset++] = 1 // the count takes one byte
  frame[offset++] = 1 // one entry
  frame[offset++] = 3
  ILP_NAME.copy(frame, offset)
  offset += 3
  frame[offset++] = 0 // application/octet-stream
  return writeLength(frame, offset, ilpLength)
}

/** A BTP frame (MESSAGE or RESPONSE) carrying one ILP packet. */
export function ilpFrame (type: typeof TYPE_MESSAGE | typeof TYPE_RESPONSE, requestId: number, packet: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderSize(packet.length) + packet.length)
  const at = writeFrameHeader(frame, type, requestId, packet.length)
  packet.copy(frame, at)
  return frame
}

/**
 * The BTP MESSAGE that forwards a Prepare: the incoming packet's bytes with the amount and expiry
 * overwritten in place (both are fixed-width, so nothing else moves).
 */
export function forwardedPrepareFrame (requestId: number, prepare: Buffer, amount: bigint, expiresAt: number): Buffer {
  if (amount < 0n || amount > MAX_UINT64) throw new CodecError('amount is not a uint64')
  const frame = ilpFrame(TYPE_MESSAGE, requestId, prepare)
  const packetAt = frame.length - prepare.length
  const [, contentStart] = readLength(prepare, 1)
  frame.writeBigUInt64BE(amount, packetAt + contentStart)
  writeExpiry(frame, packetAt + contentStart + 8, expiresAt)
  return frame
}

export const BTP_MESSAGE = TYPE_MESSAGE
export const BTP_RESPONSE = TYPE_RESPONSE

/** The fulfillment of a Fulfill, or the code of a Reject; throws CodecError if malformed. */
export function parseReply (packet: Buffer): { kind: 'fulfill'; fulfillment: Buffer } | { kind: 'reject'; code: string } {
  const type = packet[0]
  if (type !== ILP_FULFILL && type !== ILP_REJECT) throw new CodecError(`expected a Fulfill or Reject, got packet type ${type ?? 'none'}`)
  const [length, start] = readLength(packet, 1)
  const end = start + length
  if (end > packet.length) throw new CodecError('packet shorter than its length prefix')
  if (type === ILP_FULFILL) {
    if (start + 32 > end) throw new CodecError('Fulfill truncated')
    const [dataLength, dataStart] = readLength(packet, start + 32)
    if (dataStart + dataLength > end) throw new CodecError('Fulfill data truncated')
    return { kind: 'fulfill', fulfillment: packet.subarray(start, start + 32) }
  }
  if (start + 3 > end) throw new CodecError('Reject truncated')
  let offset = start + 3
  for (let field = 0; field < 3; field++) { // triggeredBy, message, data
    const [fieldLength, fieldStart] = readLength(packet, offset)
    offset = fieldStart + fieldLength
    if (offset > end) throw new CodecError('Reject truncated')
  }
  return { kind: 'reject', code: packet.toString('latin1', start, start + 3) }
}
