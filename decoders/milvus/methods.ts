import protobuf from 'protobufjs'
import { VecgateError } from '../../lib/errors.js'
import type { BlastQuery, GrpcMethod, Metadata } from '../grpc/service.js'
import { joined, type MessageBytes } from '../grpc/messages.js'
import type { Action, Operation, RecordId, ResultView } from '../types.js'
import { MilvusCollections } from './collections.js'
import { parseIdList } from './expr.js'
import { columnValues, idsOf, int64, type Msg } from './fields.js'
import { MilvusResultView, resultShapeOf } from './results.js'
import { milvusSchema } from './schema.js'

/**
 * Every RPC of milvus.proto.milvus.MilvusService (and ClientTelemetryService, ProxyService) classified
 * into an Operation. The table is checked against the descriptors at load: a method missing from the
 * table, or a row naming no method, fails loudly — a Milvus upgrade cannot slip an RPC by unclassified.
 * Methods whose requests stream (the relay decides on one message) are left out of the map, so the
 * relay refuses them.
 */
interface Rule {
  action: Action
  /** bulk whatever the request says (drops, truncates, alias moves, snapshots…) */
  bulk?: boolean
  /** authenticated, not put to the policy (connection set-up, health, client telemetry) */
  passThrough?: boolean
  /** reads the request further: records, filter, limit, vectors */
  refine?: (op: Operation, m: Msg, cx: Context) => void
  /** schema facts this request makes stale */
  forgets?: 'collection' | 'database'
}

interface Context {
  db: string
  backend: string
  collections: MilvusCollections
}

const READ: Rule = { action: 'read' }
const ADMIN: Rule = { action: 'admin' }
const ADMIN_BULK: Rule = { action: 'admin', bulk: true }
const PASS: Rule = { action: 'read', passThrough: true }
const SCHEMA_CHANGE: Rule = { action: 'admin', forgets: 'collection' }
const SCHEMA_DROP: Rule = { action: 'admin', bulk: true, forgets: 'collection' }
const ALIAS_CHANGE: Rule = { action: 'admin', bulk: true, forgets: 'database', refine: aliasTargets }

