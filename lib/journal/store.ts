/**
 * The journal's SQLite side: one connection, each open session's hash chain, seals, the who-saw
 * index, loss events, recovery and retention. It runs in the journal's worker thread (worker.ts),
 * which feeds it the batches the gateway's thread built (batch.ts); the gateway's thread also opens
 * it once at start, synchronously, so a bad path fails the start and sessions a killed gateway left
 * open are closed before any new one begins.
 *
 * Durability: WAL with synchronous=NORMAL, so a committed batch is in the operating system's cache
 * and survives a SIGKILL of the gateway (not a power cut).
 */
import Database from 'better-sqlite3'
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import { VecgateError } from '../errors.js'
import { readBatch, type Batch, type BatchSink, type StoredEvent } from './batch.js'
import { eventHashBytes, genesis, seal, type SessionHeader } from './chain.js'
import { migrate, SEEN_SPAN_BITS } from './schema.js'
import type { SessionStart } from './types.js'

/** The logger calls the store makes (pino's shape; a message port proxy in the worker). */
export interface StoreLog {
  info: (o: object, msg: string) => void
  warn: (o: object, msg: string) => void
  error: (o: object, msg: string) => void
}

export interface JournalStoreOptions {
  path: string
  signingKey: KeyObject
  keyId: string
  log: StoreLog
  retention?: { max_age?: number, max_bytes?: number }
}

interface Open {
  header: SessionHeader
  n: number
  last: string
  /** UTF-8 bytes of its events' bodies (sessions.bytes) */
  bytes: number
  subject?: string
}

const GATEWAY_BACKEND = '-'
const SEEN_ROWS = 32
const LOSS_REASON = 'journal queue full (journal.on_full: mark)'
const EMPTY_OBJECT = Buffer.from('{}')

/** an event's body kept in the gateway's session on behalf of `session`: `for` as its first member */
function forSession (session: string, body: Buffer): Buffer {
  if (body.equals(EMPTY_OBJECT)) return Buffer.from('{"for":' + JSON.stringify(session) + '}')
  return Buffer.concat([Buffer.from('{"for":' + JSON.stringify(session) + ','), body.subarray(1)])
}

export class JournalStore implements BatchSink {
  private readonly db: Database.Database
  private readonly opts: JournalStoreOptions
  private readonly open = new Map<string, Open>()
  /** events not recorded, per session and kind, until a loss event says so */
  private readonly losses = new Map<string, Record<string, number>>()
  private seq: number
  private gatewaySession: string | undefined
  /** sessions opened by the batch being written, forgotten again if it rolls back */
  private batchOpened: string[] = []
  private readonly st: ReturnType<JournalStore['prepare']>
  private readonly tx: (batches: Batch[], at: number) => void

