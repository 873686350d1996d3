/** Transfers: one by id, those with a condition, and an account's history (paged, within a time range). */
import type { Connector } from '../../Connector'
import { HttpError, ok, intParam, onlyParams, type ApiRequest, type HandlerResult } from '../http'

function history (connector: Connector): NonNullable<Connector['history']> {
  if (connector.history === undefined) throw new HttpError(404, 'transfer history is off (admin.history is "off")')
  return connector.history
}

export async function getTransfer (connector: Connector, req: ApiRequest, id: string): Promise<HandlerResult> {
  onlyParams(req.query, [])
  const record = await history(connector).get(id)
  if (record === undefined) throw new HttpError(404, `no transfer with id ${JSON.stringify(id)} (it may be past the retention)`)
  return ok(record)
}

export async function findTransfers (connector: Connector, req: ApiRequest): Promise<HandlerResult> {
  onlyParams(req.query, ['condition', 'limit'])
  const condition = req.query.get('condition')
  if (condition === null) throw new HttpError(400, 'condition: is required (the execution condition, 64 hex digits)')
  if (!/^[0-9a-fA-F]{64}$/.test(condition)) throw new HttpError(400, `condition: must be 64 hex digits (got ${JSON.stringify(condition.slice(0, 80))})`)
  const limit = intParam(req.query, 'limit', 1, 1000, 100)
  return ok(await history(connector).byCondition(condition.toLowerCase(), limit))
}

export async function accountTransfers (connector: Connector, req: ApiRequest, account: string): Promise<HandlerResult> {
  onlyParams(req.query, ['from', 'to', 'before', 'limit'])
  // A removed account's history stays readable; an id that never existed is a mistake.
  if (!connector.accountExisted(account)) throw new HttpError(404, `no account named ${JSON.stringify(account)}`)
  const from = timeParam(req, 'from')
  const to = timeParam(req, 'to')
  if (from !== undefined && to !== undefined && from >= to) throw new HttpError(400, 'from: must be before to')
  const before = req.query.get('before') ?? undefined
  const limit = intParam(req.query, 'limit', 1, 1000, 100)
  return ok(await history(connector).forAccount(account, { from, to, before, limit }))
}

/** A time as ISO 8601 or milliseconds since the epoch. */
const MAX_TIME_MS = 9_999_999_999_999

function timeParam (req: ApiRequest, name: string): number | undefined {
  const raw = req.query.get(name)
  if (raw === null) return undefined
  const ms = /^[0-9]+$/.test(raw) ? Number(raw) : Date.parse(raw)
  // Times are kept as 13-digit milliseconds (until the year 2286): beyond, key order would break.
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME_MS) throw new HttpError(400, `${name}: must be an ISO 8601 time or milliseconds since the epoch, at most ${MAX_TIME_MS} (got ${JSON.stringify(raw)})`)
  return ms
}
