import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import type { BackendConfig } from '../config/types.js'

/**
 * Opens one upstream connection for one client connection: plain TCP, or TLS (ALPN h2 for the gRPC
 * backends) when the backend sets `upstream_tls`. Reading the CA happens once per backend.
 */
export function upstreamConnector (backend: BackendConfig): () => net.Socket {
  const { host, port } = backend.upstream
  const t = backend.upstream_tls
  if (t === undefined) return () => net.connect({ host, port })
  const ca = t.ca !== undefined ? readFileSync(t.ca) : undefined
  const alpn = backend.protocol === 'postgres' ? undefined : ['h2']
  return () => tls.connect({
    host,
    port,
    ca,
    servername: t.servername ?? (net.isIP(host) === 0 ? host : undefined),
    rejectUnauthorized: t.insecure !== true,
    ALPNProtocols: alpn
  })
}
