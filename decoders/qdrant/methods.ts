import protobuf from 'protobufjs'

import { VecgateError } from '../../lib/errors.js'
import type { BlastQuery, GrpcMethod, Metadata } from '../grpc/service.js'
import { joined, type MessageBytes } from '../grpc/messages.js'
import { PiecesReader } from '../grpc/pieces-reader.js'
import type { Action, Operation, RecordId } from '../types.js'
import { QdrantResultView } from './results.js'
import { qdrantSchema } from './schema.js'

/**
 * Every RPC of qdrant.Points, qdrant.Collections, qdrant.Snapshots and qdrant.Qdrant, classified into
 * an Operation. The table is checked against the descriptors at load: a method missing from the table
 * or a table row naming no method fails loudly, so a Qdrant upgrade cannot slip an unclassified RPC by.
 */
type Msg = Record<string, any>

interface Rule {
  action: Action
  /** how the request names its records: bulk when it does so by filter */
  select?: (m: Msg) => Selection
  /** true when the method is bulk whatever the request says (drops, alias changes…) */
  bulk?: boolean
  /** for batch methods: the inner requests */
  inner?: (m: Msg) => Msg[]
  /** authenticated but not put to the policy */
  passThrough?: boolean
  /** collections named besides collection_name (alias changes) */
  collections?: (m: Msg) => string[]
  /** the request carries whole points (vectors, payloads): read only their ids, skip the rest */
  skimPoints?: boolean
}

interface Selection { ids?: RecordId[], filter?: unknown }

const byPoints = (field: string) => (m: Msg): Selection => selector(m[field])
const pointIds = (field: string) => (m: Msg): Selection => ({ ids: (m[field] ?? []).map(idOf) })
const structIds = (m: Msg): Selection => ({ ids: (m.points ?? []).map((p: Msg) => idOf(p.id)) })

const READ: Rule = { action: 'read' }
const SEARCH: Rule = { action: 'search' }
const ADMIN: Rule = { action: 'admin' }
const ADMIN_BULK: Rule = { action: 'admin', bulk: true }

