/**
 * The data directory as an operator meets it: a directory from a newer version, a damaged one, or one
 * already in use is refused at start with a clear message, and nothing in it is changed or destroyed.
 */
import { Level } from 'level'
import { readdirSync, readFileSync, writeFileSync } from 'fs'
import path from 'path'
import { startConnector, runConnector, tempDir } from '../helpers/connectorProcess'
import { encode } from '../../src/store/LevelStore'
import { connected, ildcpAddress, within } from '../helpers/ilp'

const env = { METAMORPHOSIS_LISTENERS__DEFAULT__PORT: '0' }

async function dump (dir: string): Promise<Array<[string, string]>> {
  const db = new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  const entries: Array<[string, string]> = []
  for await (const [k, v] of db.iterator()) entries.push([k, v.toString('hex')])
  await db.close()
  return entries
}

/** A data directory with one local account in it, made by the real connector. */
async function usedDirectory (): Promise<string> {
  const cwd = tempDir()
  const connector = await startConnector({ cwd })
  const p = await connected(connector.url('someone'))
  await ildcpAddress(p)
  await within(p.disconnect(), 1000)
  expect(await connector.stop()).toBe(0)
  return cwd
}

test('a data directory written by a newer version is refused, unchanged', async () => {
  const cwd = await usedDirectory()
  const dataDir = path.join(cwd, 'data')
  const db = new Level<string, Buffer>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  await db.put('meta:schema', encode(99))
  await db.close()
  const before = await dump(dataDir)
  expect(before.some(([k]) => k.startsWith('account:'))).toBe(true)

  const run = await runConnector([], env, cwd)
  expect(run.code).toBe(1)
  expect(run.stderr).toMatch(/newer/)
  expect(run.stderr).toMatch(/nothing was changed/)
  expect(await dump(dataDir)).toEqual(before)
})

test('a damaged data directory is refused with a clear message; its files are left alone', async () => {
  const cwd = await usedDirectory()
  const dataDir = path.join(cwd, 'data')
  writeFileSync(path.join(dataDir, 'CURRENT'), 'garbage\n')
  const files = readdirSync(dataDir).filter(f => !f.startsWith('LOG')).sort()
  const contents = files.map(f => readFileSync(path.join(dataDir, f)).toString('hex'))

  const run = await runConnector([], env, cwd)
  expect(run.code).toBe(1)
  expect(run.stderr).toMatch(/cannot open the data directory/)
  const after = readdirSync(dataDir).filter(f => !f.startsWith('LOG')).sort()
  expect(after).toEqual(files)
  expect(after.map(f => readFileSync(path.join(dataDir, f)).toString('hex'))).toEqual(contents)
})

test('a second connector on the same data directory is refused while the first runs', async () => {
  const cwd = tempDir()
  const first = await startConnector({ cwd })
  const second = await runConnector([], env, cwd)
  expect(second.code).toBe(1)
  expect(second.stderr).toMatch(/in use by another process/)
  expect(await first.stop()).toBe(0)
})
