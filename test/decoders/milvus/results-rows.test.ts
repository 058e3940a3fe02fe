/**
 * Columns masked row by row on the wire (varchar, JSON) are written anew around the rows that
 * changed, with every length recomputed; the rest of the message keeps its bytes. Byte for byte:
 * for messages as protobufjs writes them (minimal varints, JSON rows as JSON.stringify writes them),
 * the wire path's bytes are the decoded path's re-encoding, under several profiles, for columns from
 * one row to hundreds (lengths that cross a varint byte), all rows or none changed, float vectors
 * rounded as they are copied; and around unknown fields and non-minimal lengths, which the wire path
 * keeps as they came.
 */
import t from 'tap'
import { milvusMethods } from '../../../decoders/milvus/methods.js'
import type { Masker } from '../../../decoders/types.js'
import { compileMasking } from '../../../lib/mask/index.js'

const methods = milvusMethods()
const search = methods.get('/milvus.proto.milvus.MilvusService/Search')!
const query = methods.get('/milvus.proto.milvus.MilvusService/Query')!

let seed = 20261130
const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296 }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
const SENSITIVE = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', '123-45-6789', 'password=hunter2xyz', 'ghp_' + 'a1B2c3D4e5'.repeat(4)]
const PLAIN = ['[redacted]', 'guides', 'eu-west-1', 'ünïcödé', '', 'b3f1c9e2a4d5', 'a'.repeat(130), 'b'.repeat(20000)]
const text = (): string => rand() < 0.3 ? `x ${pick(SENSITIVE)} y` : rand() < 0.2 ? pick(SENSITIVE) : pick(PLAIN)
const json = (): Buffer => Buffer.from(JSON.stringify(pick([
  () => ({ email: text(), n: 3, customer: { phone: text(), tier: 'gold' }, tags: [text()] }),
  () => ({ title: text(), long: 'c'.repeat(Math.floor(rand() * 300)) }),
  () => ({ password: text(), nested: { api_key: text(), note: text() } }),
  () => ({}),
  () => rand() < 0.2 ? [text()] : {} // not an object: the whole column is masked decoded, after rows cut on the wire before it
])()))

function columns (rows: number): unknown[] {
  const strings = (): unknown => ({ string_data: { data: Array.from({ length: rows }, text) } })
  return [
    { field_name: 'title', type: 21, scalars: strings() },
    { field_name: 'email', type: 21, scalars: strings() },
    { field_name: 'password', type: 21, scalars: strings() },
    { field_name: 'views', type: 5, scalars: { long_data: { data: Array.from({ length: rows }, (_, i) => 1800 + i) } } },
    { field_name: 'meta', type: 23, scalars: { json_data: { data: Array.from({ length: rows }, json) } } },
    { field_name: '$meta', type: 23, is_dynamic: true, scalars: { json_data: { data: Array.from({ length: rows }, () => Buffer.from(JSON.stringify({ tag: text(), phone: text(), client_secret: text() }))) } } },
    { field_name: 'vec', type: 101, vectors: { dim: 3, float_vector: { data: Array.from({ length: rows * 3 }, () => rand() * 4 - 2) } } }
  ].filter(() => rand() < 0.85)
}

