/**
 * The journal writer: the gateway's JournalSink. `event()` only appends to an in-memory queue; a batch
 * runs on the next turn of the event loop (or at once when the queue is full) and writes everything
 * queued in one SQLite transaction — one commit for all the calls in flight (group commit).
 *
 * Durability: WAL with synchronous=NORMAL, so a committed batch is in the operating system's cache
 * and survives a SIGKILL of the gateway (not a power cut). `flush()` resolves once everything given so
 * far is committed; protocol paths await it before the last byte of a response leaves, so a response
 * the client received is never missing from the journal.
 *
 * Nothing is dropped silently: with `on_full: hold` a full queue is written at once, holding the caller;
 * with `on_full: mark` the event is counted and a `loss` event says how many of which kind were lost.
 * A failing database is loud (an error log each time, `failure` set so the pipeline refuses new
 * requests) and retried; queued events are kept while it fails, up to the queue size.
 */
import Database from 'better-sqlite3'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import type { Logger } from '../log.js'
import { VecgateError } from '../errors.js'
import { eventHash, genesis, seal, type SessionHeader } from './chain.js'
import { migrate } from './schema.js'
import { EventSerializer, identityRecord } from './serialize.js'
import type { JournalEvent, JournalSink, SessionStart } from './types.js'

export interface JournalWriterOptions {
  path: string
  onFull: 'hold' | 'mark'
  queue: number
  storeVectors: boolean
  signingKey: KeyObject
  keyId: string
  log: Logger
  retention?: { max_age?: number, max_bytes?: number }
  /** how often retention runs, ms (default 10 minutes) */
  pruneEvery?: number
  /** longest an event nobody waits for stays queued, ms (default 2) */
  commitDelay?: number
}

type Item =
  | { t: 0, s: SessionStart }
  | { t: 1, e: JournalEvent }
  | { t: 2, session: string, at: number, reason: string }

interface Open {
  header: SessionHeader
  n: number
  last: string
  bytes: number
  subject?: string
  dirty: boolean
}

const GATEWAY_BACKEND = '-'
const SEEN_ROWS = 32
/** queued events that start a commit without waiting for the commit delay */
const BATCH = 1024

export class JournalWriter implements JournalSink {
  readonly path: string
  /** set while the database refuses writes; the pipeline refuses new requests meanwhile (fail closed) */
  failure: Error | undefined
  private readonly db: Database.Database
  private readonly opts: JournalWriterOptions
  private readonly serializer: EventSerializer
  private queue: Item[] = []
  private scheduled = false
  private waiters: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  private readonly open = new Map<string, Open>()
  /** events not recorded, per session and kind, until a loss event says so */
  private readonly lost = new Map<string, Record<string, number>>()
  private seq: number
  private gatewaySession: string | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private readonly pruneTimer: NodeJS.Timeout | undefined
  private lastLoud = 0
  /** sessions opened by the batch being written, forgotten again if it rolls back */
  private batchOpened: string[] = []
  private closed = false
  private readonly lock: string
  private readonly st: ReturnType<JournalWriter['prepare']>
  private readonly batch: (fn: () => void) => void
  /** written so far, for the benchmark and /metrics */
  written = 0

