/**
 * Qdrant results are masked on the wire (values the mask cannot change are never decoded). The
 * outcome must be the one the decoded path gives — the same payloads, vectors, ids and counts — for
 * random payloads with sensitive values planted in strings, nested objects, lists, keys and numbers,
 * under profiles with paths, wildcards, every detector and every action. Deterministic (seeded).
 */
import t from 'tap'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'
import { valueToJs } from '../../../decoders/qdrant/results.js'
import type { Masker } from '../../../decoders/types.js'
import type { MaskProfileConfig } from '../../../lib/config/types.js'
import { compileMasking } from '../../../lib/mask/index.js'
import { pick, prng, type Rand } from '../../helpers/random.js'

const methods = qdrantMethods()
const search = methods.get('/qdrant.Points/Search')!
const batch = methods.get('/qdrant.Points/SearchBatch')!

const SENSITIVE = ['ann.lee@example.com', '+44 20 7946 0958', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00',
  '123-45-6789', '10.1.2.3', 'sk_live_abcdefghijklmnopqrstuvwx', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl', 'password=hunter2xyz']
const PLAIN = ['[redacted]', 'guides', 'eu-west-1', 'Installing the gateway behind a load balancer', 'v2.4.1', '2024-03-18T09:12:44Z',
  'https://docs.example.com/a#b', 'ünïcödé tëxt', '', 'x', 'section 4.2, revision 2024-03-18, scored 0.8731']
const KEYS = ['title', 'email', 'customer', 'phone', 'tags', 'meta', 'password', 'api_key', 'n', 'ann.lee@example.com', 'deep', 'note', 'client_secret']

function value (r: Rand, depth: number): unknown {
  const k = r()
  if (depth < 4 && k < 0.12) return Object.fromEntries(Array.from({ length: 1 + Math.floor(r() * 4) }, () => [pick(r, KEYS), value(r, depth + 1)]))
  if (depth < 4 && k < 0.22) return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1))
  if (k < 0.34) return pick(r, SENSITIVE)
  if (k < 0.40) return `text with ${pick(r, SENSITIVE)} inside`
  if (k < 0.62) return pick(r, PLAIN)
  if (k < 0.68) return pick(r, [4111111111111111, 4242424242424242, 12, -7, 2 ** 40, 1.5, 0])
  if (k < 0.73) return r() < 0.5
  if (k < 0.78) return null
  return pick(r, PLAIN) + ' ' + pick(r, PLAIN)
}

function toValue (x: unknown): unknown {
  if (x === null) return { null_value: 0 }
  if (typeof x === 'string') return { string_value: x }
  if (typeof x === 'boolean') return { bool_value: x }
  if (typeof x === 'number') return Number.isInteger(x) ? { integer_value: x } : { double_value: x }
  if (Array.isArray(x)) return { list_value: { values: x.map(toValue) } }
  return { struct_value: { fields: Object.fromEntries(Object.entries(x as object).map(([k, v]) => [k, toValue(v)])) } }
}

function point (r: Rand, i: number): Record<string, unknown> {
  const payload: Record<string, unknown> = {}
  for (let j = 0, n = Math.floor(r() * 7); j < n; j++) payload[pick(r, KEYS)] = toValue(value(r, 0))
  const p: Record<string, unknown> = { id: i % 4 === 0 ? { uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } : { num: i + 1 }, score: 1 - i / 100, version: 1, payload }
  const vec = (): number[] => [0.1234567, -2.5, 3.75, r() * 10 - 5]
  const k = r()
  if (k < 0.15) p.vectors = { vector: { data: vec() } }
  else if (k < 0.25) p.vectors = { vector: { dense: { data: vec() } } }
  else if (k < 0.3) p.vectors = { vector: { multi_dense: { vectors: [{ data: vec() }, { data: vec() }] } } }
  else if (k < 0.35) p.vectors = { vectors: { vectors: { a: { dense: { data: vec() } }, b: { data: vec() }, s: { sparse: { indices: [1, 5], values: [0.5, 0.25] } } } } }
  return p
}

