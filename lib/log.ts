import { pino, type Logger, type DestinationStream } from 'pino'

/**
 * The one logger. Secrets are redacted by path here, compiled once (pino's redaction), so no call
 * site has to remember it. Level from VECGATE_LOG_LEVEL (default info; tests default to silent).
 */
const REDACT = [
  'password', '*.password', 'token', '*.token', 'api_key', '*.api_key', 'apiKey', '*.apiKey',
  'authorization', '*.authorization', 'headers["api-key"]', 'headers.authorization',
  'credentials', '*.credentials'
]

export type { Logger }

export function createLogger (opts: { level?: string, destination?: NodeJS.WritableStream } = {}): Logger {
  const level = opts.level ?? process.env.VECGATE_LOG_LEVEL ?? (process.env.TAP === '1' ? 'silent' : 'info')
  return pino({ level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    opts.destination as DestinationStream | undefined)
}

export const rootLogger: Logger = createLogger()
