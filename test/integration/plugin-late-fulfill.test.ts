/**
 * A plugin's Fulfill that comes back after the plugin disconnected and reconnected is honoured, as over
 * BTP (found in review: it was dropped with the closed link, though the peer had fulfilled in time).
 */
import { mkdtempSync, writeFileSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import path from 'path'
import { EventEmitter } from 'events'
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore } from '../../src'
import { connected, newFulfillment, prepare, parseReply, within } from '../helpers/ilp'
import { eventually } from '../helpers/connectorProcess'

interface Flappy extends EventEmitter { connected: boolean; pending: Array<(packet: Buffer) => void> }

test('a Fulfill the plugin returns after it reconnected is honoured', async () => {
  const modules = mkdtempSync(path.join(tmpdir(), 'mm-flappy-'))
  writeFileSync(path.join(modules, 'flappy.js'), `
    const { EventEmitter } = require('events')
    module.exports = class Flappy extends EventEmitter {
      constructor () { super(); this.connected = false; this.pending = []; globalThis.__flappy = this }
      async connect () { this.connected = true; this.emit('connect') }
      async disconnect () { this.connected = false }
      isConnected () { return this.connected }
      sendData () { return new Promise(resolve => this.pending.push(resolve)) }
      async sendMoney () {}
      registerDataHandler () {} deregisterDataHandler () {}
      registerMoneyHandler () {} deregisterMoneyHandler () {}
    }`)
  const usd = { assetCode: 'USD', assetScale: 2 }
  const connector = createConnector(validateConfig({
    ilpAddress: 'test.l',
    listeners: { default: { port: 0 } },
    accounts: {
      alice: { relation: 'child', ...usd, link: { type: 'btp-server', token: 'alice-token' } },
      flappy: { relation: 'child', ...usd, link: { type: 'plugin', module: path.join(modules, 'flappy.js'), options: {} } }
    }
  }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  const alice = await connected(`btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`)
  try {
    await eventually(() => connector.account('flappy')?.connections === 1 ? true : undefined, 2000)
    const flappy = (globalThis as unknown as { __flappy: Flappy }).__flappy
    const { fulfillment, condition } = newFulfillment()
    const reply = alice.sendData(prepare('test.l.flappy.x', '700', { condition, expiresInMs: 10000 }))
    await eventually(() => flappy.pending.length === 1 ? true : undefined, 2000)
    flappy.connected = false
    flappy.emit('disconnect')
    flappy.connected = true
    flappy.emit('connect')
    await eventually(() => connector.account('flappy')?.connections === 1 ? true : undefined, 2000)
    // alice was told T01 when the link went (and is not charged)...
    expect(parseReply(await reply)).toMatchObject({ type: 'reject', code: 'T01' })
    // ...and flappy's Fulfill, well before expiry, is honoured: we owe flappy 700.
    flappy.pending[0](IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) }))
    await eventually(() => connector.account('flappy')?.balance === '-700' ? true : undefined, 2000)
    expect(connector.account('alice')?.balance).toBe('0')
  } finally {
    await within(alice.disconnect(), 1000)
    await connector.stop(1000)
    rmSync(modules, { recursive: true, force: true })
  }
})
