#!/usr/bin/env node
'use strict'
/*
Metamorphosis load generator: ILPv4 Prepares over BTP 2.0 (WebSocket), one JSON result line on stdout,
progress on stderr.

Load (through a connector):
  node bench/loadgen.js --senders 'btp+ws://:s{i}@127.0.0.1:7768' --clients 4 \
      --receiver btp+ws://:recv@127.0.0.1:7768 [--destination ADDR] \
      [--concurrency 100] [--count 20000] [--warmup 10000] [--amount 10] [--pid PID] [--label L]
  --senders   comma list of BTP URLs; a URL containing {i} is expanded --clients times (i = 0..N-1)
  --receiver  one client that fulfils every Prepare it gets (stateless: data = fulfillment)
  --destination  default: the receiver's own address, learned by ILDCP (peer.config) through the receiver
  --concurrency  packets in flight in total, spread round-robin over the senders
  --warmup    unmeasured packets first (a fresh connector's JIT needs ~10k)
  --pid       sample that process's CPU time (/proc/PID/stat) and RSS (/proc/PID/status) over the measured phase
  --verify    check every fulfillment against its condition
  --mask random  mask client frames with random keys (default: an all-zero mask, which ws skips; the frames
              are identical on the wire apart from the key, and the load generator spends less CPU)
  --max-seconds 600  the process gives up and exits by itself after this

No-connector baseline (a plain BTP server that accepts any auth and fulfils every Prepare):
  node bench/loadgen.js --serve-receiver 7650           # prints {"event":"listening",...}, runs until SIGTERM
  node bench/loadgen.js --senders 'btp+ws://:c{i}@127.0.0.1:7650' --clients 4 --destination test.direct.recv --pid <its pid>

Idle connections (memory per connection):
  node bench/loadgen.js --hold 2500 --senders 'btp+ws://:idle{i}@127.0.0.1:7768' [--offset 0] [--parallel 200]
  opens and authenticates that many clients (token i from --offset), prints {"event":"held",...} and keeps them
  open, doing nothing, until SIGTERM or --max-seconds (or stdin closes, with --exit-with-stdin).

Packets: fixed amount, a random 32-byte fulfillment per packet, condition = sha256(fulfillment),
data = the fulfillment, expiry now + 30 s. The hot path uses hand-built frames (bench/wire.js; checked
against btp-packet/ilp-packet by --self-test), one Map lookup per response, and corks every socket until the
end of the tick so a batch of frames leaves in one writev.
*/
const fs = require('fs')
const os = require('os')
const crypto = require('crypto')
const { performance } = require('perf_hooks')
const { execFileSync } = require('child_process')
const WebSocket = require('ws')
const BtpPacket = require('btp-packet')
const wire = require('./wire')

// ------------------------------------------------------------------------------------------- arguments
const { parseArgs } = require('./args')
const args = parseArgs(process.argv.slice(2))
const num = (k, d) => args[k] === undefined ? d : Number(args[k])
const cfg = {
  concurrency: num('concurrency', 100),
  count: num('count', 20000),
  warmup: num('warmup', 10000),
  amount: String(args.amount || '10'),
  expiryMs: num('expiry-ms', 30000),
  clients: num('clients', 1),
  label: args.label === undefined ? undefined : String(args.label),
  verify: !!args.verify,
  zeroMask: args.mask !== 'random',
  maxSeconds: num('max-seconds', 600),
  stallSeconds: num('stall-seconds', 45),
  parallel: num('parallel', 200)
}
const log = (...a) => { if (!args.quiet) process.stderr.write('[loadgen] ' + a.join(' ') + '\n') }
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
const r3 = (x) => (x === null || x === undefined || !Number.isFinite(x)) ? null : Math.round(x * 1000) / 1000

const hardStop = setTimeout(() => {
  process.stdout.write(JSON.stringify({ label: cfg.label, ok: false, error: `gave up after --max-seconds ${cfg.maxSeconds}` }) + '\n')
  process.exit(3)
}, cfg.maxSeconds * 1000)
hardStop.unref()

// ------------------------------------------------------------------------------------------- corking
// Every socket written in this tick is corked once and uncorked in one nextTick: the frames queued in a
// tick (typically: many responses arrived in one read, each launching a new Prepare) leave in one writev.
let corked = []
function flushCorked () {
  const list = corked
  corked = []
  for (let i = 0; i < list.length; i++) { list[i].corked = false; list[i].sock.uncork() }
}

