import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  ConfigError,
  ConfigSchema,
  defaultConfigFile,
  envVarName,
  loadConfig,
  validateConfig,
  type AccountConfig,
  type Config,
  type LinkConfig,
  type ListenerConfig,
  type LocalAccountsConfig,
  type LogLevel,
  type RouteConfig
} from '../src/config'

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

let tmpDir: string

beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'metamorphosis-config-'))
})

afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true })
})

let fileCounter = 0
/** Writes a config file (an object is written as JSON, a string verbatim) and returns its path. */
function writeConfig(content: unknown): string {
  const file = path.join(tmpDir, `config-${++fileCounter}.json`)
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2))
  return file
}

/** Runs `fn`, expects a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError, but nothing was thrown')
}

/** Expects validateConfig(raw) to fail with a problem line starting with "path: " (and containing `text`). */
function expectProblem(raw: unknown, fieldPath: string, text?: string | RegExp): ConfigError {
  const error = configError(() => validateConfig(raw))
  const line = error.problems.find((problem) => problem.startsWith(`${fieldPath}: `))
  if (line === undefined) {
    throw new Error(`no problem reported at ${fieldPath}; problems:\n${error.problems.join('\n')}`)
  }
  expect(error.message).toContain(`${fieldPath}: `)
  if (typeof text === 'string') expect(line).toContain(text)
  else if (text) expect(line).toMatch(text)
  return error
}

/** A small valid configuration; each call returns a fresh copy. */
function base(): Record<string, any> {
  return {
    ilpAddress: 'g.example.base',
    listeners: {
      main: { port: 7768 }
    },
    accounts: {
      alice: {
        relation: 'peer',
        assetCode: 'XRP',
        assetScale: 9,
        link: { type: 'btp-client', url: 'btp+ws://localhost:7000', token: 'alice-secret' },
        minBalance: '-1000',
        maxBalance: '5000',
        maxPacketAmount: '100'
      },
      bob: {
        relation: 'child',
        assetCode: 'XRP',
        assetScale: 9,
        link: { type: 'btp-server', listener: 'main', token: 'bob-secret' }
      }
    },
    routes: [{ prefix: 'g.alice', account: 'alice' }]
  }
}

/** The embedded default (config/default.json), written out from the spec. */
const SPEC_DEFAULTS: Config = {
  // No ilpAddress: the connector takes "test.local", or asks its parent when it has one.
  dataDir: './data',
  log: { level: 'info' },
  storage: { durability: 'strict', fastFlushIntervalMs: 100 },
  packets: { minMessageWindowMs: 1000, maxHoldTimeMs: 30000, maxInFlightPerAccount: 5000 },
  btp: {
    authTimeoutMs: 5000,
    pingIntervalMs: 30000,
    maxFrameBytes: 65536,
    maxUnauthenticated: 1000,
    reconnectMinDelayMs: 100,
    reconnectMaxDelayMs: 30000
  },
  listeners: {
    default: {
      host: '127.0.0.1',
      port: 7768,
      localAccounts: { enabled: true, maxAccounts: 1000, assetCode: 'XRP', assetScale: 9 }
    }
  },
  accounts: {},
  rates: { backend: 'static', spread: '0', rates: {} },
  routing: { broadcastIntervalMs: 30000, routeExpiryMs: 45000, requestTimeoutMs: 10000, maxRoutesPerNeighbour: 200000 },
  settlement: { host: '127.0.0.1', port: 7771, idempotencyKeyRetentionMs: 86400000, retryMinDelayMs: 100, retryMaxDelayMs: 60000, requestTimeoutMs: 10000 },
  http: { host: '127.0.0.1', port: 7770 },
  spsp: { host: '127.0.0.1', port: 7772 },
  routes: [],
  // Off in the embedded default: `npm start` needs no secret.
  admin: { enabled: false, host: '127.0.0.1', port: 7769, history: 'full', historyRetentionHours: 720 }
}

/** What a config file without listeners gives: the same, but local mode off (only the embedded default turns it on). */
const EMPTY_FILE_DEFAULTS: Config = {
  ...SPEC_DEFAULTS,
  listeners: {
    default: { host: '127.0.0.1', port: 7768, localAccounts: { enabled: false, maxAccounts: 1000, assetCode: 'XRP', assetScale: 9 } }
  }
}

const REPO_ROOT = path.resolve(__dirname, '..')

// ---------------------------------------------------------------------------------------------------
// Defaults and the shipped files
// ---------------------------------------------------------------------------------------------------

describe('defaults', () => {
  test('config/default.json loads with every default filled in', () => {
    expect(loadConfig({ env: {} })).toEqual(SPEC_DEFAULTS)
  })

  test('the default file is config/default.json at the package root', () => {
    expect(defaultConfigFile()).toBe(path.join(REPO_ROOT, 'config', 'default.json'))
  })

  test('an empty object validates to the spec defaults', () => {
    expect(validateConfig({})).toEqual(EMPTY_FILE_DEFAULTS)
  })

  test('partial sections are completed, given values are kept', () => {
    const config = validateConfig({ packets: { maxHoldTimeMs: 10000 }, btp: { maxFrameBytes: 1024 } })
    expect(config.packets).toEqual({ minMessageWindowMs: 1000, maxHoldTimeMs: 10000, maxInFlightPerAccount: 5000 })
    expect(config.btp.maxFrameBytes).toBe(1024)
    expect(config.btp.authTimeoutMs).toBe(5000)
  })

  test('given listeners replace the default listener; their own defaults are filled in', () => {
    const config = validateConfig({ listeners: { a: { port: 9000 }, b: { port: 0, localAccounts: { enabled: true } } } })
    expect(config.listeners).toEqual({
      a: {
        host: '127.0.0.1',
        port: 9000,
        localAccounts: { enabled: false, maxAccounts: 1000, assetCode: 'XRP', assetScale: 9 }
      },
      b: {
        host: '127.0.0.1',
        port: 0,
        localAccounts: { enabled: true, maxAccounts: 1000, assetCode: 'XRP', assetScale: 9 }
      }
    })
  })

  test('an empty listeners map stays empty', () => {
    expect(validateConfig({ listeners: {} }).listeners).toEqual({})
  })

  test('validateConfig does not modify its input', () => {
    const raw = base()
    delete raw.accounts.bob.link.listener
    const copy = JSON.parse(JSON.stringify(raw))
    const config = validateConfig(raw)
    expect(raw).toEqual(copy)
    expect(config.accounts.bob.link).toEqual({ type: 'btp-server', listener: 'main', token: 'bob-secret' })
  })

  test('optional amounts stay absent and are strings when given', () => {
    const config = validateConfig(base())
    expect(config.accounts.alice.maxPacketAmount).toBe('100')
    expect(config.accounts.alice.minBalance).toBe('-1000')
    expect(config.accounts.bob.maxPacketAmount).toBeUndefined()
    expect(config.accounts.bob.minBalance).toBeUndefined()
    expect(config.listeners.main.localAccounts.maxPacketAmount).toBeUndefined()
  })
})

