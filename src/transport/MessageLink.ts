/**
 * The common part of links whose transport is request/response rather than a stream of frames
 * (ILP-over-HTTP, a standard ILP plugin, the STREAM receiver): it translates between that and the
 * BTP-shaped frames the connector speaks (see Link).
 *
 * - Peer → us: a Prepare the peer sends (`fromPeer`) becomes a BTP MESSAGE with a request id of this
 *   link's own; the actor's answer (a RESPONSE, or a BTP ERROR for something it refuses) resolves the
 *   promise the transport is waiting on. Money the peer sends becomes a TRANSFER the same way.
 * - Us → peer: a MESSAGE the actor or the ControlChannel sends is handed to `sendPrepare`; its reply
 *   comes back as a RESPONSE with the same request id (ids ≥ 2^31 are the ControlChannel's, which the
 *   actor routes back to it as for BTP). A TRANSFER goes to `sendMoney` and is acknowledged with an
 *   empty RESPONSE. A transport failure is answered with a Reject of our own, so the sender learns why.
 *
 * The BTP request ids of the two directions are separate spaces, as in BTP: the frame type (MESSAGE vs
 * RESPONSE) tells them apart.
 */
import * as Btp from 'btp-packet'
import { Observable, Subject, Subscriber } from 'rxjs'
import { Link, nextLinkId } from './Link'
import { ilpFrame, readIlpFrame, BTP_MESSAGE, BTP_RESPONSE, MAX_UINT64 } from '../protocol/codec'
import { rejectPacket, RejectCode } from '../protocol/ilp'
import { emptyResponseFrame, errorFrame, errorMessage, TRANSFER_KEY_PROTOCOL } from './btp'

/** What the connector answered to something the peer sent. */
export type PeerAnswer =
  | { kind: 'ilp'; packet: Buffer }
  /** Refused below ILP (a BTP ERROR): not a Prepare, a TRANSFER not accepted, the link closing. */
  | { kind: 'error'; code: string; message: string }
  /** An empty RESPONSE: a TRANSFER was accepted. */
  | { kind: 'ack' }

/** A failure of the transport that the sender should see as this Reject (we are its triggeredBy). */
export class LinkFailure extends Error {
  constructor (readonly code: RejectCode, message: string) { super(message) }
}

/** Incoming request ids stay below 2^32 (BTP's uint32), wrapping around. */
const MAX_REQUEST_ID = 0xffffffff

/**
 * Settlement payments by settlement id (a UUID: unique across accounts), across links and reconnects:
 * the latest MAX_PAYMENTS are kept. A failed payment is forgotten, so a retry may pay.
 */
const payments = new Map<string, Promise<void>>()
const MAX_PAYMENTS = 10000

function remember (key: string, payment: Promise<void>): void {
  payments.set(key, payment)
  payment.catch(() => { if (payments.get(key) === payment) payments.delete(key) })
  if (payments.size > MAX_PAYMENTS) payments.delete(payments.keys().next().value as string)
}

export abstract class MessageLink implements Link {
  readonly id = nextLinkId()
  readonly frames$: Observable<Buffer>
  readonly closed$ = new Subject<{ code: number; reason: string }>()
  private subscriber: Subscriber<Buffer> | undefined
  /** Frames from the peer that arrived before the connector subscribed. */
  private early: Buffer[] = []
  private isClosed = false
  private nextIncomingId = 1
  private readonly waiting = new Map<number, (answer: PeerAnswer) => void>()

  /** `address`: our ILP address, the triggeredBy of the Rejects this link makes. */
  constructor (protected readonly address: () => string) {
    this.frames$ = new Observable<Buffer>(subscriber => {
      this.subscriber = subscriber
      for (const frame of this.early.splice(0)) subscriber.next(frame)
      if (this.isClosed) subscriber.complete()
      return () => { this.subscriber = undefined }
    })
  }

  /** Sends one Prepare (serialized) to the peer; resolves with its Fulfill or Reject (serialized). */
  protected abstract sendPrepare (prepare: Buffer): Promise<Buffer>
  /** Pays the peer out of band (a settlement); resolves once the transport accepted it. */
  protected abstract sendMoney (amount: bigint): Promise<void>

  get closed (): boolean { return this.isClosed }

  /** A Prepare from the peer: resolves with what the connector answers (never rejects). */
  async fromPeer (prepare: Buffer): Promise<PeerAnswer> {
    if (this.isClosed) return { kind: 'error', code: 'T00', message: 'the link is closed' }
    return await this.request(id => ilpFrame(BTP_MESSAGE, id, prepare))
  }

  /** Money from the peer (a plugin's money handler): resolves with the connector's answer. */
  async moneyFromPeer (amount: bigint): Promise<PeerAnswer> {
    if (this.isClosed) return { kind: 'error', code: 'T00', message: 'the link is closed' }
    if (amount < 0n || amount > MAX_UINT64) return { kind: 'error', code: 'F01', message: 'amount is not a uint64' }
    return await this.request(id => Btp.serialize({ type: Btp.TYPE_TRANSFER, requestId: id, data: { amount: amount.toString(), protocolData: [] } }))
  }

