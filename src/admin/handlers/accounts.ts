/** Accounts: list, get, create, update (limits), delete; balances: read, adjust. */
import type { Connector } from '../../Connector'
import { HttpError, ok, parseBody, onlyParams, type ApiRequest, type HandlerResult } from '../http'
import { CreateAccountSchema, UpdateAccountSchema, AdjustBalanceSchema } from '../schemas'

export function accountView (connector: Connector, id: string): Record<string, unknown> {
  const view = connector.account(id)
  if (view === undefined) throw notFound(id)
  return { ...view, origin: connector.accountOrigin(id), link: connector.accountLink(id), limits: connector.accountLimits(id) }
}

function notFound (id: string): HttpError {
  return new HttpError(404, `no account named ${JSON.stringify(id)}`)
}

export function listAccounts (connector: Connector, req: ApiRequest): HandlerResult {
  onlyParams(req.query, [])
  return ok(connector.accountIds().sort().map(id => accountView(connector, id)))
}

export function getAccount (connector: Connector, req: ApiRequest, id: string): HandlerResult {
  onlyParams(req.query, [])
  return ok(accountView(connector, id))
}

export async function createAccount (connector: Connector, req: ApiRequest): Promise<HandlerResult> {
  const body = parseBody(CreateAccountSchema, req.body)
  await connector.createAccount(body)
  return ok(accountView(connector, body.id), 201, { action: 'account.create', target: body.id, details: body })
}

export async function updateAccount (connector: Connector, req: ApiRequest, id: string): Promise<HandlerResult> {
  const body = parseBody(UpdateAccountSchema, req.body)
  if (Object.keys(body).length === 0) throw new HttpError(400, `body: nothing to change (fields: ${Object.keys(UpdateAccountSchema.properties).join(', ')})`)
  if (connector.accountLimits(id) === undefined) throw notFound(id)
  const UINT64_MAX = 18446744073709551615n
  if (typeof body.maxPacketAmount === 'string' && BigInt(body.maxPacketAmount) > UINT64_MAX) throw new HttpError(400, `maxPacketAmount: must be at most "${UINT64_MAX}" (uint64)`)
  if (typeof body.throughputLimit === 'object' && body.throughputLimit !== null && BigInt(body.throughputLimit.amount) > UINT64_MAX) throw new HttpError(400, `throughputLimit.amount: must be at most "${UINT64_MAX}" (uint64)`)
  // Merged with the stored limits by the connector (so two changes at once both count).
  await connector.updateAccountLimits(id, body)
  return ok(accountView(connector, id), 200, { action: 'account.update', target: id, details: body })
}

export async function deleteAccount (connector: Connector, req: ApiRequest, id: string): Promise<HandlerResult> {
  onlyParams(req.query, ['force'])
  const force = req.query.get('force')
  if (force !== null && force !== 'true' && force !== 'false') throw new HttpError(400, 'force: must be true or false')
  const before = connector.account(id)
  await connector.removeAccount(id, { force: force === 'true' })
  return ok({ id, removed: true, balance: before?.balance }, 200, { action: 'account.delete', target: id, details: { balance: before?.balance } })
}

export function getBalance (connector: Connector, req: ApiRequest, id: string): HandlerResult {
  onlyParams(req.query, [])
  const view = connector.account(id)
  if (view === undefined) throw notFound(id)
  return ok({ account: id, assetCode: view.assetCode, assetScale: view.assetScale, balance: view.balance, heldIncoming: view.heldIncoming, heldOutgoing: view.heldOutgoing })
}

export async function adjustBalance (connector: Connector, req: ApiRequest, id: string): Promise<HandlerResult> {
  const body = parseBody(AdjustBalanceSchema, req.body)
  if (connector.account(id) === undefined) throw notFound(id)
  const balance = await connector.adjustBalance(id, BigInt(body.amount), body.reason)
  return ok({ account: id, amount: body.amount, reason: body.reason, balance }, 200, { action: 'balance.adjust', target: id, details: { amount: body.amount, reason: body.reason, balance } })
}
