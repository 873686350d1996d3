/**
 * A Fulfill committed during the SIGTERM drain reaches the ILP-over-HTTP peer that was charged for it
 * (found in review: the dialled links were closed before the group commit released the Fulfill).
 */
import pino from 'pino'
import * as IlpPacket from 'ilp-packet'
import { createConnector, validateConfig, MemoryStore } from '../../src'
import { connected, newFulfillment, prepare, within } from '../helpers/ilp'
import { post } from '../helpers/http'

/** A store whose group commit takes 100 ms (a busy disk). */
class SlowCommitStore extends MemoryStore {
  private pending = 0
  override afterCommit (fn: () => void): void { this.pending++; setTimeout(() => { this.pending--; fn() }, 100) }
  override async flush (): Promise<void> { while (this.pending > 0) await new Promise(resolve => setTimeout(resolve, 5)) }
}

test('a Fulfill committed during the drain reaches the ILP-over-HTTP peer that was charged for it', async () => {
  const usd = { assetCode: 'USD', assetScale: 2 }
  const connector = createConnector(validateConfig({
    ilpAddress: 'test.a',
    listeners: { default: { port: 0 } },
    http: { port: 0 },
    accounts: {
      alice: { relation: 'child', ...usd, link: { type: 'btp-server', token: 'alice-token' } },
      hp: { relation: 'child', ...usd, link: { type: 'http', incoming: { token: 'peer-to-us' } } }
    }
  }), { store: new SlowCommitStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  const alice = await connected(`btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`)
  const { fulfillment, condition } = newFulfillment()
  let arrived!: () => void
  const atAlice = new Promise<void>(resolve => { arrived = resolve })
  alice.registerDataHandler(async () => {
    arrived()
    await new Promise(resolve => setTimeout(resolve, 200))
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })
  const answer = post(`http://127.0.0.1:${connector.httpPort as number}/`, prepare('test.a.alice.x', '100', { condition }),
    { Authorization: 'Bearer peer-to-us', 'Content-Type': 'application/octet-stream' })
  // The drain starts once the Prepare is with alice (however slow the machine), so its Fulfill is
  // committed during the drain.
  expect(await within(atAlice, 10000)).not.toBe('timeout')
  const stopping = connector.stop(5000)
  const res = await within(answer, 10000)
  expect(await within(stopping, 10000)).not.toBe('timeout')
  if (res === 'timeout') throw new Error('the HTTP peer got no answer within 10 s')
  await within(alice.disconnect(), 1000)
  // hp sent 100 and is charged for it (it owes us 100)...
  expect(connector.account('hp')?.balance).toBe('100')
  // ...so it must have been given the Fulfill.
  expect({ status: res.status, text: res.status === 200 ? 'fulfill' : res.text }).toEqual({ status: 200, text: 'fulfill' })
})
