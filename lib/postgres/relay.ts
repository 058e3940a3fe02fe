import { classify, type Classified, type StatementClass } from '../../decoders/postgres/classify.js'
import {
  BindFields, decodeErrorFields, decodeExecute, decodeParse, decodeQuery, decodeRowDescription, decodeTarget, type Column
} from '../../decoders/postgres/messages.js'
import { B, F, codeName } from '../../decoders/postgres/protocol.js'
import type { MessageReader } from '../../decoders/postgres/reader.js'
import { MaskPlan, RowsView, encodeDataRow, rowSlab } from '../../decoders/postgres/result-view.js'
import { LastShape } from '../../decoders/postgres/sql-literals.js'
import { serialize } from '../../decoders/postgres/writer.js'
import type { Identity, Masker, Operation } from '../../decoders/types.js'
import type { BackendConfig } from '../config/types.js'
import { VecgateError, asVecgateError, sqlStateOf } from '../errors.js'
import type { Call, Session } from '../pipeline.js'
import { keepsBind, measurable, pgBlastRadius } from './blast-radius.js'
import { Burst, Slices } from './burst.js'
import { UNREADABLE, catalogOf, type PgCatalog } from './catalog.js'
import type { Wire } from './wire.js'

/** A statement as the client prepared it (Parse), with the columns its Describe reported. */
interface Prepared {
  /** undefined for an empty query string */
  cls: StatementClass | undefined
  literals: string[]
  columns?: Column[]
  /** the Parse message, kept when a hold may measure the statement's blast radius */
  parse?: Buffer
}

/** A portal (Bind): the statement it runs and the result formats the client asked for. */
interface Portal {
  stmt: Prepared
  formats: readonly number[]
  columns: Column[] | undefined
  /** Syncs sent before it was bound: it dies with the transaction that the next ReadyForQuery ends */
  gen: number
  /** the Bind message of a statement that changes something: its approval binds the values, its blast radius counts with them */
  bind: Buffer | undefined
}

const enum Kind { Query, Parse, Bind, Describe, Execute, Close, Sync, Refusal, LocalReady }

/**
 * One expected answer from the upstream, in the order the requests went up: the relay walks this
 * queue as responses arrive to know which call a DataRow belongs to, where an ErrorResponse ends,
 * and where a refusal of its own must be slotted into the response stream (like Envoy's
 * postgres_proxy, but exact per message rather than per Sync).
 */
class Unit {
  /** Query: one call per statement (undefined for control statements) */
  calls: Array<Call | undefined> | undefined = undefined
  idx = 0
  /** Execute */
  call: Call | undefined = undefined
  stmtName: string | undefined = undefined
  stmt: Prepared | undefined = undefined
  portalName: string | undefined = undefined
  portal: Portal | undefined = undefined
  /** the result's columns (Query: from its RowDescription; Execute: from the portal) */
  columns: Column[] | undefined = undefined
  plan: MaskPlan | null | undefined = undefined
  /** rows of this unit's call seen in the current burst, journaled at its end (runs of rows back to back: `RowsView`) */
  rows: Slices | undefined = undefined
  /** Refusal: the ErrorResponse to send; poisoned = a failing Bind went upstream in its place */
  error: Buffer | undefined = undefined
  poisoned = false

  // one class, every field set here: the response path reads units of every kind at the same sites
  constructor (readonly kind: Kind) {}
}

/** units that carry nothing but their kind are shared (nothing writes to them) */
const SYNC_UNIT = new Unit(Kind.Sync)
const CLOSE_UNIT = new Unit(Kind.Close)
const LOCAL_READY_UNIT = new Unit(Kind.LocalReady)

// (a store per field: one keyed by a variable name would not stay monomorphic)
function unitOf (kind: Kind, portal: Portal | undefined): Unit { const u = new Unit(kind); u.portal = portal; return u }
function unitFor (kind: Kind, stmt: Prepared | undefined): Unit { const u = new Unit(kind); u.stmt = stmt; return u }

const READY_IDLE = 0x49 // 'I'
const SCHEMA_CHANGED = 'the schema changed in this session\'s open transaction'
/** queued request bytes while an admission is pending, before the client socket is paused */
const QUEUE_HIGH_WATER = 1 << 20
/**
 * A Bind naming a statement that cannot exist: sent upstream in place of a refused message so the
 * upstream fails the same implicit or explicit transaction PostgreSQL itself would have failed,
 * and its ErrorResponse is replaced by vecgate's.
 */
const POISON = serialize.bind('', 'vecgate: refused by policy')
const SYNC = serialize.sync()
/** response messages bigger than this are streamed when nothing needs to look into them */
const STREAM_OVER = 1 << 20
const STREAMED_ROW = encodeDataRow([])

export interface RelayOptions {
  backend: BackendConfig
  database: string
  session: Session
  identity: Identity
  /** the client's connection and the upstream's, after startup */
  client: Wire
  upstream: Wire
  front: MessageReader
  back: MessageReader
  status: number
  parameters: Map<string, string>
  /** limits.idle_timeout in ms (0 = none): no bytes either way and nothing in flight that long ends the session */
  idleTimeout?: number
  onEnd: (reason: string) => void
}

/**
 * The wire-protocol relay of one client connection after startup: requests are classified and
 * admitted, then forwarded as the bytes they arrived in; responses are forwarded the same way unless
 * a mask applies to their rows.
 */
