/** ILP addresses (RFC 0015) and the addresses this connector gives its children. */
import { createHash } from 'crypto'
import { isValidIlpAddress } from 'ilp-packet'

export { isValidIlpAddress }

/**
 * The account id (and address segment) of a local-mode account, derived from its token so the token
 * itself never appears in an address, a log line or a metric. 80 bits of SHA-256: collisions are out of
 * reach for any number of accounts a listener would provision.
 */
export function localAccountId (token: string): string {
  return 'l' + createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 20)
}

/** How a token is kept and looked up (BTP and ILP-over-HTTP alike): its SHA-256, never the token itself. */
export function tokenKey (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** A child's address: our address followed by the child's account id. */
export function childAddress (connectorAddress: string, accountId: string): string {
  return `${connectorAddress}.${accountId}`
}
