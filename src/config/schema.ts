/**
 * The connector's configuration schema: one TypeBox schema gives the TypeScript types, the validation
 * (see ./load.ts) and the generated reference (docs/configuration.md, via scripts/config-docs.js).
 *
 * Conventions:
 * - Every property has a `description` (it becomes the docs).
 * - Properties with a default are *required* in the schema and carry `default`: the loader applies
 *   `Value.Default` before `Value.Check`, so a loaded `Config` never has undefined defaulted fields.
 * - Amounts are strings of integers, never JS numbers.
 * - Non-standard keywords used by the loader and the docs generator (ignored by JSON Schema tools):
 *   - `errorMessage`: the message used for any type / pattern / length problem of that field;
 *   - `requiredMessage`: the message used when that (required) field is missing;
 *   - `secret: true`: the value is never echoed in error messages;
 *   - `docType`: how the docs name the type;
 *   - `docDefault`: documents a default that the loader derives (not a static `default`);
 *   - `defaultIfAbsent`: a default applied only when the property is absent (TypeBox's `default` on an
 *     object would be merged into a value the user gave, which is wrong for a map such as `listeners`).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'

// ---------------------------------------------------------------------------------------------------
// Grammar helpers (shared with the loader)
// ---------------------------------------------------------------------------------------------------

const SCHEMES = '(g|private|example|peer|self|test[1-3]?|local)'
const SEGMENT = '[a-zA-Z0-9_~-]+'

/** A full ILP address (RFC 0015): a scheme followed by at least one more segment. Max length 1023. */
export const ILP_ADDRESS_PATTERN = `^${SCHEMES}(\\.${SEGMENT})+$`
/** An ILP address prefix for routing: like an address, but a lone scheme (e.g. "g") is allowed. */
export const ILP_PREFIX_PATTERN = `^${SCHEMES}(\\.${SEGMENT})*$`
/** One ILP address segment: account ids and listener names must match this. */
export const ILP_SEGMENT_PATTERN = `^${SEGMENT}$`
export const ILP_ADDRESS_MAX_LENGTH = 1023

/** Unsigned integer string (no sign, no leading zeros). Range (uint64) is checked by the loader. */
export const UINT_STRING_PATTERN = '^(0|[1-9][0-9]*)$'
/** Signed integer string (no leading zeros, no "-0"). */
export const INT_STRING_PATTERN = '^(0|-?[1-9][0-9]*)$'
export const UINT64_MAX = 18446744073709551615n

export function isValidIlpAddress(address: string): boolean {
  return address.length <= ILP_ADDRESS_MAX_LENGTH && new RegExp(ILP_ADDRESS_PATTERN).test(address)
}

export function isValidSegment(segment: string): boolean {
  return new RegExp(ILP_SEGMENT_PATTERN).test(segment)
}

// ---------------------------------------------------------------------------------------------------
// Reusable field schemas
// ---------------------------------------------------------------------------------------------------

const ADDRESS_MESSAGE =
  'must be an ILP address: at most 1023 characters, segments of letters, digits, "_", "~" or "-" separated by ".", ' +
  'the first one of g, private, example, peer, self, test, test1, test2, test3, local (e.g. "g.example.connector")'

const PREFIX_MESSAGE =
  'must be an ILP address prefix: at most 1023 characters, segments of letters, digits, "_", "~" or "-" separated by ".", ' +
  'the first one of g, private, example, peer, self, test, test1, test2, test3, local (e.g. "g" or "g.example")'

function Uint64Amount(description: string) {
  return Type.String({
    pattern: UINT_STRING_PATTERN,
    docType: 'uint64 string',
    errorMessage:
      'must be a string of digits between "0" and "18446744073709551615" (amounts are strings, not numbers)',
    description
  })
}

function SignedAmount(description: string, options: Record<string, unknown> = {}) {
  return Type.String({
    pattern: INT_STRING_PATTERN,
    docType: 'integer string',
    errorMessage: 'must be an integer string such as "-1000" or "5000" (amounts are strings, not numbers)',
    description,
    ...options
  })
}

