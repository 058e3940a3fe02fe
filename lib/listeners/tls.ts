import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import type { BackendConfig } from '../config/types.js'

/** The listener's TLS context, read once at start; ALPN h2 for the gRPC protocols. */
export function listenerTls (backend: BackendConfig): tls.SecureContextOptions & { ALPNProtocols?: string[] } | undefined {
  if (backend.tls === undefined) return undefined
  return {
    cert: readFileSync(backend.tls.cert),
    key: readFileSync(backend.tls.key),
    ...(backend.tls.ca !== undefined ? { ca: readFileSync(backend.tls.ca) } : {}),
    ...(backend.protocol !== 'postgres' ? { ALPNProtocols: ['h2'] } : {})
  }
}
