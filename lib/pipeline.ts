/**
 * The one path every request takes, whatever protocol carried it (ARCHITECTURE.md):
 *
 *   listener → decoder → Operation → identity → grant scope → policy → (approval hold) → upstream
 *   client ← encoder ← mask ← result view ← upstream response
 *                  └─→ journal (batched, off the request path)
 *
 * Protocol paths (lib/http2/relay.ts for gRPC, decoders/postgres for the wire protocol) own the bytes;
 * they call into a Session here at three points: `authenticate` when a token arrives, `admit` when a
 * request is decoded, and the returned Call's `response`/`finish` as the answer streams back.
 */
import { randomBytes } from 'node:crypto'
import type { Identity, Masker, Operation, ResultView, Verdict } from '../decoders/types.js'
import type { Metrics } from './admin/metrics.js'
import { labels } from './admin/metrics.js'
import type { BackendConfig } from './config/types.js'
import { VecgateError, asVecgateError } from './errors.js'
import type { IdentityVerifier } from './identity/types.js'
import { checkScope } from './identity/scope.js'
import { nullJournal, type JournalSink } from './journal/types.js'
import type { Logger } from './log.js'
import type { Policy } from './policy/types.js'

/** Holds an `approve` verdict until a person decides (lib/approvals). */
export interface ApprovalHold {
  hold (req: {
    identity: Identity
    op: Operation
    verdict: Verdict
    sessionId: string
    reason?: string
    blastRadius?: () => Promise<number | undefined>
    /** values the Operation leaves out that the approval is bound to as well (AdmitOptions) */
    bound?: { literals?: readonly string[], parameters?: Uint8Array }
    /** epoch ms: the end of the hold (the earlier of the client's deadline and the hold maximum) */
    deadline: number
    /** epoch ms: the client's own deadline, when it gave one */
    clientDeadline?: number
    signal?: AbortSignal
  }): Promise<{ approvalId: string }>
}

/** Per-identity exfiltration limits (lib/policy/limits). */
export interface ExfiltrationGuard {
  admit (identity: Identity): void
  account (identity: Identity, counts: { records: number, vectors: number }): void
}

export interface PipelineParts {
  backend: BackendConfig
  verifier: IdentityVerifier
  policy: Policy
  masks: ReadonlyMap<string, Masker>
  journal: JournalSink
  approvals?: ApprovalHold
  limits?: ExfiltrationGuard
  metrics: Metrics
  log: Logger
  /** longest a request is held for approval when the client gives no deadline (ms) */
  maxHoldMs?: number
  /**
   * which calls end only once their journal events are committed: 'all', or 'changes' (writes,
   * deletes, admin; reads and searches are journaled in the next batch, a millisecond later)
   */
  durable?: 'all' | 'changes'
}

export interface ClientInfo { address: string, tls: boolean }

export interface AdmitOptions {
  /** the client's own deadline (epoch ms), e.g. from grpc-timeout */
  deadline?: number
  /** aborted when the client goes away (cancel, disconnect) */
  signal?: AbortSignal
  /** the same, as its controller: its signal (costly to create) is only made when a hold needs it */
  abort?: AbortController
  /** measures what a bulk operation would touch, for the approver */
  blastRadius?: () => Promise<number | undefined>
  /**
   * values of the request its Operation leaves out (the journal keeps SQL without them): SQL literals
   * and the parameters as bound (a Postgres Bind). An approval is bound to them too, so one given for
   * `WHERE grp = 'a'` never releases `WHERE grp = 'b'`. Only looked at when a request is held.
   */
  literals?: readonly string[]
  parameters?: Uint8Array
  /** why the requester needs it (gRPC `vecgate-reason` metadata), shown to approvers */
  reason?: string
}

export class Pipeline {
  readonly backendLabel: string
  /**
   * whether anything reads what responses returned (the journal's response records and who-saw, the
   * exfiltration limits); when nothing does, unmasked results are forwarded without being decoded
   */
  readonly wantsResults: boolean
  constructor (readonly parts: PipelineParts) {
    this.backendLabel = labels({ backend: parts.backend.name })
    this.wantsResults = parts.journal !== nullJournal || parts.limits !== undefined
  }

  open (client: ClientInfo): Session {
    return new Session(this, client)
  }

  private readonly requestLabels = new Map<string, string>()
  /** the requests counter's label set for an action and effect, built once rather than per request */
  requestLabel (action: string, effect: string): string {
    const k = action + effect
    let l = this.requestLabels.get(k)
    if (l === undefined) { l = `${this.backendLabel},action="${action}",effect="${effect}"`; this.requestLabels.set(k, l) }
    return l
  }
}

const SESSION_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
function newSessionId (): string {
  const b = randomBytes(12)
  let s = 'ses_'
  for (const x of b) s += SESSION_ID_ALPHABET[x & 31]
  return s
}

