/**
 * The Milvus peer itself, without the gateway: milvus-lite answers the official Node SDK and pymilvus
 * through one collection's whole life. Proves the peer and shows the client code the gateway tests reuse.
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
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
