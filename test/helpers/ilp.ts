/** Small helpers for driving the connector with real ilp-plugin-btp clients and raw ILP packets. */
import { createHash, randomBytes } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import * as Btp from 'btp-packet'
import WebSocket from 'ws'
// ilp-plugin-btp ships no typings: a narrow view of the standard plugin interface.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const BtpPluginCtor = require('ilp-plugin-btp') as new (opts: { server: string }) => Plugin

export interface Plugin {
  connect: () => Promise<void>
  disconnect: () => Promise<void>
  isConnected: () => boolean
  sendData: (data: Buffer) => Promise<Buffer>
  registerDataHandler: (handler: (data: Buffer) => Promise<Buffer>) => void
  deregisterDataHandler: () => void
}

export function btpClient (server: string): Plugin {
  const plugin = new BtpPluginCtor({ server })
  // ilp-plugin-btp's disconnect() during one of its reconnect attempts closes a CONNECTING socket after
  // removing its listeners, so ws's "closed before the connection was established" error is unhandled
  // and fails the test run. Give that socket a listener first.
  const disconnect = plugin.disconnect.bind(plugin)
  plugin.disconnect = async () => {
    const socket = (plugin as unknown as { _ws?: { _instance?: { close: () => void; on: (e: string, f: () => void) => void } } })._ws?._instance
    if (socket !== undefined) {
      const close = socket.close.bind(socket)
      socket.close = () => { socket.on('error', () => {}); close() }
    }
    await disconnect()
  }
  return plugin
}

export async function connected (server: string): Promise<Plugin> {
  const p = btpClient(server)
  await p.connect()
  return p
}

export function sha256 (b: Buffer): Buffer {
  return createHash('sha256').update(b).digest()
}

export function newFulfillment (): { fulfillment: Buffer; condition: Buffer } {
  const fulfillment = randomBytes(32)
  return { fulfillment, condition: sha256(fulfillment) }
}

export function prepare (destination: string, amount: string, opts: { condition?: Buffer; expiresInMs?: number; data?: Buffer } = {}): Buffer {
  return IlpPacket.serializeIlpPrepare({
    destination,
    amount,
    executionCondition: opts.condition ?? randomBytes(32),
    expiresAt: new Date(Date.now() + (opts.expiresInMs ?? 10000)),
    data: opts.data ?? Buffer.alloc(0)
  })
}

export type ParsedReply =
  | { type: 'fulfill'; fulfillment: Buffer; data: Buffer }
  | { type: 'reject'; code: string; triggeredBy: string; message: string; data: Buffer }

export function parseReply (reply: Buffer): ParsedReply {
  if (reply[0] === IlpPacket.Type.TYPE_ILP_FULFILL) return { type: 'fulfill', ...IlpPacket.deserializeIlpFulfill(reply) }
  if (reply[0] === IlpPacket.Type.TYPE_ILP_REJECT) return { type: 'reject', ...IlpPacket.deserializeIlpReject(reply) }
  throw new Error(`not a reply: type ${reply[0]}`)
}

export async function ildcpAddress (plugin: Plugin): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ILDCP = require('ilp-protocol-ildcp') as typeof import('ilp-protocol-ildcp')
  const info = await ILDCP.fetch(async (d) => await plugin.sendData(d))
  return info.clientAddress
}

export function within<T> (p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, new Promise<'timeout'>(resolve => setTimeout(() => resolve('timeout'), ms).unref())])
}

// ---- raw BTP sockets (for frames a well-behaved plugin would never send) ------------------------

/** A bare WebSocket to a BTP listener: send any bytes, read the connector's frames one by one. */
export interface RawBtp {
  ws: WebSocket
  send: (frame: Buffer) => void
  /** The next frame from the connector; rejects on timeout or when the socket closes first. */
  next: (timeoutMs?: number) => Promise<Buffer>
  /** Frames received and not yet taken with next(). */
  pending: () => Buffer[]
  /** Resolves with the WebSocket close code and reason once the socket has closed. */
  closed: Promise<{ code: number; reason: string }>
  isClosed: () => boolean
  close: () => void
}

