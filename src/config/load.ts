/**
 * Loading and validating the configuration.
 *
 * Pipeline (loadConfig): read the JSON file -> fill absent whole-map defaults (`listeners`) -> apply
 * METAMORPHOSIS_* environment overrides -> validateConfig: Value.Default -> derived defaults
 * (link.listener, btp-client token from the url) -> Value.Check (schema) -> cross-field checks.
 * Every problem found is reported at once, as "path: what is wrong", in a ConfigError.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Kind, type TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'
import { parseDecimal, MAX_DECIMAL_EXPONENT } from '../protocol/rates'
import {
  ConfigSchema,
  DECIMAL_STRING_PATTERN,
  INT_STRING_PATTERN,
  UINT64_MAX,
  UINT_STRING_PATTERN,
  isValidSegment,
  type AnnotatedSchema,
  type Config
} from './schema'

/** Prefix of the environment variables that override configuration fields. */
export const ENV_PREFIX = 'METAMORPHOSIS_'
/** Environment variable naming the configuration file (not an override). */
export const CONFIG_FILE_ENV_VAR = 'METAMORPHOSIS_CONFIG'
/**
 * Variables of the same prefix that are not config overrides: the config file's name, and the admin
 * CLI's own settings (so an operator can export them in the shell that also starts the connector).
 */
const NOT_OVERRIDES = new Set([CONFIG_FILE_ENV_VAR, 'METAMORPHOSIS_ADMIN_TOKEN', 'METAMORPHOSIS_ADMIN_URL'])

export class ConfigError extends Error {
  /** One entry per problem, each "path: what is wrong". */
  readonly problems: string[]

  constructor(problems: string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface LoadConfigOptions {
  /** JSON configuration file. Default: $METAMORPHOSIS_CONFIG, else config/default.json of the package. */
  file?: string
  /** Environment to take METAMORPHOSIS_* overrides from. Default: process.env. */
  env?: Record<string, string | undefined>
}

// ---------------------------------------------------------------------------------------------------
// Paths and problems
// ---------------------------------------------------------------------------------------------------

type PathSegment = string | number
type ConfigPath = PathSegment[]

/** Where an environment variable wrote (or created) a part of the configuration. */
interface EnvSource {
  path: ConfigPath
  variable: string
  /** True when the variable created this object (or array) on its way to the field it sets. */
  created: boolean
}

const PLAIN_KEY = /^[A-Za-z0-9_~-]+$/

/** "accounts.bob.link.token", "routes[0].prefix", 'accounts["bad id"]'; the root is "config". */
export function formatPath(configPath: readonly PathSegment[]): string {
  let out = ''
  for (const [i, segment] of configPath.entries()) {
    if (i === 0 && typeof segment === 'string' && !PLAIN_KEY.test(segment)) out = 'config'
    if (typeof segment === 'number') out += `[${segment}]`
    else if (PLAIN_KEY.test(segment)) out += (out === '' ? '' : '.') + segment
    else out += `[${JSON.stringify(segment)}]`
  }
  return out === '' ? 'config' : out
}

function isPrefixOf(prefix: ConfigPath, full: ConfigPath): boolean {
  return prefix.length <= full.length && prefix.every((segment, i) => String(segment) === String(full[i]))
}

class Problems {
  readonly list: string[] = []
  private readonly paths = new Set<string>()

  constructor(private readonly sources: EnvSource[] = []) {}

  /** Reports a problem at a configuration path (annotated with the env variable that set it, if any). */
  add(configPath: ConfigPath, message: string, options: { unlessReported?: boolean } = {}): void {
    const key = formatPath(configPath)
    if (options.unlessReported && this.paths.has(key)) return
    this.paths.add(key)
    let source: EnvSource | undefined
    for (const candidate of this.sources) {
      if (isPrefixOf(candidate.path, configPath) && (!source || candidate.path.length > source.path.length)) {
        source = candidate
      }
    }
    const origin = source ? ` (${source.created ? 'created' : 'set'} by ${source.variable})` : ''
    this.list.push(`${key}: ${message}${origin}`)
  }

  /** Reports a problem not tied to a configuration path (a file, an environment variable). */
  addLine(line: string): void {
    this.list.push(line)
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError([...this.list])
  }
}

// ---------------------------------------------------------------------------------------------------
// Small guards
// ---------------------------------------------------------------------------------------------------

type PlainObject = Record<string, unknown>

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function entriesOf(value: unknown): [string, unknown][] {
  return isPlainObject(value) ? Object.entries(value) : []
}

function hasOwn(value: unknown, key: string): boolean {
  return isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, key)
}

/** value[key] for an own property of an object or array, else undefined (never an inherited member). */
function ownValue(value: unknown, key: PathSegment): unknown {
  if (typeof value !== 'object' || value === null) return undefined
  return Object.prototype.hasOwnProperty.call(value, key) ? (value as Record<PathSegment, unknown>)[key] : undefined
}

function annotated(schema: TSchema): AnnotatedSchema & PlainObject {
  return schema as AnnotatedSchema & PlainObject
}

function kindOf(schema: TSchema): string {
  return (schema as unknown as Record<symbol, unknown>)[Kind] as string
}

/** Short rendering of a value for messages. */
function preview(value: unknown): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

// ---------------------------------------------------------------------------------------------------
// Schema errors -> messages
// ---------------------------------------------------------------------------------------------------

interface LocatedMessage {
  pointer: string
  message: string
}

function pointerToPath(pointer: string, root: unknown): ConfigPath {
  if (pointer === '') return []
  const out: ConfigPath = []
  let node: unknown = root
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(node) && /^\d+$/.test(segment)) {
      out.push(Number(segment))
      node = node[Number(segment)]
    } else {
      out.push(segment)
      node = isPlainObject(node) ? node[segment] : undefined
    }
  }
  return out
}

