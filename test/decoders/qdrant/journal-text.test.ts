/**
 * The journal's text of a Qdrant result is written from the wire bytes (QdrantResultView.journalText)
 * instead of decoding the message and stringifying `toJSON()`. Whatever it writes must be exactly what
 * the journal makes of `toJSON()` (the replacer's vector rule included); where it cannot say that, it
 * says nothing and the journal takes `toJSON`. Random responses (Search, SearchBatch, Get, Scroll),
 * masked and unmasked, then random byte mutations. Deterministic (seeded).
 */
import t from 'tap'
import { isUtf8 } from 'node:buffer'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'
import type { ResultView } from '../../../decoders/types.js'
import { Arena } from '../../../lib/journal/batch.js'
import { EventSerializer } from '../../../lib/journal/serialize.js'
import { compileMasking } from '../../../lib/mask/index.js'
import { pick, prng, type Rand } from '../../helpers/random.js'

const methods = qdrantMethods()
const KEYS = ['title', 'email', 'n', 'tags', 'meta', 'type', '7', '07', 'x y', 'ünï', '"q"', 'emb', '__proto__', 'constructor', '']
const STRINGS = ['guides', 'ann.lee@example.com', '', 'ünïcödé \u2028 "quoted" \\ \n\t', 'Buffer', '\u0000', '😀']
const NUMBERS = [0, -0, 1.5, -7, 2 ** 40, 2 ** 53 + 2, -(2 ** 60), 1e21, 5e-324, 0.1 + 0.2, Number.NaN, Number.POSITIVE_INFINITY]

function value (r: Rand, depth: number): Record<string, unknown> {
  const k = r()
  if (depth < 4 && k < 0.1) {
    const fields: Record<string, unknown> = {}
    for (let i = 0, n = Math.floor(r() * 4); i < n; i++) fields[pick(r, KEYS)] = value(r, depth + 1)
    return { struct_value: { fields } }
  }
  if (depth < 4 && k < 0.2) {
    const numeric = r() < 0.5
    const n = pick(r, [0, 1, 7, 8, 9, 12])
    return { list_value: { values: Array.from({ length: n }, (_, i) => numeric && (i === 0 || i === n - 1 || r() < 0.8) ? number(r) : value(r, depth + 1)) } }
  }
  if (k < 0.45) return { string_value: pick(r, STRINGS) }
  if (k < 0.7) return number(r)
  if (k < 0.8) return { bool_value: r() < 0.5 }
  if (k < 0.9) return { null_value: 0 }
  return {}
}

function number (r: Rand): Record<string, unknown> {
  const x = pick(r, NUMBERS)
  if (r() < 0.5 && Number.isInteger(x)) return { integer_value: Number.isSafeInteger(x) ? x : BigInt(x).toString() }
  return { double_value: x }
}

function point (r: Rand, i: number, scored: boolean): Record<string, unknown> {
  const payload: Record<string, unknown> = {}
  for (let j = 0, n = Math.floor(r() * 8); j < n; j++) payload[pick(r, KEYS)] = value(r, 0)
  const id = r() < 0.3 ? { uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } : { num: pick(r, [i + 1, 0, 2 ** 53 + 1, '18446744073709551615']) }
  const p: Record<string, unknown> = { id, payload }
  if (scored) { p.score = pick(r, [1 - i / 100, 0, 0.8731, -1.25]); p.version = 3 }
  const vec = (): number[] => Array.from({ length: pick(r, [0, 1, 4, 8, 12]) }, () => pick(r, [0.5, -1.25, 3.4028234663852886e38, 1e-40, 0.1, Number.NaN]))
  const k = r()
  if (k < 0.1) p.vectors = { vector: { data: vec() } }
  else if (k < 0.2) p.vectors = { vector: { dense: { data: vec() } } }
  else if (k < 0.25) p.vectors = { vector: { data: vec(), dense: { data: vec() } } }
  else if (k < 0.28) p.vectors = { vector: { multi_dense: { vectors: [{ data: vec() }] } } }
  else if (k < 0.3) p.vectors = { vectors: { vectors: { a: { dense: { data: vec() } } } } }
  else if (k < 0.32) p.vectors = {}
  return p
}