const zeroMask = (mask) => { mask[0] = 0; mask[1] = 0; mask[2] = 0; mask[3] = 0 }
const EMPTY = Buffer.alloc(0)
const OCTETS = BtpPacket.MIME_APPLICATION_OCTET_STREAM
const TEXT = BtpPacket.MIME_TEXT_PLAIN_UTF8

// ------------------------------------------------------------------------------------------- BTP session
/**
 * One authenticated BTP 2.0 WebSocket, either side. Requests we send are matched to responses by requestId:
 * a number in `pending` is a Prepare of the running phase (reported through onReply/onFail), an object is a
 * control request (auth, ILDCP) with resolve/reject. Incoming Prepares are fulfilled when `fulfils`.
 */
class Session {
  constructor (ws, name, fulfils) {
    this.ws = ws
    this.sock = ws._socket
    this.name = name
    this.fulfils = fulfils
    this.pending = new Map()
    this.nextId = crypto.randomBytes(4).readUInt32BE(0)
    this.corked = false
    this.closed = false
    this.onReply = null // (index, ilpBuffer | null) => void
    this.onFail = null // (index, message) => void
    ws.on('message', (data) => this.onMessage(data))
    ws.on('close', () => this.failAll('websocket closed'))
    ws.on('error', (e) => this.failAll('websocket error: ' + e.message))
  }

  id () { this.nextId = (this.nextId + 1) >>> 0; return this.nextId }

  send (frame) {
    if (!this.corked && this.sock) {
      this.corked = true
      this.sock.cork()
      if (corked.push(this) === 1) process.nextTick(flushCorked)
    }
    this.ws.send(frame)
  }

  /** Hot path: a Prepare for phase index `index` with key `keyIndex`. */
  sendPrepare (tpl, expiry, keys, keyIndex, index) {
    if (this.closed) { this.onFail(index, 'websocket closed'); return }
    const id = this.id()
    this.pending.set(id, index)
    this.send(tpl.build(id, expiry, keys.cond, keys.ful, keyIndex * 32))
  }

  /** Control request: a whole BTP frame with a fresh requestId; resolves with the response frame. */
  request (type, protocolData, timeoutMs = 30000) {
    if (this.closed) return Promise.reject(new Error(this.name + ': websocket closed'))
    const requestId = this.id()
    const frame = BtpPacket.serialize({ type, requestId, data: { protocolData } })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(requestId); reject(new Error(this.name + ': no response in ' + timeoutMs + ' ms')) }, timeoutMs)
      this.pending.set(requestId, {
        resolve: (f) => { clearTimeout(timer); resolve(f) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.send(frame)
    })
  }

  /** ILP request/response for control traffic (ILDCP). */
  async sendIlp (ilp) {
    const frame = await this.request(BtpPacket.TYPE_MESSAGE, [{ protocolName: 'ilp', contentType: OCTETS, data: ilp }])
    return wire.ilpData(frame) || EMPTY
  }

  onMessage (data) {
    const type = data[0]
    if (type === wire.BTP_RESPONSE || type === wire.BTP_ERROR) {
      const id = data.readUInt32BE(1)
      const p = this.pending.get(id)
      if (p === undefined) return
      this.pending.delete(id)
      if (typeof p === 'number') {
        if (type === wire.BTP_RESPONSE) {
          let ilp = null
          try { ilp = wire.ilpData(data) } catch (e) {}
          this.onReply(p, ilp)
        } else {
          this.onFail(p, btpErrorMessage(data))
        }
      } else if (type === wire.BTP_RESPONSE) {
        p.resolve(data)
      } else {
        p.reject(new Error(this.name + ': ' + btpErrorMessage(data)))
      }
      return
    }
    if (type === wire.BTP_MESSAGE || type === wire.BTP_TRANSFER) {
      const id = data.readUInt32BE(1)
      let ilp = null
      try { ilp = wire.ilpData(data) } catch (e) {}
      if (ilp === null || ilp.length === 0) { this.send(wire.emptyResponseFrame(id)); return }
      this.send(this.fulfils ? answerPrepare(id, ilp) : rejectFrame(id, 'F02', 'this client does not receive payments'))
    }
  }

  failAll (message) {
    if (this.closed) return
    this.closed = true
    const list = [...this.pending.values()]
    this.pending.clear()
    for (const p of list) {
      if (typeof p === 'number') { if (this.onFail) this.onFail(p, message) } else p.reject(new Error(this.name + ': ' + message))
    }
  }

  close () { try { this.ws.close() } catch (e) {} }
  terminate () { try { this.ws.terminate() } catch (e) {} }
}

