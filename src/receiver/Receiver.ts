/**
 * The connector as a receiver: for every account with a `receiver` link, a STREAM server
 * (`ilp-protocol-stream`) behind a ReceiverLink, and what was credited to it.
 *
 * Crediting, exactly once per fulfilled packet: the account actor forwards a Prepare to the
 * ReceiverLink like to any link; when the Fulfill comes back and the actor commits it (fulfillment
 * matches, not expired), it lowers the account's balance — the connector now owes the account — and in
 * the same handler run calls `credit()`, which updates the totals and the STREAM connection's receipt
 * with `store.put`. Both ride the same group commit as the balance, so a crash keeps all or none of
 * them; a Fulfill the actor refuses (too late, wrong fulfillment) is never counted.
 */
import { createHash, randomBytes } from 'crypto'
import type { Logger } from 'pino'
import { createServer, Server, Connection, DataAndMoneyStream } from 'ilp-protocol-stream'
import type { Store } from '../store/Store'
import type { Link } from '../transport/Link'
import { ReceiverLink } from './ReceiverLink'
import { errorMessage } from '../transport/btp'
import {
  TOTALS_COLLECTION, RECEIPTS_COLLECTION, SECRETS_COLLECTION, ReceiverTotals, ReceiptRecord, ReceiverReport, receiptKey
} from './records'

export interface ReceiverDeps {
  store: Store
  log: Logger
  /** The connector's address (triggeredBy of the link's own Rejects). */
  address: () => string
  /** A receiving account's address (a child's: ours + "." + its id). */
  accountAddress: (accountId: string) => string
  attach: (accountId: string, link: Link) => void
}

interface ReceivingAccount {
  link: ReceiverLink
  server?: Server
  totals: ReceiverTotals
  /** Receipts by id (all of them: they are small, and a credit must update one synchronously). */
  receipts: Map<string, ReceiptRecord>
}

/** What the SPSP endpoint hands out (RFC 0009). */
export interface SpspDetails { destinationAccount: string; sharedSecret: Buffer }

export class Receiver {
  private readonly accounts = new Map<string, ReceivingAccount>()
  private sweepTimer: NodeJS.Timeout | undefined

  constructor (private readonly deps: ReceiverDeps) {}

  add (accountId: string): void {
    const link = new ReceiverLink(accountId, () => this.deps.accountAddress(accountId), this.deps.address)
    this.accounts.set(accountId, { link, totals: { amount: '0', packets: 0 }, receipts: new Map() })
  }

  has (accountId: string): boolean { return this.accounts.has(accountId) }

  get size (): number { return this.accounts.size }

  /** Loads totals and receipts, attaches the links and starts the STREAM servers (after the connector is ready). */
  async start (): Promise<void> {
    for (const [id, account] of this.accounts) {
      const totals = await this.deps.store.get(TOTALS_COLLECTION, id) as ReceiverTotals | undefined
      if (totals !== undefined) account.totals = totals
      for (const r of await this.deps.store.list(RECEIPTS_COLLECTION, { gte: `${id}:`, lt: `${id};` })) {
        const receipt = r.value as ReceiptRecord
        account.receipts.set(receipt.id, receipt)
      }
      try {
        await this.startServer(id, account)
      } catch (e) {
        this.deps.log.error({ account: id, reason: errorMessage(e) }, 'the STREAM receiver failed to start: this account receives nothing')
      }
    }
    this.sweepTimer = setInterval(() => { for (const a of this.accounts.values()) a.link.sweep(Date.now()) }, 10000)
    this.sweepTimer.unref()
  }

  private async startServer (id: string, account: ReceivingAccount): Promise<void> {
    this.deps.attach(id, account.link)
    let secret = await this.deps.store.get(SECRETS_COLLECTION, id)
    if (!Buffer.isBuffer(secret) && !(secret instanceof Uint8Array)) {
      secret = randomBytes(32)
      this.deps.store.put(SECRETS_COLLECTION, id, secret)
      await this.deps.store.flush()
    }
    // The server asks for its address over ILDCP through the link, as a child would.
    const server = await createServer({ plugin: account.link.plugin as never, serverSecret: Buffer.from(secret as Uint8Array) })
    server.on('connection', (connection: Connection) => {
      connection.on('error', (err: unknown) => { this.deps.log.debug({ account: id, reason: errorMessage(err) }, 'STREAM connection error') })
      connection.on('stream', (stream: DataAndMoneyStream) => {
        // Accept any amount; data is read and dropped (this receiver takes money, not messages).
        stream.setReceiveMax(Infinity)
        stream.on('data', () => {})
        stream.on('error', (err: unknown) => { this.deps.log.debug({ account: id, reason: errorMessage(err) }, 'STREAM stream error') })
      })
    })
    account.server = server
    this.deps.log.info({ account: id, address: this.deps.accountAddress(id) }, 'STREAM receiver ready')
  }

  /**
   * Called by the account actor, inside the handler run that commits a Fulfill to this account:
   * the amount (in the account's asset) is added to its totals and to its STREAM connection's receipt.
   * `packets` counts the fulfilled packets that carried money.
   */
  credit (accountId: string, amount: bigint, condition: Buffer, now: number): void {
    const account = this.accounts.get(accountId)
    // A Fulfill of 0 (STREAM closing frames, for one) carries no money: nothing to record.
    if (account === undefined || amount === 0n) return
    const connection = account.link.takeConnection(condition) ?? ''
    account.totals = { amount: (BigInt(account.totals.amount) + amount).toString(), packets: account.totals.packets + 1 }
    this.deps.store.put(TOTALS_COLLECTION, accountId, account.totals)
    const id = receiptId(connection)
    const before = account.receipts.get(id)
    const receipt: ReceiptRecord = before === undefined
      ? { account: accountId, id, amount: amount.toString(), packets: 1, firstAt: now, lastAt: now }
      : { ...before, amount: (BigInt(before.amount) + amount).toString(), packets: before.packets + 1, lastAt: now }
    account.receipts.set(id, receipt)
    this.deps.store.put(RECEIPTS_COLLECTION, receiptKey(accountId, id), receipt)
  }

  /** A fresh STREAM address and shared secret for an SPSP query (undefined: not a receiving account). */
  spspDetails (accountId: string): SpspDetails | 'not running' | undefined {
    const account = this.accounts.get(accountId)
    if (account === undefined) return undefined
    if (account.server === undefined) return 'not running'
    const { destinationAccount, sharedSecret } = account.server.generateAddressAndSecret()
    return { destinationAccount, sharedSecret }
  }

  report (accountId: string): ReceiverReport | undefined {
    const account = this.accounts.get(accountId)
    if (account === undefined) return undefined
    const receipts = [...account.receipts.values()].sort((a, b) => a.firstAt - b.firstAt || (a.id < b.id ? -1 : 1))
    return { account: accountId, address: this.deps.accountAddress(accountId), amount: account.totals.amount, packets: account.totals.packets, receipts }
  }

  async stop (): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    for (const account of this.accounts.values()) {
      account.link.setHandler(undefined)
      await account.link.close(1001, 'connector shutting down')
    }
  }
}

export function receiptId (connection: string): string {
  return createHash('sha256').update(connection, 'utf8').digest('hex').slice(0, 32)
}
