/**
 * The packet path's codec checked against the reference encoders written by others (ilp-packet,
 * btp-packet) over many random packets: same fields parsed, byte-identical frames written.
 */
import { randomBytes, randomInt } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import * as Btp from 'btp-packet'
import { readIlpFrame, parsePrepare, parseReply, forwardedPrepareFrame, ilpFrame, CodecError, BTP_MESSAGE, BTP_RESPONSE } from '../../src/protocol/codec'

const segment = () => randomBytes(randomInt(1, 12)).toString('hex')
const address = () => ['g', 'test', 'private'][randomInt(3)] + '.' + Array.from({ length: randomInt(1, 5) }, segment).join('.')
const randomAmount = () => BigInt('0x' + randomBytes(8).toString('hex')) >> BigInt(randomInt(0, 64))
// Any millisecond from 1970 to 9999.
const randomExpiry = () => randomInt(0, 253402300799999)

function randomPrepare () {
  return {
    amount: randomAmount(),
    expiresAt: randomExpiry(),
    executionCondition: randomBytes(32),
    destination: address(),
    // Data lengths across the one-, two- and three-byte length prefixes.
    data: randomBytes([0, 5, 127, 128, 255, 256, 1000, 32767][randomInt(8)])
  }
}

function reference (p: ReturnType<typeof randomPrepare>): Buffer {
  return IlpPacket.serializeIlpPrepare({ ...p, amount: p.amount.toString(), expiresAt: new Date(p.expiresAt) })
}

describe('Prepare', () => {
  it('parses what ilp-packet writes, field for field', () => {
    for (let i = 0; i < 1000; i++) {
      const p = randomPrepare()
      const parsed = parsePrepare(reference(p))
      // Buffers compared with equals(): jest's deep equality is slow on 32 KB of data.
      expect({ ...parsed, data: undefined, executionCondition: undefined }).toEqual({ ...p, data: undefined, executionCondition: undefined })
      expect(parsed.data.equals(p.data) && parsed.executionCondition.equals(p.executionCondition)).toBe(true)
    }
  })

  it('forwards with amount and expiry rewritten: byte-identical to ilp-packet + btp-packet writing the new packet', () => {
    for (let i = 0; i < 1000; i++) {
      const p = randomPrepare()
      const amount = randomAmount()
      const expiresAt = randomExpiry()
      const requestId = randomInt(0, 2 ** 32 - 1)
      const expected = Btp.serializeMessage(requestId, [{ protocolName: 'ilp', contentType: 0, data: reference({ ...p, amount, expiresAt }) }])
      const actual = forwardedPrepareFrame(requestId, reference(p), amount, expiresAt)
      if (!actual.equals(expected)) expect(actual.toString('hex')).toBe(expected.toString('hex'))
    }
  })

  it('reads years before 100 as they are (Date.UTC would take them for 19xx)', () => {
    const p = reference({ ...randomPrepare(), expiresAt: 0 })
    const at = p.indexOf(Buffer.from('19700101000000000'))
    Buffer.from('00500101000000000').copy(p, at)
    expect(new Date(parsePrepare(p).expiresAt).getUTCFullYear()).toBe(50)
  })

  it.each([
    ['a wrong type', (b: Buffer) => { b[0] = 13 }],
    ['a month 13', (b: Buffer) => { b.write('13', b.indexOf('2030') + 4, 'latin1') }],
    ['February 30', (b: Buffer) => { b.write('0230', b.indexOf('2030') + 4, 'latin1') }],
    ['a non-digit in the expiry', (b: Buffer) => { b.write('x', b.indexOf('2030') + 9, 'latin1') }],
    ['a length prefix beyond the packet', (b: Buffer) => { b[1] = 0x7f }]
  ])('refuses %s', (_name, spoil) => {
    const b = reference({ ...randomPrepare(), data: Buffer.alloc(4), expiresAt: Date.UTC(2030, 5, 15) })
    spoil(b)
    expect(() => parsePrepare(b)).toThrow(CodecError)
  })

  it('refuses every truncation', () => {
    const b = reference({ ...randomPrepare(), data: Buffer.alloc(10) })
    for (let n = 0; n < b.length; n++) expect(() => parsePrepare(b.subarray(0, n))).toThrow(CodecError)
  })
})

