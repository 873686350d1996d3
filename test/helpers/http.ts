/** Helpers for the ILP-over-HTTP and SPSP tests: ilp-plugin-http peers, raw POSTs. */
import type { Plugin } from './ilp'

// ilp-plugin-http ships typings that pull in old @types/node: a narrow view is enough here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PluginHttp = require('ilp-plugin-http') as new (opts: {
  incoming: { port: number; staticToken: string }
  outgoing: { url: string; staticToken: string; name?: string }
}) => Plugin

/** An ilp-plugin-http 1.6.1 peer: listens on `port` for `incomingToken`, POSTs to `url` with `outgoingToken`. */
export function httpPlugin (port: number, incomingToken: string, url: string, outgoingToken: string): Plugin {
  return new PluginHttp({ incoming: { port, staticToken: incomingToken }, outgoing: { url, staticToken: outgoingToken } })
}

/** A raw POST (for requests a well-behaved peer would never send). */
export async function post (url: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string; body: Buffer }> {
  const res = await fetch(url, { method: 'POST', body, headers })
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, text: bytes.toString('utf8'), body: bytes }
}
