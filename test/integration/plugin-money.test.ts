/**
 * The rest of the plugin interface, with a plugin module written here (an in-memory ledger the test
 * drives through a global registry): its money handler, sendMoney (in-band settlement), and its connect
 * and disconnect events. `ledger` settles in-band (btp-transfer, threshold -1000, settleTo 0, incoming
 * credited); alice is on the built-in BTP listener. Balances are what the account owes the connector.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'fs'
import { tmpdir } from 'os'
import path from 'path'
import * as IlpPacket from 'ilp-packet'
import * as ILDCP from 'ilp-protocol-ildcp'
import pino from 'pino'
import { createConnector, validateConfig, Connector } from '../../src'
import { connected, newFulfillment, parseReply, prepare, within, Plugin } from '../helpers/ilp'
import { tempDir, eventually } from '../helpers/connectorProcess'

interface TestLedger {
  connected: boolean
  sentMoney: string[]
  dataHandler?: (data: Buffer) => Promise<Buffer>
  moneyHandler?: (amount: string) => Promise<void>
  emit: (event: string) => void
  /** What the ledger answers our Prepares with. */
  answer: (prepare: Buffer) => Buffer
}

const registry: Record<string, TestLedger> = {}
;(globalThis as unknown as { __testLedgers: Record<string, TestLedger> }).__testLedgers = registry
const modules = mkdtempSync(path.join(tmpdir(), 'mm-plugin-'))
let connector: Connector
let alice: Plugin
let ledger: TestLedger

beforeAll(async () => {
  writeFileSync(path.join(modules, 'ledger.js'), `
    const { EventEmitter } = require('events')
    module.exports = class TestLedger extends EventEmitter {
      constructor (options, api) {
        super()
        if (typeof api.log.info !== 'function' || typeof api.store.put !== 'function') throw new Error('no api')
        this.connected = false
        this.sentMoney = []
        this.answer = () => { throw new Error('no answer set') }
        globalThis.__testLedgers[options.name] = this
      }
      async connect () { this.connected = true; this.emit('connect') }
      async disconnect () { this.connected = false; this.emit('disconnect') }
      isConnected () { return this.connected }
      async sendData (data) { return this.answer(data) }
      async sendMoney (amount) { this.sentMoney.push(amount) }
      registerDataHandler (h) { this.dataHandler = h }
      deregisterDataHandler () { this.dataHandler = undefined }
      registerMoneyHandler (h) { this.moneyHandler = h }
      deregisterMoneyHandler () { this.moneyHandler = undefined }
    }
  `)
  const usd = { assetCode: 'USD', assetScale: 2 }
  connector = createConnector(validateConfig({
    ilpAddress: 'test.l',
    dataDir: tempDir(),
    listeners: { default: { port: 0 } },
    accounts: {
      alice: { relation: 'child', ...usd, link: { type: 'btp-server', token: 'alice-token' } },
      ledger: {
        relation: 'child',
        ...usd,
        link: { type: 'plugin', module: path.join(modules, 'ledger.js'), options: { name: 'ledger' } },
        settlement: { threshold: '-1000', settleTo: '0', method: { type: 'btp-transfer', creditIncoming: true } }
      }
    }
  }), { logger: pino({ level: 'silent' }) })
  await connector.start()
  alice = await connected(`btp+ws://:alice-token@127.0.0.1:${connector.port('default') as number}`)
  ledger = registry.ledger
  await eventually(() => connector.account('ledger')?.connections === 1 ? true : undefined, 2000)
})

afterAll(async () => {
  await within(alice.disconnect(), 1000)
  await connector.stop(1000)
  rmSync(modules, { recursive: true, force: true })
})

test('the plugin\'s data handler: ILDCP through it gives the account its address', async () => {
  const info = await ILDCP.fetch(async (data) => await (ledger.dataHandler as (d: Buffer) => Promise<Buffer>)(data))
  expect(info).toEqual({ clientAddress: 'test.l.ledger', assetCode: 'USD', assetScale: 2 })
})

test('money from the plugin (its money handler) is credited; our settlement goes out through sendMoney', async () => {
  await (ledger.moneyHandler as (a: string) => Promise<void>)('500')
  // A credit lowers what it owes: 0 − 500 = −500.
  expect(connector.account('ledger')?.balance).toBe('-500')

  const { fulfillment, condition } = newFulfillment()
  ledger.answer = () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  const reply = parseReply(await alice.sendData(prepare('test.l.ledger.x', '1500', { condition })))
  expect(reply.type).toBe('fulfill')
  // −500 − 1500 = −2000 ≤ −1000: settle up to 0, that is pay 2000, by sendMoney.
  await eventually(() => ledger.sentMoney.length > 0 ? true : undefined, 3000)
  expect(ledger.sentMoney).toEqual(['2000'])
  expect(connector.account('ledger')?.balance).toBe('0')
})

test('disconnect and connect events: the link goes down (T01) and comes back', async () => {
  ledger.connected = false
  ledger.emit('disconnect')
  await eventually(() => connector.account('ledger')?.connections === 0 ? true : undefined, 2000)
  const down = parseReply(await alice.sendData(prepare('test.l.ledger.x', '10')))
  expect(down).toMatchObject({ type: 'reject', code: 'T01' })

  ledger.connected = true
  ledger.emit('connect')
  await eventually(() => connector.account('ledger')?.connections === 1 ? true : undefined, 2000)
  const { fulfillment, condition } = newFulfillment()
  ledger.answer = () => IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
  expect(parseReply(await alice.sendData(prepare('test.l.ledger.x', '10', { condition }))).type).toBe('fulfill')
  // 0 − 10 = −10.
  expect(connector.account('ledger')?.balance).toBe('-10')
})

test('a plugin whose sendData throws: the sender gets T01 with the plugin\'s message', async () => {
  ledger.answer = () => { throw new Error('ledger is offline') }
  const reply = parseReply(await alice.sendData(prepare('test.l.ledger.x', '10')))
  expect(reply).toMatchObject({ type: 'reject', code: 'T01', triggeredBy: 'test.l', message: 'ledger is offline' })
  expect(connector.account('ledger')?.balance).toBe('-10')
})
