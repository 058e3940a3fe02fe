/**
 * The Qdrant test peer on its own, through a plain grpc-js client built from the same descriptors:
 * the store honours what the gateway tests compare (filters, scoring, selections, ids, named
 * vectors, every write and its batch form), and it authenticates like Qdrant (api-key, Bearer,
 * JWT with an `access` claim; health check open).
 */
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import * as loader from '@grpc/proto-loader'
import { SignJWT } from 'jose'
import { QdrantClient } from '@qdrant/js-client-grpc'
import { qdrantSchema } from '../../decoders/qdrant/schema.js'
import { startQdrantServer } from './qdrant-server.js'

type Pb = Record<string, any>
const KEY = 'peer-key'
const JWT_SECRET = 'peer-jwt-secret-at-least-32-bytes-long'

const def = loader.fromJSON(qdrantSchema().root.toJSON(), { keepCase: true, longs: Number, enums: Number, defaults: false, oneofs: true })
const pkg = grpc.loadPackageDefinition(def) as any

const peer = await startQdrantServer({ apiKey: KEY, jwtSecret: JWT_SECRET })
t.teardown(() => peer.close())

const stubs = {
  Points: new pkg.qdrant.Points(peer.address, grpc.credentials.createInsecure()),
  Collections: new pkg.qdrant.Collections(peer.address, grpc.credentials.createInsecure()),
  Snapshots: new pkg.qdrant.Snapshots(peer.address, grpc.credentials.createInsecure()),
  Qdrant: new pkg.qdrant.Qdrant(peer.address, grpc.credentials.createInsecure())
}
t.teardown(() => { for (const s of Object.values(stubs)) s.close() })

function meta (headers: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata()
  for (const [k, v] of Object.entries(headers)) md.set(k, v)
  return md
}
const keyed = { 'api-key': KEY }

function rpc (service: keyof typeof stubs, method: string, req: Pb, headers: Record<string, string> = keyed): Promise<Pb> {
  return new Promise((resolve, reject) => stubs[service][method](req, meta(headers), (e: Error | null, r: Pb) => e !== null ? reject(e) : resolve(r)))
}
const points = (method: string, req: Pb): Promise<Pb> => rpc('Points', method, req)

// ---------------------------------------------------------------- fixtures

const num = (n: number): Pb => ({ num: n })
const uuid = (u: string): Pb => ({ uuid: u })
const str = (s: string): Pb => ({ string_value: s })
const int = (n: number): Pb => ({ integer_value: n })
const list = (...v: Pb[]): Pb => ({ list_value: { values: v } })
const struct = (fields: Record<string, Pb>): Pb => ({ struct_value: { fields } })
const enable = { enable: true }
const field = (key: string, cond: Pb): Pb => ({ field: { key, ...cond } })
const keyword = (key: string, v: string): Pb => field(key, { match: { keyword: v } })
const ids = (r: Pb[]): Array<number | string> => r.map(p => p.id.num ?? p.id.uuid)
const U1 = '5c56c793-69f3-4fbf-87e6-c4bf54c28c26'

const COLORS = ['red', 'green', 'blue']
function fixture (i: number): Pb {
  return {
    id: num(i),
    vectors: { vector: { data: [i, 10 - i, 1] } },
    payload: {
      color: str(COLORS[i % 3]),
      n: int(i),
      tags: list(str(`t${i % 2}`), str('all')),
      text: str(`the quick ${i % 2 === 0 ? 'brown' : 'grey'} fox`),
      meta: struct({ owner: str(i < 5 ? 'ann' : 'bob'), level: int(i % 4) }),
      ...(i === 3 ? { gone: { null_value: 0 } } : {}),
      ...(i === 4 ? { items: list(struct({ k: str('a'), v: int(1) }), struct({ k: str('b'), v: int(2) })) } : {})
    }
  }
}

t.before(async () => {
  await rpc('Collections', 'Create', { collection_name: 'c', vectors_config: { params: { size: 3, distance: 3 /* Dot */ } } })
  await points('Upsert', { collection_name: 'c', wait: true, points: Array.from({ length: 10 }, (_, i) => fixture(i + 1)) })
})

// ---------------------------------------------------------------- tests