export class PgRelay {
  private readonly client: Wire
  private readonly upstream: Wire
  private readonly front: MessageReader
  private readonly back: MessageReader
  private readonly session: Session
  private readonly identity: Identity
  private readonly backendName: string
  private readonly database: string
  private readonly toUpstream = new Burst()
  private readonly toClient = new Burst()
  private readonly units: Unit[] = []
  private readonly statements = new Map<string, Prepared>()
  /** named portals; the unnamed one, which most Binds create, is `unnamedPortal` */
  private readonly portals = new Map<string, Portal>()
  private unnamedPortal: Portal | undefined
  /** the unnamed portal that last died, kept to be rebound in place by the next Bind */
  private sparePortal: Portal | undefined
  /** the statement the last Bind named, by its name's bytes: a connection binds the same few (pgbench -M prepared, one) */
  private lastBoundName: Buffer | undefined
  private lastBound: Prepared | undefined
  private readonly bindFields = new BindFields()
  /** SQL cursors (DECLARE) by name: a FETCH returns their rows and is judged as their query */
  private readonly cursors = new Map<string, StatementClass>()
  private txStatus: number
  private syncsSent = 0
  private syncsDone = 0
  private standardStrings = true
  /** after a refused extended-protocol message: skip until Sync (55.2.3) */
  private discarding = false
  /** an admission is pending: request bytes wait in `queued` */
  private waiting = false
  private queued: Buffer[] = []
  private queuedBytes = 0
  private pausedForQueue = false
  private pausedForUpstream = false
  private upstreamPaused = false
  private ended = false
  private draining = false
  private readonly abort = new AbortController()
  /** what the database defines itself behind built-in names and operators (lib/postgres/catalog.ts) */
  private readonly catalog: PgCatalog
  /**
   * After a statement that may change the schema was admitted: the number of the ReadyForQuery that
   * ends it (0 = none). Until then, and while its transaction stays open, the catalog read from
   * another connection cannot see what it created: statements that rely on the catalog are admin.
   */
  private schemaMark = 0
  /** whether anything reads result rows besides a mask (Pipeline.wantsResults) */
  private readonly wantsResults: boolean
  /**
   * Idle clock: the data handlers only set `active` (one store per read, this path is hot); a coarse
   * interval turns it into `quietSince` and ends the session once quiet past the timeout.
   */
  private active = false
  private quietSince = 0
  private idleTimer: NodeJS.Timeout | undefined

  constructor (private readonly o: RelayOptions) {
    this.client = o.client
    this.upstream = o.upstream
    this.front = o.front
    this.back = o.back
    this.session = o.session
    this.identity = o.identity
    this.backendName = o.backend.name
    this.database = o.database
    this.txStatus = o.status
    this.wantsResults = o.session.pipeline.wantsResults
    this.standardStrings = o.parameters.get('standard_conforming_strings') !== 'off'
    this.catalog = catalogOf(o.backend, o.session.log)
  }

  start (): void {
    const { client, upstream } = this
    client.onData = (c: Buffer) => this.onClientData(c)
    upstream.onData = (c: Buffer) => this.onUpstreamData(c)
    client.onDrain = () => { if (this.upstreamPaused) { this.upstreamPaused = false; upstream.resume() } }
    upstream.onDrain = () => { this.pausedForUpstream = false; this.updateClientFlow() }
    client.onClose = () => this.end('client closed')
    upstream.onClose = () => this.upstreamLost()
    // whatever arrived after the startup exchange
    if (this.back.pending > 0) this.onUpstreamData(Buffer.alloc(0))
    if (this.front.pending > 0) this.onClientData(Buffer.alloc(0))
    const idle = this.o.idleTimeout ?? 0
    if (idle > 0) {
      this.quietSince = Date.now()
      // checked 4 times per timeout (at least every 10 s): the session ends between 1 and 1.25 timeouts of quiet
      this.idleTimer = setInterval(() => this.checkIdle(idle), Math.min(Math.max(idle / 4, 25), 10_000))
      this.idleTimer.unref()
    }
  }

  private checkIdle (timeout: number): void {
    const now = Date.now()
    // bytes moved, a statement in flight, one held for an approval or its journal write pending: not idle
    if (this.active || this.busy || this.awaitingJournal > 0) {
      this.active = false
      this.quietSince = now
      return
    }
    if (now - this.quietSince < timeout || this.ended) return
    // as PostgreSQL's own timeouts do (docs 19.11.1 "Statement Behavior", Appendix A "Error Codes"):
    // 57P05 idle_session_timeout, or 25P03 idle_in_transaction_session_timeout inside a transaction
    const inTx = this.txStatus !== READY_IDLE // 'T' in a transaction, 'E' in a failed one
    this.toClient.add(serialize.errorResponse(inTx
      ? { severity: 'FATAL', code: '25P03', message: 'terminating connection due to idle-in-transaction timeout' }
      : { severity: 'FATAL', code: '57P05', message: 'terminating connection due to idle-session timeout' }))
    this.toClient.flush(this.client)
    // Terminate (55.7 "Message Formats") so the database ends its backend now (an open transaction rolls back)
    if (!this.upstream.destroyed) this.upstream.write(serialize.terminate())
    this.end(inTx ? 'idle in transaction timeout' : 'idle timeout')
  }

  // ---- request direction -------------------------------------------------------------------------

  private onClientData (chunk: Buffer): void {
    if (this.ended) return
    this.active = true
    if (this.waiting) {
      // the read buffer is reused by the next read: what waits must be a copy
      chunk = Buffer.from(chunk)
      this.queued.push(chunk)
      this.queuedBytes += chunk.length
      if (this.queuedBytes > QUEUE_HIGH_WATER && !this.pausedForQueue) { this.pausedForQueue = true; this.updateClientFlow() }
      return
    }
    this.front.push(chunk)
    this.pumpFront()
    // slices of this read still in use (a partial message, a held message, bytes the kernel did not
    // take yet): the next read must not overwrite them
    if (this.front.pending > 0 || this.waiting || this.upstream.queued > 0) this.client.retain()
  }

