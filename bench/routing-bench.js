#!/usr/bin/env node
'use strict'
/*
Routing lookup cost against table size, on the connector's own routing code (dist/src/routing/PrefixTable.js,
so `npm run build` first). Prints one JSON line.

  node bench/routing-bench.js [--sizes 10,100000] [--lookups 1000000] [--shards 4] [--passes 3] [--active 0]

For each size S: S static routes g.p<k> (k < S), spread over --shards tables with shardOf() as the
connector does; --lookups random destinations g.p<k>.u<random>.i<random> (k random < S), made before the
clock starts, so every lookup walks two misses (4 and 3 segments) and then hits the 2-segment route.
With --active W (> 0), the destinations are W distinct ones (picked as above, so with 100,000 routes
they hit W different routes) repeated: the connector's real load, where the packets in flight at any
moment go to a limited set of receivers. It separates the lookup's own cost (which does not depend on
the table's size) from the CPU cache's (the whole table's working set, when every lookup hits a random
route of 100,000).
Each pass times all lookups once (sizes alternate, after one untimed warm-up pass each); the result is the
median pass in ns per lookup, and the ratio largest ÷ smallest size.
*/
const path = require('path')
const { performance } = require('perf_hooks')

const { parseArgs } = require('./args')
const args = parseArgs(process.argv.slice(2))
const sizes = String(args.sizes || '10,100000').split(',').map(Number)
const lookups = Number(args.lookups || 1000000)
const shards = Number(args.shards || 4)
const passes = Number(args.passes || 3)
const active = Number(args.active || 0)
const dist = path.resolve(args.dist || path.join(__dirname, '..', 'dist'))
const { PrefixTable, shardOf, longestPrefixMatch } = require(path.join(dist, 'src', 'routing', 'PrefixTable.js'))

// deterministic pseudo-random numbers (xorshift32), so both sizes get the same kind of destinations
let seed = 0x9e3779b9
function rnd () { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed }

function build (size) {
  const tables = Array.from({ length: shards }, () => new PrefixTable())
  for (let k = 0; k < size; k++) {
    const prefix = 'g.p' + k
    tables[shardOf(prefix, shards)].add({ prefix, nextHop: 'acct' + (k % 97), kind: 'static' })
  }
  const destinations = new Array(lookups)
  const distinct = active > 0 ? active : lookups
  for (let i = 0; i < distinct; i++) {
    // (the untimed warm-up pass flattens these cons strings)
    destinations[i] = 'g.p' + (rnd() % size) + '.u' + rnd().toString(36) + '.i' + (rnd() % 100000)
  }
  for (let i = distinct; i < lookups; i++) destinations[i] = destinations[rnd() % distinct]
  return { size, tables, destinations }
}

function pass (t) {
  const { tables, destinations } = t
  let misses = 0
  let checksum = 0
  const start = performance.now()
  for (let i = 0; i < destinations.length; i++) {
    const hop = longestPrefixMatch(tables, destinations[i])
    if (hop === undefined) misses++
    else checksum += hop.length
  }
  const ms = performance.now() - start
  return { nsPerLookup: 1e6 * ms / destinations.length, misses, checksum }
}

const median = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2 }

const sets = sizes.map(build)
for (const t of sets) pass(t) // warm-up: JIT, string hashes
const ns = sets.map(() => [])
let misses = 0
for (let p = 0; p < passes; p++) {
  for (let s = 0; s < sets.length; s++) {
    const r = pass(sets[p % 2 ? sets.length - 1 - s : s])
    ns[p % 2 ? sets.length - 1 - s : s].push(r.nsPerLookup)
    misses += r.misses
  }
}
const result = {
  ok: misses === 0,
  phase: 'routing',
  shards,
  lookups,
  active: active > 0 ? active : 'all distinct',
  passes,
  sizes: sets.map((t, i) => ({ routes: t.size, tableSizes: t.tables.map(x => x.size), nsPerLookup: Math.round(median(ns[i]) * 10) / 10, passesNs: ns[i].map(x => Math.round(x * 10) / 10) })),
  misses,
  node: process.version
}
const first = result.sizes[0]
const last = result.sizes[result.sizes.length - 1]
result.ratio = Math.round(1000 * last.nsPerLookup / first.nsPerLookup) / 1000
process.stdout.write(JSON.stringify(result) + '\n')
