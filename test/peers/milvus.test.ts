/**
 * The Milvus peer itself, without the gateway: milvus-lite answers the official Node SDK and pymilvus
 * through one collection's whole life. Proves the peer and shows the client code the gateway tests reuse.
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import * as grpc from '@grpc/grpc-js'
import { milvusMethods } from '../../decoders/milvus/methods.js'
import type { Metadata } from '../../decoders/grpc/service.js'
import { startMilvus } from './milvus.js'
import { runPythonJSON } from './python.js'

const rows = [1, 2, 3, 4, 5].map(i => ({ id: i, vec: [i, 0, 0, 1], email: `user${i}@example.com`, meta: { n: i }, tag: `t${i}` }))

t.test('milvus-lite with the Node SDK', async t => {
  const milvus = await startMilvus()
  t.teardown(milvus.close)
  const c = new MilvusClient({ address: milvus.address, username: 'root', password: 'Milvus' })
  t.teardown(async () => { await c.closeConnection() })
  await c.connectPromise
  const name = 'node_coll'

  const created = await c.createCollection({
    collection_name: name,
    enable_dynamic_field: true,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      { name: 'email', data_type: DataType.VarChar, max_length: 128 },
      { name: 'meta', data_type: DataType.JSON }
    ]
  })
  t.equal(created.error_code, 'Success', 'create collection')
  const ins = await c.insert({ collection_name: name, data: rows })
  t.equal(Number(ins.insert_cnt), 5, 'insert')
  t.equal((await c.createIndex({ collection_name: name, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })).error_code, 'Success', 'create index')
  t.equal((await c.loadCollection({ collection_name: name })).error_code, 'Success', 'load')

  const found = await c.search({ collection_name: name, data: [[1, 0, 0, 1]], limit: 3, output_fields: ['id', 'email', 'meta', 'tag'] })
  t.equal(found.status.error_code, 'Success', 'search')
  t.same(found.results.map(r => [Number(r.id), r.email, r.meta, r.tag]), [
    [1, 'user1@example.com', { n: 1 }, 't1'],
    [2, 'user2@example.com', { n: 2 }, 't2'],
    [3, 'user3@example.com', { n: 3 }, 't3']
  ], 'nearest three, with scalar, JSON and dynamic fields')

  const q = await c.query({ collection_name: name, filter: 'id in [1, 2]', output_fields: ['id', 'email', 'vec'] })
  t.same(q.data.map(r => [Number(r.id), r.email, r.vec]).sort((a, b) => (a[0] as number) - (b[0] as number)), [
    [1, 'user1@example.com', [1, 0, 0, 1]],
    [2, 'user2@example.com', [2, 0, 0, 1]]
  ], 'query by expression returns vectors when asked')

  t.equal(Number((await c.delete({ collection_name: name, ids: [1] })).delete_cnt), 1, 'delete by ids')
  t.equal(Number((await c.delete({ collection_name: name, filter: 'id >= 4' })).delete_cnt), 2, 'delete by expression')
  const left = await c.query({ collection_name: name, filter: 'id >= 0', output_fields: ['id'] })
  t.same(left.data.map(r => Number(r.id)).sort(), [2, 3], 'what is left')

  t.equal((await c.dropCollection({ collection_name: name })).error_code, 'Success', 'drop')
  t.equal((await c.hasCollection({ collection_name: name })).value, false, 'gone')
})

t.test('milvus-lite with pymilvus', async t => {
  const milvus = await startMilvus()
  t.teardown(milvus.close)
  const out = await runPythonJSON<Record<string, unknown>>('milvus_client.py', [milvus.address, 'py_coll'])
  t.notOk(out.error, 'no Milvus error')
  t.same(out.steps, ['create', 'insert', 'index', 'load', 'search', 'query', 'delete-ids', 'delete-expr', 'drop'])
  t.equal(out.inserted, 5)
  t.same(out.search, [1, 2, 3].map(i => ({ id: i, email: `user${i}@example.com`, meta: { n: i }, tag: `t${i}` })))
  t.same(out.query, [1, 2].map(i => ({ id: i, email: `user${i}@example.com`, vec: [i, 0, 0, 1] })))
  t.equal(out.deleteIds, 1)
  t.equal(out.deleteExpr, 2)
  t.same(out.left, [2, 3])
  t.equal(out.exists, false)
})

t.test('milvus-lite does not authenticate: any credentials are accepted', async t => {
  // why the gateway cannot lean on the upstream to check callers, and why the gateway tests cannot
  // prove that vecgate's upstream credentials reach milvus-lite by a rejection from it
  const milvus = await startMilvus()
  t.teardown(milvus.close)
  const c = new MilvusClient({ address: milvus.address, username: 'nobody', password: 'wrong' })
  t.teardown(async () => { await c.closeConnection() })
  await c.connectPromise
  const r = await c.showCollections()
  t.equal(r.status.error_code, 'Success')
})

t.test('the Milvus decoder reads what milvus-lite really sends', async t => {
  // the gateway tests go through the relay; this checks the decoder against the server's own bytes
  const milvus = await startMilvus()
  t.teardown(milvus.close)
  const c = new MilvusClient({ address: milvus.address })
  t.teardown(async () => { await c.closeConnection() })
  await c.connectPromise
  const name = 'raw_coll'
  await c.createCollection({
    collection_name: name,
    enable_dynamic_field: true,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      { name: 'email', data_type: DataType.VarChar, max_length: 128 },
      { name: 'meta', data_type: DataType.JSON }
    ]
  })
  await c.insert({ collection_name: name, data: rows })
  await c.createIndex({ collection_name: name, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
  await c.loadCollection({ collection_name: name })

  const methods = milvusMethods()
  const raw = new grpc.Client(milvus.address, grpc.credentials.createInsecure())
  t.teardown(() => raw.close())
  const md: Metadata = { get: () => undefined, all: () => [] }
  const rpc = async (method: string, req: Record<string, unknown>): Promise<Buffer> => {
    const m = methods.get('/milvus.proto.milvus.MilvusService/' + method)!
    const body = Buffer.from(m.requestType.encode(m.requestType.fromObject(req)).finish())
    m.operation(body, md, 'milvus')
    return await new Promise((resolve, reject) => raw.makeUnaryRequest(m.path, (b: Buffer) => b, (b: Buffer) => b, body,
      (e, r) => e != null ? reject(e) : resolve(r!)))
  }
  const op = (method: string, req: Record<string, unknown>) => {
    const m = methods.get('/milvus.proto.milvus.MilvusService/' + method)!
    return m.operation(Buffer.from(m.requestType.encode(m.requestType.fromObject(req)).finish()), md, 'milvus')
  }

  t.equal(op('Delete', { collection_name: name, expr: 'id in [1]' }).bulk, true, 'before any describe: bulk')
  const describe = methods.get('/milvus.proto.milvus.MilvusService/DescribeCollection')!
  describe.resultView!(await rpc('DescribeCollection', { collection_name: name }))
  const del = op('Delete', { collection_name: name, expr: 'id in [1]' })
  t.same([del.ids, del.bulk], [[1], false], 'learned the primary key from milvus-lite\'s answer')

  const query = methods.get('/milvus.proto.milvus.MilvusService/Query')!
  const qv = query.resultView!(await rpc('Query', { collection_name: name, expr: 'id in [1, 2]', output_fields: ['id', 'email', 'meta', 'vec', 'tag'] }))
  t.same(qv.counts(), { records: 2, vectors: 2 })
  t.same((qv.ids() as number[]).sort(), [1, 2])
  t.ok(qv.mask({
    name: 'm', vectors: 'drop', touches: (p) => p === 'email', scalar: (p, v) => p === 'email' ? '[x]' : v,
    document: (doc) => { if ('tag' in doc) { doc.tag = '[x]'; return true } return false }, vector: () => null
  }))
  const out = query.responseType.decode(qv.encode()) as any
  const cols = Object.fromEntries(out.fields_data.map((f: any) => [f.field_name, f]))
  t.same(cols.email.scalars.string_data.data, ['[x]', '[x]'])
  t.notOk(cols.vec)
  t.same(cols.$meta.scalars.json_data.data.map((b: Uint8Array) => JSON.parse(Buffer.from(b).toString()).tag), ['[x]', '[x]'])

  const search = methods.get('/milvus.proto.milvus.MilvusService/Search')!
  const sv = search.resultView!(await rpc('Search', {
    collection_name: name, dsl_type: 1, nq: 1, output_fields: ['email'],
    search_params: [{ key: 'anns_field', value: 'vec' }, { key: 'topk', value: '3' }, { key: 'metric_type', value: 'L2' }, { key: 'params', value: '{}' }],
    placeholder_group: placeholder([1, 0, 0, 1])
  }))
  t.equal(sv.counts().records, 3, 'three hits')
  t.same(sv.ids(), [1, 2, 3], 'the ids of the hits')
  t.same((sv.toJSON() as { hits: Array<{ email: string }> }).hits.map(h => h.email), ['user1@example.com', 'user2@example.com', 'user3@example.com'])
})

/** common.PlaceholderGroup with one float vector query (type 101), as the SDKs build it */
function placeholder (v: number[]): Buffer {
  const methods = milvusMethods()
  const root = methods.get('/milvus.proto.milvus.MilvusService/Search')!.requestType.root
  const G = root.lookupType('milvus.proto.common.PlaceholderGroup')
  const f = Buffer.alloc(4 * v.length)
  v.forEach((x, i) => f.writeFloatLE(x, 4 * i))
  return Buffer.from(G.encode(G.fromObject({ placeholders: [{ tag: '$0', type: 101, values: [f] }] })).finish())
}