  constructor (opts: JournalStoreOptions) {
    this.opts = opts
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
      throw new VecgateError('VG_ERR_JOURNAL', `journal.path: cannot open ${opts.path}: ${(e as Error).message}`, { hint: 'check the path and its permissions' })
    }
    this.st = this.prepare()
    this.tx = this.db.transaction((batches: Batch[], at: number) => {
      for (const b of batches) readBatch(b, this)
      this.writeLosses()
      this.st.committed.run(at)
    })
    this.seq = this.maxSeq()
    this.db.prepare('INSERT OR IGNORE INTO keys (kid, jwk, first_used) VALUES (?, ?, ?)')
      .run(opts.keyId, JSON.stringify(createPublicKey(opts.signingKey).export({ format: 'jwk' })), Date.now())
  }

  private maxSeq (): number {
    return (this.db.prepare('SELECT max(m) AS m FROM (SELECT max(seq) AS m FROM sessions UNION ALL SELECT max(seq) AS m FROM pruned)').get() as { m: number | null }).m ?? 0
  }

  private prepare () {
    const db = this.db
    return {
      session: db.prepare('INSERT INTO sessions (id, seq, backend, protocol, client, tls, started_at, last_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      // the body comes as its UTF-8 bytes and is stored as the text they are
      event: db.prepare('INSERT INTO events (session, n, at, kind, call, body, prev, hash) VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?)'),
      scope: db.prepare('INSERT INTO scopes (backend, collection) VALUES (?, ?) ON CONFLICT DO UPDATE SET backend = backend RETURNING id'),
      auth: db.prepare('UPDATE sessions SET subject = ?, groups = ?, token_id = ? WHERE id = ? AND subject IS NULL'),
      identity: db.prepare('INSERT OR IGNORE INTO identities (subject, session) VALUES (?, ?)'),
      tail: db.prepare('SELECT n, hash, (SELECT coalesce(sum(octet_length(body)), 0) FROM events WHERE session = ?) AS bytes FROM events WHERE session = ? ORDER BY n DESC LIMIT 1'),
      end: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ?, events = ?, last_hash = ?, bytes = ?, seal = ?, key_id = ? WHERE id = ?'),
      committed: db.prepare('UPDATE journal_state SET committed_before = ? WHERE id = 1')
    }
  }

  /**
   * Writes batches in one transaction (group commit), then the losses counted so far, and that every
   * event queued before `at` (when the last of them was handed over) is now committed. On failure the
   * transaction rolled back: the in-memory chain state is reloaded from the database and the error
   * thrown; the caller keeps the batches to try again.
   */
  write (batches: Batch[], at: number): void {
    this.batchOpened = []
    // loss counts arrive inside the batches: a rolled-back batch is given again and counts them again
    const losses = this.losses.size === 0 ? undefined : [...this.losses].map(([k, v]) => [k, { ...v }] as const)
    try {
      this.tx(batches, at)
    } catch (e) {
      this.losses.clear()
      for (const [k, v] of losses ?? []) this.losses.set(k, v)
      for (const id of this.batchOpened) {
        this.open.delete(id)
        if (id === this.gatewaySession) this.gatewaySession = undefined
      }
      this.reload()
      throw e
    }
  }

  /** Events the gateway's thread counted instead of recording; said in a loss event at the next write. */
  lost (session: string, counts: Record<string, number>): void {
    let l = this.losses.get(session)
    if (l === undefined) { l = {}; this.losses.set(session, l) }
    for (const k in counts) l[k] = (l[k] ?? 0) + counts[k]
  }

  /** After a rolled-back batch, the open sessions' chain state comes back from the database. */
  private reload (): void {
    this.seq = this.maxSeq()
    for (const o of this.open.values()) Object.assign(o, this.tail(o.header))
  }

  /** An open session's chain state, from its last recorded event. */
  private tail (h: SessionHeader): { n: number, last: string, bytes: number } {
    const r = this.st.tail.get(h.id, h.id) as { n: number, hash: string, bytes: number } | undefined
    return r === undefined ? { n: 0, last: genesis(h), bytes: 0 } : { n: r.n, last: r.hash, bytes: r.bytes }
  }

  start (s: SessionStart): void {
    const header: SessionHeader = { id: s.id, backend: s.backend, protocol: s.protocol, client: s.client, tls: s.tls, started_at: s.at }
    const last = genesis(header)
    this.st.session.run(s.id, ++this.seq, s.backend, s.protocol, s.client, s.tls ? 1 : 0, s.at, last)
    this.open.set(s.id, { header, n: 0, last, bytes: 0 })
    this.batchOpened.push(s.id)
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
      this.start({ id: this.gatewaySession, backend: GATEWAY_BACKEND, protocol: 'gateway', client: `pid ${process.pid}`, tls: false, at: Date.now() })
    }
    return this.gatewaySession
  }

  /** `body`: UTF-8 JSON; the session's `bytes` count its bytes */
  private append (o: Open, at: number, kind: string, call: number | null, body: Uint8Array): number {
    const n = ++o.n
    const hash = eventHashBytes(o.last, o.header.id, n, at, kind, call, body)
    const r = this.st.event.run(o.header.id, n, at, kind, call, body, o.last, hash)
    o.last = hash
    o.bytes += body.length
    return Number(r.lastInsertRowid)
  }

  event (e: StoredEvent): void {
    const o = this.sessionFor(e.session)
    // kept in the gateway's session on behalf of another: `for` first, as the reader expects
    const body = o.header.id === e.session ? e.body : forSession(e.session, e.body)
    const id = this.append(o, e.at, e.kind, e.call, body)
    if (e.subject !== null && o.header.id === e.session) {
      if (o.subject === undefined) {
        o.subject = e.subject
        this.st.auth.run(e.subject, e.groups, e.tokenId, o.header.id)
      }
      this.st.identity.run(e.subject, o.header.id)
    }
    if (e.ids !== null && e.ids.length > 0) this.writeSeen(o.header.backend, e.collection, e.ids, id)
  }

  private readonly scopes = new Map<string, number>()
  /** INSERT statements for 1..SEEN_ROWS rows at once: one statement per response, not per id */
  private readonly seenInserts: Database.Statement[] = []

  private writeSeen (backend: string, collection: string, ids: readonly string[], event: number): void {
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
        stmt = this.db.prepare('INSERT OR IGNORE INTO seen (scope, span, record, event) VALUES ' + Array(n).fill('(?, ?, ?, ?)').join(', '))
        this.seenInserts[n] = stmt
      }
      const span = Math.floor(event / 2 ** SEEN_SPAN_BITS)
      const args: unknown[] = new Array(n * 4)
      for (let j = 0; j < n; j++) { args[j * 4] = scope; args[j * 4 + 1] = span; args[j * 4 + 2] = ids[i + j]; args[j * 4 + 3] = event }
      stmt.run(...args)
    }
  }

  end (session: string, at: number, reason: string): void {
    const o = this.open.get(session)
    if (o === undefined) return
    const lost = this.losses.get(session)
    if (lost !== undefined) { this.losses.delete(session); this.append(o, at, 'loss', null, Buffer.from(JSON.stringify({ data: { lost, reason: LOSS_REASON } }))) }
    const facts = { ...o.header, ended_at: at, end_reason: reason, events: o.n, last_hash: o.last }
    this.st.end.run(at, reason, o.n, o.last, o.bytes, seal(facts, this.opts.signingKey), this.opts.keyId, session)
    this.open.delete(session)
    if (session === this.gatewaySession) this.gatewaySession = undefined
  }

  private writeLosses (): void {
    if (this.losses.size === 0) return
    for (const [session, lost] of this.losses) {
      const o = this.sessionFor(session)
      const body = JSON.stringify({ ...(o.header.id !== session ? { for: session } : {}), data: { lost, reason: LOSS_REASON } })
      this.append(o, Date.now(), 'loss', null, Buffer.from(body))
      this.opts.log.warn({ session, lost }, 'journal recorded a loss: events were not written')
    }
    this.losses.clear()
  }

  /**
   * A gateway starts writing: until it stops cleanly (`stopped`), recovery at the next start treats
   * events queued after the last committed hand-off as possibly lost. Nothing is queued before now.
   */
  running (commitDelay: number, at = Date.now()): void {
    this.db.prepare(`INSERT INTO journal_state (id, running, pid, started_at, committed_before, commit_delay) VALUES (1, 1, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET running = 1, pid = excluded.pid, started_at = excluded.started_at, committed_before = excluded.committed_before, commit_delay = excluded.commit_delay`)
      .run(process.pid, at, at, commitDelay)
  }

  /** Everything handed over was committed and every session ended: nothing for recovery to say. */
  stopped (): void {
    this.db.prepare('UPDATE journal_state SET running = 0 WHERE id = 1').run()
  }

  /**
   * A previous gateway that did not stop cleanly (crash, SIGKILL) may have lost what it had not yet
   * committed: events its thread queued after the last committed hand-off (`committed_before`) —
   * under journal.durable: changes, reads and searches already answered, at most about the hand-off
   * delay of them; under `all`, no call whose end reached the client. Recovery says so once for the
   * journal (a loss event in a gateway session of its own: sessions started after that time may be
   * missing whole) and in each session it left open, which also gets the calls without a recorded
   * end, and a seal. Loss events are ordinary chained events: verify checks them like any other.
   */
  recover (): void {
    const state = this.db.prepare('SELECT running, pid, started_at, committed_before, commit_delay FROM journal_state WHERE id = 1').get() as
      { running: number, pid: number | null, started_at: number | null, committed_before: number | null, commit_delay: number | null } | undefined
    const rows = this.db.prepare('SELECT id, backend, protocol, client, tls, started_at, events, last_hash, bytes FROM sessions WHERE ended_at IS NULL').all() as Array<Omit<SessionHeader, 'tls'> & { events: number, last_hash: string, bytes: number, tls: number }>
    const unclean = state?.running === 1
    if (rows.length === 0 && !unclean) return
    // a journal from before journal_state, or a gateway that died before recording it: unknown
    const window = unclean && state.committed_before !== null
      ? { missing_from: state.committed_before, reads_may_trail_ms: state.commit_delay }
      : { missing_from: null }
    const unfinished = this.db.prepare(`SELECT DISTINCT call FROM events WHERE session = ? AND kind = 'request' AND call IS NOT NULL
      AND call NOT IN (SELECT call FROM events WHERE session = ? AND call IS NOT NULL AND (kind = 'error' OR (kind = 'response' AND body LIKE '%"final":true%')))`)
    const lastAt = this.db.prepare('SELECT max(at) AS at FROM events WHERE session = ?')
    this.db.transaction(() => {
      const at = Date.now()
      if (unclean) {
        const o = this.open.get(this.gatewayId())!
        this.append(o, at, 'loss', null, Buffer.from(JSON.stringify({
          data: {
            reason: `the previous gateway${state.pid !== null ? ` (pid ${state.pid})` : ''} stopped without closing the journal (crash or kill); what it had not committed is lost`,
            ...window,
            gateway_started_at: state.started_at,
            sessions_left_open: rows.length,
            scope: 'journal'
          }
        })))
      }
      for (const r of rows) {
        const header = { id: r.id, backend: r.backend, protocol: r.protocol, client: r.client, tls: r.tls === 1, started_at: r.started_at }
        const o: Open = { header, ...this.tail(header) }
        this.open.set(r.id, o)
        const calls = (unfinished.all(r.id, r.id) as Array<{ call: number }>).map(c => c.call)
        const body = JSON.stringify({
          data: {
            reason: 'the gateway stopped without ending this session (crash or kill); anything after the last recorded event was not journaled',
            last_event: o.n,
            unfinished: calls.length,
            unfinished_calls: calls,
            ...window
          }
        })
        this.append(o, at, 'loss', null, Buffer.from(body))
        const ended = Math.max(at, (lastAt.get(r.id) as { at: number | null }).at ?? at)
        this.end(r.id, ended, 'gateway stopped abruptly')
      }
      if (this.gatewaySession !== undefined) this.end(this.gatewaySession, at, 'recovery after an abrupt stop')
      this.stopped()
    })()
    this.opts.log.warn({ sessions: rows.length, missing_from: window.missing_from }, 'journal: the previous gateway stopped abruptly; its open sessions were closed with a loss event saying from when events may be missing')
  }

  /** Retention: whole ended sessions older than max_age, then oldest first while over max_bytes. */
  prune (now = Date.now()): number {
    const r = this.opts.retention
    if (r === undefined) return 0
    let pruned = 0
    const pruneOne = this.db.transaction((id: string, reason: string) => {
      this.db.prepare(`INSERT INTO pruned (session, seq, started_at, ended_at, subject, events, pruned_at, reason)
        SELECT id, seq, started_at, ended_at, subject, events, ?, ? FROM sessions WHERE id = ?`).run(now, reason, id)
      // seen rows, found through the ids the session's responses recorded
      const backend = (this.db.prepare('SELECT backend FROM sessions WHERE id = ?').get(id) as { backend: string }).backend
      const drop = this.db.prepare(`DELETE FROM seen WHERE scope = (SELECT id FROM scopes WHERE backend = ? AND collection = ?) AND span = ? >> ${SEEN_SPAN_BITS} AND record = ? AND event = ?`)
      for (const e of this.db.prepare("SELECT id, body FROM events WHERE session = ? AND kind = 'response' AND body LIKE '%\"ids\":%'").all(id) as Array<{ id: number, body: string }>) {
        const b = JSON.parse(e.body) as { collection?: string, ids?: unknown[], op?: { collection?: string } }
        // journals written before record ids were kept whole may hold "<vector dim=N>" instead of them
        for (const rid of Array.isArray(b.ids) ? b.ids : []) drop.run(backend, b.collection ?? '', e.id, String(rid), e.id)
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
      // indexes stay partly used after deletes, so a few rounds may be needed (each prunes at least one)
      for (let round = 0; round < 16; round++) {
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

  /**
   * Sessions still open when the gateway stops are ended and sealed, so verify finds them whole;
   * `clean`: everything handed over was committed, so the next start has no loss to report.
   */
  endAll (at: number, reason: string, clean = false): void {
    const ids = [...this.open.keys()].filter(id => id !== this.gatewaySession)
    if (this.gatewaySession !== undefined) ids.push(this.gatewaySession)
    this.db.transaction(() => {
      for (const id of ids) this.end(id, at, reason)
      if (clean) this.stopped()
    })()
  }

  close (): void {
    try { this.db.pragma('wal_checkpoint(TRUNCATE)') } catch {}
    this.db.close()
  }
}
