import { randomBytes } from 'node:crypto'
import t from 'tap'
import { VecgateError } from '../../../lib/errors.js'
import type { GrpcMethod, Metadata } from '../../../decoders/grpc/service.js'
import { MilvusCollections } from '../../../decoders/milvus/collections.js'
import { MILVUS_SERVICES, milvusMethods, milvusRuleNames } from '../../../decoders/milvus/methods.js'
import { milvusSchema } from '../../../decoders/milvus/schema.js'

const SVC = '/milvus.proto.milvus.MilvusService/'

function md (h: Record<string, string> = {}): Metadata {
  return { get: (n) => h[n], all: (n) => h[n] !== undefined ? [h[n]] : [] }
}

function call (methods: Map<string, GrpcMethod>, name: string, req: Record<string, unknown>, meta: Metadata = md()) {
  const m = methods.get(SVC + name)
  if (m === undefined) throw new Error(`no method ${name}`)
  return m.operation(Buffer.from(m.requestType.encode(m.requestType.fromObject(req)).finish()), meta, 'milvus')
}

/** what the upstream answers to DescribeCollection, fed through the method's result view */
function describe (methods: Map<string, GrpcMethod>, collection: string, db = 'default', aliases: string[] = []): void {
  const m = methods.get(SVC + 'DescribeCollection')!
  const resp = m.responseType.encode(m.responseType.fromObject({
    status: { code: 0 },
    db_name: db,
    collection_name: collection,
    aliases,
    schema: {
      name: collection,
      fields: [
        { name: 'pk', is_primary_key: true, data_type: 5 },
        { name: 'vec', data_type: 101 },
        { name: 'email', data_type: 21 }
      ]
    }
  })).finish()
  m.resultView!(Buffer.from(resp))
}

t.test('every method of the services is classified, and only those', async t => {
  const { root } = milvusSchema()
  const methods = milvusMethods()
  const all = new Set<string>()
  let streamed = 0
  for (const svc of MILVUS_SERVICES) {
    for (const m of root.lookupService(svc).methodsArray) {
      all.add(m.name)
      const path = `/${svc}/${m.name}`
      if (m.requestStream === true) {
        streamed++
        t.notOk(methods.has(path), `${m.name} streams requests: absent, so the relay refuses it`)
      } else {
        t.ok(methods.has(path), path)
      }
    }
  }
  t.same(new Set(milvusRuleNames()), all, 'the table names exactly the methods of the descriptors')
  t.ok(methods.size >= 140, `${methods.size} methods`)
  t.equal(streamed, 1, 'CreateReplicateStream is the one request-streaming method')
  t.equal(methods.get('/milvus.proto.milvus.ClientTelemetryService/ClientHeartbeat')?.passThrough, true)
  t.equal(methods.get(SVC + 'Connect')?.passThrough, true)
  t.notOk(methods.get('/milvus.proto.milvus.ClientTelemetryService/PushClientCommand')?.passThrough, 'commanding clients is not passed through')
  t.notOk(methods.get(SVC + 'NoSuchMethod'), 'unknown methods are absent')
})

t.test('a sample of the table', async t => {
  const methods = milvusMethods()
  const cases: Array<[string, Record<string, unknown>, string, boolean]> = [
    ['DropCollection', { collection_name: 'c' }, 'admin', true],
    ['ReleaseCollection', { collection_name: 'c' }, 'admin', true],
    ['CreateIndex', { collection_name: 'c', field_name: 'vec' }, 'admin', true],
    ['DropIndex', { collection_name: 'c', field_name: 'vec' }, 'admin', true],
    ['DropPartition', { collection_name: 'c', partition_name: 'p' }, 'admin', true],
    ['DropDatabase', { db_name: 'd' }, 'admin', true],
    ['TruncateCollection', { collection_name: 'c' }, 'delete', true],
    ['HasCollection', { collection_name: 'c' }, 'read', false],
    ['CreateCredential', { username: 'u', password: 'c2VjcmV0' }, 'admin', false],
    ['OperatePrivilegeV2', { collection_name: 'c' }, 'admin', false],
    ['Query', { collection_name: 'c', expr: 'x > 1' }, 'read', false],
    ['Search', { collection_name: 'c' }, 'search', false],
    ['Insert', { collection_name: 'c' }, 'write', false]
  ]
  for (const [name, req, action, bulk] of cases) {
    const op = call(methods, name, req)
    t.equal(op.action, action, `${name} is ${action}`)
    t.equal(op.bulk, bulk, `${name} bulk=${bulk}`)
    t.equal(op.protocol, 'milvus')
    t.equal(op.method, `milvus.proto.milvus.MilvusService/${name}`)
  }
  const cred = call(methods, 'CreateCredential', { username: 'u', password: 'c2VjcmV0' })
  t.same(cred.summary, { username: 'u' }, 'passwords never reach the summary')
  const rename = call(methods, 'RenameCollection', { oldName: 'a', newName: 'b' })
  t.equal(rename.collection, 'a')
  t.same(rename.collections, ['b'])
  t.same(call(methods, 'CreateAlias', { collection_name: 'a', alias: 'x' }).collections, ['x'])
})