const AssetScale = (description: string, options: Record<string, unknown> = {}) =>
  Type.Integer({ minimum: 0, maximum: 255, description, ...options })

// ---------------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------------

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      LOG_LEVELS.map((level) => Type.Literal(level)),
      { default: 'info', description: 'Minimum level of log lines written (pino levels; "silent" turns logging off).' }
    )
  },
  { additionalProperties: false, default: {}, description: 'Logging.' }
)

export const PacketsSchema = Type.Object(
  {
    minMessageWindowMs: Type.Integer({
      minimum: 0,
      default: 1000,
      description:
        'Milliseconds taken off the incoming prepare\'s expiry to get the outgoing prepare\'s expiry, leaving time to pass the fulfillment back.'
    }),
    maxHoldTimeMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 30000,
      description: 'The outgoing prepare\'s expiry is at most now + this many milliseconds.'
    }),
    maxInFlightPerAccount: Type.Integer({
      exclusiveMinimum: 0,
      default: 5000,
      description: 'Maximum prepares in flight from one account; beyond it the account\'s new prepares are rejected with T03.'
    })
  },
  { additionalProperties: false, default: {}, description: 'Packet forwarding.' }
)

export const BtpSchema = Type.Object(
  {
    authTimeoutMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 5000,
      description: 'A BTP connection that has not authenticated within this many milliseconds is closed.'
    }),
    pingIntervalMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 30000,
      description: 'Interval of WebSocket pings used to detect dead connections, in milliseconds.'
    }),
    maxFrameBytes: Type.Integer({
      minimum: 1024,
      default: 65536,
      description: 'Largest WebSocket message accepted, in bytes.'
    }),
    maxUnauthenticated: Type.Integer({
      exclusiveMinimum: 0,
      default: 1000,
      description: 'Most connections per listener that have not authenticated yet; beyond it new ones are refused (HTTP 503) until some authenticate or time out, so a flood of idle sockets cannot exhaust the connector.'
    }),
    reconnectMinDelayMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 100,
      description: 'First delay before a btp-client link reconnects, in milliseconds (then doubled up to reconnectMaxDelayMs). Must be <= reconnectMaxDelayMs.'
    }),
    reconnectMaxDelayMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 30000,
      description: 'Longest delay between reconnection attempts of a btp-client link, in milliseconds.'
    })
  },
  { additionalProperties: false, default: {}, description: 'BTP (Bilateral Transfer Protocol over WebSocket) links.' }
)

export const StorageSchema = Type.Object(
  {
    durability: Type.Union([Type.Literal('strict'), Type.Literal('fast')], {
      default: 'strict',
      description:
        '"strict": a Fulfill is passed upstream, and a new account acknowledged, only once its balance change is fsync\'d to disk (group commit: the changes of all accounts are written together, one batch at a time). ' +
        '"fast": nothing waits for the disk; changes are written every fastFlushIntervalMs, so a crash (kill -9, power loss) can lose what was acknowledged in that window.'
    }),
    fastFlushIntervalMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 100,
      description: 'With durability "fast": how often changes are written, in milliseconds (the most a crash can lose).'
    })
  },
  { additionalProperties: false, default: {}, description: 'How state is written to the LevelDB data directory.' }
)

