#!/usr/bin/env node
/*
 * Generates docs/configuration.md from the configuration schema (src/config/schema.ts).
 *
 *   node scripts/config-docs.js           rewrite docs/configuration.md
 *   node scripts/config-docs.js --check   exit 1 if docs/configuration.md is out of date
 *
 * The schema is TypeScript; it is loaded by transpiling it on the fly with the `typescript` dev
 * dependency (no build step, no ts-node). test/config.test.ts also checks the docs are up to date.
 */
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const DOCS_FILE = path.join(__dirname, '..', 'docs', 'configuration.md')
const KIND = Symbol.for('TypeBox.Kind')

// ---------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------

function kindOf(schema) {
  return schema[KIND]
}

function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function code(value) {
  return '`' + JSON.stringify(value) + '`'
}

function renderType(schema) {
  if (schema.docType) return schema.docType
  switch (kindOf(schema)) {
    case 'String': {
      const { minLength, maxLength } = schema
      if (minLength !== undefined && maxLength !== undefined) return `string (${minLength}..${maxLength} chars)`
      if (minLength === 1) return 'non-empty string'
      return 'string'
    }
    case 'Integer': {
      const low =
        schema.minimum !== undefined ? schema.minimum : schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : undefined
      const high = schema.maximum
      if (low !== undefined && high !== undefined) return `integer ${low}..${high}`
      if (schema.exclusiveMinimum !== undefined) return `integer > ${schema.exclusiveMinimum}`
      if (schema.minimum !== undefined) return `integer >= ${schema.minimum}`
      return 'integer'
    }
    case 'Number':
      return 'number'
    case 'Boolean':
      return 'boolean'
    case 'Literal':
      return JSON.stringify(schema.const)
    case 'Union':
      if (schema.anyOf.every((s) => kindOf(s) === 'Literal')) return schema.anyOf.map((s) => JSON.stringify(s.const)).join(' | ')
      return 'object (one of the forms below)'
    case 'Object':
      return 'object'
    case 'Record':
      return 'map of objects'
    case 'Array':
      return 'array of objects'
    default:
      return String(kindOf(schema)).toLowerCase()
  }
}

function renderDefault(schema, required) {
  if (schema.defaultIfAbsent !== undefined) return code(schema.defaultIfAbsent)
  if (schema.default !== undefined) return code(schema.default)
  if (schema.docDefault) return `*${schema.docDefault}*`
  return required ? '**required**' : '*none* (optional)'
}

/**
 * Collects the tables: one per object schema, in document order. `title` is the path of the object
 * (e.g. "packets", "listeners.<name>", "accounts.<id>.link (btp-server)").
 */
function collectTables(schema, pathPrefix, title, note, tables) {
  const table = { title, note, description: schema.description, rows: [] }
  tables.push(table)
  const nested = []
  const required = new Set(schema.required || [])
  for (const [key, property] of Object.entries(schema.properties)) {
    const propertyPath = pathPrefix === '' ? key : `${pathPrefix}.${key}`
    let description = property.description || ''
    const kind = kindOf(property)
    if (kind === 'Object') {
      nested.push(() => collectTables(property, propertyPath, propertyPath, undefined, tables))
      description += ` See ${link(propertyPath)}.`
    } else if (kind === 'Record' && kindOf(Object.values(property.patternProperties)[0]) === 'Object') {
      const entry = Object.values(property.patternProperties)[0]
      const entryPath = `${propertyPath}.<${key === 'accounts' ? 'id' : 'name'}>`
      nested.push(() => collectTables(entry, entryPath, entryPath, undefined, tables))
      description += ` Each entry: see ${link(entryPath)}.`
    } else if (kind === 'Array' && kindOf(property.items) === 'Object') {
      const itemPath = `${propertyPath}[]`
      nested.push(() => collectTables(property.items, itemPath, itemPath, undefined, tables))
      description += ` Each item: see ${link(itemPath)}.`
    } else if (kind === 'Union' && property.anyOf.every((s) => kindOf(s) === 'Object')) {
      for (const variant of property.anyOf) {
        // The field selecting the form: `type` (links) or `backend` (rates).
        const key = ['type', 'backend'].find((k) => variant.properties[k] && variant.properties[k].const !== undefined)
        const tag = variant.properties[key].const
        const variantTitle = `${propertyPath} (${tag})`
        nested.push(() => collectTables(variant, propertyPath, variantTitle, `When \`${key}\` is ${code(tag)}.`, tables))
        description += ` See ${link(variantTitle)}.`
      }
    }
    if (property.secret) description += ' Secret: never printed in error messages.'
    table.rows.push({
      path: propertyPath,
      type: renderType(property),
      default: renderDefault(property, required.has(key)),
      description: description.trim()
    })
  }
  for (const visit of nested) visit()
  return tables
}