export async function rawBtp (port: number, host = '127.0.0.1'): Promise<RawBtp> {
  const ws = new WebSocket(`ws://${host}:${port}`)
  const frames: Buffer[] = []
  let waiter: ((f: Buffer | undefined) => void) | undefined
  let isClosed = false
  const closed = new Promise<{ code: number; reason: string }>(resolve => {
    ws.on('close', (code: number, reason: Buffer) => {
      isClosed = true
      resolve({ code, reason: reason.toString() })
      if (waiter !== undefined) { const w = waiter; waiter = undefined; w(undefined) }
    })
  })
  ws.on('error', () => { /* surfaced through `closed` */ })
  ws.on('message', (data: WebSocket.RawData) => {
    const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
    if (waiter !== undefined) { const w = waiter; waiter = undefined; w(frame) } else frames.push(frame)
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return {
    ws,
    send: (frame) => ws.send(frame, { binary: true }),
    next: async (timeoutMs = 3000) => {
      const queued = frames.shift()
      if (queued !== undefined) return queued
      if (isClosed) throw new Error('socket closed before a frame arrived')
      return await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => { waiter = undefined; reject(new Error(`no frame within ${timeoutMs} ms`)) }, timeoutMs)
        waiter = (f) => {
          clearTimeout(timer)
          if (f === undefined) reject(new Error('socket closed before a frame arrived'))
          else resolve(f)
        }
      })
    },
    pending: () => frames.splice(0),
    closed,
    isClosed: () => isClosed,
    close: () => ws.terminate()
  }
}

/** RFC 0023 "Authentication": a MESSAGE whose first protocol data is `auth`, then auth_username and auth_token. */
export function btpAuthFrame (requestId: number, token: string, username = ''): Buffer {
  return Btp.serializeMessage(requestId, [
    { protocolName: 'auth', contentType: Btp.MIME_APPLICATION_OCTET_STREAM, data: Buffer.alloc(0) },
    { protocolName: 'auth_username', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(username, 'utf8') },
    { protocolName: 'auth_token', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(token, 'utf8') }
  ])
}

/** A BTP MESSAGE carrying an ILP packet in the `ilp` sub-protocol (RFC 0023). */
export function btpIlpMessage (requestId: number, ilpPacket: Buffer): Buffer {
  return Btp.serializeMessage(requestId, [{ protocolName: 'ilp', contentType: Btp.MIME_APPLICATION_OCTET_STREAM, data: ilpPacket }])
}

export interface BtpFrameView {
  /** Byte 0 (RFC 0023: 1 RESPONSE, 2 ERROR, 6 MESSAGE, 7 TRANSFER). */
  type: number
  /** Bytes 1..4, big-endian. */
  requestId: number
  /** For an ERROR: its code. */
  code?: string
  /** For a RESPONSE or MESSAGE: the `ilp` protocol data, if any. */
  ilp?: Buffer
}

export function readBtpFrame (frame: Buffer): BtpFrameView {
  const view: BtpFrameView = { type: frame[0], requestId: frame.readUInt32BE(1) }
  const parsed = Btp.deserialize(frame)
  if (parsed.type === Btp.TYPE_ERROR) view.code = (parsed.data as { code: string }).code
  const data = parsed.data as { protocolData?: Btp.ProtocolData[] }
  const ilp = data.protocolData?.find(p => p.protocolName === 'ilp')
  if (ilp !== undefined) view.ilp = ilp.data
  return view
}

// ---- one end-to-end payment between two fresh clients ------------------------------------------

export interface ForwardingResult {
  reply: ParsedReply
  fulfillment: Buffer
  condition: Buffer
  destination: string
  /** The Prepare as the receiver got it (undefined if it never arrived). */
  received?: IlpPacket.IlpPrepare
}

/**
 * Connects two new ilp-plugin-btp clients, learns the receiver's address over ILDCP, and sends one
 * Prepare from the sender to it; the receiver fulfills it only if the condition is the expected one.
 */
