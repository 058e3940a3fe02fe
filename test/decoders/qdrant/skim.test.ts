/**
 * Upsert and UpdateVectors are classified from their point ids alone, read off the wire without
 * decoding vectors and payloads: the Operation must equal the one a full decode gives, and bytes that
 * do not hold together are refused as malformed.
 */
import t from 'tap'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'

const root = qdrantSchema().root
const Upsert = root.lookupType('qdrant.UpsertPoints')
const Update = root.lookupType('qdrant.UpdatePointVectors')
const md = { get: () => undefined, all: () => [] }
const methods = qdrantMethods()

const points = Array.from({ length: 200 }, (_, i) => ({
  id: i % 3 === 0 ? { uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } : { num: i + 1 },
  vectors: { vector: { data: Array.from({ length: 64 }, (_, j) => Math.sin(i + j)) } },
  payload: { title: { string_value: `t${i}` }, nested: { struct_value: { fields: { a: { integer_value: i } } } } }
}))

t.test('Upsert: same Operation as a full decode, ids in order, collection and flags kept', async t => {
  const body = Buffer.from(Upsert.encode(Upsert.fromObject({ collection_name: 'docs', wait: true, points, ordering: { type: 1 } })).finish())
  const op = methods.get('/qdrant.Points/Upsert')!.operation(body, md, 'qdrant')
  t.equal(op.collection, 'docs')
  t.equal(op.action, 'write')
  t.equal(op.bulk, false)
  t.equal(op.ids?.length, 200)
  t.same(op.ids?.slice(0, 3), [`00000000-0000-4000-8000-${'0'.repeat(12)}`, 2, 3])
})

t.test('UpdateVectors: ids read the same way', async t => {
  const body = Buffer.from(Update.encode(Update.fromObject({ collection_name: 'docs', points: points.slice(0, 5).map(p => ({ id: p.id, vectors: p.vectors })) })).finish())
  const op = methods.get('/qdrant.Points/UpdateVectors')!.operation(body, md, 'qdrant')
  t.same(op.ids, [`00000000-0000-4000-8000-${'0'.repeat(12)}`, 2, 3, `00000000-0000-4000-8000-${'3'.padStart(12, '0')}`, 5])
})

t.test('truncated and lying bytes are malformed, never a partial Operation', async t => {
  const body = Buffer.from(Upsert.encode(Upsert.fromObject({ collection_name: 'docs', points: points.slice(0, 3) })).finish())
  const m = methods.get('/qdrant.Points/Upsert')!
  for (const cut of [body.length - 1, body.length - 50, 20, 7]) {
    t.throws(() => m.operation(body.subarray(0, cut), md, 'qdrant'), { code: 'VG_ERR_MALFORMED' }, `cut at ${cut}`)
  }
})
