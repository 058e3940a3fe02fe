/**
 * Measuring a held Postgres statement's blast radius upstream (README "Approvals"): the count query of
 * decoders/postgres/count-query.ts, run with the backend's own credentials on a connection of its own
 * that lives for this one count, with the client's Bind parameters when the statement came through
 * the extended protocol.
 *
 * The count runs inside `BEGIN READ ONLY` with a `statement_timeout` and is rolled back: a function with
 * side effects called from the WHERE clause cannot write a table or a sequence (PostgreSQL docs,
 * SET TRANSACTION: "the following SQL commands are disallowed: INSERT, UPDATE, DELETE, MERGE, and COPY
 * FROM if the table they would write to is not a temporary table; all CREATE, ALTER, and DROP
 * commands; ... EXECUTE if the command it would execute is among those listed"), and what a read-only
 * transaction still allows (temporary tables, NOTIFY) is undone by the ROLLBACK. It sees committed
 * rows only: not the changes of the client's own open transaction.
 */
import type { Socket } from 'node:net'
import { countQuery, loadCountQuery, type CountQuery } from '../../decoders/postgres/count-query.js'
import type { StatementClass } from '../../decoders/postgres/classify.js'
import { decodeErrorFields } from '../../decoders/postgres/messages.js'
import { B, F } from '../../decoders/postgres/protocol.js'
import { BodyCursor, MessageReader } from '../../decoders/postgres/reader.js'
import { MessageWriter, serialize } from '../../decoders/postgres/writer.js'
import type { BackendConfig } from '../config/types.js'
import { VecgateError } from '../errors.js'
import type { Logger } from '../log.js'
import { connectUpstream } from './upstream.js'

/** the methods (decoders/postgres/classify.ts) whose rows a count query can measure */
const MEASURABLE = new Set(['DELETE', 'UPDATE', 'TRUNCATE', 'DROP'])

/** statement_timeout of the count: long enough for a sequential scan of a large table, shorter than the approval's own bound */
export const COUNT_TIMEOUT_MS = 3000
/** the whole measurement (connect, authenticate, count) ends by then, whatever the server does; the socket is closed */
const TOTAL_MS = COUNT_TIMEOUT_MS + 2000

/** Whether a statement can have a blast radius: the relay keeps its Parse message only then. */
export function measurable (stmt: StatementClass | undefined): boolean {
  return stmt !== undefined && MEASURABLE.has(stmt.method)
}

/**
 * Whether the relay keeps a copy of the Bind of a statement: one that changes data or schema, whose
 * approval is bound to the parameter values (lib/approvals/fingerprint.ts) and whose blast radius is
 * counted with them. Reads and searches, the bulk of the traffic, are not copied.
 */
export function keepsBind (stmt: StatementClass | undefined): boolean {
  return stmt !== undefined && stmt.action !== 'read' && stmt.action !== 'search'
}

/** The client's parameters as its Bind carried them (55.7 "Bind"): format codes, values, and the Parse's type OIDs. */
export interface BoundParams {
  types: number[]
  formats: number[]
  values: Array<Buffer | null>
}

/** Parse: name, query text, then the parameter type OIDs the client specified (0 = unspecified). */
export function decodeParseMessage (msg: Buffer): { sql: string, types: number[] } {
  const c = new BodyCursor(msg, 5, msg.length)
  c.cstring()
  const sql = c.cstring()
  const n = c.int16()
  const types: number[] = []
  for (let i = 0; i < n; i++) types.push(c.int32() >>> 0)
  return { sql, types }
}

/** Bind: the parameter format codes (none = all text, one = for all) and values (length -1 = NULL). */
export function decodeBindParams (msg: Buffer): { formats: number[], values: Array<Buffer | null> } {
  const c = new BodyCursor(msg, 5, msg.length)
  c.cstring()
  c.cstring()
  const nf = c.int16()
  const codes: number[] = []
  for (let i = 0; i < nf; i++) codes.push(c.int16())
  const np = c.int16()
  const values: Array<Buffer | null> = []
  for (let i = 0; i < np; i++) {
    const len = c.int32()
    if (len < 0) { values.push(null); continue }
    values.push(c.bytes(len))
  }
  const formats = values.map((_v, i) => nf === 0 ? 0 : nf === 1 ? codes[0] : (codes[i] ?? 0))
  return { formats, values }
}

/**
 * The `blastRadius` option of `session.admit` for one statement, or undefined when it has none.
 * `request` is the client's Query ('Q') or Parse ('P') message; `index` the statement's place in a
 * multi-statement Query; `bind` the client's Bind for a Parse. Nothing is decoded unless a hold asks.
 */