  constructor (opts: JournalWriterOptions) {
    this.opts = opts
    this.path = opts.path
    this.serializer = new EventSerializer(opts.storeVectors)
    mkdirSync(dirname(opts.path), { recursive: true })
    this.lock = takeLock(opts.path)
    try {
      this.db = new Database(opts.path)
      this.db.pragma('auto_vacuum = INCREMENTAL') // only takes effect on a new file, before the first table
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      // pruned sessions and superseded pages are overwritten with zeros, not left readable in free pages
      this.db.pragma('secure_delete = ON')
      // fewer, larger checkpoints and a bigger page cache: the journal is append-mostly
      this.db.pragma('wal_autocheckpoint = 8192')
      this.db.pragma('cache_size = -32768')
      migrate(this.db)
    } catch (e) {
      rmSync(this.lock, { force: true })
      throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot open ${opts.path}: ${(e as Error).message}`, { hint: 'check the path and its permissions' })
    }
    this.st = this.prepare()
    const tx = this.db.transaction((fn: () => void) => fn())
    this.batch = (fn) => tx(fn)
    this.seq = this.maxSeq()
    this.db.prepare('INSERT OR IGNORE INTO keys (kid, jwk, first_used) VALUES (?, ?, ?)')
      .run(opts.keyId, JSON.stringify(createPublicKey(opts.signingKey).export({ format: 'jwk' })), Date.now())
    this.recover()
    this.prune()
    if (opts.retention !== undefined) {
      this.pruneTimer = setInterval(() => this.prune(), opts.pruneEvery ?? 600_000)
      this.pruneTimer.unref()
    }
  }

  private maxSeq (): number {
    return (this.db.prepare('SELECT max(m) AS m FROM (SELECT max(seq) AS m FROM sessions UNION ALL SELECT max(seq) AS m FROM pruned)').get() as { m: number | null }).m ?? 0
  }

  private prepare () {
    const db = this.db
    return {
      session: db.prepare('INSERT INTO sessions (id, seq, backend, protocol, client, tls, started_at, last_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      event: db.prepare('INSERT INTO events (session, n, at, kind, call, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      scope: db.prepare('INSERT INTO scopes (backend, collection) VALUES (?, ?) ON CONFLICT DO UPDATE SET backend = backend RETURNING id'),
      auth: db.prepare('UPDATE sessions SET subject = ?, groups = ?, token_id = ? WHERE id = ? AND subject IS NULL'),
      identity: db.prepare('INSERT OR IGNORE INTO identities (subject, session) VALUES (?, ?)'),
      tail: db.prepare('SELECT n, hash, (SELECT coalesce(sum(length(body)), 0) FROM events WHERE session = ?) AS bytes FROM events WHERE session = ? ORDER BY n DESC LIMIT 1'),
      end: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ?, events = ?, last_hash = ?, bytes = ?, seal = ?, key_id = ? WHERE id = ?')
    }
  }

  start (s: SessionStart): void {
    this.push({ t: 0, s })
  }

  event (e: JournalEvent): void {
    this.push({ t: 1, e })
  }

  end (session: string, at: number, reason: string): void {
    this.push({ t: 2, session, at, reason })
  }

  async flush (): Promise<void> {
    if (this.queue.length === 0 && this.failure === undefined) return
    return await new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      // someone waits: commit as soon as the current I/O callback is done (a microtask), with
      // everything it produced, rather than a whole event-loop turn later
      if (!this.commitSoon) {
        this.commitSoon = true
        queueMicrotask(() => {
          this.commitSoon = false
          this.write()
        })
      }
    })
  }

  private commitSoon = false

  async close (): Promise<void> {
    if (this.closed) return
    // sessions still open when the gateway stops are ended and sealed, so verify finds them whole
    for (const id of this.open.keys()) if (id !== this.gatewaySession) this.end(id, Date.now(), 'gateway stopped')
    if (this.gatewaySession !== undefined) this.end(this.gatewaySession, Date.now(), 'gateway stopped')
    this.write()
    this.closed = true
    clearTimeout(this.retryTimer)
    clearTimeout(this.timer)
    clearInterval(this.pruneTimer)
    for (const w of this.waiters.splice(0)) w.reject(new VecgateError('VG_ERR_JOURNAL', 'journal closed'))
    try { this.db.pragma('wal_checkpoint(TRUNCATE)') } catch {}
    this.db.close()
    rmSync(this.lock, { force: true })
  }

  private push (item: Item): void {
    if (this.closed) return
    if (this.queue.length >= this.opts.queue) {
      if (this.opts.onFull === 'hold' && this.failure === undefined) {
        this.write() // the caller waits for the disk: nothing is lost
      } else {
        this.countLoss(item)
        return
      }
    }
    this.queue.push(item)
    this.schedule()
  }

  /**
   * Events nobody waits for are committed within `commitDelay` ms (one commit for everything in that
   * window: at low concurrency a commit per request would cost more than the request), or at once
   * when BATCH of them are queued. Calls that wait (`flush`) commit right after their I/O callback.
   */
  private schedule (): void {
    if (this.closed) return
    if (this.queue.length >= BATCH) {
      if (this.immediate) return
      this.immediate = true
      setImmediate(() => {
        this.immediate = false
        this.write()
      })
      return
    }
    if (this.scheduled) return
    this.scheduled = true
    this.timer = setTimeout(() => {
      this.scheduled = false
      this.write()
    }, this.opts.commitDelay ?? 2)
  }

  private immediate = false
  private timer: NodeJS.Timeout | undefined

  private countLoss (item: Item): void {
    // starts and ends are never dropped: the chain needs them, and there are few
    if (item.t !== 1) { this.queue.push(item); return }
    let l = this.lost.get(item.e.session)
    if (l === undefined) { l = {}; this.lost.set(item.e.session, l) }
    l[item.e.kind] = (l[item.e.kind] ?? 0) + 1
  }

  /** Writes everything queued in one transaction. */
  private write (): void {
    if (this.closed) return
    const items = this.queue
    if (items.length === 0 && this.lost.size === 0) { this.settle(undefined); return }
    this.queue = []
    const touched = new Set<Open>()
    const opened: string[] = []
    this.batchOpened = opened
    try {
      this.batch(() => {
        for (const item of items) {
          if (item.t === 0) this.writeStart(item.s)
          else if (item.t === 1) this.writeEvent(item.e, touched)
          else this.writeEnd(item.session, item.at, item.reason, touched)
        }
        this.writeLosses(touched)
        // a session's row is written at its start and its end only: one page less per commit; its
        // chain state while open is its last event (see tail())
      })
    } catch (e) {
      this.fail(e as Error, items, opened)
      return
    }
    this.written += items.length
    if (this.failure !== undefined) {
      this.opts.log.warn({ path: this.path }, 'journal writes again')
      this.failure = undefined
    }
    this.settle(undefined)
  }

  private settle (err: Error | undefined): void {
    if (this.waiters.length === 0) return
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) err === undefined ? w.resolve() : w.reject(err)
  }

  private fail (err: Error, items: Item[], opened: string[]): void {
    // the transaction rolled back: forget in-memory progress it made
    for (const id of opened) {
      this.open.delete(id)
      if (id === this.gatewaySession) this.gatewaySession = undefined
    }
    this.reload()
    this.failure = err
    const now = Date.now()
    if (now - this.lastLoud > 5000) {
      this.lastLoud = now
      this.opts.log.error({ err: err.message, path: this.path, queued: items.length }, 'JOURNAL WRITE FAILED: new requests are refused until it writes again')
    }
    // keep what fits, count the rest as lost (said in a loss event once writing works again)
    const keep = items.concat(this.queue)
    this.queue = []
    for (const item of keep) {
      if (this.queue.length < this.opts.queue || item.t !== 1) this.queue.push(item)
      else this.countLoss(item)
    }
    this.settle(new VecgateError('VG_ERR_JOURNAL', `journal write failed: ${err.message}`))
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.write(), 1000)
    this.retryTimer.unref()
  }

  /** After a rolled-back batch, the open sessions' chain state comes back from the database. */
  private reload (): void {
    this.seq = this.maxSeq()
    for (const o of this.open.values()) Object.assign(o, this.tail(o.header), { dirty: false })
  }

  /** An open session's chain state, from its last recorded event. */
  private tail (h: SessionHeader): { n: number, last: string, bytes: number } {
    const r = this.st.tail.get(h.id, h.id) as { n: number, hash: string, bytes: number } | undefined
    return r === undefined ? { n: 0, last: genesis(h), bytes: 0 } : { n: r.n, last: r.hash, bytes: r.bytes }
  }

  private writeStart (s: SessionStart): string {
    const header: SessionHeader = { id: s.id, backend: s.backend, protocol: s.protocol, client: s.client, tls: s.tls, started_at: s.at }
    const last = genesis(header)
    this.st.session.run(s.id, ++this.seq, s.backend, s.protocol, s.client, s.tls ? 1 : 0, s.at, last)
    this.open.set(s.id, { header, n: 0, last, bytes: 0, dirty: false })
    this.batchOpened.push(s.id)
    return s.id
  }

  private sessionFor (id: string): Open {
    const o = this.open.get(id)
    if (o !== undefined) return o
    // an event for a session that already ended (an approval decided after the client left) or that
    // this process never saw: it goes to the gateway's own session, with the session it concerns
    return this.open.get(this.gatewayId())!
  }

  private gatewayId (): string {
    if (this.gatewaySession === undefined || !this.open.has(this.gatewaySession)) {
      this.gatewaySession = `gw-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
      this.writeStart({ id: this.gatewaySession, backend: GATEWAY_BACKEND, protocol: 'gateway', client: `pid ${process.pid}`, tls: false, at: Date.now() })
    }
    return this.gatewaySession
  }

