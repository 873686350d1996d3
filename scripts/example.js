#!/usr/bin/env node
'use strict'
/**
 * `npm run example`: pays 1,000,000 units with STREAM from one local client to another through a
 * running connector (start it first with `npm start`), and prints what arrived.
 *   CONNECTOR_URL=btp+ws://127.0.0.1:7768 AMOUNT=1000000 SENDER_TOKEN=... RECEIVER_TOKEN=... npm run example
 */
const BtpPlugin = require('ilp-plugin-btp')
const { createServer, createConnection } = require('ilp-protocol-stream')

const base = new URL(process.env.CONNECTOR_URL || 'btp+ws://127.0.0.1:7768')
const amount = process.env.AMOUNT || '1000000'
const url = (token) => `btp+ws://:${token}@${base.host}${base.pathname === '/' ? '' : base.pathname}`

async function main () {
  // Two tokens, two child accounts in the connector's local mode; the same ones on every run, so
  // repeated runs do not use up the listener's account limit.
  const sender = new BtpPlugin({ server: url(process.env.SENDER_TOKEN || 'example-sender') })
  const receiver = new BtpPlugin({ server: url(process.env.RECEIVER_TOKEN || 'example-receiver') })
  const server = await createServer({ plugin: receiver })
  let received = 0n
  const done = new Promise((resolve) => {
    server.on('connection', (conn) => {
      conn.on('stream', (stream) => {
        stream.setReceiveMax(amount)
        stream.on('money', (a) => {
          received += BigInt(a)
          if (received >= BigInt(amount)) resolve()
        })
      })
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  console.log(`receiver's address: ${destinationAccount}`)
  const conn = await createConnection({ plugin: sender, destinationAccount, sharedSecret })
  console.log(`sender's address:   ${conn.sourceAccount}`)
  const stream = conn.createStream()
  const started = Date.now()
  await stream.sendTotal(amount, { timeout: 60000 })
  await done
  console.log(`sent ${amount}, arrived ${received} in ${Date.now() - started} ms`)
  // Close the STREAM connection before the links under it (a close sent over a closed link never returns).
  const within = (p, ms) => Promise.race([p, new Promise(resolve => setTimeout(resolve, ms))])
  await within(conn.end(), 2000)
  await within(server.close(), 2000)
  await Promise.all([sender.disconnect(), receiver.disconnect()])
  process.exit(received === BigInt(amount) ? 0 : 1)
}

main().catch((e) => {
  console.error('example failed:', e && e.message ? e.message : e)
  console.error(`is the connector running at ${base.host}, in local mode? (npm start; or set CONNECTOR_URL)`)
  console.error('if it is, its log says why it refused (e.g. the local account limit).')
  process.exit(1)
})
