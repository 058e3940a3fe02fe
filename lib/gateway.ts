/**
 * The gateway: every backend in the config gets a listener, a pipeline and its protocol path; one admin
 * API serves health, metrics, grants, approvals and sessions. start → serve → drain → stop.
 */
import { randomBytes, createHash } from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import type { GrpcService } from '../decoders/grpc/service.js'
import { QdrantService } from '../decoders/qdrant/service.js'
import type { Masker } from '../decoders/types.js'
import { Metrics } from './admin/metrics.js'
import { startAdmin, type AdminServer } from './admin/server.js'
import './admin/routes.js'
import './admin/journal-routes.js'
import type { BackendConfig, Config } from './config/types.js'
import { VecgateError } from './errors.js'
import { GrpcRelay } from './http2/relay.js'
import { Grants } from './identity/grants.js'
import { loadOrCreateSigningKey, type SigningKey } from './identity/keys.js'
import type { IdentityVerifier } from './identity/types.js'
import { listenerTls } from './listeners/tls.js'
import { createLogger, type Logger } from './log.js'
import type { JournalSink } from './journal/types.js'
import { Pipeline, type ApprovalHold, type ExfiltrationGuard } from './pipeline.js'
import type { Policy } from './policy/types.js'
import { upstreamConnector } from './upstream/connect.js'

/** The parts the gateway is built from; each has its own module and is compiled once here. */
export interface GatewayParts {
  key: SigningKey
  grants: Grants
  verifier: IdentityVerifier
  policy: Policy & { explain?: (...a: any[]) => unknown }
  masks: ReadonlyMap<string, Masker>
  journal: JournalSink
  approvals?: ApprovalHold & Record<string, any>
  limits?: ExfiltrationGuard
}

/** A protocol path takes an accepted socket and serves it until it closes. */
interface Connection { drain: () => void, readonly activeStreams: number }
type Serve = (socket: net.Socket, pipeline: Pipeline, tlsOn: boolean) => Connection

export interface Listening { backend: BackendConfig, host: string, port: number }

export class Gateway {
  readonly log: Logger
  readonly metrics = new Metrics()
  readonly listening: Listening[] = []
  admin: AdminServer | undefined
  private readonly servers: net.Server[] = []
  private readonly connections = new Set<Connection>()
  private stopping = false
  private readonly cleanups: Array<() => void> = []

  private constructor (readonly config: Config, readonly parts: GatewayParts, log: Logger) {
    this.log = log
  }

  /** Builds every part from the config and starts listening. Errors name what failed and what to do. */
  static async start (config: Config, opts: { log?: Logger, parts?: Partial<GatewayParts> } = {}): Promise<Gateway> {
    const log = opts.log ?? createLogger()
    const parts = await buildParts(config, log, opts.parts ?? {})
    const gw = new Gateway(config, parts, log)
    try {
      for (const backend of config.backends) await gw.listen(backend)
      gw.admin = await startAdmin(gw)
    } catch (e) {
      await gw.stop()
      throw e
    }
    return gw
  }

  /** Runs when the gateway stops (readers and other things opened on demand). */
  onStop (fn: () => void): void {
    this.cleanups.push(fn)
  }

  address (backend: string): string {
    const l = this.listening.find(x => x.backend.name === backend)
    if (l === undefined) throw new Error(`no backend ${backend}`)
    return `${l.host}:${l.port}`
  }

  private async listen (backend: BackendConfig): Promise<void> {
    const pipeline = new Pipeline({
      backend,
      verifier: this.parts.verifier,
      policy: this.parts.policy,
      masks: this.parts.masks,
      journal: this.parts.journal,
      approvals: this.parts.approvals,
      limits: this.parts.limits,
      metrics: this.metrics,
      log: this.log,
      maxHoldMs: this.config.policy.approval_hold * 1000,
      durable: this.config.journal.durable
    })
    const serve = await protocolPath(backend, this.config)
    // PostgreSQL clients ask for TLS in-band (SSLRequest): its path upgrades the socket itself
    const tlsOptions = backend.protocol === 'postgres' ? undefined : listenerTls(backend)
    const onSocket = (socket: net.Socket, tlsOn: boolean): void => {
      if (this.stopping) { socket.destroy(); return }
      socket.on('error', () => {})
      const conn = serve(socket, pipeline, tlsOn)
      this.connections.add(conn)
      socket.once('close', () => this.connections.delete(conn))
    }
    const server = tlsOptions !== undefined
      ? tls.createServer(tlsOptions, (s) => onSocket(s, true))
      : net.createServer((s) => onSocket(s, false))
    server.on('tlsClientError', (e: Error) => this.log.info({ backend: backend.name, err: e.message }, 'TLS handshake failed'))
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(new VecgateError('VG_ERR_CONFIG', e.code === 'EADDRINUSE'
          ? `backends ${backend.name}: ${backend.listen.host}:${backend.listen.port} is already in use; pick another listen port or stop what holds it`
          : `backends ${backend.name}: cannot listen on ${backend.listen.host}:${backend.listen.port}: ${e.message}`))
      })
      server.listen(backend.listen.port, backend.listen.host, () => resolve())
    })
    server.on('error', (e) => this.log.error({ backend: backend.name, err: e.message }, 'listener error'))
    const addr = server.address() as net.AddressInfo
    this.servers.push(server)
    this.listening.push({ backend, host: addr.address, port: addr.port })
    this.log.info({ backend: backend.name, protocol: backend.protocol, listen: `${addr.address}:${addr.port}`, upstream: `${backend.upstream.host}:${backend.upstream.port}` }, 'listening')
  }

  /** SIGTERM: stop accepting, let in-flight calls finish (up to `timeoutMs`), then stop. */
  async drain (timeoutMs = 10_000): Promise<void> {
    this.stopping = true
    for (const s of this.servers) s.close()
    for (const c of this.connections) c.drain()
    const until = Date.now() + timeoutMs
    while (Date.now() < until && [...this.connections].some(c => c.activeStreams > 0)) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    await this.stop()
  }

  async stop (): Promise<void> {
    this.stopping = true
    for (const s of this.servers) s.close()
    await this.admin?.close()
    for (const fn of this.cleanups.splice(0)) { try { fn() } catch {} }
    ;(this.parts.approvals as { close?: () => void } | undefined)?.close?.()
    ;(this.parts.verifier as { revocations?: { close: () => void } }).revocations?.close()
    await this.parts.journal.close()
  }
}

