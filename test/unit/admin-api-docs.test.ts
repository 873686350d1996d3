/** docs/admin-api.yaml documents exactly the calls the admin API serves. */
import { readFileSync } from 'fs'
import path from 'path'
import pino from 'pino'
import { AdminApi } from '../../src/admin/AdminApi'
import { MemoryStore } from '../../src/store/MemoryStore'
import type { Connector } from '../../src/Connector'

/** "METHOD /path/{}" from the OpenAPI file: top-level paths (2 spaces) and their methods (4 spaces). */
function documented (): string[] {
  const yaml = readFileSync(path.join(__dirname, '..', '..', 'docs', 'admin-api.yaml'), 'utf8')
  const out: string[] = []
  let current: string | undefined
  let inPaths = false
  for (const line of yaml.split('\n')) {
    if (/^\S/.test(line)) { inPaths = line.startsWith('paths:'); continue }
    if (!inPaths) continue
    const p = /^ {2}(\/\S*):\s*$/.exec(line)
    if (p !== null) { current = p[1].replace(/\{[^}]+\}/g, '{}'); continue }
    const m = /^ {4}(get|post|put|patch|delete):/.exec(line)
    if (m !== null && current !== undefined) out.push(`${m[1].toUpperCase()} ${current}`)
  }
  return out.sort()
}

test('every call served is documented, and nothing else', () => {
  const config = { enabled: true, host: '127.0.0.1', port: 0, token: 'x'.repeat(16), history: 'full' as const, historyRetentionHours: 1 }
  const served = new AdminApi({} as Connector, config, new MemoryStore(), undefined, pino({ level: 'silent' })).routeList()
  // (With metricsPort unset, /metrics is one of them.)
  expect(documented()).toEqual([...served].sort())
})
