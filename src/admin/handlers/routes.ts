/** Static routes: list (with the whole routing table as the connector sees it), add, remove. */
import type { Connector } from '../../Connector'
import { ok, parseBody, onlyParams, type ApiRequest, type HandlerResult } from '../http'
import { AddRouteSchema } from '../schemas'

export function listRoutes (connector: Connector, req: ApiRequest): HandlerResult {
  onlyParams(req.query, [])
  return ok({ static: connector.staticRoutes(), table: connector.routingTable() })
}

export async function addRoute (connector: Connector, req: ApiRequest): Promise<HandlerResult> {
  const body = parseBody(AddRouteSchema, req.body)
  await connector.addStaticRoute(body.prefix, body.account)
  return ok({ prefix: body.prefix, account: body.account, source: 'api' }, 201, { action: 'route.add', target: body.prefix, details: body })
}

export async function removeRoute (connector: Connector, req: ApiRequest, prefix: string): Promise<HandlerResult> {
  onlyParams(req.query, [])
  await connector.removeStaticRoute(prefix)
  return ok({ prefix, removed: true }, 200, { action: 'route.remove', target: prefix })
}
