/**
 * Dead links are found by ping: a peer whose socket stays open but which no longer answers WebSocket
 * pings is disconnected after at most two ping intervals, and its account's link counts as down
 * (packets to it get T01) rather than hanging until they expire.
 */
import WebSocket from 'ws'
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { btpAuthFrame, connected, ildcpAddress, parseReply, prepare, readBtpFrame, within, Plugin } from '../helpers/ilp'
import { localAccountId } from '../../src/protocol/address'

let connector: RunningConnector
let alice: Plugin
beforeAll(async () => {
  connector = await startConnector({ env: { METAMORPHOSIS_BTP__PING_INTERVAL_MS: '200' } })
  alice = await connected(connector.url('alice'))
})
afterAll(async () => {
  await within(alice.disconnect(), 1000)
  await connector.stop()
})

test('a peer that stops answering pings is disconnected within two intervals; packets to it then get T01', async () => {
  // A BTP client that authenticates, then plays dead: its socket stays open but never answers a ping.
  const ws = new WebSocket(`ws://127.0.0.1:${connector.ports.default}`, { autoPong: false })
  await new Promise(resolve => ws.once('open', resolve))
  const authAnswer = new Promise<Buffer>(resolve => ws.once('message', (d: Buffer) => resolve(d)))
  ws.send(btpAuthFrame(1, 'zombie'))
  expect(readBtpFrame(await authAnswer).type).toBe(1) // RESPONSE: authenticated
  let pings = 0
  ws.on('ping', () => { pings++ })
  const openedAt = Date.now()
  const closed = await within(new Promise<number>(resolve => ws.once('close', (code: number) => resolve(code))), 3000)
  expect(closed).not.toBe('timeout')
  expect(pings).toBeGreaterThanOrEqual(1)
  expect(Date.now() - openedAt).toBeLessThan(1000) // 2 × 200 ms, plus scheduling slack

  const destination = 'test.local.' + localAccountId('zombie')
  const reply = parseReply(await alice.sendData(prepare(destination, '1')))
  expect(reply).toMatchObject({ type: 'reject', code: 'T01', triggeredBy: 'test.local' })
})

test('a peer that answers pings stays connected', async () => {
  const bob = await connected(connector.url('bob'))
  const address = await ildcpAddress(bob)
  await new Promise(resolve => setTimeout(resolve, 1000)) // five ping intervals
  expect(bob.isConnected()).toBe(true)
  bob.registerDataHandler(async () => IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: address, message: 'bob here', data: Buffer.alloc(0) }))
  // Reached bob, not a T01 from the connector.
  expect(parseReply(await alice.sendData(prepare(address, '1')))).toMatchObject({ type: 'reject', code: 'F99', triggeredBy: address })
  await within(bob.disconnect(), 1000)
})