t.test('collections: create, exists, get, list, update, aliases, delete', async t => {
  await rpc('Collections', 'Create', { collection_name: 'tmp', vectors_config: { params_map: { map: { img: { size: 2, distance: 1 }, txt: { size: 2, distance: 2 } } } } })
  await t.rejects(rpc('Collections', 'Create', { collection_name: 'tmp', vectors_config: { params: { size: 2, distance: 1 } } }), { code: grpc.status.ALREADY_EXISTS })
  t.same((await rpc('Collections', 'CollectionExists', { collection_name: 'tmp' })).result, { exists: true })
  t.same((await rpc('Collections', 'CollectionExists', { collection_name: 'nope' })).result, { exists: false })
  const info = await rpc('Collections', 'Get', { collection_name: 'c' })
  t.equal(info.result.points_count, 10)
  t.equal(info.result.config.params.vectors_config.params.distance, 3)
  t.same((await rpc('Collections', 'List', {})).collections.map((c: Pb) => c.name).sort(), ['c', 'tmp'])
  t.equal((await rpc('Collections', 'Update', { collection_name: 'tmp' })).result, true)

  await rpc('Collections', 'UpdateAliases', { actions: [{ create_alias: { collection_name: 'tmp', alias_name: 'tmp_alias' } }] })
  t.same((await rpc('Collections', 'ListAliases', {})).aliases, [{ alias_name: 'tmp_alias', collection_name: 'tmp' }])
  await rpc('Collections', 'UpdateAliases', { actions: [{ rename_alias: { old_alias_name: 'tmp_alias', new_alias_name: 'renamed' } }] })
  t.same((await rpc('Collections', 'ListCollectionAliases', { collection_name: 'tmp' })).aliases, [{ alias_name: 'renamed', collection_name: 'tmp' }])
  t.equal((await rpc('Collections', 'Get', { collection_name: 'renamed' })).result.points_count, 0, 'an alias reads its collection')

  t.equal((await rpc('Collections', 'Delete', { collection_name: 'tmp' })).result, true)
  t.equal((await rpc('Collections', 'Delete', { collection_name: 'tmp' })).result, false, 'deleting again says false, as Qdrant does')
  t.same((await rpc('Collections', 'ListAliases', {})).aliases ?? [], [], 'aliases of a deleted collection go with it')
  await t.rejects(rpc('Collections', 'Get', { collection_name: 'tmp' }), { code: grpc.status.NOT_FOUND, details: /Collection `tmp` doesn't exist/ })
})

t.test('filters: must/should/must_not, match kinds, range, has_id, is_empty, is_null, nested keys', async t => {
  const count = async (filter: Pb): Promise<number> => (await points('Count', { collection_name: 'c', filter, exact: true })).result.count ?? 0
  t.equal(await count({ must: [keyword('color', 'red')] }), 3, 'keyword')
  t.equal(await count({ must: [field('n', { match: { integer: 7 } })] }), 1, 'integer')
  t.equal(await count({ must: [field('color', { match: { keywords: { strings: ['red', 'blue'] } } })] }), 6, 'any')
  t.equal(await count({ must: [field('color', { match: { except_keywords: { strings: ['red'] } } })] }), 7, 'except')
  t.equal(await count({ must: [field('n', { match: { integers: { integers: [1, 2, 99] } } })] }), 2, 'any integers')
  t.equal(await count({ must: [field('text', { match: { text: 'brown' } })] }), 5, 'text')
  t.equal(await count({ must: [field('tags', { match: { keyword: 't1' } })] }), 5, 'array values match each element')
  t.equal(await count({ must: [field('n', { range: { gte: 3, lt: 6 } })] }), 3, 'range')
  t.equal(await count({ must: [keyword('meta.owner', 'ann')] }), 4, 'dotted nested key')
  t.equal(await count({ should: [keyword('color', 'red'), keyword('color', 'green')] }), 7, 'should')
  t.equal(await count({ must_not: [keyword('color', 'red')] }), 7, 'must_not')
  t.equal(await count({ must: [keyword('color', 'red')], must_not: [field('n', { range: { gt: 5 } })] }), 1, 'must and must_not')
  t.equal(await count({ must: [{ has_id: { has_id: [num(1), num(2), num(42)] } }] }), 2, 'has_id')
  t.equal(await count({ must: [{ is_empty: { key: 'items' } }] }), 9, 'is_empty')
  t.equal(await count({ must: [{ is_null: { key: 'gone' } }] }), 1, 'is_null')
  t.equal(await count({ must: [{ filter: { should: [keyword('color', 'red'), keyword('color', 'blue')] } }] }), 6, 'inner filter')
  t.equal(await count({ must: [{ nested: { key: 'items', filter: { must: [keyword('k', 'b'), field('v', { match: { integer: 2 } })] } } }] }), 1, 'nested: one element matches both')
  t.equal(await count({ must: [{ nested: { key: 'items', filter: { must: [keyword('k', 'a'), field('v', { match: { integer: 2 } })] } } }] }), 0, 'nested: no element matches both')
  t.equal(await count({ must: [keyword('items[].k', 'b')] }), 1, 'array path with []')
})

t.test('search, batch, groups, recommend, query: scoring, order, limit/offset, selections', async t => {
  // Dot: score = i*1 + (10-i)*0 + 1*0 with the query [1, 0, 0]
  const s = await points('Search', { collection_name: 'c', vector: [1, 0, 0], limit: 3, with_payload: { include: { fields: ['color'] } } })
  t.same(ids(s.result), [10, 9, 8], 'dot: largest first')
  t.same(s.result.map((p: Pb) => p.score), [10, 9, 8])
  t.same(s.result[0].payload, { color: { string_value: 'green', kind: 'string_value' } }, 'with_payload include')
  t.notOk(s.result[0].vectors, 'no vectors unless asked')

  const o = await points('Search', { collection_name: 'c', vector: [1, 0, 0], limit: 2, offset: 2, filter: { must: [keyword('color', 'red')] }, with_payload: { exclude: { fields: ['text', 'tags', 'meta', 'n'] } }, with_vectors: enable })
  t.same(ids(o.result), [3], 'filter then offset')
  t.same(Object.keys(o.result[0].payload).sort(), ['color', 'gone'], 'with_payload exclude')
  t.same(o.result[0].vectors.vector.data, [3, 7, 1], 'with_vectors')

  const b = await points('SearchBatch', { collection_name: 'c', search_points: [{ vector: [1, 0, 0], limit: 1 }, { vector: [0, 1, 0], limit: 1 }] })
  t.same(b.result.map((r: Pb) => ids(r.result)), [[10], [1]], 'batch answers each search')

  const st = await points('Search', { collection_name: 'c', vector: [1, 0, 0], limit: 10, score_threshold: 8.5 })
  t.same(ids(st.result), [10, 9], 'score_threshold')

  const g = await points('SearchGroups', { collection_name: 'c', vector: [1, 0, 0], group_by: 'color', group_size: 2, limit: 2 })
  t.same(g.result.groups.map((x: Pb) => [x.id.string_value, ids(x.hits)]), [['green', [10, 7]], ['red', [9, 6]]], 'groups in score order')

  const r = await points('Recommend', { collection_name: 'c', positive: [num(10)], limit: 2 })
  t.same(ids(r.result), [9, 8], 'recommend leaves the examples out')

  const q = await points('Query', { collection_name: 'c', query: { nearest: { dense: { data: [0, 1, 0] } } }, limit: 2, with_payload: enable })
  t.same(ids(q.result), [1, 2])
  t.equal(q.result[0].payload.color.string_value, 'green')
  const qi = await points('Query', { collection_name: 'c', query: { nearest: { id: num(2) } }, limit: 1 })
  t.same(ids(qi.result), [1], 'query by a point id')
  const qb = await points('QueryBatch', { collection_name: 'c', query_points: [{ limit: 2 }, { query: { nearest: { dense: { data: [1, 0, 0] } } }, limit: 1 }] })
  t.same(qb.result.map((x: Pb) => ids(x.result)), [[1, 2], [10]], 'query without a vector lists by id')
})

t.test('distances: cosine and euclid, named vectors', async t => {
  await rpc('Collections', 'Create', { collection_name: 'named', vectors_config: { params_map: { map: { cos: { size: 2, distance: 1 }, l2: { size: 2, distance: 2 } } } } })
  await points('Upsert', {
    collection_name: 'named',
    wait: true,
    points: [
      { id: num(1), vectors: { vectors: { vectors: { cos: { data: [1, 0] }, l2: { data: [0, 0] } } } }, payload: {} },
      { id: uuid(U1), vectors: { vectors: { vectors: { cos: { data: [10, 10] }, l2: { data: [3, 4] } } } }, payload: {} }
    ]
  })
  const cos = await points('Search', { collection_name: 'named', vector_name: 'cos', vector: [1, 1], limit: 2 })
  t.same(ids(cos.result), [U1, 1], 'cosine ignores length; a uuid id comes back as uuid')
  t.ok(Math.abs(cos.result[0].score - 1) < 1e-6)
  t.ok(Math.abs(cos.result[1].score - Math.SQRT1_2) < 1e-6)
  const l2 = await points('Search', { collection_name: 'named', vector_name: 'l2', vector: [0, 0], limit: 2 })
  t.same(ids(l2.result), [1, U1], 'euclid: nearest first')
  t.same(l2.result.map((p: Pb) => p.score), [0, 5])
  await t.rejects(points('Search', { collection_name: 'named', vector_name: 'nope', vector: [0, 0], limit: 1 }), { code: grpc.status.INVALID_ARGUMENT })
  const got = await points('Get', { collection_name: 'named', ids: [uuid(U1)], with_vectors: { include: { names: ['l2'] } } })
  t.same(Object.keys(got.result[0].vectors.vectors.vectors), ['l2'], 'with_vectors include names')
  await points('DeleteVectors', { collection_name: 'named', points_selector: { points: { ids: [uuid(U1)] } }, vectors: { names: ['cos'] } })
  await points('UpdateVectors', { collection_name: 'named', points: [{ id: num(1), vectors: { vectors: { vectors: { l2: { data: [9, 9] } } } } }] })
  const after = await points('Get', { collection_name: 'named', ids: [num(1), uuid(U1)], with_vectors: enable })
  t.same(after.result.map((p: Pb) => Object.keys(p.vectors.vectors.vectors).sort()), [['cos', 'l2'], ['l2']])
  t.same(after.result[0].vectors.vectors.vectors.l2.data, [9, 9])
  await t.rejects(points('UpdateVectors', { collection_name: 'named', points: [{ id: num(99), vectors: { vector: { data: [1, 1] } } }] }), { code: grpc.status.NOT_FOUND })
})

t.test('scroll pages by id, get, facet', async t => {
  const p1 = await points('Scroll', { collection_name: 'c', limit: 4 })
  t.same(ids(p1.result), [1, 2, 3, 4])
  t.same(p1.next_page_offset, { num: 5, point_id_options: 'num' })
  const p2 = await points('Scroll', { collection_name: 'c', limit: 4, offset: p1.next_page_offset, filter: { must: [field('n', { range: { lte: 7 } })] } })
  t.same(ids(p2.result), [5, 6, 7])
  t.notOk(p2.next_page_offset, 'last page has no next offset')
  const g = await points('Get', { collection_name: 'c', ids: [num(2), num(77), num(1)], with_payload: { include: { fields: ['n'] } } })
  t.same(ids(g.result), [2, 1], 'missing ids are skipped, order kept')
  t.same(Object.keys(g.result[0].payload), ['n'])
  const f = await points('Facet', { collection_name: 'c', key: 'color', limit: 3 })
  t.same(f.hits.map((h: Pb) => [h.value.string_value, h.count]), [['green', 4], ['blue', 3], ['red', 3]], 'by count, then value')
  const fm = await points('Facet', { collection_name: 'c', key: 'color', filter: { must: [field('n', { range: { lte: 3 } })] } })
  t.same(fm.hits.map((h: Pb) => h.value.string_value), ['blue', 'green', 'red'], 'facet under a filter')
})

t.test('writes: payload ops, deletes by ids and by filter, field indexes, UpdateBatch', async t => {
  await rpc('Collections', 'Create', { collection_name: 'w', vectors_config: { params: { size: 3, distance: 3 } } })
  t.teardown(() => rpc('Collections', 'Delete', { collection_name: 'w' }))
  const up = await points('Upsert', { collection_name: 'w', wait: true, points: Array.from({ length: 6 }, (_, i) => fixture(i + 1)) })
  t.equal(up.result.status, 2, 'Completed')
  const payloadOf = async (n: number): Promise<Pb> => (await points('Get', { collection_name: 'w', ids: [num(n)], with_payload: enable })).result[0].payload ?? {}
  const sel = (...n: number[]): Pb => ({ points: { ids: n.map(num) } })

  await points('SetPayload', { collection_name: 'w', points_selector: sel(1), payload: { extra: str('x') } })
  t.same(Object.keys(await payloadOf(1)).sort(), ['color', 'extra', 'meta', 'n', 'tags', 'text'], 'set adds')
  await points('OverwritePayload', { collection_name: 'w', points_selector: sel(1), payload: { only: int(1) } })
  t.same(Object.keys(await payloadOf(1)), ['only'], 'overwrite replaces')
  await points('DeletePayload', { collection_name: 'w', points_selector: { filter: { must: [keyword('color', 'green')] } }, keys: ['text', 'tags'] })
  t.same(Object.keys(await payloadOf(4)).sort(), ['color', 'items', 'meta', 'n'], 'delete keys by filter')
  await points('ClearPayload', { collection_name: 'w', points: sel(2) })
  t.same(await payloadOf(2), {}, 'clear')

  await points('CreateFieldIndex', { collection_name: 'w', field_name: 'color', field_type: 0 })
  t.same(Object.keys((await rpc('Collections', 'Get', { collection_name: 'w' })).result.payload_schema), ['color'], 'index listed in payload_schema')
  await points('DeleteFieldIndex', { collection_name: 'w', field_name: 'color' })
  t.notOk((await rpc('Collections', 'Get', { collection_name: 'w' })).result.payload_schema, 'index dropped')

  await points('Delete', { collection_name: 'w', points: sel(1, 99) })
  await points('Delete', { collection_name: 'w', points: { filter: { must: [keyword('color', 'red')] } } })
  t.same(ids((await points('Scroll', { collection_name: 'w', limit: 10 })).result), [2, 4, 5], 'by ids, then by filter')

  const batch = await points('UpdateBatch', {
    collection_name: 'w',
    wait: true,
    operations: [
      { upsert: { points: [fixture(7)] } },
      { set_payload: { points_selector: sel(7), payload: { batch: str('yes') } } },
      { delete_payload: { points_selector: sel(7), keys: ['text'] } },
      { update_vectors: { points: [{ id: num(7), vectors: { vector: { data: [0, 0, 7] } } }] } },
      { delete_points: { points: sel(2) } },
      { clear_payload: { points: sel(4) } },
      { overwrite_payload: { points_selector: sel(5), payload: { five: int(5) } } }
    ]
  })
  t.equal(batch.result.length, 7, 'one result per operation')
  t.ok(batch.result.every((r: Pb) => r.status === 2))
  const all = await points('Scroll', { collection_name: 'w', limit: 10, with_payload: enable, with_vectors: enable })
  t.same(ids(all.result), [4, 5, 7])
  t.same(all.result.map((p: Pb) => Object.keys(p.payload ?? {}).sort()), [[], ['five'], ['batch', 'color', 'meta', 'n', 'tags']])
  t.same(all.result[2].vectors.vector.data, [0, 0, 7])
})

t.test('snapshots: create, list, delete; unknown names NOT_FOUND', async t => {
  const made = await rpc('Snapshots', 'Create', { collection_name: 'c' })
  t.match(made.snapshot_description.name, /^c-\d+-.+\.snapshot$/)
  t.same((await rpc('Snapshots', 'List', { collection_name: 'c' })).snapshot_descriptions.map((d: Pb) => d.name), [made.snapshot_description.name])
  await rpc('Snapshots', 'Delete', { collection_name: 'c', snapshot_name: made.snapshot_description.name })
  t.same((await rpc('Snapshots', 'List', { collection_name: 'c' })).snapshot_descriptions ?? [], [])
  await t.rejects(rpc('Snapshots', 'Delete', { collection_name: 'c', snapshot_name: 'nope.snapshot' }), { code: grpc.status.NOT_FOUND })
  await t.rejects(rpc('Snapshots', 'Create', { collection_name: 'nope' }), { code: grpc.status.NOT_FOUND })
  const full = await rpc('Snapshots', 'CreateFull', {})
  t.equal((await rpc('Snapshots', 'ListFull', {})).snapshot_descriptions.length, 1)
  await rpc('Snapshots', 'DeleteFull', { snapshot_name: full.snapshot_description.name })
})

t.test('authentication like Qdrant: api-key, Bearer, JWT access claims; health check open', async t => {
  const jwt = async (claims: Pb, secret = JWT_SECRET): Promise<string> => await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(secret))
  const count = (headers: Record<string, string>, collection = 'c'): Promise<Pb> => rpc('Points', 'Count', { collection_name: collection, exact: true }, headers)
  const upsert = (headers: Record<string, string>): Promise<Pb> => rpc('Points', 'Upsert', { collection_name: 'c', points: [fixture(1)] }, headers)

  await t.rejects(count({}), { code: grpc.status.UNAUTHENTICATED }, 'no key')
  await t.rejects(count({ 'api-key': 'wrong' }), { code: grpc.status.UNAUTHENTICATED }, 'wrong key')
  t.equal((await count({ authorization: `Bearer ${KEY}` })).result.count, 10, 'the key as a Bearer token')
  t.equal((await rpc('Qdrant', 'HealthCheck', {}, {})).version, '1.19.0', 'health check needs no key')

  const manage = await jwt({ access: 'm' })
  await upsert({ authorization: `Bearer ${manage}` })
  t.pass('JWT with manage access writes')
  const read = await jwt({ access: 'r' })
  t.equal((await count({ 'api-key': read })).result.count, 10, 'JWT read access reads (in api-key too)')
  await t.rejects(upsert({ authorization: `Bearer ${read}` }), { code: grpc.status.PERMISSION_DENIED }, 'but does not write')
  const scoped = await jwt({ access: [{ collection: 'c', access: 'rw' }] })
  await upsert({ authorization: `Bearer ${scoped}` })
  t.pass('collection rw writes points')
  await t.rejects(count({ authorization: `Bearer ${scoped}` }, 'named'), { code: grpc.status.PERMISSION_DENIED }, 'other collections refused')
  await t.rejects(rpc('Collections', 'Delete', { collection_name: 'c' }, { authorization: `Bearer ${scoped}` }), { code: grpc.status.PERMISSION_DENIED }, 'collection management needs manage access')
  t.ok((await rpc('Collections', 'List', {}, { authorization: `Bearer ${scoped}` })).collections.length > 0, 'listing allowed with a scoped token')
  await t.rejects(count({ authorization: `Bearer ${await jwt({ access: 'm' }, 'another-secret-that-is-also-long-enough')}` }), { code: grpc.status.UNAUTHENTICATED }, 'JWT under another secret')
  const expired = await new SignJWT({ access: 'm' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(JWT_SECRET))
  await t.rejects(count({ authorization: `Bearer ${expired}` }), { code: grpc.status.UNAUTHENTICATED }, 'expired JWT')
})

t.test('calls are recorded with their metadata; cancelled calls counted; delay per method', async t => {
  const before = peer.calls.length
  await rpc('Points', 'Count', { collection_name: 'c' }, { 'api-key': KEY, 'x-probe': 'p1' })
  t.same(peer.calls.slice(before).map(c => [c.method, c.metadata['x-probe'], c.metadata['api-key']]), [['Count', 'p1', KEY]])

  peer.delay.set('Count', 60_000)
  t.teardown(() => { peer.delay.delete('Count') })
  const cancelledBefore = peer.cancelled
  await new Promise<void>(resolve => {
    const call = stubs.Points.Count({ collection_name: 'c' }, meta(keyed), (e: grpc.ServiceError | null) => { t.equal(e?.code, grpc.status.CANCELLED); resolve() })
    // cancel once the server has the call (it records it on arrival)
    const seen = peer.calls.length
    const wait = setInterval(() => { if (peer.calls.length > seen) { clearInterval(wait); call.cancel() } }, 5)
  })
  while (peer.cancelled === cancelledBefore) await new Promise(resolve => setImmediate(resolve))
  t.equal(peer.cancelled, cancelledBefore + 1, 'the server saw the cancel')
})

t.test('the official JS client talks to the peer directly', async t => {
  const client = new QdrantClient({ host: '127.0.0.1', port: peer.port, apiKey: KEY, https: false, checkCompatibility: false })
  const r = await client.api('points').search({ collectionName: 'c', vector: [1, 0, 0], limit: 2n })
  t.same(r.result.map(p => p.id?.pointIdOptions.value), [10n, 9n])
  const h = await client.api('service').healthCheck({})
  t.equal(h.version, '1.19.0')
})
