/**
 * The connector as a library object: it builds the actor system (account actors, routing shards),
 * the BTP links (listeners and dialled peers) and the transfer expirer from one validated config, and
 * wires links to actors with RxJS. `npm start` and the tests are thin users of it.
 */
import { mkdirSync } from 'fs'
import { start as startActorSystem, stop as stopActor, spawn, dispatch, Ref } from 'nact'
import * as Ccp from 'ilp-protocol-ccp'
import * as ILDCP from 'ilp-protocol-ildcp'
import { map, Subject, Observable } from 'rxjs'
import type { Config, AccountConfig } from './config'
import { createLogger, Logger } from './log'
import { spawnAccountActor, limitsFromSettings, AccountDeps, AccountInfo, AccountState } from './actors/AccountActor'
import type { AccountMessage, AccountLimitSettings } from './actors/messages'
import { RoutingTable } from './actors/RoutingShard'
import { spawnRouteManager, loadReceivedTables, RouteManagerMessage, RouteManagerState, NeighbourSettings } from './actors/RouteManager'
import { NO_HOP } from './routing/PrefixTable'
import { ExpiryWheel } from './core/ExpiryWheel'
import { ExchangeRates } from './core/ExchangeRates'
import { ControlChannel } from './core/ControlChannel'
import { BtpServer, AuthResult } from './transport/BtpServer'
import { BtpClient } from './transport/BtpClient'
import { LinkRegistry } from './transport/LinkRegistry'
import { decodeFrame, ilpResponseFrame, LinkEvent } from './transport/btp'
import { batchPerTurn } from './transport/rx'
import { AccountDirectory } from './actors/AccountDirectory'
import { rejectPacket, Prepare, Reply } from './protocol/ilp'
import { ilpFrame, BTP_MESSAGE } from './protocol/codec'
import { localAccountId, childAddress, isValidIlpAddress, tokenKey } from './protocol/address'
import { optionalBigInt } from './protocol/amounts'
import type { Store, ProvisionedAccount, StoredLink } from './store/Store'
import { OperationError } from './core/errors'
import { AdminApi } from './admin/AdminApi'
import { Metrics } from './metrics/Metrics'
import { TransferHistory } from './history/TransferHistory'
import { parseBtpUrl } from './transport/BtpClient'
import { isValidSegment } from './config'
import { LevelStore } from './store/LevelStore'
import { SettlementService, SettlingAccount, PEER_SETTLE } from './settlement/SettlementService'
import { transferFrame, emptyResponseFrame, errorFrame } from './transport/btp'
import type { Link } from './transport/Link'
import { HttpPeering } from './transport/HttpPeering'
import { PluginHost } from './transport/PluginHost'
import { pluginLog, pluginStore } from './transport/plugin'
import { Receiver } from './receiver/Receiver'
import { SpspServer } from './receiver/SpspServer'
import type { ReceiverReport } from './receiver/records'

const ROUTING_SHARDS = 4
/** The address of a connector with no parent and no `ilpAddress` configured. */
const DEFAULT_ADDRESS = 'test.local'

export interface ConnectorOptions {
  /** Where state is kept; defaults to LevelDB in the config's dataDir. */
  store?: Store
  logger?: Logger
}

/** Serves one `peer.*` protocol (CCP, settlement) for the accounts' links: the reply now or later. */
export type PeerProtocolHandler = (account: AccountInfo, prepare: Prepare) => Buffer | Promise<Buffer>

/** An account's link came up (its first connection) or went down (its last one closed). */
export interface LinkStateEvent {
  type: 'linkUp' | 'linkDown'
  accountId: string
}

/** Where an account's settings come from: the config file, the admin API, or local mode (a new token). */
export type AccountOrigin = 'config' | 'api' | 'local'

/** An account to create at run time (the admin API's `POST /accounts`); validated by the caller's schema. */
export interface NewAccount extends AccountLimitSettings {
  id: string
  relation: AccountInfo['relation']
  assetCode: string
  assetScale: number
  link: { type: 'btp-server'; listener?: string; token: string } | { type: 'btp-client'; url: string; token?: string }
}

/** A static route, from the config file or added through the admin API. */
export interface StaticRoute {
  prefix: string
  account: string
  source: 'config' | 'api'
}

/** Collection of the static routes added through the admin API (key: the prefix). */
const API_ROUTES_COLLECTION = 'routes'

export interface AccountView {
  id: string
  relation: AccountInfo['relation']
  assetCode: string
  assetScale: number
  address?: string
  balance: string
  heldIncoming: string
  heldOutgoing: string
  connections: number
  packetsInFlight: number
}

/** An account's link as the admin API shows it (no tokens, no URL passwords, no plugin options). */
export type AccountLinkView =
  | { type: 'btp-server'; listener: string }
  | { type: 'btp-client'; url: string }
  | { type: 'http'; incoming: boolean; url?: string }
  | { type: 'plugin'; module: string; failure?: string }
  | { type: 'receiver'; wellKnown: boolean }

export class Connector {
  readonly log: Logger
  private store: Store | undefined
  private system: Ref<unknown> | undefined
  private accountsParent: Ref<unknown> | undefined
  private routing: RoutingTable | undefined
  private readonly accounts = new AccountDirectory()
  private readonly states = new Map<string, AccountState>()
  /** Each account's settings, as its actor was spawned with them. */
  private readonly infos = new Map<string, AccountInfo>()
  /** Local-mode accounts created per listener (for the cap). */
  private readonly localCounts = new Map<string, number>()
  /** Local-mode account id → the listener it was made on (its token opens it there only). */
  private readonly localIds = new Map<string, string>()
  /** New local accounts waiting for their record to be stored, so a second connection waits too. */
  private readonly creating = new Map<string, Promise<AuthResult>>()
  /** Per listener: SHA-256 of a configured token → account id. */
  private readonly tokens = new Map<string, Map<string, string>>()
  private readonly links = new LinkRegistry()
  private readonly wheel: ExpiryWheel
  private readonly servers = new Map<string, BtpServer>()
  private readonly ports = new Map<string, number>()
  /** Links the connector starts and stops itself: BTP clients, HTTP peers, plugins. */
  private readonly clients: Array<{ start: () => void; stop: () => void | Promise<void> }> = []
  private readonly plugins = new Map<string, PluginHost>()
  /** ILP-over-HTTP peers and their listener (built in start()). */
  private httpPeering: HttpPeering | undefined
  /** The connector's own STREAM receivers and their SPSP endpoint. */
  private receiver: Receiver | undefined
  private spspServer: SpspServer | undefined
  private spspBoundPort: number | undefined
  /** Prepares taken in from links and not yet answered: what a graceful stop waits for. */
  private unanswered = 0
  private draining = false
  private deps: AccountDeps | undefined
  /** Exchange rates (static, or polled from an HTTP feed between start() and stop()). */
  readonly rates: ExchangeRates
  /** The connector's own requests to its neighbours (ILDCP, CCP, settlement messages). */
  readonly control: ControlChannel
  private readonly peerProtocols = new Map<string, PeerProtocolHandler>()
  private readonly linkStates = new Subject<LinkStateEvent>()
  /** Our address: configured, or learned from the parent (ILDCP) during start(). */
  private currentAddress: string | undefined
  /** Set once the address is known and every account is live: until then only parents may connect. */
  private ready = false
  private starting: Promise<void> | undefined
  private routeManager: { ref: Ref<RouteManagerMessage>; state: RouteManagerState; stop: () => void } | undefined
  /** Route changes reported before the route manager exists (it records them once spawned). */
  private earlyRouteChanges: string[] = []
  /** Accounts that exchange routes with us (CCP), and how. */
  private readonly neighbours = new Map<string, NeighbourSettings>()
  /** Accounts' links coming up and going down. */
  readonly linkState$: Observable<LinkStateEvent> = this.linkStates.asObservable()
  /** Settlement (RFC 0038 engines, BTP TRANSFER) for the accounts that have it configured. */
  private settlement: SettlementService | undefined
  /** Dialled links by account id (configured and API-created btp-client accounts). */
  private readonly clientsById = new Map<string, BtpClient>()
  /** API-created accounts' settings, by id (as stored). */
  private readonly apiAccounts = new Map<string, ProvisionedAccount>()
  /** Static routes added through the admin API, by prefix. */
  private readonly apiRoutes = new Map<string, string>()
  /** Admin balance adjustments waiting for their account's actor. */
  private readonly adjustments = new Map<number, (balance: string) => void>()
  private nextAdjustmentId = 1
  private admin: AdminApi | undefined
  /** Prometheus metrics (kept only when the admin API, which serves them, is enabled). */
  private metrics: Metrics | undefined
  /** Transfer history (kept only when the admin API, which serves it, is enabled and history is "full"). */
  private transferHistory: TransferHistory | undefined
  private startedAt = 0