export const LocalAccountsSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'When true, a BTP client presenting an unknown token gets a new child account of its own ("moneyd local mode").'
    }),
    maxAccounts: Type.Integer({
      exclusiveMinimum: 0,
      default: 1000,
      description: 'Maximum number of accounts created this way on this listener.'
    }),
    assetCode: Type.String({
      minLength: 1,
      maxLength: 16,
      default: 'XRP',
      description: 'Asset code of the created accounts.'
    }),
    assetScale: AssetScale('Asset scale of the created accounts.', { default: 9 }),
    maxPacketAmount: Type.Optional(Uint64Amount('Largest prepare amount accepted from a created account; no limit when absent.')),
    packetsPerSecond: Type.Optional(Type.Integer({
      exclusiveMinimum: 0,
      description: 'Most Prepares accepted from a created account per second (a token bucket: bursts up to this many); beyond it T05. No limit when absent.'
    })),
    throughputLimit: Type.Optional(Type.Object(
      {
        amount: Uint64Amount('Most amount accepted per period (a token bucket refilling continuously).'),
        periodMs: Type.Integer({ exclusiveMinimum: 0, default: 1000, description: 'The period, in milliseconds.' })
      },
      { additionalProperties: false, description: 'Most total amount of Prepares accepted from a created account per period; beyond it T04. No limit when absent.' }
    )),
    minBalance: Type.Optional(SignedAmount('Lowest balance of a created account, e.g. "-1000"; no limit when absent.')),
    maxBalance: Type.Optional(SignedAmount('Highest balance of a created account; no limit when absent. Must be >= minBalance when both are set.'))
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Accounts created on demand for clients connecting to this listener.'
  }
)

export const ListenerSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port to listen on; 0 picks a free port.' }),
    localAccounts: LocalAccountsSchema
  },
  {
    additionalProperties: false,
    // Needed so that Value.Default descends into the entries of the `listeners` record.
    default: {},
    description: 'A WebSocket server accepting BTP connections.'
  }
)

/**
 * `listeners` when the configuration has none (applied only when the key is absent): one on loopback,
 * local mode off. The embedded default (config/default.json) turns local mode on.
 */
export const DEFAULT_LISTENERS = {
  default: { host: '127.0.0.1', port: 7768 }
} as const

export const BtpServerLinkSchema = Type.Object(
  {
    type: Type.Literal('btp-server', { description: 'The peer connects to one of our listeners.' }),
    listener: Type.String({
      docDefault: 'the only listener',
      requiredMessage: 'is required when there is not exactly one listener',
      description:
        'Name of the listener the peer connects to. May be omitted when exactly one listener is configured; after loading it is always set.'
    }),
    token: Type.String({
      minLength: 1,
      secret: true,
      description: 'Secret the peer authenticates with. Must differ from every other btp-server account\'s token.'
    })
  },
  { additionalProperties: false, description: 'We are the BTP server.' }
)

export const BtpClientLinkSchema = Type.Object(
  {
    type: Type.Literal('btp-client', { description: 'We connect to the peer.' }),
    url: Type.String({
      minLength: 1,
      secret: true,
      docType: 'btp+ws:// or btp+wss:// URL',
      description: 'Where to connect, e.g. "btp+wss://peer.example:443". The token may be given as the URL password: "btp+wss://:TOKEN@peer.example:443".'
    }),
    token: Type.String({
      minLength: 1,
      secret: true,
      docDefault: 'the url password',
      requiredMessage: 'is required: set token, or give it in the url as btp+ws://:TOKEN@host:port',
      description: 'Secret we authenticate with. May be omitted when it is in the url; after loading it is always set.'
    })
  },
  { additionalProperties: false, description: 'We are the BTP client.' }
)

export const HttpLinkSchema = Type.Object(
  {
    type: Type.Literal('http', { description: 'ILP-over-HTTP (RFC 0035, the synchronous form of ilp-plugin-http): one POST per Prepare, the Fulfill or Reject in the response.' }),
    incoming: Type.Optional(Type.Object(
      {
        token: Type.String({
          minLength: 1,
          secret: true,
          description: 'Bearer token the peer sends (Authorization: Bearer <token>) when it POSTs to our `http` listener. Must differ from every other http account\'s incoming token.'
        })
      },
      { additionalProperties: false, description: 'The peer sends us Prepares (POSTs to our `http` listener, any path). Absent: we accept none from it.' }
    )),
    outgoing: Type.Optional(Type.Object(
      {
        url: Type.String({
          minLength: 1,
          secret: true,
          docType: 'http:// or https:// URL',
          description: 'Where we POST our Prepares for this peer, e.g. "https://peer.example/ilp".'
        }),
        token: Type.String({ minLength: 1, secret: true, description: 'Bearer token we send (Authorization: Bearer <token>).' }),
        peerName: Type.Optional(Type.String({
          pattern: ILP_SEGMENT_PATTERN,
          errorMessage: 'must be letters, digits, "_", "~" or "-"',
          description: 'Sent as the ILP-Peer-Name header (peers serving several accounts on one URL, such as ilp-plugin-http in multi mode, use it). Not sent when absent.'
        }))
      },
      { additionalProperties: false, description: 'We send the peer Prepares. Absent: Prepares routed to this account get T01.' }
    ))
  },
  { additionalProperties: false, description: 'ILP-over-HTTP. At least one of incoming and outgoing must be set.' }
)