  private pumpFront (): void {
    const f = this.front
    try {
      while (!this.waiting && f.next()) {
        const code = f.code
        if (this.discarding) {
          if (code === F.Sync) {
            this.discarding = false
            this.toUpstream.add(SYNC)
            this.push(SYNC_UNIT)
          }
          continue
        }
        switch (code) {
          case F.Query: this.onQuery(); break
          case F.Parse: this.onParse(); break
          case F.Bind: this.onBind(); break
          case F.Describe: this.onDescribe(); break
          case F.Execute: this.onExecute(); break
          case F.Close: this.onClose(); break
          case F.Sync:
            this.forward()
            this.push(SYNC_UNIT)
            break
          case F.Flush:
          case F.CopyData:
          case F.CopyDone:
          case F.CopyFail:
            this.forward()
            break
          case F.Terminate:
            this.forward()
            this.flushUpstream()
            this.end('client terminated')
            return
          case F.FunctionCall:
            // fast-path calls run a function by OID with no SQL to classify: refused, fail closed
            this.refuseSimple(new VecgateError('VG_ERR_UNKNOWN_METHOD', 'fast-path function calls are not allowed through vecgate'))
            break
          default:
            throw new VecgateError('VG_ERR_MALFORMED', `unexpected message '${codeName(code)}' from the client`)
        }
      }
    } catch (e) {
      this.fatal(asVecgateError(e))
      return
    }
    this.flushUpstream()
  }

  private forward (): void {
    const f = this.front
    this.toUpstream.slice(f.buf, f.start, f.end)
  }

  private flushUpstream (): void {
    if (this.toUpstream.empty || this.ended) return
    if (!this.toUpstream.flush(this.upstream) && !this.pausedForUpstream) {
      this.pausedForUpstream = true
      this.updateClientFlow()
    }
  }

  private updateClientFlow (): void {
    if (this.pausedForQueue || this.pausedForUpstream) this.client.pause()
    else if (!this.ended) this.client.resume()
  }

  private classifyText (sql: string): Classified {
    // with standard_conforming_strings off, backslashes escape quotes: the grammar we parse with
    // would read string boundaries differently from the server (PostgreSQL docs 4.1.2.2)
    if (!this.standardStrings && sql.includes('\\')) {
      throw new VecgateError('VG_ERR_DENIED', 'backslashes in SQL are refused while standard_conforming_strings is off')
    }
    return classify(sql)
  }

  /**
   * Operations of statements whose Operation depends on nothing but their classification, by that
   * classification (the classifier hands out one object per statement shape): built once per shape and
   * connection, then shared by the journal events of every call of that shape (nobody changes them).
   */
  private readonly ops = new WeakMap<StatementClass, Operation>()
  /** the same for statements whose limit is a literal (`LIMIT 10` of a KNN search): the last Operation, for that limit's text */
  private readonly limitedOps = new WeakMap<StatementClass, { limit: string, op: Operation }>()
  /** the last Query's shape and its statements: a connection mostly sends the same few */
  private readonly lastQuery = new LastShape<StatementClass[]>()

  private operation (stmt: StatementClass, literals: string[]): Operation {
    let c = stmt
    const reusable = c.declares === undefined && c.fetches === undefined
    const limitText = reusable && c.limitLiteral !== undefined ? literals[c.limitLiteral] : undefined
    if (reusable) {
      if (limitText === undefined) {
        const op = this.ops.get(c)
        if (op !== undefined) return op
      } else {
        const last = this.limitedOps.get(c)
        if (last !== undefined && last.limit === limitText) return last.op
      }
    }
    if (c.declares !== undefined) this.cursors.set(c.declares, c)
    if (c.fetches !== undefined) {
      const cursor = this.cursors.get(c.fetches)
      c = cursor !== undefined
        ? { ...cursor, method: 'FETCH', text: c.text }
        : { ...c, action: 'admin', method: 'FETCH' } // a cursor vecgate did not see declared
    }
    const op: Operation = {
      backend: this.backendName,
      protocol: 'postgres',
      method: c.method,
      action: c.action,
      database: this.database,
      collection: c.tables[0],
      bulk: c.bulk,
      summary: c.judged !== undefined ? { sql: c.text, catalog: c.judged } : { sql: c.text }
    }
    if (c.tables.length > 1) op.collections = c.tables
    if (c.limit !== undefined) op.limit = c.limit
    else if (c.limitLiteral !== undefined) {
      const n = Number(literals[c.limitLiteral])
      if (Number.isFinite(n)) op.limit = n
    }
    if (reusable) {
      if (limitText === undefined) this.ops.set(stmt, op)
      else this.limitedOps.set(stmt, { limit: limitText, op })
    }
    return op
  }

  private onQuery (): void {
    const f = this.front
    let cls: Classified
    // the same shape as the last Query (with backslashes read as PostgreSQL reads them): its statements as they were
    const literals = this.standardStrings ? this.lastQuery.match(f.buf, f.body, f.end) : undefined
    if (literals !== undefined) cls = { statements: this.lastQuery.value!, literals }
    else {
      try {
        const sql = decodeQuery(f.buf, f.body, f.end)
        cls = this.classifyText(sql)
        if (cls.shape !== undefined) this.lastQuery.remember(sql, cls.shape, cls.statements)
      } catch (e) {
        this.refuseSimple(asVecgateError(e))
        return
      }
    }
    const stmts = cls.statements
    let needs = false
    for (const s of stmts) if (!s.control) { needs = true; break }
    const msg = f.message()
    if (!needs) {
      this.sendQuery(msg, cls, new Array(stmts.length))
      return
    }
    // the usual verdict is known at once (allow or deny): the message goes on in this same tick;
    // only an approval hold makes it wait, with the client's further bytes queued behind it
    let admitted: Array<Call | undefined> | Promise<Array<Call | undefined>>
    try {
      admitted = this.admitAll(cls, msg)
    } catch (e) {
      this.refuseSimple(asVecgateError(e))
      return
    }
    if (!(admitted instanceof Promise)) {
      this.sendQuery(msg, cls, admitted)
      return
    }
    this.waiting = true
    admitted.then(
      calls => { this.sendQuery(msg, cls, calls); this.resumeFront() },
      e => { this.refuseSimple(asVecgateError(e)); this.resumeFront() }
    )
  }