export async function forwardOnce (senderUrl: string, receiverUrl: string, amount = '1000'): Promise<ForwardingResult> {
  const sender = btpClient(senderUrl)
  const receiver = btpClient(receiverUrl)
  try {
    await Promise.all([sender.connect(), receiver.connect()])
    const destination = await ildcpAddress(receiver)
    const { fulfillment, condition } = newFulfillment()
    let received: IlpPacket.IlpPrepare | undefined
    receiver.registerDataHandler(async (data) => {
      const p = IlpPacket.deserializeIlpPrepare(data)
      received = p
      if (!p.executionCondition.equals(condition)) {
        return IlpPacket.serializeIlpReject({ code: 'F05', triggeredBy: destination, message: 'unexpected condition', data: Buffer.alloc(0) })
      }
      return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('paid') })
    })
    const reply = parseReply(await sender.sendData(prepare(destination, amount, { condition })))
    return { reply, fulfillment, condition, destination, received }
  } finally {
    await Promise.all([within(sender.disconnect(), 2000), within(receiver.disconnect(), 2000)])
  }
}

// ---- an ilp-plugin-btp peer that settles in-band ------------------------------------------------

/** A Plugin that also sends and receives BTP TRANSFERs. */
export interface MoneyPlugin extends Plugin {
  /** Sends a TRANSFER; with `key`, named by a settlement_id entry as Metamorphosis sends them. */
  sendMoney: (amount: string, key?: string) => Promise<void>
  /** Amounts of the TRANSFERs received, in order (with the settlement_id the sender gave, if any). */
  received: Array<{ amount: string; key?: string }>
  /** Those refused (see refuseMoney). */
  refused: Array<{ amount: string; key?: string }>
  /** When set, the next TRANSFERs are answered with a BTP error instead of being accepted. */
  refuseMoney: number
  /** Called after a TRANSFER was refused. */
  onRefused?: () => void
}

/**
 * ilp-plugin-btp 1.5.0 is the base class of settling plugins: its `sendMoney` does nothing and an
 * incoming TRANSFER makes it answer with an error. Like those plugins, this one subclasses it: a
 * TRANSFER goes out through the plugin's own `_call`, and an incoming one is recorded and acknowledged.
 */
export function moneyPlugin (server: string): MoneyPlugin {
  interface BtpInternals {
    _call: (to: string, packet: unknown) => Promise<unknown>
    _handleMoney: (from: string, packet: { data: { amount: string; protocolData: Array<{ protocolName: string; data: Buffer }> } }) => Promise<unknown[]>
  }
  const plugin = btpClient(server) as unknown as MoneyPlugin & BtpInternals
  plugin.received = []
  plugin.refused = []
  plugin.refuseMoney = 0
  plugin._handleMoney = async (_from, packet) => {
    const key = packet.data.protocolData.find(p => p.protocolName === 'settlement_id')?.data.toString()
    if (plugin.refuseMoney > 0) {
      plugin.refuseMoney--
      plugin.refused.push({ amount: packet.data.amount, key })
      setImmediate(() => plugin.onRefused?.())
      throw new Error('not now')
    }
    plugin.received.push(key === undefined ? { amount: packet.data.amount } : { amount: packet.data.amount, key })
    return []
  }
  plugin.sendMoney = async (amount: string, key?: string) => {
    const protocolData = key === undefined ? [] : [{ protocolName: 'settlement_id', contentType: Btp.MIME_TEXT_PLAIN_UTF8, data: Buffer.from(key) }]
    await plugin._call('', { type: Btp.TYPE_TRANSFER, requestId: randomBytes(4).readUInt32BE(0), data: { amount, protocolData } })
  }
  return plugin
}

/**
 * Sends a Prepare that carries its own fulfillment as data (the receiver fulfils with `fulfilFromData`):
 * 'fulfill', or the reject's code and message.
 */
export async function payCarryingFulfillment (from: Plugin, destination: string, amount: number): Promise<string> {
  const fulfillment = randomBytes(32)
  const reply = parseReply(await from.sendData(IlpPacket.serializeIlpPrepare({
    destination, amount: String(amount), executionCondition: sha256(fulfillment), expiresAt: new Date(Date.now() + 10000), data: fulfillment
  })))
  return reply.type === 'fulfill' ? 'fulfill' : `${reply.code} ${reply.message}`
}

/** A data handler that fulfils a Prepare sent by `payCarryingFulfillment`. */
export const fulfilFromData = async (data: Buffer): Promise<Buffer> =>
  IlpPacket.serializeIlpFulfill({ fulfillment: IlpPacket.deserializeIlpPrepare(data).data, data: Buffer.alloc(0) })