export function pgBlastRadius (backend: BackendConfig, log: Logger, stmt: StatementClass | undefined, request: Buffer | undefined, index = 0, bind?: Buffer): (() => Promise<number | undefined>) | undefined {
  if (!measurable(stmt) || request === undefined) return undefined
  if (request[0] === F.Parse && bind === undefined) return undefined
  return async () => {
    // decoded before anything is awaited: `request` may be a view of the client's read buffer
    let sql: string
    let params: BoundParams | undefined
    if (request[0] === F.Query) {
      sql = new BodyCursor(request, 5, request.length).cstring()
    } else {
      const p = decodeParseMessage(request)
      sql = p.sql
      params = { types: p.types, ...decodeBindParams(bind!) }
    }
    await loadCountQuery()
    const q = countQuery(sql, index)
    if (q === undefined) {
      log.info({ method: stmt!.method }, 'no count query for this statement; asking without a blast radius')
      return undefined
    }
    return await runCount(backend, q, params, log)
  }
}

/** Runs a count query upstream in a read-only transaction on a short-lived connection of its own. */
export async function runCount (backend: BackendConfig, q: CountQuery, bound: BoundParams | undefined, log: Logger, timeoutMs = COUNT_TIMEOUT_MS): Promise<number> {
  const w = new MessageWriter()
  w.cstring('').cstring('')
  w.int16(q.params.length)
  for (const n of q.params) w.int16(bound?.formats[n - 1] ?? 0)
  w.int16(q.params.length)
  for (const n of q.params) {
    const v = bound?.values[n - 1]
    if (v === undefined) throw new VecgateError('VG_ERR_MALFORMED', `the statement uses $${n} but the Bind has no such parameter`)
    if (v === null) w.int32(-1)
    else w.int32(v.length).bytes(v)
  }
  w.int16(0)
  const batch = Buffer.concat([
    serialize.query(`BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`),
    serialize.parse('', q.sql, q.params.map(n => bound?.types[n - 1] ?? 0)),
    w.finish(F.Bind),
    serialize.execute('', 0),
    serialize.sync(),
    serialize.query('ROLLBACK'),
    serialize.terminate()
  ])
  const started = Date.now()
  const connecting = connectUpstream(backend, { application_name: 'vecgate:blast-radius', client_encoding: 'UTF8' }, 1 << 20, log)
  let late: NodeJS.Timeout | undefined
  const conn = await Promise.race([
    connecting,
    new Promise<never>((_resolve, reject) => { late = setTimeout(() => reject(new VecgateError('VG_ERR_UPSTREAM', `no count connection within ${TOTAL_MS} ms`)), TOTAL_MS) })
  ]).catch(e => {
    // a connection that comes after all is closed at once
    void connecting.then(c => c.socket.destroy(), () => {})
    throw e
  }).finally(() => clearTimeout(late))
  return await new Promise<number>((resolve, reject) => {
    const socket: Socket = conn.socket
    const reader: MessageReader = conn.reader
    let count: number | undefined
    let error: string | undefined
    let readies = 0
    const done = (e?: Error): void => {
      clearTimeout(timer)
      socket.off('error', onError).off('close', onClose)
      socket.destroy()
      if (e !== undefined) reject(e)
      else if (error !== undefined) reject(new VecgateError('VG_ERR_UPSTREAM', `count query failed: ${error}`))
      else if (count === undefined) reject(new VecgateError('VG_ERR_UPSTREAM', 'count query returned no row'))
      else resolve(count)
    }
    const timer = setTimeout(() => done(new VecgateError('VG_ERR_UPSTREAM', `count query took longer than ${TOTAL_MS} ms`)), Math.max(0, TOTAL_MS - (Date.now() - started)))
    const onError = (e: Error): void => done(e)
    const onClose = (): void => done(new VecgateError('VG_ERR_UPSTREAM', 'the upstream closed the count connection'))
    const pump = (): void => {
      try {
        while (reader.next()) {
          const { buf, body, end } = reader
          switch (reader.code) {
            case B.DataRow:
              if (count === undefined && buf.readInt16BE(body) >= 1) {
                const len = buf.readInt32BE(body + 2)
                if (len >= 0) count = Number(buf.toString('utf8', body + 6, body + 6 + len))
              }
              break
            case B.ErrorResponse: {
              const f = decodeErrorFields(buf, body, end)
              error ??= `${f.get('C') ?? ''} ${f.get('M') ?? ''}`.trim()
              break
            }
            case B.ReadyForQuery:
              // BEGIN+SET, the count's Sync, ROLLBACK
              if (++readies === 3) { done(); return }
              break
            default:
          }
        }
      } catch (e) {
        done(e as Error)
      }
    }
    socket.on('error', onError).on('close', onClose)
    conn.setOnData(chunk => { reader.push(Buffer.from(chunk)); pump() })
    socket.write(batch)
    pump()
  })
}
