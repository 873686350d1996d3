/**
 * The admin API over real HTTP against the real connector process: accounts created at run time take
 * BTP clients and payments at once, balances are read and adjusted, static routes are added and
 * removed, bad input is refused with a message naming the problem (and nothing applied), every change
 * is in the audit log, everything survives a restart, and a removed account's link closes, packets to
 * it get F02 and its routes are gone. Connector B is a second connector that an API-created btp-client
 * account on A dials (also after A restarts).
 */
import { createHash } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import { startConnector, tempDir, eventually, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, ildcpAddress, newFulfillment, prepare, parseReply, within, rawBtp, btpAuthFrame, readBtpFrame, Plugin } from '../helpers/ilp'
import { adminClient, adminPort, AdminClient, ADMIN_TOKEN } from '../helpers/admin'

const PEER_TOKEN = 'carol-config-token'
const ALICE_TOKEN = 'alice-api-token'
const B_SECRET = 'a-to-b-secret'

let cwdA: string
let connA: RunningConnector
let connB: RunningConnector
let admin: AdminClient
const plugins: Plugin[] = []

const configA = {
  ilpAddress: 'test.a',
  listeners: { main: { host: '127.0.0.1', port: 0 } },
  accounts: {
    carol: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: PEER_TOKEN } }
  },
  routes: [{ prefix: 'g.configured', account: 'carol' }],
  admin: { enabled: true, port: 0, token: ADMIN_TOKEN }
}

function configB (): unknown {
  return {
    ilpAddress: 'test.b',
    listeners: { default: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true } } },
    accounts: { a: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: B_SECRET } } },
    routes: [{ prefix: 'test.a', account: 'a' }]
  }
}

async function startA (): Promise<void> {
  connA = await startConnector({ cwd: cwdA, config: configA, env: { METAMORPHOSIS_BTP__RECONNECT_MAX_DELAY_MS: '500' } })
  admin = adminClient(adminPort(connA))
}

async function client (c: RunningConnector, token: string, listener = 'main'): Promise<Plugin> {
  const plugin = btpClient(c.url(token, listener))
  plugins.push(plugin)
  await plugin.connect()
  return plugin
}

/** A receiver that fulfils the one condition it is told about and records what it got. */
function fulfilling (plugin: Plugin, fulfillment: Buffer): IlpPacket.IlpPrepare[] {
  const got: IlpPacket.IlpPrepare[] = []
  plugin.registerDataHandler(async data => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    got.push(p)
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })
  return got
}

let lastFulfillment: Buffer
async function pay (from: Plugin, to: Plugin, destination: string, amount: string): Promise<ReturnType<typeof parseReply>> {
  const { fulfillment, condition } = newFulfillment()
  lastFulfillment = fulfillment
  to.deregisterDataHandler()
  fulfilling(to, fulfillment)
  return parseReply(await from.sendData(prepare(destination, amount, { condition })))
}

/** alice's history as "<amount> <source>→<nextHop> <state>", newest first. */
async function aliceHistory (client: AdminClient = admin): Promise<string[]> {
  const r = await client.call('GET', '/accounts/alice/transfers')
  expect(r.status).toBe(200)
  return r.body.transfers.map((t: { amount: string; source: string; nextHop: string; state: string }) => `${t.amount} ${t.source}→${t.nextHop} ${t.state}`)
}

beforeAll(async () => {
  cwdA = tempDir()
  connB = await startConnector({ config: configB() })
  await startA()
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await Promise.all([connA, connB].map(async c => await within(c.stop('SIGKILL'), 3000)))
})

