/**
 * Account actors by name (the rest of the code never holds an actor reference), and delivery with an
 * outbox: the messages an actor sends while handling one message are grouped per recipient and leave
 * as one mailbox entry each when it is done. A burst of packets from one link therefore costs one
 * mailbox turn per actor on its way, not one per packet — each nact message is an event-loop turn.
 */
import { dispatch, Ref } from 'nact'
import type { AccountMessage } from './messages'

export class AccountDirectory {
  private readonly refs = new Map<string, Ref<AccountMessage>>()
  private readonly outbox = new Map<string, AccountMessage[]>()
  private collecting = false
  private flushScheduled = false

  set (id: string, ref: Ref<AccountMessage>): void { this.refs.set(id, ref) }
  has (id: string): boolean { return this.refs.has(id) }
  /** Forgets an account's actor (it was removed); messages to it are then refused (`tell` returns false). */
  delete (id: string): Ref<AccountMessage> | undefined {
    const ref = this.refs.get(id)
    this.refs.delete(id)
    return ref
  }
  ids (): string[] { return [...this.refs.keys()] }
  get size (): number { return this.refs.size }

  /** Delivers a message to an account's actor (at the end of the current handler, if inside one). */
  tell (id: string, msg: AccountMessage): boolean {
    const ref = this.refs.get(id)
    if (ref === undefined) return false
    if (!this.collecting) {
      dispatch(ref, msg)
      return true
    }
    const queued = this.outbox.get(id)
    if (queued === undefined) this.outbox.set(id, [msg])
    else queued.push(msg)
    return true
  }

  /**
   * Runs `fn` with every `tell` held back. What the handlers of one event-loop turn send is delivered
   * together at the next turn: one mailbox entry per recipient, however many actors sent to it (with
   * many senders, each with one packet in flight, the next hop then takes all their packets in one turn).
   */
  collect<T> (fn: () => T): T {
    if (this.collecting) return fn()
    this.collecting = true
    try {
      return fn()
    } finally {
      this.collecting = false
      if (this.outbox.size > 0 && !this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(deliver, this)
      }
    }
  }

  /** Delivers the outbox: one mailbox entry per recipient. */
  deliver (): void {
    this.flushScheduled = false
    for (const [id, messages] of this.outbox) {
      const ref = this.refs.get(id)
      if (ref !== undefined) dispatch(ref, messages.length === 1 ? messages[0] : { type: 'batch', messages })
    }
    this.outbox.clear()
  }
}

function deliver (directory: AccountDirectory): void {
  directory.deliver()
}
