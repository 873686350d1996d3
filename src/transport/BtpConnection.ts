/**
 * One authenticated BTP WebSocket, server or client side alike. Incoming frames are an RxJS stream;
 * outgoing frames are batched per event-loop turn into one socket write (corked), because one write
 * per message dominates a busy link's cost. A ping each interval finds dead links: a socket that did
 * not answer the previous ping is terminated.
 */
import { Observable, Subject, takeUntil, share } from 'rxjs'
import WebSocket from 'ws'

let lastConnectionId = 0

export class BtpConnection {
  readonly id = ++lastConnectionId
  /** Every binary frame the peer sends, until the socket closes. */
  readonly frames$: Observable<Buffer>
  /** Emits once, when the socket has closed (for any reason). */
  readonly closed$ = new Subject<{ code: number; reason: string }>()
  private queue: Buffer[] = []
  private flushScheduled = false
  private alive = true
  private pingTimer: NodeJS.Timeout | undefined
  private isClosed = false

  constructor (private readonly ws: WebSocket, pingIntervalMs: number) {
    ws.on('close', (code, reason) => {
      this.isClosed = true
      if (this.pingTimer !== undefined) clearInterval(this.pingTimer)
      this.closed$.next({ code, reason: reason.toString() })
      this.closed$.complete()
    })
    ws.on('pong', () => { this.alive = true })
    this.frames$ = new Observable<Buffer>(subscriber => {
      const onMessage = (data: WebSocket.RawData): void => subscriber.next(toBuffer(data))
      ws.on('message', onMessage)
      return () => { ws.off('message', onMessage) }
    }).pipe(takeUntil(this.closed$), share())
    this.pingTimer = setInterval(() => {
      if (!this.alive) {
        ws.terminate()
        return
      }
      this.alive = false
      ws.ping()
    }, pingIntervalMs)
    this.pingTimer.unref()
  }

  get closed (): boolean { return this.isClosed || this.ws.readyState !== WebSocket.OPEN }

  /** Queues a frame; all frames queued in one turn leave in one corked write. False if closed. */
  send (frame: Buffer): boolean {
    if (this.closed) return false
    this.queue.push(frame)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
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

  private readonly flush = (): void => {
    this.flushScheduled = false
    const frames = this.queue
    if (frames.length === 0) return
    this.queue = []
    if (this.closed) return
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
    socket?.cork()
    for (const frame of frames) this.ws.send(frame, { binary: true })
    socket?.uncork()
  }
}

function toBuffer (data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}
