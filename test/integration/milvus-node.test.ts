/**
 * Milvus through vecgate with the official Node SDK against a real Milvus server (milvus-lite): the
 * collection's whole life gives the same answers through the gateway as direct; denied calls are
 * PERMISSION_DENIED (never UNIMPLEMENTED, which the SDK would turn into success); bad tokens
 * UNAUTHENTICATED; the server receives the backend's credentials, never the client's token; the
 * journal holds the session and who-saw finds the primary keys a search returned.
 */
import t from 'tap'
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node'
import { startMilvus } from '../peers/milvus.js'
import { startTestGateway } from '../helpers/gateway.js'
import { startH2Tap } from '../helpers/h2-tap.js'
import { milvusClients } from '../helpers/milvus-sdk.js'
import { JournalReader } from '../../lib/journal/reader.js'

const milvus = await startMilvus()
t.teardown(() => milvus.close())
const tap = await startH2Tap(milvus.address)
t.teardown(() => tap.close())
const gw = await startTestGateway({
  backends: [{ name: 'milvus', protocol: 'milvus', upstream: tap.address, credentials: { username: 'root', password: 'Milvus' } }],
  policy: {
    rules: [
      { id: 'admins', subjects: { groups: ['admins'] }, backends: ['milvus'], effect: 'allow' },
      { id: 'analysts-read', subjects: { groups: ['analysts'] }, actions: ['read', 'search'], effect: 'allow' }
    ]
  }
})
t.teardown(() => gw.stop())
const adminToken = await gw.token('root-user', { groups: ['admins'] })
const analystToken = await gw.token('alice', { groups: ['analysts'] })
const client = milvusClients()
const direct = client(milvus.address, { username: 'root', password: 'Milvus' })
const via = client(gw.address('milvus'), { token: adminToken })

const rows = [1, 2, 3, 4, 5, 6].map(i => ({ id: i, vec: [i, 0, 0, 1], email: `user${i}@example.com`, meta: { n: i }, tag: `t${i}` }))
const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k, v) => ['time', 'timestamp', 'IDs', 'succ_index', 'err_index', 'insert_cnt', 'delete_cnt', 'upsert_cnt', 'acknowledged'].includes(k) ? undefined : typeof v === 'bigint' ? String(v) : v))

async function life (c: MilvusClient, name: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  out.create = (await c.createCollection({
    collection_name: name,
    enable_dynamic_field: true,
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'vec', data_type: DataType.FloatVector, dim: 4 },
      { name: 'email', data_type: DataType.VarChar, max_length: 128 },
      { name: 'meta', data_type: DataType.JSON }
    ]
  })).error_code
  out.insert = Number((await c.insert({ collection_name: name, data: rows })).insert_cnt)
  out.index = (await c.createIndex({ collection_name: name, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })).error_code
  out.load = (await c.loadCollection({ collection_name: name })).error_code
  const found = await c.search({ collection_name: name, data: [[1, 0, 0, 1]], limit: 3, output_fields: ['id', 'email', 'meta', 'tag'] })
  out.search = found.results.map(r => [Number(r.id), r.email, r.meta, r.tag, Math.round(r.score * 1000)])
  const q = await c.query({ collection_name: name, filter: 'id in [1, 2]', output_fields: ['id', 'email', 'vec'] })
  out.query = q.data.map(r => [Number(r.id), r.email, r.vec]).sort((a, b) => (a[0] as number) - (b[0] as number))
  out.deleteIds = Number((await c.delete({ collection_name: name, ids: [1] })).delete_cnt)
  out.deleteExpr = Number((await c.delete({ collection_name: name, filter: 'id >= 5' })).delete_cnt)
  out.left = (await c.query({ collection_name: name, filter: 'id >= 0', output_fields: ['id'] })).data.map(r => Number(r.id)).sort()
  out.describe = strip((await c.describeCollection({ collection_name: name })).schema?.fields.map(f => [f.name, f.data_type]))
  out.drop = (await c.dropCollection({ collection_name: name })).error_code
  out.exists = (await c.hasCollection({ collection_name: name })).value
  return out
}

t.test('the whole collection life through vecgate equals direct', async t => {
  const d = await life(direct, 'node_direct')
  const v = await life(via, 'node_gw')
  t.equal(d.create, 'Success')
  t.same(v, d)
  t.same(v.search, [[1, 'user1@example.com', { n: 1 }, 't1', 0], [2, 'user2@example.com', { n: 2 }, 't2', 1000], [3, 'user3@example.com', { n: 3 }, 't3', 4000]])
  t.same(v.left, [2, 3, 4])
})

