/**
 * stop() while start() is still waiting (for a parent that never answers with our address): both end,
 * nothing is left listening, and start() does not carry on against a stopped connector.
 */
import net from 'net'
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore } from '../../src'
import { freePort } from '../helpers/connectorProcess'

test('stop() during start(): both resolve, and the listeners are closed', async () => {
  const [listenerPort, parentPort] = [await freePort(), await freePort()]
  const config = validateConfig({
    listeners: { default: { port: listenerPort } },
    accounts: { up: { relation: 'parent', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-client', url: `btp+ws://:t@127.0.0.1:${parentPort}` } } }
  })
  const connector = createConnector(config, { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  const starting = connector.start()
  await new Promise(resolve => setTimeout(resolve, 300))
  expect(connector.address).toBe('') // still waiting for the parent
  await connector.stop(500)
  await starting
  // Nothing listens any more, and nothing was started after the stop.
  const refused = await new Promise<boolean>(resolve => {
    const socket = net.connect(listenerPort, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
  expect(refused).toBe(true)
  expect(connector.accountIds()).toStrictEqual(['up'])
})
