/**
 * The HTTP listeners beside the BTP ones (admin API, metrics, settlement engines, SPSP, ILP-over-HTTP):
 * one way to make them and to start them.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'http'
import type { AddressInfo } from 'net'

/**
 * A server for short requests: a slow or silent client (headers never finished, a body never sent)
 * does not hold a socket for long. Timeouts are checked every second, not Node's default 30 s.
 */
export function shortRequestServer (handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer({ connectionsCheckingInterval: 1000 }, handler)
  server.requestTimeout = 30000
  server.headersTimeout = 10000
  server.keepAliveTimeout = 5000
  return server
}

/** Stops listening and drops every connection, requests in progress included. */
export function closeNow (server: Server | undefined): void {
  server?.close()
  server?.closeAllConnections()
}

/** Starts listening; resolves with the bound port (useful with port 0), rejects if it cannot (a port in use). */
export async function listen (server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return (server.address() as AddressInfo).port
}