const RULES: Record<string, Rule> = {
  'qdrant.Points/Upsert': { action: 'write', select: structIds, skimPoints: true },
  'qdrant.Points/Delete': { action: 'delete', select: byPoints('points') },
  'qdrant.Points/Get': { action: 'read', select: pointIds('ids') },
  'qdrant.Points/UpdateVectors': { action: 'write', select: structIds, skimPoints: true },
  'qdrant.Points/DeleteVectors': { action: 'delete', select: byPoints('points_selector') },
  'qdrant.Points/SetPayload': { action: 'write', select: byPoints('points_selector') },
  'qdrant.Points/OverwritePayload': { action: 'write', select: byPoints('points_selector') },
  'qdrant.Points/DeletePayload': { action: 'delete', select: byPoints('points_selector') },
  'qdrant.Points/ClearPayload': { action: 'delete', select: byPoints('points') },
  'qdrant.Points/CreateFieldIndex': ADMIN,
  'qdrant.Points/DeleteFieldIndex': ADMIN,
  'qdrant.Points/CreateVectorName': ADMIN,
  'qdrant.Points/DeleteVectorName': ADMIN_BULK,
  'qdrant.Points/Search': SEARCH,
  'qdrant.Points/SearchBatch': { action: 'search', inner: m => m.search_points ?? [] },
  'qdrant.Points/SearchGroups': SEARCH,
  'qdrant.Points/Scroll': READ,
  'qdrant.Points/Recommend': SEARCH,
  'qdrant.Points/RecommendBatch': { action: 'search', inner: m => m.recommend_points ?? [] },
  'qdrant.Points/RecommendGroups': SEARCH,
  'qdrant.Points/Discover': SEARCH,
  'qdrant.Points/DiscoverBatch': { action: 'search', inner: m => m.discover_points ?? [] },
  'qdrant.Points/Count': READ,
  'qdrant.Points/UpdateBatch': { action: 'write' }, // refined from its operations below
  'qdrant.Points/Query': SEARCH,
  'qdrant.Points/QueryBatch': { action: 'search', inner: m => m.query_points ?? [] },
  'qdrant.Points/QueryGroups': SEARCH,
  'qdrant.Points/Facet': READ,
  'qdrant.Points/SearchMatrixPairs': SEARCH,
  'qdrant.Points/SearchMatrixOffsets': SEARCH,
  'qdrant.Collections/Get': READ,
  'qdrant.Collections/List': READ,
  'qdrant.Collections/Create': ADMIN,
  'qdrant.Collections/Update': ADMIN_BULK,
  'qdrant.Collections/Delete': ADMIN_BULK,
  'qdrant.Collections/UpdateAliases': { action: 'admin', bulk: true, collections: aliasTargets },
  'qdrant.Collections/ListCollectionAliases': READ,
  'qdrant.Collections/ListAliases': READ,
  'qdrant.Collections/CollectionClusterInfo': READ,
  'qdrant.Collections/CollectionExists': READ,
  'qdrant.Collections/UpdateCollectionClusterSetup': ADMIN_BULK,
  'qdrant.Collections/CreateShardKey': ADMIN,
  'qdrant.Collections/DeleteShardKey': ADMIN_BULK,
  'qdrant.Collections/ListShardKeys': READ,
  // a snapshot is the whole collection in one file: admin, and recovering one replaces data
  'qdrant.Snapshots/Create': ADMIN,
  'qdrant.Snapshots/List': READ,
  'qdrant.Snapshots/Delete': ADMIN_BULK,
  'qdrant.Snapshots/CreateFull': ADMIN,
  'qdrant.Snapshots/ListFull': READ,
  'qdrant.Snapshots/DeleteFull': ADMIN_BULK,
  'qdrant.Qdrant/HealthCheck': { action: 'read', passThrough: true }
}

export const QDRANT_SERVICES = ['qdrant.Points', 'qdrant.Collections', 'qdrant.Snapshots', 'qdrant.Qdrant']

let table: Map<string, GrpcMethod> | undefined

/** ':path' → method, built once from the descriptors and RULES. */
export function qdrantMethods (): Map<string, GrpcMethod> {
  if (table !== undefined) return table
  const { root } = qdrantSchema()
  const out = new Map<string, GrpcMethod>()
  const named = new Set<string>()
  for (const svc of QDRANT_SERVICES) {
    const service = root.lookupService(svc)
    for (const m of service.methodsArray) {
      const name = `${svc}/${m.name}`
      named.add(name)
      const rule = RULES[name]
      if (rule === undefined) throw new Error(`Qdrant method ${name} has no classification`)
      if (m.requestStream === true) throw new Error(`Qdrant method ${name} streams requests; the relay decides on one message`)
      out.set('/' + name, buildMethod(name, rule, root.lookupType(m.requestType), root.lookupType(m.responseType)))
    }
  }
  for (const name of Object.keys(RULES)) if (!named.has(name)) throw new Error(`classification for unknown Qdrant method ${name}`)
  table = out
  return out
}

function buildMethod (name: string, rule: Rule, requestType: protobuf.Type, responseType: protobuf.Type): GrpcMethod {
  const viewable = QdrantResultView.handles(responseType)
  const decode = rule.skimPoints === true ? skimmer(requestType) : (b: MessageBytes): Msg => requestType.decode(joined(b)) as unknown as Msg
  return {
    path: '/' + name,
    name,
    requestType,
    responseType,
    passThrough: rule.passThrough,
    operation: (request: MessageBytes, _md: Metadata, backend: string): Operation => {
      let m: Msg
      try {
        m = decode(request)
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `${name}: request does not decode as ${requestType.name}`, {}, { cause: e })
      }
      return classify(name, rule, m, backend)
    },
    resultView: viewable ? (response: Buffer) => new QdrantResultView(responseType, response) : undefined,
    blastRadius: rule.select !== undefined ? countWithSameFilter : undefined,
    changesAliases: ALIAS_CHANGES.has(name) ? true : undefined
  }
}