  constructor (readonly config: Config, options: ConnectorOptions = {}) {
    this.log = options.logger ?? createLogger(config.log.level)
    this.store = options.store
    this.rates = new ExchangeRates(config.rates, { log: this.log.child({ component: 'rates' }) })
    this.wheel = new ExpiryWheel((accountId, ids) => { this.tell(accountId, { type: 'expire', ids }) })
    this.control = new ControlChannel((accountId, frame) => {
      const ids = this.links.connectionIds(accountId)
      const newest = ids[ids.length - 1]
      return newest !== undefined && this.links.send(accountId, newest, frame(newest))
    })
  }

  /** Makes the connector answer Prepares to a `peer.*` address (other than `peer.config`) from its accounts. */
  registerPeerProtocol (destination: string, handler: PeerProtocolHandler): void {
    if (!destination.startsWith('peer.') || destination === 'peer.config') throw new Error(`not a peer protocol address of its own: ${destination}`)
    this.peerProtocols.set(destination, handler)
  }

  /** Sends a Prepare of the connector's own (a serialized `peer.*` packet) to an account; resolves with its reply. */
  async peerRequest (accountId: string, prepare: Buffer, timeoutMs = 30000): Promise<Reply> {
    const reply = await this.control.request(accountId, requestId => ilpFrame(BTP_MESSAGE, requestId, prepare), timeoutMs)
    if (reply.kind === 'ack') throw new Error(`${accountId} answered a Prepare with an empty BTP RESPONSE`)
    return reply
  }

  /** Our ILP address ('' until it has been learned from the parent). */
  get address (): string { return this.currentAddress ?? '' }

  /** Sends a BTP TRANSFER (an in-band settlement) on the account's link; resolves when the peer acknowledges it. */
  async sendTransfer (accountId: string, amount: bigint, key: string, timeoutMs = 30000): Promise<void> {
    const reply = await this.control.request(accountId, requestId => transferFrame(requestId, amount, key), timeoutMs)
    if (reply.kind !== 'ack') throw new Error(`${accountId} answered a TRANSFER with an ILP packet`)
  }

  /** The bound port of the settlement engines' HTTP API (undefined when no account uses an engine). */
  get settlementPort (): number | undefined { return this.settlement?.port }

  /** The port a listener is bound to (useful when it was configured as 0). */
  port (listener: string): number | undefined { return this.ports.get(listener) }

  /**
   * Starts everything; resolves once the connector serves (with no address of its own: once its parent
   * gave it one). A stop() while starting ends the start early; stop() waits for it.
   */
  async start (): Promise<void> {
    this.starting = this.startAll()
    await this.starting
  }

