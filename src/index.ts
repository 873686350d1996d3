/** The library API: embed the connector in another program. */
export { Connector, createConnector } from './Connector'
export type { ConnectorOptions, AccountView } from './Connector'
export { loadConfig, validateConfig, ConfigError } from './config'
export type { Config } from './config'
export type { Store, AccountRecord, ProvisionedAccount } from './store/Store'
export { MemoryStore } from './store/MemoryStore'
export { LevelStore, StoreError } from './store/LevelStore'