function explain(error: ValueError): string {
  const schema = annotated(error.schema)
  if (error.type === ValueErrorType.ObjectRequiredProperty) return schema.requiredMessage ?? 'is required'
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const known = Object.keys((schema.properties as PlainObject | undefined) ?? {})
    return known.length > 0 ? `unknown field (known fields: ${known.join(', ')})` : 'unknown field'
  }
  const got = schema.secret || error.value === undefined ? '' : ` (got ${preview(error.value)})`
  if (schema.errorMessage) return schema.errorMessage + got
  switch (error.type) {
    case ValueErrorType.Object:
      return 'must be an object' + got
    case ValueErrorType.Array:
      return 'must be an array' + got
    case ValueErrorType.String:
      return 'must be a string' + got
    case ValueErrorType.StringMinLength:
      return (schema.minLength === 1 ? 'must be a non-empty string' : `must be at least ${schema.minLength} characters long`) + got
    case ValueErrorType.StringMaxLength:
      return `must be at most ${schema.maxLength} characters long` + got
    case ValueErrorType.StringPattern:
      return `must match ${schema.pattern}` + got
    case ValueErrorType.Integer:
      return 'must be an integer' + got
    case ValueErrorType.Number:
      return 'must be a number' + got
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be >= ${schema.minimum}` + got
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMinimum:
      return `must be > ${schema.exclusiveMinimum}` + got
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be <= ${schema.maximum}` + got
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.NumberExclusiveMaximum:
      return `must be < ${schema.exclusiveMaximum}` + got
    case ValueErrorType.Boolean:
      return 'must be true or false' + got
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(schema.const)}` + got
    default:
      return error.message.toLowerCase() + got
  }
}

function literalOf(schema: TSchema): unknown {
  return kindOf(schema) === 'Literal' ? annotated(schema).const : undefined
}

/** Fields that select the form of a union of objects: `type` (links), `backend` (rates). */
const DISCRIMINANT_KEYS = ['type', 'backend'] as const

/** The field selecting the form of a union variant (an object with a literal `type` or `backend`). */
function discriminantKeyOf(variant: TSchema): string | undefined {
  if (kindOf(variant) !== 'Object') return undefined
  const properties = annotated(variant).properties as Record<string, TSchema>
  return DISCRIMINANT_KEYS.find((key) => properties[key] !== undefined && literalOf(properties[key]) !== undefined)
}

/** The value of the discriminant literal of an object variant of a union, if it has one. */
function discriminantOf(variant: TSchema): unknown {
  const key = discriminantKeyOf(variant)
  return key === undefined ? undefined : literalOf((annotated(variant).properties as Record<string, TSchema>)[key])
}

function* messagesFor(errors: Iterable<ValueError>): Generator<LocatedMessage> {
  for (const error of errors) {
    if (error.type === ValueErrorType.Union) yield* unionMessages(error)
    else yield { pointer: error.path, message: explain(error) }
  }
}

function* unionMessages(error: ValueError): Generator<LocatedMessage> {
  const variants = annotated(error.schema).anyOf as TSchema[]
  const got = annotated(error.schema).secret ? '' : ` (got ${preview(error.value)})`
  const own = annotated(error.schema).errorMessage
  if (own !== undefined) {
    yield { pointer: error.path, message: own + got }
    return
  }
  if (variants.every((variant) => kindOf(variant) === 'Literal')) {
    yield { pointer: error.path, message: `must be one of ${variants.map((v) => JSON.stringify(literalOf(v))).join(', ')}${got}` }
    return
  }
  const tags = variants.map(discriminantOf)
  const key = discriminantKeyOf(variants[0])
  if (key !== undefined && tags.every((tag) => tag !== undefined) && variants.every((v) => discriminantKeyOf(v) === key)) {
    // A union discriminated by "type" (or "backend"): report the problems of the variant the value chose.
    const choices = tags.map((tag) => JSON.stringify(tag)).join(', ')
    if (!isPlainObject(error.value)) {
      yield { pointer: error.path, message: `must be an object with "${key}" one of ${choices}` }
      return
    }
    const chosen = tags.findIndex((tag) => tag === (error.value as PlainObject)[key])
    if (chosen < 0) {
      const got = error.value[key]
      const message = got === undefined ? `is required (one of ${choices})` : `must be one of ${choices} (got ${preview(got)})`
      yield { pointer: `${error.path}/${key}`, message }
      return
    }
    yield* messagesFor(error.errors[chosen])
    return
  }
  yield { pointer: error.path, message: 'does not match any of the allowed forms' }
}

// ---------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------

/**
 * Deep copy of parsed JSON. A "__proto__" key (which JSON.parse keeps as an own property, but which
 * assignment would turn into a prototype) is reported as an unknown field and dropped.
 */
function cloneData(value: unknown, at: ConfigPath, problems: Problems): unknown {
  if (Array.isArray(value)) return value.map((item, i) => cloneData(item, [...at, i], problems))
  if (!isPlainObject(value)) return value
  const out: PlainObject = {}
  for (const key of Object.keys(value)) {
    if (key === '__proto__') problems.add([...at, key], 'unknown field')
    else out[key] = cloneData(value[key], [...at, key], problems)
  }
  return out
}

/** Fills top-level properties that have a `defaultIfAbsent` (the `listeners` map) when they are absent. */
function applyAbsentDefaults(value: unknown): void {
  if (!isPlainObject(value)) return
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const fallback = annotated(schema).defaultIfAbsent
    if (fallback !== undefined && value[key] === undefined) value[key] = Value.Clone(fallback)
  }
}

/**
 * Value.Default merges a value into the schema's default with Object.assign when both are objects, and
 * arrays are objects to it: `routes: {}` would become `[]` and `log: []` would become `{}`. So arrays
 * where objects belong, and objects where arrays belong, are reported here and replaced by null (which
 * Value.Default leaves alone and Value.Check rejects at the same path, a duplicate that is dropped).
 */
function guardContainerShapes(schema: TSchema, value: unknown, at: ConfigPath, problems: Problems): unknown {
  const kind = kindOf(schema)
  if (kind === 'Object' || kind === 'Record') {
    if (Array.isArray(value)) {
      problems.add(at, `must be an object (got ${preview(value)})`)
      return null
    }
    if (!isPlainObject(value)) return value
    const s = annotated(schema)
    const properties = (s.properties as Record<string, TSchema> | undefined) ?? {}
    const entrySchema = kind === 'Record' ? Object.values(s.patternProperties as Record<string, TSchema>)[0] : undefined
    for (const key of Object.keys(value)) {
      const child = entrySchema ?? properties[key]
      if (child !== undefined && value[key] !== undefined) value[key] = guardContainerShapes(child, value[key], [...at, key], problems)
    }
    return value
  }
  if (kind === 'Array') {
    if (value !== undefined && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      problems.add(at, `must be an array (got ${preview(value)})`)
      return null
    }
    if (Array.isArray(value)) {
      const items = annotated(schema).items as TSchema
      value.forEach((item, i) => {
        value[i] = guardContainerShapes(items, item, [...at, i], problems)
      })
    }
    return value
  }
  return value
}

/** Defaults that depend on other fields: a btp-server link's listener, a btp-client link's token. */
function deriveLinkDefaults(config: PlainObject, problems: Problems): void {
  const listenerNames = isPlainObject(config.listeners) ? Object.keys(config.listeners) : []
  for (const [id, account] of entriesOf(config.accounts)) {
    if (!isPlainObject(account) || !isPlainObject(account.link)) continue
    const link = account.link
    const at = (field: string): ConfigPath => ['accounts', id, 'link', field]
    if (link.type === 'btp-server' && link.listener === undefined) {
      if (listenerNames.length === 1) link.listener = listenerNames[0]
      else if (listenerNames.length === 0) problems.add(at('listener'), 'is required, but no listeners are configured')
      else problems.add(at('listener'), `is required when there are several listeners (${listenerNames.join(', ')})`)
    }
    if (link.type === 'btp-client' && typeof link.url === 'string' && link.url !== '') {
      let url: URL
      try {
        url = new URL(link.url)
      } catch {
        problems.add(at('url'), 'must be a valid URL such as "btp+wss://connector.example:443"')
        continue
      }
      if (url.protocol !== 'btp+ws:' && url.protocol !== 'btp+wss:') {
        problems.add(at('url'), `must use the btp+ws: or btp+wss: scheme (got "${url.protocol}")`)
      } else if (url.hostname === '') {
        problems.add(at('url'), 'must name a host, as in "btp+wss://connector.example:443"')
      }
      let password = url.password
      try {
        password = decodeURIComponent(password)
      } catch {
        // keep it as written
      }
      if (link.token === undefined && password !== '') link.token = password
      else if (typeof link.token === 'string' && password !== '' && password !== link.token) {
        problems.add(at('token'), 'differs from the token given as the url password; give it in one place only')
      }
    }
  }
}

function checkMapKeys(config: PlainObject, problems: Problems): void {
  for (const [section, what] of [
    ['listeners', 'listener name'],
    ['accounts', 'account id']
  ] as const) {
    for (const [key] of entriesOf(config[section])) {
      if (!isValidSegment(key)) {
        problems.add([section, key], `invalid ${what}: must be non-empty and use only letters, digits, "_", "~" and "-"`)
      }
    }
  }
}

function checkAmounts(owner: unknown, at: ConfigPath, problems: Problems): void {
  if (!isPlainObject(owner)) return
  const uint = new RegExp(UINT_STRING_PATTERN)
  const int = new RegExp(INT_STRING_PATTERN)
  const { maxPacketAmount, minBalance, maxBalance } = owner
  if (typeof maxPacketAmount === 'string' && uint.test(maxPacketAmount) && BigInt(maxPacketAmount) > UINT64_MAX) {
    problems.add([...at, 'maxPacketAmount'], `must be at most "${UINT64_MAX}" (uint64) (got "${maxPacketAmount}")`)
  }
  const limit = owner.throughputLimit
  if (isPlainObject(limit) && typeof limit.amount === 'string' && uint.test(limit.amount) && BigInt(limit.amount) > UINT64_MAX) {
    problems.add([...at, 'throughputLimit', 'amount'], `must be at most "${UINT64_MAX}" (uint64) (got "${limit.amount}")`)
  }
  if (
    typeof minBalance === 'string' &&
    typeof maxBalance === 'string' &&
    int.test(minBalance) &&
    int.test(maxBalance) &&
    BigInt(minBalance) > BigInt(maxBalance)
  ) {
    problems.add([...at, 'minBalance'], `must be <= maxBalance ("${minBalance}" > "${maxBalance}")`)
  }
  checkSettlement(owner, at, problems)
}

/**
 * An account's settlement settings against its limits. The balance is what the account owes us, so
 * settling (we pay the peer) raises it from at or below `threshold` up to `settleTo`.
 */
function checkSettlement(account: PlainObject, at: ConfigPath, problems: Problems): void {
  const settlement = account.settlement
  if (!isPlainObject(settlement)) return
  const int = new RegExp(INT_STRING_PATTERN)
  const amount = (v: unknown): bigint | undefined => (typeof v === 'string' && int.test(v) ? BigInt(v) : undefined)
  const threshold = amount(settlement.threshold)
  const settleTo = amount(settlement.settleTo)
  const minBalance = amount(account.minBalance)
  const maxBalance = amount(account.maxBalance)
  const here = [...at, 'settlement']
  if (threshold !== undefined && settleTo !== undefined && settleTo <= threshold) {
    problems.add([...here, 'settleTo'], `must be greater than settlement.threshold ("${settleTo}" <= "${threshold}"): settling raises the balance from the threshold to settleTo`)
  }
  if (threshold !== undefined && minBalance !== undefined && threshold < minBalance) {
    problems.add([...here, 'threshold'], `must be >= minBalance ("${threshold}" < "${minBalance}"), or the balance never reaches it`)
  }
  if (settleTo !== undefined && maxBalance !== undefined && settleTo > maxBalance) {
    problems.add([...here, 'settleTo'], `must be <= maxBalance ("${settleTo}" > "${maxBalance}")`)
  }
  const method = settlement.method
  if (isPlainObject(method) && method.type === 'rfc0038' && typeof method.url === 'string' && method.url !== '') {
    let url: URL | undefined
    try {
      url = new URL(method.url)
    } catch {
      problems.add([...here, 'method', 'url'], 'must be a valid URL such as "http://127.0.0.1:3000"')
    }
    if (url !== undefined && url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.add([...here, 'method', 'url'], `must use the http: or https: scheme (got "${url.protocol}")`)
    }
  }
}

/** Rate values and the spread, beyond their grammar: exact ranges (decimals parsed exactly). */
function checkRates(rates: unknown, problems: Problems): void {
  if (!isPlainObject(rates)) return
  const decimal = new RegExp(DECIMAL_STRING_PATTERN)
  if (typeof rates.spread === 'string' && decimal.test(rates.spread)) {
    const spread = parseDecimal(rates.spread)
    if (spread === undefined) problems.add(['rates', 'spread'], `exponent out of range: at most ±${MAX_DECIMAL_EXPONENT} (got "${rates.spread}")`)
    else if (spread.n >= spread.d) problems.add(['rates', 'spread'], `must be < 1 (got "${rates.spread}")`)
  }
  if (rates.backend === 'static') {
    for (const [code, text] of entriesOf(rates.rates)) {
      if (code.length === 0 || code.length > 16) problems.add(['rates', 'rates', code], 'asset codes are 1 to 16 characters long')
      if (typeof text !== 'string' || !decimal.test(text)) continue
      const value = parseDecimal(text)
      if (value === undefined) problems.add(['rates', 'rates', code], `exponent out of range: at most ±${MAX_DECIMAL_EXPONENT} (got "${text}")`)
      else if (value.n === 0n) problems.add(['rates', 'rates', code], `must be > 0 (got "${text}")`)
    }
  }
  if (rates.backend === 'http' && typeof rates.url === 'string' && rates.url !== '') {
    let url: URL | undefined
    try {
      url = new URL(rates.url)
    } catch {
      problems.add(['rates', 'url'], 'must be a valid URL such as "https://rates.example/latest.json"')
    }
    if (url !== undefined && url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.add(['rates', 'url'], `must use the http: or https: scheme (got "${url.protocol}")`)
    }
  }
  if (rates.backend === 'http' && typeof rates.refreshIntervalMs === 'number' && typeof rates.maxAgeMs === 'number' && rates.maxAgeMs < rates.refreshIntervalMs) {
    problems.add(['rates', 'maxAgeMs'], `must be >= rates.refreshIntervalMs (${rates.maxAgeMs} < ${rates.refreshIntervalMs}), or the rates go stale between two fetches`)
  }
}

/** Each account's plugin link as written (JSON), by account id: to tell what the environment changed. */
function pluginLinks(raw: unknown): Map<string, string> {
  const out = new Map<string, string>()
  if (!isPlainObject(raw)) return out
  for (const [id, account] of entriesOf(raw.accounts)) {
    const link = isPlainObject(account) ? account.link : undefined
    if (isPlainObject(link) && link.type === 'plugin') out.set(id, JSON.stringify(link))
  }
  return out
}

/**
 * A plugin link names code to load: it is set in the config file only, never from the environment
 * (where a variable could make the connector load any module). Whatever variable did it — one for the
 * link, the account, or the whole accounts map — a plugin link the file does not have exactly so is refused.
 */
function refuseEnvOnPluginLinks(before: Map<string, string>, raw: unknown, sources: EnvSource[], problems: Problems): void {
  for (const [id, link] of pluginLinks(raw)) {
    if (before.get(id) === link) continue
    const culprits = sources.filter(s => s.path[0] === 'accounts' && (s.path.length === 1 || s.path[1] === id)).map(s => s.variable)
    problems.addLine(`${culprits.length > 0 ? culprits.join(', ') : 'the environment'}: accounts.${id}.link is a plugin link, which is set in the config file only (environment variables cannot load code)`)
  }
}

/** http and receiver links: URLs, unique incoming tokens, one well-known receiver, receivers are children. */
function checkNewLinks(config: PlainObject, problems: Problems): void {
  const httpTokenOwner = new Map<string, string>()
  let wellKnown: string | undefined
  for (const [id, account] of entriesOf(config.accounts)) {
    if (!isPlainObject(account) || !isPlainObject(account.link)) continue
    const link = account.link
    const at = (...field: string[]): ConfigPath => ['accounts', id, 'link', ...field]
    if (link.type === 'http') {
      if (link.incoming === undefined && link.outgoing === undefined) problems.add(at(), 'an http link needs incoming, outgoing, or both')
      if (isPlainObject(link.incoming) && typeof link.incoming.token === 'string' && link.incoming.token !== '') {
        const other = httpTokenOwner.get(link.incoming.token)
        if (other !== undefined) problems.add(at('incoming', 'token'), `same token as ${formatPath(['accounts', other, 'link', 'incoming', 'token'])}: incoming http tokens must be unique`)
        else httpTokenOwner.set(link.incoming.token, id)
      }
      if (isPlainObject(link.outgoing) && typeof link.outgoing.url === 'string' && link.outgoing.url !== '') {
        let url: URL | undefined
        try {
          url = new URL(link.outgoing.url)
        } catch {
          problems.add(at('outgoing', 'url'), 'must be a valid URL such as "https://peer.example/ilp"')
        }
        if (url !== undefined && url.protocol !== 'http:' && url.protocol !== 'https:') {
          problems.add(at('outgoing', 'url'), `must use the http: or https: scheme (got "${url.protocol}")`)
        }
      }
    }
    if (link.type === 'receiver') {
      if (account.relation !== 'child') problems.add(['accounts', id, 'relation'], `must be "child" for a receiver link (the receiver takes the child's address; got ${JSON.stringify(account.relation)})`)
      if (account.settlement !== undefined) problems.add(['accounts', id, 'settlement'], 'a receiver account has no peer to settle with')
      if (link.wellKnown === true) {
        if (wellKnown !== undefined) problems.add(at('wellKnown'), `only one account may serve /.well-known/pay (${formatPath(['accounts', wellKnown, 'link', 'wellKnown'])} already does)`)
        else wellKnown = id
      }
    }
    if ((link.type === 'http' || link.type === 'plugin' || link.type === 'receiver') && isPlainObject(account.settlement) &&
      isPlainObject(account.settlement.method) && account.settlement.method.type === 'btp-transfer' && link.type !== 'plugin') {
      problems.add(['accounts', id, 'settlement', 'method'], `btp-transfer needs a BTP or plugin link (this account's link is ${link.type})`)
    }
  }
}

