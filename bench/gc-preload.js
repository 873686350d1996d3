'use strict'
// Preloaded into the processes under test (`node --expose-gc -r ./bench/gc-preload.js ...`): on SIGUSR2 the
// process runs a full garbage collection, so bench/run.js can read RSS after a GC. Adds nothing else.
process.on('SIGUSR2', () => { if (typeof global.gc === 'function') global.gc() })
