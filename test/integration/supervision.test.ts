/**
 * Supervision chosen on purpose: when handling one packet fails (here: the store refuses a write), that
 * packet is answered T00 at once, the account's committed balance comes back from the store and its
 * other packets in flight stay live — nothing hangs, nothing is charged twice, nothing else is lost.
 * The failure is injected through the Store interface: a store whose write fails once for one account.
 */
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore, Connector } from '../../src'
import { connected, ildcpAddress, newFulfillment, parseReply, prepare, within, Plugin } from '../helpers/ilp'
import { localAccountId } from '../../src/protocol/address'

class FailingOnceStore extends MemoryStore {
  failFor: string | undefined
  override saveBalance (id: string, balance: bigint): void {
    if (id === this.failFor) {
      this.failFor = undefined
      throw new Error('injected store failure')
    }
    super.saveBalance(id, balance)
  }
}

let connector: Connector
const store = new FailingOnceStore()
const plugins: Plugin[] = []
const logLines: Array<{ msg: string; level: number }> = []

beforeAll(async () => {
  const config = validateConfig({ listeners: { default: { port: 0, localAccounts: { enabled: true } } } })
  const logger = pino({ level: 'info' }, { write: (line: string) => { logLines.push(JSON.parse(line)) } })
  connector = createConnector(config, { store, logger })
  await connector.start()
})
afterAll(async () => {
  for (const p of plugins) await within(p.disconnect(), 1000)
  await connector.stop(1000)
})

test('a failing packet is answered T00; the account keeps its stored balance and its other packets in flight', async () => {
  const url = (token: string) => `btp+ws://:${token}@127.0.0.1:${connector.port('default')}`
  const alice = await connected(url('alice'))
  const bob = await connected(url('bob'))
  plugins.push(alice, bob)
  const bobAddress = await ildcpAddress(bob)
  const aliceId = localAccountId('alice')
  const bobId = localAccountId('bob')
  const { fulfillment, condition } = newFulfillment()
  bob.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    if (p.amount === '100') await new Promise(resolve => setTimeout(resolve, 500)) // P1 stays in flight a while
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })

  // First a normal payment, committed and stored: alice's balance (what she owes) is 7.
  expect(parseReply(await alice.sendData(prepare(bobAddress, '7', { condition })))).toMatchObject({ type: 'fulfill' })
  expect(connector.account(aliceId)?.balance).toBe('7')

  // P1 is in flight when storing P2's Fulfill fails for alice.
  store.failFor = aliceId
  const started = Date.now()
  const p1 = alice.sendData(prepare(bobAddress, '100', { condition, expiresInMs: 20000 }))
  await new Promise(resolve => setTimeout(resolve, 100))
  const r2 = parseReply(await alice.sendData(prepare(bobAddress, '20', { condition, expiresInMs: 20000 })))
  // P2 is answered T00 at once (not at its expiry), and alice is not charged for it.
  expect(r2).toMatchObject({ type: 'reject', code: 'T00', triggeredBy: 'test.local' })
  expect(Date.now() - started).toBeLessThan(5000)
  expect(logLines.some(l => l.level === 50 && /failed to handle a packet/.test(l.msg))).toBe(true)
  expect(connector.account(aliceId)).toMatchObject({ balance: '7', heldIncoming: '100', packetsInFlight: 1 })

  // P1 was not lost: it completes normally and alice is charged for it once.
  expect(parseReply(await p1)).toMatchObject({ type: 'fulfill' })
  expect(connector.account(aliceId)).toMatchObject({ balance: '107', heldIncoming: '0', packetsInFlight: 0 })
  // Bob did fulfil P2: we owe him for all three (the failed packet is the connector's cost, not alice's).
  expect(connector.account(bobId)?.balance).toBe('-127')

  // And it keeps working.
  expect(parseReply(await alice.sendData(prepare(bobAddress, '3', { condition })))).toMatchObject({ type: 'fulfill' })
  expect(connector.account(aliceId)?.balance).toBe('110')
})