/** The HTTP listeners opened for the new link types must not take a BTP listener's or each other's port. */
function checkListenerPorts(config: PlainObject, portOwner: Map<number, string>, problems: Problems): void {
  const accounts = entriesOf(config.accounts).map(([, a]) => a).filter(isPlainObject)
  const opened: Array<[string, boolean]> = [
    ['http', accounts.some(a => isPlainObject(a.link) && a.link.type === 'http' && a.link.incoming !== undefined)],
    ['spsp', accounts.some(a => isPlainObject(a.link) && a.link.type === 'receiver')]
  ]
  const used = new Map<number, string>([...portOwner].map(([port, name]) => [port, formatPath(['listeners', name])]))
  const settlement = config.settlement
  const usesEngine = accounts.some(a => isPlainObject(a.settlement) && isPlainObject(a.settlement.method) && a.settlement.method.type === 'rfc0038')
  // Each port one owner: a clash would only show at start, as EADDRINUSE naming no field.
  const claim = (port: unknown, at: ConfigPath): void => {
    if (typeof port !== 'number' || port === 0) return
    const other = used.get(port)
    if (other !== undefined) problems.add(at, `port ${port} is already used by ${other}`, { unlessReported: true })
    else used.set(port, formatPath(at))
  }
  if (usesEngine && isPlainObject(settlement)) claim(settlement.port, ['settlement', 'port'])
  const admin = config.admin
  if (isPlainObject(admin) && admin.enabled === true) {
    claim(admin.port, ['admin', 'port'])
    if (admin.metricsPort !== admin.port) claim(admin.metricsPort, ['admin', 'metricsPort'])
  }
  for (const [section, isOpened] of opened) {
    const value = config[section]
    if (!isOpened || !isPlainObject(value) || typeof value.port !== 'number' || value.port === 0) continue
    const other = used.get(value.port)
    if (other !== undefined) problems.add([section, 'port'], `port ${value.port} is already used by ${other}`)
    else used.set(value.port, `${section}.port`)
  }
}

