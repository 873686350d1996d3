'use strict'
/** `--key value` and bare `--flag` command-line arguments, shared by the bench scripts. */
function parseArgs (argv) {
  const o = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error('unexpected argument: ' + a)
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--')) o[a.slice(2)] = true
    else { o[a.slice(2)] = v; i++ }
  }
  return o
}

module.exports = { parseArgs }
