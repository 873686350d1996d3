/** Per-account API keys: create (the key is shown once), list, revoke. Admin token only. */
import type { Connector } from '../../Connector'
import type { ApiKeys } from '../ApiKeys'
import { HttpError, ok, parseBody, onlyParams, type ApiRequest, type HandlerResult } from '../http'
import { CreateKeySchema } from '../schemas'

export function createKey (connector: Connector, keys: ApiKeys, req: ApiRequest, account: string): HandlerResult {
  // The body is optional ({} or none): a label to tell keys apart.
  const body = req.body === undefined ? {} : parseBody(CreateKeySchema, req.body)
  // While stopping, nothing new may be promised that the store might not keep.
  if (connector.isDraining) throw new HttpError(503, 'the connector is shutting down: no changes now')
  if (connector.account(account) === undefined) throw new HttpError(404, `no account named ${JSON.stringify(account)}`)
  const { view, key } = keys.create(account, body.label)
  return ok({ ...view, key, note: 'the key is shown only now: store it; the connector keeps only its hash' }, 201, { action: 'key.create', target: account, details: view })
}

export function listKeys (keys: ApiKeys, req: ApiRequest, account: string): HandlerResult {
  onlyParams(req.query, [])
  return ok(keys.list(account))
}

export function revokeKey (keys: ApiKeys, req: ApiRequest, account: string, id: string): HandlerResult {
  onlyParams(req.query, [])
  if (!keys.revoke(account, id)) throw new HttpError(404, `account ${JSON.stringify(account)} has no API key ${JSON.stringify(id)}`)
  return ok({ id, account, revoked: true }, 200, { action: 'key.revoke', target: account, details: { id } })
}