function checkCrossFields(config: PlainObject, problems: Problems): void {
  const listeners = config.listeners
  const listenerNames = isPlainObject(listeners) ? Object.keys(listeners) : []

  // Listener ports are unique (0 = any free port).
  const portOwner = new Map<number, string>()
  for (const [name, listener] of entriesOf(listeners)) {
    if (!isPlainObject(listener)) continue
    const port = listener.port
    if (typeof port !== 'number' || !Number.isInteger(port) || port === 0) continue
    const other = portOwner.get(port)
    if (other !== undefined) {
      problems.add(['listeners', name, 'port'], `port ${port} is already used by ${formatPath(['listeners', other])}`)
    } else portOwner.set(port, name)
    checkAmounts(listener.localAccounts, ['listeners', name, 'localAccounts'], problems)
  }

  // Accounts: listener references, token uniqueness, amounts.
  const tokenOwner = new Map<string, string>()
  for (const [id, account] of entriesOf(config.accounts)) {
    if (!isPlainObject(account)) continue
    checkAmounts(account, ['accounts', id], problems)
    const link = account.link
    if (!isPlainObject(link) || link.type !== 'btp-server') continue
    if (typeof link.listener === 'string' && !hasOwn(listeners, link.listener)) {
      const known = listenerNames.length > 0 ? `listeners: ${listenerNames.join(', ')}` : 'no listeners are configured'
      problems.add(['accounts', id, 'link', 'listener'], `no listener named ${JSON.stringify(link.listener)} (${known})`)
    }
    if (typeof link.token === 'string' && link.token !== '') {
      const other = tokenOwner.get(link.token)
      if (other !== undefined) {
        problems.add(
          ['accounts', id, 'link', 'token'],
          `same token as ${formatPath(['accounts', other, 'link', 'token'])}: btp-server tokens must be unique`
        )
      } else tokenOwner.set(link.token, id)
    }
  }

  checkNewLinks(config, problems)
  checkListenerPorts(config, portOwner, problems)

  // Routes point at existing accounts, and not at our own address.
  if (Array.isArray(config.routes)) {
    config.routes.forEach((route: unknown, i) => {
      if (isPlainObject(route) && typeof route.account === 'string' && !hasOwn(config.accounts, route.account)) {
        problems.add(['routes', i, 'account'], `no account named ${JSON.stringify(route.account)}`)
      }
      if (isPlainObject(route) && typeof config.ilpAddress === 'string' && route.prefix === config.ilpAddress) {
        problems.add(['routes', i, 'prefix'], `is this connector's own address (ilpAddress): a route for it would hand the connector's whole address space to one account`)
      }
    })
  }

  // The admin API is never served without a token.
  const admin = config.admin
  if (isPlainObject(admin) && admin.enabled === true && admin.token === undefined) {
    problems.add(['admin', 'token'], 'is required when admin.enabled is true (every admin API call must present it)')
  }
  if (isPlainObject(admin) && typeof admin.metricsPort === 'number' && admin.metricsPort !== 0 && admin.metricsPort === admin.port) {
    problems.add(['admin', 'metricsPort'], `must differ from admin.port (${admin.port})`)
  }

  checkRates(config.rates, problems)

  const routing = config.routing
  if (isPlainObject(routing) && typeof routing.routeExpiryMs === 'number' && typeof routing.broadcastIntervalMs === 'number' &&
    routing.routeExpiryMs <= routing.broadcastIntervalMs) {
    problems.add(['routing', 'routeExpiryMs'], `must be more than routing.broadcastIntervalMs (${routing.routeExpiryMs} <= ${routing.broadcastIntervalMs}), or neighbours drop our routes between two updates`)
  }

  const settlement = config.settlement
  // (settlement.port against the other ports: see checkListenerPorts)
  if (isPlainObject(settlement) && typeof settlement.retryMinDelayMs === 'number' && typeof settlement.retryMaxDelayMs === 'number' &&
    settlement.retryMinDelayMs > settlement.retryMaxDelayMs) {
    problems.add(['settlement', 'retryMinDelayMs'], `must be <= settlement.retryMaxDelayMs (${settlement.retryMinDelayMs} > ${settlement.retryMaxDelayMs})`)
  }

  // Reconnection delays.
  const btp = config.btp
  if (isPlainObject(btp) && typeof btp.reconnectMinDelayMs === 'number' && typeof btp.reconnectMaxDelayMs === 'number') {
    if (btp.reconnectMinDelayMs > btp.reconnectMaxDelayMs) {
      problems.add(
        ['btp', 'reconnectMinDelayMs'],
        `must be <= btp.reconnectMaxDelayMs (${btp.reconnectMinDelayMs} > ${btp.reconnectMaxDelayMs})`
      )
    }
  }
}

