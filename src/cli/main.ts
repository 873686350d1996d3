#!/usr/bin/env node
/**
 * `metamorphosis-admin`: the operator's command line, a thin client of the admin API
 * (docs/admin-api.yaml). Human-readable tables by default, `--json` for scripts; any failure exits
 * non-zero with one line on stderr saying what went wrong.
 */
import { Command, Option } from 'commander'
import { table, details } from './table'

interface Globals {
  url: string
  adminToken?: string
  json?: boolean
  timeout: string
}

/** A failure to report: its message goes to stderr, the process exits with `code`. */
class CliError extends Error {
  constructor (message: string, readonly code = 1) { super(message) }
}

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

async function call (g: Globals, method: string, path: string, body?: unknown): Promise<Json> {
  if (g.adminToken === undefined || g.adminToken === '') throw new CliError('no admin token: set METAMORPHOSIS_ADMIN_TOKEN (or pass --admin-token)', 2)
  const url = g.url.replace(/\/+$/, '') + path
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${g.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A connector that accepts the connection but never answers must not hang a script.
      signal: AbortSignal.timeout(timeoutMs(g))
    })
  } catch (err) {
    if ((err as { name?: string }).name === 'TimeoutError') throw new CliError(`no answer from the admin API at ${g.url} within ${timeoutMs(g) / 1000} s`)
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    throw new CliError(`cannot reach the admin API at ${g.url}: ${cause?.code ?? cause?.message ?? String(err)}`)
  }
  const text = await res.text()
  let parsed: Json
  try { parsed = text === '' ? undefined : JSON.parse(text) } catch { parsed = undefined }
  if (!res.ok) throw new CliError(`${(parsed as { error?: string } | undefined)?.error ?? text.trim()} (HTTP ${res.status})`)
  return parsed
}

function timeoutMs (g: Globals): number {
  const seconds = Number(g.timeout)
  if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(`--timeout: must be a number of seconds > 0 (got ${JSON.stringify(g.timeout)})`, 2)
  return seconds * 1000
}

function globals (cmd: Command): Globals {
  return cmd.optsWithGlobals<Globals>()
}

function out (g: Globals, value: unknown, human: () => string): void {
  process.stdout.write(g.json === true ? JSON.stringify(value, null, 2) + '\n' : human())
}

