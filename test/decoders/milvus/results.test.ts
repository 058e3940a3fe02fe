import t from 'tap'
import { DROP, type Masker } from '../../../decoders/types.js'
import { milvusMethods } from '../../../decoders/milvus/methods.js'

const methods = milvusMethods()
const search = methods.get('/milvus.proto.milvus.MilvusService/Search')!
const query = methods.get('/milvus.proto.milvus.MilvusService/Query')!

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))

function searchResults (): Buffer {
  const T = search.responseType
  return Buffer.from(T.encode(T.fromObject({
    status: { code: 0 },
    collection_name: 'c',
    results: {
      num_queries: 2,
      top_k: 2,
      topks: [2, 1],
      scores: [0.1, 0.2, 0.3],
      ids: { int_id: { data: [1, 2, 3] } },
      output_fields: ['email', 'age', 'meta', 'vec', 'tag'],
      fields_data: [
        { field_name: 'email', type: 21, scalars: { string_data: { data: ['a@x.io', 'b@x.io', 'c@x.io'] } } },
        { field_name: 'age', type: 5, scalars: { long_data: { data: [30, 40, 50] } } },
        { field_name: 'meta', type: 23, scalars: { json_data: { data: [json({ email: 'a@x.io', n: 1 }), json({ n: 2 }), json({ email: 'c@x.io' })] } } },
        { field_name: 'vec', type: 101, vectors: { dim: 2, float_vector: { data: [0.123, 0.456, 1.111, 2.222, 3.333, 4.444] } } },
        { field_name: '$meta', type: 23, is_dynamic: true, scalars: { json_data: { data: [json({ tag: 't1', phone: '555' }), json({ tag: 't2' }), json({})] } } }
      ]
    }
  })).finish())
}

/** a masker like a compiled profile: email and phone redacted anywhere, age hashed, vectors by mode */
function masker (vectors: Masker['vectors'], extra: Partial<Masker> = {}): Masker {
  const redactKeys = (doc: Record<string, unknown>): boolean => {
    let changed = false
    for (const k of Object.keys(doc)) {
      const v = doc[k]
      if (k === 'email' || k === 'phone') { doc[k] = '[redacted]'; changed = true } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) changed = redactKeys(v as Record<string, unknown>) || changed
    }
    return changed
  }
  return {
    name: 'pii',
    vectors,
    document: (doc) => redactKeys(doc),
    scalar: (path, v) => path === 'email' ? '[redacted]' : path === 'age' ? `h${String(v)}` : v,
    touches: (path) => path === 'email' || path === 'age',
    vector: (v) => vectors === 'drop' ? null : Array.from(v, x => Math.round(x * 10) / 10),
    ...extra
  }
}

t.test('search results: ids, counts, JSON view', async t => {
  const view = search.resultView!(searchResults())
  t.same(view.ids(), [1, 2, 3])
  t.same(view.counts(), { records: 3, vectors: 3 })
  const j = view.toJSON() as { topks: number[], hits: Array<Record<string, unknown>> }
  t.same(j.topks, [2, 1])
  t.same(j.hits[0], { id: 1, score: Math.fround(0.1), email: 'a@x.io', age: 30, meta: { email: 'a@x.io', n: 1 }, vec: { vector: 2 }, $meta: { tag: 't1', phone: '555' } })
})

t.test('unchanged results forward their own bytes', async t => {
  const bytes = searchResults()
  const view = search.resultView!(bytes)
  const keep: Masker = { ...masker('keep'), touches: () => false, document: () => false }
  t.equal(view.mask(keep), false)
  t.equal(view.encode(), bytes, 'the very same buffer')
})

