/** A receiving account's receipts (SPSP/STREAM): totals and one receipt per STREAM connection. */
import type { Connector } from '../../Connector'
import { HttpError, ok, onlyParams, type ApiRequest, type HandlerResult } from '../http'

export function getReceipts (connector: Connector, req: ApiRequest, id: string): HandlerResult {
  onlyParams(req.query, [])
  if (connector.account(id) === undefined) throw new HttpError(404, `no account named ${JSON.stringify(id)}`)
  const report = connector.receipts(id)
  if (report === undefined) throw new HttpError(404, `account ${JSON.stringify(id)} is not a receiving account (its link is not "receiver")`)
  return ok(report)
}