  private async startAll (): Promise<void> {
    if (this.store === undefined) {
      mkdirSync(this.config.dataDir, { recursive: true })
      this.store = await LevelStore.open(this.config.dataDir, { ...this.config.storage, log: this.log.child({ component: 'store' }) })
      this.log.info({ dataDir: this.config.dataDir, durability: this.config.storage.durability, accounts: this.store.accounts().length }, 'data directory opened')
    }
    const store = this.store
    const parents = Object.entries(this.config.accounts).filter(([, a]) => a.relation === 'parent').map(([id]) => id)
    this.currentAddress = this.config.ilpAddress ?? (parents.length > 0 ? undefined : DEFAULT_ADDRESS)
    this.system = startActorSystem()
    this.accountsParent = spawn(this.system, (s: null) => s, 'accounts')
    this.routing = new RoutingTable(this.system, ROUTING_SHARDS, this.log.child({ component: 'routing' }), prefixes => {
      if (this.routeManager === undefined) this.earlyRouteChanges.push(...prefixes)
      else dispatch(this.routeManager.ref, { type: 'changed', prefixes })
    })
    const routing = this.routing
    const savedRoutes = await loadReceivedTables(store)
    await this.rates.start()
    if (this.draining) return
    this.registerRouteProtocols()
    const metrics = this.config.admin.enabled
      ? this.metrics = new Metrics({
        accountIds: () => this.accounts.ids(),
        accountOrigin: (id) => this.accountOrigin(id),
        account: (id) => this.account(id),
        routingTableSize: () => routing.size,
        packetsInFlight: () => this.unanswered
      })
      : undefined
    const history = this.config.admin.enabled && this.config.admin.history === 'full'
      ? this.transferHistory = new TransferHistory(store, this.config.admin.historyRetentionHours * 3600_000,
        // A transfer ends by its deadline: the hold time and the message window (plus a margin) after it came in.
        this.config.packets.maxHoldTimeMs + this.config.packets.minMessageWindowMs + 5000, this.log.child({ component: 'history' }))
      : undefined
    await history?.start()
    this.deps = {
      ilpAddress: () => this.address,
      expiry: this.config.packets,
      maxInFlight: this.config.packets.maxInFlightPerAccount,
      now: Date.now,
      lookupRoute: (destination) => routing.lookup(destination),
      convert: this.rates.convert,
      directory: this.accounts,
      send: (accountId, connectionId, frame) => this.links.send(accountId, connectionId, frame),
      connectionIds: (accountId) => this.links.connectionIds(accountId),
      expireAt: (accountId, id, expiresAt) => this.wheel.add(accountId, id, expiresAt),
      store,
      log: this.log.child({ component: 'account' }),
      answered: (count) => { this.unanswered -= count },
      linkBatchHandled: (connectionId) => { this.links.get(connectionId)?.batchHandled() },
      stateCreated: (state) => { this.states.set(state.info.id, state) },
      peerRequest: (account, prepare) => {
        const handler = this.peerProtocols.get(prepare.destination)
        if (handler === undefined) return rejectPacket('F02', this.address, `unsupported peer protocol: ${prepare.destination}`)
        return handler(account, prepare)
      },
      controlAnswer: (accountId, requestId, reply) => { this.control.answer(accountId, requestId, reply) },
      settle: (accountId, key, amount) => { this.settlement?.settle(accountId, key, amount) },
      settlementCredited: (_accountId, recordKey) => { this.settlement?.credited(recordKey) },
      incomingTransfer: (accountId, connectionId, requestId, amount, key) => {
        if (this.settlement === undefined) this.links.send(accountId, connectionId, errorFrame(requestId, 'T00', 'TemporaryError', 'settlement is not running'))
        else this.settlement.incomingTransfer(accountId, connectionId, requestId, amount, key)
      },
      observePacket: metrics === undefined ? undefined : (accountId, outcome, latencyMs) => { metrics.packet(accountId, outcome, latencyMs) },
      history,
      balanceAdjusted: (accountId, adjustmentId, balance) => {
        const done = this.adjustments.get(adjustmentId)
        this.adjustments.delete(adjustmentId)
        // Answered once the new balance is on disk (strict durability), as a Fulfill would be.
        if (done !== undefined) store.afterCommit(() => done(balance))
      },
      received: (accountId, amount, condition) => { this.receiver?.credit(accountId, amount, condition, Date.now()) }
    }
    this.httpPeering = new HttpPeering(this.config.http, this.log.child({ component: 'http' }))
    this.receiver = new Receiver({
      store,
      log: this.log.child({ component: 'receiver' }),
      address: () => this.address,
      accountAddress: (id) => this.infos.get(id)?.address ?? childAddress(this.address, id),
      attach: (accountId, link) => this.attach(accountId, link)
    })

    // Parents first: with no address of our own, we ask one for it before anyone else may connect.
    for (const id of parents) this.addConfiguredAccount(id, this.config.accounts[id])
    for (const [name, listener] of Object.entries(this.config.listeners)) {
      const server = new BtpServer(
        { name, host: listener.host, port: listener.port, ...this.config.btp },
        (l, token) => this.authenticate(l, token),
        (accountId, connection) => this.attach(accountId, connection),
        this.log.child({ component: 'btp-server' })
      )
      this.servers.set(name, server)
      this.ports.set(name, await server.listen())
    }
    this.links.startPinging(this.config.btp.pingIntervalMs)
    for (const client of this.clients) client.start()
    if (this.currentAddress === undefined) {
      this.currentAddress = await this.learnAddress(parents[0])
      if (this.currentAddress === undefined) return // stopped while waiting
    }

    this.routeManager = spawnRouteManager(this.system, savedRoutes, {
      address: this.currentAddress,
      settings: this.config.routing,
      routing,
      store,
      log: this.log.child({ component: 'ccp' }),
      now: Date.now,
      relationOf: (id) => this.states.get(id)?.info.relation,
      request: async (accountId, prepare, timeoutMs) => await this.peerRequest(accountId, prepare, timeoutMs)
    })
    dispatch(this.routeManager.ref, { type: 'changed', prefixes: this.earlyRouteChanges })
    this.earlyRouteChanges = []
    this.linkState$.subscribe(event => {
      if (this.neighbours.has(event.accountId) && this.routeManager !== undefined) dispatch(this.routeManager.ref, { type: event.type, id: event.accountId })
    })
    // Packets to our own address space that match no account are for no one: F02 here.
    routing.add({ prefix: this.currentAddress, nextHop: NO_HOP, kind: 'self' })
    const started = this.clients.length
    for (const [id, account] of Object.entries(this.config.accounts)) if (account.relation !== 'parent') this.addConfiguredAccount(id, account)
    // Accounts the connector made at run time come back with their balances.
    for (const record of store.accounts()) {
      if (record.provisioned !== undefined && record.provisioned.removedAt === undefined && !this.accounts.has(record.id)) this.addProvisionedAccount(record.id, record.provisioned)
    }
    for (const route of this.config.routes) routing.add({ prefix: route.prefix, nextHop: route.account, kind: 'static' })
    // Routes added through the admin API; the config file's win a prefix both name.
    for (const { key: prefix, value } of await store.list(API_ROUTES_COLLECTION)) {
      const account = (value as { account: string }).account
      if (this.config.routes.some(r => r.prefix === prefix) || !this.accounts.has(account)) continue
      this.apiRoutes.set(prefix, account)
      routing.add({ prefix, nextHop: account, kind: 'static' })
    }
    // Parents were added before the route manager existed: tell it about them now (the others told it themselves).
    for (const id of parents) this.registerNeighbour(id)
    await this.startSettlement(store)
    if (this.draining) return
    for (const client of this.clients.slice(started)) client.start()
    const httpPort = await this.httpPeering.listen()
    await this.startReceivers()
    this.ready = true
    this.startedAt = Date.now()
    if (this.config.admin.enabled) {
      this.admin = new AdminApi(this, this.config.admin, store, this.metrics, this.log.child({ component: 'admin' }))
      await this.admin.listen()
    }
    this.log.info({ address: this.address, accounts: this.accounts.size, listeners: Object.fromEntries(this.ports), admin: this.admin?.port, metrics: this.admin?.metricsPort, httpPort, spspPort: this.spspBoundPort }, 'connector started')
  }

  /** The STREAM receivers (after every account is live: they ask for their address over ILDCP) and the SPSP listener. */
  private async startReceivers (): Promise<void> {
    const receiver = this.receiver
    if (receiver === undefined || receiver.size === 0) return
    await receiver.start()
    const wellKnown = Object.entries(this.config.accounts).find(([, a]) => a.link.type === 'receiver' && a.link.wellKnown)?.[0]
    this.spspServer = new SpspServer({ ...this.config.spsp, wellKnownAccount: wellKnown }, receiver, this.log.child({ component: 'spsp' }))
    this.spspBoundPort = await this.spspServer.listen()
  }

  /** The bound port of the ILP-over-HTTP listener (undefined when no account takes incoming HTTP). */
  get httpPort (): number | undefined { return this.httpPeering?.port }

  /** The bound port of the SPSP listener (undefined when no account is a receiver). */
  get spspPort (): number | undefined { return this.spspBoundPort }

  /**
   * What a receiving account was credited: totals and one receipt per STREAM connection (for the
   * admin API). Undefined for an account that is not a receiver.
   */
  receipts (accountId: string): ReceiverReport | undefined {
    return this.receiver?.report(accountId)
  }