/** Runs an action; errors become a message and an exit code. */
function action<A extends unknown[]> (fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      const code = err instanceof CliError ? err.code : 1
      process.stderr.write(`metamorphosis-admin: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = code
    }
  }
}

function accountRows (accounts: Json[]): string {
  return table(
    ['ID', 'ORIGIN', 'RELATION', 'ASSET', 'BALANCE', 'LINK', 'UP', 'ADDRESS'],
    accounts.map(a => [a.id, a.origin, a.relation, `${a.assetCode}/${a.assetScale}`, a.balance, a.link?.type === 'btp-client' ? `dials ${a.link.url}` : a.link === undefined ? undefined : `listener ${a.link.listener}`, a.connections > 0 ? 'up' : 'down', a.address])
  )
}

export function program (): Command {
  const root = new Command()
    .name('metamorphosis-admin')
    .description('Manage a running Metamorphosis connector through its admin API.')
    .addOption(new Option('--url <url>', 'admin API base URL').env('METAMORPHOSIS_ADMIN_URL').default('http://127.0.0.1:7769'))
    .addOption(new Option('--timeout <seconds>', 'give up when the admin API has not answered by then').default('10'))
    .addOption(new Option('--admin-token <token>', 'admin token (prefer the environment variable: a command line is visible to other users)').env('METAMORPHOSIS_ADMIN_TOKEN'))
    .option('--json', 'print the API\'s JSON instead of tables (for scripts)')
    .showHelpAfterError()
    .addHelpText('after', '\nExamples:\n  export METAMORPHOSIS_ADMIN_TOKEN=...\n  metamorphosis-admin accounts list\n  metamorphosis-admin accounts add alice --relation child --asset XRP --scale 9 --token ALICE_SECRET\n  metamorphosis-admin routes add g.partner alice\n  metamorphosis-admin balances --json')

  root.command('status').description('address, version, uptime, links up and down').action(action(async (_opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const s = await call(g, 'GET', '/status')
    out(g, s, () => details([['address', s.address], ['version', s.version], ['state', s.state], ['uptime', `${s.uptimeSeconds} s`], ['accounts', s.accounts], ['links up', s.links.up], ['links down', s.links.down], ['routes', s.routes], ['in flight', s.packetsInFlight]]))
  }))

  const accounts = root.command('accounts').description('list, show, add, update and remove accounts')
  accounts.command('list').description('every account with its balance and link').action(action(async (_opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const list = await call(g, 'GET', '/accounts') as Json[]
    out(g, list, () => accountRows(list))
  }))
  accounts.command('show').description('one account').argument('<id>').action(action(async (id: string, _opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const a = await call(g, 'GET', `/accounts/${encodeURIComponent(id)}`)
    out(g, a, () => details(Object.entries(a)))
  }))
  accounts.command('add').description('create an account (live at once, kept across restarts)').argument('<id>')
    .requiredOption('--relation <relation>', 'parent, peer or child')
    .requiredOption('--asset <code>', 'asset code, e.g. XRP')
    .requiredOption('--scale <n>', 'asset scale, e.g. 9', parseInteger)
    .option('--token <token>', 'btp-server: the token the peer connects with')
    .option('--listener <name>', 'btp-server: the listener (when there are several)')
    .option('--dial <url>', 'btp-client: the btp+ws(s):// URL to dial (the token as its password, or --token)')
    .option('--min-balance <amount>').option('--max-balance <amount>').option('--max-packet-amount <amount>')
    .action(action(async (id: string, o: { relation: string; asset: string; scale: number; token?: string; listener?: string; dial?: string; minBalance?: string; maxBalance?: string; maxPacketAmount?: string }, cmd: Command) => {
      const g = globals(cmd)
      if (o.dial === undefined && o.token === undefined) throw new CliError('give --token (the peer connects to us) or --dial URL (we connect to the peer)', 2)
      const link = o.dial !== undefined
        ? { type: 'btp-client', url: o.dial, ...(o.token === undefined ? {} : { token: o.token }) }
        : { type: 'btp-server', token: o.token, ...(o.listener === undefined ? {} : { listener: o.listener }) }
      const body = { id, relation: o.relation, assetCode: o.asset, assetScale: o.scale, link, ...defined({ minBalance: o.minBalance, maxBalance: o.maxBalance, maxPacketAmount: o.maxPacketAmount }) }
      const a = await call(g, 'POST', '/accounts', body)
      out(g, a, () => `account ${a.id} created${a.address !== undefined ? ` (address ${a.address})` : ''}\n`)
    }))
  accounts.command('update').description('change an account\'s limits ("none" removes one)').argument('<id>')
    .option('--min-balance <amount>').option('--max-balance <amount>').option('--max-packet-amount <amount>')
    .option('--packets-per-second <n>')
    .action(action(async (id: string, o: Record<string, string>, cmd: Command) => {
      const g = globals(cmd)
      const body: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(o)) body[k] = v === 'none' ? null : k === 'packetsPerSecond' ? parseInteger(v) : v
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give at least one option (see --help)', 2)
      const a = await call(g, 'PATCH', `/accounts/${encodeURIComponent(id)}`, body)
      out(g, a, () => `account ${a.id} updated: limits ${JSON.stringify(a.limits)}\n`)
    }))
  accounts.command('remove').description('remove an account (its link closes, its routes go); refused while its balance is not 0, unless --force')
    .argument('<id>').option('--force', 'remove it even with a balance or packets in flight (that money is written off)')
    .action(action(async (id: string, opts: { force?: boolean }, cmd: Command) => {
    const g = globals(cmd)
    const r = await call(g, 'DELETE', `/accounts/${encodeURIComponent(id)}${opts.force === true ? '?force=true' : ''}`)
    out(g, r, () => `account ${id} removed (last balance ${r.balance})\n`)
  }))

  root.command('balances').description('balances of every account, or of one').argument('[id]').action(action(async (id: string | undefined, _opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    if (id !== undefined) {
      const b = await call(g, 'GET', `/accounts/${encodeURIComponent(id)}/balance`)
      out(g, b, () => table(['ACCOUNT', 'BALANCE', 'HELD IN', 'HELD OUT', 'ASSET'], [[b.account, b.balance, b.heldIncoming, b.heldOutgoing, `${b.assetCode}/${b.assetScale}`]]))
      return
    }
    const list = await call(g, 'GET', '/accounts') as Json[]
    const rows = list.map(a => ({ account: a.id, balance: a.balance, heldIncoming: a.heldIncoming, heldOutgoing: a.heldOutgoing, assetCode: a.assetCode, assetScale: a.assetScale }))
    out(g, rows, () => table(['ACCOUNT', 'BALANCE', 'HELD IN', 'HELD OUT', 'ASSET'], rows.map(b => [b.account, b.balance, b.heldIncoming, b.heldOutgoing, `${b.assetCode}/${b.assetScale}`])))
  }))
  root.command('adjust').description('add a signed amount to an account\'s balance, with a reason').argument('<id>').argument('<amount>', 'e.g. 500 or -500 (use -- before a negative amount)')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .action(action(async (id: string, amount: string, o: { reason: string }, cmd: Command) => {
      const g = globals(cmd)
      const r = await call(g, 'POST', `/accounts/${encodeURIComponent(id)}/balance/adjustments`, { amount, reason: o.reason })
      out(g, r, () => `balance of ${id} is now ${r.balance}\n`)
    }))

  const routes = root.command('routes').description('list, add and remove static routes')
  routes.command('list').description('static routes and the routing table').action(action(async (_opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const r = await call(g, 'GET', '/routes')
    out(g, r, () => 'static routes\n' + table(['PREFIX', 'ACCOUNT', 'SOURCE'], r.static.map((s: Json) => [s.prefix, s.account, s.source])) +
      '\nrouting table\n' + table(['PREFIX', 'NEXT HOP', 'KIND', 'USED'], r.table.map((t: Json) => [t.prefix === '' ? '(default)' : t.prefix, t.nextHop, t.kind, t.best ? 'yes' : ''])))
  }))
  routes.command('add').description('route a prefix to an account').argument('<prefix>').argument('<account>').action(action(async (prefix: string, account: string, _opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const r = await call(g, 'POST', '/routes', { prefix, account })
    out(g, r, () => `route ${prefix} → ${account} added\n`)
  }))
  routes.command('remove').description('remove a static route added through the API').argument('<prefix>').action(action(async (prefix: string, _opts: unknown, cmd: Command) => {
    const g = globals(cmd)
    const r = await call(g, 'DELETE', `/routes/${encodeURIComponent(prefix)}`)
    out(g, r, () => `route ${prefix} removed\n`)
  }))

  root.command('transfer').description('look up a transfer by id, or those with a condition (--condition)').argument('[id]')
    .option('--condition <hex>', 'the execution condition (64 hex digits)')
    .action(action(async (id: string | undefined, o: { condition?: string }, cmd: Command) => {
      const g = globals(cmd)
      if ((id === undefined) === (o.condition === undefined)) throw new CliError('give a transfer id or --condition HEX (one of them)', 2)
      if (id !== undefined) {
        const t = await call(g, 'GET', `/transfers/${encodeURIComponent(id)}`)
        out(g, t, () => details(Object.entries(t)))
        return
      }
      const list = await call(g, 'GET', `/transfers?condition=${encodeURIComponent(o.condition as string)}`) as Json[]
      out(g, list, () => transferRows(list))
    }))
  root.command('history').description('an account\'s transfers, newest last; --follow prints new ones as they come').argument('<account>')
    .option('--limit <n>', 'how many', '20')
    .option('--from <time>', 'prepared at or after (ISO 8601 or ms)')
    .option('--to <time>', 'prepared before (ISO 8601 or ms)')
    .option('--follow', 'keep polling every second for new transfers (Ctrl-C to stop)')
    .action(action(async (account: string, o: { limit: string; from?: string; to?: string; follow?: boolean }, cmd: Command) => {
      const g = globals(cmd)
      const query = new URLSearchParams({ limit: o.limit, ...(o.from === undefined ? {} : { from: o.from }), ...(o.to === undefined ? {} : { to: o.to }) })
      const path = `/accounts/${encodeURIComponent(account)}/transfers`
      const page = await call(g, 'GET', `${path}?${query.toString()}`)
      const first = (page.transfers as Json[]).reverse()
      if (o.follow !== true) {
        out(g, first, () => transferRows(first))
        return
      }
      // One line per transfer (JSON lines with --json), then new and newly settled ones as they come.
      const seen = new Map<string, string>()
      const print = (t: Json): void => {
        seen.set(t.id, t.state)
        process.stdout.write(g.json === true ? JSON.stringify(t) + '\n' : transferLine(t) + '\n')
      }
      first.forEach(print)
      for (;;) {
        await new Promise(resolve => setTimeout(resolve, 1000))
        const latest = (await call(g, 'GET', `${path}?limit=100`)).transfers as Json[]
        for (const t of latest.reverse()) if (seen.get(t.id) !== t.state) print(t)
      }
    }))

  root.command('audit').description('changes made through the admin API, newest first').option('--limit <n>', 'how many', '20').action(action(async (o: { limit: string }, cmd: Command) => {
    const g = globals(cmd)
    const list = await call(g, 'GET', `/audit?limit=${encodeURIComponent(o.limit)}`) as Json[]
    out(g, list, () => table(['AT', 'WHO', 'ACTION', 'TARGET'], list.map(e => [e.at, `${e.who}@${e.remote}`, e.action, e.target])))
  }))

  return root
}

function transferLine (t: Json): string {
  const outcome = t.state === 'rejected' ? `rejected ${t.reject.code} by ${t.reject.triggeredBy}` : t.state
  return `${t.preparedAt}  ${t.id}  ${t.source} → ${t.nextHop}  ${t.amount}  ${t.destination}  ${outcome}`
}

function transferRows (list: Json[]): string {
  return table(['PREPARED', 'ID', 'FROM', 'TO', 'AMOUNT', 'DESTINATION', 'STATE', 'CODE'],
    list.map(t => [t.preparedAt, t.id, t.source, t.nextHop, t.amount, t.destination, t.state, t.reject?.code]))
}

function parseInteger (v: string): number {
  if (!/^-?[0-9]+$/.test(v)) throw new CliError(`not an integer: ${JSON.stringify(v)}`, 2)
  return Number(v)
}

function defined (o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<string, string>
}

if (require.main === module) {
  program().parseAsync().catch((err: unknown) => {
    process.stderr.write(`metamorphosis-admin: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = err instanceof CliError ? err.code : 1
  })
}
