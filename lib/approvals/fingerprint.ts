/**
 * The fingerprint an approval is bound to: who asked (issuer and subject), where (backend, database)
 * and exactly what (method, action, collections, ids, filter, bulk, and the decoder's summary of the
 * request), and the values the Operation leaves out (SQL literals, the parameters as bound), which are
 * hashed here and never shown or journaled. An approval given for one request therefore never
 * releases a different one; the same request retried (same ids in any order, same filter with keys in
 * any order, same values) finds it again.
 */
import { createHash } from 'node:crypto'
import type { Identity, Operation } from '../../decoders/types.js'

/**
 * JSON with object keys sorted at every level, so equal values give equal text. Also takes what
 * decoders may leave in a filter: bigint, bytes, Dates, Maps; cycles become "[cycle]".
 */
export function stableJson (x: unknown): string {
  return write(x, new Set())
}

function write (x: unknown, path: Set<object>): string {
  switch (typeof x) {
    case 'string': return JSON.stringify(x)
    case 'number': return Number.isFinite(x) ? (Object.is(x, -0) ? '0' : String(x)) : 'null'
    case 'boolean': return x ? 'true' : 'false'
    case 'bigint': return JSON.stringify(`${x}n`)
    case 'undefined':
    case 'function':
    case 'symbol': return 'null'
  }
  if (x === null) return 'null'
  const o = x as object
  if (path.has(o)) return '"[cycle]"'
  if (o instanceof Date) return JSON.stringify(o.toISOString())
  if (ArrayBuffer.isView(o)) return `{"$bytes":${JSON.stringify(Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('base64'))}}`
  path.add(o)
  let s: string
  if (Array.isArray(o)) {
    s = '[' + o.map(v => write(v, path)).join(',') + ']'
  } else {
    const entries: Array<[string, unknown]> = o instanceof Map
      ? [...o.entries()].map(([k, v]) => [String(k), v])
      : Object.entries(o)
    entries.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    s = '{' + entries.filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${write(v, path)}`).join(',') + '}'
  }
  path.delete(o)
  return s
}

/** Every collection the operation touches, sorted, once each. */
export function collectionsOf (op: Operation): string[] {
  const all = new Set<string>()
  if (op.collection !== undefined) all.add(op.collection)
  for (const c of op.collections ?? []) all.add(c)
  return [...all].sort()
}

export function fingerprint (identity: Identity, op: Operation, bound?: { literals?: readonly string[], parameters?: Uint8Array }): string {
  const ids = op.ids === undefined
    ? undefined
    : [...new Set(op.ids.map(id => typeof id === 'number' ? `n:${id}` : `s:${id}`))].sort()
  const text = stableJson({
    v: 1,
    issuer: identity.issuer,
    subject: identity.subject,
    backend: op.backend,
    database: op.database,
    method: op.method,
    action: op.action,
    collections: collectionsOf(op),
    ids,
    filter: op.filter,
    bulk: op.bulk,
    summary: op.summary,
    bound
  })
  return createHash('sha256').update(text).digest('hex')
}
