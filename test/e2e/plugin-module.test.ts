/**
 * Plugin modules in the real process, started from its own working directory (so a module is found
 * through the connector's own node_modules): ilp-plugin-btp as carol's link beside alice on the
 * built-in BTP listener, and an account naming a module that does not exist. The connector starts,
 * says which account and module failed, and the rest of it works: a STREAM payment from alice to carol.
 */
import { startConnector, freePort, RunningConnector } from '../helpers/connectorProcess'
import { streamPayment } from '../helpers/stream'
import { btpClient, connected, ildcpAddress, within, Plugin } from '../helpers/ilp'

let conn: RunningConnector
let carolPort: number
const plugins: Plugin[] = []

beforeAll(async () => {
  carolPort = await freePort()
  conn = await startConnector({
    config: {
      ilpAddress: 'test.m',
      listeners: { default: { port: 0 } },
      accounts: {
        alice: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'alice-token' } },
        carol: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'plugin', module: 'ilp-plugin-btp', options: { listener: { port: carolPort, secret: 'carol-secret' } } } },
        ghost: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'plugin', module: 'ilp-plugin-that-does-not-exist' } }
      }
    }
  })
}, 30000)

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 1000)))
  await within(conn.stop('SIGKILL'), 3000)
})

test('a module that cannot be loaded: one error naming the account and the module; the connector started', () => {
  const errors = conn.logs.filter(l => l.level >= 50)
  expect(errors).toHaveLength(1)
  expect(errors[0]).toMatchObject({ account: 'ghost', module: 'ilp-plugin-that-does-not-exist', msg: expect.stringContaining('plugin failed to load') })
  expect(String(errors[0].reason)).toContain('cannot load module "ilp-plugin-that-does-not-exist"')
  expect(conn.logs.some(l => l.msg === 'connector started')).toBe(true)
})

test('a STREAM payment from alice (built-in BTP) to carol (ilp-plugin-btp as a plugin module)', async () => {
  const carol = btpClient(`btp+ws://:carol-secret@127.0.0.1:${carolPort}`)
  plugins.push(carol)
  await carol.connect()
  expect(await ildcpAddress(carol)).toBe('test.m.carol')
  const alice = await connected(conn.url('alice-token'))
  plugins.push(alice)
  // XRP scale 9 on both, no spread: received = sent.
  expect(await streamPayment(alice, carol, 123456)).toEqual({ received: 123456n, sent: '123456' })
}, 30000)