function btpErrorMessage (frame) {
  try {
    const p = BtpPacket.deserialize(frame)
    return `BTP error ${p.data.code} ${p.data.name}: ${String(p.data.data || '').slice(0, 200)}`
  } catch (e) { return 'malformed BTP error frame' }
}

// The receiver: data = fulfillment, so every Prepare is fulfilled statelessly.
function answerPrepare (requestId, prepare) {
  let off = -1
  try { off = wire.prepareDataOffset(prepare) } catch (e) {}
  if (off < 0) return rejectFrame(requestId, 'F01', 'not a well-formed prepare')
  if (wire.prepareDataOffset.length_ < 32) return rejectFrame(requestId, 'F06', 'unexpected payment: data is not a fulfillment')
  return wire.fulfillResponseFrame(requestId, prepare, off)
}

let IlpPacket = null
function rejectFrame (requestId, code, message) {
  if (IlpPacket === null) IlpPacket = require('ilp-packet')
  const reject = IlpPacket.serializeIlpReject({ code, triggeredBy: '', message, data: EMPTY })
  return wire.ilpResponseFrame(requestId, reject)
}

// ------------------------------------------------------------------------------------------- client
function parseBtpUrl (url) {
  if (!String(url).startsWith('btp+')) throw new Error('a BTP URL starts with btp+ws:// or btp+wss://: ' + url)
  const u = new URL(String(url).slice(4))
  const username = decodeURIComponent(u.username)
  const token = decodeURIComponent(u.password)
  u.username = ''
  u.password = ''
  return { wsUrl: u.toString(), username, token }
}

/** Connects and authenticates (retrying refused connections until the deadline). Resolves with a Session. */
async function connectClient (url, { fulfils = false, timeoutMs = 60000 } = {}) {
  const { wsUrl, username, token } = parseBtpUrl(url)
  const deadline = Date.now() + timeoutMs
  const name = wsUrl.replace(/\/$/, '') + ' token ' + token
  for (;;) {
    let ws
    try {
      ws = await new Promise((resolve, reject) => {
        const w = new WebSocket(wsUrl, {
          perMessageDeflate: false,
          skipUTF8Validation: true,
          handshakeTimeout: 20000,
          generateMask: cfg.zeroMask ? zeroMask : undefined
        })
        w.once('open', () => { w.removeAllListeners('error'); resolve(w) })
        w.once('error', (e) => { reject(e) })
        w.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)))
      })
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`cannot connect to ${name}: ${e.message}`)
      await sleep(100 + Math.random() * 200)
      continue
    }
    const session = new Session(ws, name, fulfils)
    ws.on('error', () => {})
    await session.request(BtpPacket.TYPE_MESSAGE, [
      { protocolName: 'auth', contentType: OCTETS, data: EMPTY },
      { protocolName: 'auth_username', contentType: TEXT, data: Buffer.from(username, 'utf8') },
      { protocolName: 'auth_token', contentType: TEXT, data: Buffer.from(token, 'utf8') }
    ], Math.max(1000, deadline - Date.now()))
    return session
  }
}

/** Runs `fn` over `items` with at most `parallel` at once. */
async function pool (items, parallel, fn) {
  const out = new Array(items.length)
  let next = 0
  async function worker () {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i], i) }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker))
  return out
}

function expandUrls (spec, n) {
  const list = String(spec).split(',').filter(Boolean)
  if (list.length === 1 && list[0].includes('{i}')) return Array.from({ length: n }, (_, i) => list[0].split('{i}').join(String(i)))
  return list
}

// ------------------------------------------------------------------------------------------- keys
/** n random fulfillments and their sha256 conditions, in two flat buffers (32 bytes each). */
function makeKeys (n) {
  const ful = crypto.randomBytes(n * 32)
  const cond = Buffer.allocUnsafe(n * 32)
  for (let i = 0; i < n; i++) {
    crypto.createHash('sha256').update(ful.subarray(i * 32, i * 32 + 32)).digest().copy(cond, i * 32)
  }
  return { ful, cond, n }
}

// ------------------------------------------------------------------------------------------- phase
/**
 * Sends n Prepares (keys keyBase..keyBase+n-1) keeping `concurrency` in flight, round-robin over the
 * senders; resolves with per-packet latencies and counts.
 */