export const PluginLinkSchema = Type.Object(
  {
    type: Type.Literal('plugin', { description: 'A module implementing the standard ILP plugin interface (LedgerPluginInterface v2), e.g. ilp-plugin-btp or ilp-plugin-mini-accounts.' }),
    module: Type.String({
      minLength: 1,
      description: 'The module to load: a package name resolved from the working directory (then from the connector\'s own node_modules), or a path (relative to the working directory). It is loaded at start; one that fails to load, construct or connect is reported with the account and module named, and the rest of the connector runs without that account\'s link (its packets get T01).'
    }),
    options: Type.Record(Type.String(), Type.Unknown(), {
      default: {},
      docType: 'object',
      description: 'Passed to the plugin\'s constructor as its first argument (the second is { log, store }). Plugin links, module and options included, are set in the config file only: environment overrides cannot load code.'
    })
  },
  { additionalProperties: false, description: 'A standard ILP plugin module.' }
)

export const ReceiverLinkSchema = Type.Object(
  {
    type: Type.Literal('receiver', { description: 'The connector itself receives STREAM payments (RFC 0029) for this account and serves its SPSP endpoint (RFC 0009) on the `spsp` listener, at /<account id>. Only for relation "child" (the receiver takes the child\'s address).' }),
    wellKnown: Type.Boolean({
      default: false,
      description: 'Also serve this account at /.well-known/pay (the payment pointer of the bare host, "$host"). At most one account may set it.'
    })
  },
  { additionalProperties: false, description: 'The connector receives for this account (SPSP + STREAM).' }
)

export const LinkSchema = Type.Union([BtpServerLinkSchema, BtpClientLinkSchema, HttpLinkSchema, PluginLinkSchema, ReceiverLinkSchema], {
  description: 'How the account is connected; "type" selects the form.'
})

export const HttpListenerSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface of the ILP-over-HTTP listener.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7770, description: 'Port of that listener; 0 picks a free port. It is opened only when an account has an http link with `incoming` set.' })
  },
  { additionalProperties: false, default: {}, description: 'The listener ILP-over-HTTP peers POST to (accounts with an http link).' }
)

export const SpspSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface of the SPSP listener. Behind a TLS proxy for public payment pointers ($host/<account> resolves to https://host/<account>).' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7772, description: 'Port of that listener; 0 picks a free port. It is opened only when an account has a receiver link.' })
  },
  { additionalProperties: false, default: {}, description: 'The SPSP endpoints (RFC 0009) of the receiving accounts.' }
)

export const EngineSettlementMethodSchema = Type.Object(
  {
    type: Type.Literal('rfc0038', { description: 'Settle through a settlement engine with the RFC 0038 HTTP API.' }),
    url: Type.String({
      minLength: 1,
      docType: 'http:// or https:// URL',
      description:
        'Base URL of the settlement engine, e.g. "http://127.0.0.1:3000". The connector creates the account there (POST /accounts), asks it to settle (POST /accounts/<id>/settlements) and relays its messages (POST /accounts/<id>/messages). The engine calls the connector back on the `settlement` listener.'
    })
  },
  { additionalProperties: false, description: 'An RFC 0038 settlement engine.' }
)