t.test('analysts: search and query allowed; delete, drop and create refused with PERMISSION_DENIED', async t => {
  await life(via, 'warmup').catch(() => {})
  const name = 'node_ro'
  await via.createCollection({ collection_name: name, fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vec', data_type: DataType.FloatVector, dim: 4 }, { name: 'email', data_type: DataType.VarChar, max_length: 128 }] })
  await via.insert({ collection_name: name, data: rows.map(({ id, vec, email }) => ({ id, vec, email })) })
  await via.createIndex({ collection_name: name, field_name: 'vec', index_type: 'FLAT', metric_type: 'L2' })
  await via.loadCollection({ collection_name: name })
  const analyst = client(gw.address('milvus'), { token: analystToken })
  const found = await analyst.search({ collection_name: name, data: [[2, 0, 0, 1]], limit: 2, output_fields: ['id', 'email'] })
  t.equal(found.status.error_code, 'Success')
  t.same(found.results.map(r => Number(r.id)), [2, 1])
  await t.rejects(analyst.delete({ collection_name: name, filter: 'id >= 0' }), { code: 7, details: /no rule allows|denied/ }, 'delete by expression refused')
  await t.rejects(analyst.delete({ collection_name: name, ids: [1] }), { code: 7 }, 'delete by ids refused')
  await t.rejects(analyst.dropCollection({ collection_name: name }), { code: 7 }, 'drop refused')
  await t.rejects(analyst.createCollection({ collection_name: 'other', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vec', data_type: DataType.FloatVector, dim: 4 }] }), { code: 7 }, 'create refused')
  const count = await via.query({ collection_name: name, filter: 'id >= 0', output_fields: ['id'] })
  t.equal(count.data.length, 6, 'nothing was deleted')
})

t.test('tokens: a bad token is UNAUTHENTICATED; the server only ever sees the backend credentials', async t => {
  const bad = client(gw.address('milvus'), { token: 'not-a-token' })
  await t.rejects(bad.connectPromise, { code: 16 }, 'Connect with a bad token')
  await t.rejects(bad.hasCollection({ collection_name: 'node_ro' }), { code: 16 }, 'a call with a bad token')
  const userPass = client(gw.address('milvus'), { username: 'alice', password: analystToken })
  await userPass.connectPromise
  t.equal((await userPass.hasCollection({ collection_name: 'node_ro' })).value, true, 'user name with the token as password works too')
  const expected = Buffer.from('root:Milvus').toString('base64')
  const auths = tap.requests.map(h => h.filter(([n]) => n === 'authorization').map(([, v]) => v))
  t.ok(auths.length > 20, `${auths.length} requests reached the server`)
  t.ok(auths.every(a => a.length === 1 && a[0] === expected), 'exactly the backend credentials on every request')
  const all = JSON.stringify(tap.requests)
  for (const tok of [adminToken, analystToken]) {
    t.notOk(all.includes(tok.slice(-24)) || all.includes(Buffer.from(tok).toString('base64').slice(-24)), 'no client token upstream')
  }
})

t.test('the journal holds the sessions and who-saw finds the primary keys a search returned', async t => {
  await gw.gw.parts.journal.flush()
  const r = new JournalReader(gw.config.journal.path)
  t.teardown(() => r.close())
  const alice = r.sessions({ backend: 'milvus', user: 'alice' })
  t.ok(alice.length >= 1)
  const events = alice.flatMap(s => r.events(s.id))
  t.ok(events.some(e => e.kind === 'request' && /Search$/.test(e.body.op.method)))
  t.ok(events.some(e => e.kind === 'error' && e.body.data.code === 'VG_ERR_DENIED'))
  const aliceSaw = (id: string): boolean => r.whoSaw('milvus', 'node_ro', id).some(x => x.events.some(e => e.subject === 'alice'))
  t.ok(aliceSaw('2'), 'who-saw: alice received primary key 2')
  t.ok(aliceSaw('1'), 'who-saw: alice received primary key 1')
  t.notOk(aliceSaw('6'), 'alice never received 6')
  t.ok(r.whoSaw('milvus', 'node_ro', '6').some(x => x.events.some(e => e.subject === 'root-user')), 'root-user did (the count query)')
})
