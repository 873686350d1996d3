/** BtpConnection's flow control, on a real WebSocket pair on loopback. */
import WebSocket, { WebSocketServer } from 'ws'
import { BtpConnection } from '../../src/transport/BtpConnection'

let wss: WebSocketServer
let server: WebSocket
let client: WebSocket
beforeEach(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise(resolve => wss.once('listening', resolve))
  const port = (wss.address() as { port: number }).port
  const accepted = new Promise<WebSocket>(resolve => wss.once('connection', resolve))
  client = new WebSocket(`ws://127.0.0.1:${port}`)
  await new Promise(resolve => client.once('open', resolve))
  server = await accepted
})
afterEach(async () => {
  client.terminate()
  await new Promise(resolve => wss.close(resolve))
})

test('stops reading while 64 batches wait for the actor, and reads again when it is down to 16', () => {
  const connection = new BtpConnection(server)
  for (let i = 0; i < 63; i++) connection.batchHandedOver()
  expect(server.isPaused).toBe(false)
  connection.batchHandedOver() // the 64th
  expect(server.isPaused).toBe(true)
  for (let i = 0; i < 47; i++) connection.batchHandled() // 17 left
  expect(server.isPaused).toBe(true)
  connection.batchHandled() // 16 left
  expect(server.isPaused).toBe(false)
})

test('a peer that does not read is cut off instead of buffering without bound', async () => {
  const connection = new BtpConnection(server)
  client.pause() // the peer stops reading; the kernel buffers fill, then ws buffers on our side
  const closed = new Promise(resolve => connection.closed$.subscribe({ complete: () => resolve(true) }))
  const frame = Buffer.alloc(64 * 1024)
  let sent = 0
  // Up to 64 MiB, in steps that let the socket drain what it can; the limit is 16 MiB buffered.
  for (let i = 0; i < 1024 && connection.send(frame); i++) {
    sent++
    if (i % 16 === 15) await new Promise(resolve => setImmediate(resolve))
  }
  expect(sent).toBeLessThan(1024)
  expect(await Promise.race([closed, new Promise(resolve => setTimeout(() => resolve(false), 5000))])).toBe(true)
})
