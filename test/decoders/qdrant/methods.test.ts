import t from 'tap'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { QdrantService } from '../../../decoders/qdrant/service.js'
import { DROP, type Masker } from '../../../decoders/types.js'

const methods = qdrantMethods()
const { root } = qdrantSchema()
const md = { get: () => undefined, all: () => [] }
const op = (name: string, msg: Record<string, unknown>) => {
  const m = methods.get('/' + name)!
  return m.operation(Buffer.from(m.requestType.encode(m.requestType.fromObject(msg)).finish()), md, 'q')
}
const num = (n: number) => ({ num: n })

t.test('every RPC of the four services is classified', async t => {
  t.equal(methods.size, 30 + 14 + 6 + 1)
  for (const m of methods.values()) {
    const o = m.operation(Buffer.alloc(0), md, 'q')
    t.ok(['read', 'search', 'write', 'delete', 'admin'].includes(o.action), m.name)
  }
})

t.test('points by ids vs by filter', async t => {
  const byIds = op('qdrant.Points/Delete', { collection_name: 'docs', points: { points: { ids: [num(1), { uuid: '5c56c793-69f3-4fbf-87e6-c4bf54c28c26' }] } } })
  t.match(byIds, { action: 'delete', collection: 'docs', bulk: false, ids: [1, '5c56c793-69f3-4fbf-87e6-c4bf54c28c26'] })
  const byFilter = op('qdrant.Points/Delete', { collection_name: 'docs', points: { filter: { must: [{ field: { key: 'g', match: { keyword: 'a' } } }] } } })
  t.match(byFilter, { action: 'delete', bulk: true })
  t.ok(byFilter.filter)
  const empty = op('qdrant.Points/Delete', { collection_name: 'docs' })
  t.equal(empty.bulk, true, 'a delete naming nothing is treated as the widest')
  for (const name of ['SetPayload', 'OverwritePayload', 'DeletePayload', 'DeleteVectors']) {
    t.equal(op(`qdrant.Points/${name}`, { collection_name: 'd', points_selector: { filter: {} } }).bulk, true, `${name} by filter is bulk`)
    t.equal(op(`qdrant.Points/${name}`, { collection_name: 'd', points_selector: { points: { ids: [num(3)] } } }).bulk, false, `${name} by ids is targeted`)
  }
  t.equal(op('qdrant.Points/ClearPayload', { collection_name: 'd', points: { filter: {} } }).bulk, true)
})

t.test('search: limit, with_vectors, batches', async t => {
  t.match(op('qdrant.Points/Search', { collection_name: 'd', vector: [1, 2], limit: 10, with_vectors: { enable: true } }), { action: 'search', limit: 10, withVectors: true, summary: { vectorDims: 2 } })
  t.match(op('qdrant.Points/Query', { collection_name: 'd', limit: 5 }), { action: 'search', limit: 5, withVectors: false })
  t.match(op('qdrant.Points/SearchBatch', { collection_name: 'd', search_points: [{ limit: 3 }, { limit: 4, with_vectors: { enable: true } }] }), { limit: 7, withVectors: true })
  t.match(op('qdrant.Points/Scroll', { collection_name: 'd', limit: 100 }), { action: 'read', limit: 100 })
  t.match(op('qdrant.Points/Upsert', { collection_name: 'd', points: [{ id: num(7) }, { id: num(8) }] }), { action: 'write', ids: [7, 8], summary: { points: 2 } })
})

t.test('collections, aliases, snapshots', async t => {
  t.match(op('qdrant.Collections/Delete', { collection_name: 'd' }), { action: 'admin', bulk: true, collection: 'd' })
  t.match(op('qdrant.Collections/Create', { collection_name: 'd' }), { action: 'admin', bulk: false })
  t.match(op('qdrant.Collections/UpdateAliases', { actions: [{ create_alias: { collection_name: 'secret', alias_name: 'innocent' } }] }), { action: 'admin', bulk: true, collections: ['secret', 'innocent'] })
  t.match(op('qdrant.Snapshots/Create', { collection_name: 'd' }), { action: 'admin' })
  t.match(op('qdrant.Collections/List', {}), { action: 'read', collection: undefined })
})

t.test('UpdateBatch: the most dangerous operation decides', async t => {
  const o = op('qdrant.Points/UpdateBatch', {
    collection_name: 'd',
    operations: [{ upsert: { points: [{ id: num(1) }] } }, { delete_points: { points: { filter: {} } } }]
  })
  t.match(o, { action: 'delete', bulk: true })
})

t.test('malformed requests are refused, never passed', async t => {
  const m = methods.get('/qdrant.Points/Search')!
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + (i % 40) }, () => Math.floor(Math.random() * 256)))
    try { m.operation(junk, md, 'q') } catch (e) { t.equal((e as { code: string }).code, 'VG_ERR_MALFORMED'); continue }
  }
  t.pass('random bytes either decode or are VG_ERR_MALFORMED')
})

t.test('credentials: api-key or Bearer, never both', async t => {
  const s = new QdrantService()
  const mdOf = (h: Array<[string, string]>) => ({ get: (n: string) => h.find(x => x[0] === n)?.[1], all: (n: string) => h.filter(x => x[0] === n).map(x => x[1]) })
  t.equal(s.credential(mdOf([['api-key', 'A']])), 'A')
  t.equal(s.credential(mdOf([['authorization', 'Bearer B']])), 'B')
  t.equal(s.credential(mdOf([])), undefined)
  t.throws(() => s.credential(mdOf([['api-key', 'A'], ['authorization', 'Bearer B']])), { code: 'VG_ERR_UNAUTHENTICATED' })
  t.throws(() => s.credential(mdOf([['api-key', 'A'], ['api-key', 'B']])), { code: 'VG_ERR_UNAUTHENTICATED' })
  t.throws(() => s.credential(mdOf([['authorization', 'Basic xyz']])), { code: 'VG_ERR_UNAUTHENTICATED' })
})

t.test('result views: ids, counts, masking payloads and vectors, re-encode', async t => {
  const Resp = root.lookupType('qdrant.SearchResponse')
  const msg = Resp.fromObject({
    result: [
      { id: num(1), score: 0.9, payload: { email: { string_value: 'a@b.co' }, n: { integer_value: 3 }, nested: { struct_value: { fields: { phone: { string_value: '+1 555' } } } } }, vectors: { vector: { data: [0.123456, 0.5] } } },
      { id: { uuid: 'u-2' }, score: 0.5, payload: {} }
    ],
    time: 0.001
  })
  const bytes = Buffer.from(Resp.encode(msg).finish())
  const view = methods.get('/qdrant.Points/Search')!.resultView!(bytes)
  t.same(view.ids(), [1, 'u-2'])
  t.same(view.counts(), { records: 2, vectors: 1 })
  const masker: Masker = {
    name: 'm',
    vectors: 'drop',
    document (doc) { if ('email' in doc) { doc.email = '[redacted]'; return true } return false },
    scalar: (_p, v) => v,
    touches: () => true,
    vector: () => null
  }
  t.equal(view.mask(masker), true)
  const back = Resp.decode(view.encode()) as any
  t.equal(back.result[0].payload.email.string_value, '[redacted]')
  t.equal(back.result[0].payload.n.integer_value.toString(), '3')
  t.equal(back.result[0].vectors, null)
  t.same((view.toJSON() as any).points[0].payload, { email: '[redacted]', n: 3, nested: { phone: '+1 555' } })
  void DROP
})
