import net from 'node:net'
import tls from 'node:tls'
import { decodeFirstPacket, type FirstPacket } from '../../decoders/postgres/messages.js'
import { Auth, F, MAX_STARTUP_PACKET } from '../../decoders/postgres/protocol.js'
import { MessageReader } from '../../decoders/postgres/reader.js'
import { serialize } from '../../decoders/postgres/writer.js'
import type { Identity } from '../../decoders/types.js'
import type { BackendConfig, LimitsConfig } from '../config/types.js'
import { VecgateError, asVecgateError, sqlStateOf } from '../errors.js'
import type { Logger } from '../log.js'
import type { Pipeline, Session } from '../pipeline.js'
import { cancelKeys as defaultCancelKeys, type CancelKeys } from './cancel-keys.js'
import { PgRelay } from './relay.js'
import { connectUpstream, sendCancel } from './upstream.js'
import { wireOf } from './wire.js'

export interface ServePostgresOptions {
  backend: BackendConfig
  /** idle_timeout (seconds, 0 = none) ends a connection that sends and receives nothing for that long */
  limits: Pick<LimitsConfig, 'pg_max_message'> & Partial<Pick<LimitsConfig, 'idle_timeout'>>
  /** TLS toward clients; without it SSLRequest is answered 'N' */
  tls?: tls.SecureContext
  log: Logger
  cancelKeys?: CancelKeys
  /** the listener already terminated TLS (direct TLS); SSLRequest is then refused */
  tlsTerminated?: boolean
}

/** What the gateway holds of each connection: drain it at shutdown, and whether a query is in flight. */
export interface PgConnection {
  drain (): void
  readonly activeStreams: number
}

/**
 * Startup parameters passed on to the upstream. Everything else a client sends is dropped: `options`
 * and `replication` are refused outright (THREATS.md "Startup tricks"), and settings that change how
 * SQL is read or which tables a name means (search_path, client_encoding other than UTF8) must not
 * be set behind the classifier's back.
 */
const PASSED_PARAMETERS = new Set(['datestyle', 'timezone', 'extra_float_digits', 'intervalstyle', 'lc_monetary', 'lc_numeric', 'lc_time', 'bytea_output'])

/** The largest response message the relay buffers whole (a DataRow with big values) */
const MAX_BACKEND_MESSAGE = 256 * 1024 * 1024

/**
 * Serves one accepted client connection speaking the PostgreSQL wire protocol v3: SSL/GSSENC
 * negotiation, CancelRequest, StartupMessage, the token as a cleartext password, then an upstream
 * connection with the backend's own credentials and the message relay.
 */
export function servePostgres (socket: net.Socket, pipeline: Pipeline, opts: ServePostgresOptions): PgConnection {
  const f = new Frontend(socket, pipeline, opts)
  f.start()
  return f
}

