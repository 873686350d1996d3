#!/usr/bin/env node
'use strict'
/*
The benchmark: `npm run bench` (= build, then `node bench/run.js`). Everything on 127.0.0.1, every child
process killed at the end (also on errors and Ctrl-C). See docs/benchmarks.md.

  node bench/run.js [--reps 3] [--count 20000] [--warmup 10000] [--concurrency 100,1000] [--clients 4]
                    [--kinds ours,ours-fast,ilp-connector,baseline] [--phases forward,many,idle,routing]
                    [--many-senders 1000] [--many-concurrency 1000] [--idle-conns 10000]
                    [--lookups 1000000] [--noise-max 50] [--retries 1] [--idle-busy 30] [--idle-wait 5] [--quick]

Phases, interleaved inside each repetition (the order of the kinds rotates from one rep to the next):
  forward  each kind at each concurrency: --clients senders + 1 receiver, --warmup then --count packets;
           a fresh target process per run
  many     --many-senders sender accounts at once (ours: distinct tokens on its one listener; ilp-connector:
           clients of its mini-accounts port; baseline: the plain receiver), --many-concurrency in flight
  idle     --idle-conns authenticated idle BTP clients (spread over holder processes of ≤ 2,500 each);
           target RSS before and after, each after a full GC (SIGUSR2, see bench/gc-preload.js) and a 2 s settle
  routing  bench/routing-bench.js: PrefixTable lookups with 10 vs 100,000 routes, every lookup a random route
           and 1,000 active destinations
Before each measured run the machine must look idle-ish (/proc/stat < --idle-busy % busy over 1 s, waiting
up to --idle-wait s). A run during which other processes used more than --noise-max % of a core (or that
failed) is run again, up to --retries times; all are kept in the raw file, the last one counts.
--quick: 1 rep, 3,000 packets after a 2,000 warm-up, 200 senders, 1,000 idle connections, 200k lookups.

Raw results: bench/results/<ISO timestamp>.jsonl (one JSON line per run, a meta line first and a summary
line last), the tables also in bench/results/<same>.md. Child logs: a temp dir printed at the start.
*/
const fs = require('fs')
const os = require('os')
const path = require('path')
const { execFileSync } = require('child_process')
const targets = require('./targets')

const { sleep } = targets

// ------------------------------------------------------------------------------------------- options
const { parseArgs } = require('./args')
const args = parseArgs(process.argv.slice(2))
if (args.help || args.h) {
  const src = fs.readFileSync(__filename, 'utf8')
  process.stdout.write(src.slice(src.indexOf('/*') + 2, src.indexOf('*/')).trim() + '\n')
  process.exit(0)
}
const quick = !!args.quick
const num = (k, normal, q) => args[k] !== undefined ? Number(args[k]) : (quick ? q : normal)
const list = (k, d) => String(args[k] || d).split(',').map(s => s.trim()).filter(Boolean)
const opt = {
  reps: num('reps', 3, 1),
  count: num('count', 20000, 3000),
  warmup: num('warmup', 10000, 2000),
  concurrency: list('concurrency', '100,1000').map(Number),
  clients: num('clients', 4, 4),
  kinds: list('kinds', 'ours,ours-fast,ilp-connector,baseline'),
  phases: list('phases', 'forward,many,idle,routing'),
  manySenders: num('many-senders', 1000, 200),
  manyConcurrency: num('many-concurrency', 1000, 1000),
  idleConns: num('idle-conns', 10000, 1000),
  perHolder: num('per-holder', 2500, 2500),
  lookups: num('lookups', 1000000, 200000),
  noiseMax: num('noise-max', 50, 50),
  retries: num('retries', 1, 1),
  idleBusy: num('idle-busy', 30, 30),
  idleWaitS: num('idle-wait', 5, 5),
  quick
}
const KNOWN = ['ours', 'ours-fast', 'ilp-connector', 'baseline']
for (const k of opt.kinds) if (!KNOWN.includes(k)) throw new Error('unknown kind ' + k + ' (known: ' + KNOWN.join(', ') + ')')

