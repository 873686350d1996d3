'use strict'
/*
Hand-rolled encoders/decoders for the few BTP 2.0 / ILPv4 frames the load generator sends and receives on
its hot path. btp-packet and ilp-packet are general (and allocate a Reader/Writer per frame); these only
copy into a pre-built template, so the load generator steals less CPU from the connector under test.
Checked against btp-packet/ilp-packet by `node bench/loadgen.js --self-test`.

OER as used by both: a var-octet string is a length prefix (one byte < 128, else 0x80|k then k bytes
big-endian) followed by the bytes; a var-uint is a var-octet string holding the big-endian integer.
*/

const BTP_RESPONSE = 1
const BTP_ERROR = 2
const BTP_MESSAGE = 6
const BTP_TRANSFER = 7
const ILP_PREPARE = 12
const ILP_FULFILL = 13
const ILP_REJECT = 14
const CT_OCTET_STREAM = 0

function lengthPrefixSize (n) {
  if (n < 128) return 1
  let k = 0
  for (let x = n; x > 0; x = Math.floor(x / 256)) k++
  return 1 + k
}

function writeLengthPrefix (buf, off, n) {
  if (n < 128) { buf[off] = n; return off + 1 }
  const k = lengthPrefixSize(n) - 1
  buf[off] = 0x80 | k
  for (let i = k; i >= 1; i--) { buf[off + i] = n & 0xff; n = Math.floor(n / 256) }
  return off + 1 + k
}

/** Reads a length prefix at off. Returns the length; the offset after the prefix is left in readLength.next. */
function readLength (buf, off) {
  const b = buf[off]
  if (b === undefined) throw new Error('truncated frame')
  if (b < 128) { readLength.next = off + 1; return b }
  const k = b & 0x7f
  if (k === 0 || k > 4 || off + 1 + k > buf.length) throw new Error('bad length prefix')
  let n = 0
  for (let i = 1; i <= k; i++) n = n * 256 + buf[off + i]
  readLength.next = off + 1 + k
  return n
}
readLength.next = 0

/** Interledger time "YYYYMMDDHHmmssSSS" (UTC), 17 ASCII bytes. */
function interledgerTime (ms) {
  const d = new Date(ms)
  const p = (n, w) => String(n).padStart(w, '0')
  return p(d.getUTCFullYear(), 4) + p(d.getUTCMonth() + 1, 2) + p(d.getUTCDate(), 2) +
    p(d.getUTCHours(), 2) + p(d.getUTCMinutes(), 2) + p(d.getUTCSeconds(), 2) + p(d.getUTCMilliseconds(), 3)
}

/**
 * A BTP MESSAGE frame carrying one ILP Prepare, with fixed amount and destination and 32 bytes of data.
 * build(...) returns a fresh Buffer (the caller hands it to ws, which may
 * keep it until the corked socket is flushed, so frames are never reused).
 */
class PrepareFrameTemplate {
  constructor ({ amount, destination, dataLength = 32 }) {
    const dest = Buffer.from(destination, 'ascii')
    const ilpContent = 8 + 17 + 32 + lengthPrefixSize(dest.length) + dest.length + lengthPrefixSize(dataLength) + dataLength
    const ilpLen = 1 + lengthPrefixSize(ilpContent) + ilpContent
    const btpContent = 2 + 4 + 1 + lengthPrefixSize(ilpLen) + ilpLen
    const len = 1 + 4 + lengthPrefixSize(btpContent) + btpContent
    const t = Buffer.alloc(len)
    let o = 0
    t[o++] = BTP_MESSAGE
    o += 4 // requestId
    o = writeLengthPrefix(t, o, btpContent)
    t[o++] = 1; t[o++] = 1 // var-uint 1: one protocolData entry
    t[o++] = 3; o += t.write('ilp', o, 'ascii')
    t[o++] = CT_OCTET_STREAM
    o = writeLengthPrefix(t, o, ilpLen)
    t[o++] = ILP_PREPARE
    o = writeLengthPrefix(t, o, ilpContent)
    t.writeBigUInt64BE(BigInt(amount), o); o += 8
    this.expiryOff = o; o += 17
    this.conditionOff = o; o += 32
    o = writeLengthPrefix(t, o, dest.length); o += dest.copy(t, o)
    o = writeLengthPrefix(t, o, dataLength)
    this.dataOff = o; o += dataLength
    if (o !== len) throw new Error('prepare template length mismatch')
    this.template = t
    this.length = len
    this.dataLength = dataLength
  }

  /** condition = conditions[keyOff, keyOff+32), data = datas[keyOff, keyOff+dataLength). */
  build (requestId, expiry17, conditions, datas, keyOff) {
    const b = Buffer.allocUnsafe(this.length)
    this.template.copy(b, 0)
    b.writeUInt32BE(requestId, 1)
    expiry17.copy(b, this.expiryOff)
    conditions.copy(b, this.conditionOff, keyOff, keyOff + 32)
    datas.copy(b, this.dataOff, keyOff, keyOff + this.dataLength)
    return b
  }
}

