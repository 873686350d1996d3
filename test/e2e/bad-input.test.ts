/**
 * Hostile and broken input, against the real process: bad auth, slow auth, oversized frames, frames
 * that do not parse, frames the connector does not take, malformed ILP Prepares, the local-account
 * cap, and broken configurations. Expected values come from BTP (RFC 0023), ILPv4 (RFC 0027) and the
 * connector's documented promises. At the end, the same process must still be alive and forwarding.
 */
import * as Btp from 'btp-packet'
import * as IlpPacket from 'ilp-packet'
import * as ILDCP from 'ilp-protocol-ildcp'
import { startConnector, runConnector, tempDir, RunningConnector } from '../helpers/connectorProcess'
import {
  rawBtp, RawBtp, btpAuthFrame, btpIlpMessage, readBtpFrame, forwardOnce, parseReply, sha256
} from '../helpers/ilp'
import { randomBytes } from 'crypto'
import { writeFileSync } from 'fs'
import path from 'path'

// RFC 0023 frame types.
const RESPONSE = 1
const ERROR = 2
const MESSAGE = 6
// RFC 6455 close codes.
const POLICY_VIOLATION = 1008
const MESSAGE_TOO_BIG = 1009

const AUTH_TIMEOUT_MS = 500
const MAX_FRAME_BYTES = 2048
const CONNECTOR_ADDRESS = 'test.local'

let connector: RunningConnector
const sockets: RawBtp[] = []

beforeAll(async () => {
  connector = await startConnector({
    config: {
      listeners: {
        // Local mode: any new token gets a child account.
        default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true } },
        // Configured accounts only.
        closed: { host: '127.0.0.1', port: 0 },
        // No accounts at all.
        empty: { host: '127.0.0.1', port: 0 },
        // Local mode with a cap of two accounts.
        capped: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true, maxAccounts: 2 } }
      },
      accounts: {
        carol: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', listener: 'closed', token: 'carol-secret' } }
      }
    },
    env: {
      METAMORPHOSIS_BTP__AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
      METAMORPHOSIS_BTP__MAX_FRAME_BYTES: String(MAX_FRAME_BYTES)
    }
  })
})

afterAll(async () => {
  for (const s of sockets) s.close()
  await connector.stop()
})

async function open (listener = 'default'): Promise<RawBtp> {
  const s = await rawBtp(connector.ports[listener])
  sockets.push(s)
  return s
}

/** A socket that has authenticated with `token` (and checked the RESPONSE). */
async function authed (token: string, listener = 'default'): Promise<RawBtp> {
  const s = await open(listener)
  s.send(btpAuthFrame(4242, token))
  const answer = readBtpFrame(await s.next())
  expect(answer).toMatchObject({ type: RESPONSE, requestId: 4242 })
  return s
}

/** Waits for the socket to close; fails the test if it stays open. */
async function closeOf (s: RawBtp, ms = 3000): Promise<{ code: number; reason: string }> {
  const result = await Promise.race([s.closed, new Promise<'open'>(resolve => setTimeout(() => resolve('open'), ms).unref())])
  if (result === 'open') throw new Error(`socket still open after ${ms} ms`)
  return result
}

/** The next frame with this request id; every other frame before it must be an ERROR (collected). */
async function answerTo (s: RawBtp, requestId: number): Promise<{ frame: ReturnType<typeof readBtpFrame>; others: Array<ReturnType<typeof readBtpFrame>> }> {
  const others = []
  for (;;) {
    const frame = readBtpFrame(await s.next())
    if (frame.requestId === requestId) return { frame, others }
    others.push(frame)
  }
}

/** ILDCP over a raw socket: proves the connection is still usable, and gives its address. */
async function ildcpOver (s: RawBtp, requestId: number): Promise<string> {
  s.send(btpIlpMessage(requestId, ILDCP.serializeIldcpRequest({})))
  const { frame, others } = await answerTo(s, requestId)
  // Anything else the connector sent in between answers earlier bad frames: BTP ERRORs only.
  for (const other of others) expect(other.type).toBe(ERROR)
  expect(frame.type).toBe(RESPONSE)
  expect(frame.ilp).toBeDefined()
  return ILDCP.deserializeIldcpResponse(frame.ilp as Buffer).clientAddress
}

// ---- hand-built ILP Prepares (RFC 0027, OER) -----------------------------------------------------

