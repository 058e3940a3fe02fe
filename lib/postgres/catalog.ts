/**
 * What a backend's own catalog says about the names a statement relies on (THREATS.md "Functions with
 * side effects called from a SELECT"). decoders/postgres/classify.ts judges a call of a read-only
 * built-in name a read, but PostgreSQL resolves names in the database: `SELECT lower(5)` runs a
 * `public.lower(int)` somebody created, because pg_catalog's `lower(text)` does not fit an integer
 * (PostgreSQL docs 10.3 "Functions"; pg_catalog is searched first, 5.9.5 "The System Catalog
 * Schema", but only wins when its signature matches). The same goes for operators (`=` on a user
 * type, `1 === 2`: docs 38.14 "User-Defined Operators") and casts (`x::mytype`, or an implicit cast
 * applied behind the query's back: docs 10 "Type Conversion", CREATE CAST).
 *
 * So the gateway reads, with the backend's own credentials on a short-lived connection of its own in a
 * READ ONLY transaction, which of those exist outside pg_catalog and are not members of a trusted
 * extension (pg_depend deptype 'e': pgvector's `<->`, its casts and functions keep KNN searches reads):
 * - functions named like a read-only built-in (or nextval/setval): `f:name`; and `s:name` unless the
 *   overload cannot win a call whose arguments are all quoted literals, because some built-in of that
 *   name and arity takes a string where the overload takes no string (docs 10.3 step 4.e: at a
 *   position of unknown type "select the string category if any candidate accepts that category"
 *   and discard the candidates that do not): `lower('X')` stays pg_catalog's beside `public.lower(int)`,
 * - operators (their symbols),
 * - casts with a function outside pg_catalog (their target types and the domains over them, docs
 *   CREATE DOMAIN; implicit or assignment ones taint every expression), and domains whose
 *   constraints call a function outside pg_catalog.
 * A statement that relies on one of them (StatementClass.catalog) is `admin`.
 *
 * Keeping it fresh is cheap: each read is remembered with the snapshot it was taken in (a REPEATABLE
 * READ transaction, pg_current_snapshot()), and the next read first asks for the current snapshot. An
 * equal one (same xmin, xmax and in-progress list, docs 9.28 "Transaction ID and Snapshot
 * Information Functions") means no transaction has ended or taken a transaction id since, so every
 * catalog row visible now was visible then: the result stands without reading it again. Any change,
 * CREATE OR REPLACE and ALTER ... RENAME included, is made by a transaction that takes an id, and
 * makes the snapshot differ once it commits (a transaction id below the old xmax leaves the
 * in-progress list, one above moves xmax); the full read follows on the same connection.
 *
 * Fresh for FRESH_MS after a read, and forgotten as soon as a statement that may change the schema
 * ends through the gateway (the relay calls `invalidate`). While stale the statement waits for one
 * read shared by every connection of the backend; under steady traffic the next read starts in the
 * last quarter of the freshness (read ahead), so statements keep being judged on a catalog younger
 * than FRESH_MS and do not wait for it. A read that fails is not retried for FRESH_MS and
 * until then every statement that relies on the catalog is judged `admin` (fail closed: a reader is
 * refused, an admin is not hindered).
 */
