import pino, { Logger } from 'pino'

export type { Logger }

/** Structured JSON logs on stdout (pino). Tokens and secrets are never passed to it. */
export function createLogger (level: string): Logger {
  return pino({ level, base: { name: 'metamorphosis' } })
}