t.test('database: the request field, else the dbname metadata, else default', async t => {
  const methods = milvusMethods()
  t.equal(call(methods, 'HasCollection', { collection_name: 'c' }).database, 'default')
  t.equal(call(methods, 'HasCollection', { collection_name: 'c' }, md({ dbname: 'meta_db' })).database, 'meta_db')
  t.equal(call(methods, 'HasCollection', { collection_name: 'c', db_name: 'field_db' }, md({ dbname: 'meta_db' })).database, 'field_db')
  t.equal(call(methods, 'GetPersistentSegmentInfo', { dbName: 'x', collectionName: 'c' }).database, 'x')
})

t.test('delete by ids only on the learned primary key; anything else is bulk', async t => {
  const methods = milvusMethods()
  let op = call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [1, 2]' })
  t.equal(op.bulk, true, 'schema unknown: a list is not known to name records')
  t.equal(op.ids, undefined)
  t.equal(op.filter, 'pk in [1, 2]')

  describe(methods, 'c')
  op = call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [1, 2]' })
  t.same(op.ids, [1, 2])
  t.equal(op.bulk, false)
  t.equal(op.action, 'delete')
  t.same(call(methods, 'Delete', { collection_name: 'c', expr: 'pk == 7' }).ids, [7])
  for (const expr of ['email in ["a@x.io"]', 'pk in [1] or pk > 0', 'pk > 0', '', 'pk in {ids}']) {
    op = call(methods, 'Delete', { collection_name: 'c', expr })
    t.equal(op.bulk, true, `"${expr}" is bulk`)
    t.equal(op.ids, undefined)
  }
  op = call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [1]', expr_template_values: { ids: { int64_val: 1 } } })
  t.equal(op.bulk, true, 'templated expressions are filters')
  t.equal(call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [1]' }, md({ dbname: 'other' })).bulk, true, 'facts are per database')

  call(methods, 'DropCollection', { collection_name: 'c' })
  t.equal(call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [1]' }).bulk, true, 'a drop forgets what was learned')
})

t.test('a describe answer without db_name is learned for the one database it was asked in', async t => {
  const methods = milvusMethods()
  call(methods, 'DescribeCollection', { collection_name: 'c' }, md({ dbname: 'd1' }))
  describe(methods, 'c', '')
  t.same(call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [3]' }, md({ dbname: 'd1' })).ids, [3])
  t.equal(call(methods, 'Delete', { collection_name: 'c', expr: 'pk in [3]' }).bulk, true, 'not in default')

  const other = milvusMethods()
  call(other, 'DescribeCollection', { collection_name: 'c' }, md({ dbname: 'd1' }))
  call(other, 'DescribeCollection', { collection_name: 'c' }, md({ dbname: 'd2' }))
  describe(other, 'c', '')
  t.equal(call(other, 'Delete', { collection_name: 'c', expr: 'pk in [3]' }, md({ dbname: 'd1' })).bulk, true, 'ambiguous: not learned')
})

t.test('aliases learned from describe resolve to the collection', async t => {
  const methods = milvusMethods()
  describe(methods, 'real', 'default', ['nick'])
  const op = call(methods, 'Query', { collection_name: 'nick', expr: 'pk in [1]' })
  t.equal(op.collection, 'real')
  t.same(op.collections, ['nick'])
  t.same(op.ids, [1])
})

t.test('search, hybrid search and query: filter, ids, limit, vectors', async t => {
  const methods = milvusMethods()
  let op = call(methods, 'Search', {
    collection_name: 'c', dsl: 'age > 3', nq: 2, output_fields: ['email'],
    search_params: [{ key: 'anns_field', value: 'vec' }, { key: 'topk', value: '10' }], placeholder_group: Buffer.alloc(64)
  })
  t.equal(op.action, 'search')
  t.equal(op.filter, 'age > 3')
  t.equal(op.limit, 10)
  t.equal(op.withVectors, false)
  t.same(op.summary, { collection_name: 'c', nq: 2, anns_field: 'vec', limit: 10, output_fields: ['email'], filter: 'age > 3' }, 'no vectors in the summary')
  t.equal(call(methods, 'Search', { collection_name: 'c', output_fields: ['*'] }).withVectors, true, '* may bring vectors')
  t.equal(call(methods, 'Search', { collection_name: 'c', output_fields: ['vec'], search_params: [{ key: 'anns_field', value: 'vec' }] }).withVectors, true, 'the searched field is a vector')
  t.same(call(methods, 'Search', { collection_name: 'c', ids: { int_id: { data: [4, 5] } } }).ids, [4, 5], 'search by primary keys')

  op = call(methods, 'HybridSearch', {
    collection_name: 'c', output_fields: ['dense'],
    requests: [{ dsl: 'a == 1', search_params: [{ key: 'anns_field', value: 'dense' }] }, { search_params: [{ key: 'anns_field', value: 'sparse' }] }],
    rank_params: [{ key: 'limit', value: '5' }]
  })
  t.equal(op.limit, 5)
  t.equal(op.filter, 'a == 1')
  t.equal(op.withVectors, true)

  describe(methods, 'c')
  op = call(methods, 'Query', { collection_name: 'c', expr: 'pk in [1,2]', output_fields: ['email', 'vec'], query_params: [{ key: 'limit', value: '100' }] })
  t.equal(op.action, 'read')
  t.same(op.ids, [1, 2])
  t.equal(op.limit, 100)
  t.equal(op.withVectors, true, 'a learned vector field')
  t.equal(call(methods, 'Query', { collection_name: 'c', expr: 'pk > 0', output_fields: ['email'] }).withVectors, false)
})

t.test('insert and upsert: the primary keys written, without decoding the vectors', async t => {
  const methods = milvusMethods()
  const req = {
    collection_name: 'c',
    num_rows: 2,
    fields_data: [
      { field_name: 'pk', type: 5, scalars: { long_data: { data: [10, 11] } } },
      { field_name: 'vec', type: 101, vectors: { dim: 2, float_vector: { data: [1, 2, 3, 4] } } }
    ]
  }
  let op = call(methods, 'Insert', req)
  t.equal(op.action, 'write')
  t.equal(op.ids, undefined, 'schema unknown')
  t.same(op.summary, { collection_name: 'c', num_rows: 2, fields: ['pk', 'vec'] })
  describe(methods, 'c')
  op = call(methods, 'Upsert', req)
  t.same(op.ids, [10, 11])
  t.equal(op.bulk, false)
})

t.test('fuzz: random bytes decode to an Operation or a VG_ERR_MALFORMED, nothing else', async t => {
  const methods = milvusMethods({ collections: new MilvusCollections() })
  let malformed = 0
  let other = 0
  for (const m of methods.values()) {
    for (let i = 0; i < 40; i++) {
      const bytes = randomBytes(1 + (i * 7) % 200)
      try {
        const op = m.operation(bytes, md(), 'milvus')
        if (op.protocol !== 'milvus') other++
      } catch (e) {
        if (e instanceof VecgateError && e.code === 'VG_ERR_MALFORMED') malformed++
        else { other++; t.fail(`${m.name}: ${String(e)}`) }
      }
    }
  }
  t.equal(other, 0)
  t.ok(malformed > 0, `${malformed} refused as malformed`)
})
