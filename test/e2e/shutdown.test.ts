/**
 * Graceful shutdown of the real process. The first SIGTERM stops new connections and new packets,
 * lets the packets in flight finish (or expire), then exits 0; a second signal while draining exits at
 * once with a non-zero code.
 */
import * as IlpPacket from 'ilp-packet'
import { startConnector, RunningConnector } from '../helpers/connectorProcess'
import {
  btpClient, ildcpAddress, newFulfillment, prepare, parseReply, within, rawBtp, btpAuthFrame, readBtpFrame, Plugin
} from '../helpers/ilp'

const connectors: RunningConnector[] = []
const plugins: Plugin[] = []

afterAll(async () => {
  await Promise.all(plugins.map(async p => await within(p.disconnect(), 2000)))
  await Promise.all(connectors.map(async c => await within(c.stop('SIGKILL'), 3000)))
})

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function start (env: Record<string, string> = {}): Promise<RunningConnector> {
  const c = await startConnector({ env: { METAMORPHOSIS_BTP__AUTH_TIMEOUT_MS: '500', ...env } })
  connectors.push(c)
  return c
}

async function pair (c: RunningConnector, prefix: string): Promise<{ sender: Plugin; receiver: Plugin; receiverAddress: string }> {
  const sender = btpClient(c.url(`${prefix}-sender`))
  const receiver = btpClient(c.url(`${prefix}-receiver`))
  plugins.push(sender, receiver)
  await Promise.all([sender.connect(), receiver.connect()])
  return { sender, receiver, receiverAddress: await ildcpAddress(receiver) }
}

function stillRunning (c: RunningConnector): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null
}

/** Resolves true if a new BTP connection is refused (cannot connect, or auth is refused / the socket closes). */
async function newConnectionRefused (port: number): Promise<boolean> {
  let s
  try {
    s = await rawBtp(port)
  } catch {
    return true
  }
  try {
    s.send(btpAuthFrame(1, 'latecomer'))
    const frame = readBtpFrame(await s.next(2000))
    return frame.type !== 1
  } catch {
    return true // closed without an answer
  } finally {
    s.close()
  }
}

test('SIGTERM with a packet in flight: the packet still completes, new work is refused, then exit 0', async () => {
  const c = await start()
  const { sender, receiver, receiverAddress } = await pair(c, 'drain')
  const { fulfillment, condition } = newFulfillment()
  let arrived!: () => void
  const atReceiver = new Promise<void>(resolve => { arrived = resolve })
  const seen: string[] = []
  receiver.registerDataHandler(async (data) => {
    const p = IlpPacket.deserializeIlpPrepare(data)
    seen.push(p.amount)
    arrived()
    await sleep(1000)
    return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('late but fine') })
  })
  const replyPromise = sender.sendData(prepare(receiverAddress, '500', { condition, expiresInMs: 15000 }))
  await atReceiver
  c.proc.kill('SIGTERM')
  await sleep(250)
  expect(stillRunning(c)).toBe(true)

  // Draining: new connections are not accepted...
  expect(await newConnectionRefused(c.ports.default)).toBe(true)
  // ...and a new Prepare on an existing link is rejected with a T (temporary) error, not left unanswered.
  const late = await within(sender.sendData(prepare(receiverAddress, '1', { expiresInMs: 5000 })), 3000)
  expect(late).not.toBe('timeout')
  const lateReply = parseReply(late as Buffer)
  expect(lateReply.type).toBe('reject')
  if (lateReply.type === 'reject') expect(lateReply.code).toMatch(/^T/)

  // The packet in flight completes with the receiver's Fulfill.
  const reply = await within(replyPromise, 5000)
  expect(reply).not.toBe('timeout')
  const parsed = parseReply(reply as Buffer)
  expect(parsed.type).toBe('fulfill')
  if (parsed.type === 'fulfill') {
    expect(parsed.fulfillment.equals(fulfillment)).toBe(true)
    expect(parsed.data.toString()).toBe('late but fine')
  }
  expect(seen).toEqual(['500'])

  // Then the process exits 0 by itself (the clients are still connected: it must not wait for them).
  expect(await within(c.exited, 5000)).toBe(0)
})

test('SIGTERM with a packet nobody answers: it expires (R00 to the sender), then exit 0', async () => {
  const c = await start({ METAMORPHOSIS_PACKETS__MIN_MESSAGE_WINDOW_MS: '100' })
  const { sender, receiver, receiverAddress } = await pair(c, 'expire')
  let arrived!: () => void
  const atReceiver = new Promise<void>(resolve => { arrived = resolve })
  receiver.registerDataHandler(async () => {
    arrived()
    return await new Promise<Buffer>(() => { /* never answers */ })
  })
  const replyPromise = sender.sendData(prepare(receiverAddress, '7', { expiresInMs: 1500 }))
  await atReceiver
  c.proc.kill('SIGTERM')
  await sleep(200)
  expect(stillRunning(c)).toBe(true)
  const reply = await within(replyPromise, 4000)
  expect(reply).not.toBe('timeout')
  // RFC 0027: a packet that expires in flight is rejected with R00.
  expect(parseReply(reply as Buffer)).toMatchObject({ type: 'reject', code: 'R00' })
  expect(await within(c.exited, 5000)).toBe(0)
})

test('a second SIGTERM while draining exits at once with a non-zero code', async () => {
  const c = await start()
  const { sender, receiver, receiverAddress } = await pair(c, 'twice')
  let arrived!: () => void
  const atReceiver = new Promise<void>(resolve => { arrived = resolve })
  receiver.registerDataHandler(async () => {
    arrived()
    return await new Promise<Buffer>(() => { /* never answers: the drain would wait for expiry */ })
  })
  void sender.sendData(prepare(receiverAddress, '9', { expiresInMs: 20000 })).catch(() => undefined)
  await atReceiver
  c.proc.kill('SIGTERM')
  await sleep(300)
  // Still draining: the first signal alone does not end it while the packet is held.
  expect(stillRunning(c)).toBe(true)
  const t0 = Date.now()
  c.proc.kill('SIGTERM')
  const code = await within(c.exited, 2000)
  expect(code).not.toBe('timeout')
  expect(Date.now() - t0).toBeLessThan(2000)
  // An exit code (not death by the signal itself), and not success.
  expect(typeof code).toBe('number')
  expect(code).not.toBe(0)
})