describe('config/example.json', () => {
  test('validates', () => {
    const config = loadConfig({ file: path.join(REPO_ROOT, 'config', 'example.json'), env: {} })
    expect(config.ilpAddress).toBe('g.example.connector')
    expect(Object.keys(config.listeners).length).toBeGreaterThanOrEqual(2)
    const relations = Object.values(config.accounts).map((account) => account.relation)
    expect(relations).toEqual(expect.arrayContaining(['parent', 'peer', 'child']))
    const linkTypes = Object.entries(config.accounts).map(([, account]) => [account.relation, account.link.type])
    expect(linkTypes).toEqual(expect.arrayContaining([['peer', 'btp-client'], ['parent', 'btp-server']]))
    expect(config.routes.length).toBeGreaterThanOrEqual(1)
  })

  test('is pure data: no key is left to defaults it could not have', () => {
    const raw = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'example.json'), 'utf8'))
    expect(() => validateConfig(raw)).not.toThrow()
  })
})

// ---------------------------------------------------------------------------------------------------
// Schema checks
// ---------------------------------------------------------------------------------------------------

describe('schema checks', () => {
  test('base() is valid', () => {
    expect(() => validateConfig(base())).not.toThrow()
  })

  test('the top level must be an object', () => {
    expectProblem([], 'config', 'must be an object')
    expectProblem('x', 'config', 'must be an object')
  })

  test.each(['x.foo', 'g', 'g.', 'g..a', '.g.a', 'g.a b', 'g.a/b', 'G.a', `g.${'a'.repeat(1022)}`, 42])(
    'ilpAddress %p is rejected',
    (address) => {
      expectProblem({ ilpAddress: address }, 'ilpAddress')
    }
  )

  test.each(['g.a', 'test.local', 'test3.x', 'private.a.b-c_d~e', 'local.x', 'peer.x', 'self.x', 'example.x', `g.${'a'.repeat(1021)}`])(
    'ilpAddress %p is accepted',
    (address) => {
      expect(validateConfig({ ilpAddress: address }).ilpAddress).toBe(address)
    }
  )

  test('log.level must be a known level', () => {
    expectProblem({ log: { level: 'loud' } }, 'log.level', '"debug"')
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) {
      expect(validateConfig({ log: { level } }).log.level).toBe(level)
    }
  })

  test('dataDir must be a string', () => {
    expectProblem({ dataDir: 5 }, 'dataDir', 'must be a string')
  })

  test('admin: a token is required when enabled, at least 16 characters, never echoed', () => {
    expectProblem({ admin: { enabled: true } }, 'admin.token', 'is required when admin.enabled is true')
    expectProblem({ admin: { enabled: true, token: 'short' } }, 'admin.token', 'at least 16 characters')
    let message = ''
    try { validateConfig({ admin: { enabled: true, token: 'short' } }) } catch (e) { message = (e as Error).message }
    expect(message).not.toContain('short')
    expectProblem({ admin: { port: 9000, metricsPort: 9000 } }, 'admin.metricsPort', 'must differ from admin.port')
    expect(validateConfig({ admin: { enabled: true, token: 'x'.repeat(16) } }).admin).toEqual({ enabled: true, host: '127.0.0.1', port: 7769, token: 'x'.repeat(16), history: 'full', historyRetentionHours: 720 })
  })

  test('packets limits', () => {
    expectProblem({ packets: { minMessageWindowMs: -1 } }, 'packets.minMessageWindowMs', '>= 0')
    expect(validateConfig({ packets: { minMessageWindowMs: 0 } }).packets.minMessageWindowMs).toBe(0)
    expectProblem({ packets: { maxHoldTimeMs: 0 } }, 'packets.maxHoldTimeMs', '> 0')
    expectProblem({ packets: { maxHoldTimeMs: 1.5 } }, 'packets.maxHoldTimeMs', 'integer')
    expectProblem({ packets: { maxHoldTimeMs: '1000' } }, 'packets.maxHoldTimeMs', 'integer')
    expectProblem({ packets: { maxInFlightPerAccount: 0 } }, 'packets.maxInFlightPerAccount', '> 0')
  })

  test('btp limits', () => {
    expectProblem({ btp: { authTimeoutMs: 0 } }, 'btp.authTimeoutMs')
    expectProblem({ btp: { pingIntervalMs: -5 } }, 'btp.pingIntervalMs')
    expectProblem({ btp: { maxFrameBytes: 1023 } }, 'btp.maxFrameBytes', '>= 1024')
    expectProblem({ btp: { reconnectMinDelayMs: 0 } }, 'btp.reconnectMinDelayMs')
    expectProblem({ btp: { reconnectMaxDelayMs: 0 } }, 'btp.reconnectMaxDelayMs')
  })

  test('the admin CLI\'s variables in the same shell are not taken for config overrides (found in a trial)', () => {
    expect(() => loadConfig({ env: { METAMORPHOSIS_ADMIN_TOKEN: 'x'.repeat(20), METAMORPHOSIS_ADMIN_URL: 'http://127.0.0.1:7769' } })).not.toThrow()
  })

  test('the admin API may not take a BTP listener\'s port (found in a trial: --check passed, start failed with EADDRINUSE)', () => {
    expectProblem({ listeners: { default: { port: 17201 } }, admin: { enabled: true, token: 'x'.repeat(20), port: 17201 } }, 'admin.port', 'listeners.default')
  })

  test('a static route may not be for our own address', () => {
    const account = { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 't' } }
    expectProblem({ ilpAddress: 'g.a', accounts: { c: account }, routes: [{ prefix: 'g.a', account: 'c' }] }, 'routes[0].prefix', 'own address')
    expect(() => validateConfig({ ilpAddress: 'g.a', accounts: { c: account }, routes: [{ prefix: 'g.a.sub', account: 'c' }] })).not.toThrow()
  })

  test('routing: routeExpiryMs > broadcastIntervalMs; sendRoutes / receiveRoutes are booleans', () => {
    expectProblem({ routing: { broadcastIntervalMs: 1000, routeExpiryMs: 1000 } }, 'routing.routeExpiryMs', 'broadcastIntervalMs')
    expectProblem({ routing: { routeExpiryMs: 20000 } }, 'routing.routeExpiryMs', 'broadcastIntervalMs')
    const account = { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 't' } }
    expectProblem({ accounts: { p: { ...account, sendRoutes: 'yes' } } }, 'accounts.p.sendRoutes')
    expect(validateConfig({ accounts: { p: { ...account, receiveRoutes: false } } }).accounts.p.receiveRoutes).toBe(false)
  })

  test('reconnectMinDelayMs <= reconnectMaxDelayMs', () => {
    expectProblem({ btp: { reconnectMinDelayMs: 5000, reconnectMaxDelayMs: 1000 } }, 'btp.reconnectMinDelayMs', 'reconnectMaxDelayMs')
    expectProblem({ btp: { reconnectMinDelayMs: 40000 } }, 'btp.reconnectMinDelayMs', 'reconnectMaxDelayMs')
    expect(() => validateConfig({ btp: { reconnectMinDelayMs: 1000, reconnectMaxDelayMs: 1000 } })).not.toThrow()
  })

  test('listener port range and presence', () => {
    expectProblem({ listeners: { a: { port: 65536 } } }, 'listeners.a.port', '65535')
    expectProblem({ listeners: { a: { port: -1 } } }, 'listeners.a.port')
    expectProblem({ listeners: { a: { port: '80' } } }, 'listeners.a.port', 'integer')
    expectProblem({ listeners: { a: {} } }, 'listeners.a.port', 'required')
    expectProblem({ listeners: { a: { port: 1, host: '' } } }, 'listeners.a.host')
  })

  test('local accounts settings', () => {
    expectProblem({ listeners: { a: { port: 1, localAccounts: { enabled: 'yes' } } } }, 'listeners.a.localAccounts.enabled')
    expectProblem({ listeners: { a: { port: 1, localAccounts: { maxAccounts: 0 } } } }, 'listeners.a.localAccounts.maxAccounts')
    expectProblem({ listeners: { a: { port: 1, localAccounts: { assetScale: 256 } } } }, 'listeners.a.localAccounts.assetScale')
    expectProblem(
      { listeners: { a: { port: 1, localAccounts: { maxPacketAmount: 5 } } } },
      'listeners.a.localAccounts.maxPacketAmount'
    )
    expectProblem(
      { listeners: { a: { port: 1, localAccounts: { minBalance: '10', maxBalance: '9' } } } },
      'listeners.a.localAccounts.minBalance',
      'maxBalance'
    )
  })

  test('listener ports are unique unless 0', () => {
    const error = expectProblem(
      { listeners: { a: { port: 8000 }, b: { port: 8000, host: '0.0.0.0' } } },
      'listeners.b.port',
      'listeners.a'
    )
    expect(error.problems).toHaveLength(1)
    expect(() => validateConfig({ listeners: { a: { port: 0 }, b: { port: 0 } } })).not.toThrow()
  })

  test('listener names and account ids use only [a-zA-Z0-9_~-]', () => {
    expectProblem({ listeners: { 'bad name': { port: 1 } } }, 'listeners["bad name"]', 'listener name')
    expectProblem({ listeners: { 'a.b': { port: 1 } } }, 'listeners["a.b"]')
    expectProblem({ listeners: { '': { port: 1 } } }, 'listeners[""]')
    const raw = base()
    raw.accounts['carol.x'] = raw.accounts.alice
    raw.accounts['carol.x'].link = { type: 'btp-client', url: 'btp+ws://h:1', token: 't2' }
    expectProblem(raw, 'accounts["carol.x"]', 'account id')
    const ok = base()
    ok.accounts['A-z_0~9'] = { ...ok.accounts.bob, link: { type: 'btp-server', listener: 'main', token: 'other' } }
    expect(() => validateConfig(ok)).not.toThrow()
  })

  test('account fields are required and typed', () => {
    const raw = base()
    delete raw.accounts.alice.relation
    raw.accounts.alice.assetCode = ''
    raw.accounts.alice.assetScale = 256
    raw.accounts.bob.relation = 'friend'
    const error = configError(() => validateConfig(raw))
    expect(error.message).toMatch(/^accounts\.alice\.relation: .*required/m)
    expect(error.message).toMatch(/^accounts\.alice\.assetCode: /m)
    expect(error.message).toMatch(/^accounts\.alice\.assetScale: .*255/m)
    expect(error.message).toMatch(/^accounts\.bob\.relation: .*"parent"/m)
    expect(error.problems).toHaveLength(4)
    expect(error.message.split('\n')).toEqual(error.problems)
  })

  test('assetCode is 1..16 characters', () => {
    const raw = base()
    raw.accounts.alice.assetCode = 'X'.repeat(17)
    expectProblem(raw, 'accounts.alice.assetCode', '16')
    raw.accounts.alice.assetCode = 'X'.repeat(16)
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test('an empty btp-server token is reported with its path', () => {
    const raw = base()
    raw.accounts.bob.link.token = ''
    const error = expectProblem(raw, 'accounts.bob.link.token')
    expect(error.message).toContain('accounts.bob.link.token: must be a non-empty string')
  })

  test('link type must be one of the five forms', () => {
    const raw = base()
    raw.accounts.bob.link = { type: 'carrier-pigeon', token: 'x' }
    expectProblem(raw, 'accounts.bob.link.type', '"btp-server"')
    expectProblem(raw, 'accounts.bob.link.type', '"plugin"')
    raw.accounts.bob.link = { token: 'x' }
    expectProblem(raw, 'accounts.bob.link.type', 'required')
    raw.accounts.bob.link = 'btp+ws://x'
    expectProblem(raw, 'accounts.bob.link', 'object')
  })

  test('unknown fields are errors, anywhere', () => {
    expectProblem({ foo: 1 }, 'foo', 'unknown field')
    expectProblem({ packets: { maxHoldTime: 5 } }, 'packets.maxHoldTime', 'unknown field')
    expectProblem({ log: { level: 'info', pretty: true } }, 'log.pretty', 'unknown field')
    expectProblem({ listeners: { a: { port: 1, tls: true } } }, 'listeners.a.tls', 'unknown field')
    expectProblem({ listeners: { a: { port: 1, localAccounts: { enable: true } } } }, 'listeners.a.localAccounts.enable', 'unknown field')
    const raw = base()
    raw.accounts.bob.link.url = 'btp+ws://x:1'
    expectProblem(raw, 'accounts.bob.link.url', 'unknown field')
    const raw2 = base()
    raw2.accounts.alice.max_packet_amount = '5'
    expectProblem(raw2, 'accounts.alice.max_packet_amount', 'unknown field')
    const raw3 = base()
    raw3.routes[0].weight = 1
    expectProblem(raw3, 'routes[0].weight', 'unknown field')
    expectProblem({ $comment: 'hello' }, 'config["$comment"]', 'unknown field')
  })

  test('every problem is reported at once', () => {
    const error = configError(() =>
      validateConfig({ ilpAddress: 'nope', log: { level: 'loud' }, packets: { maxHoldTimeMs: 0 }, extra: true })
    )
    expect(error.problems).toHaveLength(4)
    for (const fieldPath of ['ilpAddress', 'log.level', 'packets.maxHoldTimeMs', 'extra']) {
      expect(error.message).toContain(`${fieldPath}: `)
    }
  })
})