  private admitOne (s: StatementClass, literals: string[], request: Buffer | undefined, index: number, bind?: Buffer): Call | Promise<Call> {
    // a statement that relies on the catalog waits for one fresh read (shared by the backend's connections)
    if (this.catalog.stale(s)) return this.catalog.refresh().then(() => this.admitJudged(this.judge(s), literals, request, index, bind))
    return this.admitJudged(this.judge(s), literals, request, index, bind)
  }

  private admitJudged (s: StatementClass, literals: string[], request: Buffer | undefined, index: number, bind?: Buffer): Call | Promise<Call> {
    const call = this.session.admitNow(this.identity, this.operation(s, literals), { signal: this.abort.signal, blastRadius: pgBlastRadius(this.o.backend, this.session.log, s, request, index, bind), literals, parameters: bind })
    // DDL, or a function (also behind an operator or cast) nobody vouches for: it may create functions,
    // operators or casts. Not one judged admin only for want of a catalog: that would read it again each time
    if (s.action !== 'admin' || s.judged === UNREADABLE || s.judged === SCHEMA_CHANGED) return call
    const mark = this.syncsSent + 1
    if (call instanceof Promise) return call.then(c => { this.schemaMark = Math.max(this.schemaMark, mark); return c })
    this.schemaMark = Math.max(this.schemaMark, mark)
    return call
  }

  /** `s` as the backend's catalog and this session's own schema changes say it is */
  private judge (s: StatementClass): StatementClass {
    if (this.schemaMark > 0 && s.catalog !== undefined && s.action !== 'admin') {
      return { ...s, action: 'admin', catalog: undefined, judged: SCHEMA_CHANGED }
    }
    return this.catalog.judge(s)
  }

  /**
   * Multi-statement messages are judged statement by statement; one refusal refuses the message.
   * Synchronous unless a statement is held for approval; from there on the rest waits in order.
   */
  private admitAll (cls: Classified, msg: Buffer): Array<Call | undefined> | Promise<Array<Call | undefined>> {
    const stmts = cls.statements
    const calls: Array<Call | undefined> = new Array(stmts.length)
    try {
      for (let i = 0; i < stmts.length; i++) {
        const s = stmts[i]
        if (s.control) continue
        const c = this.admitOne(s, cls.literals, msg, i)
        if (c instanceof Promise) return this.admitRest(cls, msg, calls, i, c)
        calls[i] = c
      }
    } catch (e) {
      notSent(calls)
      throw e
    }
    return calls
  }

  private async admitRest (cls: Classified, msg: Buffer, calls: Array<Call | undefined>, from: number, held: Promise<Call>): Promise<Array<Call | undefined>> {
    try {
      calls[from] = await held
      for (let i = from + 1; i < cls.statements.length; i++) {
        const s = cls.statements[i]
        if (s.control) continue
        calls[i] = await this.admitOne(s, cls.literals, msg, i)
      }
    } catch (e) {
      notSent(calls)
      throw e
    }
    return calls
  }

  private sendQuery (msg: Buffer, cls: Classified, calls: Array<Call | undefined>): void {
    for (let i = 0; i < calls.length; i++) {
      if (calls[i]?.masker !== undefined && unmaskable(cls.statements[i])) {
        for (const c of calls) c?.finish({ ok: false, message: 'not sent: the result could not be masked' })
        this.refuseSimple(UNMASKABLE)
        return
      }
    }
    for (const s of cls.statements) if (s.forgets !== undefined) this.forget(s.forgets)
    // adjacent to what went before when it is still the reader's message: one slice, one write
    const f = this.front
    if (f.buf.buffer === msg.buffer && msg.byteOffset === f.buf.byteOffset + f.start && msg.length === f.end - f.start) this.forward()
    else this.toUpstream.add(msg)
    this.push(queryUnit(calls))
  }

  private forget (what: { statement?: string, all?: boolean }): void {
    if (what.all === true) {
      this.statements.clear()
      this.portals.clear()
      this.dropPortal('')
      this.lastBound = this.lastBoundName = undefined
    } else if (what.statement !== undefined) this.dropStatement(what.statement)
  }

  private dropStatement (name: string): void {
    this.statements.delete(name)
    this.lastBound = this.lastBoundName = undefined
  }

  /** the statement a Bind names, `buf[start, end)` */
  private statementNamed (buf: Buffer, start: number, end: number): Prepared | undefined {
    if (start === end) return this.statements.get('')
    const last = this.lastBoundName
    if (last !== undefined && last.length === end - start && buf.compare(last, 0, last.length, start, end) === 0) return this.lastBound
    const stmt = this.statements.get(buf.toString('utf8', start, end))
    if (stmt !== undefined) { this.lastBoundName = Buffer.from(buf.subarray(start, end)); this.lastBound = stmt }
    return stmt
  }

  private portalNamed (name: string): Portal | undefined {
    return name === '' ? this.unnamedPortal : this.portals.get(name)
  }

  private dropPortal (name: string): void {
    if (name !== '') this.portals.delete(name)
    else if (this.unnamedPortal !== undefined) { this.sparePortal = this.unnamedPortal; this.unnamedPortal = undefined }
  }

  private resumeFront (): void {
    this.waiting = false
    if (this.ended) return
    this.pumpFront()
    while (!this.waiting && this.queued.length > 0 && !this.ended) {
      const c = this.queued.shift()!
      this.queuedBytes -= c.length
      this.front.push(c)
      this.pumpFront()
    }
    if (this.pausedForQueue && this.queuedBytes <= QUEUE_HIGH_WATER / 2) { this.pausedForQueue = false; this.updateClientFlow() }
  }