const log = (...a) => process.stderr.write('[bench] ' + a.join(' ') + '\n')
const r1 = (x) => (x === null || x === undefined || !Number.isFinite(x)) ? null : Math.round(x * 10) / 10
const r3 = (x) => (x === null || x === undefined || !Number.isFinite(x)) ? null : Math.round(x * 1000) / 1000
function median (xs) {
  const v = xs.filter(x => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}
const rotate = (arr, k) => arr.map((_, i) => arr[(i + k) % arr.length])

// ------------------------------------------------------------------------------------------- cleanup
let exiting = false
function bail (code, why) {
  if (exiting) return
  exiting = true
  if (why) log(why)
  targets.killAll()
  process.exit(code)
}
process.on('exit', () => targets.killAll())
process.on('SIGINT', () => bail(130, 'interrupted: killing child processes'))
process.on('SIGTERM', () => bail(143, 'terminated: killing child processes'))
process.on('SIGHUP', () => bail(129, 'hangup: killing child processes'))
process.on('uncaughtException', (e) => bail(1, 'error: ' + (e && e.stack ? e.stack : e)))
process.on('unhandledRejection', (e) => bail(1, 'error: ' + (e && e.stack ? e.stack : e)))

// ------------------------------------------------------------------------------------------- machine
function hostSample () {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0), total: f.slice(0, 8).reduce((a, b) => a + (b || 0), 0) }
}
/** Waits (up to --idle-wait s) for a 1-s window with the machine < --idle-busy % busy; returns the last %. */
async function waitIdle () {
  const t0 = Date.now()
  let busy = null
  for (;;) {
    const a = hostSample()
    await sleep(1000)
    const b = hostSample()
    busy = b.total > a.total ? 100 * (b.busy - a.busy) / (b.total - a.total) : 0
    if (busy < opt.idleBusy || Date.now() - t0 >= opt.idleWaitS * 1000) return r1(busy)
  }
}
function procMem (pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (k) => { const m = s.match(new RegExp('^' + k + ':\\s+(\\d+)', 'm')); return m ? Number(m[1]) : null }
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') }
  } catch (e) { return null }
}
function nofile (pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m)
    const n = (s) => s === 'unlimited' ? Infinity : Number(s)
    return m ? { soft: n(m[1]), hard: n(m[2]) } : null
  } catch (e) { return null }
}
function sh (cmd, argv) { try { return execFileSync(cmd, argv, { cwd: targets.ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() } catch (e) { return null } }

// ------------------------------------------------------------------------------------------- results
const started = new Date()
const stamp = started.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
const resultsDir = path.join(__dirname, 'results')
fs.mkdirSync(resultsDir, { recursive: true })
const outFile = path.join(resultsDir, stamp + '.jsonl')
const mdFile = path.join(resultsDir, stamp + '.md')
targets.setLogDir(fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-bench-logs-')))
const records = []
function record (r) {
  records.push(r)
  fs.appendFileSync(outFile, JSON.stringify(r) + '\n')
}

// ------------------------------------------------------------------------------------------- runs
let loadgenSeq = 0
/** Runs bench/loadgen.js as a child process; resolves with its JSON result line. */
function loadgen (argv, maxSeconds) {
  return new Promise((resolve) => {
    let result = null
    const child = targets.spawnTracked(`loadgen-${++loadgenSeq}`, process.execPath, [path.join(__dirname, 'loadgen.js'), ...argv, '--max-seconds', String(maxSeconds)], {
      stdin: 'ignore',
      onLine: (line) => { if (line.startsWith('{')) result = JSON.parse(line) }
    })
    child.exited.then(({ code, signal }) => {
      resolve(result || { ok: false, error: `loadgen exited ${code ?? signal} without a result:\n${targets.tail(child.logFile)}` })
    })
  })
}

async function startTarget (kind, { manySenders = false } = {}) {
  if (kind === 'ours') return targets.startOurs({ durability: 'strict' })
  if (kind === 'ours-fast') return targets.startOurs({ durability: 'fast' })
  if (kind === 'ilp-connector') return targets.startIlpConnector({ senders: manySenders ? 0 : opt.clients, mini: manyOk })
  if (kind === 'baseline') return targets.startBaselineReceiver()
  throw new Error('unknown kind ' + kind)
}

/** Load-generator arguments for a target: senders (n clients) and receiver / destination. */
function loadArgs (tg, n, many) {
  if (tg.kind === 'ours' || tg.kind === 'ours-fast') {
    return ['--senders', tg.url((many ? 'p' : 's') + '{i}'), '--clients', String(n), '--receiver', tg.url('recv')]
  }
  if (tg.kind === 'ilp-connector') {
    if (many) return ['--senders', tg.miniUrl('p{i}'), '--clients', String(n), '--receiver', tg.receiverUrl]
    return ['--senders', tg.senderUrls.join(','), '--receiver', tg.receiverUrl]
  }
  return ['--senders', tg.url('c{i}'), '--clients', String(n), '--destination', tg.destination]
}

async function loadRun ({ phase, kind, concurrency, senders, rep }) {
  let last = null
  for (let attempt = 1; attempt <= 1 + opt.retries; attempt++) {
    const idleBusyPct = await waitIdle()
    const t0 = Date.now()
    let rec
    let tg = null
    try {
      tg = await startTarget(kind, { manySenders: phase === 'many' })
      const res = await loadgen([...loadArgs(tg, senders, phase === 'many'), '--concurrency', String(concurrency),
        '--count', String(opt.count), '--warmup', String(opt.warmup), '--pid', String(tg.pid), '--label', `${phase}:${kind}:c${concurrency}:r${rep}`], 300)
      rec = Object.assign({ type: 'run', phase, kind, rep, attempt, idleBusyPct, targetVersion: tg.version }, res, { concurrency, senders })
    } catch (e) {
      rec = { type: 'run', phase, kind, rep, attempt, idleBusyPct, concurrency, senders, ok: false, error: String(e.message) }
    } finally {
      if (tg) await tg.stop()
    }
    rec.runS = r1((Date.now() - t0) / 1000)
    const noisy = rec.host && rec.host.othersCorePct > opt.noiseMax
    rec.counted = !(attempt <= opt.retries && (noisy || !rec.ok))
    if (!rec.counted) rec.retriedBecause = !rec.ok ? 'failed' : `noise: others used ${rec.host.othersCorePct}% of a core`
    record(rec)
    log(describe(rec))
    last = rec
    if (rec.counted) break
  }
  return last
}

function describe (r) {
  const head = `${r.phase} ${r.kind} c=${r.concurrency} senders=${r.senders} rep ${r.rep}${r.attempt > 1 ? ' (retry)' : ''}:`
  if (!r.ok && r.fulfilled === undefined) return `${head} FAILED ${r.error}`
  const t = r.target || {}
  return `${head} ${r.ok ? '' : 'NOT OK '}${r.throughputPps} pkt/s, p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} ms, ` +
    `target ${t.cpuUsPerPkt} µs/pkt ${t.cpuPct}% peak ${t.peakRssMiB} MiB, loadgen ${r.loadgen.cpuUsPerPkt} µs/pkt, ` +
    `fulfilled ${r.fulfilled} rejected ${r.rejected} errors ${r.errors}, others ${r.host && r.host.othersCorePct}%` +
    (r.rejects ? ' rejects ' + JSON.stringify(r.rejects) : '') + (r.errorMessages ? ' errors ' + JSON.stringify(r.errorMessages) : '') +
    (r.retriedBecause ? ` -> run again (${r.retriedBecause})` : '')
}

/** Idle connections: target RSS before/after opening n authenticated idle clients (run again if it failed). */
async function idleRun (kind, n, rep) {
  let rec = null
  for (let attempt = 1; attempt <= 1 + opt.retries; attempt++) {
    rec = await idleAttempt(kind, n, rep, attempt)
    if (rec.counted) break
  }
  return rec
}

async function idleAttempt (kind, n, rep, attempt) {
  const t0 = Date.now()
  const idleBusyPct = await waitIdle()
  let tg = null
  const holders = []
  const rec = { type: 'run', phase: 'idle', kind, rep, attempt, idleBusyPct, requested: n }
  try {
    tg = kind === 'ilp-connector'
      ? await targets.startIlpConnector({ senders: 0, mini: true })
      : kind === 'baseline' ? await targets.startWsFloor() : await targets.startOurs({ durability: 'strict' })
    const pattern = kind === 'ilp-connector' ? tg.miniUrl('idle{i}') : tg.url('idle{i}')
    // the target needs one fd per connection (plus its own)
    let lim = nofile(tg.pid)
    rec.targetNofile = lim && { soft: lim.soft, hard: lim.hard }
    if (lim && lim.soft < n + 512) {
      const want = n + 2048
      log(`${kind}: open-files limit ${lim.soft} < ${n + 512}: raising it to ${want} with prlimit`)
      sh('prlimit', ['--pid', String(tg.pid), `--nofile=${want}:${Math.max(want, lim.hard)}`])
      lim = nofile(tg.pid)
      rec.targetNofileRaised = lim && { soft: lim.soft, hard: lim.hard }
    }
    const settle = async () => {
      try { process.kill(tg.pid, 'SIGUSR2') } catch (e) {}
      await sleep(2000)
      return procMem(tg.pid)
    }
    await sleep(500)
    const before = await settle()
    const shares = []
    for (let off = 0; off < n; off += opt.perHolder) shares.push([off, Math.min(opt.perHolder, n - off)])
    const tOpen = Date.now()
    const held = await Promise.all(shares.map(([off, cnt], h) => new Promise((resolve) => {
      let ev = null
      const child = targets.spawnTracked(`holder-${kind}-${rep}-${h}`, process.execPath, [path.join(__dirname, 'loadgen.js'), '--hold', String(cnt), '--offset', String(off),
        '--senders', pattern, '--parallel', '100', '--exit-with-stdin', '--max-seconds', '1200'], {
        onLine: (line) => { if (line.startsWith('{')) { const m = JSON.parse(line); if (m.event === 'held') { ev = m; resolve(m) } } }
      })
      holders.push(child)
      child.exited.then(() => { if (!ev) resolve({ open: 0, failed: cnt, failMessages: { 'holder exited': 1, log: targets.tail(child.logFile, 3) } }) })
    })))
    rec.openS = r1((Date.now() - tOpen) / 1000)
    await sleep(1000)
    const after = await settle()
    rec.open = held.reduce((a, h) => a + (h.open || 0), 0)
    rec.failed = held.reduce((a, h) => a + (h.failed || 0), 0)
    const fm = {}
    for (const h of held) for (const [k, v] of Object.entries(h.failMessages || {})) fm[k] = (fm[k] || 0) + v
    if (Object.keys(fm).length) rec.failMessages = fm
    rec.holders = held.length
    rec.rssBeforeMiB = r1(before.rssKiB / 1024)
    rec.rssAfterMiB = r1(after.rssKiB / 1024)
    rec.peakRssMiB = r1(after.hwmKiB / 1024)
    rec.kibPerConn = rec.open > 0 ? r3((after.rssKiB - before.rssKiB) / rec.open) : null
    rec.ok = rec.open === n
  } catch (e) {
    rec.ok = false
    rec.error = String(e.message)
  } finally {
    await Promise.all(holders.map(c => targets.stopChild(c, 5000)))
    if (tg) await tg.stop()
  }
  rec.runS = r1((Date.now() - t0) / 1000)
  rec.counted = rec.ok || attempt > opt.retries
  if (!rec.counted) rec.retriedBecause = 'failed'
  record(rec)
  log(`idle ${kind} rep ${rep}${attempt > 1 ? ' (retry)' : ''}: ${rec.ok ? '' : 'NOT OK '}${rec.open}/${n} open in ${rec.openS} s, RSS ${rec.rssBeforeMiB} -> ${rec.rssAfterMiB} MiB = ${rec.kibPerConn} KiB/conn` +
    (rec.failMessages ? ' failures ' + JSON.stringify(rec.failMessages) : '') + (rec.error ? ' ' + rec.error : '') + (rec.counted ? '' : ' -> run again'))
  return rec
}

/** Two workloads: every lookup a random route (the whole table is the working set), and 1,000 active destinations. */
const ROUTING_WORKLOADS = [0, 1000]

async function routingRun (rep) {
  for (const active of ROUTING_WORKLOADS) {
    await waitIdle()
    const t0 = Date.now()
    let rec
    try {
      const out = execFileSync(process.execPath, [path.join(__dirname, 'routing-bench.js'), '--lookups', String(opt.lookups), '--sizes', '10,100000', '--active', String(active), '--dist', targets.getDistDir()], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000 }).toString()
      rec = Object.assign({ type: 'run', rep, counted: true }, JSON.parse(out.trim().split('\n').pop()))
    } catch (e) {
      rec = { type: 'run', phase: 'routing', rep, ok: false, counted: true, error: String(e.message).slice(0, 500) }
    }
    rec.workload = active
    rec.runS = r1((Date.now() - t0) / 1000)
    record(rec)
    log(`routing rep ${rep} (${active ? active + ' active destinations' : 'all destinations distinct'}): ` + (rec.sizes ? rec.sizes.map(s => `${s.routes} routes ${s.nsPerLookup} ns`).join(', ') + `, ratio ${rec.ratio}` : 'FAILED ' + rec.error))
  }
}

// ------------------------------------------------------------------------------------------- summary
const METRICS = {
  pps: { label: 'packets/s', get: r => r.throughputPps, fmt: (x) => Math.round(x).toLocaleString('en-US') },
  p50: { label: 'latency p50 (ms)', get: r => r.latencyMs && r.latencyMs.p50, fmt: (x) => x.toFixed(1) },
  p99: { label: 'latency p99 (ms)', get: r => r.latencyMs && r.latencyMs.p99, fmt: (x) => x.toFixed(1) },
  cpu: { label: 'target CPU (µs/packet)', get: r => r.target && r.target.cpuUsPerPkt, fmt: (x) => x.toFixed(0) },
  cpuPct: { label: 'target CPU (% of a core)', get: r => r.target && r.target.cpuPct, fmt: (x) => x.toFixed(0) },
  rss: { label: 'target peak RSS (MiB)', get: r => r.target && r.target.peakRssMiB, fmt: (x) => x.toFixed(0) },
  lg: { label: 'load generator CPU (µs/packet)', get: r => r.loadgen && r.loadgen.cpuUsPerPkt, fmt: (x) => x.toFixed(0) },
  noise: { label: "other processes' CPU during the run (% of a core)", get: r => r.host && r.host.othersCorePct, fmt: (x) => x.toFixed(0) }
}
const RATIO_METRICS = ['pps', 'cpu', 'p99', 'rss']

function counted (phase) { return records.filter(r => r.phase === phase && r.counted && r.type === 'run') }
const good = (r) => r.ok || (r.fulfilled !== undefined && r.fulfilled > 0)

function groupMedian (rs, key) { return median(rs.filter(good).map(METRICS[key].get)) }

/** Median over reps of the per-rep ratio a/b (runs of the same rep ran minutes apart at most). */
function pairedRatio (rs, kindA, kindB, c, key) {
  const out = []
  for (const rep of new Set(rs.map(r => r.rep))) {
    const a = rs.find(r => r.kind === kindA && r.concurrency === c && r.rep === rep && good(r))
    const b = rs.find(r => r.kind === kindB && r.concurrency === c && r.rep === rep && good(r))
    if (a && b) {
      const x = METRICS[key].get(a)
      const y = METRICS[key].get(b)
      if (Number.isFinite(x) && Number.isFinite(y) && y !== 0) out.push(x / y)
    }
  }
  return median(out)
}

const fmtRatio = (x) => x === null ? '–' : (x >= 10 ? x.toFixed(1) : x.toFixed(2)) + '×'
const fmtVal = (key, x) => x === null ? '–' : METRICS[key].fmt(x)

function summarize () {
  const md = []
  const summary = { type: 'summary', forward: {}, many: null, idle: null, routing: null, groupCommit: {} }
  const fwd = counted('forward')
  if (fwd.length) {
    const kinds = opt.kinds.filter(k => fwd.some(r => r.kind === k))
    const ratioCols = []
    if (kinds.includes('ours') && kinds.includes('ilp-connector')) ratioCols.push(['ours', 'ilp-connector'])
    if (kinds.includes('ours') && kinds.includes('baseline')) ratioCols.push(['ours', 'baseline'])
    for (const c of opt.concurrency) {
      const rs = fwd.filter(r => r.concurrency === c)
      const reps = new Set(rs.map(r => r.rep)).size
      md.push(`#### Forwarding, ${opt.clients} senders + 1 receiver, ${c} packets in flight (medians of ${reps} rep${reps > 1 ? 's' : ''})`, '')
      md.push('| | ' + kinds.join(' | ') + ' | ' + ratioCols.map(([a, b]) => `${a} ÷ ${b}`).join(' | ') + ' |')
      md.push('|---|' + kinds.map(() => '---:').join('|') + '|' + ratioCols.map(() => '---:').join('|') + '|')
      summary.forward[c] = { medians: {}, ratios: {} }
      for (const key of ['pps', 'p50', 'p99', 'cpu', 'cpuPct', 'rss', 'lg', 'noise']) {
        const vals = kinds.map(k => groupMedian(rs.filter(r => r.kind === k), key))
        kinds.forEach((k, i) => { (summary.forward[c].medians[k] = summary.forward[c].medians[k] || {})[key] = vals[i] })
        const ratios = ratioCols.map(([a, b]) => RATIO_METRICS.includes(key) ? pairedRatio(rs, a, b, c, key) : null)
        ratioCols.forEach(([a, b], i) => { if (ratios[i] !== null) (summary.forward[c].ratios[`${a}/${b}`] = summary.forward[c].ratios[`${a}/${b}`] || {})[key] = r3(ratios[i]) })
        md.push(`| ${METRICS[key].label} | ` + vals.map(v => fmtVal(key, v)).join(' | ') + ' | ' + ratios.map(x => RATIO_METRICS.includes(key) ? fmtRatio(x) : '').join(' | ') + ' |')
      }
      const ff = kinds.map(k => {
        const x = rs.filter(r => r.kind === k)
        return `${x.reduce((a, r) => a + (r.fulfilled || 0), 0)}/${x.length * opt.count}`
      })
      md.push('| fulfilled (all reps) | ' + ff.join(' | ') + ' | ' + ratioCols.map(() => '').join(' | ') + ' |', '')
    }
    if (kinds.includes('ours') && kinds.includes('ours-fast')) {
      md.push('#### Group commit: durability strict ÷ fast (ours ÷ ours-fast, median of per-rep ratios)', '')
      md.push('| packets in flight | throughput | CPU/packet | p99 latency |', '|---:|---:|---:|---:|')
      for (const c of opt.concurrency) {
        const rs = fwd.filter(r => r.concurrency === c)
        const g = { pps: pairedRatio(rs, 'ours', 'ours-fast', c, 'pps'), cpu: pairedRatio(rs, 'ours', 'ours-fast', c, 'cpu'), p99: pairedRatio(rs, 'ours', 'ours-fast', c, 'p99') }
        summary.groupCommit[c] = { pps: r3(g.pps), cpu: r3(g.cpu), p99: r3(g.p99) }
        md.push(`| ${c} | ${fmtRatio(g.pps)} | ${fmtRatio(g.cpu)} | ${fmtRatio(g.p99)} |`)
      }
      md.push('')
    }
  }
  const many = counted('many')
  if (many.length) {
    const kinds = ['ours', 'ilp-connector', 'baseline'].filter(k => many.some(r => r.kind === k))
    const c = opt.manyConcurrency
    const reps = new Set(many.map(r => r.rep)).size
    const hasRatio = kinds.includes('ours') && kinds.includes('ilp-connector')
    md.push(`#### ${opt.manySenders.toLocaleString('en-US')} sender accounts at once, ${c} packets in flight (medians of ${reps} rep${reps > 1 ? 's' : ''})`, '')
    md.push('| | ' + kinds.join(' | ') + (hasRatio ? ' | ours ÷ ilp-connector' : '') + ' |')
    md.push('|---|' + kinds.map(() => '---:').join('|') + (hasRatio ? '|---:' : '') + '|')
    summary.many = { senders: opt.manySenders, concurrency: c, medians: {}, ratios: {} }
    for (const key of ['pps', 'p50', 'p99', 'cpu', 'cpuPct', 'rss', 'lg', 'noise']) {
      const vals = kinds.map(k => groupMedian(many.filter(r => r.kind === k), key))
      kinds.forEach((k, i) => { (summary.many.medians[k] = summary.many.medians[k] || {})[key] = vals[i] })
      const ratio = hasRatio && RATIO_METRICS.includes(key) ? pairedRatio(many, 'ours', 'ilp-connector', c, key) : null
      if (ratio !== null) summary.many.ratios[key] = r3(ratio)
      md.push(`| ${METRICS[key].label} | ` + vals.map(v => fmtVal(key, v)).join(' | ') + (hasRatio ? ' | ' + (RATIO_METRICS.includes(key) ? fmtRatio(ratio) : '') : '') + ' |')
    }
    md.push('| fulfilled (all reps) | ' + kinds.map(k => { const x = many.filter(r => r.kind === k); return `${x.reduce((a, r) => a + (r.fulfilled || 0), 0)}/${x.length * opt.count}` }).join(' | ') + (hasRatio ? ' | |' : ' |'), '')
  }
  const idle = counted('idle')
  if (idle.length) {
    const kinds = ['ours', 'ilp-connector', 'baseline'].filter(k => idle.some(r => r.kind === k))
    const m = (k, f) => median(idle.filter(r => r.kind === k && r.open > 0).map(f))
    summary.idle = { requested: opt.idleConns, medians: {} }
    const against = kinds.filter(k => k !== 'ours')
    md.push(`#### Memory per idle connection: ${opt.idleConns.toLocaleString('en-US')} authenticated idle BTP clients (medians of ${new Set(idle.map(r => r.rep)).size}; baseline = ws answering the auth and keeping nothing else: ws's own cost)`, '')
    md.push('| | ' + kinds.join(' | ') + against.map(k => ` | ours ÷ ${k}`).join('') + ' |', '|---|' + kinds.map(() => '---:').join('|') + against.map(() => '|---:').join('') + '|')
    const rows = [
      ['connections open', r => r.open, x => Math.round(x).toLocaleString('en-US')],
      ['RSS before (MiB)', r => r.rssBeforeMiB, x => x.toFixed(0)],
      ['RSS after (MiB)', r => r.rssAfterMiB, x => x.toFixed(0)],
      ['KiB per connection', r => r.kibPerConn, x => x.toFixed(1)],
      ['time to open them (s)', r => r.openS, x => x.toFixed(1)]
    ]
    for (const [label, f, fmt] of rows) {
      const vals = kinds.map(k => m(k, f))
      kinds.forEach((k, i) => { (summary.idle.medians[k] = summary.idle.medians[k] || {})[label] = vals[i] })
      const ratios = against.map(k => {
        const v = vals[kinds.indexOf(k)]
        return label === 'KiB per connection' && v && vals[0] !== null ? vals[0] / v : null
      })
      ratios.forEach((r, i) => { if (r !== null) (summary.idle.ratios = summary.idle.ratios || {})['ours/' + against[i]] = r3(r) })
      md.push(`| ${label} | ` + vals.map(v => v === null ? '–' : fmt(v)).join(' | ') + ratios.map(r => ' | ' + (r === null ? '' : fmtRatio(r))).join('') + ' |')
    }
    md.push('')
  }
  const routingRuns = counted('routing').filter(r => r.sizes)
  if (routingRuns.length) {
    summary.routing = {}
    const sizes = routingRuns[0].sizes.map(s => s.routes)
    md.push(`#### Routing lookup (PrefixTable, 4 shards, ${opt.lookups.toLocaleString('en-US')} lookups per pass; medians)`, '')
    md.push('| destinations | ' + sizes.map(s => s.toLocaleString('en-US') + ' routes').join(' | ') + ' | ratio |', '|---|' + sizes.map(() => '---:').join('|') + '|---:|')
    for (const active of ROUTING_WORKLOADS) {
      const routing = routingRuns.filter(r => (r.workload || 0) === active)
      if (!routing.length) continue
      const ns = sizes.map((s, i) => median(routing.map(r => r.sizes[i].nsPerLookup)))
      const ratio = median(routing.map(r => r.ratio))
      summary.routing[active ? 'active' + active : 'allDistinct'] = { lookups: opt.lookups, sizes, nsPerLookup: ns.map(r1), ratio: r3(ratio) }
      md.push(`| ${active ? active.toLocaleString('en-US') + ' active' : 'all distinct (random route each)'} | ` + ns.map(x => x.toFixed(0) + ' ns').join(' | ') + ` | ${fmtRatio(ratio)} |`)
    }
    md.push('')
  }
  return { md: md.join('\n'), summary }
}

// ------------------------------------------------------------------------------------------- dist snapshot
// Other people may rebuild dist/ while the benchmark runs (a half-written file once made a run fail), so
// the connector runs from a private copy, under bench/results/ (gitignored; node_modules and
// config/default.json are still found by walking up from it). Removed at the end.
let snapshotDir = null
async function snapshotDist () {
  for (let attempt = 1; ; attempt++) {
    const dir = path.join(resultsDir, `.dist-${stamp}`)
    fs.rmSync(dir, { recursive: true, force: true })
    fs.cpSync(path.join(targets.ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true })
    snapshotDir = dir
    try {
      // loads every module of the connector; fails on a half-written file
      execFileSync(process.execPath, [path.join(dir, 'dist', 'src', 'main.js'), '--help'], { stdio: 'ignore', timeout: 30000 })
      targets.setDistDir(path.join(dir, 'dist'))
      return
    } catch (e) {
      if (attempt >= 3) throw new Error('the copy of dist/ does not load (is someone building it?): ' + e.message)
      log('the copy of dist/ does not load; copying again in 5 s')
      await sleep(5000)
    }
  }
}
function removeSnapshot () {
  if (snapshotDir) { try { fs.rmSync(snapshotDir, { recursive: true, force: true }) } catch (e) {} }
}
process.on('exit', removeSnapshot)

// ------------------------------------------------------------------------------------------- main
let manyOk = true
async function main () {
  const t0 = Date.now()
  if (!fs.existsSync(path.join(targets.ROOT, 'dist', 'src', 'main.js'))) throw new Error('dist/src/main.js not found: run `npm run build` (or `npm run bench`)')
  await snapshotDist()
  manyOk = targets.miniAccountsAvailable()
  const needsMini = opt.kinds.includes('ilp-connector') && (opt.phases.includes('many') || opt.phases.includes('idle'))
  if (needsMini && !manyOk) log('WARNING: ilp-plugin-mini-accounts not found: ilp-connector is left out of the many-senders and idle phases (install it with `bash ../shared/anchor-bench/setup.sh`)')
  const meta = {
    type: 'meta',
    date: started.toISOString(),
    command: 'node bench/run.js ' + process.argv.slice(2).join(' '),
    options: opt,
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0] && os.cpus()[0].model,
    memGiB: r1(os.totalmem() / 2 ** 30),
    nofile: nofile(process.pid),
    git: { commit: sh('git', ['rev-parse', '--short', 'HEAD']), dirtySrcFiles: (sh('git', ['status', '--porcelain', 'src']) || '').split('\n').filter(Boolean).length },
    ilpConnector: (() => { try { return require('ilp-connector/package.json').version } catch (e) { return null } })(),
    miniAccounts: manyOk
  }
  record(meta)
  log(`results: ${path.relative(process.cwd(), outFile)}; child logs: ${path.dirname(targets.logFile('x'))}`)
  log(`options: ${JSON.stringify(opt)}`)

  for (let rep = 1; rep <= opt.reps; rep++) {
    log(`---- rep ${rep}/${opt.reps}`)
    if (opt.phases.includes('forward')) {
      for (const c of opt.concurrency) {
        for (const kind of rotate(opt.kinds, rep - 1)) await loadRun({ phase: 'forward', kind, concurrency: c, senders: opt.clients, rep })
      }
    }
    if (opt.phases.includes('many')) {
      const kinds = ['ours', 'ilp-connector', 'baseline'].filter(k => opt.kinds.includes(k) || (k === 'ours' && opt.kinds.includes('ours-fast'))).filter(k => k !== 'ilp-connector' || manyOk)
      for (const kind of rotate(kinds, rep - 1)) await loadRun({ phase: 'many', kind, concurrency: opt.manyConcurrency, senders: opt.manySenders, rep })
    }
    if (opt.phases.includes('idle')) {
      // baseline: bench/ws-floor-server.js, what ws itself costs per connection (the floor for any connector on ws)
      const kinds = ['ours', 'ilp-connector', 'baseline'].filter(k => k === 'ours' || (k === 'baseline' && opt.kinds.includes(k)) || (opt.kinds.includes(k) && manyOk))
      for (const kind of rotate(kinds, rep - 1)) await idleRun(kind, opt.idleConns, rep)
    }
    if (opt.phases.includes('routing')) await routingRun(rep)
  }

  const { md, summary } = summarize()
  summary.elapsedS = r1((Date.now() - t0) / 1000)
  record(summary)
  const header = `Run ${started.toISOString()} (${summary.elapsedS} s): \`${meta.command.trim()}\`, Node ${meta.node}, ${meta.cpus} cores (${meta.cpuModel}), ` +
    `git ${meta.git.commit}${meta.git.dirtySrcFiles ? ` + ${meta.git.dirtySrcFiles} uncommitted src file(s)` : ''}, ilp-connector ${meta.ilpConnector}.`
  fs.writeFileSync(mdFile, header + '\n\n' + md + '\n')
  const failed = records.filter(r => r.type === 'run' && r.counted && !r.ok)
  process.stdout.write('\n' + header + '\n\n' + md + '\n')
  process.stdout.write(`\nraw results: ${path.relative(process.cwd(), outFile)}\nmarkdown:    ${path.relative(process.cwd(), mdFile)}\n`)
  if (failed.length) process.stdout.write(`${failed.length} counted run(s) not OK (see the raw file): ${failed.map(r => `${r.phase}:${r.kind}:c${r.concurrency || ''}:r${r.rep}`).join(', ')}\n`)
  targets.killAll()
  process.exit(failed.length ? 1 : 0)
}

main().catch((e) => bail(1, 'error: ' + (e && e.stack ? e.stack : e)))
