/**
 * Prometheus metrics scraped from the real process after real traffic: packets by account, outcome and
 * reject code, latency histograms, balances, links, routing table size, event-loop lag; the account
 * label stays bounded under a flood of new local-mode accounts rejected to random destinations; and
 * metrics on a listener of their own.
 */
import { randomBytes } from 'crypto'
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import { btpClient, newFulfillment, prepare, parseReply, within, rawBtp, btpAuthFrame, btpIlpMessage, readBtpFrame, Plugin } from '../helpers/ilp'
import { adminClient, adminPort, AdminClient, ADMIN_TOKEN } from '../helpers/admin'

const CAROL_TOKEN = 'carol-metrics-token'
const ALICE_TOKEN = 'alice-metrics-token'
const FLOOD = 40

let conn: RunningConnector
let admin: AdminClient
const plugins: Plugin[] = []

function config (metricsPort?: number): unknown {
  return {
    ilpAddress: 'test.m',
    listeners: { main: { host: '127.0.0.1', port: 0, localAccounts: { enabled: true } } },
    accounts: { carol: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: CAROL_TOKEN } } },
    admin: { enabled: true, port: 0, token: ADMIN_TOKEN, ...(metricsPort === undefined ? {} : { metricsPort }) }
  }
}

/** Prometheus text format → { 'name{labels}': value } (labels as written by prom-client). */
function parseMetrics (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    out.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return out
}

function series (metrics: Map<string, number>, name: string): string[] {
  return [...metrics.keys()].filter(k => k === name || k.startsWith(`${name}{`))
}

async function scrape (): Promise<Map<string, number>> {
  const r = await admin.call('GET', '/metrics')
  expect(r.status).toBe(200)
  return parseMetrics(r.text)
}

beforeAll(async () => {
  conn = await startConnector({ config: config() })
  admin = adminClient(adminPort(conn))
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await within(conn.stop('SIGKILL'), 3000)
})

test('/metrics needs the admin token', async () => {
  const r = await admin.call('GET', '/metrics', undefined, { token: null })
  expect(r.status).toBe(401)
})

test('counts after traffic: packets by outcome and code, latency, balances, links, routes', async () => {
  expect((await admin.call('POST', '/accounts', { id: 'alice', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: ALICE_TOKEN } })).status).toBe(201)
  const alice = btpClient(conn.url(ALICE_TOKEN, 'main'))
  const carol = btpClient(conn.url(CAROL_TOKEN, 'main'))
  plugins.push(alice, carol)
  await Promise.all([alice.connect(), carol.connect()])
  // carol fulfils conditions she knows, rejects F99 for "reject-known" and F42 (not an RFC code) for "reject-odd".
  const known = new Map<string, Buffer>()
  carol.registerDataHandler(async data => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    const fulfillment = known.get(p.executionCondition.toString('hex'))
    if (p.destination.endsWith('reject-known')) return IlpPacket.serializeIlpReject({ code: 'F99', triggeredBy: 'test.m.carol', message: 'no', data: Buffer.alloc(0) })
    if (p.destination.endsWith('reject-odd')) return IlpPacket.serializeIlpReject({ code: 'F42', triggeredBy: 'test.m.carol', message: 'odd', data: Buffer.alloc(0) })
    if (fulfillment === undefined) throw new Error('unexpected packet')
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  })
  const outcomes: string[] = []
  const send = async (destination: string): Promise<void> => {
    const { fulfillment, condition } = newFulfillment()
    known.set(condition.toString('hex'), fulfillment)
    const r = parseReply(await alice.sendData(prepare(destination, '100', { condition })))
    outcomes.push(r.type === 'fulfill' ? 'fulfilled' : r.code)
  }
  for (let i = 0; i < 3; i++) await send('test.m.carol')
  await send('test.m.carol.reject-known')
  await send('test.m.carol.reject-odd')
  await send('test.m.nobody-here')
  await send('g.nowhere')
  expect(outcomes).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'F99', 'F42', 'F02', 'F02'])

  const m = await scrape()
  expect(m.get('ilp_packets_total{account="alice",outcome="fulfilled",code=""}')).toBe(3)
  expect(m.get('ilp_packets_total{account="alice",outcome="rejected",code="F99"}')).toBe(1)
  expect(m.get('ilp_packets_total{account="alice",outcome="rejected",code="F.."}')).toBe(1) // F42 folded into its class
  expect(m.get('ilp_packets_total{account="alice",outcome="rejected",code="F02"}')).toBe(2)
  expect(series(m, 'ilp_packets_total')).toHaveLength(4)
  // Forwarded packets only: 3 fulfilled, 2 rejected by carol (the F02s never left).
  expect(m.get('ilp_packet_duration_seconds_count{outcome="fulfilled"}')).toBe(3)
  expect(m.get('ilp_packet_duration_seconds_count{outcome="rejected"}')).toBe(2)
  // 3 × 100 fulfilled: alice owes 300, the connector owes carol 300.
  expect(m.get('ilp_account_balance{account="alice"}')).toBe(300)
  expect(m.get('ilp_account_balance{account="carol"}')).toBe(-300)
  expect(m.get('ilp_links_up{account="alice"}')).toBe(1)
  expect(m.get('ilp_links_up{account="carol"}')).toBe(1)
  expect(m.get('ilp_accounts{origin="config"}')).toBe(1)
  expect(m.get('ilp_accounts{origin="api"}')).toBe(1)
  // Prefixes: test.m.carol and test.m.alice (local routes of the two children) and test.m (our own address).
  expect(m.get('ilp_routing_table_prefixes')).toBe(3)
  expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true)
})

