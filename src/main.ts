#!/usr/bin/env node
/**
 * `npm start [-- --config FILE]`: runs the connector until SIGTERM/SIGINT. The first signal drains
 * (no new packets, those in flight finish or expire, state flushed, exit 0); a second exits at once.
 */
import { Command } from 'commander'
import { loadConfig, ConfigError } from './config'
import { createConnector } from './Connector'

const program = new Command()
  .name('metamorphosis')
  .description('An Interledger (ILPv4) connector. With no options it runs the embedded default: address ' +
    'test.local, data under ./data, and a BTP listener on 127.0.0.1:7768 that gives each new token its own child account.')
  .option('-c, --config <file>', 'JSON config file (default: config/default.json, or $METAMORPHOSIS_CONFIG)')
  .option('--check', 'validate the configuration and exit (0 if valid, 2 with the problems if not)')
  .addHelpText('after', '\nEnvironment variables METAMORPHOSIS_<PATH> override config fields, e.g.\n' +
    '  METAMORPHOSIS_ILP_ADDRESS=g.example  METAMORPHOSIS_LISTENERS__DEFAULT__PORT=8000  METAMORPHOSIS_LOG__LEVEL=debug\n' +
    'See docs/configuration.md.')
  .action(async (opts: { config?: string; check?: boolean }) => {
    let config
    try {
      config = loadConfig({ file: opts.config })
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`metamorphosis: invalid configuration\n${e.message}\n`)
        process.exit(2)
      }
      throw e
    }
    if (opts.check === true) {
      process.stdout.write('configuration is valid\n')
      return
    }
    const connector = createConnector(config)
    let stopping = false
    const onSignal = (signal: string): void => {
      if (stopping) {
        connector.log.warn({ signal }, 'second signal: exiting at once')
        process.exit(1)
      }
      stopping = true
      connector.log.info({ signal }, 'signal received: shutting down')
      connector.stop().then(() => process.exit(0), (err: unknown) => {
        connector.log.error({ err }, 'error while shutting down')
        process.exit(1)
      })
    }
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
    try {
      await connector.start()
    } catch (err) {
      connector.log.fatal({ err }, 'connector failed to start')
      // Also plainly on stderr: the reason an operator has to act on (a data directory refused, a port in use...).
      process.stderr.write(`metamorphosis: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    }
  })

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`metamorphosis: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
