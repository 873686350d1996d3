/**
 * The small HTTP vocabulary the admin API's handlers share: a parsed request, a JSON reply, and the
 * error that becomes a 4xx with a message naming the problem.
 */
import type { TSchema, Static } from '@sinclair/typebox'
import { schemaProblems } from '../config'
import { OperationError } from '../core/errors'

export class HttpError extends Error {
  constructor (readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

/**
 * Who made a call: the operator (admin token), or the holder of an account's API key ("key:<id>", with
 * its account). Recorded in the audit log with the remote address.
 */
export interface Caller {
  who: string
  remote: string
  /** Set for an API key: the one account it may read. */
  account?: string
}

export interface ApiRequest {
  method: string
  /** Path segments after the first "/", decoded. */
  segments: string[]
  query: URLSearchParams
  caller: Caller
  /** The JSON body (undefined when there is none). */
  body: unknown
}

export interface ApiResponse {
  status: number
  body: unknown
  /** A plain-text body instead of JSON (metrics). */
  text?: string
  contentType?: string
}

/** An audit entry a change asks to be written once it has been applied. */
export interface AuditEvent {
  action: string
  target: string
  details?: unknown
}

export interface HandlerResult extends ApiResponse {
  audit?: AuditEvent
}

export const ok = (body: unknown, status = 200, audit?: AuditEvent): HandlerResult => ({ status, body, audit })

/** Checks a body against a schema: 400 listing every problem ("field: what is wrong") when invalid. */
export function parseBody<T extends TSchema> (schema: T, body: unknown): Static<T> {
  if (body === undefined) throw new HttpError(400, 'body: a JSON object is required')
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body: must be a JSON object')
  const problems = schemaProblems(schema, body)
  if (problems.length > 0) throw new HttpError(400, problems.join('; '))
  return body as Static<T>
}

/** A query parameter that must be an integer in a range (its default when absent). */
export function intParam (query: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const raw = query.get(name)
  if (raw === null) return fallback
  if (!/^-?[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new HttpError(400, `${name}: must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`)
  return Number(raw)
}

/** Refuses query parameters a route does not know (a typo must not be silently ignored). */
export function onlyParams (query: URLSearchParams, known: string[]): void {
  for (const name of query.keys()) {
    if (!known.includes(name)) throw new HttpError(400, `${name}: unknown query parameter${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`)
  }
}

const STATUS: Record<OperationError['kind'], number> = { invalid: 400, 'not-found': 404, conflict: 409, unavailable: 503 }

/** An error from the connector (or the API) as a status and message; anything else is a 500. */
export function statusOf (err: unknown): { status: number; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, headers: err.headers }
  if (err instanceof OperationError) return { status: STATUS[err.kind], message: err.message, headers: {} }
  return { status: 500, message: 'internal error (see the connector log)', headers: {} }
}
