/** Status (for operators) and /healthz (for a load balancer). */
import { readFileSync } from 'fs'
import path from 'path'
import type { Connector } from '../../Connector'
import { findPackageRoot } from '../../config'
import { ok, onlyParams, type ApiRequest, type HandlerResult } from '../http'

let version: string | undefined
export function packageVersion (): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(path.join(findPackageRoot(__dirname), 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      version = 'unknown'
    }
  }
  return version
}

export function status (connector: Connector, req: ApiRequest): HandlerResult {
  onlyParams(req.query, [])
  const links = connector.linkStatus()
  const up = links.filter(l => l.up)
  return ok({
    address: connector.address,
    version: packageVersion(),
    uptimeSeconds: connector.uptimeSeconds,
    state: connector.isDraining ? 'draining' : 'running',
    storeHealthy: connector.storeHealthy,
    accounts: links.length,
    packetsInFlight: connector.packetsInFlight,
    routes: connector.routingTableSize,
    links: { up: up.length, down: links.length - up.length, accounts: links }
  })
}

/** 200 while the connector takes packets; 503 while it drains or cannot store. No details: no token needed. */
export function healthz (connector: Connector): HandlerResult {
  const healthy = !connector.isDraining && connector.storeHealthy
  return ok({ status: healthy ? 'ok' : connector.isDraining ? 'draining' : 'store failing' }, healthy ? 200 : 503)
}