/** calls after which the alias map is read again: aliases moved, a collection made or dropped with its aliases */
const ALIAS_CHANGES = new Set(['qdrant.Collections/UpdateAliases', 'qdrant.Collections/Create', 'qdrant.Collections/Delete'])

/**
 * Upserts carry every vector and payload (a 1000-point batch is hundreds of KB); classifying them needs
 * only the point ids. This reads the `points` field element by element and decodes only each one's id
 * (field 1), skipping vectors and payloads on the wire; the other top-level fields decode as usual. It
 * walks the message in the pieces it arrived in: a large request is never joined into one buffer.
 */
function skimmer (requestType: protobuf.Type): (request: MessageBytes) => Msg {
  const pointsField = requestType.fields.points
  if (pointsField === undefined) throw new Error(`${requestType.name} has no points field to skim`)
  const PointId = qdrantSchema().root.lookupType('qdrant.PointId')
  return (request) => {
    const r = new PiecesReader(Buffer.isBuffer(request) ? [request] : request)
    const rest: Uint8Array[] = []
    const points: Msg[] = []
    while (r.pos < r.len) {
      const start = r.pos
      const tag = r.uint32()
      if (tag >>> 3 === pointsField.id && (tag & 7) === 2) {
        const end = r.uint32() + r.pos
        if (end > r.len) throw new Error('point longer than the message')
        let id: Msg | undefined
        while (r.pos < end) {
          const t = r.uint32()
          if (t >>> 3 === 1 && (t & 7) === 2) {
            const len = r.uint32()
            const from = r.pos
            r.skip(len)
            id = PointId.decode(r.bytes(from, r.pos)) as unknown as Msg
          } else {
            r.skipType(t & 7)
          }
        }
        if (r.pos !== end) throw new Error('point overruns its length')
        points.push({ id })
      } else {
        r.skipType(tag & 7)
        rest.push(r.bytes(start, r.pos))
      }
    }
    const m = requestType.decode(Buffer.concat(rest)) as unknown as Msg
    m.points = points
    return m
  }
}

/** What a by-filter write or delete would touch: Count with the same filter (exact). */
function countWithSameFilter (op: Operation): BlastQuery | undefined {
  if (op.filter === undefined || op.collection === undefined) return undefined
  const root = qdrantSchema().root
  const Count = root.lookupType('qdrant.CountPoints')
  const Reply = root.lookupType('qdrant.CountResponse')
  return {
    path: '/qdrant.Points/Count',
    request: Count.encode(Count.create({ collection_name: op.collection, filter: op.filter as any, exact: true })).finish(),
    count: (response) => Number((Reply.decode(response) as unknown as { result?: { count?: number | { toNumber: () => number } } }).result?.count ?? 0)
  }
}

function classify (name: string, rule: Rule, m: Msg, backend: string): Operation {
  const op: Operation = { backend, protocol: 'qdrant', method: name, action: rule.action, bulk: rule.bulk === true, summary: {} }
  if (typeof m.collection_name === 'string' && m.collection_name !== '') op.collection = m.collection_name
  if (rule.collections !== undefined) {
    op.collections = rule.collections(m)
    if (op.collection === undefined && op.collections.length > 0) op.collection = op.collections[0]
  }
  if (rule.select !== undefined) applySelection(op, rule.select(m))
  if (name === 'qdrant.Points/UpdateBatch') classifyBatch(op, m)
  const requests = rule.inner !== undefined ? rule.inner(m) : [m]
  let limit: number | undefined
  for (const r of requests) {
    const l = num(r.limit)
    if (l !== undefined) limit = (limit ?? 0) + l
    if (wantsVectors(r.with_vectors)) op.withVectors = true
    if (r.filter != null && op.filter === undefined && rule.select === undefined) op.filter = r.filter
  }
  if (limit !== undefined) op.limit = limit
  if (op.withVectors === undefined && rule.action !== 'write') op.withVectors = false
  op.summary = summarize(m, requests.length)
  return op
}

