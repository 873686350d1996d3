/**
 * The CLI (`metamorphosis-admin`, dist/src/cli/main.js) run as a real process against the real
 * connector: --help on every command, tables by default, --json for scripts, and a non-zero exit with
 * one clear line on errors (a conflict, a missing account, a wrong or missing token, no connector).
 */
import { spawn } from 'child_process'
import net from 'net'
import path from 'path'
import * as IlpPacket from 'ilp-packet'
import { startConnector, freePort, eventually, RunningConnector, ROOT } from '../helpers/connectorProcess'
import { btpClient, newFulfillment, prepare, parseReply, within, Plugin } from '../helpers/ilp'
import { adminPort, ADMIN_TOKEN } from '../helpers/admin'

const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js')
let conn: RunningConnector
let url: string
const plugins: Plugin[] = []

interface Run { code: number | null; stdout: string; stderr: string }

async function cli (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', METAMORPHOSIS_ADMIN_URL: url, METAMORPHOSIS_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  return { code, stdout, stderr }
}

beforeAll(async () => {
  conn = await startConnector({
    config: {
      ilpAddress: 'test.c',
      listeners: { main: { host: '127.0.0.1', port: 0 } },
      accounts: { carol: { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'carol-cli-token' } } },
      admin: { enabled: true, port: 0, token: ADMIN_TOKEN }
    }
  })
  url = `http://127.0.0.1:${adminPort(conn)}`
})

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await conn.stop('SIGKILL')
})

test('--help on every command', async () => {
  const commands = [[], ['status'], ['accounts'], ['accounts', 'list'], ['accounts', 'show'], ['accounts', 'add'], ['accounts', 'update'], ['accounts', 'remove'],
    ['balances'], ['adjust'], ['routes'], ['routes', 'list'], ['routes', 'add'], ['routes', 'remove'], ['audit'], ['transfer'], ['history']]
  for (const command of commands) {
    const r = await cli([...command, '--help'])
    expect({ command, code: r.code }).toEqual({ command, code: 0 })
    expect(r.stdout).toContain(`Usage: metamorphosis-admin ${command.join(' ')}`.trimEnd())
  }
})

test('accounts: add, list (table and JSON), show, remove', async () => {
  const added = await cli(['accounts', 'add', 'alice', '--relation', 'child', '--asset', 'XRP', '--scale', '9', '--token', 'alice-cli-token', '--max-packet-amount', '1000'])
  expect(added).toEqual({ code: 0, stdout: 'account alice created (address test.c.alice)\n', stderr: '' })

  const table = await cli(['accounts', 'list'])
  expect(table.code).toBe(0)
  const lines = table.stdout.trimEnd().split('\n')
  expect(lines[0].split(/\s+/)).toEqual(['ID', 'ORIGIN', 'RELATION', 'ASSET', 'BALANCE', 'LINK', 'UP', 'ADDRESS'])
  expect(lines.slice(1).map(l => l.split(/\s+/).slice(0, 5))).toEqual([['alice', 'api', 'child', 'XRP/9', '0'], ['carol', 'config', 'peer', 'XRP/9', '0']])

  const json = await cli(['accounts', 'list', '--json'])
  expect(JSON.parse(json.stdout).map((a: { id: string }) => a.id)).toEqual(['alice', 'carol'])
  const shown = JSON.parse((await cli(['--json', 'accounts', 'show', 'alice'])).stdout)
  expect(shown).toMatchObject({ id: 'alice', limits: { maxPacketAmount: '1000' } })

  const again = await cli(['accounts', 'add', 'alice', '--relation', 'child', '--asset', 'XRP', '--scale', '9', '--token', 'other-token'])
  expect(again).toEqual({ code: 1, stdout: '', stderr: 'metamorphosis-admin: id: an account named "alice" already exists (HTTP 409)\n' })
  const bad = await cli(['accounts', 'add', 'bob', '--relation', 'cousin', '--asset', 'XRP', '--scale', '9', '--token', 'bob-token'])
  expect(bad.code).toBe(1)
  expect(bad.stderr).toMatch(/^metamorphosis-admin: relation: must be one of "parent", "peer", "child" \(got "cousin"\) \(HTTP 400\)\n$/)
  const noLink = await cli(['accounts', 'add', 'bob', '--relation', 'child', '--asset', 'XRP', '--scale', '9'])
  expect(noLink.code).toBe(2)
  expect(noLink.stderr).toMatch(/give --token/)
})

