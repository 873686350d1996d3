#!/usr/bin/env node
'use strict'
/*
Micro-benchmark of the transfer history's own cost (docs/benchmarks.md): N transfers (prepared + fulfilled)
through TransferHistory into a LevelStore (strict durability) in a temp dir, flushed every 1,000 as the
timer would; prints CPU µs per transfer for building the chunks, and including LevelDB's write.
  npm run build && node bench/history-micro.js [--count 50000]
*/
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const pino = require('pino')
const { parseArgs } = require('./args')
const dist = path.join(__dirname, '..', 'dist', 'src')
const { LevelStore } = require(path.join(dist, 'store', 'LevelStore'))
const { TransferHistory } = require(path.join(dist, 'history', 'TransferHistory'))

;(async () => {
  const N = Number(parseArgs(process.argv.slice(2)).count || 50000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-history-micro-'))
  const log = pino({ level: 'silent' })
  const store = await LevelStore.open(dir, { durability: 'strict', fastFlushIntervalMs: 100, log })
  const history = new TransferHistory(store, 3600e3, 36000, log)
  await history.start()
  history.stop()
  const reply = { kind: 'fulfill', fulfillment: crypto.randomBytes(32), packet: Buffer.alloc(40) }
  const prepare = { amount: 100n, expiresAt: Date.now() + 30000, executionCondition: crypto.randomBytes(32), destination: 'test.local.lbbbbbbbbbbbbbbbbbbbb', data: Buffer.alloc(0), packet: Buffer.alloc(0) }
  const c0 = process.cpuUsage()
  for (let i = 1; i <= N; i++) {
    history.prepared('laaaaaaaaaaaaaaaaaaaa', i, prepare, 'lbbbbbbbbbbbbbbbbbbbb', Date.now())
    history.settled('laaaaaaaaaaaaaaaaaaaa', i, reply, Date.now())
    if (i % 1000 === 0) history.flush()
  }
  const built = process.cpuUsage(c0)
  await store.flush()
  const total = process.cpuUsage(c0)
  console.log(JSON.stringify({ transfers: N, chunksUsPerTransfer: +((built.user + built.system) / N).toFixed(1), withLevelDbUsPerTransfer: +((total.user + total.system) / N).toFixed(1) }))
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
})()
