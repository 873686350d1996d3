/**
 * Runs one account's standard ILP plugin (a `plugin` link): loads the module, constructs it with its
 * options and `{ log, store }`, registers the handlers, and connects it in the background — a plugin
 * whose `connect()` waits for its first client (ilp-plugin-btp as a server, mini-accounts) never holds
 * up the rest of the connector. Each time the plugin is connected a new PluginLink is attached; when
 * it disconnects that link closes (the actor then answers its packets in flight T01, as for BTP).
 *
 * Failures stay with this account: a module that cannot be loaded or constructed is reported once,
 * naming the account and the module, and the account has no link (its packets get T01); a `connect()`
 * that throws is retried with backoff.
 */
import path from 'path'
import type { Logger } from 'pino'
import { PluginLink, dataHandlerResult } from './PluginLink'
import { IlpPlugin, PluginApi, missingPluginMethods } from './plugin'
import type { Link } from './Link'
import { errorMessage } from './btp'

export interface PluginHostOptions {
  accountId: string
  module: string
  options: Record<string, unknown>
  api: PluginApi
  address: () => string
  /** Hands a connected session to the connector (Connector.attach). */
  attach: (accountId: string, link: Link) => void
  reconnectMinDelayMs: number
  reconnectMaxDelayMs: number
}

type PluginConstructor = new (options: Record<string, unknown>, api: PluginApi) => unknown

/** Loads the module and constructs the plugin; throws an Error whose message says what went wrong. */
export function loadPlugin (moduleName: string, options: Record<string, unknown>, api: PluginApi): IlpPlugin {
  let exported: unknown
  try {
    const isPath = moduleName.startsWith('.') || path.isAbsolute(moduleName)
    const resolved = isPath ? path.resolve(moduleName) : require.resolve(moduleName, { paths: [process.cwd(), __dirname] })
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = require(resolved)
  } catch (e) {
    throw new Error(`cannot load module "${moduleName}": ${errorMessage(e).split('\n')[0]}`)
  }
  const candidate = typeof exported === 'function' ? exported : (exported as { default?: unknown } | null)?.default
  if (typeof candidate !== 'function') throw new Error(`module "${moduleName}" does not export a plugin class (module.exports or its default must be a constructor)`)
  let plugin: unknown
  try {
    plugin = new (candidate as PluginConstructor)(options, api)
  } catch (e) {
    throw new Error(`the constructor of "${moduleName}" threw: ${errorMessage(e)}`)
  }
  const missing = missingPluginMethods(plugin)
  if (missing.length > 0) throw new Error(`module "${moduleName}" does not implement the ILP plugin interface (missing: ${missing.join(', ')})`)
  return plugin as IlpPlugin
}

export class PluginHost {
  private plugin: IlpPlugin | undefined
  private current: PluginLink | undefined
  private stopped = true
  private retryTimer: NodeJS.Timeout | undefined
  /** Why the plugin is not running, if it failed to load (for the operator). */
  failure: string | undefined

  constructor (private readonly options: PluginHostOptions, private readonly log: Logger) {}

  start (): void {
    if (!this.stopped) return
    this.stopped = false
    const { accountId, module } = this.options
    try {
      this.plugin = loadPlugin(module, this.options.options, this.options.api)
    } catch (e) {
      this.failure = errorMessage(e)
      this.log.error({ account: accountId, module, reason: this.failure }, 'plugin failed to load: this account has no link (its packets get T01); the rest of the connector runs')
      return
    }
    const plugin = this.plugin
    try {
      this.register(plugin)
    } catch (e) {
      // A plugin that throws while being set up fails alone, like one that fails to load.
      this.failure = errorMessage(e)
      this.log.error({ account: accountId, module, reason: this.failure }, 'plugin failed to set up: this account has no link (its packets get T01); the rest of the connector runs')
      return
    }
    void this.connect(this.options.reconnectMinDelayMs)
  }

  /** Our handlers and listeners on the plugin. */
  private register (plugin: IlpPlugin): void {
    const { accountId, module } = this.options
    plugin.registerDataHandler(async (data: Buffer) => {
      const link = this.live()
      if (link === undefined) throw new Error('the connector has no link for this plugin right now')
      return dataHandlerResult(await link.fromPeer(data))
    })
    plugin.registerMoneyHandler(async (amount: string) => {
      const link = this.live()
      if (link === undefined) throw new Error('the connector has no link for this plugin right now')
      if (!/^(0|[1-9][0-9]{0,19})$/.test(String(amount))) throw new Error(`invalid amount: ${String(amount).slice(0, 40)}`)
      const answer = await link.moneyFromPeer(BigInt(amount))
      if (answer.kind === 'error') throw new Error(`${answer.code} ${answer.message}`)
    })
    plugin.on('connect', () => { this.live() })
    plugin.on('disconnect', () => { this.down() })
    // An 'error' event with no listener would throw and take the whole process down.
    plugin.on('error', (err: unknown) => { this.log.error({ account: accountId, module, reason: errorMessage(err) }, 'plugin error') })
  }

  /** connect() may wait a long time (for a first client): it runs in the background, retried if it throws. */
  private async connect (delay: number): Promise<void> {
    const plugin = this.plugin
    if (plugin === undefined || this.stopped) return
    try {
      await plugin.connect()
      this.live()
    } catch (e) {
      if (this.stopped) return
      const wait = Math.round(delay * (0.5 + Math.random() / 2))
      this.log.error({ account: this.options.accountId, module: this.options.module, reason: errorMessage(e), retryInMs: wait }, 'plugin failed to connect: retrying')
      this.retryTimer = setTimeout(() => { void this.connect(Math.min(delay * 2, this.options.reconnectMaxDelayMs)) }, wait)
    }
  }

  /** The link of the current session, made when the plugin is (or reports being) connected. */
  private live (): PluginLink | undefined {
    if (this.current !== undefined && !this.current.closed) return this.current
    const plugin = this.plugin
    if (plugin === undefined || this.stopped || !safeIsConnected(plugin)) return undefined
    this.current = new PluginLink(plugin, this.options.accountId, this.options.address)
    this.current.lateAnswer = (frame) => { this.live()?.deliver(frame) }
    this.log.info({ account: this.options.accountId, module: this.options.module }, 'plugin connected')
    this.options.attach(this.options.accountId, this.current)
    return this.current
  }

  private down (): void {
    const link = this.current
    this.current = undefined
    if (link === undefined) return
    this.log.warn({ account: this.options.accountId, module: this.options.module }, 'plugin disconnected')
    void link.close(1001, 'plugin disconnected')
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.down()
    const plugin = this.plugin
    if (plugin === undefined) return
    try {
      // A plugin that never finishes disconnecting must not hold up the shutdown.
      await Promise.race([plugin.disconnect(), new Promise(resolve => setTimeout(resolve, 2000).unref())])
    } catch (e) {
      this.log.warn({ account: this.options.accountId, reason: errorMessage(e) }, 'plugin failed to disconnect')
    }
  }
}

function safeIsConnected (plugin: IlpPlugin): boolean {
  try {
    return plugin.isConnected()
  } catch {
    return false
  }
}
