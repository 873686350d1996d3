/**
 * Supervision chosen on purpose: an account actor that crashes answers every packet it had in flight
 * (nothing hangs) and restarts from its stored state; the rest of the connector is unaffected.
 * The crash is injected through the Store interface: a store whose write fails once for one account.
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

test('a crashed account actor fails its packets in flight with T00, restarts from its stored balance, and keeps working', async () => {
  const url = (token: string) => `btp+ws://:${token}@127.0.0.1:${connector.port('default')}`
  const alice = await connected(url('alice'))
  const bob = await connected(url('bob'))
  plugins.push(alice, bob)
  const bobAddress = await ildcpAddress(bob)
  const aliceId = localAccountId('alice')
  const { fulfillment, condition } = newFulfillment()
  bob.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    if (p.amount === '100') await new Promise(resolve => setTimeout(resolve, 500)) // P1 stays in flight a while
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })

  // First a normal payment, committed and stored: alice's balance (what she owes) is 7.
  expect(parseReply(await alice.sendData(prepare(bobAddress, '7', { condition })))).toMatchObject({ type: 'fulfill' })
  expect(connector.account(aliceId)?.balance).toBe('7')

  // P1 is in flight when P2's Fulfill crashes alice's actor (its balance cannot be stored).
  store.failFor = aliceId
  const started = Date.now()
  const p1 = alice.sendData(prepare(bobAddress, '100', { condition, expiresInMs: 20000 }))
  await new Promise(resolve => setTimeout(resolve, 100))
  const p2 = alice.sendData(prepare(bobAddress, '20', { condition, expiresInMs: 20000 }))
  const [r1, r2] = await Promise.all([p1, p2])
  // Both answered with T00 by the crash handler, long before their 19 s expiry: nothing hangs.
  expect(parseReply(r1)).toMatchObject({ type: 'reject', code: 'T00', triggeredBy: 'test.local' })
  expect(parseReply(r2)).toMatchObject({ type: 'reject', code: 'T00', triggeredBy: 'test.local' })
  expect(Date.now() - started).toBeLessThan(5000)
  expect(logLines.some(l => l.level === 50 && /account actor crashed/.test(l.msg))).toBe(true)

  // Restarted from the store: the stored 7, none of the packets it failed.
  await new Promise(resolve => setTimeout(resolve, 600)) // P1's late Fulfill reaches the restarted actor and is ignored
  expect(connector.account(aliceId)).toMatchObject({ balance: '7', heldIncoming: '0', packetsInFlight: 0 })

  // And it keeps working.
  expect(parseReply(await alice.sendData(prepare(bobAddress, '3', { condition })))).toMatchObject({ type: 'fulfill' })
  expect(connector.account(aliceId)?.balance).toBe('10')
})