function runPhase ({ senders, tpl, keys, keyBase, n, concurrency }) {
  const lat = new Float64Array(n)
  const t0 = new Float64Array(n)
  const st = { fulfilled: 0, rejected: 0, errors: 0, badFulfillment: 0, rejects: {}, errorMessages: {} }
  if (n === 0) return Promise.resolve({ lat, st, wallS: 0 })
  const expiryMs = cfg.expiryMs
  let expMs = -1
  let expBuf = null
  let next = 0
  let done = 0
  let rr = 0
  let lastProgress = Date.now()
  return new Promise((resolve) => {
    const start = performance.now()
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      clearInterval(watchdog)
      for (const s of senders) { s.onReply = null; s.onFail = null }
      resolve({ lat, st, wallS: (performance.now() - start) / 1000 })
    }
    const launch = () => {
      const i = next++
      const s = senders[rr]
      if (++rr === senders.length) rr = 0
      const now = Date.now()
      if (now !== expMs) { expMs = now; expBuf = Buffer.from(wire.interledgerTime(now + expiryMs), 'ascii') }
      t0[i] = performance.now()
      s.sendPrepare(tpl, expBuf, keys, keyBase + i, i)
    }
    const complete = () => {
      done++
      if (next < n) launch()
      else if (done === n) finish()
    }
    const onReply = (i, ilp) => {
      lat[i] = performance.now() - t0[i]
      lastProgress = Date.now()
      const t = ilp === null ? 0 : ilp[0]
      if (t === wire.ILP_FULFILL) {
        if (cfg.verify) {
          // Fulfill: type, length (33 + data length), then the 32-byte fulfillment
          wire.readLength(ilp, 1)
          const f = ilp.subarray(wire.readLength.next, wire.readLength.next + 32)
          const c = crypto.createHash('sha256').update(f).digest()
          if (!c.equals(keys.cond.subarray((keyBase + i) * 32, (keyBase + i) * 32 + 32))) st.badFulfillment++
        }
        st.fulfilled++
      } else if (t === wire.ILP_REJECT) {
        st.rejected++
        let key = 'unparsable reject'
        try {
          if (IlpPacket === null) IlpPacket = require('ilp-packet')
          const r = IlpPacket.deserializeIlpReject(ilp)
          key = r.code + ' ' + String(r.message).slice(0, 120)
        } catch (e) {}
        st.rejects[key] = (st.rejects[key] || 0) + 1
      } else {
        st.errors++
        const key = ilp === null ? 'response without ilp data' : 'unexpected ILP type ' + t
        st.errorMessages[key] = (st.errorMessages[key] || 0) + 1
      }
      complete()
    }
    const onFail = (i, message) => {
      lat[i] = performance.now() - t0[i]
      lastProgress = Date.now()
      st.errors++
      const key = String(message).slice(0, 160)
      st.errorMessages[key] = (st.errorMessages[key] || 0) + 1
      complete()
    }
    for (const s of senders) { s.onReply = onReply; s.onFail = onFail }
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > cfg.stallSeconds * 1000) {
        const missing = n - done
        st.errors += missing
        st.errorMessages['no response (stalled ' + cfg.stallSeconds + ' s)'] = missing
        finish()
      }
    }, 1000)
    const c = Math.min(concurrency, n)
    for (let k = 0; k < c; k++) launch()
  })
}

// ------------------------------------------------------------------------------------------- /proc
let clkTck = null
function clockTicks () {
  if (clkTck === null) {
    try { clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()) || 100 } catch (e) { clkTck = 100 }
  }
  return clkTck
}
/** CPU seconds (utime + stime) and RSS/peak RSS (KiB) of a process, or null. */
function procSample (pid) {
  if (!pid) return null
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (k) => { const m = status.match(new RegExp('^' + k + ':\\s+(\\d+)', 'm')); return m ? Number(m[1]) : null }
    return { cpuS: (Number(f[11]) + Number(f[12])) / clockTicks(), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') }
  } catch (e) { return null }
}
/** Whole-machine jiffies from /proc/stat. */
function hostSample () {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0), total: f.slice(0, 8).reduce((a, b) => a + (b || 0), 0) }
  } catch (e) { return null }
}

// ------------------------------------------------------------------------------------------- stats
function pct (sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}
const compact = (o) => Object.keys(o).length ? o : undefined

