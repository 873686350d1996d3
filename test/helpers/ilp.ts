/** Small helpers for driving the connector with real ilp-plugin-btp clients and raw ILP packets. */
import { createHash, randomBytes } from 'crypto'
import * as IlpPacket from 'ilp-packet'
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
  return new BtpPluginCtor({ server })
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
