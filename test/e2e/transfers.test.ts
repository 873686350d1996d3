/**
 * Transfer history over the admin API, from the real process: rejected transfers carry their code and
 * who triggered them (the receiver, or the connector itself), an account's history pages back with a
 * cursor and filters by time, and bad queries are refused naming the parameter.
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, newFulfillment, prepare, parseReply, within, Plugin } from '../helpers/ilp'
import { adminClient, adminPort, AdminClient, ADMIN_TOKEN } from '../helpers/admin'

let conn: RunningConnector
let admin: AdminClient
const plugins: Plugin[] = []

beforeAll(async () => {
  conn = await startConnector({
    config: {
      ilpAddress: 'test.t',
      listeners: { main: { host: '127.0.0.1', port: 0 } },
      accounts: {
        sender: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'sender-token' } },
        receiver: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'receiver-token' } },
        offline: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'offline-token' } }
      },
      admin: { enabled: true, port: 0, token: ADMIN_TOKEN }
    }
  })
  admin = adminClient(adminPort(conn))
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await within(conn.stop('SIGKILL'), 3000)
})

test('prepared, fulfilled and rejected records; paging and time ranges', async () => {
  const sender = btpClient(conn.url('sender-token', 'main'))
  const receiver = btpClient(conn.url('receiver-token', 'main'))
  plugins.push(sender, receiver)
  await Promise.all([sender.connect(), receiver.connect()])
  const fulfillments = new Map<string, Buffer>()
  receiver.registerDataHandler(async data => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    if (p.destination.endsWith('.no')) return IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.t.receiver', message: 'not today', data: Buffer.alloc(0) })
    return IlpPacket.serializeIlpFulfill({ fulfillment: fulfillments.get(p.executionCondition.toString('hex')) as Buffer, data: Buffer.alloc(0) })
  })
  const send = async (destination: string, amount: string): Promise<string> => {
    const { fulfillment, condition } = newFulfillment()
    fulfillments.set(condition.toString('hex'), fulfillment)
    const r = parseReply(await sender.sendData(prepare(destination, amount, { condition })))
    return r.type === 'fulfill' ? 'fulfilled' : r.code
  }
  const t0 = Date.now()
  expect(await send('test.t.receiver', '1')).toBe('fulfilled')
  expect(await send('test.t.receiver', '2')).toBe('fulfilled')
  await new Promise(resolve => setTimeout(resolve, 30))
  const t1 = Date.now()
  expect(await send('test.t.receiver.no', '3')).toBe('F99')
  expect(await send('test.t.offline', '4')).toBe('T01') // forwarded to an account whose link is down
  expect(await send('test.t.receiver', '5')).toBe('fulfilled')

  // Newest first, two per page: 5, 4 | 3, 2 | 1.
  const page1 = await admin.call('GET', '/accounts/sender/transfers?limit=2')
  expect(page1.body.transfers.map((t: { amount: string }) => t.amount)).toEqual(['5', '4'])
  expect(page1.body.next).toBe(page1.body.transfers[1].id)
  const page2 = await admin.call('GET', `/accounts/sender/transfers?limit=2&before=${page1.body.next}`)
  expect(page2.body.transfers.map((t: { amount: string }) => t.amount)).toEqual(['3', '2'])
  const page3 = await admin.call('GET', `/accounts/sender/transfers?limit=2&before=${page2.body.next}`)
  expect(page3.body).toEqual({ transfers: [expect.objectContaining({ amount: '1' })], next: null })

  const rejectedByReceiver = page2.body.transfers[0] // amount 3
  const rejectedByUs = page1.body.transfers[1] // amount 4
  expect(rejectedByReceiver).toMatchObject({ state: 'rejected', nextHop: 'receiver', reject: { code: 'F99', triggeredBy: 'test.t.receiver', message: 'not today' } })
  expect(rejectedByUs).toMatchObject({ state: 'rejected', nextHop: 'offline', reject: { code: 'T01', triggeredBy: 'test.t' } })
  // Sequence numbers of the sender's packets: 1..5 in order.
  expect([...page3.body.transfers, ...[...page2.body.transfers].reverse(), ...[...page1.body.transfers].reverse()].map((t: { id: string }) => t.id.split('-')[2])).toEqual(['1', '2', '3', '4', '5'])

  // Time range: from t1 only the last three; to t1 only the first two (ISO and milliseconds both work).
  const later = await admin.call('GET', `/accounts/sender/transfers?from=${new Date(t1).toISOString()}`)
  expect(later.body.transfers.map((t: { amount: string }) => t.amount)).toEqual(['5', '4', '3'])
  const earlier = await admin.call('GET', `/accounts/sender/transfers?from=${t0}&to=${t1}`)
  expect(earlier.body.transfers.map((t: { amount: string }) => t.amount)).toEqual(['2', '1'])
  // The receiver's history: the packets forwarded to it (1, 2, 3, 5), not the one to offline.
  const received = await admin.call('GET', '/accounts/receiver/transfers')
  expect(received.body.transfers.map((t: { amount: string }) => t.amount)).toEqual(['5', '3', '2', '1'])
})

test('bad queries name the parameter', async () => {
  const cases: Array<[string, number, RegExp]> = [
    ['/accounts/sender/transfers?limit=0', 400, /^limit: must be an integer from 1 to 1000/],
    ['/accounts/sender/transfers?from=yesterday', 400, /^from: must be an ISO 8601 time/],
    ['/accounts/sender/transfers?from=2000&to=1000', 400, /^from: must be before to/],
    ['/accounts/sender/transfers?page=2', 400, /^page: unknown query parameter/],
    ['/accounts/nobody/transfers', 404, /^no account named "nobody"/],
    ['/transfers', 400, /^condition: is required/],
    ['/transfers?condition=abc', 400, /^condition: must be 64 hex digits/],
    ['/transfers/0000000000000-1-1-nobody', 404, /^no transfer with id/]
  ]
  for (const [path, status, message] of cases) {
    const r = await admin.call('GET', path)
    expect({ path, status: r.status, error: r.body.error }).toEqual({ path, status, error: expect.stringMatching(message) })
  }
})
