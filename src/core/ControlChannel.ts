/**
 * Requests the connector itself makes to a neighbour over its link: ILDCP to a parent, CCP route
 * control and route updates, settlement messages and in-band settlements. They are `peer.*` Prepares
 * (or BTP TRANSFERs) sent outside the packet path (no forwarding; a TRANSFER's balance change is the
 * settlement's, made by the account actor before it is sent). They take BTP request ids from the upper half of the
 * uint32 range, while the account actors number forwarded packets in the lower half, so a reply is
 * told apart by its id alone and comes back here instead of to the packet path.
 */
import type { Reply } from '../protocol/ilp'

export const CONTROL_REQUEST_ID_BASE = 0x80000000

/** An answer to one of our requests: an ILP reply, or an empty BTP RESPONSE (it acknowledges a TRANSFER). */
export type ControlReply = Reply | { kind: 'ack' }

interface Pending {
  accountId: string
  resolve: (reply: ControlReply) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class ControlRequestError extends Error {}

export class ControlChannel {
  private nextId = CONTROL_REQUEST_ID_BASE
  private readonly pending = new Map<number, Pending>()

  /** `send` puts a BTP frame on the account's newest connection (false if it has none). */
  constructor (private readonly send: (accountId: string, frame: (requestId: number) => Buffer) => boolean) {}

  /**
   * Sends a frame of ours (a MESSAGE with an ILP Prepare, or a TRANSFER) to the account and resolves with
   * its Fulfill or Reject, or `ack` for an empty RESPONSE (how a TRANSFER is acknowledged). Rejects if
   * the account has no link, answers with a BTP error, or does not answer in `timeoutMs`.
   */
  async request (accountId: string, frame: (requestId: number) => Buffer, timeoutMs: number): Promise<ControlReply> {
    const requestId = this.allocate()
    return await new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId)
        reject(new ControlRequestError(`no answer from ${accountId} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(requestId, { accountId, resolve, reject, timer })
      if (!this.send(accountId, () => frame(requestId))) {
        clearTimeout(timer)
        this.pending.delete(requestId)
        reject(new ControlRequestError(`the link to ${accountId} is down`))
      }
    })
  }

  /** The answer to one of our requests, from the account's actor: a reply, or why there is none. */
  answer (accountId: string, requestId: number, reply: ControlReply | string): void {
    const p = this.pending.get(requestId)
    if (p === undefined || p.accountId !== accountId) return // late (timed out) or not ours
    this.pending.delete(requestId)
    clearTimeout(p.timer)
    if (typeof reply === 'string') p.reject(new ControlRequestError(reply))
    else p.resolve(reply)
  }

  /** Fails the requests waiting for an account's answer (its link closed). */
  failAccount (accountId: string, reason: string): void {
    for (const [id, p] of this.pending) {
      if (p.accountId !== accountId) continue
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.reject(new ControlRequestError(reason))
    }
  }

  /** Fails every request still waiting (at shutdown). */
  close (): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new ControlRequestError('the connector is stopping'))
      this.pending.delete(id)
    }
  }

  get size (): number { return this.pending.size }

  private allocate (): number {
    let id = this.nextId
    while (this.pending.has(id)) id = id >= 0xffffffff ? CONTROL_REQUEST_ID_BASE : id + 1
    this.nextId = id >= 0xffffffff ? CONTROL_REQUEST_ID_BASE : id + 1
    return id
  }
}
