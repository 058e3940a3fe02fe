/**
 * A Qdrant-protocol server for the tests: no Qdrant server installs here (PEERS.md), so this one is
 * built with grpc-js from the descriptors the official JS client ships (decoders/qdrant/schema.ts),
 * with an in-memory store that honours what the gateway's classification and masking depend on:
 * collections and aliases, numeric and UUID ids, unnamed and named vectors, payloads, filters
 * (must/should/must_not, match keyword/integer/bool/text/any/except, range, has_id, is_empty,
 * is_null, nested keys with dots and arrays), limit/offset, with_payload include/exclude,
 * with_vectors, and Cosine/Dot/Euclid/Manhattan scoring. It checks `api-key` (or a Qdrant JWT
 * signed with `jwtSecret`, with its `access` claim) the way Qdrant does, and records each call's
 * metadata so tests can prove the upstream never saw a client's token. It serves the RPCs of
 * qdrant.Points, qdrant.Collections, qdrant.Snapshots (descriptions only, no files) and
 * qdrant.Qdrant the clients' flows use; the rest (Discover, RecommendGroups, matrix, vector names,
 * shard keys, cluster) answer UNIMPLEMENTED, as grpc-js does for a method with no handler.
 */
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { jwtVerify } from 'jose'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'

export interface QdrantPeerOptions {
  /** the static key Qdrant's `service.api_key` sets */
  apiKey?: string
  /** with it, HS256 JWTs signed with this secret are accepted too (Qdrant's `jwt_rbac`) */
  jwtSecret?: string
  /** delay before every answer (ms); `peer.delay` overrides it per method */
  delay?: number
}

export interface QdrantPeer {
  address: string
  port: number
  calls: Array<{ method: string, metadata: Record<string, string> }>
  /** calls the client cancelled before the answer */
  cancelled: number
  /** delay before answering, per method name (ms) */
  delay: Map<string, number>
  close: () => Promise<void>
}

type Pb = Record<string, any>
/** the `access` claim of a Qdrant JWT */
type Access = 'm' | 'r' | Array<{ collection: string, access: 'r' | 'rw' }>
type Vecs = Map<string, number[]>
interface Point { id: Pb, key: string, vectors: Vecs, payload: Record<string, Pb> }
interface Collection { name: string, params: Pb, points: Map<string, Point>, indexes: Set<string>, op: number }

const DISTANCE = { Cosine: 1, Euclid: 2, Dot: 3, Manhattan: 4 }

class Failure extends Error {
  constructor (readonly code: grpc.status, message: string) { super(message) }
}
const notFound = (name: string): Failure => new Failure(grpc.status.NOT_FOUND, `Not found: Collection \`${name}\` doesn't exist!`)

/** reads, point writes, and collection-level management, as Qdrant's RBAC tells them apart */
const READS = new Set(['Get', 'List', 'CollectionExists', 'ListCollectionAliases', 'ListAliases', 'CollectionClusterInfo', 'ListShardKeys',
  'Search', 'SearchBatch', 'SearchGroups', 'Scroll', 'Recommend', 'RecommendBatch', 'RecommendGroups', 'Discover', 'DiscoverBatch',
  'Count', 'Query', 'QueryBatch', 'QueryGroups', 'Facet', 'SearchMatrixPairs', 'SearchMatrixOffsets', 'HealthCheck'])
function methodKind (service: string, method: string): 'read' | 'write' | 'manage' {
  if (service === 'Snapshots') return method === 'List' ? 'read' : 'manage'
  if (READS.has(method)) return 'read'
  return service === 'Points' ? 'write' : 'manage'
}

// ---------------------------------------------------------------- values and vectors

const idKey = (id: Pb | undefined): string => {
  if (id === undefined || id === null) throw new Failure(grpc.status.INVALID_ARGUMENT, 'Wrong input: point id missing')
  return id.uuid !== undefined && id.uuid !== '' ? `u:${String(id.uuid)}` : `n:${String(id.num)}`
}

/** proto Value (oneof kind) → plain JS */
function js (v: Pb | undefined): unknown {
  if (v === undefined || v === null) return null
  switch (v.kind) {
    case 'null_value': return null
    case 'double_value': return Number(v.double_value)
    case 'integer_value': return Number(v.integer_value)
    case 'string_value': return v.string_value
    case 'bool_value': return v.bool_value
    case 'struct_value': return Object.fromEntries(Object.entries(v.struct_value?.fields ?? {}).map(([k, x]) => [k, js(x as Pb)]))
    case 'list_value': return (v.list_value?.values ?? []).map((x: Pb) => js(x))
    default: return null
  }
}