  private onParse (): void {
    const f = this.front
    const { name, sql } = decodeParse(f.buf, f.body, f.end)
    if (name !== '' && this.statements.has(name)) {
      this.refuseExtended(new VecgateError('VG_ERR_MALFORMED', `prepared statement "${name}" already exists`))
      return
    }
    let cls: Classified
    try {
      cls = this.classifyText(sql)
    } catch (e) {
      this.refuseExtended(asVecgateError(e))
      return
    }
    if (cls.statements.length > 1) {
      this.refuseExtended(new VecgateError('VG_ERR_MALFORMED', 'cannot insert multiple commands into a prepared statement'))
      return
    }
    const stmt: Prepared = { cls: cls.statements[0], literals: cls.literals, parse: measurable(cls.statements[0]) ? Buffer.from(f.message()) : undefined }
    this.statements.set(name, stmt)
    this.lastBound = this.lastBoundName = undefined
    this.forward()
    const u = unitFor(Kind.Parse, stmt)
    u.stmtName = name
    this.push(u)
  }

  private onBind (): void {
    const f = this.front
    const b = this.bindFields
    b.read(f.buf, f.body, f.end)
    const stmt = this.statementNamed(f.buf, b.statementStart, b.statementEnd)
    if (stmt === undefined) {
      // statements vecgate did not see being prepared (SQL PREPARE) have no classification: fail closed
      this.refuseExtended(new VecgateError('VG_ERR_MALFORMED', `prepared statement "${f.buf.toString('utf8', b.statementStart, b.statementEnd)}" is not known to vecgate`))
      return
    }
    const name = b.portalStart === b.portalEnd ? '' : f.buf.toString('utf8', b.portalStart, b.portalEnd)
    if (name !== '' && this.portals.has(name)) {
      this.refuseExtended(new VecgateError('VG_ERR_MALFORMED', `portal "${name}" already exists`))
      return
    }
    // a read the catalog may turn into admin keeps its Bind too: an approval binds the values
    const judged = stmt.cls === undefined || this.catalog.stale(stmt.cls) ? stmt.cls?.catalog !== undefined : keepsBind(this.judge(stmt.cls))
    const bind = keepsBind(stmt.cls) || judged ? Buffer.from(f.message()) : undefined
    // the unnamed portal with nothing in flight (no unit holds the old one): rebound in place
    let p = name === '' && this.units.length === 0 ? this.unnamedPortal ?? this.sparePortal : undefined
    if (p !== undefined) {
      p.stmt = stmt
      p.formats = b.resultFormats
      p.columns = undefined
      p.gen = this.syncsSent
      p.bind = bind
    } else p = { stmt, formats: b.resultFormats, columns: undefined, gen: this.syncsSent, bind }
    if (name === '') this.unnamedPortal = p
    else this.portals.set(name, p)
    this.forward()
    const u = unitOf(Kind.Bind, p)
    u.portalName = name
    this.push(u)
  }

  private onDescribe (): void {
    const f = this.front
    const t = decodeTarget(f.buf, f.body, f.end)
    this.forward()
    if (t.kind === 'S') this.push(unitFor(Kind.Describe, this.statements.get(t.name)))
    else this.push(unitOf(Kind.Describe, this.portalNamed(t.name)))
  }

  private onClose (): void {
    const f = this.front
    const t = decodeTarget(f.buf, f.body, f.end)
    if (t.kind === 'S') this.dropStatement(t.name)
    else this.dropPortal(t.name)
    this.forward()
    this.push(CLOSE_UNIT)
  }

  /** Execute is where the verdict counts: a statement prepared earlier is judged again now. */
  private onExecute (): void {
    const f = this.front
    const name = decodeExecute(f.buf, f.body, f.end)
    const portal = this.portalNamed(name)
    if (portal === undefined) {
      this.refuseExtended(new VecgateError('VG_ERR_MALFORMED', `portal "${name}" is not known to vecgate`))
      return
    }
    const cls = portal.stmt.cls
    if (cls === undefined || cls.control) {
      if (cls?.forgets !== undefined) this.forget(cls.forgets)
      this.forward()
      this.push(unitOf(Kind.Execute, portal))
      return
    }
    let admitted: Call | Promise<Call>
    try {
      admitted = this.admitOne(cls, portal.stmt.literals, portal.stmt.parse, 0, portal.bind)
    } catch (e) {
      this.refuseExtended(asVecgateError(e))
      return
    }
    if (!(admitted instanceof Promise)) {
      this.sendExecute(cls, portal, admitted)
      return
    }
    const msg = f.message()
    this.waiting = true
    admitted.then(
      call => { this.sendExecute(cls, portal, call, msg); this.resumeFront() },
      e => { this.refuseExtended(asVecgateError(e)); this.resumeFront() }
    )
  }

  /** `msg`: the Execute when it waited for a hold; otherwise it is the reader's current message */
  private sendExecute (cls: StatementClass, portal: Portal, call: Call, msg?: Buffer): void {
    if (call.masker !== undefined && unmaskable(cls)) {
      call.finish({ ok: false, message: 'not sent: the result could not be masked' })
      this.refuseExtended(UNMASKABLE)
      return
    }
    if (msg !== undefined) this.toUpstream.add(msg)
    else this.forward()
    const u = unitOf(Kind.Execute, portal)
    u.call = call
    this.push(u)
  }

  private errorBytes (e: VecgateError): Buffer {
    const hint = e.detail.approvalId !== undefined ? `approval id: ${e.detail.approvalId}` : e.detail.hint
    return serialize.errorResponse({ code: sqlStateOf(e), message: e.message, hint })
  }