describe('authentication', () => {
  test('every call but /healthz needs the admin token', async () => {
    const missing = await admin.call('GET', '/accounts', undefined, { token: null })
    expect(missing.status).toBe(401)
    expect(missing.body.error).toMatch(/missing admin token/)
    const wrong = await admin.call('GET', '/accounts', undefined, { token: 'not-the-admin-token-at-all' })
    expect(wrong.status).toBe(401)
    expect(wrong.body.error).toBe('wrong admin token')
    // Even an unknown path says nothing without the token.
    expect((await admin.call('GET', '/nope', undefined, { token: null })).status).toBe(401)
    const health = await admin.call('GET', '/healthz', undefined, { token: null })
    expect(health.status).toBe(200)
    expect(health.body).toEqual({ status: 'ok' })
  })

  test('status: address, version, uptime, links', async () => {
    const s = await admin.call('GET', '/status')
    expect(s.status).toBe(200)
    expect(s.body.address).toBe('test.a')
    expect(s.body.version).toBe('0.1.0') // package.json
    expect(s.body.uptimeSeconds).toBeGreaterThanOrEqual(0)
    // One configured account (carol), not connected.
    expect(s.body.links).toEqual({ up: 0, down: 1, accounts: [{ account: 'carol', up: false, connections: 0 }] })
  })
})