/** The heading of a table: the path in a code span (so "<name>" is not taken for HTML). */
function heading(title) {
  const match = /^(\S+)( .*)?$/.exec(title)
  return title === 'Top level' ? title : '`' + match[1] + '`' + (match[2] || '')
}

/** A link to the table with that title. */
function link(title) {
  return `[${heading(title)}](#${anchor(title)})`
}

/** GitHub-style heading anchor. */
function anchor(title) {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-')
}

const INTRO = `# Configuration

<!-- Generated by \`node scripts/config-docs.js\` from src/config/schema.ts. Do not edit by hand. -->

Metamorphosis reads one JSON file, applies \`METAMORPHOSIS_*\` environment overrides on top of it, fills
in every default and validates the result (\`loadConfig()\` in \`src/config\`).

Which file:

1. the \`file\` option of \`loadConfig({ file })\`, if given;
2. else the file named by the \`METAMORPHOSIS_CONFIG\` environment variable, if set and non-empty;
3. else \`config/default.json\` of the package (every setting at its default, and local mode on for the
   default listener).

See [\`config/example.json\`](../config/example.json) for a realistic deployment.

Rules:

- Keys are camelCase. A key that is not listed below is an error ("unknown field"), anywhere.
- Amounts (\`maxPacketAmount\`, \`minBalance\`, \`maxBalance\`) are **strings** of integers, never JSON
  numbers: \`"1000"\`, \`"-5000"\`. \`maxPacketAmount\` is a uint64 (\`"0"\` to \`"18446744073709551615"\`);
  balances are signed, and \`minBalance\` must be <= \`maxBalance\` when both are set.
- Listener names and account ids are non-empty and use only letters, digits, \`_\`, \`~\` and \`-\` (they
  become ILP address segments).
- ILP addresses follow RFC 0015: segments of \`[a-zA-Z0-9_~-]+\` separated by \`.\`, the first segment one of
  \`g\`, \`private\`, \`example\`, \`peer\`, \`self\`, \`test\`, \`test1\`, \`test2\`, \`test3\`, \`local\`, at most 1023
  characters. A route prefix may also be a lone first segment such as \`"g"\`.
- Listener ports must be unique (except \`0\`, which picks a free port).
- btp-server tokens must be unique across accounts.
- \`btp.reconnectMinDelayMs\` must be <= \`btp.reconnectMaxDelayMs\`.
- \`routing.routeExpiryMs\` must be more than \`routing.broadcastIntervalMs\` (or neighbours drop our routes
  between two updates).
- Settlement amounts (\`threshold\`, \`settleTo\`) are balances in the same sense as \`minBalance\`: what the
  account owes us, negative when we owe it. \`settleTo\` must be > \`threshold\`, \`threshold\` >= \`minBalance\`
  and \`settleTo\` <= \`maxBalance\` when those are set. An \`rfc0038\` engine's \`url\` must be \`http://\` or
  \`https://\`. \`settlement.port\` must differ from the listener ports when an account uses an engine, and
  \`settlement.retryMinDelayMs\` must be <= \`settlement.retryMaxDelayMs\`.
- Exchange rates and \`rates.spread\` are **strings** of decimals, never JSON numbers: \`"0.9"\`, \`"1.08"\`,
  \`"1e-7"\` (an exponent is allowed, at most ±100). Rates must be > 0; the spread must be >= 0 and < 1. With
  \`backend\` \`"http"\`, \`url\` must be an \`http://\` or \`https://\` URL and \`maxAgeMs\` >= \`refreshIntervalMs\`.
- A btp-server link's \`listener\` must name a listener; it may be omitted when there is exactly one.
- A btp-client link's \`url\` must be a \`btp+ws://\` or \`btp+wss://\` URL, and a token must be given, either as
  \`token\` or as the URL password (\`btp+wss://:TOKEN@host:port\`).
- An http link needs \`incoming\`, \`outgoing\` or both; \`outgoing.url\` must be an \`http://\` or \`https://\` URL;
  incoming http tokens must be unique across accounts.
- A plugin link (\`module\`, \`options\`) is set in the config file only: an environment variable that would
  change it is an error (it would let the environment load code).
- A receiver link's account must have relation \`child\` and no \`settlement\`; at most one receiver sets
  \`wellKnown\`. \`btp-transfer\` settlement needs a BTP or plugin link.
- \`http.port\` and \`spsp.port\` (when their listener is opened) must differ from the listener ports, from
  \`settlement.port\` (when an engine is used), from the admin API's ports (when it is on) and from each other.

All problems are reported at once, one per line, as \`path: what is wrong\`, for example:

\`\`\`
accounts.bob.link.token: must be a non-empty string
routes[0].account: no account named "carol"
packets.maxHoldTimeMs: must be > 0 (got 0) (set by METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS)
\`\`\`

After loading, every default is filled in (a loaded \`Config\` has no undefined defaulted field), a
btp-server link always has \`listener\` and a btp-client link always has \`token\`.
`

