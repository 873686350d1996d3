/**
 * The connector as a library object: it builds the actor system (account actors, routing shards),
 * the BTP links (listeners and dialled peers) and the transfer expirer from one validated config, and
 * wires links to actors with RxJS. `npm start` and the tests are thin users of it.
 */
import { createHash } from 'crypto'
import { mkdirSync } from 'fs'
import { start as startActorSystem, stop as stopActor, spawn, dispatch, Ref } from 'nact'
import * as Ccp from 'ilp-protocol-ccp'
import * as ILDCP from 'ilp-protocol-ildcp'
import { map, Subject, Observable } from 'rxjs'
import type { Config, AccountConfig } from './config'
import { createLogger, Logger } from './log'
import { spawnAccountActor, AccountDeps, AccountInfo, AccountState } from './actors/AccountActor'
import type { AccountMessage } from './actors/messages'
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
import { localAccountId, childAddress, isValidIlpAddress } from './protocol/address'
import { optionalBigInt } from './protocol/amounts'
import type { Store, ProvisionedAccount } from './store/Store'
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
  private routeManager: { ref: Ref<RouteManagerMessage>; state: RouteManagerState; stop: () => void } | undefined
  /** Route changes reported before the route manager exists (it records them once spawned). */
  private earlyRouteChanges: string[] = []
  /** Accounts that exchange routes with us (CCP), and how. */
  private readonly neighbours = new Map<string, NeighbourSettings>()
  /** Accounts' links coming up and going down. */
  readonly linkState$: Observable<LinkStateEvent> = this.linkStates.asObservable()
  /** Settlement (RFC 0038 engines, BTP TRANSFER) for the accounts that have it configured. */
  private settlement: SettlementService | undefined

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

  async start (): Promise<void> {
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
    this.registerRouteProtocols()
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
      if (record.provisioned !== undefined && !this.accounts.has(record.id)) this.addProvisionedAccount(record.id, record.provisioned)
    }
    for (const route of this.config.routes) routing.add({ prefix: route.prefix, nextHop: route.account, kind: 'static' })
    for (const id of this.neighbours.keys()) this.registerNeighbour(id)
    await this.startSettlement(store)
    for (const client of this.clients.slice(started)) client.start()
    const httpPort = await this.httpPeering.listen()
    await this.startReceivers()
    this.ready = true
    this.log.info({ address: this.address, accounts: this.accounts.size, listeners: Object.fromEntries(this.ports), httpPort, spspPort: this.spspBoundPort }, 'connector started')
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
      try {
        const info = await ILDCP.fetch(async (data) => (await this.peerRequest(parent, data, this.config.routing.requestTimeoutMs)).packet)
        if (!isValidIlpAddress(info.clientAddress)) throw new Error(`the parent gave an invalid address: ${JSON.stringify(info.clientAddress)}`)
        const ours = this.config.accounts[parent]
        if (info.assetCode !== ours.assetCode || info.assetScale !== ours.assetScale) {
          log.warn({ parentAsset: `${info.assetCode}/${info.assetScale}`, configured: `${ours.assetCode}/${ours.assetScale}` }, 'the parent reports another asset than the account is configured with')
        }
        log.info({ address: info.clientAddress }, 'address learned from the parent')
        return info.clientAddress
      } catch (e) {
        lastError = e instanceof Error ? e.message : String(e)
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
      dispatch(this.routeManager.ref, { type: 'update', from: account.id, update })
      return Ccp.serializeCcpResponse()
    })
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
    this.log.info({ packetsInFlight: this.unanswered }, 'stopping: no new packets, draining those in flight')
    await Promise.all([...this.servers.values()].map(s => s.close()))
    this.httpPeering?.stopListening()
    this.spspServer?.close()
    const deadline = Date.now() + drainTimeoutMs
    while (this.unanswered > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    if (this.unanswered > 0) this.log.warn({ packetsInFlight: this.unanswered }, 'drain timed out')
    await Promise.all(this.clients.map(async client => { await client.stop() }))
    await this.receiver?.stop()
    this.routeManager?.stop()
    await this.settlement?.stop()
    this.control.close()
    this.rates.stop()
    // Fulfills waiting for their group commit go out before the links close.
    await this.store?.flush()
    await this.links.close()
    this.httpPeering?.close()
    this.links.stopPinging()
    this.wheel.stop()
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

  private addConfiguredAccount (id: string, account: AccountConfig): void {
    const info: AccountInfo = {
      id,
      relation: account.relation,
      asset: { code: account.assetCode, scale: account.assetScale },
      address: account.relation === 'child' ? childAddress(this.address, id) : undefined,
      limits: { minBalance: optionalBigInt(account.minBalance), maxBalance: optionalBigInt(account.maxBalance) },
      maxPacketAmount: optionalBigInt(account.maxPacketAmount),
      packetsPerSecond: account.packetsPerSecond,
      throughputLimit: throughputLimit(account.throughputLimit),
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
    const sendRoutes = account.sendRoutes ?? account.relation !== 'child'
    const receiveRoutes = account.receiveRoutes ?? account.relation !== 'child'
    if (sendRoutes || receiveRoutes) {
      this.neighbours.set(id, { id, relation: account.relation, address: info.address, sendRoutes, receiveRoutes })
      this.registerNeighbour(id)
    }
    const link = account.link
    if (link.type === 'btp-server') {
      let byToken = this.tokens.get(link.listener)
      if (byToken === undefined) this.tokens.set(link.listener, byToken = new Map())
      byToken.set(tokenKey(link.token), id)
    } else if (link.type === 'btp-client') {
      this.clients.push(new BtpClient(
        { accountId: id, url: link.url, token: link.token, ...this.config.btp },
        (accountId, connection) => this.attach(accountId, connection),
        this.log.child({ component: 'btp-client' })
      ))
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

  private addProvisionedAccount (id: string, p: ProvisionedAccount): void {
    this.localCounts.set(p.listener, (this.localCounts.get(p.listener) ?? 0) + 1)
    this.localIds.set(id, p.listener)
    this.spawnAccount({
      id,
      relation: p.relation,
      asset: { code: p.assetCode, scale: p.assetScale },
      // From our address as it is now (it may have been learned anew from the parent since).
      address: p.relation === 'child' ? childAddress(this.address, id) : p.address,
      limits: { minBalance: optionalBigInt(p.minBalance), maxBalance: optionalBigInt(p.maxBalance) },
      maxPacketAmount: optionalBigInt(p.maxPacketAmount),
      packetsPerSecond: p.packetsPerSecond,
      throughputLimit: throughputLimit(p.throughputLimit)
    })
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
    if (this.links.connectionIds(accountId).length === 1) this.linkStates.next({ type: 'linkUp', accountId })
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
      if (this.links.connectionIds(accountId).length === 0) this.linkStates.next({ type: 'linkDown', accountId })
    })
  }
}

function throughputLimit (limit: { amount: string; periodMs: number } | undefined): AccountInfo['throughputLimit'] {
  return limit === undefined ? undefined : { amount: BigInt(limit.amount), periodMs: limit.periodMs }
}

/** MessagePack has no `undefined`: leave absent fields out of stored records. */
function dropUndefined<T extends object> (o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

function tokenKey (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export function createConnector (config: Config, options?: ConnectorOptions): Connector {
  return new Connector(config, options)
}
