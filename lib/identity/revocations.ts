import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { decodeJwt } from 'jose'

/**
 * Revoked token ids and the use counts of N-use grants (THREATS.md "Stolen tokens replayed"), in one
 * small SQLite file shared by the gateway and the CLI (`vecgate token revoke` writes, the gateway reads
 * on every request, WAL keeps readers and the writer apart). Rows carry the token's expiry and are pruned
 * once it has passed: an expired token is refused anyway, so its row has no more work to do.
 *
 * The schema version is part of the table names (as undici's SQLite cache store does), so a future
 * layout can sit beside this one instead of migrating in place.
 */
export interface RevocationStoreOptions {
  /** file path, or ':memory:' for tests */
  path: string
  /** how long a revocation is kept when the token's expiry is not known (seconds); default 24 h */
  defaultKeep?: number
  /** how often expired rows are pruned (ms); default 60 s; 0 disables the timer */
  pruneEvery?: number
  /**
   * how long a look at the file stays good (ms); default 10. A revocation made by another process
   * (the CLI, another gateway) takes effect within this long; one made through this store at once.
   */
  recheckAfter?: number
}

/** Rows are kept this long past a token's expiry: verification accepts that much clock skew. */
const SKEW = 60

export class RevocationStore {
  private readonly db: Database.Database
  private readonly insertRevoked: Database.Statement<[string, number, number]>
  private readonly bumpUse: Database.Statement<[string, number], { n: number }>
  private readonly selectUses: Database.Statement<[string], { n: number }>
  private readonly pruneRevoked: Database.Statement<[number]>
  private readonly pruneUses: Database.Statement<[number]>
  private readonly listRevoked: Database.Statement<[number], { jti: string, revoked_at: number, expires_at: number }>
  private readonly defaultKeep: number
  private readonly allRevoked: Database.Statement
  private readonly dataVersion: Database.Statement
  private seenVersion = -1
  private readonly recheckAfter: number
  /** performance.now() of the last look at data_version */
  private checkedAt = -Infinity
  private revokedSet: Set<string> | undefined
  private readonly timer: NodeJS.Timeout | undefined

  constructor (opts: RevocationStoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true })
    this.db = new Database(opts.path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    // the CLI and the gateway may write at the same moment; wait for the lock rather than fail
    this.db.pragma('busy_timeout = 2000')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS revoked_v1 (jti TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS uses_v1 (jti TEXT PRIMARY KEY, n INTEGER NOT NULL, expires_at INTEGER NOT NULL) STRICT;
      CREATE INDEX IF NOT EXISTS revoked_v1_exp ON revoked_v1 (expires_at);
      CREATE INDEX IF NOT EXISTS uses_v1_exp ON uses_v1 (expires_at);
    `)
    this.insertRevoked = this.db.prepare('INSERT INTO revoked_v1 (jti, revoked_at, expires_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)')
    this.allRevoked = this.db.prepare('SELECT jti FROM revoked_v1')
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck()
    // one statement, so two gateways sharing the file cannot both see the last use as theirs
    this.bumpUse = this.db.prepare('INSERT INTO uses_v1 (jti, n, expires_at) VALUES (?, 1, ?) ON CONFLICT (jti) DO UPDATE SET n = n + 1 RETURNING n')
    this.selectUses = this.db.prepare('SELECT n FROM uses_v1 WHERE jti = ?')
    this.pruneRevoked = this.db.prepare('DELETE FROM revoked_v1 WHERE expires_at < ?')
    this.pruneUses = this.db.prepare('DELETE FROM uses_v1 WHERE expires_at < ?')
    this.listRevoked = this.db.prepare('SELECT jti, revoked_at, expires_at FROM revoked_v1 WHERE expires_at >= ? ORDER BY revoked_at')
    this.defaultKeep = opts.defaultKeep ?? 86_400
    this.recheckAfter = opts.recheckAfter ?? 10
    const every = opts.pruneEvery ?? 60_000
    if (every > 0) {
      this.timer = setInterval(() => this.prune(), every)
      this.timer.unref()
    }
  }

  /** Revokes a token id; `expiresAt` (epoch seconds) bounds how long the row is kept. */
  revoke (jti: string, expiresAt?: number): void {
    const now = nowSeconds()
    this.insertRevoked.run(jti, now, expiresAt ?? now + this.defaultKeep)
    this.revokedSet?.add(jti) // data_version does not move for this connection's own writes
  }

  /**
   * Asked on every request: answered from memory. The set is reloaded when the file changed —
   * `PRAGMA data_version` moves when any other connection (the CLI's `token revoke`, another gateway)
   * commits. The pragma itself costs two file-lock syscalls and a SQLite step, which showed up in
   * profiles of busy gateways at a few percent of the request path, so it is asked at most once per
   * `recheckAfter` ms: a revocation from elsewhere takes effect within that long.
   */
  isRevoked (jti: string): boolean {
    const now = performance.now()
    if (this.revokedSet === undefined || now - this.checkedAt >= this.recheckAfter) {
      this.checkedAt = now
      const v = this.dataVersion.get() as number
      if (v !== this.seenVersion || this.revokedSet === undefined) {
        this.seenVersion = v
        this.revokedSet = new Set((this.allRevoked.all() as Array<{ jti: string }>).map(r => r.jti))
      }
    }
    return this.revokedSet.has(jti)
  }

  /**
   * Counts one use of an N-use grant. Returns false once the grant has been used `uses` times already
   * (the use that returns false is still counted: it was an attempt, and later ones stay refused).
   */
  consume (jti: string, uses: number, expiresAt: number): boolean {
    const row = this.bumpUse.get(jti, expiresAt)
    return row !== undefined && row.n <= uses
  }

  /** How many times a token id has been presented (0 when never). */
  usesOf (jti: string): number {
    return this.selectUses.get(jti)?.n ?? 0
  }

  revoked (): Array<{ jti: string, revokedAt: number, expiresAt: number }> {
    return this.listRevoked.all(nowSeconds() - SKEW).map(r => ({ jti: r.jti, revokedAt: r.revoked_at, expiresAt: r.expires_at }))
  }

  prune (now = nowSeconds()): void {
    this.pruneRevoked.run(now - SKEW)
    this.pruneUses.run(now - SKEW)
    this.revokedSet = undefined // reloaded on the next check
  }

  close (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    if (this.db.open) this.db.close()
  }
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * What `vecgate token revoke ARG` revokes: ARG is a jti, or a whole token whose jti and expiry are read
 * from it. The token is not verified: revoking is always safe, and an expired or foreign token only
 * adds a row that is pruned later.
 */
export function revocationTarget (arg: string): { jti: string, expiresAt?: number } {
  if (arg.split('.').length === 3) {
    let claims
    try { claims = decodeJwt(arg) } catch { throw new Error('not a token: expected a jti or a JWT') }
    if (typeof claims.jti !== 'string') throw new Error('the token has no jti to revoke')
    return { jti: claims.jti, ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp } : {}) }
  }
  if (!/^[\w.:-]{1,200}$/.test(arg)) throw new Error('not a jti: expected letters, digits, - _ . :')
  return { jti: arg }
}