/** One client connection (Postgres) or one HTTP/2 connection (gRPC). */
export class Session {
  readonly id = newSessionId()
  readonly log: Logger
  identity: Identity | undefined
  private readonly parts: PipelineParts
  /** tokens verified on this connection; each stream still presents its own and is checked against this */
  private readonly verified = new Map<string, Identity>()
  private calls = 0
  private ended = false
  /** refusals already journaled, so a protocol path that catches one again does not record it twice */
  private readonly recorded = new WeakSet<VecgateError>()

  constructor (readonly pipeline: Pipeline, readonly client: ClientInfo) {
    this.parts = pipeline.parts
    this.log = this.parts.log.child({ session: this.id, backend: this.parts.backend.name })
    this.parts.metrics.connections.inc(pipeline.backendLabel)
    this.parts.journal.start({
      id: this.id,
      backend: this.parts.backend.name,
      protocol: this.parts.backend.protocol,
      client: client.address,
      tls: client.tls,
      at: Date.now()
    })
  }

  /**
   * Verifies the token a request presented. A connection remembers the tokens it has verified (the
   * gRPC streams of one connection carry the same token again and again), but expiry, revocation and use
   * counts are checked on every request in `admit`.
   */
  async authenticate (token: string | undefined): Promise<Identity> {
    if (token === undefined || token === '') {
      throw this.refuse(new VecgateError('VG_ERR_UNAUTHENTICATED', 'no token: present a vecgate token where the client sends its secret'))
    }
    const known = this.verified.get(token)
    if (known !== undefined) return known
    let identity: Identity
    try {
      identity = await this.parts.verifier.verify(token)
    } catch (e) {
      throw this.refuse(asVecgateError(e))
    }
    if (this.verified.size >= 8) this.verified.clear()
    this.verified.set(token, identity)
    if (this.identity === undefined || this.identity.tokenId !== identity.tokenId) {
      this.identity = identity
      this.parts.journal.event({ session: this.id, at: Date.now(), kind: 'auth', identity })
      this.log.info({ subject: identity.subject, issuer: identity.issuer, jti: identity.tokenId }, 'authenticated')
    }
    return identity
  }

  /**
   * Decides one decoded request. Resolves with a Call when it may go upstream; rejects with the
   * VecgateError to send back in the protocol's own terms (already journaled and counted).
   */
  async admit (identity: Identity, op: Operation, opts: AdmitOptions = {}): Promise<Call> {
    return await this.admitNow(identity, op, opts)
  }

  /**
   * The token's identity when this connection has verified it already, without a promise (the gRPC
   * fast path); undefined: call `authenticate`. Expiry, revocation and uses are still checked on
   * every request, in `admitNow`.
   */
  knownIdentity (token: string | undefined): Identity | undefined {
    return token === undefined ? undefined : this.verified.get(token)
  }

  /**
   * `admit` without a promise when none is needed: returns the Call (or throws the refusal) at once,
   * and returns a promise only when the verdict holds the request for approval. Protocol paths with
   * many tiny requests (the Postgres relay) keep going in the same tick instead of a microtask hop.
   */
  admitNow (identity: Identity, op: Operation, opts: AdmitOptions = {}): Call | Promise<Call> {
    const n = ++this.calls
    const at = Date.now()
    // the subject on every request: clients of one process may share a connection with several tokens
    this.parts.journal.event({ session: this.id, at, kind: 'request', call: n, op, data: { subject: identity.subject } })
    let verdict: Verdict
    try {
      if (this.parts.journal.failure !== undefined) {
        throw new VecgateError('VG_ERR_JOURNAL', 'the journal cannot record requests right now, so none are let through', { hint: 'see the gateway log; retry shortly' })
      }
      if (identity.expiresAt * 1000 <= at) {
        throw new VecgateError('VG_ERR_UNAUTHENTICATED', 'token expired during the session', { hint: 'get a fresh token and reconnect' })
      }
      this.parts.verifier.use?.(identity)
      checkScope(identity.scope, op)
      verdict = this.parts.policy.decide(identity, op)
      this.parts.journal.event({ session: this.id, at, kind: 'verdict', call: n, verdict })
      this.parts.metrics.requests.inc(this.pipeline.requestLabel(op.action, verdict.effect))
      if (verdict.effect === 'deny') {
        throw new VecgateError('VG_ERR_DENIED', verdict.reason, { rule: verdict.rule })
      }
      this.parts.limits?.admit(identity)
    } catch (e) {
      throw this.refuse(asVecgateError(e), n)
    }
    if (verdict.effect === 'approve') {
      const v = verdict
      return this.hold(identity, op, v, opts).then(() => this.call(n, identity, op, v), e => { throw this.refuse(asVecgateError(e), n) })
    }
    return this.call(n, identity, op, verdict)
  }