export const BtpTransferSettlementMethodSchema = Type.Object(
  {
    type: Type.Literal('btp-transfer', { description: 'Settle in-band: a BTP TRANSFER on the account\'s link.' }),
    creditIncoming: Type.Boolean({
      default: false,
      description:
        'When true, a BTP TRANSFER from the peer is credited to the account (lowers what it owes us). Off by default: a bare TRANSFER carries no proof of payment, so only turn it on for a peer whose TRANSFERs you trust (its own settlement is checked elsewhere). When false, incoming TRANSFERs are refused with a BTP error.'
    })
  },
  { additionalProperties: false, description: 'BTP TRANSFER on the peer\'s link.' }
)

export const AccountSettlementSchema = Type.Object(
  {
    threshold: Type.Optional(SignedAmount(
      'Settle when the balance falls to this value or below. The balance is what the account owes us, so a negative value is what we owe the peer: "-10000" settles once we owe it 10000 or more. No outgoing settlement when absent (incoming settlements are still credited). Must be >= minBalance when both are set.'
    )),
    settleTo: SignedAmount(
      'After a settlement the balance is this value: we pay settleTo − balance. Must be greater than threshold and <= maxBalance.',
      { default: '0' }
    ),
    method: Type.Union([EngineSettlementMethodSchema, BtpTransferSettlementMethodSchema], {
      description: 'How this account settles; "type" selects the form.'
    })
  },
  { additionalProperties: false, description: 'Settlement with this peer. Absent: the account never settles and incoming settlements for it are refused.' }
)

export const SettlementSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface of the HTTP listener settlement engines call (RFC 0038 "accounting system" API). Keep it on loopback or a private network: it credits balances.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7771, description: 'Port of that listener; 0 picks a free port. It is opened only when an account uses an rfc0038 engine.' }),
    idempotencyKeyRetentionMs: Type.Integer({
      minimum: 86400000,
      default: 86400000,
      description: 'How long the idempotency key of an incoming settlement is kept (at least 24 hours, as RFC 0038 requires): a request repeated within it is answered as the first, never credited twice.'
    }),
    retryMinDelayMs: Type.Integer({ exclusiveMinimum: 0, default: 100, description: 'First delay before an outgoing settlement the engine or the peer did not accept is retried (then doubled, with jitter).' }),
    retryMaxDelayMs: Type.Integer({ exclusiveMinimum: 0, maximum: 3600000, default: 60000, description: 'Longest delay between retries of an outgoing settlement (RFC 0038: at most one hour). Retries never stop until accepted.' }),
    requestTimeoutMs: Type.Integer({ exclusiveMinimum: 0, default: 10000, description: 'How long a request to a settlement engine, or a settlement message to a peer, may take.' })
  },
  { additionalProperties: false, default: {}, description: 'Settlement: the listener for settlement engines and the retry policy of outgoing settlements.' }
)

