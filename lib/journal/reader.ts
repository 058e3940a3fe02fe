/**
 * Reading the journal: what auditors list, replay, search and verify. Opens the file read-only, so
 * it can run beside a live gateway (WAL readers never block the writer).
 */
import Database from 'better-sqlite3'
import { existsSync } from 'node:fs'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { VecgateError } from '../errors.js'
import { eventHash, genesis, sealValid } from './chain.js'
import { SCHEMA_VERSION, SEEN_SPANS_SINCE } from './schema.js'
import { tableSpellings } from '../policy/table-name.js'

export interface SessionRow {
  id: string
  seq: number
  backend: string
  protocol: string
  client: string
  tls: boolean
  started_at: number
  ended_at: number | null
  end_reason: string | null
  subject: string | null
  /** every subject the session carried, the first one first */
  subjects: string[]
  groups: string[]
  token_id: string | null
  events: number
  bytes: number
  sealed: boolean
  /** the session has a loss event: some of its events were not recorded (replay says which) */
  loss: boolean
}

export interface EventRow {
  id: number
  session: string
  n: number
  at: number
  kind: string
  call: number | null
  body: Record<string, any>
}

export interface SessionFilter {
  user?: string
  backend?: string
  /** epoch ms */
  since?: number
  until?: number
  limit?: number
}

export interface Problem {
  session: string
  /** the event number within the session, when the problem is one event */
  event?: number
  problem: string
}

export interface VerifyReport {
  sessions: number
  events: number
  sealed: number
  open: number
  pruned: number
  problems: Problem[]
  /** sessions not yet sealed (live, or the gateway has not restarted since a crash) */
  unsealed: string[]
}

export class JournalReader {
  private readonly db: Database.Database
  /** the file's schema version: a journal written by an older vecgate is read as it is, never migrated */
  private readonly version: number

  constructor (readonly path: string) {
    if (!existsSync(path)) {
      throw new VecgateError('VG_ERR_USAGE', `no journal at ${path}`, { hint: 'check journal.path in the config; the gateway creates it on start' })
    }
    this.db = new Database(path, { readonly: true, fileMustExist: true })
    const v = this.db.pragma('user_version', { simple: true }) as number
    this.version = v
    if (v > SCHEMA_VERSION) throw new VecgateError('VG_ERR_JOURNAL', `journal ${path} has schema version ${v}, newer than this vecgate knows (${SCHEMA_VERSION})`, { hint: 'upgrade vecgate' })
  }

  close (): void { this.db.close() }

  sessions (f: SessionFilter = {}): SessionRow[] {
    const where: string[] = []
    const args: unknown[] = []
    if (f.user !== undefined) { where.push('id IN (SELECT session FROM identities WHERE subject = ?)'); args.push(f.user) }
    if (f.backend !== undefined) { where.push('backend = ?'); args.push(f.backend) }
    if (f.since !== undefined) { where.push('coalesce(ended_at, 9e15) >= ?'); args.push(f.since) }
    if (f.until !== undefined) { where.push('started_at <= ?'); args.push(f.until) }
    const sql = `SELECT *, ${LIVE_EVENTS} FROM sessions ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`
    return (this.db.prepare(sql).all(...args, f.limit ?? 100) as any[]).map(sessionRow)
  }

  session (id: string): SessionRow | undefined {
    const r = this.db.prepare(`SELECT *, ${LIVE_EVENTS} FROM sessions WHERE id = ?`).get(id)
    if (r !== undefined) return sessionRow(r)
    // a unique prefix is enough, as with git object names
    const rows = this.db.prepare(`SELECT *, ${LIVE_EVENTS} FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 2`).all(id.replace(/[%_\\]/g, '\\$&') + '%') as any[]
    return rows.length === 1 ? sessionRow(rows[0]) : undefined
  }

  /** The session's events in order; `after` gives only those after event number `after`. */
  events (session: string, after = 0): EventRow[] {
    return (this.db.prepare('SELECT id, session, n, at, kind, call, body FROM events WHERE session = ? AND n > ? ORDER BY n').all(session, after) as any[])
      .map(r => ({ ...r, body: parseBody(r.body) }))
  }

  /** Events kept in a gateway session on behalf of this one (approvals decided after it ended). */
  eventsFor (session: string): EventRow[] {
    return (this.db.prepare("SELECT id, session, n, at, kind, call, body FROM events WHERE body LIKE ? AND session LIKE 'gw-%' ORDER BY id").all(`{"for":${JSON.stringify(session)}%`) as any[])
      .map(r => ({ ...r, body: parseBody(r.body) }))
  }

