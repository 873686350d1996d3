/**
 * The transfer expirer: one timer for all packets in flight, not one per packet. Deadlines are put in
 * slots of `resolutionMs`; when a slot's time comes, each account that has deadlines in it is told once
 * with the list of its ids. Entries are never removed when a packet completes early: the account simply
 * finds no such packet any more, which is far cheaper than cancelling a timer per packet.
 */
const MAX_TIMER_MS = 2 ** 31 - 1

export type ExpiryHandler = (accountId: string, ids: number[]) => void

export class ExpiryWheel {
  private readonly slots = new Map<number, Map<string, number[]>>()
  /** Slot numbers that hold entries, as a binary min-heap: one entry per slot, not per packet. */
  private readonly heap: number[] = []
  private timer: NodeJS.Timeout | undefined
  private nextSlot = Infinity

  constructor (private readonly onExpire: ExpiryHandler, private readonly resolutionMs = 10, private readonly now: () => number = Date.now) {}

  /** Asks for `onExpire(accountId, [.., id, ..])` at or shortly after `expiresAt` (never before). */
  add (accountId: string, id: number, expiresAt: number): void {
    const slot = Math.ceil(expiresAt / this.resolutionMs)
    let accounts = this.slots.get(slot)
    if (accounts === undefined) {
      accounts = new Map()
      this.slots.set(slot, accounts)
      heapPush(this.heap, slot)
    }
    const ids = accounts.get(accountId)
    if (ids === undefined) accounts.set(accountId, [id])
    else ids.push(id)
    if (slot < this.nextSlot) this.arm(slot)
  }

  get pendingSlots (): number { return this.slots.size }

  stop (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.nextSlot = Infinity
  }

  private arm (slot: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.nextSlot = slot
    // setTimeout takes at most 2^31 − 1 ms (about 24.8 days); beyond that Node fires after 1 ms. A far
    // deadline is reached in several arms: fire() finds nothing due yet and arms again.
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_TIMER_MS, Math.max(0, slot * this.resolutionMs - this.now())))
    this.timer.unref()
  }

  private fire (): void {
    this.timer = undefined
    this.nextSlot = Infinity
    const current = Math.floor(this.now() / this.resolutionMs)
    while (this.heap.length > 0 && this.heap[0] <= current) {
      const slot = heapPop(this.heap)
      const accounts = this.slots.get(slot)
      this.slots.delete(slot)
      if (accounts !== undefined) for (const [accountId, ids] of accounts) this.onExpire(accountId, ids)
    }
    if (this.heap.length > 0) this.arm(this.heap[0])
  }
}

function heapPush (heap: number[], value: number): void {
  let i = heap.push(value) - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (heap[parent] <= value) break
    heap[i] = heap[parent]
    i = parent
  }
  heap[i] = value
}

function heapPop (heap: number[]): number {
  const top = heap[0]
  const last = heap.pop() as number
  if (heap.length > 0) {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= heap.length) break
      const c = l + 1 < heap.length && heap[l + 1] < heap[l] ? l + 1 : l
      if (heap[c] >= last) break
      heap[i] = heap[c]
      i = c
    }
    heap[i] = last
  }
  return top
}