export const AccountSchema = Type.Object(
  {
    relation: Type.Union([Type.Literal('parent'), Type.Literal('peer'), Type.Literal('child')], {
      description: 'What the other side is to us: "parent" (our upstream: the default route for addresses we have no other route to), "peer", or "child" (gets its address, ours + "." + its id, from us over ILDCP).'
    }),
    assetCode: Type.String({ minLength: 1, maxLength: 16, description: 'Asset code, e.g. "XRP" or "USD".' }),
    assetScale: AssetScale('Asset scale: an amount of 1 is 10^-assetScale units of the asset.'),
    link: LinkSchema,
    minBalance: Type.Optional(SignedAmount('Lowest balance allowed, e.g. "-1000"; no limit when absent.')),
    maxBalance: Type.Optional(SignedAmount('Highest balance allowed; no limit when absent. Must be >= minBalance when both are set.')),
    maxPacketAmount: Type.Optional(Uint64Amount('Largest prepare amount accepted from this account; no limit when absent.')),
    packetsPerSecond: Type.Optional(Type.Integer({
      exclusiveMinimum: 0,
      description: 'Most Prepares accepted from this account per second (a token bucket: bursts up to this many); beyond it T05. No limit when absent.'
    })),
    throughputLimit: Type.Optional(Type.Object(
      {
        amount: Uint64Amount('Most amount accepted per period (a token bucket refilling continuously).'),
        periodMs: Type.Integer({ exclusiveMinimum: 0, default: 1000, description: 'The period, in milliseconds.' })
      },
      { additionalProperties: false, description: 'Most total amount of Prepares accepted from this account per period; beyond it T04. No limit when absent.' }
    )),
    sendRoutes: Type.Optional(Type.Boolean({
      docDefault: 'true for parents and peers, false for children',
      description: 'Whether this account may ask for our routes (CCP) and is sent them. Parents and peers are told only our own address and the routes through our children (no free transit); a child, when this is on, is told every route except those through itself.'
    })),
    receiveRoutes: Type.Optional(Type.Boolean({
      docDefault: 'true for parents and peers, false for children',
      description: 'Whether we ask this account for its routes (CCP) and accept them. A child may only announce routes under its own address.'
    })),
    settlement: Type.Optional(AccountSettlementSchema)
  },
  {
    additionalProperties: false,
    // Needed so that Value.Default descends into the entries of the `accounts` record (the defaults of
    // throughputLimit.periodMs and of the settlement settings).
    default: {},
    description: 'An account with a peer connector.'
  }
)

export const RoutingSchema = Type.Object(
  {
    broadcastIntervalMs: Type.Integer({
      minimum: 10,
      default: 30000,
      description: 'How often, at the latest, a neighbour that asked for our routes hears from us (CCP): changes go out at once, and a heartbeat when nothing changed.'
    }),
    routeExpiryMs: Type.Integer({
      minimum: 20,
      default: 45000,
      description: 'How long our routes stay valid at a neighbour without a refresh (the hold-down time we announce). Must be more than broadcastIntervalMs. A neighbour\'s routes expire by the time it announces.'
    }),
    requestTimeoutMs: Type.Integer({
      minimum: 10,
      default: 10000,
      description: 'How long to wait for a neighbour to answer a route control or route update (and the ILDCP request to a parent).'
    }),
    maxRoutesPerNeighbour: Type.Integer({
      minimum: 1,
      default: 200000,
      description: 'Most routes accepted from one neighbour; beyond it its new prefixes are refused (with a warning), so a neighbour cannot fill our memory.'
    })
  },
  { additionalProperties: false, default: {}, description: 'Route exchange with neighbours (CCP, RFC 0010).' }
)

export const RouteSchema = Type.Object(
  {
    prefix: Type.String({
      maxLength: ILP_ADDRESS_MAX_LENGTH,
      pattern: ILP_PREFIX_PATTERN,
      errorMessage: PREFIX_MESSAGE,
      docType: 'ILP address prefix',
      description: 'Destination addresses starting with this prefix are routed to the account.'
    }),
    account: Type.String({ description: 'Id of the account to forward to (a key of accounts).' })
  },
  { additionalProperties: false, description: 'A static route.' }
)

/** A non-negative decimal string: digits, optional fraction, optional exponent ("0.9", "1e-7"). */
export const DECIMAL_STRING_PATTERN = '^[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?$'

const Spread = () =>
  Type.String({
    pattern: DECIMAL_STRING_PATTERN,
    default: '0',
    docType: 'decimal string',
    errorMessage: 'must be a decimal string >= 0 and < 1, such as "0.01" (rates are strings, not numbers)',
    description:
      'Fraction the connector keeps on every conversion: out = floor(amount × rate × (1 − spread) × 10^(toScale − fromScale)). Applies between any two assets, the same one included; "0" takes nothing. Must be >= 0 and < 1.'
  })