const RULES: Record<string, Rule> = {
  // collections
  CreateCollection: SCHEMA_CHANGE,
  DropCollection: SCHEMA_DROP,
  HasCollection: READ,
  LoadCollection: ADMIN,
  ReleaseCollection: ADMIN_BULK,
  DescribeCollection: { action: 'read', refine: (op, _m, cx) => { if (op.collection !== undefined) cx.collections.expectDescribe(cx.db, op.collection) } },
  BatchDescribeCollection: { action: 'read', refine: (op, m) => addCollections(op, m.collection_name) },
  GetCollectionStatistics: READ,
  ShowCollections: { action: 'read', refine: (op, m) => addCollections(op, m.collection_names) },
  // properties such as collection.ttl.seconds expire data wholesale
  AlterCollection: { action: 'admin', bulk: true, forgets: 'collection' },
  AlterCollectionField: SCHEMA_CHANGE,
  AddCollectionFunction: SCHEMA_CHANGE,
  AlterCollectionFunction: SCHEMA_CHANGE,
  DropCollectionFunction: SCHEMA_DROP,
  AlterCollectionSchema: SCHEMA_CHANGE,
  AddCollectionField: SCHEMA_CHANGE,
  AddCollectionStructField: SCHEMA_CHANGE,
  TruncateCollection: { action: 'delete', bulk: true },
  RenameCollection: { action: 'admin', bulk: true, forgets: 'database', refine: renameTargets },
  // partitions and namespaces
  CreatePartition: ADMIN,
  DropPartition: ADMIN_BULK,
  HasPartition: READ,
  LoadPartitions: ADMIN,
  ReleasePartitions: ADMIN_BULK,
  GetPartitionStatistics: READ,
  ShowPartitions: READ,
  Prewarm: ADMIN,
  DescribePrewarmTask: READ,
  CreateNamespace: ADMIN,
  DescribeNamespace: READ,
  ListNamespaces: READ,
  DropNamespace: ADMIN_BULK,
  HasNamespace: READ,
  GetNamespaceStats: READ,
  GetLoadingProgress: READ,
  GetLoadState: READ,
  // aliases: moving one re-points every reader, so the change is bulk and names both ends
  CreateAlias: ALIAS_CHANGE,
  DropAlias: ALIAS_CHANGE,
  AlterAlias: ALIAS_CHANGE,
  DescribeAlias: { action: 'read', refine: aliasTargets },
  ListAliases: READ,
  // indexes: building or dropping one changes what every search costs and returns
  CreateIndex: ADMIN_BULK,
  AlterIndex: ADMIN,
  DescribeIndex: READ,
  GetIndexStatistics: READ,
  GetIndexState: READ,
  GetIndexBuildProgress: READ,
  DropIndex: ADMIN_BULK,
  // data
  Insert: { action: 'write', refine: rowsWritten },
  Upsert: { action: 'write', refine: rowsWritten },
  Delete: { action: 'delete', refine: deleted },
  Search: { action: 'search', refine: searched },
  HybridSearch: { action: 'search', refine: hybridSearched },
  Query: { action: 'read', refine: queried },
  CalcDistance: { action: 'search', refine: distances },
  Import: { action: 'write', bulk: true },
  GetImportState: READ,
  ListImportTasks: READ,
  RunAnalyzer: READ,
  ComputePhraseMatchSlop: READ,
  // segments, flush, compaction, replicas
  Flush: { action: 'admin', refine: (op, m) => addCollections(op, m.collection_names) },
  FlushAll: ADMIN,
  GetFlushState: READ,
  GetFlushAllState: READ,
  GetPersistentSegmentInfo: READ,
  GetQuerySegmentInfo: READ,
  GetReplicas: READ,
  LoadBalance: ADMIN,
  ManualCompaction: ADMIN,
  GetCompactionState: READ,
  GetCompactionStateWithPlans: READ,
  ListIndexedSegment: READ,
  DescribeSegmentIndexData: READ,
  // the server and the connection
  Connect: PASS,
  GetVersion: PASS,
  CheckHealth: PASS,
  GetComponentStates: READ,
  RegisterLink: READ,
  AllocTimestamp: READ,
  Dummy: ADMIN,
  GetMetrics: ADMIN,
  // databases
  CreateDatabase: ADMIN,
  DropDatabase: { action: 'admin', bulk: true, forgets: 'database' },
  ListDatabases: READ,
  AlterDatabase: ADMIN,
  DescribeDatabase: READ,
  // users, roles, privileges, tags, row policies: all admin, listing them too (they map who may do what)
  CreateCredential: ADMIN,
  UpdateCredential: ADMIN,
  DeleteCredential: ADMIN,
  ListCredUsers: ADMIN,
  CreateRole: ADMIN,
  AlterRole: ADMIN,
  DropRole: ADMIN,
  OperateUserRole: ADMIN,
  SelectRole: ADMIN,
  SelectUser: ADMIN,
  OperatePrivilege: ADMIN,
  OperatePrivilegeV2: ADMIN,
  SelectGrant: ADMIN,
  BackupRBAC: ADMIN,
  RestoreRBAC: ADMIN_BULK,
  CreatePrivilegeGroup: ADMIN,
  DropPrivilegeGroup: ADMIN,
  ListPrivilegeGroups: ADMIN,
  OperatePrivilegeGroup: ADMIN,
  AddUserTags: ADMIN,
  DeleteUserTags: ADMIN,
  GetUserTags: ADMIN,
  ListUsersWithTag: ADMIN,
  CreateRowPolicy: ADMIN,
  DropRowPolicy: ADMIN,
  ListRowPolicies: ADMIN,
  // resource groups and files
  CreateResourceGroup: ADMIN,
  DropResourceGroup: ADMIN,
  UpdateResourceGroups: ADMIN,
  TransferNode: ADMIN,
  TransferReplica: ADMIN,
  ListResourceGroups: READ,
  DescribeResourceGroup: READ,
  AddFileResource: ADMIN,
  RemoveFileResource: ADMIN,
  ListFileResources: READ,
  // replication: raw WAL messages in or out are every record at once
  ReplicateMessage: ADMIN_BULK,
  UpdateReplicateConfiguration: ADMIN_BULK,
  GetReplicateConfiguration: ADMIN,
  GetReplicateInfo: ADMIN,
  CreateReplicateStream: ADMIN_BULK,
  DumpMessages: ADMIN_BULK,
  // snapshots: a snapshot is the whole collection; restoring or exporting one moves all of it
  CreateSnapshot: ADMIN,
  DropSnapshot: ADMIN_BULK,
  ListSnapshots: READ,
  DescribeSnapshot: READ,
  RestoreSnapshot: { action: 'admin', bulk: true, refine: (op, m) => addCollections(op, [m.target_collection_name]) },
  RestoreExternalSnapshot: { action: 'admin', bulk: true, refine: (op, m) => addCollections(op, [m.target_collection_name]) },
  ExportSnapshot: ADMIN_BULK,
  GetRestoreSnapshotState: READ,
  ListRestoreSnapshotJobs: READ,
  PinSnapshotData: ADMIN,
  UnpinSnapshotData: ADMIN,
  // external collections
  BatchUpdateManifest: ADMIN_BULK,
  RefreshExternalCollection: ADMIN,
  GetRefreshExternalCollectionProgress: READ,
  ListRefreshExternalCollectionJobs: READ,
  // ClientTelemetryService: the SDK's heartbeat passes; reading telemetry or commanding clients is admin
  ClientHeartbeat: PASS,
  GetClientTelemetry: ADMIN,
  PushClientCommand: ADMIN,
  DeleteClientCommand: ADMIN
}