function vectorOf (v: Pb | undefined): number[] | undefined {
  if (v === undefined || v === null) return undefined
  if (v.dense !== undefined && v.dense !== null) return v.dense.data
  if (Array.isArray(v.data) && v.data.length > 0) return v.data
  return undefined
}

function vectorsOf (v: Pb | undefined): Vecs {
  const out: Vecs = new Map()
  if (v === undefined || v === null) return out
  if (v.vector !== undefined && v.vector !== null) {
    const d = vectorOf(v.vector)
    if (d !== undefined) out.set('', d)
  } else if (v.vectors !== undefined && v.vectors !== null) {
    for (const [name, x] of Object.entries(v.vectors.vectors ?? {})) {
      const d = vectorOf(x as Pb)
      if (d !== undefined) out.set(name, d)
    }
  }
  return out
}

function vectorsOut (vs: Vecs, names?: string[]): Pb | undefined {
  if (vs.size === 0) return undefined
  if (vs.has('') && vs.size === 1) return { vector: { data: vs.get('') } }
  const named: Pb = {}
  for (const [n, d] of vs) if (names === undefined || names.includes(n)) named[n] = { data: d }
  return { vectors: { vectors: named } }
}

function score (distance: number, a: number[], b: number[]): number {
  let s = 0
  switch (distance) {
    case DISTANCE.Cosine: {
      let na = 0; let nb = 0
      for (let i = 0; i < a.length; i++) { s += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
      return na === 0 || nb === 0 ? 0 : s / Math.sqrt(na * nb)
    }
    case DISTANCE.Euclid:
      for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2
      return Math.sqrt(s)
    case DISTANCE.Manhattan:
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i])
      return s
    default:
      for (let i = 0; i < a.length; i++) s += a[i] * b[i]
      return s
  }
}
const smallerIsBetter = (distance: number): boolean => distance === DISTANCE.Euclid || distance === DISTANCE.Manhattan

// ---------------------------------------------------------------- filters

/** values at a payload path ("a.b", "a[].b", arrays flattened), as Qdrant resolves keys */
function valuesAt (payload: Record<string, Pb>, key: string): unknown[] {
  let cur: unknown[] = [Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, js(v)]))]
  for (const part of key.replace(/\[\]/g, '').split('.')) {
    const next: unknown[] = []
    for (const c of cur) {
      const v = c !== null && typeof c === 'object' && !Array.isArray(c) ? (c as Record<string, unknown>)[part] : undefined
      if (v === undefined) continue
      if (Array.isArray(v)) next.push(...v)
      else next.push(v)
    }
    cur = next
  }
  return cur
}

function matches (m: Pb, values: unknown[]): boolean {
  switch (m.match_value) {
    case 'keyword': return values.includes(m.keyword)
    case 'integer': return values.includes(Number(m.integer))
    case 'boolean': return values.includes(m.boolean)
    case 'text': case 'phrase': case 'text_any': return values.some(v => typeof v === 'string' && v.includes(m[m.match_value]))
    case 'prefix': return values.some(v => typeof v === 'string' && v.startsWith(m.prefix))
    case 'keywords': return values.some(v => (m.keywords.strings as unknown[]).includes(v))
    case 'integers': return values.some(v => (m.integers.integers as unknown[]).map(Number).includes(v as number))
    case 'except_keywords': return values.length > 0 && !values.some(v => (m.except_keywords.strings as unknown[]).includes(v))
    case 'except_integers': return values.length > 0 && !values.some(v => (m.except_integers.integers as unknown[]).map(Number).includes(v as number))
    default: throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: match ${String(m.match_value)} is not supported by the test peer`)
  }
}

function fieldMatches (f: Pb, p: Point): boolean {
  const values = valuesAt(p.payload, f.key)
  if (f.match !== undefined && f.match !== null) return matches(f.match, values)
  if (f.range !== undefined && f.range !== null) {
    const r = f.range
    return values.some(v => typeof v === 'number' &&
      (r.lt === undefined || r.lt === null || v < r.lt) && (r.gt === undefined || r.gt === null || v > r.gt) &&
      (r.lte === undefined || r.lte === null || v <= r.lte) && (r.gte === undefined || r.gte === null || v >= r.gte))
  }
  if (f.is_empty === true) return values.length === 0
  if (f.is_null === true) return values.some(v => v === null)
  if (f.values_count !== undefined && f.values_count !== null) {
    const c = values.length; const r = f.values_count
    return (r.lt == null || c < Number(r.lt)) && (r.gt == null || c > Number(r.gt)) && (r.lte == null || c <= Number(r.lte)) && (r.gte == null || c >= Number(r.gte))
  }
  throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: condition on ${String(f.key)} is not supported by the test peer`)
}

