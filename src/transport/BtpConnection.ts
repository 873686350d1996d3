/**
 * One authenticated BTP WebSocket, server or client side alike. Incoming frames are an RxJS stream;
 * outgoing frames are batched per event-loop turn into one socket write (corked), because one write
 * per message dominates a busy link's cost. Dead links are found by `ping()`, which the link registry
 * calls for every connection from one shared timer: a socket that did not answer the previous ping
 * is terminated. An idle connection costs a few objects and no timer of its own.
 */
import { Observable, Subject, Subscriber } from 'rxjs'
import WebSocket from 'ws'
import { Link, nextLinkId } from './Link'

const BINARY = { binary: true }
/** Unhandled batches of incoming frames at which reading stops, and at which it starts again. */
const PAUSE_AT = 64
const RESUME_AT = 16
/** Bytes written to a socket and not yet taken by the peer, beyond which the peer is cut off. */
const MAX_BUFFERED = 16 * 1024 * 1024

export class BtpConnection implements Link {
  readonly id = nextLinkId()
  /** Every binary frame the peer sends; completes when the socket closes. For one subscriber. */
  readonly frames$: Observable<Buffer>
  /** Emits once, when the socket has closed (for any reason). */
  readonly closed$ = new Subject<{ code: number; reason: string }>()
  private queue: Buffer[] = []
  private flushScheduled = false
  private alive = true
  private isClosed = false
  private framesSubscriber: Subscriber<Buffer> | undefined

  /** `early`: frames that arrived after the auth frame but before this connection existed. */
  constructor (private readonly ws: WebSocket, early: Buffer[] = []) {
    ws.on('close', (code, reason) => {
      this.isClosed = true
      // The last frames first (completing frames$ flushes any batch still gathering), then the close.
      this.framesSubscriber?.complete()
      this.closed$.next({ code, reason: reason.toString() })
      this.closed$.complete()
    })
    ws.on('pong', () => { this.alive = true })
    this.frames$ = new Observable<Buffer>(subscriber => {
      this.framesSubscriber = subscriber
      for (const frame of early.splice(0)) subscriber.next(frame)
      const onMessage = (data: WebSocket.RawData): void => subscriber.next(toBuffer(data))
      ws.on('message', onMessage)
      if (this.isClosed) subscriber.complete()
      return () => {
        ws.off('message', onMessage)
        this.framesSubscriber = undefined
      }
    })
  }

  /**
   * Incoming backpressure: batches of frames handed to the account's actor and not yet handled. Past
   * a limit the socket is no longer read (TCP then slows the peer down) until the actor catches up,
   * so a peer sending faster than we forward cannot fill the mailbox without bound.
   */
  private unhandledBatches = 0

  batchHandedOver (): void {
    if (++this.unhandledBatches === PAUSE_AT && !this.closed) this.ws.pause()
  }

  batchHandled (): void {
    if (--this.unhandledBatches === RESUME_AT && !this.closed) this.ws.resume()
  }

  /** Called once per ping interval: terminates the socket if the last ping went unanswered. */
  ping (): void {
    if (this.closed) return
    if (!this.alive) {
      this.ws.terminate()
      return
    }
    this.alive = false
    this.ws.ping()
  }

  get closed (): boolean { return this.isClosed || this.ws.readyState !== WebSocket.OPEN }

  /**
   * Queues a frame; all frames queued in one turn leave in one corked write. False if closed. A peer
   * that stops reading while we keep writing is cut off once MAX_BUFFERED bytes wait for it.
   */
  send (frame: Buffer): boolean {
    if (this.closed) return false
    if (this.ws.bufferedAmount > MAX_BUFFERED) {
      void this.close(1008, 'peer is not reading')
      return false
    }
    this.queue.push(frame)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(flushConnection, this)
    }
    return true
  }

  /** Sends what is queued, closes, and resolves once the socket is closed (so nothing queued is lost). */
  async close (code = 1000, reason = ''): Promise<void> {
    if (this.isClosed) return
    const closed = new Promise<void>(resolve => this.closed$.subscribe({ complete: resolve }))
    this.flush()
    this.ws.close(code, reason)
    // A peer that never completes the closing handshake must not keep the socket (or shutdown) alive.
    setTimeout(() => this.ws.terminate(), 2000).unref()
    await closed
  }

  /** Writes every queued frame in one corked write. */
  flush (): void {
    this.flushScheduled = false
    const frames = this.queue
    if (frames.length === 0) return
    this.queue = []
    if (this.closed) return
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
    socket?.cork()
    for (const frame of frames) this.ws.send(frame, BINARY)
    socket?.uncork()
  }
}

function flushConnection (connection: BtpConnection): void {
  connection.flush()
}

function toBuffer (data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}