const PROFILES: Record<string, MaskProfileConfig> = {
  paths: { fields: ['email', 'customer.phone', 'meta.*.note'], detectors: [], action: 'redact', vectors: 'drop' },
  pii: { fields: ['email'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'round' },
  every: { fields: ['customer'], detectors: ['all'], action: 'redact', vectors: 'drop' },
  hash: { fields: ['tags'], detectors: ['all'], action: 'hash', vectors: 'keep' },
  partial: { fields: ['deep.n'], detectors: ['all'], action: 'partial', vectors: 'keep' },
  null: { fields: ['*.phone'], detectors: ['all'], action: 'null', vectors: 'drop' },
  drop: { fields: ['email', 'title'], detectors: ['all'], action: 'drop', vectors: 'round' },
  detectors: { fields: [], detectors: ['email', 'secrets'], action: 'redact', vectors: 'keep' }
}
const compiled = compileMasking(PROFILES, { hashKey: Buffer.alloc(32, 7) })

/** the same profile without its wire checks: the decoded path */
const decodedOnly = (m: Masker): Masker => ({
  name: m.name,
  vectors: m.vectors,
  document: (d, p) => m.document(d, p),
  scalar: (p, v) => m.scalar(p, v),
  touches: (p) => m.touches(p),
  vector: (v) => m.vector(v)
})

const payloads = (type: typeof search.responseType, b: Buffer): unknown => {
  const msg = type.toObject(type.decode(b), { longs: String, defaults: false }) as any
  const pts = (msg.result ?? []).flatMap((x: any) => x.result !== undefined ? x.result : [x])
  return pts.map((p: any) => ({
    id: p.id,
    payload: Object.fromEntries(Object.entries(p.payload ?? {}).map(([k, v]) => [k, valueToJs(v as any)])),
    vectors: p.vectors ?? null
  }))
}

const SEED = Number(process.env.MASK_FUZZ_SEED ?? 20261129)
for (const [name, masker] of compiled) {
  t.test(`profile ${name}: wire path = decoded path (seed ${SEED})`, async t => {
    const r = prng(SEED + name.length)
    let differ = 0
    let changedMessages = 0
    for (let m = 0; m < 60; m++) {
      const single = m % 3 !== 0
      const method = single ? search : batch
      const T = method.responseType
      const pts = Array.from({ length: 1 + Math.floor(r() * 6) }, (_, i) => point(r, i))
      const obj = single ? { result: pts, time: 0.001 } : { result: [{ result: pts.slice(0, 2) }, { result: pts.slice(2) }], time: 0.001 }
      const bytes = Buffer.from(T.encode(T.fromObject(obj)).finish())
      const wire = method.resultView!(bytes)
      const dec = method.resultView!(bytes)
      const a = wire.mask(masker)
      const b = dec.mask(decodedOnly(masker))
      const wa = a ? wire.encode() : bytes
      const db = b ? dec.encode() : bytes
      if (a) changedMessages++
      if (a !== b) { differ++; t.fail(`message ${m}: changed ${String(a)} on the wire, ${String(b)} decoded`); continue }
      t.same(payloads(T, wa), payloads(T, db), `message ${m}: same points`)
      t.same(wire.ids(), dec.ids(), `message ${m}: same ids`)
      t.same(wire.counts(), dec.counts(), `message ${m}: same counts`)
      t.same(wire.toJSON(), dec.toJSON(), `message ${m}: same journal view`)
      if (!a) t.equal(wa, bytes, 'unchanged messages go out as they came')
      // protobufjs wrote the message: the wire path's edits give the very bytes the decoded path's
      // encode gives (entries, structs, points and lengths rewritten as protobufjs writes them)
      else if (!wa.equals(db)) t.fail(`message ${m}: the wire path's bytes differ from the decoded path's`)
    }
    t.equal(differ, 0)
    t.ok(changedMessages > 0, 'the profile changed something')
  })
}

t.test('a planted value never passes the wire path', async t => {
  const every = compiled.get('detectors')!
  const T = search.responseType
  for (const s of SENSITIVE.filter(x => /@|sk_live|eyJ/.test(x))) {
    const bytes = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 1 }, payload: { a: toValue({ b: [s, { c: `x ${s} y` }] }), [s]: toValue(1) } }] })).finish())
    const v = search.resultView!(bytes)
    t.equal(v.mask(every), true)
    t.notOk(v.encode().includes(s), `${s} masked`)
  }
})