  private append (o: Open, at: number, kind: string, call: number | null, body: string, touched: Set<Open>): number {
    const n = ++o.n
    const hash = eventHash(o.last, o.header.id, n, at, kind, call, body)
    const r = this.st.event.run(o.header.id, n, at, kind, call, body, o.last, hash)
    o.last = hash
    o.bytes += body.length
    o.dirty = true
    touched.add(o)
    return Number(r.lastInsertRowid)
  }

  private writeEvent (e: JournalEvent, touched: Set<Open>): void {
    const o = this.sessionFor(e.session)
    const body = this.serializer.body(e, o.header.id !== e.session ? e.session : undefined)
    const id = this.append(o, e.at, e.kind, e.call ?? null, body, touched)
    if (e.kind === 'auth' && e.identity !== undefined && o.header.id === e.session) {
      if (o.subject === undefined) {
        o.subject = e.identity.subject
        this.st.auth.run(e.identity.subject, JSON.stringify(e.identity.groups), e.identity.tokenId ?? null, o.header.id)
      }
      this.st.identity.run(e.identity.subject, o.header.id)
    }
    if (e.ids !== undefined && e.ids.length > 0) this.writeSeen(o.header.backend, e.collection ?? e.op?.collection ?? '', e.ids, id)
  }

  private readonly scopes = new Map<string, number>()
  /** INSERT statements for 1..SEEN_ROWS rows at once: one statement per response, not per id */
  private readonly seenInserts: Database.Statement[] = []

