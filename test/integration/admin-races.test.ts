/** Run-time management found wanting in review: two limit changes made at once must both count. */
import pino from 'pino'
import { createConnector, validateConfig, MemoryStore } from '../../src'
import { adminClient, ADMIN_TOKEN } from '../helpers/admin'

test('two limit changes made at once both count (merged with the stored settings, not with what the actor applied so far)', async () => {
  const connector = createConnector(validateConfig({ listeners: { default: { port: 0 } } }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  try {
    await connector.createAccount({ id: 'alice', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'alice-token' } })
    await Promise.all([
      connector.updateAccountLimits('alice', { maxBalance: '100' }),
      connector.updateAccountLimits('alice', { packetsPerSecond: 5 })
    ])
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(connector.accountLimits('alice')).toEqual({ maxBalance: '100', packetsPerSecond: 5 })
    // null removes one; the other stays.
    await connector.updateAccountLimits('alice', { maxBalance: null })
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(connector.accountLimits('alice')).toEqual({ packetsPerSecond: 5 })
    await expect(connector.updateAccountLimits('alice', { minBalance: '10', maxBalance: '5' })).rejects.toThrow(/minBalance: must be <= maxBalance/)
  } finally {
    await connector.stop(200)
  }
})

test('an API key opens only a live account: removed without its keys being revoked (through the library, or a crash between the two), it opens nothing', async () => {
  const connector = createConnector(validateConfig({
    listeners: { default: { port: 0 } },
    admin: { enabled: true, token: ADMIN_TOKEN, port: 0 }
  }), { store: new MemoryStore(), logger: pino({ level: 'silent' }) })
  await connector.start()
  try {
    const admin = adminClient(connector.adminPort as number)
    expect((await admin.call('POST', '/accounts', { id: 'alice', relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 'alice-token-0123' } })).status).toBe(201)
    const key = (await admin.call('POST', '/accounts/alice/keys', {})).body.key as string
    expect((await adminClient(connector.adminPort as number, key).call('GET', '/accounts/alice/balance')).status).toBe(200)
    // Removed through the library: the admin API never revoked the key.
    await connector.removeAccount('alice')
    expect((await adminClient(connector.adminPort as number, key).call('GET', '/accounts/alice/balance')).status).toBe(401)
  } finally {
    await connector.stop(200)
  }
})
