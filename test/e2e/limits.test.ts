/**
 * Per-account limits, through the real process with real clients: packets per second (T05), amount per
 * period (T04), and a burst of concurrent Prepares against a balance limit that lets exactly as many
 * through as the limit allows — no overdraft, no drift.
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { connected, ildcpAddress, newFulfillment, parseReply, prepare, within, Plugin } from '../helpers/ilp'

const child = (token: string, extra: Record<string, unknown> = {}) =>
  ({ relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token }, ...extra })

let connector: RunningConnector
const plugins: Plugin[] = []
beforeAll(async () => {
  connector = await startConnector({
    config: {
      listeners: { default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true } } },
      accounts: {
        chatty: child('chatty-secret', { packetsPerSecond: 5 }),
        spender: child('spender-secret', { throughputLimit: { amount: '1000', periodMs: 60000 } }),
        capped: child('capped-secret', { maxBalance: '1000' })
      }
    }
  })
})
afterAll(async () => {
  for (const p of plugins) await within(p.disconnect(), 1000)
  await connector.stop()
})

async function client (token: string): Promise<Plugin> {
  const p = await connected(connector.url(token))
  plugins.push(p)
  return p
}

async function receiver (): Promise<{ address: string, condition: Buffer, fulfilled: () => number }> {
  const r = await client('receiver-' + Math.random().toString(36).slice(2))
  const address = await ildcpAddress(r)
  const { fulfillment, condition } = newFulfillment()
  let count = 0
  r.registerDataHandler(async () => { count++; return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }) })
  return { address, condition, fulfilled: () => count }
}

test('T05: more than 5 packets in a second from an account limited to 5 per second', async () => {
  const chatty = await client('chatty-secret')
  const { address, condition } = await receiver()
  const replies = await Promise.all(Array.from({ length: 8 }, async () => parseReply(await chatty.sendData(prepare(address, '1', { condition })))))
  // A full bucket of 5 at once: the first 5 pass, the other 3 get T05 from the connector.
  expect(replies.filter(r => r.type === 'fulfill')).toHaveLength(5)
  const rejected = replies.filter(r => r.type === 'reject')
  expect(rejected).toHaveLength(3)
  for (const r of rejected) expect(r).toMatchObject({ code: 'T05', triggeredBy: 'test.local' })
})

test('T04: more than 1000 per minute from an account limited to that amount', async () => {
  const spender = await client('spender-secret')
  const { address, condition } = await receiver()
  expect(parseReply(await spender.sendData(prepare(address, '600', { condition })))).toMatchObject({ type: 'fulfill' })
  // 600 + 600 > 1000 within the period (refill: 1000 per 60 s, about 17 per second).
  expect(parseReply(await spender.sendData(prepare(address, '600', { condition })))).toMatchObject({ type: 'reject', code: 'T04', triggeredBy: 'test.local' })
  expect(parseReply(await spender.sendData(prepare(address, '300', { condition })))).toMatchObject({ type: 'fulfill' })
})

test('200 concurrent Prepares of 10 against a maximum balance of 1000: exactly 100 pass', async () => {
  const capped = await client('capped-secret')
  const { address, condition, fulfilled } = await receiver()
  const replies = await Promise.all(Array.from({ length: 200 }, async () => parseReply(await capped.sendData(prepare(address, '10', { condition })))))
  // 1000 / 10 = 100 fit under the maximum, whatever the interleaving; the rest get T04.
  expect(replies.filter(r => r.type === 'fulfill')).toHaveLength(100)
  expect(replies.filter(r => r.type === 'reject' && r.code === 'T04')).toHaveLength(100)
  expect(fulfilled()).toBe(100)
  // No drift: exactly at the maximum, one more unit is refused.
  expect(parseReply(await capped.sendData(prepare(address, '1', { condition })))).toMatchObject({ type: 'reject', code: 'T04' })
})
