import * as Btp from 'btp-packet'
import * as IlpPacket from 'ilp-packet'
import { decodeFrame, decodeAuth, authFrame, transferFrame } from '../../src/transport/btp'
import { amountTooLargeData } from '../../src/protocol/ilp'

const condition = Buffer.alloc(32, 7)
const prepareBytes = IlpPacket.serializeIlpPrepare({
  amount: '18446744073709551615',
  expiresAt: new Date('2030-01-01T00:00:00.000Z'),
  executionCondition: condition,
  destination: 'test.local.bob',
  data: Buffer.from('hi')
})
const ilp = (data: Buffer) => [{ protocolName: 'ilp', contentType: 0, data }]

describe('decodeFrame', () => {
  it('turns a MESSAGE carrying a Prepare into a typed prepare with a bigint amount', () => {
    const ev = decodeFrame(Btp.serializeMessage(42, ilp(prepareBytes)))
    expect(ev).toEqual({
      type: 'prepare',
      requestId: 42,
      prepare: {
        amount: 18446744073709551615n,
        expiresAt: Date.UTC(2030, 0, 1),
        executionCondition: condition,
        destination: 'test.local.bob',
        data: Buffer.from('hi'),
        packet: prepareBytes // kept for forwarding
      }
    })
  })
  it('marks a malformed Prepare so it gets F01', () => {
    const broken = Buffer.from(prepareBytes)
    broken[1] = 0x7f // length prefix no longer matches
    const ev = decodeFrame(Btp.serializeMessage(5, ilp(broken)))
    expect(ev.type).toBe('badPrepare')
  })
  it('refuses a frame that is not BTP, keeping its request id when it can be read', () => {
    const junk = Buffer.from([6, 0, 0, 1, 2, 0xff, 0xff])
    expect(decodeFrame(junk)).toMatchObject({ type: 'refuse', requestId: 0x0102, code: 'F01' })
    expect(decodeFrame(Buffer.from([1]))).toMatchObject({ type: 'refuse', requestId: 0 })
  })
  it('reads a TRANSFER (the account actor decides whether to credit it), with its settlement_id when given', () => {
    expect(decodeFrame(Btp.serializeTransfer({ amount: '10' }, 9, []))).toStrictEqual({ type: 'transfer', requestId: 9, amount: 10n, key: undefined })
    expect(decodeFrame(transferFrame(10, 18446744073709551615n, 'k-1'))).toStrictEqual({ type: 'transfer', requestId: 10, amount: 18446744073709551615n, key: 'k-1' })
  })
  it('refuses a MESSAGE without the ilp sub-protocol', () => {
    const ev = decodeFrame(Btp.serializeMessage(3, [{ protocolName: 'foo', contentType: 0, data: Buffer.alloc(1) }]))
    expect(ev).toMatchObject({ type: 'refuse', requestId: 3 })
  })
  it('reads replies and BTP errors', () => {
    const fulfill = IlpPacket.serializeIlpFulfill({ fulfillment: Buffer.alloc(32, 1), data: Buffer.alloc(0) })
    expect(decodeFrame(Btp.serializeResponse(8, ilp(fulfill)))).toMatchObject({ type: 'reply', requestId: 8, reply: { kind: 'fulfill', fulfillment: Buffer.alloc(32, 1) } })
    const reject = IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'g.x', message: 'no', data: Buffer.alloc(0) })
    expect(decodeFrame(Btp.serializeResponse(8, ilp(reject)))).toMatchObject({ type: 'reply', reply: { kind: 'reject', code: 'F99' } })
    const err = Btp.serializeError({ code: 'T00', name: 'UnreachableError', triggeredAt: new Date().toISOString(), data: 'down' }, 11, [])
    expect(decodeFrame(err)).toMatchObject({ type: 'error', requestId: 11, code: 'T00', message: 'down' })
  })
})

describe('auth', () => {
  it('reads the token and username of the auth MESSAGE', () => {
    expect(decodeAuth(authFrame(77, 'user', 's3cret'))).toEqual({ ok: true, requestId: 77, username: 'user', token: 's3cret' })
  })
  it('refuses a first frame that is not auth', () => {
    expect(decodeAuth(Btp.serializeMessage(1, ilp(prepareBytes)))).toMatchObject({ ok: false, requestId: 1 })
  })
})

describe('F08 data', () => {
  it('is received amount then maximum amount, each uint64 big-endian (RFC 0027)', () => {
    expect(amountTooLargeData(1000n, 999n).toString('hex')).toBe('00000000000003e8' + '00000000000003e7')
  })
})