export const MILVUS_SERVICES = [
  'milvus.proto.milvus.MilvusService',
  'milvus.proto.milvus.ClientTelemetryService',
  'milvus.proto.milvus.ProxyService'
]

/** every method name of the services, for the completeness test */
export function milvusRuleNames (): string[] { return Object.keys(RULES) }

export interface MilvusMethodsOptions {
  /** schema facts learned from this backend's DescribeCollection answers (one per backend) */
  collections?: MilvusCollections
}

/**
 * ':path' → method. Build one map per backend (the schema facts it learns belong to that backend);
 * building is cheap, the protobuf types come from the cached schema.
 */
export function milvusMethods (opts: MilvusMethodsOptions = {}): Map<string, GrpcMethod> {
  const collections = opts.collections ?? new MilvusCollections()
  const { root } = milvusSchema()
  const out = new Map<string, GrpcMethod>()
  const named = new Set<string>()
  for (const svc of MILVUS_SERVICES) {
    for (const m of root.lookupService(svc).methodsArray) {
      if (named.has(m.name)) continue // ProxyService/RegisterLink shares its name and rule with MilvusService's
      named.add(m.name)
    }
  }
  for (const name of Object.keys(RULES)) if (!named.has(name)) throw new Error(`classification for unknown Milvus method ${name}`)
  for (const svc of MILVUS_SERVICES) {
    for (const m of root.lookupService(svc).methodsArray) {
      const rule = RULES[m.name]
      if (rule === undefined) throw new Error(`Milvus method ${svc}/${m.name} has no classification`)
      if (m.requestStream === true) continue // one decision per stream cannot cover later messages: refused
      const name = `${svc}/${m.name}`
      out.set('/' + name, buildMethod(name, rule, root.lookupType(m.requestType), root.lookupType(m.responseType), collections))
    }
  }
  return out
}

function buildMethod (name: string, rule: Rule, requestType: protobuf.Type, responseType: protobuf.Type, collections: MilvusCollections): GrpcMethod {
  const shape = resultShapeOf(responseType)
  const decode = requestDecoder(requestType)
  const learns = responseType.fullName === '.milvus.proto.milvus.DescribeCollectionResponse'
  return {
    path: '/' + name,
    name,
    requestType,
    responseType,
    passThrough: rule.passThrough,
    operation: (request: MessageBytes, md: Metadata, backend: string): Operation => {
      let m: Msg
      try {
        m = decode(joined(request))
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `${name}: request does not decode as ${requestType.name}`, {}, { cause: e })
      }
      try {
        return classify(name, rule, m, md, backend, collections)
      } catch (e) {
        if (e instanceof VecgateError) throw e
        throw new VecgateError('VG_ERR_MALFORMED', `${name}: request cannot be classified`, {}, { cause: e })
      }
    },
    resultView: shape !== undefined
      ? (response: Buffer) => new MilvusResultView(responseType, response, shape)
      : learns ? (response: Buffer) => learnSchema(responseType, response, collections) : undefined,
    blastRadius: rule.refine === deleted ? countMatching : undefined,
    changesAliases: rule.forgets !== undefined || ALIAS_CHANGES.has(name.slice(name.lastIndexOf('/') + 1)) ? true : undefined
  }
}