  /** Why a plugin account has no link, if its module failed to load (undefined otherwise). */
  pluginFailure (accountId: string): string | undefined {
    return this.plugins.get(accountId)?.failure
  }

  /**
   * ILDCP (RFC 0031) as a client: asks the parent for our address, waiting for its link and retrying
   * until it answers (or the connector is stopped: then undefined).
   */
  private async learnAddress (parent: string): Promise<string | undefined> {
    const log = this.log.child({ component: 'ildcp', account: parent })
    const startedAt = Date.now()
    let lastReport = startedAt
    let lastError = ''
    log.info('no ilpAddress configured: asking the parent for ours (ILDCP)')
    while (!this.draining) {
      let info: ILDCP.IldcpResponse | undefined
      try {
        info = await ILDCP.fetch(async (data) => (await this.peerRequest(parent, data, this.config.routing.requestTimeoutMs)).packet)
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e)
      }
      if (info !== undefined) {
        if (!isValidIlpAddress(info.clientAddress)) throw new Error(`the parent ${parent} gave an invalid address over ILDCP: ${JSON.stringify(info.clientAddress)}`)
        const ours = this.config.accounts[parent]
        // Every balance, limit and settlement with the parent would be off by the difference: refuse to run.
        if (info.assetCode !== ours.assetCode || info.assetScale !== ours.assetScale) {
          throw new Error(`the parent ${parent} uses asset ${info.assetCode} scale ${info.assetScale}, but accounts.${parent} is configured with ${ours.assetCode} scale ${ours.assetScale}: fix accounts.${parent}.assetCode / assetScale`)
        }
        log.info({ address: info.clientAddress }, 'address learned from the parent')
        return info.clientAddress
      }
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now()
        log.warn({ waitedMs: lastReport - startedAt, reason: lastError }, 'still waiting for the parent to give us our address')
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    return undefined
  }