// ------------------------------------------------------------------------------------------- modes
async function loadMain () {
  if (!args.senders) throw new Error('--senders is required (see the header of bench/loadgen.js)')
  const senderUrls = expandUrls(args.senders, cfg.clients)
  const pid = args.pid ? Number(args.pid) : null
  const tConnect = Date.now()
  const [receiver, senders] = await Promise.all([
    args.receiver ? connectClient(String(args.receiver), { fulfils: true }) : null,
    pool(senderUrls, cfg.parallel, (u) => connectClient(u))
  ])
  const connectMs = Date.now() - tConnect
  let destination = args.destination ? String(args.destination) : null
  if (!destination) {
    if (!receiver) throw new Error('--destination is required without --receiver')
    const ILDCP = require('ilp-protocol-ildcp')
    const deadline = Date.now() + 30000
    for (;;) {
      try { destination = (await ILDCP.fetch((b) => receiver.sendIlp(b))).clientAddress; break } catch (e) {
        if (Date.now() > deadline) throw new Error('ILDCP through the receiver failed: ' + e.message)
        await sleep(200)
      }
    }
  }
  log(`connected ${senders.length} sender(s)${receiver ? ' + receiver' : ''} in ${connectMs} ms; destination ${destination}`)
  const tpl = new wire.PrepareFrameTemplate({ amount: cfg.amount, destination, dataLength: 32 })

  // Probe: every sender gets one Prepare fulfilled before the warm-up (routes may still be settling).
  const probeDeadline = Date.now() + 60000
  let pendingSenders = senders
  let lastProbe = null
  while (pendingSenders.length) {
    const keys = makeKeys(pendingSenders.length)
    const failed = []
    // one phase per attempt, concurrency = number of senders, so each sender sends exactly one Prepare
    const res = await runPhaseTracked(pendingSenders, tpl, keys)
    res.forEach((ok, k) => { if (!ok) failed.push(pendingSenders[k]) })
    lastProbe = res.st
    pendingSenders = failed
    if (!failed.length) break
    if (Date.now() > probeDeadline) throw new Error(`probe: ${failed.length} sender(s) never got a Prepare fulfilled: ${JSON.stringify(lastProbe)}`)
    await sleep(250)
  }

  const keys = makeKeys(cfg.warmup + cfg.count)
  const warm = await runPhase({ senders, tpl, keys, keyBase: 0, n: cfg.warmup, concurrency: cfg.concurrency })
  log(`warm-up: ${warm.st.fulfilled}/${cfg.warmup} fulfilled in ${warm.wallS.toFixed(2)} s`)
  if (global.gc) global.gc()

  const before = procSample(pid)
  const hostBefore = hostSample()
  const selfBefore = process.cpuUsage()
  const m = await runPhase({ senders, tpl, keys, keyBase: cfg.warmup, n: cfg.count, concurrency: cfg.concurrency })
  const self = process.cpuUsage(selfBefore)
  const hostAfter = hostSample()
  const after = procSample(pid)

  const sorted = m.lat.slice().sort()
  const selfCpuS = (self.user + self.system) / 1e6
  const targetCpuS = before && after ? after.cpuS - before.cpuS : null
  let host
  if (hostBefore && hostAfter && hostAfter.total > hostBefore.total) {
    const cores = os.cpus().length
    const busyCorePct = 100 * cores * (hostAfter.busy - hostBefore.busy) / (hostAfter.total - hostBefore.total)
    const accounted = 100 * (selfCpuS + (targetCpuS || 0)) / m.wallS
    host = { cores, busyCorePct: r3(busyCorePct), othersCorePct: r3(Math.max(0, busyCorePct - accounted)) }
  }
  const result = {
    label: cfg.label,
    ok: m.st.fulfilled === cfg.count && warm.st.fulfilled === cfg.warmup && m.st.badFulfillment === 0,
    senders: senders.length,
    destination,
    concurrency: cfg.concurrency,
    count: cfg.count,
    warmup: cfg.warmup,
    amount: cfg.amount,
    connectMs,
    wallS: r3(m.wallS),
    throughputPps: Math.round(m.st.fulfilled / m.wallS),
    latencyMs: {
      p50: r3(pct(sorted, 50)),
      p90: r3(pct(sorted, 90)),
      p99: r3(pct(sorted, 99)),
      max: r3(sorted[sorted.length - 1]),
      mean: r3(sorted.reduce((a, b) => a + b, 0) / sorted.length)
    },
    fulfilled: m.st.fulfilled,
    rejected: m.st.rejected,
    errors: m.st.errors,
    badFulfillment: cfg.verify ? m.st.badFulfillment : undefined,
    rejects: compact(m.st.rejects),
    errorMessages: compact(m.st.errorMessages),
    warmupFulfilled: warm.st.fulfilled,
    warmupRejects: compact(warm.st.rejects),
    warmupErrors: compact(warm.st.errorMessages),
    loadgen: { cpuPct: r3(100 * selfCpuS / m.wallS), cpuUsPerPkt: r3(1e6 * selfCpuS / cfg.count) },
    target: before && after ? {
      pid,
      cpuPct: r3(100 * targetCpuS / m.wallS),
      cpuUsPerPkt: r3(1e6 * targetCpuS / cfg.count),
      rssMiB: r3(after.rssKiB / 1024),
      peakRssMiB: r3(after.hwmKiB / 1024)
    } : undefined,
    host,
    node: process.version
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  for (const s of senders) s.close()
  if (receiver) receiver.close()
  await sleep(50)
  process.exit(result.ok ? 0 : 1)
}

/** One Prepare through each sender; returns an array of booleans (fulfilled?) with .st attached. */
async function runPhaseTracked (senders, tpl, keys) {
  // concurrency = senders.length and round-robin from 0: sender k sends index k
  const okByIndex = new Array(senders.length).fill(false)
  const wrapped = senders
  const res = await new Promise((resolve) => {
    let done = 0
    const st = { fulfilled: 0, rejected: 0, errors: 0, rejects: {}, errorMessages: {} }
    const expBuf = Buffer.from(wire.interledgerTime(Date.now() + cfg.expiryMs), 'ascii')
    const timer = setTimeout(() => { for (const s of wrapped) { s.onReply = null; s.onFail = null } resolve(st) }, 35000)
    const finishOne = () => { if (++done === senders.length) { clearTimeout(timer); resolve(st) } }
    wrapped.forEach((s) => {
      s.onReply = (i, ilp) => {
        if (ilp && ilp[0] === wire.ILP_FULFILL) { okByIndex[i] = true; st.fulfilled++ } else if (ilp && ilp[0] === wire.ILP_REJECT) {
          st.rejected++
          try {
            if (IlpPacket === null) IlpPacket = require('ilp-packet')
            const r = IlpPacket.deserializeIlpReject(ilp)
            const key = r.code + ' ' + r.message.slice(0, 100)
            st.rejects[key] = (st.rejects[key] || 0) + 1
          } catch (e) {}
        } else st.errors++
        finishOne()
      }
      s.onFail = (i, message) => { st.errors++; st.errorMessages[message] = (st.errorMessages[message] || 0) + 1; finishOne() }
    })
    wrapped.forEach((s, k) => s.sendPrepare(tpl, expBuf, keys, k, k))
  })
  for (const s of wrapped) { s.onReply = null; s.onFail = null }
  okByIndex.st = res
  return okByIndex
}

async function serveReceiverMain (port) {
  const host = String(args.host || '127.0.0.1')
  const sessions = new Set()
  const wss = new WebSocket.Server({ host, port, perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 1 << 20 })
  await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject) })
  wss.on('connection', (ws) => {
    ws.on('error', () => {})
    ws.once('message', (data) => {
      // the first frame must be the auth MESSAGE; any credentials are accepted
      let auth
      try { auth = BtpPacket.deserialize(data) } catch (e) { ws.close(1008, 'bad auth frame'); return }
      const s = new Session(ws, 'receiver-server', true)
      sessions.add(s)
      ws.on('close', () => sessions.delete(s))
      ws.send(wire.emptyResponseFrame(auth.requestId))
    })
  })
  const actualPort = wss.address().port
  process.stdout.write(JSON.stringify({ event: 'listening', pid: process.pid, port: actualPort, url: `btp+ws://:any@${host}:${actualPort}`, destination: 'test.direct.recv' }) + '\n')
  const stop = () => {
    for (const s of sessions) s.terminate()
    wss.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  watchParent(stop)
  hardStop.ref()
}