function validateInto(raw: unknown, problems: Problems): Config {
  const value: unknown = guardContainerShapes(ConfigSchema, cloneData(raw, [], problems), [], problems)
  applyAbsentDefaults(value)
  const config: unknown = Value.Default(ConfigSchema, value)
  if (isPlainObject(config)) {
    checkMapKeys(config, problems)
    deriveLinkDefaults(config, problems)
  }
  for (const { pointer, message } of messagesFor(Value.Errors(ConfigSchema, config))) {
    problems.add(pointerToPath(pointer, config), message, { unlessReported: true })
  }
  if (isPlainObject(config)) checkCrossFields(config, problems)
  problems.throwIfAny()
  return config as Config
}

/**
 * Validates a raw configuration (e.g. parsed JSON): fills every default, checks the schema and the
 * cross-field rules. Does not modify `raw`. Throws a ConfigError listing every problem.
 */
export function validateConfig(raw: unknown): Config {
  return validateInto(raw, new Problems())
}

// ---------------------------------------------------------------------------------------------------
// Environment overrides
// ---------------------------------------------------------------------------------------------------

/** camelCase -> UPPER_SNAKE ("maxHoldTimeMs" -> "MAX_HOLD_TIME_MS"). */
export function toUpperSnake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toUpperCase()
}

