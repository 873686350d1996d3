/**
 * Link edge cases found in review, with a raw BTP peer: a reply that comes back on a new connection
 * after a reconnect, and frames sent in the same TCP write as the auth frame.
 */
import WebSocket from 'ws'
import * as IlpPacket from 'ilp-packet'
import * as Btp from 'btp-packet'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore, Connector } from '../../src'
import { localAccountId } from '../../src/protocol/address'
import { btpAuthFrame, btpIlpMessage, connected, newFulfillment, parseReply, prepare, readBtpFrame, within, Plugin } from '../helpers/ilp'

let connector: Connector
const plugins: Plugin[] = []
beforeAll(async () => {
  const config = validateConfig({ listeners: { default: { port: 0, localAccounts: { enabled: true } } } })
  connector = createConnector(config, { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
})
afterAll(async () => {
  for (const p of plugins) await within(p.disconnect(), 1000)
  await connector.stop(1000)
})

/** A raw BTP client: opens, authenticates, and hands over every frame after the auth answer. */
async function rawPeer (token: string): Promise<{ ws: WebSocket, frames: Buffer[], next: () => Promise<Buffer> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${connector.port('default')}`)
  const frames: Buffer[] = []
  let wake: (() => void) | undefined
  await new Promise(resolve => ws.once('open', resolve))
  const authed = new Promise<void>(resolve => ws.once('message', () => resolve()))
  ws.send(btpAuthFrame(1, token))
  await authed
  ws.on('message', (d: Buffer) => { frames.push(d); wake?.() })
  const next = async (): Promise<Buffer> => {
    while (frames.length === 0) await new Promise<void>(resolve => { wake = resolve })
    return frames.shift() as Buffer
  }
  return { ws, frames, next }
}

test('a Fulfill sent on a new connection after the link dropped is honoured: the sender was told T01, the receiver is paid', async () => {
  const alice = await connected(`btp+ws://:alice@127.0.0.1:${connector.port('default')}`)
  plugins.push(alice)
  const bob = await rawPeer('bob')
  const bobAddress = 'test.local.' + localAccountId('bob')
  const { fulfillment, condition } = newFulfillment()

  const reply = alice.sendData(prepare(bobAddress, '500', { condition, expiresInMs: 10000 }))
  const message = readBtpFrame(await bob.next())
  expect(message.type).toBe(6) // MESSAGE carrying the Prepare
  // Bob's link drops while he works on it; alice is told T01 at once.
  bob.ws.terminate()
  expect(parseReply(await reply)).toMatchObject({ type: 'reject', code: 'T01' })

  // Bob reconnects and sends his Fulfill for that request on the new connection, before the expiry.
  const again = await rawPeer('bob')
  again.ws.send(Buffer.from(Btp.serializeResponse(message.requestId, [{
    protocolName: 'ilp', contentType: 0, data: IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  }])))
  await new Promise(resolve => setTimeout(resolve, 200))
  // Bob is owed the 500 he fulfilled; alice, told T01, was not charged.
  expect(connector.account(localAccountId('bob'))).toMatchObject({ balance: '-500', heldOutgoing: '0' })
  expect(connector.account(localAccountId('alice'))).toMatchObject({ balance: '0', heldIncoming: '0' })
  again.ws.close()
})

test('a Prepare in the same TCP write as the auth frame is answered', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${connector.port('default')}`)
  await new Promise(resolve => ws.once('open', resolve))
  const frames: Buffer[] = []
  const two = new Promise<void>(resolve => ws.on('message', (d: Buffer) => { frames.push(d); if (frames.length === 2) resolve() }))
  // Both frames in one corked write, so the connector reads them together.
  const socket = (ws as unknown as { _socket: { cork: () => void, uncork: () => void } })._socket
  socket.cork()
  ws.send(btpAuthFrame(1, 'a-brand-new-token'))
  ws.send(btpIlpMessage(2, prepare('test.local.nobody', '1')))
  socket.uncork()
  expect(await within(two, 3000)).not.toBe('timeout')
  expect(readBtpFrame(frames[0])).toMatchObject({ type: 1, requestId: 1 })
  const answer = readBtpFrame(frames[1])
  expect(answer).toMatchObject({ type: 1, requestId: 2 })
  expect(parseReply(answer.ilp as Buffer)).toMatchObject({ type: 'reject', code: 'F02' })
  ws.close()
})