/** calls after which the alias map is read again (besides those that forget schema facts) */
const ALIAS_CHANGES = new Set(['CreateAlias', 'AlterAlias', 'DropAlias', 'CreateCollection', 'DropCollection', 'RenameCollection', 'CreateDatabase', 'DropDatabase'])

/** What a delete by expression would touch: Query with output count(*) and the same expression. */
function countMatching (op: Operation): BlastQuery | undefined {
  if (typeof op.filter !== 'string' || op.collection === undefined) return undefined
  const root = milvusSchema().root
  const Query = root.lookupType('milvus.proto.milvus.QueryRequest')
  const Results = root.lookupType('milvus.proto.milvus.QueryResults')
  return {
    path: '/milvus.proto.milvus.MilvusService/Query',
    request: Query.encode(Query.create({ db_name: op.database ?? '', collection_name: op.collection, expr: op.filter, output_fields: ['count(*)'], consistency_level: 2 /* Strong */ })).finish(),
    count: (response) => {
      const r = Results.decode(response) as unknown as { fields_data?: Array<{ field_name?: string, scalars?: { long_data?: { data?: Array<number | { toNumber: () => number }> } } }> }
      const v = r.fields_data?.find(f => f.field_name === 'count(*)')?.scalars?.long_data?.data?.[0]
      return v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber()
    }
  }
}

/**
 * Insert and Upsert carry every row, vectors included; classifying them needs only the names and the
 * primary-key column. Their FieldData columns are kept as undecoded bytes here (the full decode would
 * build a JS array for every float). Other requests are small and decode whole.
 */
function requestDecoder (type: protobuf.Type): (b: Buffer) => Msg {
  const columns = type.fields.fields_data
  if (columns === undefined || !columns.repeated) return (b) => type.decode(b) as unknown as Msg
  const keep = new Map<number, string>()
  for (const f of type.fieldsArray) if (f.name !== 'fields_data' && (f.type === 'string' || f.type === 'uint32' || f.type === 'bool')) keep.set(f.id, f.name)
  return (b) => {
    const r = protobuf.Reader.create(b)
    const m: Msg = { fields_data_raw: [] as Uint8Array[] }
    while (r.pos < r.len) {
      const tag = r.uint32()
      const id = tag >>> 3
      const wire = tag & 7
      if (id === 0) throw new Error('field number 0')
      if (id === columns.id && wire === 2) m.fields_data_raw.push(r.bytes())
      else if (keep.has(id) && wire === 2) m[keep.get(id)!] = r.string()
      else if (keep.has(id) && wire === 0) m[keep.get(id)!] = r.uint32()
      else r.skipType(wire)
    }
    return m
  }
}

function classify (name: string, rule: Rule, m: Msg, md: Metadata, backend: string, collections: MilvusCollections): Operation {
  const db = str(m.db_name) ?? str(m.dbName) ?? md.get('dbname') ?? 'default'
  const op: Operation = { backend, protocol: 'milvus', method: name, action: rule.action, bulk: rule.bulk === true, database: db, summary: {} }
  const coll = str(m.collection_name) ?? str(m.collectionName) ?? str(m.oldName)
  if (coll !== undefined) op.collection = coll
  const cx: Context = { db, backend, collections }
  if (op.collection !== undefined) resolveAlias(op, cx)
  if (rule.forgets === 'collection' && op.collection !== undefined) collections.forget(db, op.collection)
  if (rule.forgets === 'database') collections.forgetDatabase(db)
  op.summary = summarize(m)
  rule.refine?.(op, m, cx)
  return op
}

const str = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined

/** an alias learned from DescribeCollection is decided on as the collection it names (THREATS.md) */
function resolveAlias (op: Operation, cx: Context): void {
  const facts = cx.collections.get(cx.db, op.collection!)
  if (facts !== undefined && facts.name !== op.collection) {
    op.collections = [...(op.collections ?? []), op.collection!]
    op.collection = facts.name
  }
}