describe('replies', () => {
  it('reads the fulfillment of a Fulfill and the code of a Reject', () => {
    for (let i = 0; i < 500; i++) {
      const fulfillment = randomBytes(32)
      expect(parseReply(IlpPacket.serializeIlpFulfill({ fulfillment, data: randomBytes(randomInt(0, 300)) }))).toEqual({ kind: 'fulfill', fulfillment })
      const code = ['F00', 'F99', 'T04', 'R00'][randomInt(4)]
      const reject = IlpPacket.serializeIlpReject({ code, triggeredBy: address(), message: 'x'.repeat(randomInt(0, 200)), data: randomBytes(randomInt(0, 300)) })
      expect(parseReply(reject)).toEqual({ kind: 'reject', code })
    }
  })
  it('refuses truncated replies', () => {
    const f = IlpPacket.serializeIlpFulfill({ fulfillment: randomBytes(32), data: randomBytes(3) })
    const r = IlpPacket.serializeIlpReject({ code: 'F02', triggeredBy: 'g.x', message: 'm', data: randomBytes(3) })
    for (const b of [f, r]) for (let n = 0; n < b.length; n++) expect(() => parseReply(b.subarray(0, n))).toThrow(CodecError)
  })
})

describe('BTP frames', () => {
  it('finds the ilp entry of what btp-packet writes, among other entries', () => {
    for (let i = 0; i < 500; i++) {
      const ilp = randomBytes(randomInt(0, 40000))
      const requestId = randomInt(0, 2 ** 32 - 1)
      const others = Array.from({ length: randomInt(0, 3) }, () => ({ protocolName: segment(), contentType: randomInt(3), data: randomBytes(randomInt(0, 200)) }))
      const entries = [...others, { protocolName: 'ilp', contentType: 0, data: ilp }]
      const message = readIlpFrame(Btp.serializeMessage(requestId, entries))
      expect([message?.type, message?.requestId, message?.ilp?.equals(ilp)]).toEqual([BTP_MESSAGE, requestId, true])
      const response = readIlpFrame(Btp.serializeResponse(requestId, entries.reverse()))
      expect([response?.type, response?.requestId, response?.ilp?.equals(ilp)]).toEqual([BTP_RESPONSE, requestId, true])
    }
  })
  it('writes frames byte-identical to btp-packet', () => {
    for (const size of [0, 1, 100, 121, 122, 123, 127, 128, 255, 256, 65535, 65536, 70000]) {
      const ilp = randomBytes(size)
      expect(ilpFrame(BTP_RESPONSE, 7, ilp).equals(Btp.serializeResponse(7, [{ protocolName: 'ilp', contentType: 0, data: ilp }]))).toBe(true)
      expect(ilpFrame(BTP_MESSAGE, 7, ilp).equals(Btp.serializeMessage(7, [{ protocolName: 'ilp', contentType: 0, data: ilp }]))).toBe(true)
    }
  })
  it('has no ilp entry in a frame without one, and is not for other frame types', () => {
    expect(readIlpFrame(Btp.serializeMessage(1, []))?.ilp).toBeUndefined()
    expect(readIlpFrame(Btp.serializeTransfer({ amount: '1' }, 1, []))).toBeUndefined()
  })
  it('refuses every truncation of a frame', () => {
    const frame = Btp.serializeMessage(9, [{ protocolName: 'ilp', contentType: 0, data: randomBytes(20) }])
    for (let n = 0; n < frame.length; n++) expect(() => readIlpFrame(frame.subarray(0, n))).toThrow(CodecError)
  })
})

describe('RFC 0027 limits on a Prepare', () => {
  const base = () => ({ ...randomPrepare(), expiresAt: Date.UTC(2030, 0, 1) })
  it('accepts 32767 bytes of data and refuses 32768', () => {
    expect(parsePrepare(reference({ ...base(), data: Buffer.alloc(32767) })).data.length).toBe(32767)
    expect(() => parsePrepare(reference({ ...base(), data: Buffer.alloc(32768) }))).toThrow(/32767/)
  })
  it('refuses bytes after the packet', () => {
    expect(() => parsePrepare(Buffer.concat([reference(base()), Buffer.from([0])]))).toThrow(CodecError)
  })
  it('refuses bytes after the data field inside the packet', () => {
    // A short destination and data keep the envelope under 128 bytes: its length prefix is one byte.
    const p = reference({ ...base(), destination: 'g.x', data: Buffer.alloc(3) })
    expect(p[1]).toBeLessThan(0x80)
    // Grow the envelope by one byte and append it.
    const grown = Buffer.concat([p, Buffer.from([0])])
    grown[1] += 1
    expect(() => parsePrepare(grown)).toThrow(/after the data/)
  })
})
