/**
 * Why an operation asked of the connector (by the admin API, or a program embedding it) was refused.
 * The message names the problem; `kind` lets a caller map it (the admin API: 400, 404, 409, 503).
 * Nothing of a refused operation has been applied.
 */
export type OperationErrorKind = 'invalid' | 'not-found' | 'conflict' | 'unavailable'

export class OperationError extends Error {
  constructor (readonly kind: OperationErrorKind, message: string) {
    super(message)
    this.name = 'OperationError'
  }
}