  /**
   * A refused Query: ErrorResponse then ReadyForQuery, so the session stays usable. Inside a
   * transaction block the upstream is failed too (as PostgreSQL fails a transaction on any error).
   */
  private refuseSimple (e: VecgateError): void {
    const error = this.errorBytes(e)
    if (this.txStatus === READY_IDLE) {
      this.push(refusal(error))
      this.push(LOCAL_READY_UNIT)
    } else {
      this.toUpstream.add(POISON)
      this.toUpstream.add(SYNC)
      this.push(poisonedRefusal(error))
      this.push(SYNC_UNIT)
    }
  }

  /**
   * A refused extended-protocol message: ErrorResponse in its place, then skip until Sync exactly as
   * PostgreSQL does (55.2.3 "Extended Query"). The upstream gets a failing Bind in its place, so
   * whatever of the batch already went up is rolled back with it and the upstream stays in step.
   */
  private refuseExtended (e: VecgateError): void {
    this.toUpstream.add(POISON)
    this.push(poisonedRefusal(this.errorBytes(e)))
    this.discarding = true
  }

  private push (u: Unit): void {
    if (u.kind === Kind.Sync || u.kind === Kind.Query || u.kind === Kind.LocalReady) this.syncsSent++
    this.units.push(u)
    if (this.units.length === 1 && this.isLocal(u)) {
      this.drainLocal()
      this.flushClient()
    }
  }

  private isLocal (u: Unit): boolean {
    return (u.kind === Kind.Refusal && u.poisoned === false) || u.kind === Kind.LocalReady
  }

  /** Emits refusals that answer themselves once every response before them has gone out. */
  private drainLocal (): void {
    const units = this.units
    while (units.length > 0 && this.isLocal(units[0])) {
      const u = units.shift()!
      if (u.kind === Kind.LocalReady) this.syncsDone++
      this.toClient.add(u.kind === Kind.Refusal ? u.error! : serialize.readyForQuery(this.txStatus))
    }
  }

  // ---- response direction ------------------------------------------------------------------------

  private onUpstreamData (chunk: Buffer): void {
    if (this.ended) return
    this.active = true
    const r = this.back
    if (this.streaming > 0) {
      // the rest of a big message nobody needs to look into: straight through
      const n = Math.min(this.streaming, chunk.length)
      this.toClient.slice(chunk, 0, n)
      this.streaming -= n
      chunk = chunk.subarray(n)
    }
    if (chunk.length > 0) r.push(chunk)
    try {
      for (;;) {
        if (r.next()) { this.onBackendMessage(r.code); continue }
        const p = r.partial()
        if (p !== undefined && p.size > STREAM_OVER && this.streamable(p.code)) {
          const head = r.take()
          this.toClient.slice(head, 0, head.length)
          this.streaming = p.size - head.length
          if (p.code === B.DataRow) this.countStreamedRow()
        }
        break
      }
    } catch (e) {
      this.fatal(new VecgateError('VG_ERR_UPSTREAM', `upstream protocol error: ${asVecgateError(e).message}`))
      return
    }
    this.journalRows()
    if (this.callsFinished !== undefined) {
      // a call ended in this read: its events must be on disk before the client sees the end of it,
      // so a response the client received is never missing from the journal (group commit)
      const committed = this.callsFinished
      this.callsFinished = undefined
      this.awaitingJournal++
      void committed.catch(() => {}).then(() => {
        this.awaitingJournal--
        this.flushClient()
        if (this.draining) this.closeIfDrained()
      })
    }
    this.flushClient()
    // slices of this read still in use: the next read must not overwrite them
    if (r.pending > 0 || this.keptSlices || this.client.queued > 0 || !this.toClient.empty) this.upstream.retain()
    this.keptSlices = false
    if (this.draining) this.closeIfDrained()
  }

  private keptSlices = false
  /** bytes of a streamed message still to pass */
  private streaming = 0
  /** a streamed row still counts as a record returned; its content is not journaled */
  private countStreamedRow (): void {
    const u = this.units[0] as Unit | undefined
    if (u === undefined || this.currentCall(u) === undefined) return
    this.rowsOf(u).add(STREAMED_ROW)
  }

  /**
   * Bounded buffering: a DataRow of a call without a mask, or COPY data, larger than STREAM_OVER is
   * not collected whole but passed on as it arrives (its row is counted, not journaled).
   */
  private streamable (code: number): boolean {
    if (code === B.CopyData) return true
    if (code !== B.DataRow) return false
    const u = this.units[0] as Unit | undefined
    return u === undefined || this.currentCall(u)?.masker === undefined
  }

  /** a call finished: its last events go to disk before anything more goes to the client */
  private callsFinished: Promise<void> | undefined
  private awaitingJournal = 0

  private flushClient (): void {
    if (this.toClient.empty || this.ended || this.awaitingJournal > 0) return
    if (!this.toClient.flush(this.client) && !this.upstreamPaused) {
      this.upstreamPaused = true
      this.upstream.pause()
    }
  }

  private pass (): void {
    const r = this.back
    this.toClient.slice(r.buf, r.start, r.end)
  }