export const StaticRatesSchema = Type.Object(
  {
    backend: Type.Literal('static', { description: 'Fixed rates from this file.' }),
    spread: Spread(),
    rates: Type.Record(
      Type.String(),
      Type.String({
        pattern: DECIMAL_STRING_PATTERN,
        docType: 'decimal string',
        errorMessage: 'must be a decimal string > 0, such as "0.9" or "1e-7" (rates are strings, not numbers)',
        description: 'Value of one unit of the asset.'
      }),
      {
        default: {},
        docType: 'map of asset code to decimal string',
        description:
          'Value of one unit of each asset code in a common base, e.g. { "USD": "1", "EUR": "1.1" }: the rate from A to B is value(A) / value(B). Values are decimal strings > 0. The same code always converts at 1 without an entry; a pair with a code missing here has no rate (F02).'
      }
    )
  },
  { additionalProperties: false, description: 'Static rates.' }
)

export const HttpRatesSchema = Type.Object(
  {
    backend: Type.Literal('http', { description: 'Rates polled from an HTTP feed.' }),
    spread: Spread(),
    url: Type.String({
      minLength: 1,
      secret: true,
      docType: 'http:// or https:// URL',
      requiredMessage: 'is required with backend "http" (the feed\'s http:// or https:// URL)',
      description: 'Where the feed is fetched (GET, JSON).'
    }),
    format: Type.Union([Type.Literal('base-rates'), Type.Literal('usd-prices')], {
      description:
        '"base-rates": { "base": "EUR", "rates": { "USD": 1.08, ... } } (units of each code per one unit of base). "usd-prices": [ { "symbol": "XRP", "price_usd": "0.52" }, ... ] (price of one unit in USD). Numbers are taken exactly as written (1.08 is 108/100); entries without a usable value are skipped.'
    }),
    refreshIntervalMs: Type.Integer({
      minimum: 100,
      default: 60000,
      description: 'How often the feed is fetched, in milliseconds.'
    }),
    maxAgeMs: Type.Integer({
      exclusiveMinimum: 0,
      default: 300000,
      description:
        'Rates older than this many milliseconds are not used: packets between different assets get T00 (and the operator one warning) until the feed answers again.'
    })
  },
  { additionalProperties: false, description: 'Rates from an HTTP feed.' }
)

export const RatesSchema = Type.Union([StaticRatesSchema, HttpRatesSchema], {
  defaultIfAbsent: { backend: 'static' },
  description:
    'Exchange rates between asset codes; "backend" selects the form. When absent: static with no rates (only the same asset code converts; other pairs get F02).'
})

export const AdminSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description:
        'When true, the admin HTTP API (accounts, balances, routes, status, metrics; see docs/admin-api.yaml) is served. Off by default, so that the embedded default needs no secret; turn it on with a token, e.g. METAMORPHOSIS_ADMIN__ENABLED=true METAMORPHOSIS_ADMIN__TOKEN=....'
    }),
    host: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Interface the admin API listens on (loopback by default: it is off the packet path and for operators only).'
    }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7769, description: 'TCP port of the admin API; 0 picks a free port.' }),
    token: Type.Optional(Type.String({
      minLength: 16,
      secret: true,
      errorMessage: 'must be a string of at least 16 characters',
      description:
        'Bearer token every admin API call must present (Authorization: Bearer TOKEN). Required when enabled; at least 16 characters. Never logged.'
    })),
    history: Type.Union([Type.Literal('full'), Type.Literal('off')], {
      default: 'full',
      description:
        '"full": every forwarded packet gets a transfer id and its prepared / fulfilled / rejected record is kept (written in batches off the packet path; see the API\'s /transfers). "off": no transfer history (saves its CPU and disk; see docs/benchmarks.md).'
    }),
    historyRetentionHours: Type.Integer({
      exclusiveMinimum: 0,
      default: 720,
      description: 'Transfer records older than this many hours are deleted (checked every minute). Default: 30 days.'
    }),
    metricsPort: Type.Optional(Type.Integer({
      minimum: 0,
      maximum: 65535,
      description:
        'When set, Prometheus metrics are served without a token at /metrics on a listener of their own on this port (same host); when absent, /metrics is on the admin API and needs the admin token like every other call.'
    }))
  },
  { additionalProperties: false, default: {}, description: 'The admin HTTP API for operators (see docs/admin-api.yaml).' }
)

