#!/usr/bin/env node
'use strict'
/*
The floor for idle connections: a ws server that answers each client's BTP auth frame (any credentials)
and then keeps nothing of its own per connection — what `ws` itself costs, which any connector built on
ws pays at least. Used as the `baseline` of the idle phase (bench/run.js).

  node bench/ws-floor-server.js PORT     prints {"event":"listening","port":...} once listening
*/
const WebSocket = require('ws')
const BtpPacket = require('btp-packet')
const wire = require('./wire')

const port = Number(process.argv[2] || 0)
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false })
wss.on('connection', (ws) => {
  ws.on('error', () => {})
  ws.once('message', (data) => {
    let auth
    try { auth = BtpPacket.deserialize(data) } catch (e) { ws.close(1008, 'bad auth frame'); return }
    ws.send(wire.emptyResponseFrame(auth.requestId))
  })
})
wss.on('listening', () => process.stdout.write(JSON.stringify({ event: 'listening', port: wss.address().port }) + '\n'))
process.on('SIGTERM', () => process.exit(0))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