  private call (n: number, identity: Identity, op: Operation, verdict: Verdict): Call {
    const masker = verdict.mask !== undefined ? this.parts.masks.get(verdict.mask) : undefined
    if (verdict.mask !== undefined && masker === undefined) {
      // compile-time validation makes this unreachable; fail closed if it ever is not
      throw this.refuse(new VecgateError('VG_ERR_INTERNAL', `mask profile ${verdict.mask} is not loaded`), n)
    }
    return new Call(this, n, identity, op, verdict, masker)
  }

  private async hold (identity: Identity, op: Operation, verdict: Verdict, opts: AdmitOptions): Promise<void> {
    const approvals = this.parts.approvals
    if (approvals === undefined) {
      throw new VecgateError('VG_ERR_APPROVAL_REQUIRED', `${verdict.reason}; approvals are not enabled on this gateway`, { rule: verdict.rule })
    }
    const maxHold = this.parts.maxHoldMs ?? 30_000
    const now = Date.now()
    // the refusal must reach the client before its own timer fires, or it only ever sees CANCELLED
    // and never the approval id: end the hold a little before the client's deadline
    const clientDeadline = opts.deadline !== undefined ? opts.deadline - Math.min(250, Math.max(0, (opts.deadline - now) / 10)) : undefined
    const deadline = Math.min(clientDeadline ?? Infinity, now + maxHold)
    await approvals.hold({ identity, op, verdict, sessionId: this.id, deadline, clientDeadline, signal: opts.signal ?? opts.abort?.signal, blastRadius: opts.blastRadius, reason: opts.reason, bound: opts.literals !== undefined || opts.parameters !== undefined ? { literals: opts.literals, parameters: opts.parameters } : undefined })
  }

  /** Records and counts a refusal; returns the error so callers can `throw session.refuse(e)`. */
  refuse (err: VecgateError, call?: number): VecgateError {
    if (this.recorded.has(err)) return err
    this.recorded.add(err)
    this.parts.metrics.refusals.inc(`${this.pipeline.backendLabel},code="${err.code}"`)
    this.parts.journal.event({
      session: this.id,
      at: Date.now(),
      kind: 'error',
      call,
      data: { code: err.code, message: err.message, ...err.detail }
    })
    this.log.info({ code: err.code, call, rule: err.detail.rule, approval: err.detail.approvalId }, err.message)
    return err
  }

  /** A protocol-level problem not tied to one request (malformed frame, upstream lost). */
  error (err: VecgateError): void {
    this.refuse(err)
  }

  end (reason: string): void {
    if (this.ended) return
    this.ended = true
    this.parts.journal.end(this.id, Date.now(), reason)
    this.log.debug({ reason, calls: this.calls }, 'session ended')
  }

  /** @internal */
  get journal (): JournalSink { return this.parts.journal }
  /** @internal */
  get metrics (): Metrics { return this.parts.metrics }
  /** @internal */
  get limits (): ExfiltrationGuard | undefined { return this.parts.limits }
}

/** One admitted request and its response. */
export class Call {
  private readonly started = process.hrtime.bigint()
  private records = 0
  private vectors = 0
  private done = false

  constructor (
    readonly session: Session,
    readonly n: number,
    readonly identity: Identity,
    readonly op: Operation,
    readonly verdict: Verdict,
    /** the mask to apply to every result of this call; undefined = forward results untouched */
    readonly masker: Masker | undefined
  ) {}

  /**
   * One result message (gRPC) or batch of rows (Postgres) on its way to the client, already masked.
   * Journaled as what the client received; ids feed `journal who-saw`.
   */
  response (view: ResultView): void {
    const c = view.counts()
    this.records += c.records
    this.vectors += c.vectors
    const ids = view.ids()
    this.session.journal.event({
      session: this.session.id,
      at: Date.now(),
      kind: 'response',
      call: this.n,
      collection: this.op.collection,
      ids,
      data: { result: view }
    })
  }

  /**
   * Resolves once this call's events are committed, when the journal's durability setting says the
   * client must not see the call end before that; undefined when it need not wait (no promise made).
   */
  committed (): Promise<void> | undefined {
    const a = this.op.action
    if (this.session.pipeline.parts.durable !== 'all' && (a === 'read' || a === 'search')) return undefined
    return this.session.journal.flush()
  }

  /** The response is complete (or failed). */
  finish (outcome: { ok: boolean, status?: string | number, message?: string, bytes?: number }): void {
    if (this.done) return
    this.done = true
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9
    this.session.metrics.latency.observe(this.session.pipeline.backendLabel, seconds)
    if (this.records > 0 || this.vectors > 0) {
      this.session.limits?.account(this.identity, { records: this.records, vectors: this.vectors })
    }
    this.session.journal.event({
      session: this.session.id,
      at: Date.now(),
      kind: 'response',
      call: this.n,
      data: { ok: outcome.ok, status: outcome.status, message: outcome.message, bytes: outcome.bytes, ms: seconds * 1000, records: this.records, vectors: this.vectors, final: true }
    })
  }
}