function lengthPrefix (n: number): Buffer {
  if (n < 128) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function varOctets (b: Buffer): Buffer {
  return Buffer.concat([lengthPrefix(b.length), b])
}

/** type 12, length-prefixed envelope of: amount (uint64), expiresAt (17 chars), condition (32), destination, data. */
function rawPrepare (fields: { amount?: bigint; expiresAt?: string; condition?: Buffer; destination?: string; data?: Buffer }): Buffer {
  const amount = Buffer.alloc(8)
  amount.writeBigUInt64BE(fields.amount ?? 10n)
  const expiry = fields.expiresAt ?? generalizedTime(new Date(Date.now() + 10000))
  const content = Buffer.concat([
    amount,
    Buffer.from(expiry, 'ascii'),
    fields.condition ?? randomBytes(32),
    varOctets(Buffer.from(fields.destination ?? 'test.local.nobody', 'ascii')),
    varOctets(fields.data ?? Buffer.alloc(0))
  ])
  return Buffer.concat([Buffer.from([12]), varOctets(content)])
}

/** RFC 0027 timestamps: YYYYMMDDHHmmssfff, UTC. */
function generalizedTime (d: Date): string {
  return d.toISOString().replace(/[-:T.Z]/g, '')
}

// ---- authentication ------------------------------------------------------------------------------

describe('authentication', () => {
  test('a wrong token on a configured-only listener gets ERROR F00 with the auth request id, then close 1008', async () => {
    const s = await open('closed')
    s.send(btpAuthFrame(0x01020304, 'not-carols-token'))
    const answer = readBtpFrame(await s.next())
    expect(answer).toMatchObject({ type: ERROR, requestId: 0x01020304, code: 'F00' })
    expect((await closeOf(s)).code).toBe(POLICY_VIOLATION)
  })

  test('the right token on that listener gets a RESPONSE with the auth request id, and a child address', async () => {
    const s = await open('closed')
    s.send(btpAuthFrame(0x7fffffff, 'carol-secret'))
    expect(readBtpFrame(await s.next())).toMatchObject({ type: RESPONSE, requestId: 0x7fffffff })
    expect(await ildcpOver(s, 2)).toMatch(/^test\.local\.[a-zA-Z0-9_~-]+$/)
    s.close()
  })

  test('a token configured for one listener is refused on another listener without local accounts', async () => {
    const s = await open('empty')
    s.send(btpAuthFrame(99, 'carol-secret'))
    expect(readBtpFrame(await s.next())).toMatchObject({ type: ERROR, requestId: 99, code: 'F00' })
    expect((await closeOf(s)).code).toBe(POLICY_VIOLATION)
  })

  test('a first frame that is not the auth MESSAGE is refused with an ERROR and the socket closes', async () => {
    const s = await open()
    s.send(btpIlpMessage(31, ILDCP.serializeIldcpRequest({})))
    expect(readBtpFrame(await s.next())).toMatchObject({ type: ERROR, requestId: 31 })
    await closeOf(s)
  })

  test('a client that never authenticates gets an ERROR and is closed after btp.authTimeoutMs', async () => {
    const started = Date.now()
    const s = await open()
    const frame = readBtpFrame(await s.next(AUTH_TIMEOUT_MS + 3000))
    expect(frame.type).toBe(ERROR)
    await closeOf(s)
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50)
    expect(elapsed).toBeLessThan(AUTH_TIMEOUT_MS + 2500)
  })
})

describe('local account cap (listeners.capped.localAccounts.maxAccounts = 2)', () => {
  test('a third new token is refused with ERROR F00, while an existing token still opens its account', async () => {
    const first = await authed('cap-token-1', 'capped')
    const firstAddress = await ildcpOver(first, 7)
    await authed('cap-token-2', 'capped')
    const third = await open('capped')
    third.send(btpAuthFrame(3333, 'cap-token-3'))
    expect(readBtpFrame(await third.next())).toMatchObject({ type: ERROR, requestId: 3333, code: 'F00' })
    await closeOf(third)
    // The first token, on a new connection, is still its own account (same address).
    const again = await authed('cap-token-1', 'capped')
    expect(await ildcpOver(again, 8)).toBe(firstAddress)
    // And the refused token stays refused.
    const thirdAgain = await open('capped')
    thirdAgain.send(btpAuthFrame(3334, 'cap-token-3'))
    expect(readBtpFrame(await thirdAgain.next())).toMatchObject({ type: ERROR, requestId: 3334, code: 'F00' })
  })
})

// ---- frames after authentication -----------------------------------------------------------------