function applySelection (op: Operation, s: Selection): void {
  if (s.filter !== undefined) {
    op.filter = s.filter
    op.bulk = true
  }
  if (s.ids !== undefined) op.ids = s.ids
  // a delete that names neither ids nor a filter is malformed in Qdrant; treat it as the widest
  if (s.filter === undefined && s.ids === undefined && (op.action === 'delete' || op.action === 'write')) op.bulk = true
}

/** UpdateBatch: the most dangerous of its operations decides; any by-filter operation makes it bulk. */
function classifyBatch (op: Operation, m: Msg): void {
  const ids: RecordId[] = []
  for (const o of (m.operations ?? []) as Msg[]) {
    const kind = o.operation as string | undefined
    const body = kind !== undefined ? o[kind] : undefined
    if (kind === undefined || body == null) { op.bulk = true; continue }
    if (kind.startsWith('delete') || kind.startsWith('clear')) op.action = 'delete'
    if (kind === 'upsert') {
      for (const p of body.points ?? []) ids.push(idOf(p.id))
      continue
    }
    const sel = kind === 'delete_deprecated' || kind === 'clear_payload_deprecated'
      ? selector(body)
      : selector(body.points_selector ?? body.points)
    if (sel.filter !== undefined) { op.bulk = true; op.filter ??= sel.filter }
    if (sel.ids !== undefined) ids.push(...sel.ids)
    else if (sel.filter === undefined) op.bulk = true
  }
  if (ids.length > 0) op.ids = ids
}

function selector (s: Msg | null | undefined): Selection {
  if (s == null) return {}
  const which = s.points_selector_one_of as string | undefined
  if (which === 'points') return { ids: (s.points?.ids ?? []).map(idOf) }
  if (which === 'filter') return { filter: s.filter ?? {} }
  return {}
}

function aliasTargets (m: Msg): string[] {
  const out: string[] = []
  for (const a of (m.actions ?? []) as Msg[]) {
    const c = a.create_alias ?? a.rename_alias ?? a.delete_alias
    if (c == null) continue
    for (const k of ['collection_name', 'alias_name', 'old_alias_name', 'new_alias_name']) {
      if (typeof c[k] === 'string' && c[k] !== '') out.push(c[k])
    }
  }
  return out
}

/** PointId { oneof: num (uint64) | uuid } */
export function idOf (id: Msg | null | undefined): RecordId {
  if (id == null) return ''
  if (id.point_id_options === 'uuid') return id.uuid as string
  const n = id.num
  return typeof n === 'number' ? n : typeof n === 'object' && n !== null ? longToId(n) : Number(n)
}

function longToId (l: { low: number, high: number, unsigned?: boolean, toString: () => string }): RecordId {
  if (l.high === 0) return l.low >>> 0
  const s = l.toString()
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : s
}

function num (v: unknown): number | undefined {
  if (v == null) return undefined
  if (typeof v === 'number') return v
  if (typeof v === 'object' && 'low' in (v as object)) return Number(String(v))
  return undefined
}

function wantsVectors (sel: Msg | null | undefined): boolean {
  if (sel == null) return false
  if (sel.selector_options === 'enable') return sel.enable === true
  if (sel.selector_options === 'include') return (sel.include?.names?.length ?? 0) > 0
  return false
}

/** What the journal records of a request: never whole vectors or payloads. */
function summarize (m: Msg, requests: number): Record<string, unknown> {
  const s: Record<string, unknown> = {}
  if (Array.isArray(m.points)) s.points = m.points.length
  if (Array.isArray(m.vector) && m.vector.length > 0) s.vectorDims = m.vector.length
  if (Array.isArray(m.operations)) s.operations = m.operations.length
  if (requests > 1) s.requests = requests
  if (m.filter != null) s.filter = true
  return s
}