export const ConfigSchema = Type.Object(
  {
    ilpAddress: Type.Optional(Type.String({
      maxLength: ILP_ADDRESS_MAX_LENGTH,
      pattern: ILP_ADDRESS_PATTERN,
      errorMessage: ADDRESS_MESSAGE,
      docType: 'ILP address',
      docDefault: '"test.local", or learned from the parent',
      description: 'This connector\'s ILP address. When absent and an account has relation "parent", the connector asks that parent for its address over ILDCP at start (and its children\'s addresses follow from it); otherwise "test.local".'
    })),
    dataDir: Type.String({
      minLength: 1,
      default: './data',
      description: 'Directory of the LevelDB state; a relative path is taken from the working directory.'
    }),
    log: LogSchema,
    storage: StorageSchema,
    packets: PacketsSchema,
    btp: BtpSchema,
    listeners: Type.Record(Type.String(), ListenerSchema, {
      defaultIfAbsent: DEFAULT_LISTENERS,
      description:
        'BTP listeners by name (names use only letters, digits, "_", "~", "-"). When absent: one listener "default" on 127.0.0.1:7768, local mode off. (The embedded default, config/default.json, turns local mode on.)'
    }),
    accounts: Type.Record(Type.String(), AccountSchema, {
      default: {},
      description: 'Accounts by id (ids use only letters, digits, "_", "~", "-": they become ILP address segments).'
    }),
    rates: RatesSchema,
    routing: RoutingSchema,
    settlement: SettlementSchema,
    http: HttpListenerSchema,
    spsp: SpspSchema,
    routes: Type.Array(RouteSchema, { default: [], description: 'Static routes: an address prefix and the account to forward to. They take precedence over every other route (local accounts, routes learned from neighbours, the parent default route).' }),
    admin: AdminSchema
  },
  { additionalProperties: false, description: 'Metamorphosis connector configuration.' }
)

// ---------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------

/** A loaded configuration: every default filled in, every check passed. */
export type Config = Static<typeof ConfigSchema>
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogConfig = Static<typeof LogSchema>
export type PacketsConfig = Static<typeof PacketsSchema>
export type BtpConfig = Static<typeof BtpSchema>
export type StorageConfig = Static<typeof StorageSchema>
export type LocalAccountsConfig = Static<typeof LocalAccountsSchema>
export type ListenerConfig = Static<typeof ListenerSchema>
export type BtpServerLinkConfig = Static<typeof BtpServerLinkSchema>
export type BtpClientLinkConfig = Static<typeof BtpClientLinkSchema>
export type HttpLinkConfig = Static<typeof HttpLinkSchema>
export type PluginLinkConfig = Static<typeof PluginLinkSchema>
export type ReceiverLinkConfig = Static<typeof ReceiverLinkSchema>
export type LinkConfig = Static<typeof LinkSchema>
export type HttpListenerConfig = Static<typeof HttpListenerSchema>
export type SpspConfig = Static<typeof SpspSchema>
export type AccountConfig = Static<typeof AccountSchema>
export type AccountRelation = AccountConfig['relation']
export type RouteConfig = Static<typeof RouteSchema>
export type RoutingConfig = Static<typeof RoutingSchema>
export type RatesConfig = Static<typeof RatesSchema>
export type StaticRatesConfig = Static<typeof StaticRatesSchema>
export type HttpRatesConfig = Static<typeof HttpRatesSchema>
export type AccountSettlementConfig = Static<typeof AccountSettlementSchema>
export type SettlementConfig = Static<typeof SettlementSchema>
export type AdminConfig = Static<typeof AdminSchema>

/** Non-standard keywords this module puts on schemas (see the header comment). */
export interface ConfigSchemaExtras {
  errorMessage?: string
  requiredMessage?: string
  secret?: boolean
  docType?: string
  docDefault?: string
  defaultIfAbsent?: unknown
}

export type AnnotatedSchema = TSchema & ConfigSchemaExtras
