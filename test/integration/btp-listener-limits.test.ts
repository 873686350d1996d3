/**
 * A listener under abuse (found in a trial): connections that never authenticate are capped, and bytes
 * that are not HTTP, or an upgrade request never finished, do not keep a socket for minutes.
 */
import net from 'net'
import WebSocket from 'ws'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore, Connector } from '../../src'

let connector: Connector
let port: number
beforeAll(async () => {
  connector = createConnector(validateConfig({
    listeners: { default: { port: 0, localAccounts: { enabled: true } } },
    btp: { maxUnauthenticated: 3, authTimeoutMs: 1000 }
  }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  port = connector.port('default') as number
})
afterAll(async () => { await connector.stop(500) })

test('beyond maxUnauthenticated connections waiting to authenticate, new ones are refused with 503; once those go, new ones are accepted', async () => {
  const waiting = await Promise.all([1, 2, 3].map(async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`)
    await new Promise(resolve => ws.once('open', resolve))
    return ws
  }))
  const refused = new WebSocket(`ws://127.0.0.1:${port}`)
  const status = await new Promise<number>(resolve => {
    refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    refused.once('open', () => resolve(101))
    refused.once('error', () => {})
  })
  expect(status).toBe(503)
  for (const ws of waiting) ws.terminate()
  await new Promise(resolve => setTimeout(resolve, 100))
  const accepted = new WebSocket(`ws://127.0.0.1:${port}`)
  await new Promise(resolve => accepted.once('open', resolve))
  accepted.terminate()
})

test('bytes that are not HTTP, and an upgrade request never finished, lose their socket within the auth timeout', async () => {
  const closedWithin = async (write: (s: net.Socket) => void): Promise<number> => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {}) // (a reset is one way of being dropped)
    await new Promise(resolve => socket.once('connect', resolve))
    const started = Date.now()
    write(socket)
    await new Promise(resolve => socket.once('close', resolve))
    return Date.now() - started
  }
  expect(await closedWithin(s => s.write(Buffer.alloc(100_000, 0xff)))).toBeLessThan(3000)
  expect(await closedWithin(s => s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'))).toBeLessThan(3000)
})