async function protocolPath (backend: BackendConfig, config: Config): Promise<Serve> {
  const connectUpstream = upstreamConnector(backend)
  if (backend.protocol === 'postgres') {
    const { postgresPath } = await import('./postgres/path.js')
    return await postgresPath(backend, config)
  }
  let service: GrpcService
  if (backend.protocol === 'qdrant') service = new QdrantService()
  else {
    const { MilvusService } = await import('../decoders/milvus/service.js')
    service = new MilvusService()
  }
  return (socket, pipeline, tlsOn) => {
    const session = pipeline.open({ address: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, tls: tlsOn })
    return new GrpcRelay(socket, { service, backend, limits: config.limits, session, connectUpstream })
  }
}

async function buildParts (config: Config, log: Logger, given: Partial<GatewayParts>): Promise<GatewayParts> {
  const key = given.key ?? await loadOrCreateSigningKey(config.identity.signing_key)
  const grants = given.grants ?? new Grants(key, config.identity.audience, config.identity.max_ttl)
  const verifier = given.verifier ?? await buildVerifier(config, grants, log)
  const policy = given.policy ?? await buildPolicy(config)
  const masks = given.masks ?? await buildMasks(config, key)
  const journal = given.journal ?? await buildJournal(config, key, log)
  const approvals = given.approvals ?? await buildApprovals(config, log, journal)
  const limits = given.limits ?? await buildLimits(config)
  return { key, grants, verifier, policy, masks, journal, approvals, limits }
}

async function buildVerifier (config: Config, grants: Grants, log: Logger): Promise<IdentityVerifier> {
  const { createVerifierFromConfig } = await import('./identity/verifier.js')
  return createVerifierFromConfig(config, grants, { log })
}

async function buildPolicy (config: Config): Promise<GatewayParts['policy']> {
  const { compilePolicy } = await import('./policy/compile.js')
  return compilePolicy(config.policy, { backends: config.backends.map(b => b.name), profiles: Object.keys(config.masking.profiles) })
}

async function buildMasks (config: Config, key: SigningKey): Promise<ReadonlyMap<string, Masker>> {
  if (Object.keys(config.masking.profiles).length === 0) return new Map()
  const { compileMasking } = await import('./mask/index.js')
  // a stable hashing key derived from the gateway's key: the same value hashes the same across restarts
  const hashKey = createHash('sha256').update('vecgate mask hash key').update(key.privateKey.export({ format: 'der', type: 'pkcs8' })).digest()
  return compileMasking(config.masking.profiles, { hashKey })
}

async function buildJournal (config: Config, key: SigningKey, log: Logger): Promise<JournalSink> {
  const { JournalWriter } = await import('./journal/writer.js')
  return new JournalWriter({
    path: config.journal.path,
    onFull: config.journal.on_full,
    queue: config.journal.queue,
    storeVectors: config.journal.store_vectors,
    signingKey: key.privateKey,
    keyId: key.kid,
    log,
    retention: config.journal.retention
  })
}

async function buildApprovals (config: Config, log: Logger, journal: JournalSink): Promise<GatewayParts['approvals']> {
  const { Approvals } = await import('./approvals/index.js')
  return new Approvals({ config: config.policy, path: config.journal.path.replace(/\.db$/, '') + '-approvals.db', log, journal })
}

async function buildLimits (config: Config): Promise<ExfiltrationGuard | undefined> {
  if (config.policy.limits === undefined) return undefined
  const { ExfiltrationLimits } = await import('./policy/limits.js')
  return new ExfiltrationLimits(config.policy.limits)
}

export const _internal = { randomBytes }