test('balances and adjustments', async () => {
  const adjusted = await cli(['adjust', 'alice', '--', '-250', '--reason', 'refund'])
  // Options after "--" are arguments: give the reason first.
  expect(adjusted.code).not.toBe(0)
  const ok = await cli(['adjust', 'alice', '--reason', 'refund', '--', '-250'])
  expect(ok).toEqual({ code: 0, stdout: 'balance of alice is now -250\n', stderr: '' })
  const one = JSON.parse((await cli(['balances', 'alice', '--json'])).stdout)
  expect(one).toMatchObject({ account: 'alice', balance: '-250' })
  const all = await cli(['balances'])
  expect(all.stdout.split('\n')[1].split(/\s+/).slice(0, 2)).toEqual(['alice', '-250'])
  const missing = await cli(['balances', 'nobody'])
  expect(missing).toEqual({ code: 1, stdout: '', stderr: 'metamorphosis-admin: no account named "nobody" (HTTP 404)\n' })
})

test('routes: add, list, remove', async () => {
  expect((await cli(['routes', 'add', 'g.partner', 'alice'])).stdout).toBe('route g.partner → alice added\n')
  const listed = JSON.parse((await cli(['routes', 'list', '--json'])).stdout)
  expect(listed.static).toEqual([{ prefix: 'g.partner', account: 'alice', source: 'api' }])
  const human = await cli(['routes', 'list'])
  expect(human.stdout).toMatch(/^g\.partner\s+alice\s+api$/m)
  expect((await cli(['routes', 'remove', 'g.partner'])).stdout).toBe('route g.partner removed\n')
  expect((await cli(['routes', 'remove', 'g.partner'])).stderr).toBe('metamorphosis-admin: no static route for "g.partner" (HTTP 404)\n')
})

