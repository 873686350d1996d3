/**
 * What the connector needs from an account's link, whatever carries it: BTP over a WebSocket
 * (`BtpConnection`), ILP-over-HTTP (`HttpLink`), a standard ILP plugin (`PluginLink`) or the connector's
 * own STREAM receiver. Every link speaks BTP-shaped frames both ways — incoming frames on `frames$`,
 * outgoing ones through `send` — so `Connector.attach()`, the account actors and the ControlChannel
 * are the same for all of them. Links that are not BTP translate at their edge (see MessageLink).
 */
import type { Observable } from 'rxjs'

export interface Link {
  /** Unique among all live links of the process (the registry and the actors address links by it). */
  readonly id: number
  /** Every frame the peer sends (BTP encoding); completes when the link closes. For one subscriber. */
  readonly frames$: Observable<Buffer>
  /** Emits once, when the link has closed. */
  readonly closed$: Observable<{ code: number; reason: string }>
  readonly closed: boolean
  /** Queues a frame for the peer; false if the link is closed. */
  send: (frame: Buffer) => boolean
  close: (code?: number, reason?: string) => Promise<void>
  /** Incoming backpressure: a batch of frames was handed to the actor / was handled by it. */
  batchHandedOver: () => void
  batchHandled: () => void
  /** Called once per ping interval (liveness checks; a no-op where the transport has none). */
  ping: () => void
}

let lastLinkId = 0

/** A fresh link id: one counter for every kind of link, so ids never collide in the registry. */
export function nextLinkId (): number {
  return ++lastLinkId
}
