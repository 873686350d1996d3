/**
 * The main job, as a newcomer sees it: the connector started with its embedded default, two ordinary
 * Interledger clients (ilp-plugin-btp) with their own tokens, and a real STREAM payment between them.
 */
import { createServer, createConnection, DataAndMoneyStream } from 'ilp-protocol-stream'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, within, Plugin } from '../helpers/ilp'

let connector: RunningConnector
const plugins: Plugin[] = []

beforeAll(async () => { connector = await startConnector() })
afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await connector.stop()
})

function client (token: string): Plugin {
  const p = btpClient(connector.url(token))
  plugins.push(p)
  return p
}

test('each token gets its own child address over ILDCP, derived from a hash of the token', async () => {
  const alice = client('alice-token-123')
  const bob = client('bob-token-456')
  await Promise.all([alice.connect(), bob.connect()])
  const [a, b] = await Promise.all([ildcpAddress(alice), ildcpAddress(bob)])
  // RFC 0031: the child's address sits under the connector's address (test.local) with one segment of its own.
  expect(a).toMatch(/^test\.local\.[a-zA-Z0-9_~-]+$/)
  expect(b).toMatch(/^test\.local\.[a-zA-Z0-9_~-]+$/)
  expect(a).not.toBe(b)
  expect(a).not.toContain('alice-token-123')
  // Reconnecting with the same token gives the same account.
  const again = client('alice-token-123')
  await again.connect()
  expect(await ildcpAddress(again)).toBe(a)
  // The token is never logged.
  expect(JSON.stringify(connector.logs)).not.toContain('alice-token-123')
})

test('a STREAM payment of 1,000,000 units arrives exactly', async () => {
  const sender = client('stream-sender')
  const receiverPlugin = client('stream-receiver')
  await Promise.all([sender.connect(), receiverPlugin.connect()])
  const server = await createServer({ plugin: receiverPlugin as never })
  let received = 0n
  const arrived = new Promise<void>(resolve => {
    server.on('connection', (conn) => {
      conn.on('stream', (stream: DataAndMoneyStream) => {
        stream.setReceiveMax('2000000')
        stream.on('money', (amount: string) => {
          received += BigInt(amount)
          if (received >= 1_000_000n) resolve()
        })
      })
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  const conn = await createConnection({ plugin: sender as never, destinationAccount, sharedSecret })
  const stream = conn.createStream()
  await stream.sendTotal(1_000_000, { timeout: 20000 })
  await within(arrived, 5000)
  // Same asset and scale on both children, no spread: exactly what was sent arrives.
  expect(received).toBe(1_000_000n)
  expect(stream.totalSent).toBe('1000000')
  await within(conn.end(), 2000)
  await within(server.close(), 2000)
  // STREAM's closing packets may still be on their way: let them finish before the links close, or
  // ilp-plugin-btp keeps a 35 s timer for each of them.
  await new Promise(resolve => setTimeout(resolve, 300))
})
