/**
 * The config of the link types of issue #7: http (ILP-over-HTTP), plugin (a standard plugin module),
 * receiver (SPSP/STREAM), and their listeners. Every problem names its field.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { validateConfig, loadConfig, ConfigError } from '../src/config'

function problems (raw: unknown): string[] {
  try {
    validateConfig(raw)
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return (e as ConfigError).problems
  }
  throw new Error('expected a ConfigError')
}

const usd = { assetCode: 'USD', assetScale: 2 }
const withAccounts = (accounts: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
  ilpAddress: 'test.a', listeners: { default: { port: 7768 } }, accounts, ...extra
})

describe('http links', () => {
  test('incoming, outgoing, or both; the listener defaults to 127.0.0.1:7770', () => {
    const config = validateConfig(withAccounts({
      p: { relation: 'peer', ...usd, link: { type: 'http', incoming: { token: 'in' }, outgoing: { url: 'https://peer.example/ilp', token: 'out', peerName: 'us' } } },
      q: { relation: 'peer', ...usd, link: { type: 'http', outgoing: { url: 'http://127.0.0.1:9000/', token: 'out' } } }
    }))
    expect(config.http).toEqual({ host: '127.0.0.1', port: 7770 })
    expect(config.accounts.p.link).toEqual({ type: 'http', incoming: { token: 'in' }, outgoing: { url: 'https://peer.example/ilp', token: 'out', peerName: 'us' } })
  })

  test('neither incoming nor outgoing, a URL that is not http(s), a token used twice: each named, secrets not echoed', () => {
    const found = problems(withAccounts({
      p: { relation: 'peer', ...usd, link: { type: 'http' } },
      q: { relation: 'peer', ...usd, link: { type: 'http', incoming: { token: 'same-secret' }, outgoing: { url: 'ftp://secret-host/x', token: 'o' } } },
      r: { relation: 'peer', ...usd, link: { type: 'http', incoming: { token: 'same-secret' } } }
    }))
    expect(found).toContain('accounts.p.link: an http link needs incoming, outgoing, or both')
    expect(found).toContain('accounts.q.link.outgoing.url: must use the http: or https: scheme (got "ftp:")')
    expect(found).toContain('accounts.r.link.incoming.token: same token as accounts.q.link.incoming.token: incoming http tokens must be unique')
    expect(found.join('\n')).not.toContain('secret')
  })

  test('the http and spsp ports may not be a BTP listener\'s or the admin API\'s (when opened)', () => {
    const found = problems(withAccounts(
      { p: { relation: 'peer', ...usd, link: { type: 'http', incoming: { token: 'in' } } } },
      { http: { port: 7768 } }
    ))
    expect(found).toContain('http.port: port 7768 is already used by listeners.default')
    // Nor the admin API's (when it is on).
    const withAdmin = problems(withAccounts(
      { shop: { relation: 'child', ...usd, link: { type: 'receiver' } } },
      { spsp: { port: 7769 }, admin: { enabled: true, token: 'a-long-enough-admin-token', port: 7769 } }
    ))
    expect(withAdmin).toContain('spsp.port: port 7769 is already used by admin.port')
    // Not opened (no incoming): no conflict.
    expect(() => validateConfig(withAccounts(
      { p: { relation: 'peer', ...usd, link: { type: 'http', outgoing: { url: 'http://x/', token: 'o' } } } },
      { http: { port: 7768 } }
    ))).not.toThrow()
  })
})

describe('plugin links', () => {
  test('a module and its options (default {})', () => {
    const config = validateConfig(withAccounts({ m: { relation: 'child', ...usd, link: { type: 'plugin', module: 'ilp-plugin-btp' } } }))
    expect(config.accounts.m.link).toEqual({ type: 'plugin', module: 'ilp-plugin-btp', options: {} })
    expect(problems(withAccounts({ m: { relation: 'child', ...usd, link: { type: 'plugin', options: {} } } })).join('\n')).toContain('accounts.m.link.module')
  })

  test('set in the config file only: an environment variable on a plugin link is refused, naming it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-config-'))
    try {
      const file = path.join(dir, 'c.json')
      fs.writeFileSync(file, JSON.stringify(withAccounts({ m: { relation: 'child', ...usd, link: { type: 'plugin', module: 'ilp-plugin-btp' } } })))
      expect(loadConfig({ file, env: {} }).accounts.m.link).toMatchObject({ module: 'ilp-plugin-btp' })
      let error: ConfigError | undefined
      try {
        loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS__M__LINK__MODULE: './evil.js' } })
      } catch (e) {
        error = e as ConfigError
      }
      expect(error?.problems).toContain('METAMORPHOSIS_ACCOUNTS__M__LINK__MODULE: accounts.m.link is a plugin link, which is set in the config file only (environment variables cannot load code)')
      // Nor through a variable for the whole account, or the whole accounts map (found in review).
      const evil = { relation: 'child', ...usd, link: { type: 'plugin', module: '/tmp/evil.js', options: {} } }
      expect(() => loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS__EVIL: JSON.stringify(evil) } })).toThrow(/accounts\.evil\.link is a plugin link, which is set in the config file only/)
      expect(() => loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS: JSON.stringify({ evil }) } })).toThrow(/METAMORPHOSIS_ACCOUNTS: accounts\.evil\.link is a plugin link/)
      // Other fields of a plugin account may still be overridden.
      expect(loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS__M__MIN_BALANCE: '-5' } }).accounts.m.minBalance).toBe('-5')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('receiver links', () => {
  test('a child; wellKnown off by default; the SPSP listener defaults to 127.0.0.1:7772', () => {
    const config = validateConfig(withAccounts({ shop: { relation: 'child', ...usd, link: { type: 'receiver' } } }))
    expect(config.accounts.shop.link).toEqual({ type: 'receiver', wellKnown: false })
    expect(config.spsp).toEqual({ host: '127.0.0.1', port: 7772 })
  })

  test('not a child, two at /.well-known/pay, a settlement: each named', () => {
    const found = problems(withAccounts({
      a: { relation: 'peer', ...usd, link: { type: 'receiver', wellKnown: true } },
      b: { relation: 'child', ...usd, link: { type: 'receiver', wellKnown: true }, settlement: { method: { type: 'rfc0038', url: 'http://127.0.0.1:3000' } } }
    }))
    expect(found).toContain('accounts.a.relation: must be "child" for a receiver link (the receiver takes the child\'s address; got "peer")')
    expect(found).toContain('accounts.b.link.wellKnown: only one account may serve /.well-known/pay (accounts.a.link.wellKnown already does)')
    expect(found).toContain('accounts.b.settlement: a receiver account has no peer to settle with')
  })
})
