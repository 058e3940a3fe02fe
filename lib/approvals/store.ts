/**
 * Approvals on disk, so a restart keeps them: SQLite in WAL mode, the schema version in the table
 * name, every statement prepared once (as undici's sqlite cache store does). better-sqlite3 is
 * synchronous, so each method is atomic with respect to the rest of the process.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { VecgateError } from '../errors.js'
import type { Approval, ApprovalStatus, ApprovalVote } from './types.js'

/** The parts of an approval that never change after creation, stored as one JSON text. */
type Fixed = Omit<Approval, 'id' | 'fingerprint' | 'status' | 'approvals' | 'denial' | 'createdAt' | 'expiresAt' | 'decidedAt' | 'usedAt'>

interface Row {
  id: string
  fingerprint: string
  status: ApprovalStatus
  subject: string
  fixed: string
  votes: string
  denial: string | null
  created_at: number
  expires_at: number
  decided_at: number | null
  used_at: number | null
}

const TABLE = 'approvals_v1'

export class ApprovalStore {
  private readonly db: Database.Database
  private readonly s: {
    insert: Database.Statement
    get: Database.Statement<[string]>
    byFingerprint: Database.Statement<[string, string, number]>
    list: Database.Statement<[number]>
    listStatus: Database.Statement<[string, number]>
    votes: Database.Statement<[string, string]>
    approve: Database.Statement<[string, number, number, string]>
    deny: Database.Statement<[string, string, number, number, string]>
    consume: Database.Statement<[number, string, number]>
    due: Database.Statement<[number]>
    expire: Database.Statement<[string]>
    prune: Database.Statement<[number]>
  }

  constructor (path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      this.db = new Database(path)
    } catch (e) {
      throw new VecgateError('VG_ERR_CONFIG', `approvals store ${path}: cannot open (${(e as Error).message}); check the folder exists and is writable`, {}, { cause: e })
    }
    if (path !== ':memory:') this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ${TABLE} (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        subject TEXT NOT NULL,
        fixed TEXT NOT NULL,
        votes TEXT NOT NULL,
        denial TEXT,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_at INTEGER,
        used_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS ${TABLE}_fingerprint ON ${TABLE} (fingerprint, status);
      CREATE INDEX IF NOT EXISTS ${TABLE}_status ON ${TABLE} (status, expires_at);
    `)
    const p = <P extends unknown[]>(sql: string): Database.Statement<P> => this.db.prepare<P>(sql)
    this.s = {
      insert: p(`INSERT INTO ${TABLE} (id, fingerprint, status, subject, fixed, votes, denial, created_at, expires_at, decided_at, used_at)
                 VALUES (@id, @fingerprint, @status, @subject, @fixed, @votes, NULL, @created_at, @expires_at, NULL, NULL)`),
      get: p(`SELECT * FROM ${TABLE} WHERE id = ?`),
      byFingerprint: p(`SELECT * FROM ${TABLE} WHERE fingerprint = ? AND status = ? AND expires_at > ? ORDER BY created_at DESC LIMIT 1`),
      list: p(`SELECT * FROM ${TABLE} ORDER BY status = 'pending' DESC, created_at DESC LIMIT ?`),
      listStatus: p(`SELECT * FROM ${TABLE} WHERE status = ? ORDER BY created_at DESC LIMIT ?`),
      votes: p(`UPDATE ${TABLE} SET votes = ? WHERE id = ? AND status = 'pending'`),
      approve: p(`UPDATE ${TABLE} SET status = 'approved', votes = ?, decided_at = ?, expires_at = ? WHERE id = ? AND status = 'pending'`),
      deny: p(`UPDATE ${TABLE} SET status = 'denied', votes = ?, denial = ?, decided_at = ?, expires_at = ? WHERE id = ? AND status IN ('pending', 'approved')`),
      consume: p(`UPDATE ${TABLE} SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved' AND expires_at > ?`),
      due: p(`SELECT * FROM ${TABLE} WHERE status IN ('pending', 'approved') AND expires_at <= ?`),
      expire: p(`UPDATE ${TABLE} SET status = 'expired' WHERE id = ? AND status IN ('pending', 'approved')`),
      prune: p(`DELETE FROM ${TABLE} WHERE status IN ('denied', 'expired', 'used') AND created_at < ?`)
    }
  }

  insert (a: Approval): void {
    const { id, fingerprint, status, approvals, createdAt, expiresAt } = a
    const fixed: Fixed = {
      requester: a.requester,
      session: a.session,
      op: a.op,
      rule: a.rule,
      verdict: a.verdict,
      reason: a.reason,
      blastRadius: a.blastRadius,
      required: a.required
    }
    this.s.insert.run({
      id,
      fingerprint,
      status,
      subject: a.requester.subject,
      fixed: JSON.stringify(fixed),
      votes: JSON.stringify(approvals),
      created_at: createdAt,
      expires_at: expiresAt
    })
  }

  get (id: string): Approval | undefined {
    const r = this.s.get.get(id) as Row | undefined
    return r === undefined ? undefined : fromRow(r)
  }

  /** The newest live approval of that fingerprint in that status. */
  find (fingerprint: string, status: ApprovalStatus, now: number): Approval | undefined {
    const r = this.s.byFingerprint.get(fingerprint, status, now) as Row | undefined
    return r === undefined ? undefined : fromRow(r)
  }

  list (status: ApprovalStatus | undefined, limit: number): Approval[] {
    const rows = (status === undefined ? this.s.list.all(limit) : this.s.listStatus.all(status, limit)) as Row[]
    return rows.map(fromRow)
  }

  /** Records a vote on a pending approval; false when it is no longer pending. */
  vote (id: string, votes: ApprovalVote[]): boolean {
    return this.s.votes.run(JSON.stringify(votes), id).changes === 1
  }

  approve (id: string, votes: ApprovalVote[], now: number, expiresAt: number): boolean {
    return this.s.approve.run(JSON.stringify(votes), now, expiresAt, id).changes === 1
  }

  deny (id: string, votes: ApprovalVote[], denial: ApprovalVote, now: number, expiresAt: number): boolean {
    return this.s.deny.run(JSON.stringify(votes), JSON.stringify(denial), now, expiresAt, id).changes === 1
  }

  /** Marks an approved approval used; true for exactly one caller. */
  consume (id: string, now: number): boolean {
    return this.s.consume.run(now, id, now).changes === 1
  }

  /** Pending or approved approvals whose time is up, marked expired and returned. */
  expireDue (now: number): Approval[] {
    const rows = this.s.due.all(now) as Row[]
    const out: Approval[] = []
    for (const r of rows) {
      if (this.s.expire.run(r.id).changes === 1) out.push({ ...fromRow(r), status: 'expired' })
    }
    return out
  }

  /** Forgets decided approvals created before `before` (the journal keeps their history). */
  prune (before: number): number {
    return this.s.prune.run(before).changes
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}

function fromRow (r: Row): Approval {
  const fixed = JSON.parse(r.fixed) as Fixed
  const a: Approval = {
    id: r.id,
    status: r.status,
    ...fixed,
    approvals: JSON.parse(r.votes) as ApprovalVote[],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    fingerprint: r.fingerprint
  }
  if (r.denial !== null) a.denial = JSON.parse(r.denial) as ApprovalVote
  if (r.decided_at !== null) a.decidedAt = r.decided_at
  if (r.used_at !== null) a.usedAt = r.used_at
  return a
}
