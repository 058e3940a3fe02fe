/**
 * The gRPC data path: a 1:1 HTTP/2 frame relay between one client connection and one upstream
 * connection (ARCHITECTURE.md, "Measured: why the gRPC core should relay HTTP/2 frames itself").
 *
 * What passes as bytes: DATA of admitted streams (stream id patched when it differs), PING, PRIORITY,
 * SETTINGS (parsed on the way for the values that bind us), GOAWAY.
 * What the relay rewrites: header blocks (HPACK-decoded and re-encoded per direction, because the
 * gateway drops and adds metadata and answers some streams itself, RFC 7541), and flow control: the
 * gateway is the flow-control peer of both sides (RFC 9113 §5.2). It credits a sender as the bytes it
 * sent leave toward the receiver — or, for a request still being decided or a response being masked,
 * as they are buffered, up to the max message size — so memory per stream stays bounded and nobody
 * stalls when bytes do not pass one for one.
 * Stream ids are remapped: a request held for approval must not block the streams opened after it,
 * and HTTP/2 requires new stream ids to increase (RFC 9113 §5.1.1).
 */
import type net from 'node:net'
import type { GrpcMethod, GrpcService, Metadata } from '../../decoders/grpc/service.js'
import { GrpcMessageReader, inflateMessage, messagePrefix, type GrpcMessage } from '../../decoders/grpc/messages.js'
import type { Identity, Operation } from '../../decoders/types.js'
import type { BackendConfig, LimitsConfig } from '../config/types.js'
import { VecgateError, asVecgateError, grpcStatusOf, GrpcStatus } from '../errors.js'
import type { Call, Session } from '../pipeline.js'
import { ErrorCode, Flags, FrameType, SettingsId } from './constants.js'
import * as F from './frames.js'
import { HpackDecoder, HpackEncoder, type Header } from './hpack.js'
import { grpcUnary } from '../upstream/grpc-call.js'
import type { AliasMap } from '../../decoders/grpc/aliases.js'

export interface RelayOptions {
  service: GrpcService
  backend: BackendConfig
  limits: LimitsConfig
  session: Session
  /** opens the upstream connection (plain TCP, or TLS with ALPN h2) */
  connectUpstream: () => net.Socket
  /** receive window the gateway grants each side for the whole connection */
  connectionWindow?: number
}

/** client resets per second per connection before GOAWAY (rapid reset); legitimate cancels are rare */
const RESETS_PER_SECOND = 1000
/**
 * client frames per second per connection that carry nothing — DATA with no payload and no
 * END_STREAM, PRIORITY, SETTINGS other than ACKs, PINGs, frames of unknown types — before GOAWAY
 * ENHANCE_YOUR_CALM (RFC 9113 §10.5: "An endpoint MAY treat activity that is suspicious as a
 * connection error (Section 5.4.1) of type ENHANCE_YOUR_CALM"). CVE-2019-9518 (empty frames), 9515
 * (SETTINGS), 9513 (PRIORITY), 9512 (PING): each costs a parse, and a PING an answer, for nothing;
 * unknown types are ignored (RFC 9113 §5.5) but still read. gRPC clients send an empty DATA only to end
 * a stream, a few SETTINGS per connection and a keepalive PING every few seconds at most, so this is
 * far above legitimate use.
 */
const EMPTY_FRAMES_PER_SECOND = 1000
const DEFAULT_WINDOW = 65535
const MAX_WINDOW = 2 ** 31 - 1
/** bytes queued toward one side for one stream before the gateway stops crediting the other side */
const STREAM_HIGH_WATER = 256 * 1024

type Side = 'client' | 'upstream'

type Outgoing =
  | { kind: 'data', raw: Buffer | undefined, head?: Buffer, payload: Buffer, endStream: boolean, flowLength: number }
  | { kind: 'headers', headers: Header[], endStream: boolean }

/** One side's view of a stream going toward it: what we may send (its window) and what waits. */
class Lane {
  window: number
  queue: Outgoing[] = []
  queued = 0
  /** DATA bytes received from the *other* side for this stream and not yet credited back */
  owed = 0
  constructor (initial: number) { this.window = initial }
}

const enum State { Admitting, Open, Closed }

class RelayStream {
  upstreamId = 0
  state = State.Admitting
  method: GrpcMethod | undefined
  headers: Header[] = []
  md: HeaderMetadata | undefined
  token: string | undefined
  requestEncoding: string | undefined
  responseEncoding: string | undefined
  deadline: number | undefined
  /** request bytes held until the first message is decided */
  pending: Array<{ raw: Buffer, payload: Buffer, endStream: boolean, flowLength: number }> = []
  requestReader: GrpcMessageReader | undefined
  firstMessage: GrpcMessage | undefined
  clientEnded = false
  upstreamEnded = false
  responseHeadersSent = false
  grpcStatus: string | undefined
  responseReader: GrpcMessageReader | undefined
  responseBytes = 0
  call: Call | undefined
  /** what the gateway sends upstream in place of the client's credential */
  credentials: Array<[string, string]> = []
  abort: AbortController | undefined
  /** the decision has started (it may be waiting on identity or an approval) */
  deciding = false
  readonly toClient: Lane
  readonly toUpstream: Lane
  constructor (readonly clientId: number, clientWindow: number, upstreamWindow: number) {
    this.toClient = new Lane(clientWindow)
    this.toUpstream = new Lane(upstreamWindow)
  }
}

class HeaderMetadata implements Metadata {
  constructor (private readonly headers: Header[]) {}
  get (name: string): string | undefined {
    for (const h of this.headers) if (h[0] === name) return h[1]
    return undefined
  }

  all (name: string): string[] {
    const out: string[] = []
    for (const h of this.headers) if (h[0] === name) out.push(h[1])
    return out
  }
}

/**
 * Field names in HTTP/2 are lower case; one with an upper-case letter makes the message malformed
 * (RFC 9113 §8.2.1). Refusing it matters here beyond conformance: credentials and secret headers are
 * looked up by their lower-case names, so `Authorization` beside `authorization` would otherwise be a
 * second credential the decision never saw, forwarded upstream as it came.
 */
function checkFieldNames (headers: Header[]): void {
  for (const h of headers) {
    const name = h[0]
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i)
      if (c >= 65 && c <= 90) throw new VecgateError('VG_ERR_MALFORMED', 'a header field name has upper-case letters (RFC 9113 §8.2.1)')
    }
  }
}

/** Headers that never cross an HTTP/2 hop (RFC 9113 §8.2.2). */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'])

