/**
 * Milvus results with varchar columns for the tests of the gated rows (results-gated-rows.test.ts):
 * rows of random text (invalid UTF-8 too, every length 0..300, planted values), under several
 * profiles, and each message's masked bytes. Run as a script, it prints the SHA-256 of each masked
 * message (or of the error it threw), for the test to compare a process without WebAssembly with one
 * with it.
 */
import { createHash } from 'node:crypto'
import type protobuf from 'protobufjs'
import { fileURLToPath } from 'node:url'
import { milvusMethods } from '../../../decoders/milvus/methods.js'
import type { Masker } from '../../../decoders/types.js'
import { compileMasking } from '../../../lib/mask/index.js'

const methods = milvusMethods()
export const search = methods.get('/milvus.proto.milvus.MilvusService/Search')!
export const query = methods.get('/milvus.proto.milvus.MilvusService/Query')!

export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => { a = (a * 1664525 + 1013904223) >>> 0; return a / 4294967296 }
}

const PIECES = [
  ...'0123456789 -.()+:@=_abcefyJskgxoAKSé€😀\t"\'/,;',
  'eyJ', 'sk', 'gh', '--', '4111 1111 1111 1111', '+44 20 7946 0958', '123-45-6789', '10.0.0.1', 'ann.lee@example.com', 'GB82WEST12345698765432',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'sk-proj-abcDEF123456ghiJKL789mno', 'password=hunter22', '2001:db8::1', 'https://docs.example.com:8443/x',
  '09:12:44', 'AB 12 34 56 C', 'doc-17', 'Installing the gateway behind a load balancer', '[redacted]', 'quiet words '
].map(p => Buffer.from(p))
const INVALID = [[0], [0x80], [0xff], [0xc3], [0xe2, 0x82], [0xf3, 0x6b]].map(b => Buffer.from(b))

/** a row's text; `invalid`: bytes that are not UTF-8 may be among it */
export function randomText (r: () => number, n: number, invalid: boolean): Buffer {
  const parts: Buffer[] = []
  let len = 0
  while (len < n) {
    const p = invalid && r() < 0.05 ? INVALID[Math.floor(r() * INVALID.length)] : PIECES[Math.floor(r() * PIECES.length)]
    parts.push(p)
    len += p.length
  }
  // cut at a character boundary unless invalid bytes are wanted
  let end = n
  if (!invalid) { while (end > 0 && end < len && (Buffer.concat(parts)[end] & 0xc0) === 0x80) end-- }
  return Buffer.concat(parts).subarray(0, end)
}