t.test('masking a scalar column, a JSON field, the dynamic field; vectors dropped', async t => {
  const view = search.resultView!(searchResults())
  t.equal(view.mask(masker('drop')), true)
  const out = search.responseType.decode(view.encode()) as any
  const cols = Object.fromEntries(out.results.fields_data.map((f: any) => [f.field_name, f]))
  t.same(cols.email.scalars.string_data.data, ['[redacted]', '[redacted]', '[redacted]'], 'scalar column')
  t.equal(cols.age.type, 21, 'a hashed number column becomes VarChar')
  t.same(cols.age.scalars.string_data.data, ['h30', 'h40', 'h50'])
  t.notOk(cols.age.scalars.long_data, 'and carries no long data any more')
  t.same(cols.meta.scalars.json_data.data.map((b: Uint8Array) => JSON.parse(Buffer.from(b).toString())), [
    { email: '[redacted]', n: 1 }, { n: 2 }, { email: '[redacted]' }
  ], 'JSON field')
  t.same(cols.$meta.scalars.json_data.data.map((b: Uint8Array) => JSON.parse(Buffer.from(b).toString())), [
    { tag: 't1', phone: '[redacted]' }, { tag: 't2' }, {}
  ], 'dynamic field')
  t.notOk(cols.vec, 'vector column dropped')
  t.same(out.results.output_fields, ['email', 'age', 'meta', 'tag'], 'and named no more')
  t.same(out.results.ids.int_id.data.map(Number), [1, 2, 3], 'ids untouched')
  t.same(view.counts(), { records: 3, vectors: 0 })
})

t.test('vectors rounded per row by dim', async t => {
  const view = search.resultView!(searchResults())
  t.equal(view.mask({ ...masker('round'), touches: () => false, document: () => false }), true)
  const out = search.responseType.decode(view.encode()) as any
  const vec = out.results.fields_data.find((f: any) => f.field_name === 'vec')
  t.same(Array.from(vec.vectors.float_vector.data as number[], x => Math.round(x * 1000) / 1000), [0.1, 0.5, 1.1, 2.2, 3.3, 4.4])
})

t.test('a scalar masked to null marks the row invalid; DROP removes the column', async t => {
  let view = search.resultView!(searchResults())
  view.mask({ ...masker('keep'), scalar: (p, v) => p === 'email' ? (v === 'b@x.io' ? null : v) : v, touches: p => p === 'email', document: () => false })
  let out = search.responseType.decode(view.encode()) as any
  const email = out.results.fields_data.find((f: any) => f.field_name === 'email')
  t.same(email.valid_data, [true, false, true])
  t.same(email.scalars.string_data.data, ['a@x.io', '', 'c@x.io'])

  view = search.resultView!(searchResults())
  view.mask({ ...masker('keep'), scalar: (p, v) => p === 'email' ? DROP : v, touches: p => p === 'email', document: () => false })
  out = search.responseType.decode(view.encode()) as any
  t.notOk(out.results.fields_data.some((f: any) => f.field_name === 'email'))
  t.notOk(out.results.output_fields.includes('email'))
})

t.test('query results: ids from the primary key column', async t => {
  const T = query.responseType
  const bytes = Buffer.from(T.encode(T.fromObject({
    status: { code: 0 },
    primary_field_name: 'pk',
    output_fields: ['pk', 'email', 'vec'],
    fields_data: [
      { field_name: 'pk', type: 21, scalars: { string_data: { data: ['k1', 'k2'] } } },
      { field_name: 'email', type: 21, scalars: { string_data: { data: ['a@x.io', 'b@x.io'] } } },
      { field_name: 'vec', type: 101, vectors: { dim: 3, float_vector: { data: [1, 2, 3, 4, 5, 6] } } }
    ]
  })).finish())
  const view = query.resultView!(bytes)
  t.same(view.ids(), ['k1', 'k2'])
  t.same(view.counts(), { records: 2, vectors: 2 })
  t.same(view.toJSON(), { rows: [{ pk: 'k1', email: 'a@x.io', vec: { vector: 3 } }, { pk: 'k2', email: 'b@x.io', vec: { vector: 3 } }] })
  t.equal(view.mask(masker('drop')), true)
  const out = T.decode(view.encode()) as any
  t.same(out.fields_data.map((f: any) => f.field_name), ['pk', 'email'])
  t.same(out.fields_data[1].scalars.string_data.data, ['[redacted]', '[redacted]'])
})

t.test('a response that does not decode is malformed', async t => {
  const view = search.resultView!(Buffer.from([0x0a, 0xff, 0xff, 0xff]))
  t.throws(() => view.ids(), { code: 'VG_ERR_MALFORMED' })
})