/** The environment variable overriding a configuration path, e.g. ["packets", "maxHoldTimeMs"]. */
export function envVarName(configPath: readonly string[]): string {
  return ENV_PREFIX + configPath.map(toUpperSnake).join('__')
}

interface Step {
  key: PathSegment
  schema: TSchema
}

function resolveStep(schema: TSchema, container: unknown, segment: string): Step | string {
  const s = annotated(schema)
  switch (kindOf(schema)) {
    case 'Object': {
      const properties = s.properties as Record<string, TSchema>
      const key = Object.keys(properties).find((k) => toUpperSnake(k) === segment.toUpperCase())
      return key === undefined ? `no field matching "${segment}"` : { key, schema: properties[key] }
    }
    case 'Record': {
      const valueSchema = Object.values(s.patternProperties as Record<string, TSchema>)[0]
      const existing = isPlainObject(container) ? Object.keys(container) : []
      const key = existing.find((k) => k === segment) ?? existing.find((k) => k.toLowerCase() === segment.toLowerCase())
      return { key: key ?? segment.toLowerCase(), schema: valueSchema }
    }
    case 'Array': {
      if (!/^\d+$/.test(segment)) return `expected an array index, got "${segment}"`
      const index = Number(segment)
      const length = Array.isArray(container) ? container.length : 0
      if (index > length) return `index ${index} is past the end, the array has ${length} items`
      return { key: index, schema: s.items as TSchema }
    }
    case 'Union': {
      const variants = s.anyOf as TSchema[]
      const key = discriminantKeyOf(variants[0]) ?? 'type'
      const current = isPlainObject(container) ? container[key] : undefined
      const ordered = [
        ...variants.filter((v) => discriminantOf(v) === current),
        ...variants.filter((v) => discriminantOf(v) !== current)
      ]
      for (const variant of ordered) {
        const step = resolveStep(variant, container, segment)
        if (typeof step !== 'string') return step
      }
      return `no field matching "${segment}"`
    }
    default:
      return 'not an object, it has no fields'
  }
}

