/** What the receiver stores (record collections of the Store; values are plain data). */

/** Per receiving account: everything it was credited (key: the account id). */
export const TOTALS_COLLECTION = 'receiver-totals'
/** Per STREAM connection (one payment, one SPSP query): key `<account id>:<receipt id>`. */
export const RECEIPTS_COLLECTION = 'receipts'
/** The STREAM server secret of each receiving account, so addresses handed out survive a restart. */
export const SECRETS_COLLECTION = 'receiver-secrets'

export interface ReceiverTotals {
  /** The sum of the amounts credited, a decimal string (a sum may outgrow 64 bits). */
  amount: string
  /** Fulfilled packets credited (those carrying money; a Fulfill of 0 is not recorded). */
  packets: number
}

export interface ReceiptRecord {
  account: string
  /** Identifies the STREAM connection: the first 32 hex digits of a SHA-256 of its address segment. */
  id: string
  amount: string
  packets: number
  /** Milliseconds since the epoch: first and last packet credited. */
  firstAt: number
  lastAt: number
}

/** What `Connector.receipts(accountId)` returns. */
export interface ReceiverReport {
  account: string
  /** The account's ILP address (the STREAM server's). */
  address?: string
  amount: string
  packets: number
  /** Oldest first. */
  receipts: ReceiptRecord[]
}

export function receiptKey (account: string, id: string): string {
  return `${account}:${id}`
}