t.test('bytes that do not hold together are refused, never passed on', async t => {
  const masker = compiled.get('pii')!
  const T = search.responseType
  const bytes = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 1 }, payload: { email: toValue('a@b.example') } }] })).finish())
  for (let cut = 1; cut < bytes.length; cut++) {
    const v = search.resultView!(bytes.subarray(0, cut))
    let out: Buffer | undefined
    try { if (v.mask(masker)) out = v.encode() } catch { continue }
    t.notOk(out?.includes('a@b.example') ?? bytes.subarray(0, cut).includes('a@b.example'), `cut at ${cut}: the address does not pass`)
  }
})

t.test('packed float vectors (as Qdrant itself writes them) are rounded on the wire as decoded', async t => {
  const masker = compiled.get('pii')!
  const T = search.responseType
  const P = T.fields.result.resolvedType as typeof T
  const field = (n: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([n * 8 + 2]), varint(content.length), content])
  const varint = (n: number): Buffer => { const out: number[] = []; while (n >= 128) { out.push((n & 127) | 128); n >>>= 7 } out.push(n); return Buffer.from(out) }
  const floats = (n: number, k: number): Buffer => { const b = Buffer.alloc(4 * n); for (let i = 0; i < n; i++) b.writeFloatLE(Math.sin(k + i), 4 * i); return b }
  // VectorsOutput { vector = 1: VectorOutput { data = 1 packed } }, and named { vectors = 2: { map entry { key, value: { dense = 101 { data = 1 } } } } }
  const one = field(1, field(1, floats(300, 1)))
  const dense = Buffer.concat([Buffer.from([0xaa, 0x06]), varint(1200 + 3), field(1, floats(300, 2))]) // field 101: tag 0x32a (varint aa 06)
  const named = field(2, field(1, Buffer.concat([field(1, Buffer.from('a')), field(2, dense)])))
  for (const vectors of [one, named]) {
    const base = Buffer.from(P.encode(P.fromObject({ id: { num: 1 }, score: 0.5, payload: { email: toValue('a@b.example') } })).finish())
    const pt = Buffer.concat([base, field(P.fields.vectors.id, vectors)])
    const bytes = field(T.fields.result.id, pt)
    const wire = search.resultView!(bytes)
    const dec = search.resultView!(bytes)
    t.equal(wire.mask(masker), true)
    t.equal(dec.mask(decodedOnly(masker)), true)
    t.same(payloads(T, wire.encode()), payloads(T, dec.encode()))
    t.notSame(payloads(T, wire.encode()), payloads(T, bytes), 'the vectors were rounded')
  }
})

t.test('long payload keys (not kept in the key table) are masked as the decoded path masks them', async t => {
  const T = search.responseType
  const long = 'k'.repeat(300)
  for (const name of ['paths', 'pii', 'every']) {
    const masker = compiled.get(name)!
    for (let round = 0; round < 3; round++) { // the same keys again: answered from the table, or not
      const payload = { [long]: toValue({ customer: { phone: '+44 20 7946 0958' }, email: 'ann.lee@example.com', [long]: { phone: 'x' } }), customer: toValue({ [long]: 1, phone: '+44 20 7946 0958' }) }
      const bytes = Buffer.from(T.encode(T.fromObject({ result: [{ id: { num: 1 }, payload }] })).finish())
      const wire = search.resultView!(bytes)
      const dec = search.resultView!(bytes)
      t.equal(wire.mask(masker), dec.mask(decodedOnly(masker)), `${name}: changed alike`)
      t.same(payloads(T, wire.encode()), payloads(T, dec.encode()), `${name}: same payload`)
    }
  }
})