function isStringSchema(schema: TSchema): boolean {
  switch (kindOf(schema)) {
    case 'String':
      return true
    case 'Literal':
      return typeof annotated(schema).const === 'string'
    case 'Union':
      return (annotated(schema).anyOf as TSchema[]).every(isStringSchema)
    default:
      return false
  }
}

function expectedJson(schema: TSchema): string {
  switch (kindOf(schema)) {
    case 'Integer':
      return 'an integer'
    case 'Number':
      return 'a number'
    case 'Boolean':
      return 'true or false'
    case 'Array':
      return 'a JSON array'
    default:
      return 'a JSON object'
  }
}

/**
 * Applies METAMORPHOSIS_* variables to `target` (mutated). Returns where each variable wrote; reports
 * variables that name no configuration field or whose value cannot be parsed.
 */
function applyEnvOverrides(target: PlainObject, env: Record<string, string | undefined>, problems: Problems): EnvSource[] {
  const sources: EnvSource[] = []
  const variables = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !NOT_OVERRIDES.has(name) && env[name] !== undefined)
    .map((name) => ({ name, segments: name.slice(ENV_PREFIX.length).split('__') }))
    // Shallow paths first, so METAMORPHOSIS_PACKETS='{...}' does not undo METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS.
    .sort((a, b) => a.segments.length - b.segments.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

  for (const { name, segments } of variables) {
    const raw = env[name] as string
    if (segments.some((segment) => segment === '')) {
      problems.addLine(`${name}: not a configuration override (levels are separated by exactly "__", e.g. ${ENV_PREFIX}LOG__LEVEL)`)
      continue
    }
    // Resolve the whole path first, without changing anything.
    const steps: Step[] = []
    let schema: TSchema = ConfigSchema
    let node: unknown = target
    let failure: string | undefined
    for (const segment of segments) {
      const step = resolveStep(schema, node, segment)
      if (typeof step === 'string') {
        const where = steps.length === 0 ? 'top level' : formatPath(steps.map((s) => s.key))
        failure = `unknown configuration field (${where}: ${step})`
        break
      }
      steps.push(step)
      schema = step.schema
      node = ownValue(node, step.key)
    }
    if (failure !== undefined) {
      problems.addLine(`${name}: ${failure}`)
      continue
    }
    const configPath = steps.map((s) => s.key)
    const leaf = steps[steps.length - 1]

    let value: unknown = raw
    if (!isStringSchema(leaf.schema)) {
      try {
        value = JSON.parse(raw)
      } catch (err) {
        const position = /at position \d+/.exec((err as Error).message)
        problems.addLine(
          `${name}: ${formatPath(configPath)} expects ${expectedJson(leaf.schema)}, but the value is not valid JSON${position ? ` (${position[0]})` : ''}`
        )
        continue
      }
    }

    // Walk down, creating missing containers (attributed to this variable).
    let container: Record<PathSegment, unknown> = target
    let blocked: string | undefined
    for (let i = 0; i < steps.length - 1; i++) {
      const { key } = steps[i]
      let next = ownValue(container, key)
      if (next === undefined) {
        next = kindOf(steps[i].schema) === 'Array' ? [] : {}
        container[key] = next
        sources.push({ path: configPath.slice(0, i + 1), variable: name, created: true })
      } else if (!isPlainObject(next) && !Array.isArray(next)) {
        blocked = formatPath(configPath.slice(0, i + 1))
        break
      }
      container = next as Record<PathSegment, unknown>
    }
    if (blocked !== undefined) {
      problems.addLine(`${name}: cannot set ${formatPath(configPath)}: ${blocked} is not an object`)
      continue
    }
    container[leaf.key] = value
    sources.push({ path: configPath, variable: name, created: false })
  }
  return sources
}