export class GrpcRelay {
  private readonly client: net.Socket
  private readonly upstream: net.Socket
  private readonly opts: RelayOptions
  private readonly session: Session
  private readonly clientReader: F.FrameReader
  private readonly upstreamReader: F.FrameReader
  private readonly requestDecoder: HpackDecoder
  private readonly upstreamEncoder = new HpackEncoder()
  private readonly responseDecoder: HpackDecoder
  private readonly clientEncoder = new HpackEncoder()
  private readonly streams = new Map<number, RelayStream>()
  private readonly byUpstreamId = new Map<number, RelayStream>()
  private nextUpstreamId = 1
  private lastClientId = 0
  /** windows for sending toward each side: connection level, and the initial value for new streams */
  private clientConnWindow = DEFAULT_WINDOW
  private upstreamConnWindow = DEFAULT_WINDOW
  private clientInitialWindow = DEFAULT_WINDOW
  private upstreamInitialWindow = DEFAULT_WINDOW
  private clientMaxFrame = 16384
  private upstreamMaxFrame = 16384
  /** DATA bytes received and not yet credited, connection level */
  private owedClient = 0
  private owedUpstream = 0
  private readonly connectionWindow: number
  /** partial header block being assembled (HEADERS + CONTINUATION), per side */
  private clientBlock: { streamId: number, flags: number, parts: Buffer[], size: number } | undefined
  private upstreamBlock: { streamId: number, flags: number, parts: Buffer[], size: number } | undefined
  private serverPrefaceSent = false
  private prefaceForwarded = false
  /** frames for the client written before the server preface (upstream's SETTINGS) went out */
  private heldForClient: Buffer[] = []
  private clientSettingsSeen = 0
  private upstreamUp = false
  private goingAway = false
  private closed = false
  private streamsThisSecond = 0
  private resetsThisSecond = 0
  private emptyFramesThisSecond = 0
  private secondStarted = Date.now()
  private readonly touched = new Set<RelayStream>()
  private upstreamCredentials: { identity: Identity, headers: Array<[string, string]> } | undefined
  /** limits.idle_timeout: bytes from the client since the last check, and checks since any */
  private idleCheck: NodeJS.Timeout | undefined
  private clientActive = true
  private idleQuarters = 0