/** --exit-with-stdin: stop when stdin closes (the parent, e.g. bench/run.js, went away). */
function watchParent (stop) {
  if (!args['exit-with-stdin']) return
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}

async function holdMain (n) {
  const offset = num('offset', 0)
  const spec = String(args.senders || '')
  if (!spec.includes('{i}')) throw new Error('--hold needs --senders with {i} in it (one token per connection)')
  const urls = Array.from({ length: n }, (_, k) => spec.split('{i}').join(String(offset + k)))
  const sessions = []
  const failMessages = {}
  let failed = 0
  let dropped = 0
  const t0 = Date.now()
  await pool(urls, cfg.parallel, async (u) => {
    try {
      const s = await connectClient(u, { timeoutMs: 120000 })
      s.ws.on('close', () => { dropped++ })
      sessions.push(s)
    } catch (e) {
      failed++
      const k = String(e.message).replace(/token \S+/, 'token …').slice(0, 160)
      failMessages[k] = (failMessages[k] || 0) + 1
    }
  })
  const report = (event) => process.stdout.write(JSON.stringify({
    event, pid: process.pid, open: sessions.length - dropped, failed, dropped, failMessages: compact(failMessages),
    ms: Date.now() - t0, rssMiB: r3(process.memoryUsage().rss / 1048576)
  }) + '\n')
  report('held')
  const stop = () => { report('closing'); for (const s of sessions) s.terminate(); setTimeout(() => process.exit(0), 20) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  watchParent(stop)
  hardStop.ref()
}

function selfTest () {
  const IlpPacket = require('ilp-packet')
  const assert = require('assert')
  for (const destination of ['test.direct.recv', 'test.local.' + 'x'.repeat(60), 'g.' + 'y'.repeat(300)]) {
    for (const amount of ['0', '10', '18446744073709551615']) {
      const keys = makeKeys(2)
      const expiresAt = new Date(Date.now() + 30000)
      const expiry = Buffer.from(wire.interledgerTime(expiresAt.getTime()), 'ascii')
      const tpl = new wire.PrepareFrameTemplate({ amount, destination })
      const mine = tpl.build(0xdeadbeef, expiry, keys.cond, keys.ful, 32)
      const theirs = BtpPacket.serialize({
        type: BtpPacket.TYPE_MESSAGE,
        requestId: 0xdeadbeef,
        data: {
          protocolData: [{
            protocolName: 'ilp',
            contentType: OCTETS,
            data: IlpPacket.serializeIlpPrepare({ amount, expiresAt, executionCondition: keys.cond.subarray(32, 64), destination, data: keys.ful.subarray(32, 64) })
          }]
        }
      })
      assert.deepStrictEqual(mine, theirs, 'prepare frame for ' + destination)
      const prepare = wire.ilpData(mine)
      assert.deepStrictEqual(IlpPacket.deserializeIlpPrepare(prepare).destination, destination)
      const off = wire.prepareDataOffset(prepare)
      assert.deepStrictEqual(prepare.subarray(off, off + 32), keys.ful.subarray(32, 64))
      const resp = wire.fulfillResponseFrame(7, prepare, off)
      const theirResp = BtpPacket.serializeResponse(7, [{ protocolName: 'ilp', contentType: OCTETS, data: IlpPacket.serializeIlpFulfill({ fulfillment: keys.ful.subarray(32, 64), data: EMPTY }) }])
      assert.deepStrictEqual(resp, theirResp, 'fulfill response')
      const big = crypto.randomBytes(5000)
      assert.deepStrictEqual(wire.ilpResponseFrame(9, big), BtpPacket.serializeResponse(9, [{ protocolName: 'ilp', contentType: OCTETS, data: big }]))
      assert.deepStrictEqual(wire.ilpData(BtpPacket.serializeResponse(9, [{ protocolName: 'foo', contentType: 1, data: Buffer.from('x') }, { protocolName: 'ilp', contentType: OCTETS, data: big }])), big)
    }
  }
  assert.deepStrictEqual(wire.emptyResponseFrame(5), BtpPacket.serializeResponse(5, []))
  process.stdout.write(JSON.stringify({ ok: true, selfTest: 'hand-built frames equal btp-packet/ilp-packet output' }) + '\n')
}

async function main () {
  if (args['self-test']) return selfTest()
  if (args['serve-receiver'] !== undefined) return serveReceiverMain(Number(args['serve-receiver']))
  if (args.hold !== undefined) return holdMain(Number(args.hold))
  hardStop.ref()
  return loadMain()
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ label: cfg.label, ok: false, error: String(err && err.message ? err.message : err) }) + '\n')
  process.exit(1)
})