const isLoopback = (addr: string | undefined): boolean =>
  addr !== undefined && (addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.'))

const enum Phase { Startup, Password, Connecting, Relaying, Closed }

class Frontend implements PgConnection {
  private socket: net.Socket
  private relay: PgRelay | undefined
  private draining = false
  private readonly reader: MessageReader
  private phase = Phase.Startup
  private tlsOn = false
  private sslAsked = false
  private params = new Map<string, string>()
  private minor = 0
  private session: Session | undefined
  private readonly log: Logger
  private readonly keys: CancelKeys
  private readonly onData = (c: Buffer): void => this.data(c)
  private readonly onError = (): void => this.close('client error')
  private readonly onClose = (): void => this.close('client closed')
  /** the accepted socket carries the startup idle timer (a TLS socket on top of it does not) */
  private readonly accepted: net.Socket

  constructor (socket: net.Socket, private readonly pipeline: Pipeline, private readonly opts: ServePostgresOptions) {
    this.socket = socket
    this.accepted = socket
    this.reader = new MessageReader(Math.min(MAX_STARTUP_PACKET, opts.limits.pg_max_message), true)
    this.log = opts.log
    this.keys = opts.cancelKeys ?? defaultCancelKeys
    this.tlsOn = opts.tlsTerminated === true
  }

  get activeStreams (): number { return this.relay?.busy === true ? 1 : 0 }

  drain (): void {
    this.draining = true
    if (this.relay !== undefined) this.relay.drain()
    else if (this.phase !== Phase.Connecting) this.refuse(new VecgateError('VG_ERR_UPSTREAM', 'vecgate is shutting down'), false)
  }

  start (): void {
    const s = this.socket
    s.setNoDelay(true)
    s.on('data', this.onData)
    s.on('error', this.onError)
    s.on('close', this.onClose)
    // before the relay takes over (startup packet, password) the client speaks next: silence past the
    // idle timeout is refused like an idle session; this phase is short, so a socket timer is cheap
    const idle = this.opts.limits.idle_timeout ?? 0
    if (idle > 0) s.setTimeout(idle * 1000, this.onStartupIdle)
  }

  private readonly onStartupIdle = (): void => {
    if (this.phase !== Phase.Startup && this.phase !== Phase.Password) return
    // 57P05 idle_session_timeout (PostgreSQL docs, Appendix A "PostgreSQL Error Codes")
    this.socket.end(serialize.errorResponse({ severity: 'FATAL', code: '57P05', message: 'terminating connection due to idle-session timeout' }))
    this.close('idle timeout')
  }

  private get closed (): boolean { return this.phase === Phase.Closed }

  private data (chunk: Buffer): void {
    if (this.phase === Phase.Closed || this.phase === Phase.Connecting) {
      if (this.phase === Phase.Connecting) this.reader.push(chunk)
      return
    }
    this.reader.push(chunk)
    try {
      while (this.phase === Phase.Startup || this.phase === Phase.Password) {
        if (!this.reader.next()) return
        if (this.phase === Phase.Startup) {
          const stop = this.first(decodeFirstPacket(this.reader.buf, this.reader.start, this.reader.end))
          if (stop) return
        } else {
          this.password()
          return
        }
      }
    } catch (e) {
      this.refuse(asVecgateError(e))
    }
  }

  /** Handles one untyped first packet; true when reading must stop here. */
  private first (p: FirstPacket): boolean {
    switch (p.kind) {
      case 'ssl':
        if (this.tlsOn || this.sslAsked) throw new VecgateError('VG_ERR_MALFORMED', 'SSLRequest sent twice')
        this.sslAsked = true
        // bytes after the SSLRequest but before the handshake would be read as if protected
        // (CVE-2021-23214): refuse them
        if (this.reader.pending > 0) throw new VecgateError('VG_ERR_MALFORMED', 'data after SSLRequest before the TLS handshake')
        if (this.opts.tls === undefined) {
          this.socket.write('N')
          return false
        }
        this.socket.write('S')
        this.upgrade()
        return true
      case 'gssenc':
        // GSSAPI encryption is not offered; 'N' lets the client go on with SSLRequest or a startup (55.2.11)
        if (this.reader.pending > 0) throw new VecgateError('VG_ERR_MALFORMED', 'data after GSSENCRequest')
        this.socket.write('N')
        return false
      case 'cancel': {
        const target = this.keys.lookup(p.pid, p.secret)
        if (target !== undefined) sendCancel(target)
        // 55.2.7: the server answers nothing and closes, whether or not the key matched
        this.phase = Phase.Closed
        this.socket.end()
        return true
      }
      case 'startup':
        this.startup(p)
        return false
    }
  }

  private upgrade (): void {
    const raw = this.socket
    raw.off('data', this.onData)
    // only this handler's own listeners: whoever accepted the socket may be watching it close
    raw.off('close', this.onClose)
    raw.off('error', this.onError)
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext: this.opts.tls })
    this.socket = t
    this.tlsOn = true
    t.on('data', this.onData)
    t.on('error', this.onError)
    t.on('close', this.onClose)
  }

  private startup (p: Extract<FirstPacket, { kind: 'startup' }>): void {
    if (p.major !== 3) {
      throw new VecgateError('VG_ERR_MALFORMED', `unsupported frontend protocol ${p.major}.${p.minor}: vecgate speaks 3.0`)
    }
    const params = p.params
    if (!this.tlsOn && !isLoopback(this.socket.localAddress)) {
      throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'this vecgate listener requires TLS (sslmode=require)')
    }
    if (params.has('replication')) throw new VecgateError('VG_ERR_DENIED', 'replication connections are not allowed through vecgate')
    const options = params.get('options')
    if (options !== undefined && options.trim() !== '') throw new VecgateError('VG_ERR_DENIED', 'startup options are not allowed through vecgate')
    const user = params.get('user')
    if (user === undefined || user === '') throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'no user name in the startup packet')
    const wanted = this.opts.backend.credentials.database ?? this.opts.backend.credentials.user
    const db = params.get('database')
    // libpq and node-postgres send the user name when no database was chosen; any other name is refused
    if (db !== undefined && db !== '' && db !== wanted && db !== user) {
      // the name asked for is not repeated back: it is client text and may be a pasted grant
      throw new VecgateError('VG_ERR_DENIED', `the database asked for is not served by this listener (it serves "${wanted ?? ''}")`)
    }
    this.params = params
    this.minor = p.minor
    this.reader.startup = false
    this.reader.setMaxLength(this.opts.limits.pg_max_message)
    this.phase = Phase.Password
    const out: Buffer[] = []
    const unrecognized = [...params.keys()].filter(k => k.startsWith('_pq_.'))
    // 55.2.1: a client asking for 3.x (x > 0) or for protocol options learns what we speak
    if (p.minor > 0 || unrecognized.length > 0) out.push(serialize.negotiateProtocolVersion(0, unrecognized))
    out.push(serialize.authentication(Auth.CleartextPassword))
    this.socket.write(Buffer.concat(out))
  }

  private password (): void {
    const r = this.reader
    if (r.code !== F.Password) throw new VecgateError('VG_ERR_MALFORMED', 'expected a password message')
    const z = r.buf.indexOf(0, r.body)
    if (z < 0 || z >= r.end) throw new VecgateError('VG_ERR_MALFORMED', 'unterminated password')
    const token = r.buf.toString('utf8', r.body, z)
    this.phase = Phase.Connecting
    void this.authenticate(token)
  }

  private async authenticate (token: string): Promise<void> {
    const s = this.socket
    const session = this.pipeline.open({ address: `${s.remoteAddress ?? ''}:${s.remotePort ?? ''}`, tls: this.tlsOn })
    this.session = session
    const user = this.params.get('user')!
    let identity: Identity
    try {
      identity = await session.authenticate(token)
      if (user === token) throw session.refuse(new VecgateError('VG_ERR_UNAUTHENTICATED', 'the token belongs in the password, not the user name'))
      if (user !== identity.subject) {
        // the user name is never repeated in the error, the log or the journal: a client that put a grant
        // there (another one than the password's) would see it echoed into all three
        throw session.refuse(new VecgateError('VG_ERR_UNAUTHENTICATED', 'the user name does not match the token\'s subject', { hint: 'connect with the grant\'s subject as the user name' }))
      }
    } catch (e) {
      this.refuse(asVecgateError(e), false)
      return
    }
    if (this.closed) return
    const backend = this.opts.backend
    const app = this.params.get('application_name')
    const upstreamParams: Record<string, string> = {
      // who is behind this connection, for the database's own logs and pg_stat_activity
      application_name: `vecgate:${identity.subject}${app !== undefined && app !== '' ? ` ${app}` : ''}`.slice(0, 63),
      client_encoding: 'UTF8'
    }
    for (const [k, v] of this.params) if (PASSED_PARAMETERS.has(k.toLowerCase())) upstreamParams[k] = v
    let up
    try {
      up = await connectUpstream(backend, upstreamParams, Math.max(MAX_BACKEND_MESSAGE, this.opts.limits.pg_max_message), session.log)
    } catch (e) {
      this.refuse(asVecgateError(e))
      return
    }
    if (this.closed) { up.socket.destroy(); return }
    const key = this.keys.issue({ upstream: backend.upstream, pid: up.pid, secret: up.secret })
    const hello: Buffer[] = [serialize.authenticationOk()]
    for (const m of up.startup) hello.push(m)
    hello.push(serialize.backendKeyData(key.pid, key.secret), serialize.readyForQuery(up.status))
    s.write(Buffer.concat(hello))
    this.phase = Phase.Relaying
    // the relay keeps its own, cheaper idle clock from here on (a socket timer is reset by every read)
    this.accepted.setTimeout(0)
    this.accepted.off('timeout', this.onStartupIdle)
    s.off('data', this.onData)
    s.off('close', this.onClose)
    s.off('error', this.onError)
    // from here on both connections are driven by their TCP handles, when they allow it
    up.socket.removeAllListeners('data')
    const relay = new PgRelay({
      backend,
      database: backend.credentials.database ?? backend.credentials.user ?? '',
      session,
      identity,
      client: wireOf(s),
      upstream: wireOf(up.socket),
      front: this.reader,
      back: up.reader,
      status: up.status,
      parameters: up.parameters,
      idleTimeout: (this.opts.limits.idle_timeout ?? 0) * 1000,
      onEnd: (reason) => {
        this.keys.revoke(key.pid, key.secret)
        session.end(reason)
      }
    })
    this.relay = relay
    relay.start()
    if (this.draining) relay.drain()
  }

  /** A FATAL ErrorResponse in the client's protocol, then close (55.2.1: errors during startup are fatal). */
  private refuse (e: VecgateError, record = true): void {
    if (this.phase === Phase.Closed) return
    if (record) {
      if (this.session !== undefined) this.session.refuse(e)
      else this.log.info({ code: e.code, client: this.socket.remoteAddress }, e.message)
    }
    const hint = e.detail.hint
    this.socket.end(serialize.errorResponse({ severity: 'FATAL', code: sqlStateOf(e), message: e.message, hint }))
    this.close(e.message)
  }

  private close (reason: string): void {
    if (this.phase === Phase.Closed) return
    this.phase = Phase.Closed
    this.session?.end(reason)
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }
}

/** For tests and the demo: a listener on `host:port` (port 0 = any) serving every connection. */
export async function listenPostgres (pipeline: Pipeline, opts: ServePostgresOptions & { host?: string, port?: number }): Promise<net.Server & { port: number }> {
  const server = net.createServer(s => servePostgres(s, pipeline, opts))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  return Object.assign(server, { port })
}