  private writeSeen (backend: string, collection: string, ids: readonly unknown[], event: number): void {
    const key = backend + '\u0000' + collection
    let scope = this.scopes.get(key)
    if (scope === undefined) {
      scope = (this.st.scope.get(backend, collection) as { id: number }).id
      this.scopes.set(key, scope)
    }
    for (let i = 0; i < ids.length; i += SEEN_ROWS) {
      const n = Math.min(SEEN_ROWS, ids.length - i)
      let stmt = this.seenInserts[n]
      if (stmt === undefined) {
        stmt = this.db.prepare('INSERT OR IGNORE INTO seen (scope, record, event) VALUES ' + Array(n).fill('(?, ?, ?)').join(', '))
        this.seenInserts[n] = stmt
      }
      const args: unknown[] = new Array(n * 3)
      for (let j = 0; j < n; j++) { args[j * 3] = scope; args[j * 3 + 1] = String(ids[i + j]); args[j * 3 + 2] = event }
      stmt.run(...args)
    }
  }

  private writeEnd (session: string, at: number, reason: string, touched: Set<Open>): void {
    const o = this.open.get(session)
    if (o === undefined) return
    const lost = this.lost.get(session)
    if (lost !== undefined) { this.lost.delete(session); this.append(o, at, 'loss', null, JSON.stringify({ data: { lost, reason: 'journal queue full (journal.on_full: mark)' } }), touched) }
    const facts = { ...o.header, ended_at: at, end_reason: reason, events: o.n, last_hash: o.last }
    this.st.end.run(at, reason, o.n, o.last, o.bytes, seal(facts, this.opts.signingKey), this.opts.keyId, session)
    o.dirty = false
    this.open.delete(session)
    if (session === this.gatewaySession) this.gatewaySession = undefined
  }

  private writeLosses (touched: Set<Open>): void {
    if (this.lost.size === 0) return
    for (const [session, lost] of this.lost) {
      const o = this.sessionFor(session)
      const body = JSON.stringify({ ...(o.header.id !== session ? { for: session } : {}), data: { lost, reason: 'journal queue full (journal.on_full: mark)' } })
      this.append(o, Date.now(), 'loss', null, body, touched)
      this.opts.log.warn({ session, lost }, 'journal recorded a loss: events were not written')
    }
    this.lost.clear()
  }

  /**
   * Sessions a previous process left open were cut short (crash, SIGKILL). Each gets a loss event
   * naming its last recorded event and the calls whose final response is not recorded, then a seal.
   */
  private recover (): void {
    const rows = this.db.prepare('SELECT id, backend, protocol, client, tls, started_at, events, last_hash, bytes FROM sessions WHERE ended_at IS NULL').all() as Array<Omit<SessionHeader, 'tls'> & { events: number, last_hash: string, bytes: number, tls: number }>
    if (rows.length === 0) return
    const unfinished = this.db.prepare(`SELECT DISTINCT call FROM events WHERE session = ? AND kind = 'request' AND call IS NOT NULL
      AND call NOT IN (SELECT call FROM events WHERE session = ? AND call IS NOT NULL AND (kind = 'error' OR (kind = 'response' AND body LIKE '%"final":true%')))`)
    const lastAt = this.db.prepare('SELECT max(at) AS at FROM events WHERE session = ?')
    const touched = new Set<Open>()
    this.db.transaction(() => {
      for (const r of rows) {
        const header = { id: r.id, backend: r.backend, protocol: r.protocol, client: r.client, tls: r.tls === 1, started_at: r.started_at }
        const o: Open = { header, ...this.tail(header), dirty: false }
        this.open.set(r.id, o)
        const calls = (unfinished.all(r.id, r.id) as Array<{ call: number }>).map(c => c.call)
        const at = Date.now()
        const body = JSON.stringify({ data: { reason: 'the gateway stopped without ending this session (crash or kill); anything after the last recorded event was not journaled', last_event: o.n, unfinished_calls: calls } })
        this.append(o, at, 'loss', null, body, touched)
        const ended = Math.max(at, (lastAt.get(r.id) as { at: number | null }).at ?? at)
        this.writeEnd(r.id, ended, 'gateway stopped abruptly', touched)
      }
    })()
    this.opts.log.warn({ sessions: rows.length }, 'journal: sessions left open by a previous run were closed with a loss event')
  }

