/**
 * The standard ILP plugin interface (LedgerPluginInterface v2, as ilp-connector and ilp-protocol-stream
 * use it): what a module named by a `plugin` link must implement, and what we hand its constructor.
 */
import { format } from 'util'
import type { Logger } from 'pino'
import type { Store } from '../store/Store'

export type DataHandler = (data: Buffer) => Promise<Buffer>
export type MoneyHandler = (amount: string) => Promise<void>

export interface IlpPlugin {
  connect: (options?: object) => Promise<void>
  disconnect: () => Promise<void>
  isConnected: () => boolean
  sendData: (data: Buffer) => Promise<Buffer>
  sendMoney: (amount: string) => Promise<void>
  registerDataHandler: (handler: DataHandler) => void
  deregisterDataHandler: () => void
  registerMoneyHandler: (handler: MoneyHandler) => void
  deregisterMoneyHandler: () => void
  on: (event: string, listener: (...args: unknown[]) => void) => unknown
}

export const PLUGIN_METHODS = [
  'connect', 'disconnect', 'isConnected', 'sendData', 'sendMoney', 'registerDataHandler',
  'deregisterDataHandler', 'registerMoneyHandler', 'deregisterMoneyHandler', 'on'
] as const

/** The methods of the interface an object lacks (empty: it is a plugin). */
export function missingPluginMethods (candidate: unknown): string[] {
  if (typeof candidate !== 'object' || candidate === null) return [...PLUGIN_METHODS]
  return PLUGIN_METHODS.filter(name => typeof (candidate as Record<string, unknown>)[name] !== 'function')
}

/** The key-value store plugins get (`api.store`), as in ilp-connector. */
export interface PluginStore {
  get: (key: string) => Promise<string | undefined>
  put: (key: string, value: string) => Promise<void>
  del: (key: string) => Promise<void>
}

/** The debug-style logger plugins get (`api.log`): printf-like arguments. */
export interface PluginLog {
  trace: (...args: unknown[]) => void
  debug: (...args: unknown[]) => void
  info: (...args: unknown[]) => void
  warn: (...args: unknown[]) => void
  error: (...args: unknown[]) => void
}

/** The plugin constructor's second argument. */
export interface PluginApi {
  log: PluginLog
  store: PluginStore
}

const PLUGIN_STORE = 'plugin-store'

/** A plugin's store: records of the connector's store, under the account's id (they ride its group commit). */
export function pluginStore (store: Store, accountId: string): PluginStore {
  const key = (k: string): string => `${accountId}:${k}`
  return {
    get: async (k) => {
      const value = await store.get(PLUGIN_STORE, key(k))
      return typeof value === 'string' ? value : undefined
    },
    // Resolved once durable: payment-channel plugins store a claim before they accept the money it proves.
    put: async (k, value) => { store.put(PLUGIN_STORE, key(k), String(value)); await new Promise<void>(resolve => store.afterDurable(resolve)) },
    del: async (k) => { store.delete(PLUGIN_STORE, key(k)); await new Promise<void>(resolve => store.afterDurable(resolve)) }
  }
}

export function pluginLog (log: Logger): PluginLog {
  return {
    trace: (...args) => { log.trace(format(...args)) },
    debug: (...args) => { log.debug(format(...args)) },
    info: (...args) => { log.info(format(...args)) },
    warn: (...args) => { log.warn(format(...args)) },
    error: (...args) => { log.error(format(...args)) }
  }
}
