import { PrefixTable, longestPrefixMatch, shardOf, shardKey } from '../../src/routing/PrefixTable'

function table (shards: number, routes: Array<[string, string, 'static' | 'local' | 'parent-default']>): PrefixTable[] {
  const tables = Array.from({ length: shards }, () => new PrefixTable())
  for (const [prefix, nextHop, kind] of routes) tables[shardOf(prefix, shards)].add({ prefix, nextHop, kind })
  return tables
}

describe.each([1, 4, 7])('longest prefix match with %i shard(s)', (shards) => {
  const t = table(shards, [
    ['g', 'gparent', 'local'],
    ['g.us', 'us', 'local'],
    ['g.us.nyc.bob', 'bob', 'local'],
    ['test.local.alice', 'alice', 'local'],
    ['', 'parent', 'parent-default']
  ])
  it.each([
    ['g.us.nyc.bob', 'bob'],
    ['g.us.nyc.bob.sub.deeper', 'bob'],
    ['g.us.nyc.bobby', 'us'], // segment boundary: g.us.nyc.bob is not a prefix of g.us.nyc.bobby
    ['g.us.sf', 'us'],
    ['g.eu.paris', 'gparent'],
    ['g.usa', 'gparent'],
    ['test.local.alice', 'alice'],
    ['test.local.alice.x', 'alice'],
    ['test.local.alicex', 'parent'],
    ['private.x', 'parent']
  ])('%s → %s', (destination, hop) => {
    expect(longestPrefixMatch(t, destination)).toBe(hop)
  })
  it('finds nothing without a default route', () => {
    const t2 = table(shards, [['g.us', 'us', 'local']])
    expect(longestPrefixMatch(t2, 'g.eu.x')).toBeUndefined()
  })
})

describe('route choice for one prefix', () => {
  it('prefers static over local over parent-default, and falls back when the better one goes', () => {
    const t = new PrefixTable()
    t.add({ prefix: 'g.x', nextHop: 'viaParent', kind: 'parent-default' })
    t.add({ prefix: 'g.x', nextHop: 'child', kind: 'local' })
    expect(t.nextHop('g.x')).toBe('child')
    t.add({ prefix: 'g.x', nextHop: 'peer', kind: 'static' })
    expect(t.nextHop('g.x')).toBe('peer')
    t.remove('g.x', 'peer', 'static')
    expect(t.nextHop('g.x')).toBe('child')
    t.removeNextHop('child')
    expect(t.nextHop('g.x')).toBe('viaParent')
    t.remove('g.x', 'viaParent', 'parent-default')
    expect(t.nextHop('g.x')).toBeUndefined()
    expect(t.size).toBe(0)
  })
  it('breaks ties by account id, whatever the order routes arrive in', () => {
    const a = new PrefixTable()
    a.add({ prefix: 'g.y', nextHop: 'zed', kind: 'static' })
    a.add({ prefix: 'g.y', nextHop: 'abe', kind: 'static' })
    const b = new PrefixTable()
    b.add({ prefix: 'g.y', nextHop: 'abe', kind: 'static' })
    b.add({ prefix: 'g.y', nextHop: 'zed', kind: 'static' })
    expect(a.nextHop('g.y')).toBe('abe')
    expect(b.nextHop('g.y')).toBe('abe')
  })
  it('re-adding the same route replaces it rather than duplicating it', () => {
    const t = new PrefixTable()
    t.add({ prefix: 'g.y', nextHop: 'a', kind: 'static' })
    t.add({ prefix: 'g.y', nextHop: 'a', kind: 'static' })
    expect(t.routes()).toHaveLength(1)
  })
})

describe('shard keys', () => {
  it('uses the first two segments', () => {
    expect(shardKey('g.us.nyc.bob')).toBe('g.us')
    expect(shardKey('g.us')).toBe('g.us')
    expect(shardKey('g')).toBe('g')
    expect(shardKey('')).toBe('')
  })
  it('keeps a destination and its longer prefixes in one shard', () => {
    expect(shardOf('g.us.nyc.bob', 8)).toBe(shardOf('g.us', 8))
  })
})

describe('our own address', () => {
  it('no route replaces it: a static route for exactly our address loses to it (found in a trial)', () => {
    const t = new PrefixTable()
    t.add({ prefix: 'g.a', nextHop: '', kind: 'self' })
    t.add({ prefix: 'g.a', nextHop: 'alice', kind: 'static' })
    expect(t.bestRoute('g.a')?.kind).toBe('self')
  })
})
