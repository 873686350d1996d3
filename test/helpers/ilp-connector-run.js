'use strict'
// Runs the npm ilp-connector (a devDependency, the foreign connector of the interop tests) with the
// options given as JSON in argv[2]. Prints {"event":"listening"} once its listeners are open; its own
// log goes to stderr. Exits on SIGTERM.
const { createApp } = require('ilp-connector')
const app = createApp(JSON.parse(process.argv[2]))
app.listen().catch(err => { process.stderr.write(String(err && err.stack) + '\n'); process.exit(1) })
// listen() opens the sockets at once but resolves only when every BTP account has its client.
setTimeout(() => process.stdout.write(JSON.stringify({ event: 'listening' }) + '\n'), 200)
process.on('SIGTERM', () => {
  Promise.race([app.shutdown(), new Promise(resolve => setTimeout(resolve, 1000))]).finally(() => process.exit(0))
})
