/** Calls the admin API over real HTTP (Node's fetch), as the CLI and operators' scripts do. */
import type { RunningConnector } from './connectorProcess'

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

export interface AdminReply {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string
}

export interface AdminClient {
  port: number
  call: (method: string, path: string, body?: unknown, options?: { token?: string | null; rawBody?: string }) => Promise<AdminReply>
}

export function adminClient (port: number, token = ADMIN_TOKEN): AdminClient {
  return {
    port,
    call: async (method, path, body, options = {}) => {
      const headers: Record<string, string> = {}
      const useToken = options.token === undefined ? token : options.token
      if (useToken !== null) headers.authorization = `Bearer ${useToken}`
      let payload: string | undefined = options.rawBody
      if (body !== undefined) payload = JSON.stringify(body)
      if (payload !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers, body: payload })
      const text = await res.text()
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { parsed = undefined }
      return { status: res.status, body: parsed, text }
    }
  }
}

/** The admin API's port, from the "connector started" log line. */
export function adminPort (c: RunningConnector): number {
  const line = c.logs.find(l => l.msg === 'connector started')
  const port = line?.admin
  if (typeof port !== 'number') throw new Error('the connector did not report an admin port')
  return port
}