function conditionMatches (c: Pb, p: Point): boolean {
  switch (c.condition_one_of) {
    case 'field': return fieldMatches(c.field, p)
    case 'is_empty': return valuesAt(p.payload, c.is_empty.key).length === 0
    case 'is_null': return valuesAt(p.payload, c.is_null.key).some(v => v === null)
    case 'has_id': return (c.has_id.has_id as Pb[]).some(id => idKey(id) === p.key)
    case 'filter': return filterMatches(c.filter, p)
    case 'has_vector': return p.vectors.has(c.has_vector.has_vector ?? '')
    case 'nested': {
      // each element of the array at key must satisfy the whole inner filter
      const items = valuesAt(p.payload, c.nested.key)
      return items.some(item => {
        const payload: Record<string, Pb> = {}
        for (const [k, v] of Object.entries(item as Record<string, unknown>)) payload[k] = toValue(v)
        return filterMatches(c.nested.filter, { ...p, payload })
      })
    }
    default: throw new Failure(grpc.status.INVALID_ARGUMENT, 'Wrong input: condition not supported by the test peer')
  }
}

function filterMatches (f: Pb | undefined | null, p: Point): boolean {
  if (f === undefined || f === null) return true
  const must: Pb[] = f.must ?? []; const should: Pb[] = f.should ?? []; const not: Pb[] = f.must_not ?? []
  if (!must.every(c => conditionMatches(c, p))) return false
  if (should.length > 0 && !should.some(c => conditionMatches(c, p))) return false
  if (not.some(c => conditionMatches(c, p))) return false
  return true
}

/** plain JS → proto Value, with the `kind` oneof name set as a decoded message has it */
function toValue (v: unknown): Pb {
  if (v === null || v === undefined) return { kind: 'null_value', null_value: 0 }
  if (typeof v === 'string') return { kind: 'string_value', string_value: v }
  if (typeof v === 'boolean') return { kind: 'bool_value', bool_value: v }
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'integer_value', integer_value: v } : { kind: 'double_value', double_value: v }
  if (Array.isArray(v)) return { kind: 'list_value', list_value: { values: v.map(toValue) } }
  return { kind: 'struct_value', struct_value: { fields: Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toValue(x)])) } }
}

// ---------------------------------------------------------------- selections

function payloadOut (p: Point, sel: Pb | undefined | null): Record<string, Pb> {
  if (sel === undefined || sel === null) return {}
  switch (sel.selector_options) {
    case 'enable': return sel.enable === true ? p.payload : {}
    case 'include': return Object.fromEntries(Object.entries(p.payload).filter(([k]) => (sel.include.fields as string[]).includes(k)))
    case 'exclude': return Object.fromEntries(Object.entries(p.payload).filter(([k]) => !(sel.exclude.fields as string[]).includes(k)))
    default: return {}
  }
}

function vectorsSel (p: Point, sel: Pb | undefined | null): Pb | undefined {
  if (sel === undefined || sel === null) return undefined
  if (sel.selector_options === 'enable') return sel.enable === true ? vectorsOut(p.vectors) : undefined
  if (sel.selector_options === 'include') return vectorsOut(p.vectors, sel.include.names)
  return undefined
}

const retrieved = (p: Point, withPayload: Pb, withVectors: Pb): Pb => ({ id: p.id, payload: payloadOut(p, withPayload), vectors: vectorsSel(p, withVectors) })