describe('after authentication', () => {
  test('unparsable BTP frames get ERROR F01 with their request id, and the link stays usable', async () => {
    const s = await authed('garbage-sender')
    // MESSAGE, request id 0x0A0B0C0D, an envelope announcing 64 bytes and carrying 3.
    s.send(Buffer.from([MESSAGE, 0x0a, 0x0b, 0x0c, 0x0d, 0x40, 1, 2, 3]))
    const truncated = await answerTo(s, 0x0a0b0c0d)
    expect(truncated.frame).toMatchObject({ type: ERROR, code: 'F01' })
    // An unknown frame type (99), request id 0x11223344.
    s.send(Buffer.from([99, 0x11, 0x22, 0x33, 0x44, 0x02, 0x01, 0x00]))
    const unknown = await answerTo(s, 0x11223344)
    expect(unknown.frame).toMatchObject({ type: ERROR, code: 'F01' })
    // A text (not binary) WebSocket message is no BTP frame either.
    s.ws.send('hello, connector')
    // Too short to even carry a request id: whatever the answer, the link must survive it.
    s.send(Buffer.from([MESSAGE, 0x00, 0x01]))
    s.send(Buffer.alloc(0))
    const after = await ildcpOver(s, 0x55)
    expect(after).toMatch(/^test\.local\./)
    expect(s.isClosed()).toBe(false)
  })

  test('a TRANSFER gets ERROR F00 with its request id', async () => {
    const s = await authed('transfer-sender')
    s.send(Btp.serializeTransfer({ amount: '100' }, 0x0badf00d, []))
    const { frame } = await answerTo(s, 0x0badf00d)
    expect(frame).toMatchObject({ type: ERROR, code: 'F00' })
    expect(await ildcpOver(s, 2)).toMatch(/^test\.local\./)
  })

  test('a MESSAGE without the ilp sub-protocol gets an ERROR with its request id', async () => {
    const s = await authed('no-ilp-sender')
    s.send(Btp.serializeMessage(0x1234, [{ protocolName: 'custom', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from('hello') }]))
    expect((await answerTo(s, 0x1234)).frame.type).toBe(ERROR)
    s.send(Btp.serializeMessage(0x1235, []))
    expect((await answerTo(s, 0x1235)).frame.type).toBe(ERROR)
    expect(await ildcpOver(s, 2)).toMatch(/^test\.local\./)
  })

  test.each([
    ['truncated envelope', Buffer.from([12, 0x50, 0, 0, 0, 0, 0, 0, 0, 1, 0x32, 0x30])],
    ['expiry that is not a timestamp', rawPrepare({ expiresAt: 'notatimestamp!!!!' })],
    ['destination that is not an ILP address', rawPrepare({ destination: 'not an address!' })],
    ['empty destination', rawPrepare({ destination: '' })]
  ])('a malformed ILP Prepare (%s) gets a RESPONSE carrying Reject F01 triggered by the connector', async (_name, packet) => {
    const s = await authed('bad-prepare-sender')
    s.send(btpIlpMessage(0x600d, packet))
    const { frame } = await answerTo(s, 0x600d)
    expect(frame.type).toBe(RESPONSE)
    expect(frame.ilp).toBeDefined()
    const reply = parseReply(frame.ilp as Buffer)
    expect(reply).toMatchObject({ type: 'reject', code: 'F01', triggeredBy: CONNECTOR_ADDRESS })
    expect(await ildcpOver(s, 2)).toMatch(/^test\.local\./)
    s.close()
  })

  test('a well-formed hand-built Prepare is understood (the encoder above is right)', async () => {
    // Guards the malformed cases: the same encoder with sane fields gives a routable packet.
    const s = await authed('good-prepare-sender')
    const condition = sha256(Buffer.alloc(32, 1))
    s.send(btpIlpMessage(0x700d, rawPrepare({ destination: 'test.local.nobody-here', condition })))
    const { frame } = await answerTo(s, 0x700d)
    expect(frame.type).toBe(RESPONSE)
    const reply = parseReply(frame.ilp as Buffer)
    // RFC 0027: no route is F02 (unreachable), not F01.
    expect(reply).toMatchObject({ type: 'reject', code: 'F02', triggeredBy: CONNECTOR_ADDRESS })
    expect(IlpPacket.deserializeIlpPrepare(rawPrepare({ destination: 'test.a' })).destination).toBe('test.a')
    s.close()
  })
})