  /** CCP: the route control and route update requests of our neighbours go to the route manager. */
  private registerRouteProtocols (): void {
    const reject = (code: 'F00' | 'F01' | 'T00', message: string): Buffer => rejectPacket(code, this.address, message)
    this.registerPeerProtocol(Ccp.CCP_CONTROL_DESTINATION, (account, prepare) => {
      if (this.routeManager === undefined) return reject('T00', 'the connector is starting')
      if (this.neighbours.get(account.id)?.sendRoutes !== true) return reject('F00', `routes are not sent to account ${account.id} (its sendRoutes is off)`)
      let control: Ccp.CcpRouteControlRequest
      try {
        control = Ccp.deserializeCcpRouteControlRequest(prepare.packet)
      } catch (e) {
        return reject('F01', `invalid route control request: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (control.mode !== Ccp.Mode.MODE_SYNC && control.mode !== Ccp.Mode.MODE_IDLE) return reject('F01', `invalid route control request: unknown mode ${String(control.mode)}`)
      dispatch(this.routeManager.ref, {
        type: 'control',
        from: account.id,
        sync: control.mode === Ccp.Mode.MODE_SYNC,
        lastKnownTableId: control.lastKnownRoutingTableId,
        lastKnownEpoch: control.lastKnownEpoch
      })
      return Ccp.serializeCcpResponse()
    })
    this.registerPeerProtocol(Ccp.CCP_UPDATE_DESTINATION, (account, prepare) => {
      if (this.routeManager === undefined) return reject('T00', 'the connector is starting')
      if (this.neighbours.get(account.id)?.receiveRoutes !== true) return reject('F00', `routes from account ${account.id} are not accepted (its receiveRoutes is off)`)
      let update: Ccp.CcpRouteUpdateRequest
      try {
        update = Ccp.deserializeCcpRouteUpdateRequest(prepare.packet)
      } catch (e) {
        return reject('F01', `invalid route update request: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (update.fromEpochIndex > update.toEpochIndex) return reject('F01', `invalid route update: fromEpochIndex ${update.fromEpochIndex} is after toEpochIndex ${update.toEpochIndex}`)
      dispatch(this.routeManager.ref, { type: 'update', from: account.id, update })
      return Ccp.serializeCcpResponse()
    })
  }

  /**
   * An account that exchanges routes with us (CCP): by default parents and peers both ways, children
   * not at all (a child connector gets `receiveRoutes` in its settings).
   */
  private addNeighbour (info: AccountInfo, sendRoutes = info.relation !== 'child', receiveRoutes = info.relation !== 'child'): void {
    if (!sendRoutes && !receiveRoutes) return
    this.neighbours.set(info.id, { id: info.id, relation: info.relation, address: info.address, sendRoutes, receiveRoutes })
    this.registerNeighbour(info.id)
  }

  /** Tells the route manager about a neighbour (and its link, if already up). */
  private registerNeighbour (id: string): void {
    const settings = this.neighbours.get(id)
    if (settings === undefined || this.routeManager === undefined) return
    dispatch(this.routeManager.ref, { type: 'neighbour', neighbour: settings })
    if (this.links.connectionIds(id).length > 0) dispatch(this.routeManager.ref, { type: 'linkUp', id })
  }

  /**
   * Graceful stop: refuse new packets, wait (up to the longest hold time) for those in flight to be
   * answered or expire, then close links and flush the store.
   */
  async stop (drainTimeoutMs = this.config.packets.maxHoldTimeMs + this.config.packets.minMessageWindowMs + 1000): Promise<void> {
    if (this.draining) return
    this.draining = true
    if (this.starting !== undefined && !this.ready) {
      // Stopped while starting: end the start (a request to the parent waiting for our address fails now).
      this.control.close()
      await this.starting.catch(() => {})
    }
    this.log.info({ packetsInFlight: this.unanswered }, 'stopping: no new packets, draining those in flight')
    await Promise.all([...this.servers.values()].map(s => s.close()))
    this.httpPeering?.stopListening()
    this.spspServer?.close()
    const deadline = Date.now() + drainTimeoutMs
    while (this.unanswered > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    if (this.unanswered > 0) this.log.warn({ packetsInFlight: this.unanswered }, 'drain timed out')
    // Fulfills waiting for their group commit go out before any link closes (dialled ones included:
    // an HTTP or plugin peer charged for a packet must get its Fulfill).
    await this.store?.flush()
    await Promise.all(this.clients.map(async client => { await client.stop() }))
    await this.receiver?.stop()
    this.routeManager?.stop()
    await this.settlement?.stop()
    this.control.close()
    this.rates.stop()
    this.transferHistory?.stop()
    // Fulfills waiting for their group commit go out before the links close.
    await this.store?.flush()
    await this.links.close()
    this.httpPeering?.close()
    this.links.stopPinging()
    this.wheel.stop()
    // The admin API stays up while draining (status and /healthz say so; changes are refused).
    await this.admin?.close()
    await this.store?.close()
    if (this.system !== undefined) stopActor(this.system)
    this.log.info('connector stopped')
  }

  get packetsInFlight (): number { return this.unanswered }

  account (id: string): AccountView | undefined {
    const s = this.states.get(id)
    if (s === undefined) return undefined
    return {
      id,
      relation: s.info.relation,
      assetCode: s.info.asset.code,
      assetScale: s.info.asset.scale,
      address: s.info.address,
      balance: s.balance.balance.toString(),
      heldIncoming: s.balance.heldIncoming.toString(),
      heldOutgoing: s.balance.heldOutgoing.toString(),
      connections: s.connections.length,
      packetsInFlight: s.incoming.size + s.outgoing.size
    }
  }

  accountIds (): string[] { return this.accounts.ids() }

  /** Id of the local-mode account a token opens (the token itself is never stored or logged). */
  localAccountId (token: string): string { return localAccountId(token) }

  private tell (accountId: string, msg: AccountMessage): boolean {
    return this.accounts.tell(accountId, msg)
  }

  private async startSettlement (store: Store): Promise<void> {
    const accounts = new Map<string, SettlingAccount>()
    for (const [id, account] of Object.entries(this.config.accounts)) {
      const info = this.infos.get(id)
      if (account.settlement !== undefined && info !== undefined) accounts.set(id, { info, settlement: account.settlement })
    }
    if (accounts.size === 0) return
    const settlement = new SettlementService({
      config: this.config.settlement,
      accounts,
      store,
      log: this.log.child({ component: 'settlement' }),
      now: Date.now,
      tell: (accountId, msg) => this.tell(accountId, msg),
      peerRequest: async (accountId, prepare, timeoutMs) => await this.peerRequest(accountId, prepare, timeoutMs),
      sendTransfer: async (accountId, amount, key, timeoutMs) => { await this.sendTransfer(accountId, amount, key, timeoutMs) },
      sendFrame: (accountId, connectionId, frame) => this.links.send(accountId, connectionId, frame),
      transferAnswer: (requestId, error) => error === undefined ? emptyResponseFrame(requestId) : errorFrame(requestId, 'F00', 'NotAcceptedError', error)
    })
    this.settlement = settlement
    this.registerPeerProtocol(PEER_SETTLE, async (account, prepare) => await settlement.fromPeer(account, prepare))
    this.linkState$.subscribe(event => { if (event.type === 'linkUp') settlement.linkUp(event.accountId) })
    await settlement.start()
  }

  // ---- run-time management (the admin API is a thin user of these) --------------------------------

  /** Transfer history, when kept (admin API enabled, `admin.history` "full"). */
  get history (): TransferHistory | undefined { return this.transferHistory }

  /** True once stop() has begun. */
  get isDraining (): boolean { return this.draining }

  /** Seconds since start(). */
  get uptimeSeconds (): number { return this.startedAt === 0 ? 0 : Math.floor((Date.now() - this.startedAt) / 1000) }

  get storeHealthy (): boolean { return this.store?.healthy ?? false }

  /** Where an account's settings come from, or undefined if there is no such account. */
  accountOrigin (id: string): AccountOrigin | undefined {
    if (!this.accounts.has(id)) return undefined
    if (this.config.accounts[id] !== undefined) return 'config'
    return this.apiAccounts.has(id) ? 'api' : 'local'
  }

  /** Whether an account exists or existed (a removed account's record is kept, marked removed). */
  accountExisted (id: string): boolean {
    return this.accounts.has(id) || this.store?.loadAccount(id) !== undefined
  }

  /** How an account is linked, without secrets: a listener, the URL it dials (no password), the plugin module... */
  accountLink (id: string): AccountLinkView | undefined {
    const configured = this.config.accounts[id]
    const link = configured?.link ?? this.apiAccounts.get(id)?.link
    if (link === undefined) {
      const listener = this.localIds.get(id)
      return listener === undefined ? undefined : { type: 'btp-server', listener }
    }
    if (link.type === 'btp-server') return { type: 'btp-server', listener: link.listener }
    if (link.type === 'http') return { type: 'http', incoming: link.incoming !== undefined, url: link.outgoing === undefined ? undefined : withoutPassword(link.outgoing.url) }
    if (link.type === 'plugin') return { type: 'plugin', module: link.module, failure: this.pluginFailure(id) }
    if (link.type === 'receiver') return { type: 'receiver', wellKnown: link.wellKnown }
    return { type: 'btp-client', url: withoutPassword(link.url) }
  }

  /** An account's limits as plain data (absent: no limit). */
  accountLimits (id: string): AccountLimitSettings | undefined {
    const s = this.states.get(id)
    if (s === undefined) return undefined
    const { info } = s
    return dropUndefined({
      minBalance: info.limits.minBalance?.toString(),
      maxBalance: info.limits.maxBalance?.toString(),
      maxPacketAmount: info.maxPacketAmount?.toString(),
      packetsPerSecond: info.packetsPerSecond,
      throughputLimit: info.throughputLimit === undefined ? undefined : { amount: info.throughputLimit.amount.toString(), periodMs: info.throughputLimit.periodMs }
    })
  }

  private requireRunning (): Store {
    if (this.store === undefined || this.deps === undefined) throw new OperationError('unavailable', 'the connector is not started')
    if (this.draining) throw new OperationError('unavailable', 'the connector is shutting down')
    return this.store
  }

  /**
   * Creates an account at run time: stored with its settings (a server-side token only as its hash),
   * live at once (its token opens it on its listener, or it dials out), its route added. Resolves once
   * the record is on disk. Checks everything first: nothing is applied when it throws.
   */
  async createAccount (spec: NewAccount): Promise<void> {
    const store = this.requireRunning()
    if (!isValidSegment(spec.id)) throw new OperationError('invalid', 'id: must use only letters, digits, "_", "~" and "-"')
    if (this.accounts.has(spec.id) || this.creating.has(spec.id)) throw new OperationError('conflict', `id: an account named ${JSON.stringify(spec.id)} already exists`)
    // A removed account's history and records are kept under its id: a new account may not take it over.
    if (this.store?.loadAccount(spec.id) !== undefined) throw new OperationError('conflict', `id: ${JSON.stringify(spec.id)} belonged to an account that was removed (its history is kept under that id): choose another id`)
    let link: StoredLink
    let listener = ''
    if (spec.link.type === 'btp-server') {
      const names = Object.keys(this.config.listeners)
      listener = spec.link.listener ?? (names.length === 1 ? names[0] : '')
      if (listener === '') throw new OperationError('invalid', `link.listener: is required when there is not exactly one listener (listeners: ${names.join(', ')})`)
      if (this.config.listeners[listener] === undefined) throw new OperationError('invalid', `link.listener: no listener named ${JSON.stringify(listener)} (listeners: ${names.join(', ')})`)
      const hash = tokenKey(spec.link.token)
      for (const byToken of this.tokens.values()) {
        if (byToken.has(hash)) throw new OperationError('conflict', 'link.token: another account already has this token (btp-server tokens must be unique)')
      }
      if (this.accounts.has(localAccountId(spec.link.token))) throw new OperationError('conflict', 'link.token: this token already opens an account made in local mode')
      link = { type: 'btp-server', listener, tokenHash: hash }
    } else {
      let parsed
      try {
        parsed = parseBtpUrl(spec.link.url)
      } catch {
        throw new OperationError('invalid', 'link.url: must be a btp+ws:// or btp+wss:// URL')
      }
      const token = spec.link.token ?? parsed.token
      if (token === '') throw new OperationError('invalid', 'link.token: is required: set token, or give it in the url as btp+ws://:TOKEN@host:port')
      link = { type: 'btp-client', url: spec.link.url, token }
    }
    const provisioned: ProvisionedAccount = dropUndefined({
      listener,
      relation: spec.relation,
      assetCode: spec.assetCode,
      assetScale: spec.assetScale,
      address: spec.relation === 'child' ? childAddress(this.address, spec.id) : undefined,
      minBalance: spec.minBalance,
      maxBalance: spec.maxBalance,
      maxPacketAmount: spec.maxPacketAmount,
      packetsPerSecond: spec.packetsPerSecond,
      throughputLimit: spec.throughputLimit,
      createdAt: Date.now(),
      origin: 'api' as const,
      link
    })
    // A previous account of the same id (removed) starts over from zero.
    store.saveAccount({ id: spec.id, balance: '0', provisioned })
    this.addProvisionedAccount(spec.id, provisioned)
    this.clientsById.get(spec.id)?.start()
    this.log.info({ account: spec.id, relation: spec.relation, link: link.type }, 'account created through the admin API')
    await new Promise<void>(resolve => store.afterCommit(resolve))
  }

  /** New limits for an API-created or local-mode account (stored, then applied by its actor). */
  /**
   * Changes an account's limits: `changes` names the limits to set (null removes one); the others stay.
   * Merged here, at once, with the stored settings (not with what the actor has applied so far), so two
   * changes made together both count.
   */
  async updateAccountLimits (id: string, changes: { [K in keyof AccountLimitSettings]?: AccountLimitSettings[K] | null }): Promise<void> {
    const store = this.requireRunning()
    const origin = this.accountOrigin(id)
    if (origin === undefined) throw new OperationError('not-found', `no account named ${JSON.stringify(id)}`)
    if (origin === 'config') throw new OperationError('conflict', `account ${JSON.stringify(id)} is defined in the config file, which is its source of truth: change it there`)
    const record = store.loadAccount(id)
    if (record?.provisioned === undefined) throw new OperationError('not-found', `no account named ${JSON.stringify(id)}`)
    const { minBalance, maxBalance, maxPacketAmount, packetsPerSecond, throughputLimit, ...rest } = record.provisioned
    const merged: Record<string, unknown> = { minBalance, maxBalance, maxPacketAmount, packetsPerSecond, throughputLimit }
    for (const [k, v] of Object.entries(changes)) merged[k] = v === null ? undefined : v
    const limits = dropUndefined(merged) as AccountLimitSettings
    if (limits.minBalance !== undefined && limits.maxBalance !== undefined && BigInt(limits.minBalance) > BigInt(limits.maxBalance)) {
      throw new OperationError('invalid', `minBalance: must be <= maxBalance ("${limits.minBalance}" > "${limits.maxBalance}")`)
    }
    const provisioned: ProvisionedAccount = dropUndefined({ ...rest, ...limits })
    store.saveAccount({ ...record, provisioned })
    if (origin === 'api') this.apiAccounts.set(id, provisioned)
    this.tell(id, { type: 'setLimits', limits: dropUndefined({ ...limits }) })
    await new Promise<void>(resolve => store.afterCommit(resolve))
  }

  /**
   * Removes an account made at run time (through the API or in local mode): its links close, its actor
   * stops (packets to it then get F02), its routes are withdrawn, its record is kept marked removed
   * (with its last balance) so it is not restored. Accounts of the config file are refused.
   */
  async removeAccount (id: string, options: { force?: boolean } = {}): Promise<void> {
    const store = this.requireRunning()
    const origin = this.accountOrigin(id)
    if (origin === undefined) throw new OperationError('not-found', `no account named ${JSON.stringify(id)}`)
    if (origin === 'config') throw new OperationError('conflict', `account ${JSON.stringify(id)} is defined in the config file, which is its source of truth: remove it there`)
    // Money still owed either way is not dropped without the operator saying so.
    const view = this.account(id)
    if (options.force !== true && view !== undefined && (view.balance !== '0' || view.packetsInFlight > 0)) {
      throw new OperationError('conflict', `account ${JSON.stringify(id)} has a balance of ${view.balance}${view.packetsInFlight > 0 ? ` and ${view.packetsInFlight} packets in flight` : ''}: settle or adjust it to 0 first, or remove it with force`)
    }
    const address = this.address
    // Packets in flight through it are answered now rather than left to their deadlines.
    const state = this.states.get(id)
    if (state !== undefined) {
      for (const p of state.outgoing.values()) {
        if (p.sourceAnswered) continue
        this.tell(p.source.account, { type: 'forwardResult', seq: p.source.seq, reply: { kind: 'reject', code: 'T01', packet: rejectPacket('T01', address, `account ${id} was removed with the packet in flight`) } })
      }
      // Its own Prepares in flight can no longer be answered (its links close): a stop must not wait for them.
      this.unanswered -= state.incoming.size
    }
    const ref = this.accounts.delete(id)
    if (ref !== undefined) stopActor(ref)
    this.states.delete(id)
    for (const byToken of this.tokens.values()) {
      for (const [hash, owner] of byToken) if (owner === id) byToken.delete(hash)
    }
    const client = this.clientsById.get(id)
    if (client !== undefined) {
      client.stop()
      this.clientsById.delete(id)
      this.clients.splice(this.clients.indexOf(client), 1)
    }
    const listener = this.localIds.get(id)
    if (listener !== undefined) {
      this.localIds.delete(id)
      this.localCounts.set(listener, (this.localCounts.get(listener) ?? 1) - 1)
    }
    this.apiAccounts.delete(id)
    this.metrics?.forget(id)
    // Its routes leave the table (and, through the route manager, our neighbours' tables).
    if (this.neighbours.delete(id) && this.routeManager !== undefined) dispatch(this.routeManager.ref, { type: 'neighbourRemoved', id })
    this.routing?.removeNextHop(id)
    for (const [prefix, account] of this.apiRoutes) {
      if (account !== id) continue
      this.apiRoutes.delete(prefix)
      store.delete(API_ROUTES_COLLECTION, prefix)
    }
    const record = store.loadAccount(id)
    if (record?.provisioned !== undefined) store.saveAccount({ ...record, provisioned: { ...record.provisioned, removedAt: Date.now() } })
    await Promise.all(this.links.connectionIds(id).map(async c => await this.links.get(c)?.close(4001, 'account removed')))
    this.log.info({ account: id }, 'account removed')
    await new Promise<void>(resolve => store.afterCommit(resolve))
  }

  /**
   * Adds `amount` (signed) to an account's committed balance, through its actor (never written from
   * outside). Resolves with the new balance once it is stored.
   */
  async adjustBalance (id: string, amount: bigint, reason: string): Promise<string> {
    this.requireRunning()
    if (!this.accounts.has(id)) throw new OperationError('not-found', `no account named ${JSON.stringify(id)}`)
    const adjustmentId = this.nextAdjustmentId++
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.adjustments.delete(adjustmentId)
        // It may still be applied (it is in the account's mailbox, or its write is slow): say so, so that
        // nobody adds it a second time believing it failed.
        reject(new OperationError('unavailable', `the adjustment of account ${JSON.stringify(id)} was submitted but not confirmed within 10 s: it may still be applied; read the balance before trying again`))
      }, 10000)
      timer.unref()
      this.adjustments.set(adjustmentId, (balance) => { clearTimeout(timer); resolve(balance) })
      this.tell(id, { type: 'adjustBalance', adjustmentId, amount: amount.toString(), reason })
    })
  }

  /** The static routes: the config file's, then those added through the admin API. */
  staticRoutes (): StaticRoute[] {
    return [
      ...this.config.routes.map(r => ({ prefix: r.prefix, account: r.account, source: 'config' as const })),
      ...[...this.apiRoutes].map(([prefix, account]) => ({ prefix, account, source: 'api' as const }))
    ]
  }

  /** The routing table as the connector sees it: every candidate route, and whether it is the one used. */
  routingTable (): Array<{ prefix: string; nextHop: string; kind: string; best: boolean }> {
    const routing = this.routing
    if (routing === undefined) return []
    return routing.tables.flatMap(t => t.routes().map(r => ({ prefix: r.prefix, nextHop: r.nextHop, kind: r.kind, best: t.nextHop(r.prefix) === r.nextHop })))
      .sort((a, b) => a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0)
  }

  get routingTableSize (): number { return this.routing?.size ?? 0 }

  /** Adds a static route (stored, restored at start). Its prefix must not have one already. */
  async addStaticRoute (prefix: string, account: string): Promise<void> {
    const store = this.requireRunning()
    if (!this.accounts.has(account)) throw new OperationError('not-found', `account: no account named ${JSON.stringify(account)}`)
    if (prefix === this.address) throw new OperationError('invalid', `prefix: ${JSON.stringify(prefix)} is this connector's own address: a route for it would hand the connector's whole address space (and what it announces to its peers) to one account`)
    const existing = this.staticRoutes().find(r => r.prefix === prefix)
    if (existing !== undefined) throw new OperationError('conflict', `prefix: ${JSON.stringify(prefix)} already has a static route (to ${existing.account}, from the ${existing.source === 'config' ? 'config file' : 'admin API'})`)
    this.apiRoutes.set(prefix, account)
    store.put(API_ROUTES_COLLECTION, prefix, { account, createdAt: Date.now() })
    this.routing?.add({ prefix, nextHop: account, kind: 'static' })
    await new Promise<void>(resolve => store.afterCommit(resolve))
  }

  /** Removes a static route added through the admin API (the config file's are refused). */
  async removeStaticRoute (prefix: string): Promise<void> {
    const store = this.requireRunning()
    const account = this.apiRoutes.get(prefix)
    if (account === undefined) {
      if (this.config.routes.some(r => r.prefix === prefix)) throw new OperationError('conflict', `the route for ${JSON.stringify(prefix)} is defined in the config file, which is its source of truth: remove it there`)
      throw new OperationError('not-found', `no static route for ${JSON.stringify(prefix)}`)
    }
    this.apiRoutes.delete(prefix)
    store.delete(API_ROUTES_COLLECTION, prefix)
    this.routing?.remove(prefix, account, 'static')
    await new Promise<void>(resolve => store.afterCommit(resolve))
  }

  /** Whether each account's link is up (it has at least one live connection). */
  linkStatus (): Array<{ account: string; up: boolean; connections: number }> {
    return this.accounts.ids().map(account => {
      const connections = this.links.connectionIds(account).length
      return { account, up: connections > 0, connections }
    })
  }

  /** The admin API's bound port (when enabled and started). */
  get adminPort (): number | undefined { return this.admin?.port }

  private addConfiguredAccount (id: string, account: AccountConfig): void {
    const info: AccountInfo = {
      id,
      relation: account.relation,
      asset: { code: account.assetCode, scale: account.assetScale },
      address: account.relation === 'child' ? childAddress(this.address, id) : undefined,
      ...limitsFromSettings(account),
      settlement: account.settlement === undefined
        ? undefined
        : {
            threshold: optionalBigInt(account.settlement.threshold),
            settleTo: BigInt(account.settlement.settleTo),
            creditTransfers: account.settlement.method.type === 'btp-transfer' && account.settlement.method.creditIncoming
          },
      receiving: account.link.type === 'receiver' ? true : undefined
    }
    this.spawnAccount(info)
    this.addNeighbour(info, account.sendRoutes, account.receiveRoutes)
    const link = account.link
    if (link.type === 'btp-server') {
      let byToken = this.tokens.get(link.listener)
      if (byToken === undefined) this.tokens.set(link.listener, byToken = new Map())
      byToken.set(tokenKey(link.token), id)
    } else if (link.type === 'btp-client') {
      this.addClient(id, link.url, link.token)
    } else if (link.type === 'http') {
      this.clients.push((this.httpPeering as HttpPeering).add(id, link, this.config.packets.maxHoldTimeMs, () => this.address, (accountId, l) => this.attach(accountId, l)))
    } else if (link.type === 'plugin') {
      const log = this.log.child({ component: 'plugin', account: id })
      const host = new PluginHost({
        accountId: id,
        module: link.module,
        options: link.options,
        api: { log: pluginLog(log), store: pluginStore(this.store as Store, id) },
        address: () => this.address,
        attach: (accountId, l) => this.attach(accountId, l),
        reconnectMinDelayMs: this.config.btp.reconnectMinDelayMs,
        reconnectMaxDelayMs: this.config.btp.reconnectMaxDelayMs
      }, log)
      this.plugins.set(id, host)
      this.clients.push(host)
    } else {
      this.receiver?.add(id)
    }
    if (info.relation === 'parent') this.routing?.add({ prefix: '', nextHop: id, kind: 'parent-default' })
  }

  private spawnAccount (info: AccountInfo): void {
    if (this.accountsParent === undefined || this.deps === undefined) throw new Error('connector not started')
    this.accounts.set(info.id, spawnAccountActor(this.accountsParent, info, this.deps))
    this.infos.set(info.id, info)
    if (info.address !== undefined) this.routing?.add({ prefix: info.address, nextHop: info.id, kind: 'local' })
  }

  /**
   * Which account a BTP token opens on a listener. In local mode a new token makes a new child
   * account, acknowledged only once it is stored.
   */
  private authenticate (listener: string, token: string): AuthResult | Promise<AuthResult> {
    if (this.draining) return { ok: false, message: 'connector is shutting down' }
    const configured = this.tokens.get(listener)?.get(tokenKey(token))
    if (!this.ready && (configured === undefined || this.config.accounts[configured]?.relation !== 'parent')) {
      return { ok: false, message: 'the connector is still starting (learning its address from its parent); try again shortly' }
    }
    if (configured !== undefined) return { ok: true, accountId: configured }
    const local = this.config.listeners[listener]?.localAccounts
    if (local === undefined || !local.enabled) return { ok: false, message: 'no account has this token' }
    const id = localAccountId(token)
    const home = this.localIds.get(id)
    if (home !== undefined && home !== listener) return { ok: false, message: 'this token belongs to an account of another listener' }
    const creating = this.creating.get(id)
    if (creating !== undefined) return creating
    if (home !== undefined) return { ok: true, accountId: id }
    if (this.accounts.has(id)) return { ok: false, message: 'no account has this token' }
    // An operator removed this token's account: it stays removed (not silently made again).
    if (this.store?.loadAccount(id)?.provisioned?.removedAt !== undefined) return { ok: false, message: 'the account of this token was removed by an operator' }
    const count = this.localCounts.get(listener) ?? 0
    if (count >= local.maxAccounts) {
      this.log.warn({ listener, maxAccounts: local.maxAccounts }, 'local account limit reached: new token refused')
      return { ok: false, message: `this listener's limit of ${local.maxAccounts} accounts is reached` }
    }
    const provisioned: ProvisionedAccount = {
      listener,
      relation: 'child',
      assetCode: local.assetCode,
      assetScale: local.assetScale,
      address: childAddress(this.address, id),
      minBalance: local.minBalance,
      maxBalance: local.maxBalance,
      maxPacketAmount: local.maxPacketAmount,
      packetsPerSecond: local.packetsPerSecond,
      throughputLimit: local.throughputLimit,
      createdAt: Date.now()
    }
    const store = this.store as Store
    store.saveAccount({ id, balance: '0', provisioned: dropUndefined(provisioned) })
    this.addProvisionedAccount(id, provisioned)
    this.log.info({ listener, account: id }, 'local account created')
    let resolveStored!: (result: AuthResult) => void
    const stored = new Promise<AuthResult>(resolve => { resolveStored = resolve })
    this.creating.set(id, stored)
    // Registered after the map entry: in fast durability the callback runs at once.
    store.afterCommit(() => {
      this.creating.delete(id)
      resolveStored({ ok: true, accountId: id })
    })
    return stored
  }

  private addClient (id: string, url: string, token: string): BtpClient {
    const client = new BtpClient(
      { accountId: id, url, token, ...this.config.btp },
      (accountId, connection) => this.attach(accountId, connection),
      this.log.child({ component: 'btp-client' })
    )
    this.clients.push(client)
    this.clientsById.set(id, client)
    return client
  }

  private addProvisionedAccount (id: string, p: ProvisionedAccount): void {
    if (p.origin === 'api' && p.link !== undefined) {
      this.apiAccounts.set(id, p)
      if (p.link.type === 'btp-server') {
        let byToken = this.tokens.get(p.link.listener)
        if (byToken === undefined) this.tokens.set(p.link.listener, byToken = new Map())
        // A token now in the config file wins (its account was registered first).
        if (byToken.has(p.link.tokenHash)) this.log.warn({ account: id }, 'an account of the config file has the same token: this account cannot be opened')
        else byToken.set(p.link.tokenHash, id)
      } else {
        this.addClient(id, p.link.url, p.link.token)
      }
    } else {
      this.localCounts.set(p.listener, (this.localCounts.get(p.listener) ?? 0) + 1)
      this.localIds.set(id, p.listener)
    }
    const info: AccountInfo = {
      id,
      relation: p.relation,
      asset: { code: p.assetCode, scale: p.assetScale },
      // From our address as it is now (it may have been learned anew from the parent since).
      address: p.relation === 'child' ? childAddress(this.address, id) : p.address,
      ...limitsFromSettings(p)
    }
    this.spawnAccount(info)
    // Local-mode children take no part in route exchange; accounts made through the API do, as configured ones.
    if (p.origin === 'api') this.addNeighbour(info)
    if (p.relation === 'parent') this.routing?.add({ prefix: '', nextHop: id, kind: 'parent-default' })
  }

  /** While draining, new Prepares are refused at the link; replies to packets in flight still pass. */
  private refuseWhileDraining (connection: Link, events: LinkEvent[]): LinkEvent[] {
    return events.filter(event => {
      if (event.type !== 'prepare') return true
      connection.send(ilpResponseFrame(event.requestId, rejectPacket('T00', this.address, 'connector is shutting down')))
      return false
    })
  }

  /** Connects an authenticated link to its account's actor: frames in → typed messages → mailbox. */
  private attach (accountId: string, connection: Link): void {
    this.links.add(accountId, connection)
    this.tell(accountId, { type: 'linkUp', connectionId: connection.id })
    if (this.links.connectionIds(accountId).length === 1) {
      // Local-mode accounts can be many: their links are logged at debug.
      this.log[this.localIds.has(accountId) ? 'debug' : 'info']({ account: accountId, link: connection.id }, 'link up')
      this.linkStates.next({ type: 'linkUp', accountId })
    }
    connection.frames$.pipe(map(decodeFrame), batchPerTurn()).subscribe({
      next: events => {
        try {
          if (this.draining) events = this.refuseWhileDraining(connection, events)
          for (const event of events) if (event.type === 'prepare' || event.type === 'badPrepare') this.unanswered++
          if (events.length > 0 && this.tell(accountId, { type: 'link', connectionId: connection.id, events })) connection.batchHandedOver()
        } catch (err) {
          // Whatever goes wrong with one link's frames must not take the process (and every other link) down.
          this.log.error({ err, account: accountId }, 'failed to handle frames: closing the link')
          void connection.close(1011, 'internal error')
        }
      },
      error: (err: unknown) => {
        this.log.error({ err, account: accountId }, 'link pipeline failed: closing the link')
        void connection.close(1011, 'internal error')
      }
    })
    connection.closed$.subscribe(() => {
      this.links.remove(accountId, connection)
      this.tell(accountId, { type: 'linkDown', connectionId: connection.id })
      if (this.links.connectionIds(accountId).length === 0) {
        // The connector's own requests on that link will not be answered now: they fail at once (and are retried).
        this.control.failAccount(accountId, `the link to ${accountId} closed`)
        this.log[this.localIds.has(accountId) ? 'debug' : 'info']({ account: accountId }, 'link down')
        this.linkStates.next({ type: 'linkDown', accountId })
      }
    })
  }
}

/** MessagePack has no `undefined`: leave absent fields out of stored records. */
function dropUndefined<T extends object> (o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

/** A btp+ws URL as it may be shown: without its password (the token). */
function withoutPassword (url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    return u.toString()
  } catch {
    return '(invalid url)'
  }
}


export function createConnector (config: Config, options?: ConnectorOptions): Connector {
  return new Connector(config, options)
}
