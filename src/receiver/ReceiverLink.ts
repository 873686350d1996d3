/**
 * The link of a receiving account: instead of a peer, the connector's own STREAM server (RFC 0029,
 * `ilp-protocol-stream`) sits at its other end. Towards the connector it is a MessageLink like any
 * other (the account actor forwards Prepares to it, holds and commits them as for a peer); towards the
 * STREAM server it is a plugin (`plugin` below): the server's data handler answers our Prepares, and
 * what the server sends (ILDCP for its address, STREAM control packets) enters the connector as if it
 * came from a child over its link.
 *
 * It remembers which STREAM connection each fulfilled Prepare was for (by the Prepare's condition),
 * until the account actor commits the Fulfill and the Receiver writes the receipt.
 */
import { EventEmitter } from 'events'
import { MessageLink } from '../transport/MessageLink'
import { parsePrepare, ILP_FULFILL } from '../protocol/codec'
import { rejectPacket } from '../protocol/ilp'
import type { DataHandler, IlpPlugin } from '../transport/plugin'

interface Fulfilled { connection: string; expiresAt: number }

export class ReceiverLink extends MessageLink {
  private handler: DataHandler | undefined
  /** Condition (hex) of a Prepare the STREAM server fulfilled → its STREAM connection. */
  private readonly fulfilled = new Map<string, Fulfilled>()
  /** What the STREAM server is given as its plugin. */
  readonly plugin: IlpPlugin

  constructor (readonly accountId: string, private readonly accountAddress: () => string, address: () => string) {
    super(address)
    this.plugin = new LoopbackPlugin(this)
  }

  setHandler (handler: DataHandler | undefined): void { this.handler = handler }

  /** A Prepare routed to the account: the STREAM server answers it. */
  protected async sendPrepare (prepare: Buffer): Promise<Buffer> {
    const handler = this.handler
    if (handler === undefined) return rejectPacket('T01', this.accountAddress(), 'the receiver is not running')
    const reply = await handler(prepare)
    if (reply[0] === ILP_FULFILL) {
      const p = parsePrepare(prepare)
      this.fulfilled.set(p.executionCondition.toString('hex'), { connection: connectionOf(p.destination, this.accountAddress()), expiresAt: p.expiresAt })
    }
    return reply
  }

  protected async sendMoney (): Promise<void> {
    throw new Error('a receiving account takes no settlements')
  }

  /** The STREAM connection a committed Fulfill was for (and forgets it). */
  takeConnection (condition: Buffer): string | undefined {
    const key = condition.toString('hex')
    const entry = this.fulfilled.get(key)
    this.fulfilled.delete(key)
    return entry?.connection
  }

  /** Forgets Fulfills the actor never committed (too late, or no longer in flight), once they expired. */
  sweep (now: number): void {
    for (const [key, entry] of this.fulfilled) if (entry.expiresAt < now) this.fulfilled.delete(key)
  }
}

/** The STREAM connection id: the address segment after the receiver's own address. */
export function connectionOf (destination: string, accountAddress: string): string {
  const rest = destination.startsWith(accountAddress + '.') ? destination.slice(accountAddress.length + 1) : ''
  return rest.split('.')[0] ?? ''
}

/** The plugin face of a ReceiverLink, in-process: no transport, nothing to connect. */
class LoopbackPlugin extends EventEmitter implements IlpPlugin {
  constructor (private readonly link: ReceiverLink) { super() }
  async connect (): Promise<void> {}
  async disconnect (): Promise<void> {}
  isConnected (): boolean { return !this.link.closed }
  async sendData (data: Buffer): Promise<Buffer> {
    const answer = await this.link.fromPeer(data)
    if (answer.kind === 'ilp') return answer.packet
    throw new Error(answer.kind === 'error' ? `${answer.code} ${answer.message}` : 'unexpected empty answer')
  }

  async sendMoney (): Promise<void> {}
  registerDataHandler (handler: DataHandler): void { this.link.setHandler(handler) }
  deregisterDataHandler (): void { this.link.setHandler(undefined) }
  registerMoneyHandler (): void {}
  deregisterMoneyHandler (): void {}
}
