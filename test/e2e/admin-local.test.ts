/**
 * The admin API on the embedded default (local mode), turned on from the environment only: a local-mode
 * account can be removed (its link closes, its address gets F02, its token is refused from then on),
 * and while the connector drains /healthz says so and changes are refused.
 */
import { startConnector, eventually, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, prepare, parseReply, within, rawBtp, btpAuthFrame, readBtpFrame, Plugin } from '../helpers/ilp'
import { adminClient, adminPort, AdminClient, ADMIN_TOKEN } from '../helpers/admin'

const plugins: Plugin[] = []
let conn: RunningConnector
let admin: AdminClient

const ENV = { METAMORPHOSIS_ADMIN__ENABLED: 'true', METAMORPHOSIS_ADMIN__TOKEN: ADMIN_TOKEN, METAMORPHOSIS_ADMIN__PORT: '0' }

beforeAll(async () => {
  conn = await startConnector({ env: ENV })
  admin = adminClient(adminPort(conn))
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await within(conn.stop('SIGKILL'), 3000)
})

async function client (token: string): Promise<{ plugin: Plugin; address: string }> {
  const plugin = btpClient(conn.url(token))
  plugins.push(plugin)
  await plugin.connect()
  return { plugin, address: await ildcpAddress(plugin) }
}

test('a local-mode account is removed; its token opens nothing any more', async () => {
  const zed = await client('zed-token')
  const amy = await client('amy-token')
  const id = zed.address.split('.').pop() as string
  const listed = await admin.call('GET', '/accounts')
  expect(listed.body.map((a: { id: string; origin: string }) => `${a.id} ${a.origin}`).sort()).toEqual([`${amy.address.split('.').pop() as string} local`, `${id} local`].sort())
  expect((await admin.call('POST', `/accounts/${id}/balance/adjustments`, { amount: '77', reason: 'test' })).body.balance).toBe('77')

  // A balance of 77: removed with force.
  expect((await admin.call('DELETE', `/accounts/${id}?force=true`)).body).toEqual({ id, removed: true, balance: '77' })
  await eventually(() => zed.plugin.isConnected() ? undefined : true, 3000)
  expect(parseReply(await amy.plugin.sendData(prepare(zed.address, '1')))).toMatchObject({ type: 'reject', code: 'F02' })
  expect((await admin.call('GET', `/accounts/${id}`)).status).toBe(404)
  // The plugin dials again with its token: refused, so the account is not made again.
  await new Promise(resolve => setTimeout(resolve, 500))
  expect((await admin.call('GET', `/accounts/${id}`)).status).toBe(404)
  const raw = await rawBtp(conn.ports.default)
  raw.send(btpAuthFrame(1, 'zed-token'))
  expect(readBtpFrame(await raw.next())).toMatchObject({ type: 2, code: 'F00' })
  raw.close()
  // A new token still gets an account.
  expect((await client('new-token')).address).toMatch(/^test\.local\.l/)
})

test('while draining: /healthz 503, status says so, changes refused with 503', async () => {
  const sender = await client('drain-sender')
  const receiver = await client('drain-receiver')
  // The receiver never answers: the packet stays in flight until it expires, holding the drain open.
  receiver.plugin.registerDataHandler(async () => await new Promise<Buffer>(() => {}))
  void sender.plugin.sendData(prepare(receiver.address, '1', { expiresInMs: 4000 })).catch(() => {})
  await eventually(async () => (await admin.call('GET', '/status')).body.packetsInFlight === 1 ? true : undefined, 3000)
  conn.proc.kill('SIGTERM')
  await eventually(async () => (await admin.call('GET', '/healthz', undefined, { token: null })).status === 503 ? true : undefined, 3000)
  expect((await admin.call('GET', '/healthz', undefined, { token: null })).body).toEqual({ status: 'draining' })
  expect((await admin.call('GET', '/status')).body.state).toBe('draining')
  const refused = await admin.call('POST', '/accounts', { id: 'late', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'late-token' } })
  expect(refused.status).toBe(503)
  expect(refused.body.error).toBe('the connector is shutting down')
  // The drain ends when the packet expires; the admin server closes with the rest and the process exits 0.
  expect(await conn.exited).toBe(0)
  await expect(fetch(`http://127.0.0.1:${admin.port}/healthz`)).rejects.toThrow()
}, 20000)