// ---------------------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------------------

describe('links', () => {
  test('btp-server listener must exist', () => {
    const raw = base()
    raw.accounts.bob.link.listener = 'nope'
    expectProblem(raw, 'accounts.bob.link.listener', '"nope"')
  })

  test('btp-server listener defaults to the only listener', () => {
    const raw = base()
    delete raw.accounts.bob.link.listener
    const link = validateConfig(raw).accounts.bob.link
    expect(link).toEqual({ type: 'btp-server', listener: 'main', token: 'bob-secret' })
  })

  test('btp-server listener defaults to the default listener when listeners are not configured', () => {
    const config = validateConfig({
      accounts: { bob: { relation: 'child', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', token: 't' } } }
    })
    expect(config.accounts.bob.link).toEqual({ type: 'btp-server', listener: 'default', token: 't' })
  })

  test('btp-server listener is required when there are several listeners', () => {
    const raw = base()
    raw.listeners.second = { port: 7769 }
    delete raw.accounts.bob.link.listener
    expectProblem(raw, 'accounts.bob.link.listener', 'several listeners')
  })

  test('btp-server listener is required when there are no listeners', () => {
    const raw = base()
    raw.listeners = {}
    delete raw.accounts.bob.link.listener
    expectProblem(raw, 'accounts.bob.link.listener', 'no listeners')
  })

  test('btp-server tokens are unique; the message names both accounts, not the token', () => {
    const raw = base()
    raw.accounts.carol = {
      relation: 'child',
      assetCode: 'XRP',
      assetScale: 9,
      link: { type: 'btp-server', listener: 'main', token: 'bob-secret' }
    }
    const error = expectProblem(raw, 'accounts.carol.link.token', 'accounts.bob')
    expect(error.message).not.toContain('bob-secret')
    expect(error.problems).toHaveLength(1)
  })

  test('btp-client url must parse', () => {
    const raw = base()
    raw.accounts.alice.link.url = 'not a url'
    expectProblem(raw, 'accounts.alice.link.url', 'valid URL')
  })

  test('btp-client url must use btp+ws: or btp+wss:', () => {
    const raw = base()
    raw.accounts.alice.link.url = 'wss://example.com'
    expectProblem(raw, 'accounts.alice.link.url', 'btp+ws')
    raw.accounts.alice.link.url = 'https://example.com'
    expectProblem(raw, 'accounts.alice.link.url', 'btp+ws')
    raw.accounts.alice.link.url = 'btp+wss://example.com:443/path'
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test('btp-client url must be a non-empty string', () => {
    const raw = base()
    raw.accounts.alice.link.url = ''
    expectProblem(raw, 'accounts.alice.link.url')
    delete raw.accounts.alice.link.url
    expectProblem(raw, 'accounts.alice.link.url', 'required')
  })

  test('btp-client needs a token, in token or in the url', () => {
    const raw = base()
    delete raw.accounts.alice.link.token
    expectProblem(raw, 'accounts.alice.link.token', 'required')
    raw.accounts.alice.link.url = 'btp+ws://:url-secret@localhost:7000'
    expect(validateConfig(raw).accounts.alice.link).toEqual({
      type: 'btp-client',
      url: 'btp+ws://:url-secret@localhost:7000',
      token: 'url-secret'
    })
  })

  test('a btp-client token given in both places must agree', () => {
    const raw = base()
    raw.accounts.alice.link.url = 'btp+ws://:url-secret@localhost:7000'
    expectProblem(raw, 'accounts.alice.link.token', 'url')
    raw.accounts.alice.link.token = 'url-secret'
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test('url credentials are never echoed', () => {
    const raw = base()
    raw.accounts.alice.link.url = 'ftp://:hunter2@example.com'
    const error = expectProblem(raw, 'accounts.alice.link.url')
    expect(error.message).not.toContain('hunter2')
  })
})

// ---------------------------------------------------------------------------------------------------
// Routes and amounts
// ---------------------------------------------------------------------------------------------------

describe('routes', () => {
  test('route account must exist', () => {
    const raw = base()
    raw.routes.push({ prefix: 'g.carol', account: 'carol' })
    expectProblem(raw, 'routes[1].account', '"carol"')
  })

  test.each(['x.y', 'g.', '', 'g..a', 'g.a b', 'G'])('route prefix %p is rejected', (prefix) => {
    const raw = base()
    raw.routes[0].prefix = prefix
    expectProblem(raw, 'routes[0].prefix')
  })

  test.each(['g', 'test', 'g.alice', 'private.a.b'])('route prefix %p is accepted', (prefix) => {
    const raw = base()
    raw.routes[0].prefix = prefix
    expect(validateConfig(raw).routes[0]).toEqual({ prefix, account: 'alice' })
  })

  test('routes must be an array of {prefix, account}', () => {
    expectProblem({ routes: {} }, 'routes', 'array')
    const raw = base()
    raw.routes = [{ prefix: 'g.x' }]
    expectProblem(raw, 'routes[0].account', 'required')
  })
})

describe('amounts', () => {
  test.each([100, '1.5', 'abc', '-1', '+1', '01', ' 1', '1e3', ''])('maxPacketAmount %p is rejected', (amount) => {
    const raw = base()
    raw.accounts.alice.maxPacketAmount = amount
    expectProblem(raw, 'accounts.alice.maxPacketAmount')
  })

  test('maxPacketAmount is within uint64', () => {
    const raw = base()
    raw.accounts.alice.maxPacketAmount = '18446744073709551616'
    expectProblem(raw, 'accounts.alice.maxPacketAmount', '18446744073709551615')
    raw.accounts.alice.maxPacketAmount = '18446744073709551615'
    expect(validateConfig(raw).accounts.alice.maxPacketAmount).toBe('18446744073709551615')
    raw.accounts.alice.maxPacketAmount = '0'
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test.each([-1000, '1.0', 'x', '--1', '-0', '- 1'])('minBalance %p is rejected', (amount) => {
    const raw = base()
    raw.accounts.alice.minBalance = amount
    expectProblem(raw, 'accounts.alice.minBalance')
  })

  test('balances are signed integer strings of any size', () => {
    const raw = base()
    raw.accounts.alice.minBalance = '-99999999999999999999999'
    raw.accounts.alice.maxBalance = '99999999999999999999999'
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test('minBalance <= maxBalance, compared as integers', () => {
    const raw = base()
    raw.accounts.alice.minBalance = '10'
    raw.accounts.alice.maxBalance = '9'
    expectProblem(raw, 'accounts.alice.minBalance', 'maxBalance')
    // As strings "9" > "10"; as integers 9 < 10.
    raw.accounts.alice.minBalance = '9'
    raw.accounts.alice.maxBalance = '10'
    expect(() => validateConfig(raw)).not.toThrow()
    raw.accounts.alice.minBalance = '-18446744073709551617'
    raw.accounts.alice.maxBalance = '-18446744073709551616'
    expect(() => validateConfig(raw)).not.toThrow()
    raw.accounts.alice.minBalance = '5'
    raw.accounts.alice.maxBalance = '5'
    expect(() => validateConfig(raw)).not.toThrow()
  })

  test('one balance alone is fine', () => {
    const raw = base()
    delete raw.accounts.alice.maxBalance
    expect(validateConfig(raw).accounts.alice.maxBalance).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------

describe('files', () => {
  test('opts.file is read', () => {
    const file = writeConfig(base())
    expect(loadConfig({ file, env: {} }).ilpAddress).toBe('g.example.base')
  })

  test('METAMORPHOSIS_CONFIG names the file when opts.file is not given', () => {
    const file = writeConfig({ ilpAddress: 'g.from-env-file' })
    expect(loadConfig({ env: { METAMORPHOSIS_CONFIG: file } }).ilpAddress).toBe('g.from-env-file')
  })

  test('opts.file wins over METAMORPHOSIS_CONFIG', () => {
    const file = writeConfig({ ilpAddress: 'g.option' })
    const other = writeConfig({ ilpAddress: 'g.variable' })
    expect(loadConfig({ file, env: { METAMORPHOSIS_CONFIG: other } }).ilpAddress).toBe('g.option')
  })

  test('a missing file is a ConfigError naming the file', () => {
    const file = path.join(tmpDir, 'does-not-exist.json')
    const error = configError(() => loadConfig({ file, env: {} }))
    expect(error.message).toContain(file)
    expect(error.message).toMatch(/not found/)
    expect(error.problems).toHaveLength(1)
  })

  test('a missing file named by METAMORPHOSIS_CONFIG says so', () => {
    const file = path.join(tmpDir, 'nope.json')
    const error = configError(() => loadConfig({ env: { METAMORPHOSIS_CONFIG: file } }))
    expect(error.message).toContain(file)
    expect(error.message).toContain('METAMORPHOSIS_CONFIG')
  })

  test('invalid JSON is a ConfigError naming the file and the position', () => {
    const file = writeConfig('{\n  "ilpAddress": "g.a",\n  "log": { "level": "info", }\n}\n')
    const error = configError(() => loadConfig({ file, env: {} }))
    expect(error.message).toContain(file)
    expect(error.message).toMatch(/invalid JSON/)
    expect(error.message).toMatch(/line 3, column \d+/)
  })

  test('an empty file is invalid JSON', () => {
    const file = writeConfig('')
    const error = configError(() => loadConfig({ file, env: {} }))
    expect(error.message).toContain(file)
    expect(error.message).toMatch(/invalid JSON/)
  })

  test('a directory is not a config file', () => {
    const error = configError(() => loadConfig({ file: tmpDir, env: {} }))
    expect(error.message).toContain(tmpDir)
  })

  test('a JSON file that is not an object', () => {
    const file = writeConfig('[1, 2]')
    expect(configError(() => loadConfig({ file, env: {} })).message).toMatch(/^config: must be an object/)
  })

  test('validation problems of a file are reported with their paths', () => {
    const raw = base()
    raw.accounts.bob.link.token = ''
    const file = writeConfig(raw)
    const error = configError(() => loadConfig({ file, env: {} }))
    expect(error.message).toContain('accounts.bob.link.token: must be a non-empty string')
  })
})

// ---------------------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------------------

describe('environment overrides', () => {
  test('a number', () => {
    const config = loadConfig({ env: { METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS: '10000' } })
    expect(config.packets).toEqual({ minMessageWindowMs: 1000, maxHoldTimeMs: 10000, maxInFlightPerAccount: 5000 })
  })

  test('strings', () => {
    const config = loadConfig({ env: { METAMORPHOSIS_ILP_ADDRESS: 'g.foo', METAMORPHOSIS_LOG__LEVEL: 'debug', METAMORPHOSIS_DATA_DIR: '/tmp/x' } })
    expect(config.ilpAddress).toBe('g.foo')
    expect(config.log.level).toBe('debug')
    expect(config.dataDir).toBe('/tmp/x')
  })

  test('a boolean', () => {
    const config = loadConfig({ env: { METAMORPHOSIS_LISTENERS__DEFAULT__LOCAL_ACCOUNTS__ENABLED: 'false' } })
    expect(config.listeners.default.localAccounts.enabled).toBe(false)
  })

  test('the default listener port', () => {
    const config = loadConfig({ env: { METAMORPHOSIS_LISTENERS__DEFAULT__PORT: '8000' } })
    expect(config.listeners).toEqual({
      default: {
        host: '127.0.0.1',
        port: 8000,
        localAccounts: { enabled: true, maxAccounts: 1000, assetCode: 'XRP', assetScale: 9 }
      }
    })
  })

  test('overrides apply on top of the file', () => {
    const file = writeConfig(base())
    const config = loadConfig({
      file,
      env: { METAMORPHOSIS_ACCOUNTS__BOB__LINK__TOKEN: 'secret', METAMORPHOSIS_LISTENERS__MAIN__PORT: '9000' }
    })
    expect(config.accounts.bob.link).toEqual({ type: 'btp-server', listener: 'main', token: 'secret' })
    expect(config.listeners.main.port).toBe(9000)
    expect(config.ilpAddress).toBe('g.example.base')
    expect(Object.keys(config.listeners)).toEqual(['main'])
  })

  test('record keys match existing keys case-insensitively', () => {
    const raw = base()
    raw.listeners = { Main: { port: 7768 } }
    raw.accounts.bob.link.listener = 'Main'
    raw.accounts.aliceEU = raw.accounts.alice
    delete raw.accounts.alice
    raw.routes = []
    const file = writeConfig(raw)
    const config = loadConfig({
      file,
      env: { METAMORPHOSIS_LISTENERS__MAIN__PORT: '8000', METAMORPHOSIS_ACCOUNTS__ALICEEU__MAX_PACKET_AMOUNT: '5' }
    })
    expect(Object.keys(config.listeners)).toEqual(['Main'])
    expect(config.listeners.Main.port).toBe(8000)
    expect(Object.keys(config.accounts).sort()).toEqual(['aliceEU', 'bob'])
    expect(config.accounts.aliceEU.maxPacketAmount).toBe('5')
  })

  test('a new record key is lowercased; an account can be built from variables', () => {
    const config = loadConfig({
      env: {
        METAMORPHOSIS_ACCOUNTS__CAROL__RELATION: 'child',
        METAMORPHOSIS_ACCOUNTS__CAROL__ASSET_CODE: 'USD',
        METAMORPHOSIS_ACCOUNTS__CAROL__ASSET_SCALE: '2',
        METAMORPHOSIS_ACCOUNTS__CAROL__LINK__TYPE: 'btp-server',
        METAMORPHOSIS_ACCOUNTS__CAROL__LINK__TOKEN: 'carol-secret',
        METAMORPHOSIS_ACCOUNTS__CAROL__MIN_BALANCE: '-500'
      }
    })
    expect(config.accounts).toEqual({
      carol: {
        relation: 'child',
        assetCode: 'USD',
        assetScale: 2,
        link: { type: 'btp-server', listener: 'default', token: 'carol-secret' },
        minBalance: '-500'
      }
    })
  })

  test('amounts stay strings', () => {
    const file = writeConfig(base())
    const config = loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS__BOB__MAX_PACKET_AMOUNT: '18446744073709551615' } })
    expect(config.accounts.bob.maxPacketAmount).toBe('18446744073709551615')
  })

  test('objects and arrays are JSON; array items by index', () => {
    const file = writeConfig(base())
    const config = loadConfig({
      file,
      env: {
        METAMORPHOSIS_ROUTES: '[{"prefix":"g.bob","account":"bob"}]',
        METAMORPHOSIS_ROUTES__1__PREFIX: 'g.alice',
        METAMORPHOSIS_ROUTES__1__ACCOUNT: 'alice',
        METAMORPHOSIS_PACKETS: '{"maxHoldTimeMs": 2000}',
        METAMORPHOSIS_PACKETS__MIN_MESSAGE_WINDOW_MS: '500'
      }
    })
    expect(config.routes).toEqual([
      { prefix: 'g.bob', account: 'bob' },
      { prefix: 'g.alice', account: 'alice' }
    ])
    expect(config.packets).toEqual({ minMessageWindowMs: 500, maxHoldTimeMs: 2000, maxInFlightPerAccount: 5000 })
  })

  test('an unknown variable is a ConfigError naming the variable', () => {
    let error = configError(() => loadConfig({ env: { METAMORPHOSIS_NOPE: '1' } }))
    expect(error.message).toContain('METAMORPHOSIS_NOPE')
    error = configError(() => loadConfig({ env: { METAMORPHOSIS_PACKETS__MAX_HOLD_TIME: '1' } }))
    expect(error.message).toContain('METAMORPHOSIS_PACKETS__MAX_HOLD_TIME')
    error = configError(() => loadConfig({ env: { METAMORPHOSIS_LISTENERS__DEFAULT__TLS: 'true' } }))
    expect(error.message).toContain('METAMORPHOSIS_LISTENERS__DEFAULT__TLS')
    error = configError(() => loadConfig({ env: { METAMORPHOSIS_LOG__LEVEL__X: 'a' } }))
    expect(error.message).toContain('METAMORPHOSIS_LOG__LEVEL__X')
    error = configError(() => loadConfig({ env: { METAMORPHOSIS_LOG_LEVEL: 'debug' } }))
    expect(error.message).toContain('METAMORPHOSIS_LOG_LEVEL')
  })

  test('all unknown variables and file problems are reported together', () => {
    const error = configError(() =>
      loadConfig({ env: { METAMORPHOSIS_NOPE: '1', METAMORPHOSIS_ALSO_NOPE: '2', METAMORPHOSIS_ILP_ADDRESS: 'bad' } })
    )
    expect(error.problems).toHaveLength(3)
  })

  test('a value that is not JSON where a number is expected names the variable', () => {
    const error = configError(() => loadConfig({ env: { METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS: '10s' } }))
    expect(error.message).toContain('METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS')
    expect(error.message).toContain('packets.maxHoldTimeMs')
  })

  test('an invalid value names the variable as well as the path', () => {
    let error = configError(() => loadConfig({ env: { METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS: '0' } }))
    expect(error.problems).toHaveLength(1)
    expect(error.problems[0]).toMatch(/^packets\.maxHoldTimeMs: .*METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS/)
    error = configError(() => loadConfig({ env: { METAMORPHOSIS_ILP_ADDRESS: 'nope' } }))
    expect(error.problems[0]).toMatch(/^ilpAddress: .*METAMORPHOSIS_ILP_ADDRESS/)
    const file = writeConfig(base())
    error = configError(() => loadConfig({ file, env: { METAMORPHOSIS_ACCOUNTS__BOB__LINK__TOKEN: '' } }))
    expect(error.problems[0]).toMatch(/^accounts\.bob\.link\.token: .*METAMORPHOSIS_ACCOUNTS__BOB__LINK__TOKEN/)
  })

  test('problems not caused by a variable do not name one', () => {
    const raw = base()
    raw.accounts.alice.assetScale = -1
    const file = writeConfig(raw)
    const error = configError(() => loadConfig({ file, env: { METAMORPHOSIS_LOG__LEVEL: 'debug' } }))
    expect(error.problems).toHaveLength(1)
    expect(error.message).not.toContain('METAMORPHOSIS_')
  })

  test('METAMORPHOSIS_CONFIG is not an override', () => {
    const file = writeConfig({})
    expect(loadConfig({ env: { METAMORPHOSIS_CONFIG: file } })).toEqual(EMPTY_FILE_DEFAULTS)
  })

  test('variables without the prefix, and undefined values, are ignored', () => {
    expect(loadConfig({ env: { LOG__LEVEL: 'debug', METAMORPHOSIS_LOG__LEVEL: undefined, HOME: '/root' } })).toEqual(SPEC_DEFAULTS)
  })
})

// ---------------------------------------------------------------------------------------------------
// Types and docs
// ---------------------------------------------------------------------------------------------------

describe('types and docs', () => {
  test('loaded types have defaulted fields required (compile-time check)', () => {
    const config = validateConfig(base())
    const hold: number = config.packets.maxHoldTimeMs
    const listener: ListenerConfig = config.listeners.main
    const local: LocalAccountsConfig = listener.localAccounts
    const enabled: boolean = local.enabled
    const account: AccountConfig = config.accounts.bob
    const link: LinkConfig = account.link
    const route: RouteConfig = config.routes[0]
    let linkTarget: string
    if (link.type === 'btp-server') linkTarget = link.listener + link.token
    else if (link.type === 'btp-client') linkTarget = link.url + link.token
    else linkTarget = link.type
    const amount: string | undefined = account.maxPacketAmount
    expect([hold, enabled, linkTarget, amount, route.account]).toEqual([30000, false, 'mainbob-secret', undefined, 'alice'])
    // Literal unions stay literal unions.
    const level: LogLevel = config.log.level
    const relation: 'parent' | 'peer' | 'child' = account.relation
    // @ts-expect-error a level outside the union is not assignable
    const bad: Config['log']['level'] = 'loud'
    expect([level, relation, bad]).toEqual(['info', 'child', 'loud'])
  })

  test('envVarName gives the override variable of a path', () => {
    expect(envVarName(['packets', 'maxHoldTimeMs'])).toBe('METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS')
    expect(envVarName(['ilpAddress'])).toBe('METAMORPHOSIS_ILP_ADDRESS')
    expect(envVarName(['listeners', 'default', 'localAccounts', 'enabled'])).toBe(
      'METAMORPHOSIS_LISTENERS__DEFAULT__LOCAL_ACCOUNTS__ENABLED'
    )
  })

  test('every schema property has a description', () => {
    const missing: string[] = []
    const visit = (schema: any, at: string): void => {
      if (schema.properties) {
        for (const [key, property] of Object.entries<any>(schema.properties)) {
          if (!property.description) missing.push(`${at}.${key}`)
          visit(property, `${at}.${key}`)
        }
      }
      if (schema.patternProperties) for (const entry of Object.values(schema.patternProperties)) visit(entry, `${at}.*`)
      if (schema.items) visit(schema.items, `${at}[]`)
      if (schema.anyOf) for (const variant of schema.anyOf) visit(variant, at)
    }
    visit(ConfigSchema, 'config')
    expect(missing).toEqual([])
  })

  test('docs/configuration.md is generated from the schema and up to date', () => {
    const { renderConfigDocs, DOCS_FILE } = require('../scripts/config-docs.js') as {
      renderConfigDocs: (schema: unknown) => string
      DOCS_FILE: string
    }
    const current = fs.readFileSync(DOCS_FILE, 'utf8')
    expect(current).toBe(renderConfigDocs(ConfigSchema))
  })
})

describe('containers of the wrong kind', () => {
  // Value.Default would merge these into the default ({} or []) if they were not caught first.
  test.each([
    [{ log: [] }, 'log', 'object'],
    [{ packets: ['x'] }, 'packets', 'object'],
    [{ accounts: [] }, 'accounts', 'object'],
    [{ listeners: [] }, 'listeners', 'object'],
    [{ listeners: { a: [] } }, 'listeners.a', 'object'],
    [{ listeners: { a: { port: 1, localAccounts: [] } } }, 'listeners.a.localAccounts', 'object'],
    [{ routes: {} }, 'routes', 'array'],
    [{ routes: { 0: { prefix: 'g', account: 'x' } } }, 'routes', 'array'],
    [{ routes: [[]] }, 'routes[0]', 'object']
  ])('%j is reported at %s', (raw, fieldPath, what) => {
    const error = expectProblem(raw, fieldPath, `must be an ${what}`)
    expect(error.problems).toHaveLength(1)
  })
})

describe('odd keys', () => {
  test('a "__proto__" key is an unknown field, not a prototype', () => {
    const raw = JSON.parse('{"__proto__": {"ilpAddress": "g.evil"}, "packets": {"__proto__": {"x": 1}}}')
    const error = configError(() => validateConfig(raw))
    expect(error.message).toMatch(/^__proto__: unknown field/m)
    expect(error.message).toMatch(/^packets\.__proto__: unknown field/m)
  })

  test('inherited object members are not taken for entries', () => {
    const raw = base()
    raw.routes.push({ prefix: 'g.x', account: 'constructor' })
    expectProblem(raw, 'routes[1].account', '"constructor"')
    raw.routes.pop()
    raw.accounts.bob.link.listener = 'toString'
    expectProblem(raw, 'accounts.bob.link.listener', '"toString"')
  })

  test('an entry created by a variable says so', () => {
    const error = configError(() => loadConfig({ env: { METAMORPHOSIS_ACCOUNTS__DAVE__ASSET_CODE: 'USD' } }))
    expect(error.message).toMatch(/^accounts\.dave\.relation: .*created by METAMORPHOSIS_ACCOUNTS__DAVE__ASSET_CODE/m)
  })
})

// ---------------------------------------------------------------------------------------------------
// Exchange rates
// ---------------------------------------------------------------------------------------------------

describe('rates', () => {
  const withRates = (rates: unknown): Record<string, any> => ({ ...base(), rates })

  test('absent: static with no rates and spread "0"', () => {
    expect(validateConfig(base()).rates).toEqual({ backend: 'static', spread: '0', rates: {} })
  })

  test('static rates and a spread are kept as strings; http gets its defaults', () => {
    expect(validateConfig(withRates({ backend: 'static', spread: '0.01', rates: { USD: '1', EUR: '0.9', XRP: '1e-7' } })).rates)
      .toEqual({ backend: 'static', spread: '0.01', rates: { USD: '1', EUR: '0.9', XRP: '1e-7' } })
    expect(validateConfig(withRates({ backend: 'http', url: 'https://rates.example/latest', format: 'base-rates' })).rates)
      .toEqual({ backend: 'http', url: 'https://rates.example/latest', format: 'base-rates', spread: '0', refreshIntervalMs: 60000, maxAgeMs: 300000 })
  })

  test('bad rate strings are errors naming the asset', () => {
    expectProblem(withRates({ backend: 'static', rates: { EUR: 0.9 } }), 'rates.rates.EUR', 'rates are strings, not numbers')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '-0.9' } }), 'rates.rates.EUR', 'must be a decimal string > 0')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '.9' } }), 'rates.rates.EUR', 'must be a decimal string > 0')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '0.9 ' } }), 'rates.rates.EUR', 'must be a decimal string > 0')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '0' } }), 'rates.rates.EUR', 'must be > 0 (got "0")')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '0.000' } }), 'rates.rates.EUR', 'must be > 0')
    expectProblem(withRates({ backend: 'static', rates: { EUR: '1e999' } }), 'rates.rates.EUR', 'exponent out of range')
  })

  test('spread must be a decimal string >= 0 and < 1', () => {
    expectProblem(withRates({ backend: 'static', spread: '1' }), 'rates.spread', 'must be < 1 (got "1")')
    expectProblem(withRates({ backend: 'static', spread: '1.5' }), 'rates.spread', 'must be < 1')
    expectProblem(withRates({ backend: 'static', spread: '-0.1' }), 'rates.spread', 'must be a decimal string >= 0 and < 1')
    expectProblem(withRates({ backend: 'http', url: 'http://x.example', format: 'usd-prices', spread: 0.01 }), 'rates.spread', 'not numbers')
    expect(validateConfig(withRates({ backend: 'static', spread: '0.999' })).rates.spread).toBe('0.999')
  })

  test('unknown backend, missing url, bad url, missing format, bad intervals', () => {
    expectProblem(withRates({ backend: 'coinbase' }), 'rates.backend', 'must be one of "static", "http" (got "coinbase")')
    expectProblem(withRates({ rates: { USD: '1' } }), 'rates.backend', 'is required (one of "static", "http")')
    expectProblem(withRates({ backend: 'http', format: 'base-rates' }), 'rates.url', 'is required with backend "http"')
    expectProblem(withRates({ backend: 'http', url: 'ftp://x.example/r', format: 'base-rates' }), 'rates.url', 'must use the http: or https: scheme')
    expectProblem(withRates({ backend: 'http', url: 'not a url', format: 'base-rates' }), 'rates.url', 'must be a valid URL')
    expectProblem(withRates({ backend: 'http', url: 'http://x.example' }), 'rates.format', 'is required')
    expectProblem(withRates({ backend: 'http', url: 'http://x.example', format: 'json' }), 'rates.format', 'must be one of "base-rates", "usd-prices"')
    expectProblem(withRates({ backend: 'http', url: 'http://x.example', format: 'base-rates', refreshIntervalMs: 60000, maxAgeMs: 1000 }), 'rates.maxAgeMs', 'must be >= rates.refreshIntervalMs')
    expectProblem(withRates({ backend: 'static', url: 'http://x.example' }), 'rates.url', 'unknown field')
  })

  test('env overrides reach the rates section by its backend', () => {
    const file = writeConfig(withRates({ backend: 'http', url: 'http://x.example', format: 'usd-prices' }))
    const config = loadConfig({ file, env: { METAMORPHOSIS_RATES__SPREAD: '0.02', METAMORPHOSIS_RATES__MAX_AGE_MS: '120000' } })
    expect(config.rates).toMatchObject({ backend: 'http', spread: '0.02', maxAgeMs: 120000 })
  })
})