import { READ_ONLY_FUNCTIONS } from '../../decoders/postgres/read-only-functions.js'
import type { StatementClass } from '../../decoders/postgres/classify.js'
import { decodeErrorFields } from '../../decoders/postgres/messages.js'
import { B } from '../../decoders/postgres/protocol.js'
import { serialize } from '../../decoders/postgres/writer.js'
import type { BackendConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import { connectUpstream } from './upstream.js'

/**
 * Extensions whose functions, operators and casts are taken as the built-ins are, unless the backend
 * names its own (`trusted_extensions`): pgvector's are immutable C functions that compute distances
 * and convert vectors. Any other extension's operators make the statements that use them `admin` (an
 * extension may be written in SQL or PL/pgSQL).
 */
export const TRUSTED_EXTENSIONS: readonly string[] = ['vector']

/** StatementClass.judged of a statement judged admin because the catalog could not be read */
export const UNREADABLE = 'the catalog could not be read'

/** how long a catalog read is believed; changes made through the gateway are seen at once */
export const FRESH_MS = 2000
/** the whole read (connect, authenticate, query) ends by then, whatever the server does */
const READ_TIMEOUT_MS = 5000

/** the keys of StatementClass.catalog that would make a statement admin, as read from the catalog */
export type CatalogKeys = Set<string>

/** what one read found, and the snapshot it read in (pg_current_snapshot() as text; none: always read again) */
export interface CatalogRead {
  keys: CatalogKeys
  snapshot?: string
}

/** Reads the catalog; `last` (the previous read) is returned as it is when the catalog cannot have changed since. */
export type CatalogReader = (backend: BackendConfig, log: Logger, last?: CatalogRead) => Promise<CatalogRead>

const WRITE_FUNCTIONS = ['nextval', 'setval']

const literalList = (xs: readonly string[]): string => xs.map(x => `'${x.replaceAll("'", "''")}'`).join(', ')

/**
 * One statement, kind and name per row. `member` is true for objects of a trusted extension
 * (pg_depend deptype 'e', docs 53.18 "pg_depend": "the dependent object is a member of the
 * extension"). Only catalog tables are read: it runs under any role.
 */
export function catalogQuery (trusted: readonly string[] = TRUSTED_EXTENSIONS): string {
  const member = (cls: string, oid: string): string => `EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension x ON x.oid = d.refobjid
      WHERE d.classid = '${cls}'::pg_catalog.regclass AND d.objid = ${oid} AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
        AND d.deptype = 'e' AND x.extname IN (${trusted.length > 0 ? literalList(trusted) : 'NULL'}))`
  const outside = (ns: string): string => `${ns} <> 'pg_catalog'::pg_catalog.regnamespace`
  return `SELECT 'f', p.proname::text FROM pg_catalog.pg_proc p
    WHERE ${outside('p.pronamespace')} AND p.proname IN (${literalList([...READ_ONLY_FUNCTIONS, ...WRITE_FUNCTIONS])})
      AND NOT ${member('pg_catalog.pg_proc', 'p.oid')}
  UNION SELECT 's', p.proname::text FROM pg_catalog.pg_proc p
    WHERE ${outside('p.pronamespace')} AND p.proname IN (${literalList([...READ_ONLY_FUNCTIONS, ...WRITE_FUNCTIONS])})
      AND NOT ${member('pg_catalog.pg_proc', 'p.oid')}
      AND NOT (p.provariadic = 0 AND p.pronargdefaults = 0 AND EXISTS (
        SELECT 1 FROM pg_catalog.generate_series(0, p.pronargs - 1) i JOIN pg_catalog.pg_type t ON t.oid = p.proargtypes[i]
        WHERE t.typcategory NOT IN ('S', 'P') AND EXISTS (
          SELECT 1 FROM pg_catalog.pg_proc b JOIN pg_catalog.pg_type bt ON bt.oid = b.proargtypes[i]
          WHERE b.pronamespace = 'pg_catalog'::pg_catalog.regnamespace AND b.proname = p.proname AND b.pronargs = p.pronargs AND bt.typcategory = 'S')))
  UNION SELECT 'o', o.oprname::text FROM pg_catalog.pg_operator o
    WHERE ${outside('o.oprnamespace')} AND NOT ${member('pg_catalog.pg_operator', 'o.oid')}
  UNION SELECT CASE WHEN c.castcontext IN ('i', 'a') THEN 'i' ELSE 't' END, t.typname::text
    FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
    JOIN pg_catalog.pg_type t ON t.oid = c.casttarget OR t.typbasetype = c.casttarget
    WHERE ${outside('p.pronamespace')} AND NOT ${member('pg_catalog.pg_cast', 'c.oid')}
  UNION SELECT 't', t.typname::text FROM pg_catalog.pg_type t
    JOIN pg_catalog.pg_constraint k ON k.contypid = t.oid
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = k.oid AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
    WHERE t.typtype = 'd' AND ${outside('p.pronamespace')} AND NOT ${member('pg_catalog.pg_type', 't.oid')}`
}

/** rows (kind, name) → the keys of StatementClass.catalog that they taint */
export function keysOf (rows: Array<[string, string]>): CatalogKeys {
  const keys: CatalogKeys = new Set()
  for (const [kind, name] of rows) {
    if (kind === 'f' || kind === 's') keys.add(`${kind}:${name}`)
    else if (kind === 'o') keys.add(`o:${name}`)
    else if (kind === 't') keys.add(`t:${name}`)
    else if (kind === 'i') { keys.add(`t:${name}`); keys.add('coerce') }
  }
  return keys
}

const SNAPSHOT = 'SELECT pg_catalog.pg_current_snapshot()::text'

/**
 * Reads the catalog upstream on a connection of its own, closed after: first the current snapshot
 * when `last` has one (equal: `last` stands), then the catalog and its snapshot in one READ ONLY
 * REPEATABLE READ transaction (one snapshot for both statements, docs 13.2.2).
 */
export async function readCatalog (backend: BackendConfig, log: Logger, last?: CatalogRead): Promise<CatalogRead> {
  const full = Buffer.concat([
    serialize.query(`BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; ${SNAPSHOT}; ${catalogQuery(backend.trusted_extensions)}; ROLLBACK`),
    serialize.terminate()
  ])
  const probe = last?.snapshot !== undefined ? serialize.query(SNAPSHOT) : undefined
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new VecgateError('VG_ERR_UPSTREAM', `the catalog was not read within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS)
  })
  const connecting = connectUpstream(backend, { application_name: 'vecgate:catalog', client_encoding: 'UTF8' }, 16 << 20, log)
  try {
    const conn = await Promise.race([connecting, late]).catch(e => {
      void connecting.then(c => c.socket.destroy(), () => {})
      throw e
    })
    const rows: Array<[string, string]> = []
    let snapshot: string | undefined
    let probing = probe !== undefined
    const read = new Promise<CatalogRead>((resolve, reject) => {
      let error: string | undefined
      const done = (e?: Error): void => {
        conn.socket.off('error', done).off('close', onClose)
        conn.socket.destroy()
        if (e !== undefined) reject(e)
        else if (error !== undefined) reject(new VecgateError('VG_ERR_UPSTREAM', `reading the catalog failed: ${error}`))
        else if (snapshot === undefined) reject(new VecgateError('VG_ERR_UPSTREAM', 'reading the catalog failed: no snapshot'))
        else resolve({ keys: keysOf(rows), snapshot })
      }
      /** the probe's answer: the catalog as `last` saw it, or the full read */
      const probed = (): void => {
        probing = false
        if (error === undefined && snapshot !== undefined && snapshot === last?.snapshot) {
          conn.socket.off('error', done).off('close', onClose)
          conn.socket.end(serialize.terminate())
          resolve(last)
          return
        }
        error = undefined
        snapshot = undefined
        conn.socket.write(full)
      }
      const onClose = (): void => done(new VecgateError('VG_ERR_UPSTREAM', 'the upstream closed the catalog connection'))
      const pump = (): void => {
        const r = conn.reader
        try {
          while (r.next()) {
            const { buf, body, end } = r
            if (r.code === B.DataRow && buf.readInt16BE(body) === 2 && !probing) {
              const l1 = buf.readInt32BE(body + 2)
              const kind = buf.toString('utf8', body + 6, body + 6 + l1)
              const l2 = buf.readInt32BE(body + 6 + l1)
              rows.push([kind, buf.toString('utf8', body + 10 + l1, body + 10 + l1 + l2)])
            } else if (r.code === B.DataRow && buf.readInt16BE(body) === 1) {
              const l = buf.readInt32BE(body + 2)
              if (l >= 0) snapshot = buf.toString('utf8', body + 6, body + 6 + l)
            } else if (r.code === B.ErrorResponse) {
              const f = decodeErrorFields(buf, body, end)
              error ??= `${f.get('C') ?? ''} ${f.get('M') ?? ''}`.trim()
            } else if (r.code === B.ReadyForQuery) {
              if (probing) { probed(); continue }
              done()
              return
            }
          }
        } catch (e) {
          done(e as Error)
        }
      }
      conn.socket.on('error', done).on('close', onClose)
      conn.setOnData(chunk => { conn.reader.push(Buffer.from(chunk)); pump() })
      conn.socket.write(probe ?? full)
      pump()
    })
    read.catch(() => {})
    return await Promise.race([read, late]).finally(() => conn.socket.destroy())
  } finally {
    clearTimeout(timer)
    late.catch(() => {})
  }
}

/** The catalog of one backend as the classifier needs it, kept fresh. */
export class PgCatalog {
  private keys: CatalogKeys | undefined
  /** the last read that succeeded and that no schema change through the gateway has overtaken */
  private last: CatalogRead | undefined
  private until = 0
  private generation = 0
  private refreshing: Promise<void> | undefined
  /** admin copies of statements that rely on a tainted name, for the catalog read that tainted them */
  private readonly admins = new WeakMap<StatementClass, { keys: CatalogKeys | undefined, cls: StatementClass }>()

  constructor (private readonly backend: BackendConfig, private readonly log: Logger, private readonly read: CatalogReader = readCatalog, private readonly freshMs = FRESH_MS) {}

  /** whether judging `stmt` needs a fresh read first; starts the next read ahead when one is due soon */
  stale (stmt: StatementClass): boolean {
    if (stmt.catalog === undefined || stmt.action === 'admin') return false
    const left = this.until - Date.now()
    if (left < 0) return true
    if (left < this.freshMs / 4 && this.refreshing === undefined) void this.readOnce()
    return false
  }

  /**
   * `stmt` as the catalog says it is: itself, or an `admin` copy when it relies on a name the
   * database defines itself, or on a catalog that could not be read. Synchronous; call `refresh`
   * first when `stale`.
   */
  judge (stmt: StatementClass): StatementClass {
    const deps = stmt.catalog
    if (deps === undefined || stmt.action === 'admin') return stmt
    const keys = this.until < Date.now() ? undefined : this.keys
    let why: string | undefined
    if (keys === undefined) why = UNREADABLE
    else {
      if (keys.size === 0) return stmt
      for (const d of deps) if (keys.has(d)) { why = d; break }
      if (why === undefined) return stmt
    }
    const known = this.admins.get(stmt)
    if (known !== undefined && known.keys === keys) return known.cls
    const cls: StatementClass = { ...stmt, action: 'admin', catalog: undefined, judged: why }
    this.admins.set(stmt, { keys, cls })
    return cls
  }

  /**
   * Reads the catalog again; one read at a time, shared by every caller; never rejects. A read
   * overtaken by a schema change is followed by another (a few times at most: under a stream of
   * schema changes the statement is then judged as if the catalog could not be read).
   */
  async refresh (tries = 3): Promise<void> {
    if (this.refreshing !== undefined) await this.refreshing
    else await this.readOnce()
    if (this.until < Date.now() && tries > 1) await this.refresh(tries - 1)
  }

  private async readOnce (): Promise<void> {
    const generation = this.generation
    let p: Promise<void> | undefined
    p = (async () => {
      await Promise.resolve()
      try {
        const read = await this.read(this.backend, this.log, this.last)
        // a schema change that ended while this read ran may not be in it: leave the catalog stale
        if (generation !== this.generation) return
        this.keys = read.keys
        this.last = read
      } catch (e) {
        if (generation !== this.generation) return
        this.keys = undefined
        this.last = undefined
        this.log.warn({ backend: this.backend.name, err: (e as Error).message }, 'the catalog could not be read: statements that call functions or operators are judged admin')
      } finally {
        if (this.refreshing === p) this.refreshing = undefined
      }
      this.until = Date.now() + this.freshMs
    })()
    this.refreshing = p
    await p
  }

  /** a statement that may have changed the schema ended: read again before the next judgement */
  invalidate (): void {
    this.generation++
    this.until = 0
    this.last = undefined
    this.refreshing = undefined
  }
}

const catalogs = new WeakMap<BackendConfig, PgCatalog>()

/**
 * The catalog of `backend`, one per backend configuration for all its connections. `read` and
 * `freshMs` apply when it is made (benchmarks/pg/relay-micro.ts has no database to read).
 */
export function catalogOf (backend: BackendConfig, log: Logger, opts: { read?: CatalogReader, freshMs?: number } = {}): PgCatalog {
  let c = catalogs.get(backend)
  if (c === undefined) { c = new PgCatalog(backend, log, opts.read, opts.freshMs); catalogs.set(backend, c) }
  return c
}
