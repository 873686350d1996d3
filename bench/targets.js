'use strict'
/*
Start/stop helpers for the processes under test, all on 127.0.0.1 and on free ports (so a connector that
someone else runs on 7768 is left alone):
  startOurs({ durability })          node dist/src/main.js, fresh temp data dir, log level warn
  startIlpConnector({ senders })     bench/ilp-connector-launch.js (npm ilp-connector)
  startBaselineReceiver()            bench/loadgen.js --serve-receiver (no connector)
Every process under test is started as `node --expose-gc -r bench/gc-preload.js ...` (SIGUSR2 = full GC).
Each child gets its own process group; stop() sends SIGTERM, then SIGKILL to the group after a grace period;
killAll() (also run on exit) SIGKILLs whatever is left. Children that read stdin (--exit-with-stdin) also
stop when this process dies; for ours, a tiny watchdog process does that.
*/
const fs = require('fs')
const os = require('os')
const net = require('net')
const path = require('path')
const { spawn } = require('child_process')

const HOST = '127.0.0.1'
const ROOT = path.join(__dirname, '..')
const GC_PRELOAD = path.join(__dirname, 'gc-preload.js')
const NODE_FLAGS = ['--expose-gc', '-r', GC_PRELOAD]
/** How `npm start` and the Dockerfile run ours (package.json): measured as shipped. */
const OURS_NODE_FLAGS = ['--max-semi-space-size=4']
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

let logDir = null
function setLogDir (dir) { logDir = dir; fs.mkdirSync(dir, { recursive: true }) }
function logFile (name) {
  if (logDir === null) setLogDir(fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-bench-logs-')))
  return path.join(logDir, name)
}

// ------------------------------------------------------------------------------------------- children
const children = new Set()

/** Spawns a tracked child in its own process group. stdout is piped (lines to onLine, all to the log file). */
function spawnTracked (name, cmd, argv, { env, cwd = ROOT, onLine, stdin = 'pipe' } = {}) {
  const file = logFile(name + '.log')
  const out = fs.openSync(file, 'a')
  const child = spawn(cmd, argv, { cwd, env: env || process.env, stdio: [stdin, 'pipe', out], detached: true })
  fs.closeSync(out)
  child.logFile = file
  child.name = name
  children.add(child)
  child.exited = new Promise(resolve => child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }) }))
  if (child.stdin) child.stdin.on('error', () => {})
  let buf = ''
  child.stdout.on('data', (d) => {
    fs.appendFileSync(file, d)
    if (!onLine) return
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try { onLine(line) } catch (e) {}
    }
  })
  return child
}

function tail (file, n = 15) {
  try { return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n') } catch (e) { return '' }
}

/** SIGTERM, then SIGKILL to the process group after graceMs. */
async function stopChild (child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  try { process.kill(child.pid, 'SIGTERM') } catch (e) {}
  const r = await Promise.race([child.exited, sleep(graceMs).then(() => null)])
  if (r === null) {
    try { process.kill(-child.pid, 'SIGKILL') } catch (e) {}
    try { process.kill(child.pid, 'SIGKILL') } catch (e) {}
    await Promise.race([child.exited, sleep(2000)])
  }
  try { process.kill(-child.pid, 'SIGKILL') } catch (e) {} // anything it left in its group
}

const tempDirs = new Set()

/** Synchronous: SIGKILL every child still running (their process groups), remove their temp data dirs. */
function killAll () {
  for (const c of children) {
    try { process.kill(-c.pid, 'SIGKILL') } catch (e) {}
    try { process.kill(c.pid, 'SIGKILL') } catch (e) {}
  }
  children.clear()
  for (const d of tempDirs) { try { fs.rmSync(d, { recursive: true, force: true }) } catch (e) {} }
  tempDirs.clear()
}

// ------------------------------------------------------------------------------------------- ports
/** n distinct free TCP ports on 127.0.0.1 (held open together, then released). */
async function freePorts (n) {
  const servers = []
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer()
      await new Promise((resolve, reject) => { s.once('error', reject); s.listen(0, HOST, resolve) })
      servers.push(s)
    }
    return servers.map(s => s.address().port)
  } finally {
    await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  }
}

