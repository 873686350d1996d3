/**
 * Two of our connectors, as two operators would run them (real processes), peered over ILP-over-HTTP
 * with bearer tokens both ways. No static routes: each learns the other's address over CCP, whose
 * requests (the connector's own, request ids ≥ 2^31) travel over the same HTTP link. Then a STREAM
 * payment from a client of A to a client of B, and one back.
 */
import { startConnector, freePort, eventually, RunningConnector } from '../helpers/connectorProcess'
import { streamPayment } from '../helpers/stream'
import { btpClient, ildcpAddress, within, Plugin } from '../helpers/ilp'

let connA: RunningConnector
let connB: RunningConnector
const plugins: Plugin[] = []

function config (address: string, ownPort: number, peerId: string, peerPort: number, inToken: string, outToken: string): unknown {
  return {
    ilpAddress: address,
    listeners: { default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true, assetCode: 'XRP', assetScale: 9 } } },
    http: { port: ownPort },
    routing: { broadcastIntervalMs: 500, routeExpiryMs: 5000 },
    accounts: {
      [peerId]: {
        relation: 'peer',
        assetCode: 'XRP',
        assetScale: 9,
        link: { type: 'http', incoming: { token: inToken }, outgoing: { url: `http://127.0.0.1:${peerPort}/ilp`, token: outToken } }
      }
    }
  }
}

beforeAll(async () => {
  const [portA, portB] = [await freePort(), await freePort()]
  ;[connA, connB] = await Promise.all([
    startConnector({ config: config('test.a', portA, 'b', portB, 'b-to-a', 'a-to-b') }),
    startConnector({ config: config('test.b', portB, 'a', portA, 'a-to-b', 'b-to-a') })
  ])
}, 30000)

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await Promise.all([connA, connB].map(async c => await within(c.stop('SIGKILL'), 3000)))
})

async function client (c: RunningConnector, token: string): Promise<{ plugin: Plugin; address: string }> {
  const plugin = btpClient(c.url(token))
  plugins.push(plugin)
  await plugin.connect()
  return { plugin, address: await ildcpAddress(plugin) }
}

const learned = (c: RunningConnector, prefix: string) => (): true | undefined =>
  c.logs.some(l => l.msg === 'route added' && l.prefix === prefix && l.to !== undefined) ? true : undefined

test('each learns the other\'s address over CCP, through the HTTP link', async () => {
  await eventually(learned(connA, 'test.b'), 10000)
  await eventually(learned(connB, 'test.a'), 10000)
}, 15000)

test('a STREAM payment from a client of A to a client of B, and one back', async () => {
  const alice = await client(connA, 'alice')
  const bob = await client(connB, 'bob')
  expect(alice.address.startsWith('test.a.')).toBe(true)
  expect(bob.address.startsWith('test.b.')).toBe(true)
  // Same asset and scale on every hop, no spread: what arrives is what was sent.
  expect(await streamPayment(alice.plugin, bob.plugin, 250000)).toEqual({ received: 250000n, sent: '250000' })
  // ilp-protocol-stream disconnects both plugins when a payment ends: fresh clients, same tokens.
  const bob2 = await client(connB, 'bob')
  const alice2 = await client(connA, 'alice')
  expect(await streamPayment(bob2.plugin, alice2.plugin, 90000)).toEqual({ received: 90000n, sent: '90000' })
}, 40000)