export const profiles = compileMasking({
  typical: { fields: ['email', 'customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' },
  every: { fields: ['email'], detectors: ['all'], action: 'redact', vectors: 'drop' },
  'every/null': { fields: [], detectors: ['all'], action: 'null', vectors: 'keep' },
  'every/drop': { fields: [], detectors: ['all'], action: 'drop', vectors: 'keep' },
  'every/hash': { fields: [], detectors: ['all'], action: 'hash', vectors: 'keep' },
  'every/partial': { fields: [], detectors: ['all'], action: 'partial', vectors: 'keep' },
  ids: { fields: [], detectors: ['ip', 'national_id', 'iban'], action: 'redact', vectors: 'keep' },
  paths: { fields: ['email'], detectors: [], action: 'redact', vectors: 'keep' }
}, { hashKey: Buffer.alloc(32, 7) })

const varint = (n: number): Buffer => {
  const out: number[] = []
  while (n >= 128) { out.push((n & 127) | 128); n >>>= 7 }
  out.push(n)
  return Buffer.from(out)
}
/** a LEN field, written by hand: protobufjs writes strings from JS strings, never bytes that are not UTF-8 */
const lenField = (id: number, body: Buffer): Buffer => Buffer.concat([varint(id * 8 + 2), varint(body.length), body])
const fieldId = (T: protobuf.Type, name: string): number => T.fields[name].id

/** FieldData { field_name, type VarChar, scalars { string_data { data… } } } with these rows */
export function varcharColumn (name: string, rows: Buffer[]): Buffer {
  return varcharColumnOf(name, Buffer.concat(rows.map(x => lenField(1, x))))
}

/** the FieldData of `varcharColumn` with `data` as the StringArray's content, rows or not */
export function varcharColumnOf (name: string, data: Buffer): Buffer {
  const FD = query.responseType.fields.fields_data.resolve().resolvedType as protobuf.Type
  const SF = FD.fields.scalars.resolve().resolvedType as protobuf.Type
  return Buffer.concat([lenField(fieldId(FD, 'field_name'), Buffer.from(name)), varint(fieldId(FD, 'type') * 8), varint(21),
    lenField(fieldId(FD, 'scalars'), lenField(fieldId(SF, 'string_data'), data))])
}

/**
 * A message whose fields_data are these FieldData bytes (after a quiet int64 column protobufjs
 * writes): SearchResults { results { …, fields_data… } } or QueryResults { …, fields_data… }
 */
export function withColumns (isSearch: boolean, rows: number, columns: Buffer[]): Buffer {
  const views = { field_name: 'views', type: 5, scalars: { long_data: { data: Array.from({ length: rows }, (_, i) => 1800 + i) } } }
  if (!isSearch) {
    const T = query.responseType
    const head = Buffer.from(T.encode(T.fromObject({ status: { code: 0 }, fields_data: [views] })).finish())
    return Buffer.concat([head, ...columns.map(c => lenField(fieldId(T, 'fields_data'), c))])
  }
  const T = search.responseType
  const R = T.fields.results.resolve().resolvedType as protobuf.Type
  const results = Buffer.concat([
    Buffer.from(R.encode(R.fromObject({ num_queries: 1, top_k: rows, topks: [rows], ids: { int_id: { data: Array.from({ length: rows }, (_, k) => k + 1) } }, fields_data: [views] })).finish()),
    ...columns.map(c => lenField(fieldId(R, 'fields_data'), c))
  ])
  return Buffer.concat([Buffer.from(T.encode(T.fromObject({ status: { code: 0 } })).finish()), lenField(fieldId(T, 'results'), results)])
}

/** a message of varchar columns of `rows` random rows each, of lengths `length()` */
export function message (r: () => number, isSearch: boolean, rows: number, invalid: boolean, length: () => number): Buffer {
  const names = ['title', 'doc_id', 'email', 'password', 'text'].filter(() => r() < 0.85)
  return withColumns(isSearch, rows, names.map(n => varcharColumn(n, Array.from({ length: rows }, () => randomText(r, length(), invalid)))))
}

/** the fixed messages the script and the test mask alike */
export function fixedMessages (): Array<{ isSearch: boolean, bytes: Buffer }> {
  const r = prng(20261201)
  const out: Array<{ isSearch: boolean, bytes: Buffer }> = []
  for (let i = 0; i < 24; i++) {
    const rows = 1 + Math.floor(r() * (i % 3 === 0 ? 200 : 12))
    out.push({ isSearch: i % 2 === 0, bytes: message(r, i % 2 === 0, rows, i % 4 < 2, () => Math.floor(r() * (r() < 0.8 ? 60 : 300))) })
  }
  return out
}

/** the masked bytes of a message (the same bytes when the mask changes nothing), or the error's code */
export function masked (isSearch: boolean, bytes: Buffer, m: Masker): Buffer | string {
  const v = (isSearch ? search : query).resultView!(bytes)
  try {
    return v.mask(m) ? v.encode() : bytes
  } catch (e) {
    return `error ${(e as { code?: string }).code ?? String(e)}`
  }
}

export function digests (): string[] {
  const out: string[] = []
  for (const [, m] of profiles) {
    for (const { isSearch, bytes } of fixedMessages()) {
      const x = masked(isSearch, bytes, m)
      out.push(typeof x === 'string' ? x : createHash('sha256').update(x).digest('hex'))
    }
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(JSON.stringify({ wasm: typeof WebAssembly !== 'undefined', digests: digests() }))
}