  private onBackendMessage (code: number): void {
    const r = this.back
    const u = this.units[0] as Unit | undefined
    switch (code) {
      case B.DataRow:
        if (u === undefined) { this.pass(); return }
        this.onDataRow(u)
        return
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        this.pass()
        if (u === undefined) return
        if (u.kind === Kind.Query) {
          this.finishCall(u, u.calls?.[u.idx], true, code)
          u.idx++
          u.columns = undefined
          u.plan = undefined
        } else if (u.kind === Kind.Execute) {
          this.finishCall(u, u.call, true, code)
          this.shift()
        }
        return
      case B.ReadyForQuery:
        this.txStatus = r.buf[r.body]
        this.onReady()
        this.pass()
        this.drainLocal()
        return
      case B.ErrorResponse:
        this.onError(u)
        return
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
      case B.NoData:
        this.pass()
        if (u !== undefined && u.kind !== Kind.Query) this.shift()
        return
      case B.RowDescription:
        this.pass()
        if (u === undefined) return
        if (u.kind === Kind.Describe) {
          // pgbench -M prepared and libpq's PQexecPrepared describe the portal on every execution
          const cols = this.rowDescription()
          if (u.portal !== undefined) u.portal.columns = cols
          else if (u.stmt !== undefined) u.stmt.columns = cols
          this.shift()
        } else if (u.kind === Kind.Query) {
          u.columns = this.wantsResults || u.calls?.[u.idx]?.masker !== undefined ? this.rowDescription() : undefined
          u.plan = undefined
        }
        return
      case B.ParameterStatus: {
        const name = r.buf.toString('utf8', r.body, r.buf.indexOf(0, r.body))
        if (name === 'standard_conforming_strings') this.standardStrings = r.buf.toString('utf8', r.body + name.length + 1, r.end - 1) !== 'off'
        this.pass()
        return
      }
      default:
        // ParameterDescription, notices, notifications, COPY traffic: as they are
        this.pass()
    }
  }

  /** the last RowDescription and its columns: a connection mostly runs the same few queries */
  private lastRowDesc: Buffer | undefined
  private lastColumns: Column[] = []

  private rowDescription (): Column[] {
    const r = this.back
    const last = this.lastRowDesc
    if (last !== undefined && last.length === r.end - r.start && r.buf.compare(last, 0, last.length, r.start, r.end) === 0) return this.lastColumns
    this.lastColumns = decodeRowDescription(r.buf, r.body, r.end)
    this.lastRowDesc = Buffer.from(r.buf.subarray(r.start, r.end))
    return this.lastColumns
  }

  private shift (): void {
    this.units.shift()
    this.drainLocal()
  }

  private currentCall (u: Unit): Call | undefined {
    return u.kind === Kind.Query ? u.calls?.[u.idx] : u.kind === Kind.Execute ? u.call : undefined
  }

  private onDataRow (u: Unit): void {
    const call = this.currentCall(u)
    if (call === undefined) { this.pass(); return }
    const r = this.back
    if (call.masker !== undefined) {
      if (u.plan === undefined) {
        const cols = u.columns ?? (u.portal !== undefined ? columnsOf(u.portal) : undefined)
        u.columns = cols
        u.plan = cols !== undefined ? this.maskPlan(cols, call.masker) : null
      }
      if (u.plan === null) {
        // a masked call whose columns are unknown: nothing of the row may pass (fail closed)
        const row = encodeDataRow(new Array(r.buf.readInt16BE(r.start + 5)).fill(null))
        this.toClient.add(row)
        this.rowsOf(u).add(row)
        return
      }
      if (u.plan.mask(r.message())) {
        // the masked row, in the slab: rows masked in turn go out and into the journal as one slice
        const w = u.plan.output
        this.toClient.slice(w.buf, w.start, w.end)
        this.rowsOf(u).slice(w.buf, w.start, w.end)
        return
      }
    } else if (!this.wantsResults) {
      // nothing reads the rows of an unmasked call (no journal, no limits): they only pass
      this.pass()
      return
    } else if (u.columns === undefined && u.portal !== undefined) u.columns = columnsOf(u.portal)
    this.pass()
    const row = r.message()
    // the journal keeps rows past this read: small ones are copied into the slab, big ones keep the read buffer
    const start = rowSlab.copy(row)
    if (start >= 0) {
      this.rowsOf(u).slice(rowSlab.buf, start, rowSlab.at)
      return
    }
    this.keptSlices = true
    this.rowsOf(u).add(row)
  }

  /** the journal's rows of `u`'s call in this burst */
  private rowsOf (u: Unit): Slices {
    if (u.rows === undefined) { u.rows = new Slices(); this.rowUnits.push(u) }
    return u.rows
  }

  /** the last mask plan: built from nothing but its columns and mask, so the next result of the same shape reuses it */
  private lastPlan: MaskPlan | undefined

  private maskPlan (cols: Column[], masker: Masker): MaskPlan {
    const last = this.lastPlan
    if (last !== undefined && last.columns === cols && last.masker === masker) return last
    this.lastPlan = new MaskPlan(cols, masker)
    return this.lastPlan
  }

  private readonly rowUnits: Unit[] = []

  /** One journal entry per call per read burst, not per row. */
  private journalRows (): void {
    const units = this.rowUnits
    if (units.length === 0) return
    for (const u of units) this.flushRows(u, this.currentCall(u))
    units.length = 0
  }

  private flushRows (u: Unit, call: Call | undefined): void {
    if (u.rows === undefined) return
    const runs = u.rows.take()
    if (call !== undefined && runs.length > 0) call.response(new RowsView(u.columns, runs))
    u.rows = undefined
  }

  private finishCall (u: Unit, call: Call | undefined, ok: boolean, code: number, message?: string, status?: string): void {
    this.flushRows(u, call)
    if (call === undefined) return
    call.finish({ ok, status: status ?? (code === B.PortalSuspended ? 'suspended' : undefined), message })
    this.callsFinished = call.committed() ?? this.callsFinished
  }