describe('accounts at run time', () => {
  const alice = { id: 'alice', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: ALICE_TOKEN } }

  test('bad input is refused with a message naming the field, and nothing is applied', async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ ...alice, colour: 'red' }, 400, /^colour: unknown field/],
      [{ ...alice, assetScale: 'nine' }, 400, /^assetScale: must be an integer/],
      [{ ...alice, id: 'has space' }, 400, /^id: must be 1 to 64 letters/],
      [{ ...alice, link: { type: 'plugin', module: 'x' } }, 400, /^link.type: must be one of "btp-server", "btp-client"/],
      [{ ...alice, link: { type: 'btp-server' } }, 400, /^link.token: is required/],
      [{ ...alice, minBalance: 5 }, 400, /^minBalance: must be an integer string/],
      [{ ...alice, minBalance: '10', maxBalance: '5' }, 400, /^minBalance: must be <= maxBalance/],
      [{ ...alice, link: { type: 'btp-server', token: ALICE_TOKEN, listener: 'other' } }, 400, /^link.listener: no listener named "other"/],
      [{ ...alice, id: 'carol' }, 409, /^id: an account named "carol" already exists/],
      [{ ...alice, link: { type: 'btp-server', token: PEER_TOKEN } }, 409, /^link.token: another account already has this token/]
    ]
    for (const [body, status, message] of cases) {
      const r = await admin.call('POST', '/accounts', body)
      expect({ body, status: r.status, error: r.body.error }).toEqual({ body, status, error: expect.stringMatching(message) })
    }
    const notJson = await admin.call('POST', '/accounts', undefined, { rawBody: '{"id": ' })
    expect(notJson.status).toBe(400)
    expect(notJson.body.error).toMatch(/^body: not valid JSON/)
    const list = await admin.call('GET', '/accounts')
    expect(list.body.map((a: { id: string }) => a.id)).toEqual(['carol'])
    expect((await admin.call('GET', '/audit')).body).toEqual([])
  })

  test('create: live at once; a BTP client opens it with its token and pays through it', async () => {
    const created = await admin.call('POST', '/accounts', alice)
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ id: 'alice', origin: 'api', address: 'test.a.alice', balance: '0', link: { type: 'btp-server', listener: 'main' } })
    expect(JSON.stringify(created.body)).not.toContain(ALICE_TOKEN)
    const again = await admin.call('POST', '/accounts', alice)
    expect(again.status).toBe(409)

    const a = await client(connA, ALICE_TOKEN)
    const c = await client(connA, PEER_TOKEN)
    expect(await ildcpAddress(a)).toBe('test.a.alice')
    const reply = await pay(a, c, 'test.a.carol', '1000')
    expect(reply.type).toBe('fulfill')
    // alice sent 1000 (she owes the connector 1000 more); carol received 1000 (the connector owes her).
    const balance = await admin.call('GET', '/accounts/alice/balance')
    expect(balance.body).toEqual({ account: 'alice', assetCode: 'XRP', assetScale: 9, balance: '1000', heldIncoming: '0', heldOutgoing: '0' })
    expect((await admin.call('GET', '/accounts/carol')).body.balance).toBe('-1000')
    const status = await admin.call('GET', '/status')
    expect(status.body.links.up).toBe(2)

    // The transfer: in alice's history, by id, and by its condition.
    const history = await admin.call('GET', '/accounts/alice/transfers')
    expect(history.body.next).toBeNull()
    expect(history.body.transfers).toHaveLength(1)
    const t = history.body.transfers[0]
    const condition = createHash('sha256').update(lastFulfillment).digest('hex')
    expect(t).toMatchObject({ state: 'fulfilled', source: 'alice', nextHop: 'carol', destination: 'test.a.carol', amount: '1000', executionCondition: condition, fulfillment: lastFulfillment.toString('hex') })
    expect(t.id).toMatch(/^\d{13}-\d+-1-alice$/) // alice's first packet
    expect((await admin.call('GET', `/transfers/${t.id}`)).body).toEqual(t)
    expect((await admin.call('GET', `/transfers?condition=${condition}`)).body).toEqual([t])
    expect((await admin.call('GET', '/accounts/carol/transfers')).body.transfers).toEqual([t])
  })

  test('balances: adjusted with a reason, through the account', async () => {
    const adjusted = await admin.call('POST', '/accounts/alice/balance/adjustments', { amount: '-400', reason: 'settled off-ledger' })
    expect(adjusted.status).toBe(200)
    expect(adjusted.body).toEqual({ account: 'alice', amount: '-400', reason: 'settled off-ledger', balance: '600' }) // 1000 − 400
    expect((await admin.call('POST', '/accounts/alice/balance/adjustments', { amount: '0', reason: 'x' })).body.error).toMatch(/^amount: must be a non-zero integer string/)
    expect((await admin.call('POST', '/accounts/alice/balance/adjustments', { amount: 5, reason: 'x' })).body.error).toMatch(/^amount: /)
    expect((await admin.call('POST', '/accounts/alice/balance/adjustments', { amount: '5' })).body.error).toMatch(/^reason: is required/)
    const missing = await admin.call('POST', '/accounts/nobody/balance/adjustments', { amount: '5', reason: 'x' })
    expect(missing.status).toBe(404)
    expect(missing.body.error).toBe('no account named "nobody"')
    expect((await admin.call('GET', '/accounts/alice/balance')).body.balance).toBe('600')
  })

  test('update: limits of an API account change at once; config accounts are refused', async () => {
    const updated = await admin.call('PATCH', '/accounts/alice', { maxPacketAmount: '500' })
    expect(updated.status).toBe(200)
    expect(updated.body.limits).toEqual({ maxPacketAmount: '500' })
    const a = plugins[0]
    const c = plugins[1]
    const tooBig = await pay(a, c, 'test.a.carol', '600')
    expect(tooBig).toMatchObject({ type: 'reject', code: 'F08' })
    expect((await pay(a, c, 'test.a.carol', '500')).type).toBe('fulfill')
    // 600 + 500
    expect((await admin.call('GET', '/accounts/alice/balance')).body.balance).toBe('1100')
    const config = await admin.call('PATCH', '/accounts/carol', { maxPacketAmount: '1' })
    expect(config.status).toBe(409)
    expect(config.body.error).toMatch(/defined in the config file/)
    expect((await admin.call('PATCH', '/accounts/alice', { relation: 'peer' })).body.error).toMatch(/^relation: unknown field/)
    expect((await admin.call('PATCH', '/accounts/alice', {})).status).toBe(400)
  })

  test('static routes: added, used, listed with the routing table; duplicates and config routes refused', async () => {
    const added = await admin.call('POST', '/routes', { prefix: 'g.partner', account: 'alice' })
    expect(added.status).toBe(201)
    expect((await admin.call('POST', '/routes', { prefix: 'g.partner', account: 'carol' })).status).toBe(409)
    expect((await admin.call('POST', '/routes', { prefix: 'g.other', account: 'nobody' })).status).toBe(404)
    expect((await admin.call('POST', '/routes', { prefix: 'not an address', account: 'alice' })).body.error).toMatch(/^prefix: must be an ILP address prefix/)
    const removeConfigured = await admin.call('DELETE', '/routes/g.configured')
    expect(removeConfigured.status).toBe(409)
    expect((await admin.call('DELETE', '/routes/g.never')).status).toBe(404)
    const routes = await admin.call('GET', '/routes')
    expect(routes.body.static).toEqual([
      { prefix: 'g.configured', account: 'carol', source: 'config' },
      { prefix: 'g.partner', account: 'alice', source: 'api' }
    ])
    expect(routes.body.table).toEqual(expect.arrayContaining([
      { prefix: 'g.partner', nextHop: 'alice', kind: 'static', best: true },
      { prefix: 'test.a.alice', nextHop: 'alice', kind: 'local', best: true }
    ]))
    // carol pays g.partner.shop: the route leads to alice.
    const a = plugins[0]
    const c = plugins[1]
    expect((await pay(c, a, 'g.partner.shop', '10')).type).toBe('fulfill')
  })

  test('a btp-client account made through the API dials its peer', async () => {
    const created = await admin.call('POST', '/accounts', {
      id: 'b', relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-client', url: `btp+ws://:${B_SECRET}@127.0.0.1:${connB.ports.default}` }
    })
    expect(created.status).toBe(201)
    expect(created.body.link).toEqual({ type: 'btp-client', url: `btp+ws://127.0.0.1:${connB.ports.default}` })
    expect((await admin.call('POST', '/routes', { prefix: 'test.b', account: 'b' })).status).toBe(201)
    await eventually(async () => (await admin.call('GET', '/accounts/b')).body.connections === 1 ? true : undefined, 5000)
    const onB = await client(connB, 'bob-on-b', 'default')
    const bobAddress = await ildcpAddress(onB)
    expect((await pay(plugins[0], onB, bobAddress, '7')).type).toBe('fulfill')
  })

  test('the audit log has every change, newest first, without secrets', async () => {
    const audit = await admin.call('GET', '/audit')
    expect(audit.body.map((e: { action: string; target: string }) => `${e.action} ${e.target}`)).toEqual([
      'route.add test.b', 'account.create b', 'route.add g.partner', 'account.update alice', 'balance.adjust alice', 'account.create alice'
    ])
    for (const e of audit.body) expect(e).toMatchObject({ who: 'admin', remote: '127.0.0.1', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) })
    expect(audit.text).not.toContain(ALICE_TOKEN)
    expect(audit.text).not.toContain(B_SECRET)
    expect(audit.body[5].details.link.token).toBe('(redacted)')
    expect((await admin.call('GET', '/audit?limit=2')).body.length).toBe(2)
    expect((await admin.call('GET', '/audit?limt=2')).body.error).toMatch(/^limt: unknown query parameter/)
  })
})