test('bounded labels: a flood of new local-mode accounts rejected to random destinations adds no series', async () => {
  const before = await scrape()
  for (let i = 0; i < FLOOD; i++) {
    const raw = await rawBtp(conn.ports.main)
    raw.send(btpAuthFrame(1, `flood-${randomBytes(8).toString('hex')}`))
    expect(readBtpFrame(await raw.next()).type).toBe(1) // RESPONSE: a new local account
    raw.send(btpIlpMessage(2, prepare(`g.random${randomBytes(6).toString('hex')}.x${i}`, '1')))
    const reply = readBtpFrame(await raw.next())
    expect(parseReply(reply.ilp as Buffer)).toMatchObject({ type: 'reject', code: 'F02' })
    raw.close()
  }
  const after = await scrape()
  expect(after.get('ilp_packets_total{account="local",outcome="rejected",code="F02"}')).toBe(FLOOD)
  // One new series (account="local", F02) for all of them; the other metrics' label sets grow by "local" at most.
  expect(series(after, 'ilp_packets_total').length).toBe(series(before, 'ilp_packets_total').length + 1)
  expect(series(after, 'ilp_account_balance')).toEqual(expect.arrayContaining(['ilp_account_balance{account="local"}']))
  expect(series(after, 'ilp_account_balance')).toHaveLength(3)
  expect(series(after, 'ilp_links_up')).toHaveLength(3)
  expect(after.get('ilp_accounts{origin="local"}')).toBe(FLOOD)
  expect(after.get('ilp_routing_table_prefixes')).toBe(3 + FLOOD)
  const all = [...after.keys()].join('\n')
  expect(all).not.toMatch(/g\.random/)
  expect(all).not.toMatch(/account="l[0-9a-f]/)
})

test('metrics on a listener of their own need no token; the admin API then has no /metrics', async () => {
  const other = await startConnector({ config: config(0) })
  try {
    const line = other.logs.find(l => l.msg === 'connector started')
    const metricsPort = line?.metrics as number
    expect(typeof metricsPort).toBe('number')
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(res.status).toBe(200)
    expect(parseMetrics(await res.text()).get('ilp_accounts{origin="config"}')).toBe(1)
    expect((await fetch(`http://127.0.0.1:${metricsPort}/status`)).status).toBe(404)
    expect((await adminClient(adminPort(other)).call('GET', '/metrics')).status).toBe(404)
  } finally {
    expect(await other.stop()).toBe(0)
  }
})