const CASES: Array<[string, (r: Rand) => Record<string, unknown>]> = [
  ['/qdrant.Points/Search', r => ({ result: Array.from({ length: Math.floor(r() * 6) }, (_, i) => point(r, i, true)), time: 0.001 })],
  ['/qdrant.Points/SearchBatch', r => ({ result: Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ result: Array.from({ length: Math.floor(r() * 4) }, (_, i) => point(r, i, true)) })) })],
  ['/qdrant.Points/Get', r => ({ result: Array.from({ length: Math.floor(r() * 5) }, (_, i) => point(r, i, false)) })],
  ['/qdrant.Points/Scroll', r => ({ result: Array.from({ length: Math.floor(r() * 5) }, (_, i) => point(r, i, false)), next_page_offset: { num: 9 } })]
]

const masker = compileMasking({ m: { fields: ['email'], detectors: ['email'], action: 'redact', vectors: 'drop' } }, { hashKey: Buffer.alloc(32, 1) }).get('m')!

/**
 * The result's text as the view writes it into the journal's arena — after bytes already there, into
 * an arena small enough to grow under it — decoded; undefined when it writes nothing. The bytes are
 * UTF-8 (what is not, the view stores as its string's U+FFFD), so their string says them exactly.
 */
function wireText (t: Tap.Test, view: ResultView, storeVectors: boolean): string | undefined {
  const out = new Arena(8)
  out.string('{"ü":')
  const start = out.pos
  if (!view.journalText!(storeVectors, out)) return undefined
  const bytes = out.buf.subarray(start, out.pos)
  if (!isUtf8(bytes)) t.fail(`not UTF-8: ${Buffer.from(bytes).toString('hex')}`)
  if (out.buf.toString('utf8', 0, start) !== '{"ü":') t.fail('what was in the arena before is kept')
  return bytes.toString('utf8')
}

/** the result's text as the journal stores it from `toJSON()`; undefined when that throws */
function fromToJSON (s: EventSerializer, view: ResultView): string | undefined {
  let plain: unknown
  try { plain = view.toJSON() } catch { return undefined }
  return JSON.stringify((JSON.parse(s.body({ session: 's', at: 1, kind: 'response', call: 1, data: { result: plain } } as never)) as { data: { result: unknown } }).data.result)
}

for (const storeVectors of [false, true]) {
  const s = new EventSerializer(storeVectors)
  t.test(`random responses, store_vectors ${String(storeVectors)}: the wire text is the toJSON text, or nothing`, async t => {
    const r = prng(storeVectors ? 11 : 7)
    let written = 0
    let total = 0
    for (let m = 0; m < 1500; m++) {
      const [path, make] = CASES[m % CASES.length]
      const method = methods.get(path)!
      const T = method.responseType!
      const bytes = Buffer.from(T.encode(T.fromObject(make(r))).finish())
      const view = method.resultView!(bytes)
      if (m % 3 === 0) view.mask(masker)
      const text = wireText(t, view, storeVectors)
      total++
      if (text === undefined) continue
      written++
      const expected = fromToJSON(s, view)
      if (text !== expected) { t.equal(text, expected, `message ${m} (${path})`); return }
    }
    t.ok(written > total / 3, `most results written from the wire (${written} of ${total})`)
  })

  t.test(`mutated bytes, store_vectors ${String(storeVectors)}: where both read the message, they agree`, async t => {
    const r = prng(storeVectors ? 5 : 3)
    let compared = 0
    for (let m = 0; m < 3000; m++) {
      const [path, make] = CASES[m % CASES.length]
      const method = methods.get(path)!
      const T = method.responseType!
      const bytes = Buffer.from(T.encode(T.fromObject(make(r))).finish())
      if (bytes.length === 0) continue
      for (let k = 0, n = 1 + Math.floor(r() * 3); k < n; k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256)
      const view = method.resultView!(bytes)
      let text: string | undefined
      try { text = wireText(t, view, storeVectors) } catch (e) { t.fail(`journalText threw: ${String(e)}`); return }
      if (text === undefined) continue
      const expected = fromToJSON(s, view)
      if (expected === undefined) continue
      compared++
      if (text !== expected) { t.equal(text, expected, `mutated message ${m} (${path}): ${bytes.toString('hex')}`); return }
    }
    t.ok(compared > 100, `compared ${compared} mutated messages`)
  })
}