describe('settlement', () => {
  const withSettlement = (settlement: unknown, extra: Record<string, unknown> = {}): Record<string, any> => {
    const raw = base()
    raw.accounts.bob = { relation: 'peer', assetCode: 'XRP', assetScale: 9, link: { type: 'btp-server', listener: 'main', token: 'bob-s' }, settlement, ...extra }
    return raw
  }
  const engine = { type: 'rfc0038', url: 'http://127.0.0.1:3000' }

  test('defaults: settleTo "0", creditIncoming false, the listener on loopback, keys kept a day', () => {
    const config = validateConfig(withSettlement({ threshold: '-1000', method: { type: 'btp-transfer' } }))
    expect(config.accounts.bob.settlement).toStrictEqual({ threshold: '-1000', settleTo: '0', method: { type: 'btp-transfer', creditIncoming: false } })
    expect(config.settlement).toStrictEqual({ host: '127.0.0.1', port: 7771, idempotencyKeyRetentionMs: 86400000, retryMinDelayMs: 100, retryMaxDelayMs: 60000, requestTimeoutMs: 10000 })
    // Nested defaults of accounts are applied (they were not, before accounts had a default).
    expect(validateConfig({ accounts: { a: { relation: 'peer', assetCode: 'X', assetScale: 0, link: { type: 'btp-server', token: 't' }, throughputLimit: { amount: '5' } } } })
      .accounts.a.throughputLimit).toStrictEqual({ amount: '5', periodMs: 1000 })
  })

  test('settleTo must be above the threshold; the threshold reachable above minBalance; settleTo within maxBalance', () => {
    expectProblem(withSettlement({ threshold: '-1000', settleTo: '-1000', method: engine }), 'accounts.bob.settlement.settleTo', 'greater than settlement.threshold')
    expectProblem(withSettlement({ threshold: '-1000', settleTo: '-2000', method: engine }), 'accounts.bob.settlement.settleTo', 'greater than settlement.threshold')
    expectProblem(withSettlement({ threshold: '-1000', method: engine }, { minBalance: '-500' }), 'accounts.bob.settlement.threshold', '>= minBalance')
    expectProblem(withSettlement({ threshold: '-1000', settleTo: '100', method: engine }, { maxBalance: '50' }), 'accounts.bob.settlement.settleTo', '<= maxBalance')
    expect(() => validateConfig(withSettlement({ threshold: '-1000', settleTo: '-100', method: engine }, { minBalance: '-1000', maxBalance: '0' }))).not.toThrow()
  })

  test('amounts are integer strings, the method is one of the two forms, the engine URL http(s)', () => {
    expectProblem(withSettlement({ threshold: -1000, method: engine }), 'accounts.bob.settlement.threshold', 'integer string')
    expectProblem(withSettlement({ threshold: '-1000', method: { type: 'lightning' } }), 'accounts.bob.settlement.method.type')
    expectProblem(withSettlement({ method: { type: 'rfc0038' } }), 'accounts.bob.settlement.method.url')
    expectProblem(withSettlement({ method: { type: 'rfc0038', url: 'ftp://x' } }), 'accounts.bob.settlement.method.url', 'http: or https:')
    expectProblem(withSettlement({ method: { type: 'btp-transfer', creditIncoming: 'yes' } }), 'accounts.bob.settlement.method.creditIncoming')
    expectProblem(withSettlement({ threshold: '-1' }), 'accounts.bob.settlement.method')
  })

  test('the settlement section: retention at least a day, retries bounded by an hour, ports distinct', () => {
    expectProblem({ settlement: { idempotencyKeyRetentionMs: 3600000 } }, 'settlement.idempotencyKeyRetentionMs', '86400000')
    expectProblem({ settlement: { retryMaxDelayMs: 3600001 } }, 'settlement.retryMaxDelayMs')
    expectProblem({ settlement: { retryMinDelayMs: 500, retryMaxDelayMs: 200 } }, 'settlement.retryMinDelayMs', 'retryMaxDelayMs')
    const clash = withSettlement({ method: engine })
    clash.settlement = { port: 7768 }
    expectProblem(clash, 'settlement.port', 'listeners.main')
    // Without an engine the settlement listener is never opened, so its port clashes with nothing.
    expect(() => validateConfig({ listeners: { main: { port: 7771 } } })).not.toThrow()
  })
})
