import { readFileSync } from 'node:fs'
import type net from 'node:net'
import tls from 'node:tls'
import { loadClassifier } from '../../decoders/postgres/classify.js'
import type { BackendConfig, Config } from '../config/types.js'
import type { Pipeline } from '../pipeline.js'
import { servePostgres, type PgConnection } from './serve.js'

/**
 * The PostgreSQL protocol path as the gateway builds it for a backend: loads the SQL parser once,
 * reads the listener's TLS material once, and returns the per-socket handler.
 *
 * PostgreSQL clients ask for TLS in-band (SSLRequest), so the listener for this protocol should be a
 * plain `net` server; the handler upgrades the socket itself. A socket the listener already wrapped
 * in TLS (`tlsOn`) is accepted as such.
 */
export async function postgresPath (backend: BackendConfig, config: Config): Promise<(socket: net.Socket, pipeline: Pipeline, tlsOn: boolean) => PgConnection> {
  await loadClassifier()
  const secureContext = backend.tls !== undefined
    ? tls.createSecureContext({
      cert: readFileSync(backend.tls.cert),
      key: readFileSync(backend.tls.key),
      ...(backend.tls.ca !== undefined ? { ca: readFileSync(backend.tls.ca) } : {})
    })
    : undefined
  return (socket, pipeline, tlsOn) => servePostgres(socket, pipeline, {
    backend,
    limits: config.limits,
    tls: secureContext,
    tlsTerminated: tlsOn,
    log: pipeline.parts.log
  })
}