t.test('the journal body carries the wire text as data.result, with the rest of the event as before', async t => {
  const method = methods.get('/qdrant.Points/Search')!
  const T = method.responseType!
  const bytes = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 4 }, score: 0.5, payload: { email: { string_value: 'ann.lee@example.com' }, n: { integer_value: 3 } } }] })).finish())
  const view = method.resultView!(bytes)
  t.ok(view.mask(masker))
  const s = new EventSerializer(false)
  const event = { session: 's', at: 1, kind: 'response', call: 1, ids: [4], data: { status: 0, result: view } }
  const body = JSON.parse(s.body(event as never)) as Record<string, any>
  t.same(body.ids, [4])
  t.equal(body.data.status, 0)
  t.same(body.data.result, { points: [{ id: 4, score: 0.5, payload: { email: '[redacted]', n: 3 } }] })
  const empty = JSON.parse(s.body({ session: 's', at: 1, kind: 'response', call: 1, data: { result: method.resultView!(Buffer.alloc(0)) } } as never)) as Record<string, any>
  t.same(empty.data, { result: { points: [] } })
})

t.test('strings and keys that are not UTF-8, and keys that decode alike, come out as toJSON has them', async t => {
  const method = methods.get('/qdrant.Points/Search')!
  const T = method.responseType!
  const s = new EventSerializer(false)
  const odd = [[0xe2, 0x82], [0xff], [0xc3], [0xe2, 0x0a], [0x80, 0x80, 0x41], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0x22, 0x5c, 0x1f, 0x7f]]
  for (const bytes of odd) {
    for (const where of ['value', 'key'] as const) {
      const marker = 'MARKERXYZ'.slice(0, bytes.length)
      const obj = where === 'value'
        ? { result: [{ id: { num: 1 }, payload: { a: { string_value: `x${marker}y` } } }] }
        : { result: [{ id: { num: 1 }, payload: { [`k${marker}`]: { bool_value: true }, k: { null_value: 0 } } }] }
      const msg = Buffer.from(T.encode(T.fromObject(obj)).finish())
      const at = msg.indexOf(marker)
      Buffer.from(bytes).copy(msg, at)
      const view = method.resultView!(msg)
      t.equal(wireText(t, view, false), fromToJSON(s, view), `${where} with ${Buffer.from(bytes).toString('hex')}`)
    }
  }
  // two keys whose bytes differ but decode to the same text (U+FFFD): an object keeps one of them
  const msg = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 1 }, payload: { kA: { bool_value: true }, kB: { bool_value: false } } }] })).finish())
  msg[msg.indexOf('kA') + 1] = 0xff
  msg[msg.indexOf('kB') + 1] = 0xfe
  const view = method.resultView!(msg)
  const text = wireText(t, view, false)
  t.ok(text === undefined || text === fromToJSON(s, view), 'merged keys are not written twice')
})

t.test('long strings, with a byte to escape anywhere (read four bytes at a time), come out as toJSON has them', async t => {
  const method = methods.get('/qdrant.Points/Search')!
  const T = method.responseType!
  const s = new EventSerializer(false)
  const r = prng(17)
  let compared = 0
  for (const special of [0x00, 0x0a, 0x1f, 0x22, 0x5c, 0x20, 0x21, 0x7f, 0x80, 0xe9, 0xff]) {
    for (let len = 16; len <= 41; len += 5) {
      for (let at = 0; at < len; at += 3) {
        // the message at a random offset of its buffer: the 4-byte words start anywhere in the text
        const bytes = Buffer.alloc(len, 0x61)
        for (let i = 0; i < len; i++) if (r() < 0.2) bytes[i] = pick(r, [0x41, 0x7e, 0xc3, 0xa9, 0x30])
        bytes[at] = special
        const marker = 'M'.repeat(len)
        const msg = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 1 }, payload: { text: { string_value: marker } } }] })).finish())
        bytes.copy(msg, msg.indexOf(marker))
        const pad = Math.floor(r() * 4)
        const whole = Buffer.alloc(msg.length + pad)
        msg.copy(whole, pad)
        const view = method.resultView!(whole.subarray(pad))
        const text = wireText(t, view, false)
        const expected = fromToJSON(s, view)
        compared++
        if (text !== expected) { t.equal(text, expected, `${bytes.toString('hex')} at offset ${pad}`); return }
      }
    }
  }
  t.ok(compared > 300, `compared ${compared} strings`)
})