// ---------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------

/** The nearest ancestor of `start` (inclusive) that contains a package.json. */
export function findPackageRoot(start: string = __dirname): string {
  let dir = path.resolve(start)
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json found above ${start}`)
    dir = parent
  }
}

/** config/default.json of this package (works from src/ and from dist/src/). */
export function defaultConfigFile(): string {
  return path.join(findPackageRoot(__dirname), 'config', 'default.json')
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position)
  const line = before.split('\n').length
  const column = position - before.lastIndexOf('\n')
  return `line ${line}, column ${column}`
}

function readJsonFile(file: string, origin: string): unknown {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? 'config file not found'
        : code === 'EISDIR'
          ? 'is a directory, not a config file'
          : `cannot read config file: ${(err as Error).message}`
    throw new ConfigError([`${file}: ${reason}${origin}`])
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch (err) {
    const message = (err as Error).message
    const position = /at position (\d+)/.exec(message)
    const where = position ? ` (${lineAndColumn(text, Number(position[1]))})` : ''
    throw new ConfigError([`${file}: invalid JSON: ${message}${where}${origin}`])
  }
}

/**
 * Loads the configuration: the JSON file (`opts.file`, else $METAMORPHOSIS_CONFIG, else
 * config/default.json), then METAMORPHOSIS_* overrides from `opts.env` (default process.env), then
 * defaults and validation. Throws a ConfigError listing every problem.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env
  let file: string
  let origin = ''
  if (opts.file !== undefined) file = path.resolve(opts.file)
  else if (env[CONFIG_FILE_ENV_VAR]) {
    file = path.resolve(env[CONFIG_FILE_ENV_VAR] as string)
    origin = ` (named by ${CONFIG_FILE_ENV_VAR})`
  } else file = defaultConfigFile()

  const raw = readJsonFile(file, origin)
  const pluginLinksInFile = pluginLinks(raw)
  const preProblems = new Problems()
  let sources: EnvSource[] = []
  if (isPlainObject(raw)) {
    // Whole-map defaults first, so that e.g. METAMORPHOSIS_LISTENERS__DEFAULT__PORT changes the default listener.
    applyAbsentDefaults(raw)
    sources = applyEnvOverrides(raw, env, preProblems)
  }
  const problems = new Problems(sources)
  for (const line of preProblems.list) problems.addLine(line)
  refuseEnvOnPluginLinks(pluginLinksInFile, raw, sources, problems)
  return validateInto(raw, problems)
}

/**
 * Problems of a value (an admin API request body) against a schema built from this module's pieces,
 * in the config's words: one "path: what is wrong" per problem (unknown fields, wrong types, amounts
 * beyond uint64, minBalance > maxBalance). Empty when the value is valid. Does not fill defaults.
 */
export function schemaProblems(schema: TSchema, value: unknown): string[] {
  const problems = new Problems()
  const copy = cloneData(value, [], problems)
  for (const { pointer, message } of messagesFor(Value.Errors(schema, copy))) {
    problems.add(pointerToPath(pointer, copy), message, { unlessReported: true })
  }
  if (problems.list.length === 0) checkAmounts(copy, [], problems)
  return [...problems.list]
}
