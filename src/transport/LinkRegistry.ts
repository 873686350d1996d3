/**
 * Which live links (BTP connections, HTTP peers, plugins) each account has. Account actors send through it by account id (they
 * never hold a socket); replies to a request go back on the connection it came in on, new requests go
 * out on the account's newest connection.
 */
import type { Link } from './Link'

export class LinkRegistry {
  private readonly byAccount = new Map<string, Link[]>()
  private readonly byId = new Map<number, Link>()
  private pingTimer: NodeJS.Timeout | undefined

  /** One timer pings every connection each interval (see BtpConnection.ping). */
  startPinging (intervalMs: number): void {
    this.stopPinging()
    this.pingTimer = setInterval(() => {
      for (const list of this.byAccount.values()) for (const c of list) c.ping()
    }, intervalMs)
    this.pingTimer.unref()
  }

  stopPinging (): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer)
    this.pingTimer = undefined
  }

  add (accountId: string, connection: Link): void {
    this.byId.set(connection.id, connection)
    const list = this.byAccount.get(accountId)
    if (list === undefined) this.byAccount.set(accountId, [connection])
    else list.push(connection)
  }

  remove (accountId: string, connection: Link): void {
    this.byId.delete(connection.id)
    const list = this.byAccount.get(accountId)
    if (list === undefined) return
    const rest = list.filter(c => c !== connection)
    if (rest.length === 0) this.byAccount.delete(accountId)
    else this.byAccount.set(accountId, rest)
  }

  /** Live connection ids of an account, oldest first. */
  connectionIds (accountId: string): number[] {
    return (this.byAccount.get(accountId) ?? []).filter(c => !c.closed).map(c => c.id)
  }

  get (connectionId: number): Link | undefined {
    return this.byId.get(connectionId)
  }

  /** Sends on one connection of an account; false if it is gone. */
  send (accountId: string, connectionId: number, frame: Buffer): boolean {
    const list = this.byAccount.get(accountId)
    if (list === undefined) return false
    for (const c of list) if (c.id === connectionId) return c.send(frame)
    return false
  }

  /** Closes every connection, sending what is queued first. */
  async close (code = 1001, reason = 'connector shutting down'): Promise<void> {
    await Promise.all([...this.byAccount.values()].flat().map(async c => await c.close(code, reason)))
  }

  get size (): number {
    let n = 0
    for (const list of this.byAccount.values()) n += list.length
    return n
  }
}