describe('oversized frames (btp.maxFrameBytes = 2048)', () => {
  test('a frame over the limit closes that socket with 1009; other links keep working', async () => {
    const bystander = await authed('bystander')
    const s = await authed('big-sender')
    s.send(btpIlpMessage(1, Buffer.alloc(MAX_FRAME_BYTES + 1000)))
    expect((await closeOf(s)).code).toBe(MESSAGE_TOO_BIG)
    // Before authentication too.
    const early = await open()
    early.send(Buffer.alloc(MAX_FRAME_BYTES * 2, 6))
    expect((await closeOf(early)).code).toBe(MESSAGE_TOO_BIG)
    // A frame just under the limit is fine (it is answered, not cut off).
    const ok = await authed('almost-big-sender')
    ok.send(btpIlpMessage(77, rawPrepare({ destination: 'test.local.nobody-here', data: Buffer.alloc(MAX_FRAME_BYTES - 200) })))
    expect((await answerTo(ok, 77)).frame.type).toBe(RESPONSE)
    expect(await ildcpOver(bystander, 9)).toMatch(/^test\.local\./)
  })
})

// ---- the process survived all of it --------------------------------------------------------------

describe('after all of the above', () => {
  test('the process is alive and still forwards a packet between two clients', async () => {
    expect(connector.proc.exitCode).toBeNull()
    expect(connector.proc.signalCode).toBeNull()
    const result = await forwardOnce(connector.url('survivor-sender'), connector.url('survivor-receiver'), '1234')
    expect(result.reply.type).toBe('fulfill')
    if (result.reply.type === 'fulfill') {
      expect(result.reply.fulfillment.equals(result.fulfillment)).toBe(true)
      expect(result.reply.data.toString()).toBe('paid')
    }
    expect(result.received?.destination).toBe(result.destination)
    expect(result.received?.amount).toBe('1234')
    expect(connector.proc.exitCode).toBeNull()
  })
})

// ---- broken configurations -----------------------------------------------------------------------

describe('configuration errors', () => {
  const validAccounts = {
    bob: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'bob-secret' } }
  }
  const listeners = { default: { host: '127.0.0.1', port: 0 } }

  function configFile (content: unknown): { file: string; cwd: string } {
    const cwd = tempDir()
    const file = path.join(cwd, 'config.json')
    writeFileSync(file, JSON.stringify(content))
    return { file, cwd }
  }

  test('a bad field in the file: exit 2, stderr names the field path', async () => {
    const { file, cwd } = configFile({ listeners, accounts: { bob: { ...validAccounts.bob, relation: 'friend' } } })
    const result = await runConnector(['--config', file], {}, cwd)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('accounts.bob.relation')
  })

  test('a bad env override: exit 2, stderr names the field path and the variable', async () => {
    const { file, cwd } = configFile({ listeners, accounts: validAccounts })
    const result = await runConnector(['--config', file], { METAMORPHOSIS_ACCOUNTS__BOB__RELATION: 'friend' }, cwd)
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('accounts.bob.relation')
    expect(result.stderr).toContain('METAMORPHOSIS_ACCOUNTS__BOB__RELATION')
  })

  test('a bad numeric env override on the default config: exit 2, names path and variable', async () => {
    const result = await runConnector([], { METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS: '0', METAMORPHOSIS_LISTENERS__DEFAULT__PORT: '0' })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('packets.maxHoldTimeMs')
    expect(result.stderr).toContain('METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS')
  })

  test('an env variable that names no setting: exit 2, names the variable', async () => {
    const result = await runConnector([], { METAMORPHOSIS_NO_SUCH_SETTING: '1', METAMORPHOSIS_LISTENERS__DEFAULT__PORT: '0' })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('METAMORPHOSIS_NO_SUCH_SETTING')
  })

  test('--check with a bad file: exit 2 with the field path; with a good one: exit 0', async () => {
    const bad = configFile({ listeners, accounts: { bob: { ...validAccounts.bob, relation: 'friend' } } })
    const badResult = await runConnector(['--check', '--config', bad.file], {}, bad.cwd)
    expect(badResult.code).toBe(2)
    expect(badResult.stderr).toContain('accounts.bob.relation')
    const good = configFile({ listeners, accounts: validAccounts })
    const goodResult = await runConnector(['--check', '--config', good.file], {}, good.cwd)
    expect(goodResult.code).toBe(0)
  })

  test('--help prints usage and exits 0', async () => {
    const result = await runConnector(['--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/usage/i)
    expect(result.stdout).toContain('--config')
    expect(result.stdout).toContain('--check')
  })
})
