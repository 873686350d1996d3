/** A real STREAM payment (ilp-protocol-stream) between two plugins, for end-to-end tests. */
import { createServer, createConnection, DataAndMoneyStream } from 'ilp-protocol-stream'
import { within, Plugin } from './ilp'

/**
 * Sends `amount` from one plugin to a STREAM server on the other; resolves with what the receiver
 * counted and what the sender says it sent (both in their own units).
 */
export async function streamPayment (senderPlugin: Plugin, receiverPlugin: Plugin, amount: number): Promise<{ received: bigint; sent: string }> {
  const server = await createServer({ plugin: receiverPlugin as never })
  let received = 0n
  const arrived = new Promise<void>(resolve => {
    server.on('connection', (conn) => {
      conn.on('stream', (stream: DataAndMoneyStream) => {
        stream.setReceiveMax(String(amount * 2))
        stream.on('money', (m: string) => {
          received += BigInt(m)
          if (received >= BigInt(amount)) resolve()
        })
      })
    })
  })
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  const conn = await createConnection({ plugin: senderPlugin as never, destinationAccount, sharedSecret })
  const stream = conn.createStream()
  await stream.sendTotal(amount, { timeout: 10000 })
  await within(arrived, 5000)
  const sent = stream.totalSent
  await within(conn.end(), 2000)
  await within(server.close(), 2000)
  await new Promise(resolve => setTimeout(resolve, 300))
  return { received, sent }
}