  /**
   * Sessions that received a record: the response events that returned it. The journal keeps a
   * Postgres table as the statement wrote it, so on a Postgres backend `items` and `public.items`
   * find each other's rows (lib/policy/table-name.ts); other backends' names compare whole.
   */
  whoSaw (backend: string, collection: string, record: string): Array<{ session: SessionRow, events: Array<{ n: number, at: number, call: number | null, subject: string | null }> }> {
    const names = this.protocolOf(backend) === 'postgres' ? tableSpellings(collection) : [collection]
    const rows = this.db.prepare(this.version >= SEEN_SPANS_SINCE ? WHO_SAW : WHO_SAW_BEFORE_SPANS).all({ backend, names: JSON.stringify(names), record }) as Array<{ session: string, n: number, at: number, call: number | null, subject: string | null }>
    const out = new Map<string, { session: SessionRow, events: Array<{ n: number, at: number, call: number | null, subject: string | null }> }>()
    for (const r of rows) {
      let o = out.get(r.session)
      if (o === undefined) {
        const s = this.session(r.session)
        if (s === undefined) continue
        o = { session: s, events: [] }
        out.set(r.session, o)
      }
      o.events.push({ n: r.n, at: r.at, call: r.call, subject: r.subject ?? o.session.subject })
    }
    return [...out.values()]
  }

  /** The protocol a backend's client sessions spoke (admin API sessions are filed under it too). */
  private protocolOf (backend: string): string | undefined {
    const r = this.db.prepare("SELECT protocol FROM sessions WHERE backend = ? AND protocol <> 'admin' ORDER BY seq DESC LIMIT 1").get(backend) as { protocol: string } | undefined
    return r?.protocol
  }

  pruned (): Array<{ session: string, seq: number, pruned_at: number, reason: string }> {
    return this.db.prepare('SELECT session, seq, pruned_at, reason FROM pruned ORDER BY seq').all() as any[]
  }

  /** Public keys the journal was sealed with, by key id (as recorded by the writer). */
  keys (): Map<string, KeyObject> {
    const out = new Map<string, KeyObject>()
    for (const r of this.db.prepare('SELECT kid, jwk FROM keys').all() as Array<{ kid: string, jwk: string }>) {
      out.set(r.kid, createPublicKey({ key: JSON.parse(r.jwk), format: 'jwk' }))
    }
    return out
  }