  private onReady (): void {
    const units = this.units
    while (units.length > 0) {
      const u = units.shift()!
      if (u.kind === Kind.Query) {
        for (let i = u.idx; i < (u.calls?.length ?? 0); i++) this.finishCall(u, u.calls![i], false, 0, 'not run: an earlier statement failed')
        break
      }
      if (u.kind === Kind.Sync) break
      this.unwind(u, 'not run: the upstream skipped it')
    }
    this.syncsDone++
    // portals live until the transaction ends (55.2.3); those bound after this Sync are not affected
    if (this.txStatus === READY_IDLE) {
      // a schema change committed (or rolled back): every connection of the backend reads the catalog again
      if (this.schemaMark > 0 && this.syncsDone >= this.schemaMark) { this.schemaMark = 0; this.catalog.invalidate() }
      if (this.unnamedPortal !== undefined && this.unnamedPortal.gen < this.syncsDone) this.dropPortal('')
      if (this.portals.size > 0) for (const [name, p] of this.portals) if (p.gen < this.syncsDone) this.portals.delete(name)
    }
  }

  /** Forgets what a skipped or failed message would have created, and closes its call. */
  private unwind (u: Unit, message: string): void {
    if (u.kind === Kind.Parse && this.statements.get(u.stmtName!) === u.stmt) this.dropStatement(u.stmtName!)
    if (u.kind === Kind.Bind && this.portalNamed(u.portalName!) === u.portal) this.dropPortal(u.portalName!)
    if (u.call !== undefined) this.finishCall(u, u.call, false, 0, message)
  }

  private onError (u: Unit | undefined): void {
    const r = this.back
    if (u === undefined) { this.pass(); return }
    if (u.kind === Kind.Refusal && u.poisoned === true) {
      // the upstream's answer to the failing Bind: the client gets vecgate's refusal instead
      this.toClient.add(u.error!)
      this.units.shift()
      this.skipUntilSync()
      return
    }
    const f = decodeErrorFields(r.buf, r.body, r.end)
    const status = f.get('C')
    const message = f.get('M')
    this.pass()
    if (u.kind === Kind.Query) {
      this.finishCall(u, u.calls?.[u.idx], false, 0, message, status)
      u.idx++
      return
    }
    if (u.kind === Kind.Sync) return
    this.units.shift()
    this.unwind(u, message ?? 'failed')
    this.skipUntilSync()
  }

  /** After an error in an extended-protocol batch the upstream ignores everything until Sync. */
  private skipUntilSync (): void {
    const units = this.units
    while (units.length > 0 && units[0].kind !== Kind.Sync && units[0].kind !== Kind.Query && !this.isLocal(units[0])) {
      this.unwind(units.shift()!, 'not run: an earlier message of the batch failed')
    }
  }

  // ---- endings -----------------------------------------------------------------------------------

  /** true while responses are outstanding */
  get busy (): boolean { return this.units.length > 0 || this.waiting }

  /** Gateway shutdown: close as soon as no query is in flight, as PostgreSQL's smart shutdown does. */
  drain (): void {
    this.draining = true
    this.closeIfDrained()
  }

  private closeIfDrained (): void {
    if (!this.draining || this.busy || this.ended || this.awaitingJournal > 0) return
    // 57P01 admin_shutdown (PostgreSQL docs, Appendix A)
    this.toClient.add(serialize.errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection: vecgate is shutting down' }))
    this.toClient.flush(this.client)
    this.end('gateway draining')
  }

  private upstreamLost (): void {
    if (this.ended) return
    this.fatal(new VecgateError('VG_ERR_UPSTREAM', 'lost the connection to the database behind vecgate'))
  }

  /** A FATAL ErrorResponse to the client, then both connections close. */
  private fatal (e: VecgateError): void {
    if (this.ended) return
    this.session.error(e)
    this.journalRows()
    this.toClient.add(serialize.errorResponse({ severity: 'FATAL', code: sqlStateOf(e), message: e.message }))
    this.toClient.flush(this.client)
    this.end(e.message)
  }

  end (reason: string): void {
    if (this.ended) return
    this.ended = true
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer)
    // a schema change may have committed without its ReadyForQuery reaching us
    if (this.schemaMark > 0) { this.schemaMark = 0; this.catalog.invalidate() }
    this.abort.abort()
    for (const u of this.units) {
      if (u.kind === Kind.Query) for (let i = u.idx; i < (u.calls?.length ?? 0); i++) u.calls![i]?.finish({ ok: false, message: reason })
      u.call?.finish({ ok: false, message: reason })
    }
    this.units.length = 0
    this.client.end()
    this.upstream.end()
    // give the last bytes (a FATAL, a Terminate) time to leave, then make sure both are gone
    setTimeout(() => { this.client.destroy(); this.upstream.destroy() }, 2000).unref()
    this.o.onEnd(reason)
  }
}

function queryUnit (calls: Array<Call | undefined>): Unit { const u = new Unit(Kind.Query); u.calls = calls; return u }
function refusal (error: Buffer): Unit { const u = new Unit(Kind.Refusal); u.error = error; return u }
function poisonedRefusal (error: Buffer): Unit {
  const u = refusal(error)
  u.poisoned = true
  return u
}

function notSent (calls: Array<Call | undefined>): void {
  for (const c of calls) c?.finish({ ok: false, message: 'not sent: another statement of the message was refused' })
}

/**
 * COPY ... TO sends rows as CopyData in COPY's own formats (text, csv, binary), which the mask does not
 * rewrite: a masked call may not use it (fail closed), SELECT returns the same rows maskable.
 */
function unmaskable (c: StatementClass): boolean {
  return c.method.startsWith('COPY') && c.action !== 'write'
}
const UNMASKABLE = new VecgateError('VG_ERR_DENIED', 'COPY ... TO cannot be masked for this identity; read the rows with SELECT instead')

/** The columns an Execute returns: the portal's Describe, or the statement's with the Bind's formats. */
function columnsOf (p: Portal): Column[] | undefined {
  if (p.columns !== undefined) return p.columns
  const cols = p.stmt.columns
  if (cols === undefined) return undefined
  const fm = p.formats
  p.columns = cols.map((c, i) => ({ ...c, format: fm.length === 0 ? 0 : fm.length === 1 ? fm[0] : (fm[i] ?? 0) }))
  return p.columns
}