  private async request (frame: (requestId: number) => Buffer): Promise<PeerAnswer> {
    let id = this.nextIncomingId
    while (this.waiting.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1
    this.nextIncomingId = id >= MAX_REQUEST_ID ? 1 : id + 1
    return await new Promise<PeerAnswer>(resolve => {
      this.waiting.set(id, resolve)
      this.emit(frame(id))
    })
  }

  /**
   * Where an answer to one of our requests goes when it comes back after this link closed (the same
   * plugin, reconnected): the account's current link, so that a Fulfill before expiry is honoured, as
   * over BTP (the actor matches replies by request id, whatever the link).
   */
  lateAnswer: ((frame: Buffer) => void) | undefined

  /** Hands a frame to the connector as if this link had received it. */
  deliver (frame: Buffer): void {
    this.emit(frame)
  }

  private emit (frame: Buffer): void {
    if (this.isClosed) {
      // BTP RESPONSE (1) or ERROR (2): an answer to a request of ours.
      if ((frame[0] === 1 || frame[0] === 2) && this.lateAnswer !== undefined) this.lateAnswer(frame)
      return
    }
    if (this.subscriber === undefined) this.early.push(frame)
    else this.subscriber.next(frame)
  }

  /** A frame from the connector: an answer to the peer, or a request of ours for it. */
  send (frame: Buffer): boolean {
    if (this.isClosed) return false
    let ilp
    try {
      ilp = readIlpFrame(frame)
    } catch {
      ilp = undefined
    }
    if (ilp !== undefined && ilp.ilp !== undefined) {
      if (ilp.type === BTP_RESPONSE) this.answerPeer(ilp.requestId, { kind: 'ilp', packet: Buffer.from(ilp.ilp) })
      else void this.forward(ilp.requestId, Buffer.from(ilp.ilp))
      return true
    }
    const btp = Btp.deserialize(frame)
    switch (btp.type) {
      case Btp.TYPE_RESPONSE: this.answerPeer(btp.requestId, { kind: 'ack' }); break
      case Btp.TYPE_ERROR: {
        const err = btp.data as { code: string; data: string }
        this.answerPeer(btp.requestId, { kind: 'error', code: err.code, message: err.data })
        break
      }
      case Btp.TYPE_TRANSFER: {
        const transfer = btp.data as Btp.BtpTransfer
        const key = transfer.protocolData.find(p => p.protocolName === TRANSFER_KEY_PROTOCOL)?.data.toString('utf8')
        void this.pay(btp.requestId, BigInt(transfer.amount), key)
        break
      }
      default: return false
    }
    return true
  }

  private answerPeer (requestId: number, answer: PeerAnswer): void {
    const resolve = this.waiting.get(requestId)
    if (resolve === undefined) return // the link closed meanwhile: already answered
    this.waiting.delete(requestId)
    resolve(answer)
  }

  /** Our Prepare to the peer; the reply (or a Reject of ours) comes back as a RESPONSE frame. */
  private async forward (requestId: number, prepare: Buffer): Promise<void> {
    let reply: Buffer
    try {
      reply = await this.sendPrepare(prepare)
    } catch (e) {
      const code = e instanceof LinkFailure ? e.code : 'T01'
      reply = rejectPacket(code, this.address(), errorMessage(e).slice(0, 500))
    }
    this.emit(ilpFrame(BTP_RESPONSE, requestId, reply))
  }

  private async pay (requestId: number, amount: bigint, key: string | undefined): Promise<void> {
    try {
      // A settlement resent (its answer was slow, or the link flapped) waits for the payment already
      // under way instead of paying again: one sendMoney per settlement id.
      let payment = key === undefined ? undefined : payments.get(key)
      if (payment === undefined) {
        payment = this.sendMoney(amount)
        if (key !== undefined) remember(key, payment)
      }
      await payment
      this.emit(emptyResponseFrame(requestId))
    } catch (e) {
      this.emit(errorFrame(requestId, 'T00', 'TemporaryError', errorMessage(e).slice(0, 500)))
    }
  }

  /** No per-link flow control: the transports below wait for each answer themselves. */
  batchHandedOver (): void {}
  batchHandled (): void {}
  ping (): void {}

  /** Closes the link: the peer's requests still waiting are refused, then `closed$` fires. */
  async close (code = 1000, reason = ''): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    for (const [id, resolve] of this.waiting) {
      this.waiting.delete(id)
      resolve({ kind: 'error', code: 'T00', message: 'the link closed' })
    }
    this.subscriber?.complete()
    this.closed$.next({ code, reason })
    this.closed$.complete()
    await this.onClose()
  }

  /** The transport's own cleanup after close. */
  protected async onClose (): Promise<void> {}
}