  /**
   * Checks every session's chain and seal. `trusted` are the public keys to check seals with — the
   * gateway's own key file, not the keys stored in the journal (whoever edits the file could replace
   * those). Reports each broken event by session and number.
   */
  verify (trusted: Map<string, KeyObject>, progress?: (done: number, total: number) => void): VerifyReport {
    const report: VerifyReport = { sessions: 0, events: 0, sealed: 0, open: 0, pruned: 0, problems: [], unsealed: [] }
    const total = (this.db.prepare('SELECT count(*) AS c FROM sessions').get() as { c: number }).c
    const pruned = this.db.prepare('SELECT seq FROM pruned').all() as Array<{ seq: number }>
    report.pruned = pruned.length
    const seqs = new Set<number>(pruned.map(p => p.seq))
    const eventsOf = this.db.prepare('SELECT id, n, at, kind, call, body, prev, hash FROM events WHERE session = ? ORDER BY n')
    for (const raw of this.db.prepare('SELECT * FROM sessions ORDER BY seq').iterate() as IterableIterator<any>) {
      report.sessions++
      seqs.add(raw.seq)
      const s = raw as { id: string, backend: string, protocol: string, client: string, tls: number, started_at: number, ended_at: number | null, end_reason: string | null, events: number, last_hash: string, seal: string | null, key_id: string | null }
      const header = { id: s.id, backend: s.backend, protocol: s.protocol, client: s.client, tls: s.tls === 1, started_at: s.started_at }
      let last = genesis(header)
      let expected = 1
      let firstBad: Problem | undefined
      const flag = (p: Problem): void => { if (firstBad === undefined) { firstBad = p; report.problems.push(p) } }
      for (const e of eventsOf.iterate(s.id) as IterableIterator<{ id: number, n: number, at: number, kind: string, call: number | null, body: string, prev: string, hash: string }>) {
        report.events++
        if (e.n !== expected) {
          flag({ session: s.id, event: expected, problem: e.n > expected ? `event #${expected}${e.n - expected > 1 ? `–#${e.n - 1}` : ''} removed` : `event #${e.n} out of order` })
        }
        const computed = eventHash(e.prev, s.id, e.n, e.at, e.kind, e.call, e.body)
        if (e.prev !== last) {
          flag({ session: s.id, event: e.n, problem: e.n === expected ? `event #${e.n} (${e.kind}) does not follow event #${e.n - 1}: an event before it was edited, removed or reordered` : `event #${e.n} (${e.kind}) out of place` })
        } else if (computed !== e.hash) {
          flag({ session: s.id, event: e.n, problem: `event #${e.n} (${e.kind}, at ${new Date(e.at).toISOString()}) was edited: its content does not match its hash` })
        }
        last = e.hash
        expected = e.n + 1
      }
      if (s.seal === null) {
        report.open++
        report.unsealed.push(s.id)
        continue
      }
      const key = trusted.get(s.key_id ?? '')
      if (key === undefined) {
        flag({ session: s.id, problem: `sealed with key ${s.key_id ?? '?'}, which is not a trusted key` })
      } else if (!sealValid({ ...header, ended_at: s.ended_at ?? 0, end_reason: s.end_reason ?? '', events: s.events, last_hash: s.last_hash }, s.seal, key)) {
        flag({ session: s.id, problem: 'the seal does not match the session (its header, end or event count was edited)' })
      } else if (s.events !== expected - 1 || s.last_hash !== last) {
        flag({ session: s.id, event: s.events, problem: s.events > expected - 1 ? `events after #${expected - 1} removed (sealed with ${s.events})` : `events beyond the seal (#${s.events + 1}…) were added` })
      } else if (firstBad === undefined) {
        report.sealed++
      }
      progress?.(report.sessions, total)
    }
    const max = Math.max(0, ...seqs)
    for (let i = 1; i <= max; i++) {
      if (!seqs.has(i)) report.problems.push({ session: `#${i}`, problem: `session number ${i} was removed (it is neither in the journal nor recorded as pruned)` })
    }
    return report
  }
}

/**
 * the subject of a who-saw hit: the one on the call's request (a connection may carry several
 * identities). The request comes before its response in the session: sought backwards from the hit
 * through the (session, n) index, so it is found among the calls in flight at the time instead of by
 * reading every event of a long session.
 */
const CALL_SUBJECT = "(SELECT json_extract(q.body, '$.data.subject') FROM events q WHERE q.session = e.session AND q.n < e.n AND q.call = e.call AND q.kind = 'request' ORDER BY q.n DESC LIMIT 1) AS subject"

/**
 * who-saw (schema.ts, seen): the record is sought in each span of each scope the name matches; the
 * spans are found by skipping from one to the next through the index (two seeks per span), not by
 * reading every row of the scope (CROSS JOIN: SQLite keeps the spans as the outer loop). Parameters: @backend, @names (the collection's spellings, JSON), @record.
 */
const WHO_SAW = `WITH RECURSIVE
    scope_ids (id) AS (SELECT id FROM scopes WHERE backend = @backend AND collection IN (SELECT value FROM json_each(@names))),
    spans (scope, span) AS (
      SELECT id, (SELECT span FROM seen WHERE seen.scope = scope_ids.id ORDER BY span LIMIT 1) FROM scope_ids
      UNION ALL
      SELECT scope, (SELECT span FROM seen WHERE seen.scope = spans.scope AND seen.span > spans.span ORDER BY span LIMIT 1) FROM spans WHERE span IS NOT NULL
    )
  SELECT e.session, e.n, e.at, e.call, ${CALL_SUBJECT}
  FROM spans CROSS JOIN seen s ON s.scope = spans.scope AND s.span = spans.span AND s.record = @record JOIN events e ON e.id = s.event
  ORDER BY e.id`

/** who-saw in a journal from before spans (schema version < 3): the index is keyed by record */
const WHO_SAW_BEFORE_SPANS = `SELECT e.session, e.n, e.at, e.call, ${CALL_SUBJECT}
  FROM scopes c JOIN seen s ON s.scope = c.id JOIN events e ON e.id = s.event
  WHERE c.backend = @backend AND c.collection IN (SELECT value FROM json_each(@names)) AND s.record = @record ORDER BY e.id`

function orderFirst (first: string | null, all: string[]): string[] {
  return first === null ? all : [first, ...all.filter(s => s !== first)]
}

/** every subject of the session, joined (SOH never appears in a subject we accept) */
const SUBJECTS = "(SELECT group_concat(subject, char(1)) FROM identities i WHERE i.session = sessions.id) AS subjects"

/** an open session's row is not updated per event: count its events instead */
const LIVE_EVENTS = 'CASE WHEN ended_at IS NULL THEN (SELECT count(*) FROM events e WHERE e.session = sessions.id) ELSE events END AS live_events, ' + SUBJECTS +
  ", EXISTS (SELECT 1 FROM events l WHERE l.session = sessions.id AND l.kind = 'loss') AS has_loss"

function sessionRow (r: any): SessionRow {
  return {
    id: r.id,
    seq: r.seq,
    backend: r.backend,
    protocol: r.protocol,
    client: r.client,
    tls: r.tls === 1,
    started_at: r.started_at,
    ended_at: r.ended_at,
    end_reason: r.end_reason,
    subject: r.subject,
    subjects: r.subjects !== undefined && r.subjects !== null ? orderFirst(r.subject, String(r.subjects).split('\u0001')) : r.subject !== null ? [r.subject] : [],
    groups: r.groups !== null ? JSON.parse(r.groups) : [],
    token_id: r.token_id,
    events: r.live_events ?? r.events,
    bytes: r.bytes,
    sealed: r.seal !== null,
    loss: r.has_loss === 1
  }
}

function parseBody (s: string): Record<string, any> {
  try { return JSON.parse(s) } catch { return { unreadable: s.slice(0, 200) } }
}