t.test('payload entries in any layout and keys in any order are masked as the decoded path masks them', async t => {
  // entries built by hand: key and value in either order, repeated fields (the last one counts),
  // one- and two-byte lengths, values of 127/128 bytes, keys in a new order from point to point (the
  // key table guesses the next key from the last point's order)
  const T = search.responseType
  const P = T.fields.result.resolvedType as typeof T
  const V = P.fields.payload.resolvedType as typeof T
  const varint = (n: number): Buffer => { const out: number[] = []; while (n >= 128) { out.push((n & 127) | 128); n >>>= 7 } out.push(n); return Buffer.from(out) }
  const field = (n: number, content: Buffer): Buffer => Buffer.concat([varint(n * 8 + 2), varint(content.length), content])
  const value = (x: unknown): Buffer => Buffer.from(V.encode(V.fromObject(toValue(x) as Record<string, unknown>)).finish())
  const r = prng(4242)
  const KEYS2 = ['email', 'title', 'customer', 'phone', 'note', 'x'.repeat(130), 'k', 'tags']
  const VALUES = ['plain words', 'ann.lee@example.com', '+44 20 7946 0958', 'a'.repeat(127), 'b'.repeat(128), `${'c'.repeat(120)} 4111 1111 1111 1111`, 'x']
  const entry = (key: string, v: Buffer): Buffer => {
    const k = field(1, Buffer.from(key))
    const val = field(2, v)
    const x = r()
    if (x < 0.6) return Buffer.concat([k, val])
    if (x < 0.75) return Buffer.concat([val, k])
    if (x < 0.85) return Buffer.concat([field(1, Buffer.from('stale')), k, val])
    if (x < 0.95) return Buffer.concat([k, field(2, value('stale ann@example.com')), val])
    return Buffer.concat([k, val, Buffer.from([0x18, 0x05])]) // an unknown varint field 3
  }
  for (const name of ['paths', 'pii', 'every', 'hash', 'null']) {
    const masker = compiled.get(name)!
    let changed = 0
    for (let m = 0; m < 40; m++) {
      const points: Buffer[] = []
      for (let p = 0; p < 4; p++) {
        const keys = [...KEYS2].sort(() => r() - 0.5).slice(0, 2 + Math.floor(r() * 5))
        const entries = keys.map(k => {
          const v = r() < 0.3 ? { phone: pick(r, VALUES), email: pick(r, VALUES), n: pick(r, VALUES) } : pick(r, VALUES)
          return field(P.fields.payload.id, entry(k, value(v)))
        })
        points.push(field(T.fields.result.id, Buffer.concat([field(P.fields.id.id, Buffer.from([8, p + 1])), ...entries])))
      }
      const bytes = Buffer.concat(points)
      const wire = search.resultView!(bytes)
      const dec = search.resultView!(bytes)
      const a = wire.mask(masker)
      t.equal(a, dec.mask(decodedOnly(masker)), `${name} ${m}: changed alike`)
      if (a) changed++
      t.same(payloads(T, wire.encode()), payloads(T, dec.encode()), `${name} ${m}: same payloads`)
    }
    t.ok(changed > 0, `${name} changed something`)
  }
})

t.test('values repeated from point to point (passed as the last quiet value under their key) are masked as the decoded path masks them', async t => {
  // few keys and a small pool of values, plain and sensitive, nested and not: most values repeat one
  // under the same key earlier in the message, in the same bytes or nearly (one byte apart, at either end)
  const r = prng(SEED + 99)
  const POOL = ['guides', 'guidez', 'Guides', 'ann.lee@example.com', 'ann.lee@example.con', '+44 20 7946 0958', '+44 20 7946 0959', 'plain words here',
    'plain words here 4111 1111 1111 1111', 4111111111111111, 4111111111111112, 12, null, true, ['a', 'guides'], ['a', 'ann.lee@example.com'],
    { name: 'Ann', phone: '+44 20 7946 0958' }, { name: 'Ann', phone: 'none' }]
  for (const [name, masker] of compiled) {
    let changed = 0
    for (let m = 0; m < 30; m++) {
      const T = search.responseType
      const result = Array.from({ length: 12 }, (_, i) => {
        const payload: Record<string, unknown> = {}
        for (const k of ['lang', 'note', 'deep', 'customer', 'tags']) if (r() < 0.9) payload[k] = toValue(pick(r, POOL))
        return { id: { num: i + 1 }, payload }
      })
      const bytes = Buffer.from(T.encode(T.fromObject({ result })).finish())
      const wire = search.resultView!(bytes)
      const dec = search.resultView!(bytes)
      const a = wire.mask(masker)
      t.equal(a, dec.mask(decodedOnly(masker)), `${name} ${m}: changed alike`)
      if (!a) continue
      changed++
      if (!wire.encode().equals(dec.encode())) t.fail(`${name} ${m}: the wire path's bytes differ from the decoded path's`)
    }
    t.ok(changed > 0, `${name} changed something`)
  }
})
