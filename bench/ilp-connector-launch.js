#!/usr/bin/env node
'use strict'
/*
Starts the reference connector, npm ilp-connector (a devDependency), on 127.0.0.1 for the benchmark.

  node bench/ilp-connector-launch.js --recv-port P --sender-ports P1,P2,... [--mini-port P] [--address test.anchor]

Child accounts (one-to-one backend, spread 0, memory store, asset XRP scale 9):
  recv        ilp-plugin-btp server on --recv-port, secret "recv"          -> address <address>.recv
  s<i>        ilp-plugin-btp server on the i-th --sender-ports, secret "s<i>" (one client per account)
  mini        ilp-plugin-mini-accounts on --mini-port, any secret, one account per client (needs the
              plugin: it is not a project dependency; it is looked up in node_modules, $ANCHOR_DIR and
              /tmp/anchor, where `bash ../shared/anchor-bench/setup.sh` installs it)
The rate limiter stays on (it is part of a default deployment) with a limit far above this machine's rate;
routeBroadcastEnabled stays true (without it the child routes are never added: F02 for everything).

stdout: one JSON line {"event":"listening",...} once the ports are open, then {"event":"ready"} once every
btp account has its client; the connector's own log goes to stderr. Exits on SIGTERM/SIGINT, when stdin
closes (with --exit-with-stdin) or after --max-seconds.
*/
const path = require('path')

const { parseArgs } = require('./args')
const args = parseArgs(process.argv.slice(2))
const HOST = '127.0.0.1'
const address = String(args.address || 'test.anchor')
const recvPort = Number(args['recv-port'] || 7700)
const senderPorts = args['sender-ports'] ? String(args['sender-ports']).split(',').filter(Boolean).map(Number) : []
const miniPort = args['mini-port'] ? Number(args['mini-port']) : null
const maxSeconds = Number(args['max-seconds'] || 3600)

/** Absolute path of ilp-plugin-mini-accounts, or null. ilp-connector require()s plugin names, so a path works. */
function findMiniAccounts () {
  const dirs = [path.join(__dirname, '..'), process.env.ANCHOR_DIR, '/tmp/anchor'].filter(Boolean)
  for (const dir of dirs) {
    try { return require.resolve('ilp-plugin-mini-accounts', { paths: [dir] }) } catch (e) {}
  }
  return null
}

const RATE_LIMIT = { refillPeriod: 1000, refillCount: 1e9, capacity: 1e9 }
const btpServer = (port, secret) => ({
  relation: 'child',
  plugin: 'ilp-plugin-btp',
  assetCode: 'XRP',
  assetScale: 9,
  rateLimit: RATE_LIMIT,
  options: { listener: { port, secret, wsOpts: { host: HOST, port } } }
})

const accounts = { recv: btpServer(recvPort, 'recv') }
senderPorts.forEach((port, i) => { accounts['s' + i] = btpServer(port, 's' + i) })
let miniPlugin = null
if (miniPort) {
  miniPlugin = findMiniAccounts()
  if (!miniPlugin) {
    process.stdout.write(JSON.stringify({ event: 'error', error: 'ilp-plugin-mini-accounts not found (run: bash ../shared/anchor-bench/setup.sh, or set ANCHOR_DIR)' }) + '\n')
    process.exit(2)
  }
  accounts.mini = {
    relation: 'child',
    plugin: miniPlugin,
    assetCode: 'XRP',
    assetScale: 9,
    rateLimit: RATE_LIMIT,
    options: { wsOpts: { host: HOST, port: miniPort } }
  }
}

const opts = {
  env: 'test',
  ilpAddress: address,
  backend: 'one-to-one',
  spread: 0,
  store: 'memory',
  initialConnectTimeout: Number(args['connect-timeout'] || 60000),
  adminApi: false,
  accounts
}

const emit = (event, extra) => process.stdout.write(JSON.stringify(Object.assign({ event, pid: process.pid }, extra)) + '\n')
const { createApp } = require('ilp-connector')
const version = require('ilp-connector/package.json').version
const app = createApp(opts)
const urls = {
  receiver: `btp+ws://:recv@${HOST}:${recvPort}`,
  senders: senderPorts.map((port, i) => `btp+ws://:s${i}@${HOST}:${port}`),
  mini: miniPort ? `btp+ws://:{token}@${HOST}:${miniPort}` : undefined
}
app.listen().then(() => emit('ready'), (err) => emit('error', { error: String(err && err.message) }))
// listen() opens every port at once but resolves only when each btp server account has its client.
setImmediate(() => emit('listening', { address, destination: address + '.recv', urls, version, miniPlugin }))

let stopping = false
function stop () {
  if (stopping) process.exit(1)
  stopping = true
  Promise.race([app.shutdown(), new Promise(resolve => setTimeout(resolve, 2000))]).then(() => process.exit(0), () => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.on('SIGUSR2', () => { if (typeof global.gc === 'function') global.gc() })
if (args['exit-with-stdin']) { process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume() }
setTimeout(() => { process.stderr.write('ilp-connector-launch: --max-seconds reached\n'); process.exit(3) }, maxSeconds * 1000).unref()