let aliceKey: string

describe('per-account API keys', () => {
  test('create (shown once), list (no secret), and what a key may do: its balance only', async () => {
    const created = await admin.call('POST', '/accounts/alice/keys', { label: 'wallet' })
    expect(created.status).toBe(201)
    expect(created.body.key).toMatch(/^mmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
    expect(created.body.key.slice(4, 20)).toBe(created.body.id)
    aliceKey = created.body.key
    const listed = await admin.call('GET', '/accounts/alice/keys')
    expect(listed.body).toEqual([{ id: created.body.id, account: 'alice', label: 'wallet', createdAt: created.body.createdAt }])
    expect(listed.text).not.toContain(aliceKey.slice(21))

    const asKey = adminClient(admin.port, aliceKey)
    expect(await aliceHistory(asKey)).toEqual(await aliceHistory())
    expect((await asKey.call('GET', '/accounts/carol/transfers')).status).toBe(403)
    const balance = await asKey.call('GET', '/accounts/alice/balance')
    expect(balance.status).toBe(200)
    expect(balance.body.balance).toBe('1097') // 1100 − 10 + 7 (see above)
    for (const [method, path] of [['GET', '/accounts/carol/balance'], ['GET', '/transfers?condition=' + '0'.repeat(64)], ['GET', '/accounts'], ['GET', '/accounts/alice'], ['GET', '/status'], ['GET', '/audit'], ['GET', '/accounts/alice/keys'], ['DELETE', '/accounts/alice'], ['GET', '/metrics']]) {
      const r = await asKey.call(method, path, undefined)
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 403 })
      expect(r.body.error).toMatch(/an API key may only read the balance and history of its own account \(alice\)/)
    }
    const adjust = await asKey.call('POST', '/accounts/alice/balance/adjustments', { amount: '-1000', reason: 'mine' })
    expect(adjust.status).toBe(403)
    expect((await admin.call('GET', '/accounts/alice/balance')).body.balance).toBe('1097')
  })

  test('bad input and revocation', async () => {
    expect((await admin.call('POST', '/accounts/nobody/keys', {})).status).toBe(404)
    expect((await admin.call('POST', '/accounts/alice/keys', { labl: 'x' })).body.error).toMatch(/^labl: unknown field/)
    const second = await admin.call('POST', '/accounts/alice/keys')
    expect(second.status).toBe(201)
    expect((await adminClient(admin.port, second.body.key).call('GET', '/accounts/alice/balance')).status).toBe(200)
    expect((await admin.call('DELETE', `/accounts/alice/keys/${second.body.id}`)).status).toBe(200)
    const revoked = await adminClient(admin.port, second.body.key).call('GET', '/accounts/alice/balance')
    expect(revoked.status).toBe(401)
    expect(revoked.body.error).toBe('unknown or revoked API key')
    expect((await admin.call('DELETE', `/accounts/alice/keys/${second.body.id}`)).status).toBe(404)
    // A forged key with a real id but another secret.
    const forged = `${aliceKey.slice(0, 21)}${'A'.repeat(43)}`
    expect((await adminClient(admin.port, forged).call('GET', '/accounts/alice/balance')).status).toBe(401)
    expect((await admin.call('GET', '/accounts/alice/keys')).body).toHaveLength(1)
  })
})