function canConnect (port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

/** Resolves when fn() is truthy; rejects on timeout or when the child exits. */
async function waitFor (child, what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.name} exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}:\n${tail(child.logFile)}`)
    }
    if (await fn()) return
    if (Date.now() > deadline) throw new Error(`${child.name}: timed out waiting for ${what}:\n${tail(child.logFile)}`)
    await sleep(50)
  }
}

let seq = 0

// The connector's compiled code. bench/run.js points this at a private snapshot of dist/ so that someone
// rebuilding dist/ during a run cannot change (or half-write) the code under test.
let distDir = path.join(ROOT, 'dist')
function setDistDir (dir) { distDir = dir }
function getDistDir () { return distDir }

// ------------------------------------------------------------------------------------------- ours
/**
 * Metamorphosis from dist/ with env overrides only: one listener on a free port in local mode (every token
 * its own child account), a fresh temp data dir, the given durability, log level warn.
 * Ready when the "connector started" line appears or (at log level warn, where that info line is not
 * written) when the listener accepts connections: opening the listeners is the last step of start().
 */
async function startOurs ({ durability = 'strict', logLevel = 'warn', maxAccounts = 20000, port } = {}) {
  const main = path.join(distDir, 'src', 'main.js')
  if (!fs.existsSync(main)) throw new Error(main + ' not found: run `npm run build` first')
  port = port || (await freePorts(1))[0]
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-bench-data-'))
  tempDirs.add(dataDir)
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('METAMORPHOSIS_')) env[k] = v
  Object.assign(env, {
    METAMORPHOSIS_LISTENERS__DEFAULT__PORT: String(port),
    METAMORPHOSIS_LISTENERS__DEFAULT__LOCAL_ACCOUNTS__MAX_ACCOUNTS: String(maxAccounts),
    METAMORPHOSIS_STORAGE__DURABILITY: durability,
    METAMORPHOSIS_DATA_DIR: dataDir,
    METAMORPHOSIS_LOG__LEVEL: logLevel
  })
  // BENCH_ADMIN=full: with the admin API on, so metrics and transfer history are kept on the packet path
  // (BENCH_ADMIN=metrics: history off), to measure their cost.
  if (process.env.BENCH_ADMIN === 'full' || process.env.BENCH_ADMIN === 'metrics') {
    Object.assign(env, {
      METAMORPHOSIS_ADMIN__ENABLED: 'true',
      METAMORPHOSIS_ADMIN__TOKEN: 'bench-admin-token-0123456789',
      METAMORPHOSIS_ADMIN__PORT: '0',
      METAMORPHOSIS_ADMIN__HISTORY: process.env.BENCH_ADMIN === 'full' ? 'full' : 'off'
    })
  }
  let started = false
  const name = `ours-${durability}-${++seq}`
  const child = spawnTracked(name, process.execPath, [...NODE_FLAGS, ...OURS_NODE_FLAGS, main], {
    env,
    stdin: 'ignore',
    onLine: (line) => { if (line.includes('"connector started"')) started = true }
  })
  // ours does not watch its stdin: a watchdog kills it if this process dies without cleaning up
  const watchdog = spawn(process.execPath, ['-e', `process.stdin.on('end',()=>{try{process.kill(-${child.pid},'SIGKILL')}catch(e){}try{process.kill(${child.pid},'SIGKILL')}catch(e){}process.exit(0)});process.stdin.resume()`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
  watchdog.stdin.on('error', () => {})
  children.add(watchdog)
  watchdog.once('exit', () => children.delete(watchdog))
  const cleanup = async () => {
    await stopChild(child, 10000)
    try { watchdog.stdin.end() } catch (e) {}
    try { process.kill(watchdog.pid, 'SIGKILL') } catch (e) {}
    fs.rmSync(dataDir, { recursive: true, force: true })
    tempDirs.delete(dataDir)
  }
  try {
    await waitFor(child, 'the listener', 30000, async () => started || canConnect(port))
  } catch (e) { await cleanup(); throw e }
  return {
    kind: durability === 'strict' ? 'ours' : 'ours-' + durability,
    pid: child.pid,
    port,
    dataDir,
    logFile: child.logFile,
    url: (token) => `btp+ws://:${token}@${HOST}:${port}`,
    stop: cleanup
  }
}