test('transfers: history of an account (table, JSON, --follow) and a lookup by id and by condition', async () => {
  const alice = btpClient(conn.url('alice-cli-token', 'main'))
  const carol = btpClient(conn.url('carol-cli-token', 'main'))
  plugins.push(alice, carol)
  await Promise.all([alice.connect(), carol.connect()])
  const { fulfillment, condition } = newFulfillment()
  carol.registerDataHandler(async () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }))
  // carol is a peer (no address of ours): a route to her.
  expect((await cli(['routes', 'add', 'g.carol', 'carol'])).code).toBe(0)
  expect(parseReply(await alice.sendData(prepare('g.carol.shop', '42', { condition }))).type).toBe('fulfill')
  expect(parseReply(await alice.sendData(prepare('g.carol.shop', '43', { condition }))).type).toBe('fulfill')

  const json = JSON.parse((await cli(['history', 'alice', '--json'])).stdout)
  expect(json.map((t: { amount: string; state: string }) => `${t.amount} ${t.state}`)).toEqual(['42 fulfilled', '43 fulfilled']) // oldest first, like tail
  const human = await cli(['history', 'alice'])
  expect(human.stdout.split('\n')[0].split(/\s+/)).toEqual(['PREPARED', 'ID', 'FROM', 'TO', 'AMOUNT', 'DESTINATION', 'STATE', 'CODE'])
  expect(human.stdout).toMatch(/\salice\s+carol\s+42\s+g\.carol\.shop\s+fulfilled/)

  const one = JSON.parse((await cli(['transfer', json[0].id, '--json'])).stdout)
  expect(one).toEqual(json[0])
  const byCondition = JSON.parse((await cli(['transfer', '--condition', condition.toString('hex'), '--json'])).stdout)
  expect(byCondition.map((t: { amount: string }) => t.amount)).toEqual(['43', '42'])
  expect((await cli(['transfer', 'no-such-id'])).stderr).toMatch(/^metamorphosis-admin: no transfer with id "no-such-id".*\(HTTP 404\)\n$/)
  expect((await cli(['transfer'])).code).toBe(2)

  // --follow: the two so far, then a new one as it happens.
  const follow = spawn(process.execPath, [CLI, 'history', 'alice', '--follow'], {
    env: { PATH: process.env.PATH ?? '', METAMORPHOSIS_ADMIN_URL: url, METAMORPHOSIS_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let followed = ''
  follow.stdout.on('data', (c: Buffer) => { followed += c.toString() })
  try {
    await eventually(() => followed.split('\n').length > 2 ? true : undefined, 5000)
    expect(parseReply(await alice.sendData(prepare('g.carol.shop', '44', { condition }))).type).toBe('fulfill')
    await eventually(() => /\s44\s+g\.carol\.shop\s+fulfilled/.test(followed) ? true : undefined, 5000)
    // <prepared at> <id> <from> → <to> <amount> ...
    expect(followed.trimEnd().split('\n').map(l => l.split(/\s+/)[5])).toEqual(['42', '43', '44'])
  } finally {
    follow.kill()
  }
  for (const p of plugins.splice(0)) await within(p.disconnect(), 2000)
})

test('remove an account; the audit log shows what was done', async () => {
  // -250, then 42 + 43 + 44 paid: a balance of -121, so removing it needs --force.
  const withBalance = await cli(['accounts', 'remove', 'alice'])
  expect(withBalance.code).toBe(1)
  expect(withBalance.stderr).toMatch(/has a balance of -121.*force.*\(HTTP 409\)/)
  expect((await cli(['accounts', 'remove', 'alice', '--force'])).stdout).toBe(`account alice removed (last balance ${-250 + 42 + 43 + 44})\n`)
  expect((await cli(['accounts', 'show', 'alice'])).code).toBe(1)
  const refused = await cli(['accounts', 'remove', 'carol'])
  expect(refused.code).toBe(1)
  expect(refused.stderr).toMatch(/defined in the config file.*\(HTTP 409\)/)
  const audit = JSON.parse((await cli(['audit', '--json', '--limit', '10'])).stdout)
  expect(audit.map((e: { action: string }) => e.action)).toEqual(['account.delete', 'route.add', 'route.remove', 'route.add', 'balance.adjust', 'account.create'])
})

test('errors: wrong token, no token, no connector, unknown command', async () => {
  expect(await cli(['status'], { METAMORPHOSIS_ADMIN_TOKEN: 'wrong-token-wrong-token' })).toEqual({ code: 1, stdout: '', stderr: 'metamorphosis-admin: wrong admin token (HTTP 401)\n' })
  const noToken = await cli(['status'], { METAMORPHOSIS_ADMIN_TOKEN: '' })
  expect(noToken.code).toBe(2)
  expect(noToken.stderr).toMatch(/no admin token/)
  const port = await freePort()
  const down = await cli(['status'], { METAMORPHOSIS_ADMIN_URL: `http://127.0.0.1:${port}` })
  expect(down).toEqual({ code: 1, stdout: '', stderr: `metamorphosis-admin: cannot reach the admin API at http://127.0.0.1:${port}: ECONNREFUSED\n` })
  const unknown = await cli(['acounts', 'list'])
  expect(unknown.code).not.toBe(0)
  expect(unknown.stderr).toMatch(/unknown command 'acounts'/)
  const status = await cli(['status'])
  expect(status.code).toBe(0)
  expect(status.stdout).toMatch(/^address\s+test\.c$/m)
})

test('a connector that accepts the connection but never answers: the CLI gives up after --timeout, with a clear message (found in a trial)', async () => {
  const silent = net.createServer(() => { /* accept, never answer */ })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  const port = (silent.address() as { port: number }).port
  try {
    const started = Date.now()
    const r = await cli(['status', '--timeout', '1'], { METAMORPHOSIS_ADMIN_URL: `http://127.0.0.1:${port}` })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no answer from the admin API at http:\/\/127\.0\.0\.1:\d+ within 1 s/)
    expect(Date.now() - started).toBeLessThan(8000)
    expect((await cli(['status', '--timeout', 'soon'])).stderr).toMatch(/--timeout: must be a number of seconds/)
  } finally {
    silent.close()
  }
})