function addCollections (op: Operation, names: unknown): void {
  const list = (Array.isArray(names) ? names : []).filter((n): n is string => typeof n === 'string' && n !== '')
  if (list.length === 0) return
  if (op.collection === undefined) op.collection = list[0]
  const rest = list.filter(n => n !== op.collection)
  if (rest.length > 0) op.collections = [...(op.collections ?? []), ...rest]
}

function aliasTargets (op: Operation, m: Msg): void {
  addCollections(op, [m.alias])
}

function renameTargets (op: Operation, m: Msg): void {
  addCollections(op, [m.newName])
  if (str(m.newDBName) !== undefined) op.summary.new_database = m.newDBName
}

/** top-level strings, numbers, flags and string lists; never bytes, nested messages or secrets */
const SECRET = /pass|secret|token|credential|payload/i
function summarize (m: Msg): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(m)) {
    if (k === 'base' || SECRET.test(k)) continue
    const v = m[k]
    if (typeof v === 'string') { if (v !== '') out[k] = v } else if (typeof v === 'boolean') { if (v) out[k] = v } else if (typeof v === 'number') { if (v !== 0) out[k] = v } else if (Array.isArray(v) && v.length > 0 && v.length <= 64 && v.every(x => typeof x === 'string')) out[k] = v
  }
  return out
}

/** records named by an expression: ids when it is a plain list on the primary key, else a filter */
function select (op: Operation, expr: string, templated: boolean, cx: Context): void {
  if (expr.trim() === '') return
  op.filter = expr
  if (templated || op.collection === undefined) return
  const list = parseIdList(expr)
  if (list === undefined) return
  const facts = cx.collections.get(cx.db, op.collection)
  if (facts === undefined || facts.primary !== list.field) return
  op.ids = list.ids
}

const hasTemplates = (m: Msg): boolean => m.expr_template_values != null && Object.keys(m.expr_template_values).length > 0

/** Delete: by ids only when the expression plainly lists primary keys; anything else is bulk */
function deleted (op: Operation, m: Msg, cx: Context): void {
  select(op, m.expr ?? '', hasTemplates(m), cx)
  op.bulk = op.ids === undefined
  if (str(m.partition_name) !== undefined) op.summary.partition_name = m.partition_name
}

function param (kvs: Msg[] | undefined, ...keys: string[]): string | undefined {
  for (const kv of kvs ?? []) if (keys.includes(kv.key)) return kv.value
  return undefined
}