  /** Retention: whole ended sessions older than max_age, then oldest first while over max_bytes. */
  prune (now = Date.now()): number {
    const r = this.opts.retention
    if (r === undefined || this.closed) return 0
    let pruned = 0
    const pruneOne = this.db.transaction((id: string, reason: string) => {
      this.db.prepare(`INSERT INTO pruned (session, seq, started_at, ended_at, subject, events, pruned_at, reason)
        SELECT id, seq, started_at, ended_at, subject, events, ?, ? FROM sessions WHERE id = ?`).run(now, reason, id)
      // seen rows, found through the ids the session's responses recorded
      const backend = (this.db.prepare('SELECT backend FROM sessions WHERE id = ?').get(id) as { backend: string }).backend
      const drop = this.db.prepare('DELETE FROM seen WHERE scope = (SELECT id FROM scopes WHERE backend = ? AND collection = ?) AND record = ? AND event = ?')
      for (const e of this.db.prepare("SELECT id, body FROM events WHERE session = ? AND kind = 'response' AND body LIKE '%\"ids\":%'").all(id) as Array<{ id: number, body: string }>) {
        const b = JSON.parse(e.body) as { collection?: string, ids?: unknown[], op?: { collection?: string } }
        for (const rid of b.ids ?? []) drop.run(backend, b.collection ?? '', String(rid), e.id)
      }
      this.db.prepare('DELETE FROM events WHERE session = ?').run(id)
      this.db.prepare('DELETE FROM identities WHERE session = ?').run(id)
      this.db.prepare('DELETE FROM sessions WHERE id = ?').run(id)
    })
    if (r.max_age !== undefined) {
      const old = this.db.prepare('SELECT id FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY seq').all(now - r.max_age * 1000) as Array<{ id: string }>
      for (const { id } of old) { pruneOne(id, `older than journal.retention.max_age (${r.max_age}s)`); pruned++ }
    }
    if (r.max_bytes !== undefined) {
      // prune the oldest share of ended sessions that brings the size under the limit; pages of
      // indexes stay partly used after deletes, so a few rounds may be needed
      for (let round = 0; round < 4; round++) {
        const size = this.size()
        if (size <= r.max_bytes) break
        const ended = (this.db.prepare('SELECT count(*) AS c FROM sessions WHERE ended_at IS NOT NULL').get() as { c: number }).c
        if (ended === 0) break
        const n = Math.max(1, Math.ceil(ended * (1 - r.max_bytes / size) * 1.1))
        const batch = this.db.prepare('SELECT id FROM sessions WHERE ended_at IS NOT NULL ORDER BY seq LIMIT ?').all(n) as Array<{ id: string }>
        for (const { id } of batch) { pruneOne(id, `journal over journal.retention.max_bytes (${r.max_bytes} bytes)`); pruned++ }
        this.db.pragma('incremental_vacuum')
      }
    }
    if (pruned > 0) {
      this.db.pragma('incremental_vacuum')
      this.opts.log.info({ sessions: pruned }, 'journal retention pruned sessions')
    }
    return pruned
  }

  /** Bytes the journal's pages hold (without free pages). */
  size (): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number
    const free = this.db.pragma('freelist_count', { simple: true }) as number
    const size = this.db.pragma('page_size', { simple: true }) as number
    return (pages - free) * size
  }
}

/**
 * One writer per journal file: a lock file with the writer's pid. A lock left by a process that no
 * longer runs is taken over (that process crashed; recovery closes its sessions).
 */
function takeLock (path: string): string {
  const lock = path + '.lock'
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(lock, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return lock
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot create ${lock}: ${(e as Error).message}`)
      const pid = Number(readFileSync(lock, 'utf8'))
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new VecgateError('VG_ERR_JOURNAL', `journal.path: ${path} is in use by another vecgate (pid ${pid})`, { hint: 'stop it, or give this gateway its own journal.path' })
      }
      rmSync(lock, { force: true })
    }
  }
  throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot lock ${path}`)
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export { identityRecord }