/** A BTP RESPONSE frame carrying an ILP Fulfill with the given 32-byte fulfillment and empty data. */
const FULFILL_RESPONSE_LEN = 49
const fulfillTemplate = (() => {
  const t = Buffer.alloc(FULFILL_RESPONSE_LEN)
  let o = 0
  t[o++] = BTP_RESPONSE
  o += 4
  t[o++] = 43 // BTP content: 2 + 4 + 1 + 1 + 35
  t[o++] = 1; t[o++] = 1
  t[o++] = 3; o += t.write('ilp', o, 'ascii')
  t[o++] = CT_OCTET_STREAM
  t[o++] = 35 // ILP Fulfill: type + length + 32 + empty data
  t[o++] = ILP_FULFILL
  t[o++] = 33
  o += 32 // fulfillment (offset 16)
  t[o++] = 0 // empty data
  if (o !== FULFILL_RESPONSE_LEN) throw new Error('fulfill template length mismatch')
  return t
})()
const FULFILLMENT_OFF = 16

function fulfillResponseFrame (requestId, fulfillment, fOff = 0) {
  const b = Buffer.allocUnsafe(FULFILL_RESPONSE_LEN)
  fulfillTemplate.copy(b, 0)
  b.writeUInt32BE(requestId, 1)
  fulfillment.copy(b, FULFILLMENT_OFF, fOff, fOff + 32)
  return b
}

/** An empty BTP RESPONSE (no protocol data). */
function emptyResponseFrame (requestId) {
  const b = Buffer.from([BTP_RESPONSE, 0, 0, 0, 0, 2, 1, 0])
  b.writeUInt32BE(requestId, 1)
  return b
}

/** A BTP RESPONSE carrying an arbitrary ILP packet. */
function ilpResponseFrame (requestId, ilp) {
  const content = 2 + 4 + 1 + lengthPrefixSize(ilp.length) + ilp.length
  const b = Buffer.allocUnsafe(1 + 4 + lengthPrefixSize(content) + content)
  b[0] = BTP_RESPONSE
  b.writeUInt32BE(requestId, 1)
  let o = writeLengthPrefix(b, 5, content)
  b[o++] = 1; b[o++] = 1
  b[o++] = 3; o += b.write('ilp', o, 'ascii')
  b[o++] = CT_OCTET_STREAM
  o = writeLengthPrefix(b, o, ilp.length)
  ilp.copy(b, o)
  return b
}

/**
 * The "ilp" protocol data of a BTP RESPONSE/MESSAGE/TRANSFER frame as a subarray (no copy), or null when
 * the frame has none. Throws on a malformed frame.
 */
function ilpData (frame) {
  let o = 5
  readLength(frame, o); o = readLength.next // BTP content length
  const cl = readLength(frame, o); o = readLength.next
  let count = 0
  for (let i = 0; i < cl; i++) count = count * 256 + frame[o + i]
  o += cl
  for (let e = 0; e < count; e++) {
    const nl = readLength(frame, o); o = readLength.next
    const isIlp = nl === 3 && frame[o] === 0x69 && frame[o + 1] === 0x6c && frame[o + 2] === 0x70
    o += nl + 1 // name, content type
    const dl = readLength(frame, o); o = readLength.next
    if (o + dl > frame.length) throw new Error('truncated protocol data')
    if (isIlp) return frame.subarray(o, o + dl)
    o += dl
  }
  return null
}

/** Offset of a Prepare's data field (a subarray is prepare[off, off+len)), or -1 if not a Prepare. */
function prepareDataOffset (prepare) {
  if (prepare.length < 1 || prepare[0] !== ILP_PREPARE) return -1
  readLength(prepare, 1)
  let o = readLength.next + 8 + 17 + 32
  const dl = readLength(prepare, o); o = readLength.next + dl
  const len = readLength(prepare, o); o = readLength.next
  if (o + len > prepare.length) throw new Error('truncated prepare')
  prepareDataOffset.length_ = len
  return o
}
prepareDataOffset.length_ = 0

module.exports = {
  BTP_RESPONSE,
  BTP_ERROR,
  BTP_MESSAGE,
  BTP_TRANSFER,
  ILP_PREPARE,
  ILP_FULFILL,
  ILP_REJECT,
  PrepareFrameTemplate,
  fulfillResponseFrame,
  emptyResponseFrame,
  ilpResponseFrame,
  ilpData,
  prepareDataOffset,
  interledgerTime,
  readLength,
  writeLengthPrefix,
  lengthPrefixSize
}