function byId (a: Point, b: Point): number {
  const an = a.key.startsWith('n:'); const bn = b.key.startsWith('n:')
  if (an && bn) return Number(a.key.slice(2)) - Number(b.key.slice(2))
  if (an !== bn) return an ? -1 : 1
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

// ---------------------------------------------------------------- the server

export async function startQdrantServer (opts: QdrantPeerOptions = {}): Promise<QdrantPeer> {
  // from the protobufjs root, whose map fields are restored (a descriptor set alone gives repeated entries)
  const def = loader.fromJSON(qdrantSchema().root.toJSON(), { keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as any
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.max_send_message_length': 256 * 1024 * 1024 } as grpc.ServerOptions)
  const collections = new Map<string, Collection>()
  const aliases = new Map<string, string>()
  const peer: QdrantPeer = { address: '', port: 0, calls: [], cancelled: 0, delay: new Map(), close: async () => {} }
  const secret = opts.jwtSecret !== undefined ? new TextEncoder().encode(opts.jwtSecret) : undefined

  /**
   * Qdrant's check: the static key in `api-key` or `authorization: Bearer`; with JWT RBAC a token
   * signed HS256 whose `access` claim is "m" (manage), "r" (read) or a list of
   * { collection, access: "r" | "rw" }. Returns the access the caller has (undefined: all of it).
   */
  async function authorize (md: grpc.Metadata): Promise<Access | undefined> {
    if (opts.apiKey === undefined && secret === undefined) return undefined
    const key = md.get('api-key')[0]?.toString()
    const bearer = /^Bearer (.+)$/i.exec(md.get('authorization')[0]?.toString() ?? '')?.[1]
    const presented = key ?? bearer
    if (opts.apiKey !== undefined && presented === opts.apiKey) return undefined
    if (secret !== undefined && presented !== undefined) {
      let claims: Record<string, unknown> | undefined
      try { claims = (await jwtVerify(presented, secret, { algorithms: ['HS256'] })).payload } catch {}
      if (claims !== undefined) {
        const access = claims.access
        if (access === 'm' || access === 'r' || Array.isArray(access)) return access as Access
        throw new Failure(grpc.status.PERMISSION_DENIED, 'Forbidden: the token has no valid access claim')
      }
    }
    throw new Failure(grpc.status.UNAUTHENTICATED, presented === undefined ? 'Must provide an API key or an Authorization bearer token' : 'Invalid API key or JWT')
  }

  /** Qdrant's RBAC: reads need "r", point writes "rw" on the collection, collection management "m" */
  function permit (access: Access | undefined, service: string, method: string, req: Pb): void {
    if (access === undefined || access === 'm') return
    const kind = methodKind(service, method)
    if (kind === 'read' && access === 'r') return
    if (typeof access === 'string' || kind === 'manage') {
      throw new Failure(grpc.status.PERMISSION_DENIED, kind === 'manage' ? 'Forbidden: Global manage access is required' : 'Forbidden: Write access is required')
    }
    // listing with a collection-scoped token is allowed (Qdrant filters the answer)
    if (req.collection_name === undefined && kind === 'read') return
    const name = String(req.collection_name ?? '')
    const real = aliases.get(name) ?? name
    const grant = access.find(a => a.collection === name || a.collection === real)
    if (grant === undefined) throw new Failure(grpc.status.PERMISSION_DENIED, `Forbidden: Access to collection ${name} is required`)
    if (kind === 'write' && grant.access !== 'rw') throw new Failure(grpc.status.PERMISSION_DENIED, `Forbidden: Write access to collection ${name} is required`)
  }

  function get (name: string): Collection {
    const c = collections.get(aliases.get(name) ?? name)
    if (c === undefined) throw notFound(name)
    return c
  }

  const time = (): number => 0.000_1

  function handler (service: string, method: string, fn: (req: Pb) => Pb | Promise<Pb>) {
    return (call: grpc.ServerUnaryCall<Pb, Pb>, cb: grpc.sendUnaryData<Pb>): void => {
      peer.calls.push({ method, metadata: Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, v.toString()])) })
      let done = false
      let wake: (() => void) | undefined
      call.on('cancelled', () => { if (!done) peer.cancelled++; wake?.() })
      const run = async (): Promise<void> => {
        try {
          // Qdrant leaves its health check open (the gRPC twin of `GET /healthz`)
          if (method !== 'HealthCheck') permit(await authorize(call.metadata), service, method, call.request)
          const ms = peer.delay.get(method) ?? opts.delay
          // a cancel ends the wait, so a delayed call never holds up close()
          if (ms !== undefined && ms > 0 && !call.cancelled) {
            await new Promise<void>(resolve => { const timer = setTimeout(resolve, ms); wake = () => { clearTimeout(timer); resolve() } })
          }
          if (call.cancelled) return
          const out = await fn(call.request)
          done = true
          cb(null, out)
        } catch (e) {
          done = true
          const f = e instanceof Failure ? e : new Failure(grpc.status.INTERNAL, `Service internal error: ${(e as Error).message}`)
          cb({ code: f.code, details: f.message })
        }
      }
      void run()
    }
  }

  function selected (c: Collection, sel: Pb | undefined | null): Point[] {
    if (sel === undefined || sel === null) return []
    if (sel.points_selector_one_of === 'points') return (sel.points.ids as Pb[]).map(idKey).map(k => c.points.get(k)).filter((p): p is Point => p !== undefined)
    if (sel.points_selector_one_of === 'filter') return [...c.points.values()].filter(p => filterMatches(sel.filter, p))
    return []
  }

  const updated = (c: Collection): Pb => ({ result: { operation_id: ++c.op, status: 2 /* Completed */ }, time: time() })

  function distanceOf (c: Collection, name: string): number {
    const p = c.params
    if (p.params !== undefined && p.params !== null) return p.params.distance
    const m = p.params_map?.map?.[name]
    if (m === undefined) throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: Not existing vector name error: ${name}`)
    return m.distance
  }

  /** nearest points to `vector` among those passing `filter` */
  function nearest (c: Collection, vector: number[], name: string, q: { filter?: Pb, limit: number, offset?: number, threshold?: number, withPayload?: Pb, withVectors?: Pb }): Pb[] {
    const distance = distanceOf(c, name)
    const asc = smallerIsBetter(distance)
    const scored: Array<{ p: Point, s: number }> = []
    for (const p of c.points.values()) {
      const v = p.vectors.get(name)
      if (v === undefined || !filterMatches(q.filter, p)) continue
      const s = score(distance, v, vector)
      if (q.threshold !== undefined && q.threshold !== null && (asc ? s > q.threshold : s < q.threshold)) continue
      scored.push({ p, s })
    }
    scored.sort((a, b) => (asc ? a.s - b.s : b.s - a.s) || byId(a.p, b.p))
    const offset = q.offset ?? 0
    return scored.slice(offset, offset + q.limit).map(({ p, s }) => ({
      id: p.id, payload: payloadOut(p, q.withPayload), score: Math.fround(s), version: c.op, vectors: vectorsSel(p, q.withVectors)
    }))
  }

  function search (r: Pb): Pb[] {
    const c = get(r.collection_name)
    return nearest(c, r.vector, r.vector_name ?? '', { filter: r.filter, limit: Number(r.limit), offset: Number(r.offset ?? 0), threshold: r.score_threshold, withPayload: r.with_payload, withVectors: r.with_vectors })
  }

  function pointVector (c: Collection, id: Pb, name: string): number[] {
    const v = c.points.get(idKey(id))?.vectors.get(name)
    if (v === undefined) throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: No point with id ${idKey(id).slice(2)} found`)
    return v
  }

  function recommend (r: Pb): Pb[] {
    const c = get(r.collection_name)
    const name = r.using ?? ''
    const pos: number[][] = [...(r.positive ?? []).map((id: Pb) => pointVector(c, id, name)), ...(r.positive_vectors ?? []).map((v: Pb) => vectorOf(v)!)]
    const neg: number[][] = [...(r.negative ?? []).map((id: Pb) => pointVector(c, id, name)), ...(r.negative_vectors ?? []).map((v: Pb) => vectorOf(v)!)]
    if (pos.length === 0) throw new Failure(grpc.status.INVALID_ARGUMENT, 'Wrong input: Positive vectors should not be empty')
    const dim = pos[0].length
    const target = Array.from({ length: dim }, (_, i) => pos.reduce((s, v) => s + v[i], 0) / pos.length - (neg.length > 0 ? neg.reduce((s, v) => s + v[i], 0) / neg.length : 0))
    const exclude = new Set([...(r.positive ?? []), ...(r.negative ?? [])].map(idKey))
    return nearest(c, target, name, { filter: r.filter, limit: Number(r.limit) + exclude.size, offset: Number(r.offset ?? 0), threshold: r.score_threshold, withPayload: r.with_payload, withVectors: r.with_vectors })
      .filter(p => !exclude.has(idKey(p.id))).slice(0, Number(r.limit))
  }

  function query (r: Pb): Pb[] {
    const c = get(r.collection_name)
    const name = r.using ?? ''
    const limit = Number(r.limit ?? 10)
    const offset = Number(r.offset ?? 0)
    const q = r.query
    if (q === undefined || q === null) {
      return [...c.points.values()].filter(p => filterMatches(r.filter, p)).sort(byId).slice(offset, offset + limit)
        .map(p => ({ id: p.id, payload: payloadOut(p, r.with_payload), score: 0, version: c.op, vectors: vectorsSel(p, r.with_vectors) }))
    }
    if (q.variant !== 'nearest') throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: query ${String(q.variant)} is not supported by the test peer`)
    const input = q.nearest
    const vector = input.variant === 'id' ? pointVector(c, input.id, name) : input.variant === 'dense' ? input.dense.data : undefined
    if (vector === undefined) throw new Failure(grpc.status.INVALID_ARGUMENT, `Wrong input: vector input ${String(input.variant)} is not supported by the test peer`)
    return nearest(c, vector, name, { filter: r.filter, limit, offset, threshold: r.score_threshold, withPayload: r.with_payload, withVectors: r.with_vectors })
  }

  function groups (points: Pb[], c: Collection, groupBy: string, groupSize: number, limit: number): Pb {
    const out = new Map<string, Pb>()
    for (const sp of points) {
      const p = c.points.get(idKey(sp.id))!
      for (const v of valuesAt(p.payload, groupBy)) {
        const k = JSON.stringify(v)
        let g = out.get(k)
        if (g === undefined) {
          if (out.size >= limit) continue
          g = { id: typeof v === 'number' ? { unsigned_value: v } : { string_value: String(v) }, hits: [] }
          out.set(k, g)
        }
        if (g.hits.length < groupSize) g.hits.push(sp)
      }
    }
    return { groups: [...out.values()] }
  }

  /** point writes, shared by the single RPCs and UpdateBatch (whose operations carry the same fields) */
  const write = {
    upsert (c: Collection, r: Pb): Pb {
      for (const p of r.points ?? []) {
        const key = idKey(p.id)
        c.points.set(key, { id: p.id, key, vectors: vectorsOf(p.vectors), payload: p.payload ?? {} })
      }
      return updated(c)
    },
    delete_points (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points)) c.points.delete(p.key)
      return updated(c)
    },
    update_vectors (c: Collection, r: Pb): Pb {
      for (const u of r.points ?? []) {
        const p = c.points.get(idKey(u.id))
        if (p === undefined) throw new Failure(grpc.status.NOT_FOUND, `Not found: No point with id ${idKey(u.id).slice(2)} found`)
        for (const [n, v] of vectorsOf(u.vectors)) p.vectors.set(n, v)
      }
      return updated(c)
    },
    delete_vectors (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points_selector)) for (const n of r.vectors?.names ?? []) p.vectors.delete(n)
      return updated(c)
    },
    set_payload (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points_selector)) Object.assign(p.payload, r.payload)
      return updated(c)
    },
    overwrite_payload (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points_selector)) p.payload = { ...r.payload }
      return updated(c)
    },
    delete_payload (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points_selector)) for (const k of r.keys ?? []) delete p.payload[k]
      return updated(c)
    },
    clear_payload (c: Collection, r: Pb): Pb {
      for (const p of selected(c, r.points)) p.payload = {}
      return updated(c)
    }
  }

  /** snapshots are bookkeeping only: the descriptions Qdrant would list, no files behind them */
  const snapshots = new Map<string, Pb[]>() // collection ('' for full snapshots) → descriptions
  let snapshotSeq = 0
  function snapshot (collection: string): Pb {
    const now = new Date()
    const stamp = now.toISOString().slice(0, 19).replace(/[T:]/g, '-')
    const d = { name: `${collection === '' ? 'full-snapshot' : collection}-${++snapshotSeq}-${stamp}.snapshot`, creation_time: { seconds: Math.floor(now.getTime() / 1000), nanos: 0 }, size: 1024, checksum: '0'.repeat(64) }
    snapshots.set(collection, [...(snapshots.get(collection) ?? []), d])
    return { snapshot_description: d, time: time() }
  }
  function dropSnapshot (collection: string, name: string): Pb {
    const list = snapshots.get(collection) ?? []
    if (!list.some(d => d.name === name)) throw new Failure(grpc.status.NOT_FOUND, `Not found: Snapshot file \`${name}\` doesn't exist!`)
    snapshots.set(collection, list.filter(d => d.name !== name))
    return { time: time() }
  }

  server.addService(pkg.qdrant.Snapshots.service, {
    Create: handler('Snapshots', 'Create', (r) => snapshot(get(r.collection_name).name)),
    List: handler('Snapshots', 'List', (r) => { const c = get(r.collection_name); return { snapshot_descriptions: snapshots.get(c.name) ?? [], time: time() } }),
    Delete: handler('Snapshots', 'Delete', (r) => dropSnapshot(get(r.collection_name).name, r.snapshot_name)),
    CreateFull: handler('Snapshots', 'CreateFull', () => snapshot('')),
    ListFull: handler('Snapshots', 'ListFull', () => ({ snapshot_descriptions: snapshots.get('') ?? [], time: time() })),
    DeleteFull: handler('Snapshots', 'DeleteFull', (r) => dropSnapshot('', r.snapshot_name))
  })

  server.addService(pkg.qdrant.Qdrant.service, {
    HealthCheck: handler('Qdrant', 'HealthCheck', () => ({ title: 'qdrant - vector search engine (vecgate test peer)', version: '1.19.0' }))
  })

  server.addService(pkg.qdrant.Collections.service, {
    Create: handler('Collections', 'Create', (r) => {
      if (collections.has(r.collection_name)) throw new Failure(grpc.status.ALREADY_EXISTS, `Wrong input: Collection \`${String(r.collection_name)}\` already exists!`)
      if (r.vectors_config === undefined || r.vectors_config === null) throw new Failure(grpc.status.INVALID_ARGUMENT, 'Wrong input: vectors_config is required by the test peer')
      collections.set(r.collection_name, { name: r.collection_name, params: r.vectors_config, points: new Map(), indexes: new Set(), op: 0 })
      return { result: true, time: time() }
    }),
    Delete: handler('Collections', 'Delete', (r) => {
      const existed = collections.delete(aliases.get(r.collection_name) ?? r.collection_name)
      for (const [a, n] of aliases) if (n === r.collection_name) aliases.delete(a)
      return { result: existed, time: time() }
    }),
    Update: handler('Collections', 'Update', (r) => { get(r.collection_name); return { result: true, time: time() } }),
    Get: handler('Collections', 'Get', (r) => {
      const c = get(r.collection_name)
      return {
        result: {
          status: 1 /* Green */,
          optimizer_status: { ok: true },
          segments_count: 1,
          points_count: c.points.size,
          indexed_vectors_count: 0,
          config: { params: { shard_number: 1, on_disk_payload: true, vectors_config: c.params, replication_factor: 1, write_consistency_factor: 1 }, hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 }, optimizer_config: {}, wal_config: {} },
          payload_schema: Object.fromEntries([...c.indexes].map(k => [k, { data_type: 1, points: c.points.size }]))
        },
        time: time()
      }
    }),
    List: handler('Collections', 'List', () => ({ collections: [...collections.keys()].map(name => ({ name })), time: time() })),
    CollectionExists: handler('Collections', 'CollectionExists', (r) => ({ result: { exists: collections.has(aliases.get(r.collection_name) ?? r.collection_name) }, time: time() })),
    UpdateAliases: handler('Collections', 'UpdateAliases', (r) => {
      for (const a of r.actions ?? []) {
        if (a.action === 'create_alias') { get(a.create_alias.collection_name); aliases.set(a.create_alias.alias_name, a.create_alias.collection_name) }
        if (a.action === 'delete_alias') aliases.delete(a.delete_alias.alias_name)
        if (a.action === 'rename_alias') { const n = aliases.get(a.rename_alias.old_alias_name); if (n !== undefined) { aliases.delete(a.rename_alias.old_alias_name); aliases.set(a.rename_alias.new_alias_name, n) } }
      }
      return { result: true, time: time() }
    }),
    ListCollectionAliases: handler('Collections', 'ListCollectionAliases', (r) => ({ aliases: [...aliases].filter(([, n]) => n === r.collection_name).map(([alias_name, collection_name]) => ({ alias_name, collection_name })), time: time() })),
    ListAliases: handler('Collections', 'ListAliases', () => ({ aliases: [...aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name })), time: time() }))
  })

  server.addService(pkg.qdrant.Points.service, {
    Upsert: handler('Points', 'Upsert', (r) => write.upsert(get(r.collection_name), r)),
    Delete: handler('Points', 'Delete', (r) => write.delete_points(get(r.collection_name), { points: r.points })),
    Get: handler('Points', 'Get', (r) => {
      const c = get(r.collection_name)
      const result = (r.ids as Pb[]).map(idKey).map(k => c.points.get(k)).filter((p): p is Point => p !== undefined).map(p => retrieved(p, r.with_payload, r.with_vectors))
      return { result, time: time() }
    }),
    UpdateVectors: handler('Points', 'UpdateVectors', (r) => write.update_vectors(get(r.collection_name), r)),
    DeleteVectors: handler('Points', 'DeleteVectors', (r) => write.delete_vectors(get(r.collection_name), r)),
    SetPayload: handler('Points', 'SetPayload', (r) => write.set_payload(get(r.collection_name), r)),
    OverwritePayload: handler('Points', 'OverwritePayload', (r) => write.overwrite_payload(get(r.collection_name), r)),
    DeletePayload: handler('Points', 'DeletePayload', (r) => write.delete_payload(get(r.collection_name), r)),
    ClearPayload: handler('Points', 'ClearPayload', (r) => write.clear_payload(get(r.collection_name), r)),
    UpdateBatch: handler('Points', 'UpdateBatch', (r) => {
      const c = get(r.collection_name)
      const result: Pb[] = []
      for (const op of (r.operations ?? []) as Pb[]) {
        const kind = op.operation as keyof typeof write | 'delete_deprecated' | 'clear_payload_deprecated' | undefined
        if (kind === undefined) throw new Failure(grpc.status.INVALID_ARGUMENT, 'Validation error in body: operation is required')
        const out = kind === 'delete_deprecated'
          ? write.delete_points(c, { points: op.delete_deprecated })
          : kind === 'clear_payload_deprecated' ? write.clear_payload(c, { points: op.clear_payload_deprecated }) : write[kind](c, op[kind])
        result.push(out.result)
      }
      return { result, time: time() }
    }),
    CreateFieldIndex: handler('Points', 'CreateFieldIndex', (r) => { const c = get(r.collection_name); c.indexes.add(r.field_name); return updated(c) }),
    DeleteFieldIndex: handler('Points', 'DeleteFieldIndex', (r) => { const c = get(r.collection_name); c.indexes.delete(r.field_name); return updated(c) }),
    Search: handler('Points', 'Search', (r) => ({ result: search(r), time: time() })),
    SearchBatch: handler('Points', 'SearchBatch', (r) => ({ result: (r.search_points as Pb[]).map(s => ({ result: search({ ...s, collection_name: r.collection_name }) })), time: time() })),
    SearchGroups: handler('Points', 'SearchGroups', (r) => {
      const c = get(r.collection_name)
      const pts = nearest(c, r.vector, r.vector_name ?? '', { filter: r.filter, limit: 1000, withPayload: r.with_payload, withVectors: r.with_vectors })
      return { result: groups(pts, c, r.group_by, Number(r.group_size), Number(r.limit)), time: time() }
    }),
    Scroll: handler('Points', 'Scroll', (r) => {
      const c = get(r.collection_name)
      const limit = Number(r.limit ?? 10)
      const all = [...c.points.values()].filter(p => filterMatches(r.filter, p)).sort(byId)
      const from = r.offset !== undefined && r.offset !== null ? all.findIndex(p => byId(p, { key: idKey(r.offset) } as Point) >= 0) : 0
      const start = from < 0 ? all.length : from
      const page = all.slice(start, start + limit)
      const next = all[start + limit]
      return { result: page.map(p => retrieved(p, r.with_payload, r.with_vectors)), next_page_offset: next?.id, time: time() }
    }),
    Recommend: handler('Points', 'Recommend', (r) => ({ result: recommend(r), time: time() })),
    RecommendBatch: handler('Points', 'RecommendBatch', (r) => ({ result: (r.recommend_points as Pb[]).map(x => ({ result: recommend({ ...x, collection_name: r.collection_name }) })), time: time() })),
    Count: handler('Points', 'Count', (r) => {
      const c = get(r.collection_name)
      let n = 0
      for (const p of c.points.values()) if (filterMatches(r.filter, p)) n++
      return { result: { count: n }, time: time() }
    }),
    Query: handler('Points', 'Query', (r) => ({ result: query(r), time: time() })),
    QueryBatch: handler('Points', 'QueryBatch', (r) => ({ result: (r.query_points as Pb[]).map(x => ({ result: query({ ...x, collection_name: r.collection_name }) })), time: time() })),
    QueryGroups: handler('Points', 'QueryGroups', (r) => {
      const c = get(r.collection_name)
      const pts = query({ ...r, limit: 1000, offset: 0 })
      return { result: groups(pts, c, r.group_by, Number(r.group_size ?? 3), Number(r.limit ?? 10)), time: time() }
    }),
    Facet: handler('Points', 'Facet', (r) => {
      const c = get(r.collection_name)
      const counts = new Map<string, { value: unknown, count: number }>()
      for (const p of c.points.values()) {
        if (!filterMatches(r.filter, p)) continue
        for (const v of new Set(valuesAt(p.payload, r.key))) {
          const k = JSON.stringify(v)
          const e = counts.get(k) ?? { value: v, count: 0 }
          e.count++
          counts.set(k, e)
        }
      }
      // Qdrant orders hits by count, then by value
      const hits = [...counts.values()].sort((a, b) => b.count - a.count || (String(a.value) < String(b.value) ? -1 : String(a.value) > String(b.value) ? 1 : 0)).slice(0, Number(r.limit ?? 10))
        .map(h => ({ value: typeof h.value === 'number' ? { integer_value: h.value } : typeof h.value === 'boolean' ? { bool_value: h.value } : { string_value: String(h.value) }, count: h.count }))
      return { hits, time: time() }
    })
  })

  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => e !== null ? reject(e) : resolve(p)))
  peer.port = port
  peer.address = `127.0.0.1:${port}`
  peer.close = async () => await new Promise<void>(resolve => server.tryShutdown(() => resolve()))
  return peer
}
