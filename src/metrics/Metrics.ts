/**
 * Prometheus metrics (prom-client, a registry of the connector's own). The packet path only bumps plain
 * numbers in Maps and observes a pre-bound histogram child (no label hashing per packet); the
 * exported series are built from those numbers at scrape time.
 *
 * Labels are bounded whatever the traffic: destinations are never labels; accounts are labelled by id
 * only when the operator made them (config file or admin API) — every local-mode account counts under
 * account="local", so a flood of new tokens adds no series; reject codes outside the ones RFC 0027
 * defines are folded into their class ("F..", "T..", "R..") or "other".
 */
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import type { AccountOrigin } from '../Connector'

/** The label of every local-mode account (and of accounts no longer known). */
export const LOCAL_LABEL = 'local'

const KNOWN_CODES = new Set([
  'F00', 'F01', 'F02', 'F03', 'F04', 'F05', 'F06', 'F07', 'F08', 'F99',
  'T00', 'T01', 'T02', 'T03', 'T04', 'T05', 'T99',
  'R00', 'R01', 'R02', 'R99'
])

export function codeLabel (code: string): string {
  if (KNOWN_CODES.has(code)) return code
  const c = code.charAt(0)
  return c === 'F' || c === 'T' || c === 'R' ? `${c}..` : 'other'
}

/** What the metrics read from the connector at scrape time. */
export interface MetricsSource {
  accountIds: () => string[]
  accountOrigin: (id: string) => AccountOrigin | undefined
  account: (id: string) => { balance: string; connections: number } | undefined
  routingTableSize: () => number
  packetsInFlight: () => number
}

export class Metrics {
  readonly registry = new Registry()
  /** account label → outcome ("fulfilled" or a code label) → count. */
  private readonly counts = new Map<string, Map<string, number>>()
  /** account id → its label (cached: the origin of an id does not change while it lives). */
  private readonly labels = new Map<string, string>()
  private readonly latencyFulfilled: { observe: (v: number) => void }
  private readonly latencyRejected: { observe: (v: number) => void }

  constructor (private readonly source: MetricsSource) {
    const self = this
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 })
    new Counter({
      name: 'ilp_packets_total',
      help: 'Prepares from an account answered, by outcome ("fulfilled" or "rejected") and reject code. Local-mode accounts count under account="local".',
      labelNames: ['account', 'outcome', 'code'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        for (const [account, byOutcome] of self.counts) {
          for (const [outcome, n] of byOutcome) {
            if (outcome === 'fulfilled') this.inc({ account, outcome, code: '' }, n)
            else this.inc({ account, outcome: 'rejected', code: outcome }, n)
          }
        }
      }
    })
    const latency = new Histogram({
      name: 'ilp_packet_duration_seconds',
      help: 'Time from a forwarded Prepare\'s arrival to its answer upstream (before the group commit of a Fulfill), by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry]
    })
    this.latencyFulfilled = latency.labels('fulfilled')
    this.latencyRejected = latency.labels('rejected')
    new Gauge({
      name: 'ilp_account_balance',
      help: 'Committed balance (what the account owes the connector), in the account\'s own units; local-mode accounts summed under account="local".',
      labelNames: ['account'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        const sums = new Map<string, bigint>()
        for (const id of source.accountIds()) {
          const a = source.account(id)
          if (a === undefined) continue
          const label = self.label(id)
          sums.set(label, (sums.get(label) ?? 0n) + BigInt(a.balance))
        }
        // A gauge is a float64: exact up to 2^53, then approximate (the admin API has the exact value).
        for (const [account, sum] of sums) this.set({ account }, Number(sum))
      }
    })
    new Gauge({
      name: 'ilp_links_up',
      help: 'Accounts whose link is up (at least one live connection); local-mode accounts counted under account="local".',
      labelNames: ['account'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        for (const id of source.accountIds()) {
          const label = self.label(id)
          const up = (source.account(id)?.connections ?? 0) > 0 ? 1 : 0
          this.inc({ account: label }, up)
        }
      }
    })
    new Gauge({
      name: 'ilp_accounts',
      help: 'Accounts, by origin (config, api, local).',
      labelNames: ['origin'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        for (const origin of ['config', 'api', 'local']) this.set({ origin }, 0)
        for (const id of source.accountIds()) this.inc({ origin: source.accountOrigin(id) ?? 'local' })
      }
    })
    new Gauge({
      name: 'ilp_routing_table_prefixes',
      help: 'Prefixes in the routing table.',
      registers: [this.registry],
      collect () { this.set(source.routingTableSize()) }
    })
    new Gauge({
      name: 'ilp_packets_in_flight',
      help: 'Prepares taken in and not yet answered.',
      registers: [this.registry],
      collect () { this.set(source.packetsInFlight()) }
    })
  }

  /** The account label of an id: its own for operator-made accounts, "local" otherwise. */
  label (accountId: string): string {
    let label = this.labels.get(accountId)
    if (label === undefined) {
      const origin = this.source.accountOrigin(accountId)
      label = origin === 'config' || origin === 'api' ? accountId : LOCAL_LABEL
      // Only live accounts are cached (a removed id is forgotten by `forget`).
      if (origin !== undefined) this.labels.set(accountId, label)
    }
    return label
  }

  /** The account was removed: its id may come back with another origin. Its counts stay. */
  forget (accountId: string): void {
    this.labels.delete(accountId)
  }

  /**
   * One Prepare from `accountId` answered: "fulfilled" or a reject code; `latencyMs` for packets that
   * were forwarded (immediate rejects have none). On the packet path: keep it cheap.
   */
  packet (accountId: string, outcome: string, latencyMs?: number): void {
    const account = this.label(accountId)
    let byOutcome = this.counts.get(account)
    if (byOutcome === undefined) this.counts.set(account, byOutcome = new Map())
    const key = outcome === 'fulfilled' ? outcome : codeLabel(outcome)
    byOutcome.set(key, (byOutcome.get(key) ?? 0) + 1)
    if (latencyMs !== undefined) (outcome === 'fulfilled' ? this.latencyFulfilled : this.latencyRejected).observe(latencyMs / 1000)
  }

  async scrape (): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }
}