function limitOf (v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/** output fields that bring vectors: `*`, the searched field, or a field the schema says is a vector */
function asksVectors (fields: string[], cx: Context, collection: string | undefined, annsField?: string): boolean {
  if (fields.length === 0) return false
  const facts = collection !== undefined ? cx.collections.get(cx.db, collection) : undefined
  for (const f of fields) {
    if (f === '*' || f === annsField || facts?.vectors.has(f) === true) return true
  }
  return false
}

function searched (op: Operation, m: Msg, cx: Context): void {
  select(op, m.dsl ?? '', hasTemplates(m), cx)
  if (m.search_input === 'ids' || m.ids != null) {
    const ids = idsOf(m.ids)
    if (ids.length > 0) op.ids = ids
  }
  const anns = param(m.search_params, 'anns_field')
  op.limit = limitOf(param(m.search_params, 'limit', 'topk'))
  const fields: string[] = m.output_fields ?? []
  op.withVectors = asksVectors(fields, cx, op.collection, anns)
  op.summary = {
    ...op.summary,
    nq: Number(int64(m.nq ?? 0)),
    ...(anns !== undefined ? { anns_field: anns } : {}),
    ...(op.limit !== undefined ? { limit: op.limit } : {})
  }
  delete op.summary.dsl
  if (op.filter !== undefined) op.summary.filter = op.filter
}

function hybridSearched (op: Operation, m: Msg, cx: Context): void {
  const filters: string[] = []
  let anns: string | undefined
  for (const r of m.requests ?? []) {
    if (typeof r.dsl === 'string' && r.dsl.trim() !== '') filters.push(r.dsl)
    anns ??= param(r.search_params, 'anns_field')
  }
  if (filters.length === 1) select(op, filters[0], (m.requests ?? []).some(hasTemplates), cx)
  else if (filters.length > 1) op.filter = filters
  op.limit = limitOf(param(m.rank_params, 'limit', 'topk'))
  const fields: string[] = m.output_fields ?? []
  // every sub-request's anns field is a vector field
  const vectorNames = new Set((m.requests ?? []).map((r: Msg) => param(r.search_params, 'anns_field')).filter(Boolean))
  op.withVectors = asksVectors(fields, cx, op.collection, anns) || fields.some(f => vectorNames.has(f))
  op.summary = { ...op.summary, requests: (m.requests ?? []).length, ...(op.limit !== undefined ? { limit: op.limit } : {}) }
  if (op.filter !== undefined) op.summary.filter = op.filter
}

function queried (op: Operation, m: Msg, cx: Context): void {
  select(op, m.expr ?? '', hasTemplates(m), cx)
  op.limit = limitOf(param(m.query_params, 'limit'))
  op.withVectors = asksVectors(m.output_fields ?? [], cx, op.collection)
  if (op.limit !== undefined) op.summary.limit = op.limit
  delete op.summary.expr
  if (op.filter !== undefined) op.summary.filter = op.filter
}

/** CalcDistance by ids reads the stored vectors of those records */
function distances (op: Operation, m: Msg): void {
  const ids: RecordId[] = []
  for (const side of [m.op_left, m.op_right]) {
    const a = side?.id_array
    if (a == null) continue
    addCollections(op, [a.collection_name])
    ids.push(...idsOf(a.id_array))
  }
  if (ids.length > 0) op.ids = ids
}

/** Insert/Upsert: the rows' primary keys when the schema is known, the column names, the row count */
function rowsWritten (op: Operation, m: Msg, cx: Context): void {
  const { root } = milvusSchema()
  const FieldData = root.lookupType('milvus.proto.schema.FieldData')
  const facts = op.collection !== undefined ? cx.collections.get(cx.db, op.collection) : undefined
  const fields: string[] = []
  for (const raw of m.fields_data_raw as Uint8Array[]) {
    const name = fieldNameOf(raw)
    fields.push(name)
    if (facts !== undefined && name === facts.primary) {
      op.ids = columnValues(FieldData.decode(raw) as unknown as Msg) as RecordId[]
    }
  }
  op.summary = { ...op.summary, fields }
}

/** FieldData.field_name (field 2) without decoding the column's data */
function fieldNameOf (raw: Uint8Array): string {
  const r = protobuf.Reader.create(raw)
  while (r.pos < r.len) {
    const tag = r.uint32()
    if (tag >>> 3 === 2 && (tag & 7) === 2) return r.string()
    r.skipType(tag & 7)
  }
  return ''
}

/**
 * DescribeCollection answers teach the primary key and vector fields of a collection (and its aliases).
 * The view itself carries no records.
 */
function learnSchema (type: protobuf.Type, response: Buffer, collections: MilvusCollections): ResultView {
  let m: Msg | undefined
  try {
    m = type.decode(response) as unknown as Msg
  } catch {
    m = undefined
  }
  const ok = m !== undefined && (m.status == null || ((m.status.code ?? 0) === 0 && (m.status.error_code ?? 0) === 0))
  if (ok && m!.schema != null) {
    const fields: Msg[] = m!.schema.fields ?? []
    const pk = fields.find(f => f.is_primary_key === true)
    const name = str(m!.collection_name) ?? str(m!.schema.name)
    const db = str(m!.db_name) ?? (name !== undefined ? collections.describedIn(name) : undefined)
    if (pk !== undefined && name !== undefined && db !== undefined) {
      const vectors = new Set<string>(fields.filter(f => f.data_type >= 100 && f.data_type < 200).map(f => f.name as string))
      collections.learn(db, [name, ...(m!.aliases ?? [])], { name, primary: pk.name, vectors })
    }
  }
  return {
    ids: () => [],
    counts: () => ({ records: 0, vectors: 0 }),
    mask: () => false,
    toJSON: () => ({ collection: m?.collection_name }),
    encode: () => response
  }
}