  constructor (client: net.Socket, opts: RelayOptions) {
    this.client = client
    this.opts = opts
    this.session = opts.session
    this.connectionWindow = opts.connectionWindow ?? 4 * 1024 * 1024
    const maxList = opts.limits.max_header_list
    this.clientReader = new F.FrameReader({ expectPreface: true, maxFrameSize: 16384 })
    this.upstreamReader = new F.FrameReader({ maxFrameSize: 16384 })
    this.requestDecoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: maxList })
    this.responseDecoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: Math.max(maxList, 64 * 1024) })

    client.setNoDelay(true)
    client.on('data', (chunk: Buffer) => this.onClientData(chunk))
    client.on('error', (e) => this.session.log.debug({ err: e.message }, 'client socket error'))
    client.on('close', () => this.teardown('client closed'))
    client.on('drain', () => this.upstream.resume())
    if (opts.limits.idle_timeout > 0) {
      // a check every quarter of the timeout rather than socket.setTimeout, which re-arms a timer at
      // every read and write (a few per call): closed after 4 to 5 quarters without a stream or a byte
      // from the client
      this.idleCheck = setInterval(() => {
        if (this.clientActive || this.streams.size > 0) {
          this.clientActive = false
          this.idleQuarters = 0
        } else if (++this.idleQuarters > 4) {
          this.goaway(ErrorCode.NO_ERROR, 'idle timeout')
        }
      }, opts.limits.idle_timeout * 250).unref()
    }

    this.upstream = opts.connectUpstream()
    this.upstream.setNoDelay?.(true)
    this.upstream.on('data', (chunk: Buffer) => this.onUpstreamData(chunk))
    this.upstream.on('error', (e) => this.onUpstreamLost(e))
    this.upstream.on('close', () => this.onUpstreamLost(undefined))
    this.upstream.on('drain', () => this.client.resume())
  }

  // ---------------------------------------------------------------- client → gateway

  private onClientData (chunk: Buffer): void {
    if (this.closed) return
    this.clientActive = true
    this.beginBatch()
    try {
      this.clientReader.push(chunk)
      for (let f = this.clientReader.next(); f !== undefined; f = this.clientReader.next()) {
        this.onClientFrame(f)
        if (this.closed) return
      }
      this.settleCredits()
    } catch (e) {
      this.onClientProtocolError(e)
    }
  }

  private onClientFrame (f: F.Frame): void {
    if (!this.prefaceForwarded) {
      // the client preface was checked by the reader; upstream gets it just before the first frame
      this.prefaceForwarded = true
      this.writeUpstream(F.CLIENT_PREFACE)
    }
    if (this.clientBlock !== undefined && f.type !== FrameType.CONTINUATION) {
      throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'header block interrupted by another frame')
    }
    switch (f.type) {
      case FrameType.DATA: return this.onClientDataFrame(f)
      case FrameType.HEADERS:
      case FrameType.CONTINUATION: {
        const block = this.assemble('client', f)
        if (block !== undefined) this.onClientHeaders(block.streamId, block.flags, block.block)
        return
      }
      case FrameType.PRIORITY: return this.countEmptyFrame() // deprecated (RFC 9113 §5.3.2); nothing to relay that matters
      case FrameType.RST_STREAM: return this.onClientReset(f)
      case FrameType.SETTINGS: return this.onClientSettings(f)
      case FrameType.PUSH_PROMISE:
        throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'clients must not push')
      case FrameType.PING:
        checkPing(f)
        this.countEmptyFrame()
        if (!this.pingCanPass(f, 'upstream')) return
        return this.writeUpstream(f.raw)
      case FrameType.GOAWAY:
        this.goingAway = true
        if (this.upstreamUp) this.writeUpstream(f.raw)
        return
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate('client', f)
      default: return this.countEmptyFrame() // unknown frame types are ignored (RFC 9113 §4.1), but counted
    }
  }

  private onClientSettings (f: F.Frame): void {
    if (f.streamId !== 0) throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream')
    if ((f.flags & Flags.ACK) !== 0 && f.length !== 0) throw new F.Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload')
    if ((f.flags & Flags.ACK) === 0) {
      this.countEmptyFrame()
      this.clientSettingsSeen++
      for (const [id, value] of F.parseSettings(f.payload)) {
        switch (id) {
          case SettingsId.HEADER_TABLE_SIZE:
            // bounds the table of the encoder that talks to the client (us), and what upstream may use toward us
            this.clientEncoder.setMaxTableSize(Math.min(value, 4096))
            this.responseDecoder.setAllowedTableSize(value)
            break
          case SettingsId.INITIAL_WINDOW_SIZE: {
            const delta = value - this.clientInitialWindow
            this.clientInitialWindow = value
            for (const s of this.streams.values()) s.toClient.window += delta
            this.flushAll('client')
            break
          }
          case SettingsId.MAX_FRAME_SIZE:
            this.clientMaxFrame = value
            this.upstreamReader.maxFrameSize = value
            break
        }
      }
    }
    if (this.upstreamUp || !this.upstreamFailed) this.writeUpstream(f.raw)
    if (this.upstreamGrowPending > 0) {
      this.writeUpstream(F.windowUpdate(0, this.upstreamGrowPending))
      this.upstreamGrowPending = 0
    }
  }

  /** PINGs each side sent through the gateway and has not seen acknowledged yet */
  private pingsFromClient = 0
  private pingsFromUpstream = 0

  /**
   * A PING passes to the other side; an ACK only when that side has a PING of its own outstanding.
   * An unsolicited ACK is dropped here (RFC 9113 §6.7 asks nothing of its receiver, and Node's HTTP/2
   * server answers one with GOAWAY, which would cost every call on the connection).
   */
  private pingCanPass (f: F.Frame, to: Side): boolean {
    if ((f.flags & Flags.ACK) === 0) {
      if (to === 'upstream') this.pingsFromClient++
      else this.pingsFromUpstream++
      return true
    }
    if (to === 'upstream') {
      if (this.pingsFromUpstream === 0) return false
      this.pingsFromUpstream--
    } else {
      if (this.pingsFromClient === 0) return false
      this.pingsFromClient--
    }
    return true
  }

  /** the connection window increase for upstream, waiting for the client's first SETTINGS */
  private upstreamGrowPending = 0

  private onClientDataFrame (f: F.Frame): void {
    const s = this.streams.get(f.streamId)
    const payload = F.dataPayload(f)
    const endStream = (f.flags & Flags.END_STREAM) !== 0
    if (s === undefined || s.state === State.Closed) {
      // DATA of a stream we refused or reset: give the connection window back (RFC 9113 §6.9)
      this.owedClient += f.length
      if (s === undefined && f.streamId > this.lastClientId) throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream')
      // after the client's own END_STREAM nothing more may come (RFC 9113 §5.1, "closed"); after a
      // RST_STREAM of ours, frames already on their way are ignored
      if (s === undefined && this.endedRecently(f.streamId)) throw new F.Http2Error(ErrorCode.STREAM_CLOSED, 'DATA after END_STREAM', f.streamId)
      return
    }
    if (s.clientEnded) throw new F.Http2Error(ErrorCode.STREAM_CLOSED, 'DATA after END_STREAM', f.streamId)
    s.clientEnded = endStream
    this.owedClient += f.length
    s.toUpstream.owed += f.length
    this.touched.add(s)
    if (payload.length === 0 && !endStream) {
      // carries nothing (padding is credited back above): counted, never held while the stream is
      // decided, so a trickle under the budget cannot grow s.pending either
      this.countEmptyFrame()
      if (s.state === State.Admitting) return
    }
    if (s.state === State.Admitting) {
      // the frame as it came: forwarded as is once admitted (no copy of a large request, which
      // otherwise costs a second buffer of its size per call and the GC work to drop it)
      s.pending.push({ raw: f.raw, payload, endStream, flowLength: f.length })
      try {
        s.requestReader!.push(payload, (m) => {
          if (s.firstMessage !== undefined) {
            throw new VecgateError('VG_ERR_MALFORMED', `${s.method!.name} takes one request message`)
          }
          s.firstMessage = m
        })
      } catch (e) {
        this.refuseStream(s, asVecgateError(e))
        return
      }
      if (s.firstMessage !== undefined || endStream) this.decide(s)
      return
    }
    // admitted: the one request message was complete when it was decided, so any further byte starts a
    // second message no policy saw (every method is unary): refused here, never forwarded. An empty
    // DATA frame (END_STREAM) passes.
    if (payload.length > 0) {
      this.failOpenStream(s, new VecgateError('VG_ERR_MALFORMED', `${s.method!.name} takes one request message`))
      return
    }
    this.sendData('upstream', s, f.raw, payload, endStream, f.length)
  }

  private onClientHeaders (streamId: number, flags: number, block: Buffer): void {
    const headers = this.requestDecoder.decode(block) // always: the HPACK table must stay in step
    const endStream = (flags & Flags.END_STREAM) !== 0
    let s = this.streams.get(streamId)
    if (s !== undefined) {
      // trailers from the client: gRPC clients send none; forward them if the stream is open
      if (!endStream) throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'second HEADERS without END_STREAM', streamId)
      s.clientEnded = true
      try {
        checkFieldNames(headers)
      } catch (e) {
        this.refuseStream(s, asVecgateError(e))
        return
      }
      if (s.state === State.Open) this.queue('upstream', s, { kind: 'headers', headers: this.filterRequest(headers), endStream: true })
      else if (s.state === State.Admitting) this.decide(s)
      return
    }
    if (streamId % 2 === 0 || streamId <= this.lastClientId) {
      throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, `stream id ${streamId} out of order`)
    }
    this.lastClientId = streamId
    this.countNewStream()
    s = new RelayStream(streamId, this.clientInitialWindow, this.upstreamInitialWindow)
    this.streams.set(streamId, s)
    s.clientEnded = endStream
    if (this.goingAway || this.upstreamFailed) {
      this.refuseStream(s, new VecgateError('VG_ERR_UPSTREAM', `upstream ${this.opts.backend.name} is unavailable`))
      return
    }
    try {
      this.startRequest(s, headers)
    } catch (e) {
      this.refuseStream(s, asVecgateError(e))
      return
    }
    if (endStream) this.decide(s)
  }

  private startRequest (s: RelayStream, headers: Header[]): void {
    checkFieldNames(headers)
    const md = new HeaderMetadata(headers)
    s.md = md
    const method = md.get(':method')
    const contentType = md.get('content-type') ?? ''
    if (method !== 'POST' || !contentType.startsWith('application/grpc')) {
      throw new VecgateError('VG_ERR_MALFORMED', `this port speaks gRPC: ${method ?? '?'} ${contentType || 'without content-type'} is not a gRPC call`)
    }
    const path = md.get(':path') ?? ''
    s.method = this.opts.service.method(path)
    if (s.method === undefined) {
      // refused as denied, never UNIMPLEMENTED: some SDKs turn UNIMPLEMENTED into success (CONTRACT.md)
      throw new VecgateError('VG_ERR_UNKNOWN_METHOD', `method ${path} is not known to vecgate and is refused`)
    }
    s.token = this.opts.service.credential(md)
    s.requestEncoding = md.get('grpc-encoding')
    const timeout = md.get('grpc-timeout')
    if (timeout !== undefined) s.deadline = Date.now() + parseGrpcTimeout(timeout)
    s.headers = this.filterRequest(headers)
    s.requestReader = new GrpcMessageReader(this.opts.limits.max_message)
  }

  private filterRequest (headers: Header[]): Header[] {
    const secret = this.opts.service.secretHeaders
    const out: Header[] = []
    for (const h of headers) if (!secret.has(h[0]) && !CONNECTION_HEADERS.has(h[0])) out.push(h)
    return out
  }

  /**
   * Decide a stream once its first message (or its end) is here. The common case — a token this
   * connection has verified, upstream credentials at hand, an allow verdict — runs to the end in the
   * same turn as the bytes that completed the request, so the request goes upstream in the same write
   * as the others of that read (no promise, no microtask hop). A first token, a minted upstream
   * credential or an approval hold take the asynchronous path.
   */
  private decide (s: RelayStream): void {
    if (s.state !== State.Admitting || s.deciding) return
    if (s.firstMessage === undefined && !s.clientEnded) return
    if (s.requestReader?.partial === true) {
      this.refuseStream(s, new VecgateError('VG_ERR_MALFORMED', 'request ended inside a gRPC message'))
      return
    }
    s.deciding = true
    const identity = this.session.knownIdentity(s.token)
    const credentials = identity !== undefined && this.upstreamCredentials?.identity === identity ? this.upstreamCredentials.headers : undefined
    if (identity === undefined || credentials === undefined) {
      this.decideLater(s)
      return
    }
    s.credentials = credentials
    let call: Call | Promise<Call> | undefined
    try {
      call = this.admitNow(s, identity)
    } catch (e) {
      this.refuseStream(s, asVecgateError(e))
      return
    }
    if (call instanceof Promise) {
      this.settle(s, call.then(c => { s.call = c; return identity }))
      return
    }
    s.call = call
    this.forward(s, identity)
  }

  /** the first request of a token on this connection, or one whose upstream credential is minted */
  private decideLater (s: RelayStream): void {
    this.settle(s, (async () => {
      const identity = await this.session.authenticate(s.token)
      s.credentials = await this.credentialsFor(identity)
      const call = this.admitNow(s, identity)
      s.call = call instanceof Promise ? await call : call
      return identity
    })())
  }

  /** forwards or refuses a stream once an asynchronous decision is in, in a write batch of its own */
  private settle (s: RelayStream, decided: Promise<Identity>): void {
    decided.then(
      (identity) => {
        if (s.state !== State.Admitting || this.closed) return
        this.beginBatch()
        try { this.forward(s, identity) } finally { this.settleCredits() }
      },
      (e) => {
        if (s.state !== State.Admitting || this.closed) return
        this.beginBatch()
        try { this.refuseStream(s, asVecgateError(e)) } finally { this.settleCredits() }
      }
    )
  }

  /**
   * The request's Operation put to the pipeline: a Call at once, a promise when held for approval (the
   * only case that needs an abort signal: the hold ends when the client goes away), or a refusal thrown.
   */
  private admitNow (s: RelayStream, identity: Identity): Call | Promise<Call> | undefined {
    const method = s.method!
    if (method.passThrough === true) return undefined
    const m = s.firstMessage
    // a large uncompressed request is read in the pieces it arrived in (never joined for the decision)
    const body = m === undefined ? EMPTY : m.compressed ? inflateMessage(m, s.requestEncoding, this.opts.limits.max_message) : (m.parts ?? m.body)
    let op
    try {
      op = method.operation(body, s.md!, this.opts.backend.name)
    } catch (e) {
      throw this.session.refuse(asVecgateError(e))
    }
    s.abort = new AbortController()
    const aliases = this.opts.service.aliases
    if (aliases !== undefined) {
      if (method.changesAliases === true) aliases.invalidate()
      // an alias is decided on as its collection too; a stale alias map is read again first (THREATS.md)
      if (!aliases.resolve(op)) return this.admitResolved(s, method, op, identity, aliases)
    }
    const call = this.session.admitNow(identity, op, { deadline: s.deadline, abort: s.abort, reason: s.md!.get('vecgate-reason'), blastRadius: this.blastRadius(method, op, s.credentials) })
    // an AbortController is cheap until its signal is asked for; nothing waits on it once admitted
    if (!(call instanceof Promise)) s.abort = undefined
    return call
  }

  /**
   * The alias map of the request's database is stale: read it from the backend (the backend's own
   * credentials, one read shared by the requests waiting), then decide. A read that fails, or a map that
   * keeps changing under it, refuses the request: a name is never passed unresolved.
   */
  private async admitResolved (s: RelayStream, method: GrpcMethod, op: Operation, identity: Identity, aliases: AliasMap): Promise<Call> {
    const backend = this.opts.backend
    const database = op.database ?? ''
    const own = this.opts.service.ownCredentials?.(backend) ?? s.credentials
    const call = async (path: string, request: Uint8Array): Promise<Buffer> => await grpcUnary(backend, path, request, own, 4000)
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await aliases.refresh(database, call)
      } catch (e) {
        throw this.session.refuse(new VecgateError('VG_ERR_UPSTREAM', `the aliases of backend ${backend.name} could not be read, so ${op.collection ?? 'the collection'} cannot be checked against them: ${(e as Error).message}`))
      }
      if (aliases.resolve(op)) {
        return await this.session.admitNow(identity, op, { deadline: s.deadline, abort: s.abort, reason: s.md!.get('vecgate-reason'), blastRadius: this.blastRadius(method, op, s.credentials) })
      }
    }
    throw this.session.refuse(new VecgateError('VG_ERR_UPSTREAM', `the aliases of backend ${backend.name} kept changing while ${op.collection ?? 'the collection'} was checked against them; try again`))
  }

  private forward (s: RelayStream, identity: Identity): void {
    if (s.requestReader?.partial === true) {
      // bytes of a second message arrived while the first was being decided
      const err = new VecgateError('VG_ERR_MALFORMED', `${s.method!.name} takes one request message`)
      s.call?.finish({ ok: false, status: grpcStatusOf(err), message: err.message, bytes: 0 })
      this.refuseStream(s, err)
      return
    }
    s.state = State.Open
    s.upstreamId = this.nextUpstreamId
    this.nextUpstreamId += 2
    this.byUpstreamId.set(s.upstreamId, s)
    // results are read when they are masked, or when the journal or the exfiltration limits count them
    if (s.call?.masker !== undefined || (s.method!.resultView !== undefined && s.call !== undefined && this.session.pipeline.wantsResults)) {
      s.responseReader = new GrpcMessageReader(this.opts.limits.max_message)
    }
    const headers = s.headers.concat(s.credentials)
    const endNow = s.clientEnded && s.pending.length === 0
    this.queue('upstream', s, { kind: 'headers', headers, endStream: endNow })
    for (const p of s.pending) this.sendData('upstream', s, p.raw, p.payload, p.endStream, p.flowLength)
    s.pending = []
    s.requestReader = undefined
    s.firstMessage = undefined
  }

  /** counts what a bulk operation would touch, with a read-only call of the gateway's own (only run when it is held) */
  private blastRadius (method: GrpcMethod, op: Operation, credentials: Array<[string, string]>): (() => Promise<number | undefined>) | undefined {
    if (!op.bulk || method.blastRadius === undefined) return undefined
    return async () => {
      const q = method.blastRadius!(op)
      if (q === undefined) return undefined
      return q.count(await grpcUnary(this.opts.backend, q.path, q.request, credentials, 4000))
    }
  }

  /** the credentials sent upstream, per identity of the connection (minting a JWT is async) */
  private async credentialsFor (identity: Identity): Promise<Array<[string, string]>> {
    if (this.upstreamCredentials?.identity === identity) return this.upstreamCredentials.headers
    const headers = await this.opts.service.upstreamCredentials(this.opts.backend, identity)
    this.upstreamCredentials = { identity, headers }
    return headers
  }

  private onClientReset (f: F.Frame): void {
    this.resetsThisSecond++
    this.checkAbuse()
    const s = this.streams.get(f.streamId)
    if (s === undefined) return
    if (s.state === State.Open && s.upstreamId !== 0 && !s.upstreamEnded) {
      this.writeUpstream(F.rstStream(s.upstreamId, F.parseRstStream(f.payload)))
    }
    s.abort?.abort(new VecgateError('VG_ERR_DEADLINE', 'client cancelled the call'))
    s.call?.finish({ ok: false, status: 'cancelled', bytes: s.responseBytes })
    this.close(s)
  }

  // ---------------------------------------------------------------- upstream → gateway

  private onUpstreamData (chunk: Buffer): void {
    if (this.closed) return
    this.beginBatch()
    try {
      this.upstreamReader.push(chunk)
      for (let f = this.upstreamReader.next(); f !== undefined; f = this.upstreamReader.next()) {
        this.onUpstreamFrame(f)
        if (this.closed) return
      }
      this.settleCredits()
    } catch (e) {
      this.session.log.warn({ err: (e as Error).message }, 'upstream protocol error')
      this.session.error(new VecgateError('VG_ERR_UPSTREAM', `upstream protocol error: ${(e as Error).message}`))
      this.upstream.destroy()
    }
  }

  private onUpstreamFrame (f: F.Frame): void {
    if (this.upstreamBlock !== undefined && f.type !== FrameType.CONTINUATION) {
      throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'header block interrupted by another frame')
    }
    switch (f.type) {
      case FrameType.DATA: return this.onUpstreamDataFrame(f)
      case FrameType.HEADERS:
      case FrameType.CONTINUATION: {
        const block = this.assemble('upstream', f)
        if (block !== undefined) this.onUpstreamHeaders(block.streamId, block.flags, block.block)
        return
      }
      case FrameType.PRIORITY: return
      case FrameType.RST_STREAM: {
        const s = this.byUpstreamId.get(f.streamId)
        if (s === undefined) return
        this.writeClient(F.rstStream(s.clientId, F.parseRstStream(f.payload)))
        s.call?.finish({ ok: false, status: 'reset by upstream', bytes: s.responseBytes })
        this.close(s)
        return
      }
      case FrameType.SETTINGS: return this.onUpstreamSettings(f)
      case FrameType.PUSH_PROMISE:
        throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'upstream pushed a stream; pushes are disabled')
      case FrameType.PING:
        checkPing(f)
        if (!this.pingCanPass(f, 'client')) return
        return this.writeClient(f.raw)
      case FrameType.GOAWAY: return this.onUpstreamGoaway(f)
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate('upstream', f)
      default: return
    }
  }

  private onUpstreamSettings (f: F.Frame): void {
    if ((f.flags & Flags.ACK) === 0) {
      for (const [id, value] of F.parseSettings(f.payload)) {
        switch (id) {
          case SettingsId.HEADER_TABLE_SIZE:
            this.upstreamEncoder.setMaxTableSize(Math.min(value, 4096))
            this.requestDecoder.setAllowedTableSize(value)
            break
          case SettingsId.INITIAL_WINDOW_SIZE: {
            const delta = value - this.upstreamInitialWindow
            this.upstreamInitialWindow = value
            for (const s of this.streams.values()) s.toUpstream.window += delta
            this.flushAll('upstream')
            break
          }
          case SettingsId.MAX_FRAME_SIZE:
            this.upstreamMaxFrame = value
            this.clientReader.maxFrameSize = value
            break
        }
      }
    }
    if (!this.serverPrefaceSent) {
      // the server preface: now the gateway may widen the windows it grants on both connections
      this.prefaceOut(f.raw)
      this.upstreamUp = true
      const grow = this.connectionWindow - DEFAULT_WINDOW
      if (grow > 0) {
        this.writeClient(F.windowUpdate(0, grow))
        // toward upstream only after the client's preface and SETTINGS went first (RFC 9113 §3.4)
        if (this.clientSettingsSeen > 0) this.writeUpstream(F.windowUpdate(0, grow))
        else this.upstreamGrowPending = grow
      }
    } else {
      this.writeClient(f.raw)
    }
  }

  /** The first SETTINGS toward the client (upstream's, or ours when upstream never answered), then whatever waited. */
  private prefaceOut (settings: Buffer): void {
    this.serverPrefaceSent = true
    this.writeClient(settings)
    const held = this.heldForClient
    this.heldForClient = []
    for (const b of held) this.writeClient(b)
  }

  private onUpstreamHeaders (upstreamId: number, flags: number, block: Buffer): void {
    const headers = this.responseDecoder.decode(block) // always, to keep the table in step
    const s = this.byUpstreamId.get(upstreamId)
    if (s === undefined) return
    const endStream = (flags & Flags.END_STREAM) !== 0
    const md = new HeaderMetadata(headers)
    if (!s.responseHeadersSent) {
      s.responseHeadersSent = true
      s.responseEncoding = md.get('grpc-encoding')
    }
    const status = md.get('grpc-status')
    if (status !== undefined) s.grpcStatus = status
    const out: Header[] = []
    for (const h of headers) if (!CONNECTION_HEADERS.has(h[0])) out.push(h)
    if (endStream && s.call !== undefined) {
      // the call's last events are committed before the client learns it is over (journal.durable),
      // so a response the client received is never missing from the journal (one group commit for
      // all calls in flight)
      s.call.finish({ ok: status === '0', status: status ?? 'missing', bytes: s.responseBytes })
      const committed = s.call.committed()
      if (committed !== undefined) {
        void committed.catch(() => {}).then(() => {
          if (this.closed || s.state === State.Closed) return
          // one group commit releases many calls at once: their trailers leave in one write
          this.beginBatch()
          this.queue('client', s, { kind: 'headers', headers: out, endStream })
          this.upstreamFinished(s)
          this.settleCredits()
        })
        return
      }
    }
    this.queue('client', s, { kind: 'headers', headers: out, endStream })
    if (endStream) this.upstreamFinished(s)
  }

  private onUpstreamDataFrame (f: F.Frame): void {
    const s = this.byUpstreamId.get(f.streamId)
    this.owedUpstream += f.length
    if (s === undefined || s.state !== State.Open) return
    const payload = F.dataPayload(f)
    const endStream = (f.flags & Flags.END_STREAM) !== 0
    s.toClient.owed += f.length
    this.touched.add(s)
    const call = s.call
    if (s.responseReader !== undefined && call !== undefined) {
      if (call.masker !== undefined) {
        // masked: messages are rebuilt, so the frames they came in are not forwarded
        try {
          s.responseReader.push(payload, (m) => this.onResponseMessage(s, call, m, true))
        } catch (e) {
          this.failOpenStream(s, asVecgateError(e))
          return
        }
        if (endStream) this.sendData('client', s, undefined, EMPTY, true, 0)
      } else {
        this.sendData('client', s, f.raw, payload, endStream, f.length)
        try {
          s.responseReader.push(payload, (m) => this.onResponseMessage(s, call, m, false))
        } catch (e) {
          // forwarded as it came; recording it for the journal failed
          this.session.error(asVecgateError(e))
          s.responseReader = undefined
        }
      }
    } else {
      this.sendData('client', s, f.raw, payload, endStream, f.length)
    }
    if (endStream) this.upstreamFinished(s)
  }

  private onResponseMessage (s: RelayStream, call: Call, m: GrpcMessage, masking: boolean): void {
    const view = s.method!.resultView?.(inflateMessage(m, s.responseEncoding, this.opts.limits.max_message))
    if (masking) {
      if (view !== undefined && view.mask(call.masker!)) {
        // the rebuilt message goes out behind its own 5-byte prefix, never copied into a framed buffer
        const body = view.encode()
        this.sendData('client', s, undefined, body, false, body.length, messagePrefix(body.length))
      } else {
        this.sendData('client', s, undefined, m.raw, false, m.raw.length)
      }
    }
    if (view !== undefined) call.response(view)
  }

  private upstreamFinished (s: RelayStream): void {
    s.upstreamEnded = true
    const status = s.grpcStatus
    s.call?.finish({ ok: status === '0', status: status ?? 'missing', bytes: s.responseBytes })
    // the trailers were queued (and usually sent) before the stream was marked ended: forget it now,
    // or a long-lived connection keeps every call it ever made (and drain waits for them)
    this.maybeRetire(s)
  }

  private onUpstreamGoaway (f: F.Frame): void {
    const { lastStreamId, code, debug } = F.parseGoaway(f.payload)
    this.session.log[code === ErrorCode.NO_ERROR ? 'debug' : 'warn']({ code, lastStreamId, debug: debug.toString('utf8', 0, Math.min(debug.length, 200)) }, 'upstream sent GOAWAY')
    this.goingAway = true
    // streams upstream never processed: refuse them so the client may retry elsewhere
    for (const s of [...this.streams.values()]) {
      if (s.state === State.Open && s.upstreamId > lastStreamId) {
        this.failOpenStream(s, new VecgateError('VG_ERR_UPSTREAM', 'upstream is going away'))
      }
    }
    this.writeClient(F.goaway(this.lastClientId, code))
    if (this.streams.size === 0) this.end()
  }

  private upstreamFailed = false

  private onUpstreamLost (err: Error | undefined): void {
    if (this.upstreamFailed || this.closed) return
    this.upstreamFailed = true
    if (err !== undefined) this.session.log.warn({ err: err.message }, 'upstream connection failed')
    this.opts.session.metrics.upstreamErrors.inc(this.opts.session.pipeline.backendLabel)
    this.client.cork()
    try {
      if (!this.serverPrefaceSent) {
        // nobody has spoken HTTP/2 to the client yet: the gateway does, to refuse in protocol
        this.prefaceOut(F.settings([]))
        for (let i = 0; i < this.clientSettingsSeen; i++) this.writeClient(F.settingsAck())
      }
      const err2 = new VecgateError('VG_ERR_UPSTREAM', `upstream ${this.opts.backend.name} is unavailable`)
      for (const s of [...this.streams.values()]) {
        if (s.state === State.Open) this.failOpenStream(s, err2)
        else if (s.state === State.Admitting) this.refuseStream(s, err2)
      }
      this.session.error(err2)
      this.goaway(ErrorCode.NO_ERROR, 'upstream lost')
    } finally {
      this.client.uncork()
    }
  }

  // ---------------------------------------------------------------- flow control and queues

  private onWindowUpdate (from: Side, f: F.Frame): void {
    const inc = F.parseWindowUpdate(f.payload)
    if (f.streamId === 0) {
      if (from === 'client') {
        this.clientConnWindow += inc
        if (this.clientConnWindow > MAX_WINDOW) throw new F.Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow')
      } else {
        this.upstreamConnWindow += inc
        if (this.upstreamConnWindow > MAX_WINDOW) throw new F.Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow')
      }
      this.flushAll(from)
      return
    }
    const s = from === 'client' ? this.streams.get(f.streamId) : this.byUpstreamId.get(f.streamId)
    if (s === undefined) return
    const lane = from === 'client' ? s.toClient : s.toUpstream
    lane.window += inc
    if (lane.window > MAX_WINDOW) {
      // a stream error (RFC 9113 §6.9.1): reset that stream only
      if (from === 'client') this.refuseOrReset(s, ErrorCode.FLOW_CONTROL_ERROR)
      return
    }
    // bytes leaving a lane that was full may free credit owed to the other side (settleCredits)
    this.touched.add(s)
    this.flush(from, s)
  }

  /** DATA toward `to`: sent now when windows allow and nothing waits ahead of it, else queued. */
  private sendData (to: Side, s: RelayStream, raw: Buffer | undefined, payload: Buffer, endStream: boolean, flowLength: number, head?: Buffer): void {
    if (to === 'client') s.responseBytes += payload.length + (head?.length ?? 0)
    this.queue(to, s, head === undefined ? { kind: 'data', raw, payload, endStream, flowLength } : { kind: 'data', raw, head, payload, endStream, flowLength })
  }

  private queue (to: Side, s: RelayStream, item: Outgoing): void {
    const lane = to === 'client' ? s.toClient : s.toUpstream
    lane.queue.push(item)
    if (item.kind === 'data') lane.queued += item.payload.length + (item.head?.length ?? 0)
    this.flush(to, s)
  }

  private flush (to: Side, s: RelayStream): void {
    const lane = to === 'client' ? s.toClient : s.toUpstream
    const id = to === 'client' ? s.clientId : s.upstreamId
    const maxFrame = to === 'client' ? this.clientMaxFrame : this.upstreamMaxFrame
    while (lane.queue.length > 0) {
      const item = lane.queue[0]
      if (item.kind === 'headers') {
        // encoded now, in the order blocks leave on the connection, so the peer's HPACK table stays in step
        const encoder = to === 'client' ? this.clientEncoder : this.upstreamEncoder
        this.write(to, F.headers(id, encoder.encode(item.headers), { endStream: item.endStream, maxFrameSize: maxFrame }))
        lane.queue.shift()
        continue
      }
      const connWindow = to === 'client' ? this.clientConnWindow : this.upstreamConnWindow
      const room = Math.min(lane.window, connWindow)
      let sent: number
      if (item.raw !== undefined && item.flowLength <= room) {
        // the frame as it arrived, stream id patched when the two sides number it differently
        if (F.streamIdOf(item.raw) !== id) F.setStreamId(item.raw, id)
        this.write(to, item.raw)
        sent = item.flowLength
        lane.queue.shift()
        lane.queued -= item.payload.length
      } else if (dataLength(item) === 0 || room > 0) {
        // re-framed: each frame is its 9-byte header written before views of the bytes it carries
        // (the socket is corked, so they leave together), never a copy of them
        const size = dataLength(item)
        const n = Math.min(size, room, maxFrame)
        const last = n === size
        this.write(to, F.frameHeader(FrameType.DATA, last && item.endStream ? Flags.END_STREAM : 0, id, n))
        let head = item.head
        let payload = item.payload
        let left = n
        if (head !== undefined) {
          const h = Math.min(head.length, left)
          this.write(to, head.subarray(0, h))
          head = h === head.length ? undefined : head.subarray(h)
          left -= h
        }
        if (left > 0) {
          this.write(to, payload.subarray(0, left))
          payload = payload.subarray(left)
        }
        sent = n
        lane.queued -= n
        if (last) lane.queue.shift()
        else lane.queue[0] = head === undefined ? { kind: 'data', raw: undefined, payload, endStream: item.endStream, flowLength: size - n } : { kind: 'data', raw: undefined, head, payload, endStream: item.endStream, flowLength: size - n }
      } else {
        return // blocked until the receiver grants more
      }
      lane.window -= sent
      if (to === 'client') this.clientConnWindow -= sent
      else this.upstreamConnWindow -= sent
    }
    this.maybeRetire(s)
  }

  private flushAll (to: Side): void {
    for (const s of this.streams.values()) {
      const lane = to === 'client' ? s.toClient : s.toUpstream
      if (lane.queue.length > 0) { this.touched.add(s); this.flush(to, s) }
    }
    this.settleCredits()
  }

  /**
   * Give back window to senders for bytes that have moved on, per stream while little waits for the
   * other side (bounded memory), and per connection. Coalesced: one WINDOW_UPDATE per stream per burst.
   */
  private settleCredits (): void {
    if (!this.serverPrefaceSent) return // nothing but SETTINGS may reach the client first (RFC 9113 §3.4)
    for (const s of this.touched) {
      // request direction: bytes from the client, queued toward upstream (or held for the decision)
      if (s.toUpstream.owed > 0 && !s.clientEnded && s.state !== State.Closed && s.toUpstream.queued < STREAM_HIGH_WATER) {
        // a whole first message held for the decision keeps its credit until it is large: small requests
        // need no WINDOW_UPDATE at all (one syscall less per call)
        if (s.toUpstream.owed >= this.upstreamInitialWindow / 4 || (s.state === State.Admitting && s.toUpstream.owed >= 16384)) {
          this.writeClient(F.windowUpdate(s.clientId, s.toUpstream.owed))
          s.toUpstream.owed = 0
        }
      }
      if (s.toClient.owed > 0 && !s.upstreamEnded && s.state === State.Open && s.toClient.queued < STREAM_HIGH_WATER) {
        if (s.toClient.owed >= this.clientInitialWindow / 4 || (s.responseReader !== undefined && s.responseReader.buffered > 0)) {
          this.writeUpstream(F.windowUpdate(s.upstreamId, s.toClient.owed))
          s.toClient.owed = 0
        }
      }
    }
    this.touched.clear()
    // both connection windows were widened at the start (opts.connectionWindow): credit goes back once a
    // quarter of it is owed, so a busy connection sends a WINDOW_UPDATE every few hundred calls, not
    // every few (RFC 9113 §6.9.1 leaves the timing to the receiver)
    const step = Math.max(16384, this.connectionWindow >>> 2)
    if (this.owedClient >= step) {
      this.writeClient(F.windowUpdate(0, this.owedClient))
      this.owedClient = 0
    }
    if (this.upstreamUp && this.owedUpstream >= step) {
      this.writeUpstream(F.windowUpdate(0, this.owedUpstream))
      this.owedUpstream = 0
    }
  }

  // ---------------------------------------------------------------- refusals and endings

  /** The gateway answers a stream itself (trailers-only), before or instead of upstream. */
  private refuseStream (s: RelayStream, err: VecgateError): void {
    if (s.state === State.Closed) return
    if (s.state === State.Open) { this.failOpenStream(s, err); return }
    this.session.refuse(err)
    s.abort?.abort(err)
    s.state = State.Closed
    s.pending = []
    s.requestReader = undefined
    this.writeClient(F.headers(s.clientId, this.clientEncoder.encode(refusalHeaders(err, true)), { endStream: true, maxFrameSize: this.clientMaxFrame }))
    // the client may still be sending: tell it to stop (RFC 9113 §8.1)
    if (!s.clientEnded) this.writeClient(F.rstStream(s.clientId, ErrorCode.NO_ERROR))
    this.close(s)
  }

  /** A stream already forwarded fails: trailers carry the status, upstream's half is reset. */
  private failOpenStream (s: RelayStream, err: VecgateError): void {
    if (s.state === State.Closed) return
    this.session.refuse(err)
    if (!s.upstreamEnded && !this.upstreamFailed) this.writeUpstream(F.rstStream(s.upstreamId, ErrorCode.CANCEL))
    s.toClient.queue = []
    s.toClient.queued = 0
    const trailersOnly = !s.responseHeadersSent
    this.writeClient(F.headers(s.clientId, this.clientEncoder.encode(refusalHeaders(err, trailersOnly)), { endStream: true, maxFrameSize: this.clientMaxFrame }))
    if (!s.clientEnded) this.writeClient(F.rstStream(s.clientId, ErrorCode.NO_ERROR))
    s.call?.finish({ ok: false, status: grpcStatusOf(err), message: err.message, bytes: s.responseBytes })
    this.close(s)
  }

  private refuseOrReset (s: RelayStream, code: number): void {
    this.writeClient(F.rstStream(s.clientId, code))
    if (s.state === State.Open && !s.upstreamEnded) this.writeUpstream(F.rstStream(s.upstreamId, ErrorCode.CANCEL))
    this.close(s)
  }

  /** forget a stream once both halves are done and nothing waits to be sent */
  private maybeRetire (s: RelayStream): void {
    if (s.state === State.Open && s.upstreamEnded && s.toClient.queue.length === 0 && (s.clientEnded || s.toUpstream.queue.length === 0)) {
      this.close(s)
    }
  }

  private close (s: RelayStream): void {
    // an alias change is read again once it is done upstream, not only when it was asked for
    if (s.upstreamId !== 0 && s.method?.changesAliases === true) this.opts.service.aliases?.invalidate()
    s.state = State.Closed
    if (s.clientEnded) {
      this.clientEnded[this.clientEndedNext] = s.clientId
      this.clientEndedNext = (this.clientEndedNext + 1) % this.clientEnded.length
    }
    this.streams.delete(s.clientId)
    if (s.upstreamId !== 0) this.byUpstreamId.delete(s.upstreamId)
    this.touched.delete(s)
    if (this.goingAway && this.streams.size === 0) this.end()
  }

  /**
   * Ids of the last streams forgotten after the client had ended them: a frame on one of those is the
   * client's error (STREAM_CLOSED), while frames on streams the gateway reset are ignored. A ring, so
   * it costs nothing per stream to keep; older ids are ignored like reset ones.
   */
  private readonly clientEnded = new Int32Array(256)
  private clientEndedNext = 0

  private endedRecently (id: number): boolean {
    return this.clientEnded.includes(id)
  }

  private countNewStream (): void {
    this.streamsThisSecond++
    this.checkAbuse()
  }

  /**
   * Frames that carry nothing (EMPTY_FRAMES_PER_SECOND). The clock is read only once the count passes
   * the budget, so a legitimate empty frame costs an increment.
   */
  private countEmptyFrame (): void {
    if (++this.emptyFramesThisSecond <= EMPTY_FRAMES_PER_SECOND) return
    this.checkAbuse() // starts a new second, and the count with it, when the last one is over
    if (this.emptyFramesThisSecond > EMPTY_FRAMES_PER_SECOND) {
      throw new F.Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${EMPTY_FRAMES_PER_SECOND} empty DATA, PRIORITY, SETTINGS, PING or unknown frames per second`)
    }
  }

  /** Rapid reset (CVE-2023-44487) and stream floods: GOAWAY the abuser, keep serving others. */
  private checkAbuse (): void {
    const now = Date.now()
    if (now - this.secondStarted >= 1000) {
      this.secondStarted = now
      this.streamsThisSecond = 0
      this.resetsThisSecond = 0
      this.emptyFramesThisSecond = 0
      return
    }
    // a busy client opens many streams; an attacker opens and resets them (CVE-2023-44487): the two
    // have separate budgets, the reset one far smaller
    const max = this.opts.limits.max_streams_per_second
    if (this.streamsThisSecond > max) {
      throw new F.Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${max} streams per second`)
    }
    if (this.resetsThisSecond > Math.min(RESETS_PER_SECOND, max / 2)) {
      throw new F.Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${Math.min(RESETS_PER_SECOND, max / 2)} streams reset per second`)
    }
  }

  private assemble (side: Side, f: F.Frame): { streamId: number, flags: number, block: Buffer } | undefined {
    const limit = this.opts.limits.max_header_list
    let pending = side === 'client' ? this.clientBlock : this.upstreamBlock
    if (f.type === FrameType.HEADERS) {
      if (f.streamId === 0) throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0')
      const fragment = F.headersBlock(f)
      if ((f.flags & Flags.END_HEADERS) !== 0) return { streamId: f.streamId, flags: f.flags, block: fragment }
      pending = { streamId: f.streamId, flags: f.flags, parts: [fragment], size: fragment.length }
    } else {
      if (pending === undefined || pending.streamId !== f.streamId) {
        throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS')
      }
      pending.parts.push(f.payload)
      pending.size += f.payload.length
    }
    // CONTINUATION floods: cap the encoded block before decoding anything (THREATS.md); each frame's
    // 9-byte header counts too, or a flood of empty CONTINUATION frames would never reach the cap
    if (pending.size + 9 * (pending.parts.length - 1) > limit) throw new F.Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `header block larger than ${limit} bytes`)
    if ((f.flags & Flags.END_HEADERS) !== 0) {
      if (side === 'client') this.clientBlock = undefined
      else this.upstreamBlock = undefined
      return { streamId: pending.streamId, flags: pending.flags, block: Buffer.concat(pending.parts, pending.size) }
    }
    if (side === 'client') this.clientBlock = pending
    else this.upstreamBlock = pending
    return undefined
  }

  private onClientProtocolError (e: unknown): void {
    if (e instanceof F.PrefaceError) {
      this.rejectNonHttp2(e)
      return
    }
    const code = e instanceof F.Http2Error ? e.code : ErrorCode.INTERNAL_ERROR
    const message = (e as Error).message
    this.session.error(new VecgateError(code === ErrorCode.ENHANCE_YOUR_CALM ? 'VG_ERR_LIMIT' : 'VG_ERR_MALFORMED', `HTTP/2 protocol error from client: ${message}`))
    this.goaway(code, message)
  }

  /** Not HTTP/2 at all: say so in the client's own terms where there is one, then close. */
  private rejectNonHttp2 (e: F.PrefaceError): void {
    const what = e.kind === 'http1' ? 'an HTTP/1.1 request' : e.kind === 'tls' ? 'a TLS handshake on a plaintext port' : 'bytes that are not HTTP/2'
    this.session.error(new VecgateError('VG_ERR_MALFORMED', `${what} on a gRPC (HTTP/2) port`))
    if (e.kind === 'http1') {
      const body = 'this port speaks gRPC over HTTP/2 (h2c); point a gRPC client at it\n'
      this.client.end(`HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`)
    } else {
      this.client.end()
    }
    this.closed = true
    this.upstream.destroy()
    this.session.end('not http2')
  }

  private goaway (code: number, reason: string): void {
    if (this.closed) return
    if (!this.serverPrefaceSent) this.prefaceOut(F.settings([]))
    this.writeClient(F.goaway(this.lastClientId, code, Buffer.from(reason.slice(0, 200))))
    this.end()
  }

  private end (): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.idleCheck)
    this.client.end()
    this.upstream.end()
    setTimeout(() => { this.client.destroy(); this.upstream.destroy() }, 1000).unref()
    this.session.end('closed')
  }

  private teardown (reason: string): void {
    clearInterval(this.idleCheck)
    for (const s of this.streams.values()) {
      s.abort?.abort(new VecgateError('VG_ERR_DEADLINE', 'client went away'))
      if (s.state === State.Open) s.call?.finish({ ok: false, status: 'client went away', bytes: s.responseBytes })
    }
    this.streams.clear()
    this.byUpstreamId.clear()
    this.closed = true
    this.upstream.destroy()
    this.session.end(reason)
  }

  /** SIGTERM: stop taking streams, let the open ones finish. */
  drain (): void {
    if (this.closed || this.goingAway) return
    this.goingAway = true
    this.client.cork()
    if (!this.serverPrefaceSent) this.prefaceOut(F.settings([]))
    this.writeClient(F.goaway(this.lastClientId, ErrorCode.NO_ERROR, Buffer.from('vecgate draining')))
    this.client.uncork()
    if (this.streams.size === 0) this.end()
  }

  get activeStreams (): number { return this.streams.size }

  private write (to: Side, buf: Buffer): void {
    if (to === 'client') this.writeClient(buf)
    else this.writeUpstream(buf)
  }

  private writeClient (buf: Buffer): void {
    if (this.client.destroyed) return
    if (!this.serverPrefaceSent) { this.heldForClient.push(buf); return }
    // a client that does not read must not make us buffer without bound: pause the other side
    if (!this.client.write(buf)) this.upstream.pause()
  }

  private writeUpstream (buf: Buffer): void {
    if (this.upstream.destroyed) return
    if (!this.upstream.write(buf)) this.client.pause()
  }

  /**
   * Both sockets stay corked until the end of this event-loop turn (setImmediate runs after the I/O
   * callbacks of the turn): whatever the turn's reads produce toward one side — answers, requests,
   * WINDOW_UPDATEs — leaves in one writev per socket instead of one per read.
   */
  private beginBatch (): void {
    if (this.batching) return
    this.batching = true
    this.client.cork()
    this.upstream.cork()
    setImmediate(this.endBatch)
  }

  private batching = false
  private readonly endBatch = (): void => {
    this.batching = false
    this.client.uncork()
    this.upstream.uncork()
  }
}

const EMPTY = Buffer.alloc(0)

/** bytes a DATA item carries: the optional head, then the payload */
function dataLength (item: { head?: Buffer, payload: Buffer }): number {
  return (item.head?.length ?? 0) + item.payload.length
}

/** PING is connection-level and carries exactly 8 octets (RFC 9113 §6.7) */
function checkPing (f: F.Frame): void {
  if (f.streamId !== 0) throw new F.Http2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream')
  if (f.length !== 8) throw new F.Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING length not 8')
}

/** grpc-timeout: "TimeoutValue TimeoutUnit" (gRPC over HTTP/2). */
export function parseGrpcTimeout (v: string): number {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v)
  if (m === null) throw new VecgateError('VG_ERR_MALFORMED', `malformed grpc-timeout ${JSON.stringify(v)}`)
  const n = Number(m[1])
  switch (m[2]) {
    case 'H': return n * 3_600_000
    case 'M': return n * 60_000
    case 'S': return n * 1000
    case 'm': return n
    case 'u': return n / 1000
    default: return n / 1e6
  }
}

/** Trailers (or a trailers-only response) carrying a refusal in gRPC's terms (CONTRACT.md). */
function refusalHeaders (err: VecgateError, trailersOnly: boolean): Header[] {
  let message = err.message
  if (err.detail.approvalId !== undefined) message += ` (approval ${err.detail.approvalId}: vecgate approvals show ${err.detail.approvalId})`
  const out: Header[] = []
  if (trailersOnly) out.push([':status', '200'], ['content-type', 'application/grpc'])
  out.push(['grpc-status', String(grpcStatusOf(err))], ['grpc-message', encodeGrpcMessage(message)])
  if (err.detail.approvalId !== undefined) out.push(['vecgate-approval-id', err.detail.approvalId])
  return out
}

/** grpc-message is percent-encoded outside printable ASCII (gRPC over HTTP/2, "Responses"). */
export function encodeGrpcMessage (s: string): string {
  let out = ''
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

export { GrpcStatus }