const ENV = `## Environment overrides

Any setting can be overridden by an environment variable named \`METAMORPHOSIS_\` followed by the path of
the setting: levels are separated by \`__\` (two underscores) and each camelCase key is written in
UPPER_SNAKE case.

| Variable | Sets |
| --- | --- |
| \`METAMORPHOSIS_ILP_ADDRESS=g.foo\` | \`ilpAddress\` = \`"g.foo"\` |
| \`METAMORPHOSIS_LOG__LEVEL=debug\` | \`log.level\` = \`"debug"\` |
| \`METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS=10000\` | \`packets.maxHoldTimeMs\` = \`10000\` |
| \`METAMORPHOSIS_LISTENERS__DEFAULT__PORT=8000\` | \`listeners.default.port\` = \`8000\` |
| \`METAMORPHOSIS_LISTENERS__DEFAULT__LOCAL_ACCOUNTS__ENABLED=false\` | \`listeners.default.localAccounts.enabled\` = \`false\` |
| \`METAMORPHOSIS_ACCOUNTS__BOB__LINK__TOKEN=secret\` | \`accounts.bob.link.token\` = \`"secret"\` |
| \`METAMORPHOSIS_ACCOUNTS__BOB__MAX_PACKET_AMOUNT=1000\` | \`accounts.bob.maxPacketAmount\` = \`"1000"\` (amounts stay strings) |
| \`METAMORPHOSIS_ROUTES='[{"prefix":"g.bob","account":"bob"}]'\` | \`routes\` (JSON) |
| \`METAMORPHOSIS_ROUTES__0__ACCOUNT=bob\` | \`routes[0].account\` = \`"bob"\` |

- Values are taken verbatim where the setting is a string (so amounts stay strings) and parsed as JSON
  where it is a number, a boolean, an object or an array.
- Map keys (listener names, account ids) match an existing key case-insensitively
  (\`METAMORPHOSIS_ACCOUNTS__ALICEEU__...\` changes the account \`aliceEU\`); otherwise the lowercased key is
  used, creating the entry. Keys containing \`__\` cannot be addressed this way; set the whole map as JSON
  instead.
- Array items are addressed by index (\`__0__\`); an index may be at most the array's length (to append).
- Overrides apply on top of the file, before defaults and validation. The only exception is the
  \`listeners\` default, which is put in place first when the file has no \`listeners\`, so that
  \`METAMORPHOSIS_LISTENERS__DEFAULT__PORT\` changes the default listener rather than replacing it.
- Shallower variables apply first: \`METAMORPHOSIS_PACKETS='{...}'\` then \`METAMORPHOSIS_PACKETS__MAX_HOLD_TIME_MS\`.
- A variable that names no setting is an error naming the variable; problems with values set by a
  variable name the variable as well as the path.
- \`METAMORPHOSIS_CONFIG\` names the configuration file; it is not an override.
`

function renderTables(schema) {
  const tables = collectTables(schema, '', 'Top level', undefined, [])
  const out = ['## Settings', '']
  for (const table of tables) {
    out.push(`### ${heading(table.title)}`, '')
    if (table.description) out.push(table.description, '')
    if (table.note) out.push(table.note, '')
    out.push('| Path | Type | Default | Description |', '| --- | --- | --- | --- |')
    for (const row of table.rows) {
      out.push(`| \`${cell(row.path)}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`)
    }
    out.push('')
  }
  return out.join('\n')
}

/** The whole of docs/configuration.md for a given ConfigSchema. */
function renderConfigDocs(configSchema) {
  return [INTRO, renderTables(configSchema), ENV].join('\n')
}

// ---------------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------------

function loadSchemaModule() {
  if (!require.extensions['.ts']) {
    const ts = require('typescript')
    require.extensions['.ts'] = (module, filename) => {
      const source = fs.readFileSync(filename, 'utf8')
      const { outputText } = ts.transpileModule(source, {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }
      })
      module._compile(outputText, filename)
    }
  }
  return require(path.join(__dirname, '..', 'src', 'config', 'schema.ts'))
}

function main(argv) {
  const text = renderConfigDocs(loadSchemaModule().ConfigSchema)
  if (argv.includes('--check')) {
    const current = fs.existsSync(DOCS_FILE) ? fs.readFileSync(DOCS_FILE, 'utf8') : ''
    if (current !== text) {
      console.error(`${path.relative(process.cwd(), DOCS_FILE)} is out of date: run node scripts/config-docs.js`)
      process.exitCode = 1
    }
    return
  }
  fs.mkdirSync(path.dirname(DOCS_FILE), { recursive: true })
  fs.writeFileSync(DOCS_FILE, text)
  console.log(`wrote ${path.relative(process.cwd(), DOCS_FILE)}`)
}

module.exports = { renderConfigDocs, DOCS_FILE }

if (require.main === module) main(process.argv.slice(2))
