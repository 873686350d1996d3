/** TransferHistory in-process over a MemoryStore: records, lookups, paging, retention, the bounded buffer. */
import pino from 'pino'
import { MemoryStore } from '../../src/store/MemoryStore'
import { TransferHistory, MAX_BUFFERED } from '../../src/history/TransferHistory'
import type { Prepare } from '../../src/protocol/ilp'
import { rejectPacket } from '../../src/protocol/ilp'

const HOUR = 3600_000
const MAX_WAIT = 36_000
const log = pino({ level: 'silent' })
const day0 = 1_700_000_000_000

function prep (amount: bigint, condition: Buffer): Prepare {
  return { amount, expiresAt: 2_000_000_000_000, executionCondition: condition, destination: 'test.x.bob', data: Buffer.alloc(0), packet: Buffer.alloc(0) }
}
const fulfill = { kind: 'fulfill' as const, fulfillment: Buffer.alloc(32, 9), packet: Buffer.alloc(0) }

/** A history with its timers stopped: flushes are explicit, with the time given. */
async function quiet (store: MemoryStore, retentionMs = HOUR): Promise<TransferHistory> {
  const h = new TransferHistory(store, retentionMs, MAX_WAIT, log)
  await h.start()
  h.stop()
  return h
}

test('records, lookups and retention', async () => {
  const store = new MemoryStore()
  const history = await quiet(store, 24 * HOUR)
  const c1 = Buffer.alloc(32, 1)
  const c2 = Buffer.alloc(32, 2)
  history.prepared('alice', 1, prep(10n, c1), 'bob', day0)
  history.settled('alice', 1, { kind: 'reject', code: 'F99', packet: rejectPacket('F99', 'test.x.bob', 'no') }, day0 + 5)
  history.flush(MAX_WAIT, day0 + 10)
  history.prepared('alice', 2, prep(20n, c2), 'bob', day0 + 48 * HOUR)
  history.settled('alice', 2, fulfill, day0 + 48 * HOUR + 1)
  history.flush(MAX_WAIT, day0 + 48 * HOUR + 10)
  const first = await history.get(`${day0}-1-1-alice`)
  expect(first).toEqual({
    id: `${day0}-1-1-alice`,
    state: 'rejected',
    source: 'alice',
    nextHop: 'bob',
    destination: 'test.x.bob',
    amount: '10',
    executionCondition: c1.toString('hex'),
    expiresAt: new Date(2_000_000_000_000).toISOString(),
    preparedAt: new Date(day0).toISOString(),
    settledAt: new Date(day0 + 5).toISOString(),
    reject: { code: 'F99', triggeredBy: 'test.x.bob', message: 'no' }
  })
  expect((await history.get(`${day0 + 48 * HOUR}-1-2-alice`))?.fulfillment).toBe('09'.repeat(32))
  expect((await history.byCondition(c2.toString('hex'), 10)).map(t => t.amount)).toEqual(['20'])
  expect((await history.forAccount('bob', { limit: 10 })).transfers.map(t => t.amount)).toEqual(['20', '10'])

  // Two days after the first: its chunk is past 24 hours, the second's is not.
  expect(await history.prune(day0 + 48 * HOUR + 1)).toBe(1)
  expect(await history.get(`${day0}-1-1-alice`)).toBeUndefined()
  expect(await history.byCondition(c1.toString('hex'), 10)).toEqual([])
  expect((await history.forAccount('alice', { limit: 10 })).transfers.map(t => t.amount)).toEqual(['20'])
})

test('paging is by id even when transfers end out of order; open transfers are visible', async () => {
  const store = new MemoryStore()
  const h = await quiet(store)
  const c = Buffer.alloc(32, 3)
  // Recent times: get() flushes at the real time, and #3 must still count as in flight then.
  const t0 = Date.now() - 1000
  h.prepared('a', 1, prep(1n, c), 'b', t0)
  h.prepared('a', 2, prep(2n, c), 'b', t0 + 1)
  h.prepared('a', 3, prep(3n, c), 'b', t0 + 2)
  h.settled('a', 2, fulfill, t0 + 3)
  h.flush(MAX_WAIT, t0 + 4) // chunk 1: #2
  h.settled('a', 1, fulfill, t0 + 50)
  h.flush(MAX_WAIT, t0 + 51) // chunk 2: #1; #3 still open
  const p1 = await h.forAccount('a', { limit: 2 })
  expect(p1.transfers.map(t => `${t.amount} ${t.state}`)).toEqual(['3 prepared', '2 fulfilled'])
  const p2 = await h.forAccount('a', { limit: 2, before: p1.next as string })
  expect(p2).toEqual({ transfers: [expect.objectContaining({ amount: '1' })], next: null })
  expect((await h.get(`${t0 + 2}-1-3-a`))?.state).toBe('prepared')
  expect((await h.forAccount('a', { limit: 10, from: t0 + 1, to: t0 + 2 })).transfers.map(t => t.amount)).toEqual(['2'])
})

test('ids are unique across restarts (the boot count is stored)', async () => {
  const store = new MemoryStore()
  const first = await quiet(store)
  const second = await quiet(store)
  first.prepared('a', 1, prep(1n, Buffer.alloc(32)), 'b', day0)
  first.settled('a', 1, fulfill, day0)
  first.flush(MAX_WAIT, day0)
  second.prepared('a', 1, prep(1n, Buffer.alloc(32)), 'b', day0)
  second.settled('a', 1, fulfill, day0)
  second.flush(MAX_WAIT, day0 + 1)
  expect((await second.forAccount('a', { limit: 10 })).transfers.map(t => t.id)).toEqual([`${day0}-2-1-a`, `${day0}-1-1-a`])
})

test('the buffer is bounded: beyond its size events are dropped, not kept', async () => {
  const store = new MemoryStore()
  const history = await quiet(store)
  const p = prep(1n, Buffer.alloc(32))
  for (let i = 1; i <= MAX_BUFFERED + 10; i++) history.prepared('a', i, p, 'b', day0 + i)
  history.stop() // writes the open ones
  const chunks = await store.list('transfer-chunks')
  // 14 values per transfer in a chunk's rows.
  expect(chunks.reduce((n, c) => n + (c.value as { rows: unknown[] }).rows.length / 14, 0)).toBe(MAX_BUFFERED)
})