describe('restart and removal', () => {
  test('after a restart: accounts, limits, balances, routes, audit and the dialled link are back', async () => {
    for (const p of plugins.splice(0)) await within(p.disconnect(), 2000)
    expect(await connA.stop()).toBe(0)
    await startA()
    const alice = await admin.call('GET', '/accounts/alice')
    // 1100, − 10 (carol paid her 10 through g.partner: the connector owes her that), + 7 (she paid bob on B).
    expect(alice.body).toMatchObject({ origin: 'api', balance: String(1100 - 10 + 7), limits: { maxPacketAmount: '500' } })
    expect((await admin.call('GET', '/routes')).body.static.map((r: { prefix: string }) => r.prefix)).toEqual(['g.configured', 'g.partner', 'test.b'])
    // 6 changes before the keys, then 2 keys created and 1 revoked.
    expect((await admin.call('GET', '/audit')).body.length).toBe(9)
    expect((await adminClient(admin.port, aliceKey).call('GET', '/accounts/alice/balance')).body.balance).toBe('1097')
    await eventually(async () => (await admin.call('GET', '/accounts/b')).body.connections === 1 ? true : undefined, 5000)
    const a = await client(connA, ALICE_TOKEN)
    expect(await ildcpAddress(a)).toBe('test.a.alice')
    // Her history: the F08 was refused before it was forwarded, so it has no transfer.
    expect(await aliceHistory()).toEqual(['7 alice→b fulfilled', '10 carol→alice fulfilled', '500 alice→carol fulfilled', '1000 alice→carol fulfilled'])
  })

  test('delete: the link closes, packets to it get F02, its routes are withdrawn; config accounts refused', async () => {
    const a = plugins[0]
    const c = await client(connA, PEER_TOKEN)
    // It has a balance (1097): refused unless forced.
    const refusedWithBalance = await admin.call('DELETE', '/accounts/alice')
    expect(refusedWithBalance.status).toBe(409)
    expect(refusedWithBalance.body.error).toMatch(/balance of 1097.*force/)
    expect((await admin.call('DELETE', '/accounts/alice?force=maybe')).status).toBe(400)
    const removed = await admin.call('DELETE', '/accounts/alice?force=true')
    expect(removed.status).toBe(200)
    expect(removed.body).toEqual({ id: 'alice', removed: true, balance: '1097' })
    await eventually(async () => (await admin.call('GET', '/status')).body.links.accounts.find((l: { account: string }) => l.account === 'alice') === undefined ? true : undefined, 3000)
    await eventually(() => a.isConnected() ? undefined : true, 3000)
    expect(await pay(c, a, 'test.a.alice', '1')).toMatchObject({ type: 'reject', code: 'F02' })
    expect(await pay(c, a, 'g.partner.shop', '1')).toMatchObject({ type: 'reject', code: 'F02' })
    expect((await admin.call('GET', '/accounts/alice')).status).toBe(404)
    expect((await admin.call('DELETE', '/accounts/alice')).status).toBe(404)
    // Its id is not given to a new account (its history is kept under it).
    const again = await admin.call('POST', '/accounts', { id: 'alice', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'another-token-for-alice' } })
    expect(again.status).toBe(409)
    expect(again.body.error).toMatch(/belonged to an account that was removed/)
    expect((await admin.call('GET', '/routes')).body.static.map((r: { prefix: string }) => r.prefix)).toEqual(['g.configured', 'test.b'])
    const table = (await admin.call('GET', '/routes')).body.table as Array<{ nextHop: string }>
    expect(table.filter(r => r.nextHop === 'alice')).toEqual([])
    const carol = await admin.call('DELETE', '/accounts/carol')
    expect(carol.status).toBe(409)
    expect(carol.body.error).toMatch(/defined in the config file/)
    // Its history stays readable.
    expect(await aliceHistory()).toEqual(['7 alice→b fulfilled', '10 carol→alice fulfilled', '500 alice→carol fulfilled', '1000 alice→carol fulfilled'])
    expect((await admin.call('GET', '/accounts/never-existed/transfers')).status).toBe(404)
    // Its keys were revoked with it.
    expect((await adminClient(admin.port, aliceKey).call('GET', '/accounts/alice/balance')).status).toBe(401)
    // Its token opens nothing any more (the listener has no local mode): the auth is answered with a BTP ERROR.
    const raw = await rawBtp(connA.ports.main)
    raw.send(btpAuthFrame(1, ALICE_TOKEN))
    expect(readBtpFrame(await raw.next())).toMatchObject({ type: 2, requestId: 1, code: 'F00' })
    raw.close()
  })

  test('a removed account stays removed after a restart', async () => {
    for (const p of plugins.splice(0)) await within(p.disconnect(), 2000)
    expect(await connA.stop()).toBe(0)
    await startA()
    expect((await admin.call('GET', '/accounts')).body.map((a: { id: string }) => a.id)).toEqual(['b', 'carol'])
    expect((await admin.call('GET', '/audit?limit=1')).body[0]).toMatchObject({ action: 'account.delete', target: 'alice', details: { balance: '1097' } })
    expect((await aliceHistory()).length).toBe(4)
  })
})
