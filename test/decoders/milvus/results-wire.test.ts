/**
 * Milvus results are masked on the wire: columns the mask cannot change stay the bytes they came in,
 * the others are decoded alone, or masked row by row on their bytes (varchar, JSON text). The outcome
 * must be the decoded path's — the same message, columns, output_fields, ids and counts; a JSON row
 * the same JSON value (the decoded path writes it anew with JSON.stringify) — for random columns
 * (varchar with planted values, int64 with card numbers, declared and dynamic JSON, float vectors,
 * bools, nullable columns) under several profiles.
 */
import t from 'tap'
import { milvusMethods } from '../../../decoders/milvus/methods.js'
import type { Masker } from '../../../decoders/types.js'
import { compileMasking } from '../../../lib/mask/index.js'

const methods = milvusMethods()
const search = methods.get('/milvus.proto.milvus.MilvusService/Search')!
const query = methods.get('/milvus.proto.milvus.MilvusService/Query')!

let seed = 20261129
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
const SENSITIVE = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '123-45-6789', 'sk_live_abcdefghijklmnopqrstuvwx']
const PLAIN = ['[redacted]', 'guides', 'eu-west-1', 'Installing the gateway', 'v2.4.1', 'ünïcödé', '', 'b3f1c9e2a4d5']
const text = (): string => rand() < 0.25 ? `x ${pick(SENSITIVE)} y` : rand() < 0.15 ? pick(SENSITIVE) : pick(PLAIN)
const json = (): Buffer => Buffer.from(pick([
  () => JSON.stringify({ email: text(), n: 3, customer: { phone: text() }, tags: [text()] }),
  () => JSON.stringify({ title: text(), card: 4111111111111111 }),
  () => '{"a": "x\\u0040example.com"}',
  () => JSON.stringify(text())
])())

function columns (rows: number): unknown[] {
  const cols: unknown[] = [
    { field_name: 'title', type: 21, scalars: { string_data: { data: Array.from({ length: rows }, text) } } },
    { field_name: 'email', type: 21, scalars: { string_data: { data: Array.from({ length: rows }, text) } } },
    { field_name: 'n', type: 5, scalars: { long_data: { data: Array.from({ length: rows }, () => pick([1, 42, 4111111111111111, 2 ** 41])) } } },
    { field_name: 'ok', type: 1, scalars: { bool_data: { data: Array.from({ length: rows }, () => rand() < 0.5) } } },
    { field_name: 'meta', type: 23, scalars: { json_data: { data: Array.from({ length: rows }, json) } } },
    { field_name: '$meta', type: 23, is_dynamic: true, scalars: { json_data: { data: Array.from({ length: rows }, () => Buffer.from(JSON.stringify({ tag: text(), phone: text() }))) } } },
    { field_name: 'vec', type: 101, vectors: { dim: 2, float_vector: { data: Array.from({ length: rows * 2 }, () => rand() * 4 - 2) } } }
  ]
  if (rand() < 0.5) cols.push({ field_name: 'maybe', type: 21, valid_data: Array.from({ length: rows }, () => rand() < 0.7), scalars: { string_data: { data: Array.from({ length: rows }, text) } } })
  return cols.filter(() => rand() < 0.8)
}

const profiles = compileMasking({
  paths: { fields: ['email', 'meta.customer.phone'], detectors: [], action: 'redact', vectors: 'drop' },
  pii: { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'round' },
  every: { fields: [], detectors: ['all'], action: 'redact', vectors: 'keep' },
  hash: { fields: ['n'], detectors: ['email', 'credit_card'], action: 'hash', vectors: 'keep' },
  drop: { fields: ['title'], detectors: ['all'], action: 'drop', vectors: 'drop' },
  detect: { fields: [], detectors: ['email', 'phone'], action: 'null', vectors: 'keep' }
}, { hashKey: Buffer.alloc(32, 5) })

const decodedOnly = (m: Masker): Masker => ({
  name: m.name, vectors: m.vectors, document: (d, p) => m.document(d, p), scalar: (p, v) => m.scalar(p, v), touches: (p) => m.touches(p), vector: (v) => m.vector(v)
})

for (const [name, m] of profiles) {
  t.test(`profile ${name}: wire path = decoded path`, async t => {
    let changed = 0
    for (let i = 0; i < 50; i++) {
      const rows = 1 + Math.floor(rand() * 5)
      const isSearch = i % 2 === 0
      const method = isSearch ? search : query
      const T = method.responseType
      const cols = columns(rows) as Array<{ field_name: string }>
      const outputFields = cols.map(c => c.field_name)
      const obj = isSearch
        ? { status: { code: 0 }, results: { num_queries: 1, top_k: rows, topks: [rows], scores: Array.from({ length: rows }, (_, k) => k / 10), ids: { int_id: { data: Array.from({ length: rows }, (_, k) => k + 1) } }, output_fields: outputFields, fields_data: cols } }
        : { status: { code: 0 }, output_fields: outputFields, fields_data: cols, primary_field_name: 'n' }
      const bytes = Buffer.from(T.encode(T.fromObject(obj)).finish())
      const wire = method.resultView!(bytes)
      const dec = method.resultView!(bytes)
      const a = wire.mask(m)
      const b = dec.mask(decodedOnly(m))
      t.equal(a, b, `message ${i}: changed alike`)
      const wa = a ? wire.encode() : bytes
      const db = b ? dec.encode() : bytes
      if (a) changed++
      const plain = (x: Buffer): unknown => {
        const o = T.toObject(T.decode(x), { longs: String, bytes: String, defaults: false })
        for (const c of (o.results ?? o).fields_data ?? []) {
          const j = c.scalars?.json_data
          if (j !== undefined) j.data = j.data.map((b: string) => b === '' ? null : JSON.parse(Buffer.from(b, 'base64').toString('utf8')))
        }
        return o
      }
      t.same(plain(wa), plain(db), `message ${i}: same message`)
      t.same(wire.toJSON(), dec.toJSON(), `message ${i}: same journal view`)
      t.same(wire.ids(), dec.ids(), `message ${i}: same ids`)
      t.same(wire.counts(), dec.counts(), `message ${i}: same counts`)
      if (!a) t.equal(wa, bytes)
    }
    t.ok(changed > 0)
  })
}
