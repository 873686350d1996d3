/**
 * A settlement to a plugin account pays once (found in review): a ledger slower than the settlement
 * request's timeout made every retry call the plugin's sendMoney again.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import path from 'path'
import * as IlpPacket from 'ilp-packet'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore } from '../../src'
import { connected, newFulfillment, prepare, parseReply, within } from '../helpers/ilp'
import { eventually } from '../helpers/connectorProcess'

interface SlowLedgerGlobals { __slowLedgerCalls: string[]; __slowAnswer: (data: Buffer) => Buffer }

test('one settlement calls the plugin\'s sendMoney once, however long the ledger takes', async () => {
  const modules = mkdtempSync(path.join(tmpdir(), 'mm-settle-once-'))
  const g = globalThis as unknown as SlowLedgerGlobals
  g.__slowLedgerCalls = []
  writeFileSync(path.join(modules, 'slow.js'), `
    const { EventEmitter } = require('events')
    module.exports = class SlowLedger extends EventEmitter {
      constructor () { super(); this.connected = false }
      async connect () { this.connected = true; this.emit('connect') }
      async disconnect () { this.connected = false }
      isConnected () { return this.connected }
      async sendData (data) { return globalThis.__slowAnswer(data) }
      async sendMoney (amount) { globalThis.__slowLedgerCalls.push(amount); await new Promise(r => setTimeout(r, 600)) }
      registerDataHandler () {} deregisterDataHandler () {}
      registerMoneyHandler () {} deregisterMoneyHandler () {}
    }`)
  const { fulfillment, condition } = newFulfillment()
  g.__slowAnswer = () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  const usd = { assetCode: 'USD', assetScale: 2 }
  const connector = createConnector(validateConfig({
    ilpAddress: 'test.l',
    listeners: { default: { port: 0 } },
    // Each settlement request gives up after 200 ms; the ledger takes 600.
    settlement: { port: 0, requestTimeoutMs: 200, retryMinDelayMs: 50 },
    accounts: {
      alice: { relation: 'child', ...usd, link: { type: 'btp-server', token: 'alice-token' } },
      slow: {
        relation: 'child', ...usd, link: { type: 'plugin', module: path.join(modules, 'slow.js'), options: {} },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'btp-transfer', creditIncoming: false } }
      }
    }
  }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  const alice = await connected(`btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`)
  try {
    await eventually(() => connector.account('slow')?.connections === 1 ? true : undefined, 2000)
    // We owe "slow" 1,500 (past the threshold of 1,000): one settlement of 1,500.
    expect(parseReply(await alice.sendData(prepare('test.l.slow.x', '1500', { condition }))).type).toBe('fulfill')
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect(g.__slowLedgerCalls).toEqual(['1500'])
  } finally {
    await within(alice.disconnect(), 1000)
    await connector.stop(1000)
    rmSync(modules, { recursive: true, force: true })
  }
})
