/** TransferHistory in-process over a MemoryStore: records, indexes, retention, the bounded buffer. */
import pino from 'pino'
import { MemoryStore } from '../../src/store/MemoryStore'
import { TransferHistory, MAX_BUFFERED } from '../../src/history/TransferHistory'
import type { Prepare } from '../../src/protocol/ilp'
import { rejectPacket } from '../../src/protocol/ilp'

const HOUR = 3600_000
const log = pino({ level: 'silent' })

function prep (amount: bigint, condition: Buffer): Prepare {
  return { amount, expiresAt: 2_000_000_000_000, executionCondition: condition, destination: 'test.x.bob', data: Buffer.alloc(0), packet: Buffer.alloc(0) }
}

test('records, lookups and retention', async () => {
  const store = new MemoryStore()
  const history = new TransferHistory(store, 24 * HOUR, log)
  await history.start()
  history.stop() // timers off: flushes are explicit below
  const c1 = Buffer.alloc(32, 1)
  const c2 = Buffer.alloc(32, 2)
  const day0 = 1_700_000_000_000
  history.prepared('alice', 1, prep(10n, c1), 'bob', day0)
  history.prepared('alice', 2, prep(20n, c2), 'bob', day0 + 2 * 24 * HOUR)
  history.settled('alice', 1, { kind: 'reject', code: 'F99', packet: rejectPacket('F99', 'test.x.bob', 'no') }, day0 + 5)
  history.flush()
  const old = await history.get(`${day0}-1-1-alice`)
  expect(old).toMatchObject({ state: 'rejected', amount: '10', reject: { code: 'F99', triggeredBy: 'test.x.bob', message: 'no' } })
  expect((await history.byCondition(c2.toString('hex'), 10)).map(t => t.amount)).toEqual(['20'])
  expect((await history.forAccount('bob', { limit: 10 })).transfers.map(t => t.amount)).toEqual(['20', '10'])

  // Two days after the first: it is past 24 hours, the second is not.
  expect(await history.prune(day0 + 2 * 24 * HOUR + 1)).toBe(1)
  expect(await history.get(`${day0}-1-1-alice`)).toBeUndefined()
  expect(await history.byCondition(c1.toString('hex'), 10)).toEqual([])
  expect((await history.forAccount('alice', { limit: 10 })).transfers.map(t => t.amount)).toEqual(['20'])
  expect(await store.list('account-transfers')).toHaveLength(2) // alice|id2 and bob|id2
})

test('ids are unique across restarts (the boot count is stored)', async () => {
  const store = new MemoryStore()
  const first = new TransferHistory(store, HOUR, log)
  await first.start()
  first.stop()
  const second = new TransferHistory(store, HOUR, log)
  await second.start()
  second.stop()
  const at = 1_700_000_000_000
  first.prepared('a', 1, prep(1n, Buffer.alloc(32)), 'b', at)
  second.prepared('a', 1, prep(1n, Buffer.alloc(32)), 'b', at)
  first.flush()
  second.flush()
  expect((await store.list('transfers')).map(r => r.key)).toEqual([`${at}-1-1-a`, `${at}-2-1-a`])
})

test('the buffer is bounded: beyond its size events are dropped, not kept', async () => {
  const store = new MemoryStore()
  const history = new TransferHistory(store, HOUR, log)
  await history.start()
  history.stop()
  const p = prep(1n, Buffer.alloc(32))
  for (let i = 1; i <= MAX_BUFFERED + 10; i++) history.prepared('a', i, p, 'b', 1_700_000_000_000 + i)
  history.flush()
  expect(await store.list('transfers')).toHaveLength(MAX_BUFFERED)
})