// ------------------------------------------------------------------------------------------- ilp-connector
/** npm ilp-connector with accounts recv, s0..s{senders-1} (ilp-plugin-btp, one port each) and mini (mini-accounts). */
async function startIlpConnector ({ senders = 4, mini = true } = {}) {
  const ports = await freePorts(1 + senders + (mini ? 1 : 0))
  const recvPort = ports[0]
  const senderPorts = ports.slice(1, 1 + senders)
  const miniPort = mini ? ports[1 + senders] : null
  let listening = null
  let error = null
  const argv = [...NODE_FLAGS, path.join(__dirname, 'ilp-connector-launch.js'), '--recv-port', String(recvPort), '--exit-with-stdin']
  if (senders > 0) argv.push('--sender-ports', senderPorts.join(','))
  if (mini) argv.push('--mini-port', String(miniPort))
  const child = spawnTracked(`ilp-connector-${++seq}`, process.execPath, argv, {
    onLine: (line) => {
      if (!line.startsWith('{')) return
      const m = JSON.parse(line)
      if (m.event === 'listening') listening = m
      if (m.event === 'error') error = m.error
    }
  })
  const cleanup = () => stopChild(child, 5000)
  try {
    await waitFor(child, 'its listeners', 30000, async () => {
      if (error) throw new Error('ilp-connector-launch: ' + error)
      return listening !== null && (await canConnect(recvPort)) && (!mini || (await canConnect(miniPort)))
    })
  } catch (e) { await cleanup(); throw e }
  return {
    kind: 'ilp-connector',
    pid: child.pid,
    logFile: child.logFile,
    version: listening.version,
    destination: listening.destination,
    receiverUrl: listening.urls.receiver,
    senderUrls: listening.urls.senders,
    miniUrl: mini ? (token) => `btp+ws://:${token}@${HOST}:${miniPort}` : null,
    stop: cleanup
  }
}

// ------------------------------------------------------------------------------------------- baseline
/** No connector: a BTP server (bench/loadgen.js --serve-receiver) that accepts any auth and fulfils everything. */
async function startBaselineReceiver () {
  const [port] = await freePorts(1)
  let listening = null
  const child = spawnTracked(`baseline-${++seq}`, process.execPath, [...NODE_FLAGS, path.join(__dirname, 'loadgen.js'), '--serve-receiver', String(port), '--exit-with-stdin', '--max-seconds', '3600'], {
    onLine: (line) => { if (line.startsWith('{')) { const m = JSON.parse(line); if (m.event === 'listening') listening = m } }
  })
  const cleanup = () => stopChild(child, 3000)
  try {
    await waitFor(child, 'its listener', 15000, async () => listening !== null)
  } catch (e) { await cleanup(); throw e }
  return {
    kind: 'baseline',
    pid: child.pid,
    port,
    logFile: child.logFile,
    destination: 'test.direct.recv',
    url: (token) => `btp+ws://:${token}@${HOST}:${port}`,
    stop: cleanup
  }
}

/** The idle-connection floor: bench/ws-floor-server.js (ws answering the BTP auth, nothing else per connection). */
async function startWsFloor () {
  const [port] = await freePorts(1)
  let listening = null
  // Run as ours runs (semi-space cap), so the difference to ours is ours' own.
  const child = spawnTracked(`ws-floor-${++seq}`, process.execPath, [...NODE_FLAGS, ...OURS_NODE_FLAGS, path.join(__dirname, 'ws-floor-server.js'), String(port)], {
    onLine: (line) => { if (line.startsWith('{')) { const m = JSON.parse(line); if (m.event === 'listening') listening = m } }
  })
  const cleanup = () => stopChild(child, 3000)
  try {
    await waitFor(child, 'its listener', 15000, async () => listening !== null)
  } catch (e) { await cleanup(); throw e }
  return { kind: 'baseline', pid: child.pid, port, logFile: child.logFile, url: (token) => `btp+ws://:${token}@${HOST}:${port}`, stop: cleanup }
}

/** Whether ilp-plugin-mini-accounts can be found (it is not a project dependency). */
function miniAccountsAvailable () {
  for (const dir of [ROOT, process.env.ANCHOR_DIR, '/tmp/anchor'].filter(Boolean)) {
    try { require.resolve('ilp-plugin-mini-accounts', { paths: [dir] }); return true } catch (e) {}
  }
  return false
}

module.exports = {
  HOST,
  ROOT,
  startOurs,
  startIlpConnector,
  startBaselineReceiver,
  startWsFloor,
  miniAccountsAvailable,
  spawnTracked,
  stopChild,
  killAll,
  freePorts,
  setLogDir,
  setDistDir,
  getDistDir,
  logFile,
  tail,
  sleep
}