const profiles = compileMasking({
  typical: { fields: ['email', 'customer.phone', 'meta.email', 'meta.customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' },
  every: { fields: ['email', 'meta.customer.phone'], detectors: ['all'], action: 'redact', vectors: 'drop' },
  paths: { fields: ['email', 'meta.customer.phone'], detectors: [], action: 'redact', vectors: 'keep' },
  hash: { fields: ['email'], detectors: ['email', 'phone'], action: 'hash', vectors: 'keep' },
  rounded: { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'round' },
  none: { fields: ['nothing.here'], detectors: [], action: 'redact', vectors: 'keep' },
  // every detector (api_key masks values under secret-sounding names whole) under each action
  'every/null': { fields: ['meta.email'], detectors: ['all'], action: 'null', vectors: 'keep' },
  'every/drop': { fields: ['meta.email'], detectors: ['all'], action: 'drop', vectors: 'keep' },
  'every/hash': { fields: ['meta.email'], detectors: ['all'], action: 'hash', vectors: 'keep' },
  'every/partial': { fields: ['meta.email'], detectors: ['all'], action: 'partial', vectors: 'keep' }
}, { hashKey: Buffer.alloc(32, 9) })

const decodedOnly = (m: Masker): Masker => ({
  name: m.name, vectors: m.vectors, document: (d, p) => m.document(d, p), scalar: (p, v) => m.scalar(p, v), touches: (p) => m.touches(p), vector: (v) => m.vector(v)
})

function message (isSearch: boolean, rows: number): Buffer {
  const T = (isSearch ? search : query).responseType
  const cols = columns(rows) as Array<{ field_name: string }>
  const outputFields = cols.map(c => c.field_name)
  const obj = isSearch
    ? { status: { code: 0 }, results: { num_queries: 1, top_k: rows, topks: [rows], scores: Array.from({ length: rows }, (_, k) => k / 10), ids: { int_id: { data: Array.from({ length: rows }, (_, k) => k + 1) } }, output_fields: outputFields, fields_data: cols } }
    : { status: { code: 0 }, output_fields: outputFields, fields_data: cols, primary_field_name: 'views' }
  return Buffer.from(T.encode(T.fromObject(obj)).finish())
}

for (const [name, m] of profiles) {
  t.test(`profile ${name}: the wire path's bytes are the decoded path's`, async t => {
    let changed = 0
    for (let i = 0; i < 40; i++) {
      const isSearch = i % 2 === 0
      const method = isSearch ? search : query
      const rows = i < 4 ? 1 : 1 + Math.floor(rand() * (rand() < 0.3 ? 300 : 8))
      const bytes = message(isSearch, rows)
      const wire = method.resultView!(bytes)
      const dec = method.resultView!(bytes)
      const a = wire.mask(m)
      const b = dec.mask(decodedOnly(m))
      t.equal(a, b, `message ${i}: changed alike`)
      if (a) changed++
      t.ok(wire.encode().equals(dec.encode()), `message ${i} (${rows} rows): the same bytes`)
    }
    if (name !== 'none') t.ok(changed > 0)
  })
}

/** protobuf pieces, written by hand where protobufjs would not write them so */
const varint = (n: number): number[] => { const out: number[] = []; while (n >= 128) { out.push((n & 127) | 128); n >>>= 7 } out.push(n); return out }
const len = (field: number, body: number[]): number[] => [...varint(field * 8 + 2), ...varint(body.length), ...body]
const str = (s: string): number[] => [...Buffer.from(s)]

t.test('a row-masked column keeps the bytes around its rows as they came: unknown fields, non-minimal lengths', async t => {
  const m = profiles.get('typical')!
  // QueryResults { fields_data (2) { field_name (2), unknown 100, scalars (3) { string_data (6) { data (1) … } } } }
  const row = (s: string): number[] => len(1, str(s))
  // a kept row whose length is written in two bytes (0x86 0x00: 6), as a writer may
  const oddRow = [0x0a, 0x86, 0x00, ...str('guides')]
  const data = [...row('ann@example.com'), ...oddRow, ...row('[redacted]'), ...row('bob@example.com')]
  const unknown = [...varint(100 * 8 + 0), 7]
  const field = [...len(2, str('email')), ...unknown, ...len(3, len(6, data)), ...unknown]
  const queryBytes = Buffer.from([...len(2, field), ...len(2, [...len(2, str('title')), ...len(3, len(6, row('plain')))])])

  const v = query.resultView!(queryBytes)
  t.equal(v.mask(m), true)
  // `email` is configured: every row but the redaction text becomes it, the one with a two-byte length too
  const want = [...row('[redacted]'), ...row('[redacted]'), ...row('[redacted]'), ...row('[redacted]')]
  const wantField = [...len(2, str('email')), ...unknown, ...len(3, len(6, want)), ...unknown]
  t.same([...v.encode()], [...len(2, wantField), ...len(2, [...len(2, str('title')), ...len(3, len(6, row('plain')))])])

  // a free column: the rows the detectors pass over keep their bytes, the non-minimal length too
  const free = [...len(2, str('title')), ...len(3, len(6, [...oddRow, ...row('mail ann@example.com'), ...oddRow]))]
  const w = query.resultView!(Buffer.from([...unknown, ...len(2, free), ...unknown]))
  t.equal(w.mask(m), true)
  const wantFree = [...len(2, str('title')), ...len(3, len(6, [...oddRow, ...row('mail [redacted:email]'), ...oddRow]))]
  t.same([...w.encode()], [...unknown, ...len(2, wantFree), ...unknown])
})

t.test('lengths that cross a varint byte as rows change size', async t => {
  const m = profiles.get('paths')!
  // 'email' rows of 1 byte (3 with tag and length) become '[redacted]' (12): the array, ScalarField and
  // FieldData lengths cross 128 and 16384 for n around 10 and 1365; 20000 changed rows are more than
  // the row lists keep between responses
  const around = (n: number): number[] => Array.from({ length: 9 }, (_, i) => n - 4 + i)
  for (const n of [1, ...around(10), 20000, ...around(1365)]) {
    const T = query.responseType
    const bytes = Buffer.from(T.encode(T.fromObject({ fields_data: [{ field_name: 'email', type: 21, scalars: { string_data: { data: Array.from({ length: n }, () => 'x') } } }] })).finish())
    const v = query.resultView!(bytes)
    t.equal(v.mask(m), true)
    const out = T.decode(v.encode()) as unknown as { fields_data: Array<{ scalars: { string_data: { data: string[] } } }> }
    t.same(out.fields_data[0].scalars.string_data.data, Array.from({ length: n }, () => '[redacted]'), `${n} rows`)
    const dec = query.resultView!(bytes)
    dec.mask(decodedOnly(m))
    t.ok(v.encode().equals(dec.encode()), `${n} rows: the decoded path's bytes`)
  }
})
