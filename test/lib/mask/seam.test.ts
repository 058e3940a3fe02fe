/**
 * The compiled masker through the decoders that call it (decoders/types.ts `Masker`): a Qdrant
 * search response and a Postgres DataRow, decoded, masked and re-encoded. Catches disagreements
 * at the seam (paths, prefixes, DROP, vector types) that each side's own tests cannot.
 */
import t from 'tap'
import { MaskPlan } from '../../../decoders/postgres/result-view.js'
import { qdrantMethods } from '../../../decoders/qdrant/methods.js'
import { qdrantSchema } from '../../../decoders/qdrant/schema.js'
import { compileMasking } from '../../../lib/mask/index.js'

const KEY = Buffer.alloc(32, 9)
const masks = compileMasking({
  pii: { fields: ['email', 'customer.phone'], detectors: ['email', 'phone', 'credit_card'], action: 'redact', vectors: 'drop' },
  round: { fields: ['meta.owner'], detectors: [], action: 'hash', vectors: 'round', round_bits: 4 },
  clean: { fields: ['nothing'], detectors: [], action: 'redact', vectors: 'keep' }
}, { hashKey: KEY })

t.test('Qdrant search response: payload fields, detectors, vectors dropped', async t => {
  const { root } = qdrantSchema()
  const Resp = root.lookupType('qdrant.SearchResponse')
  const msg = Resp.fromObject({
    result: [{
      id: { num: 1 },
      score: 0.9,
      payload: {
        email: { string_value: 'a@b.co' },
        note: { string_value: 'card 4111 1111 1111 1111, mail c@d.org' },
        n: { integer_value: 3 },
        customer: { struct_value: { fields: { phone: { string_value: '+1 415 555 2671' }, tier: { string_value: 'gold' } } } },
        tags: { list_value: { values: [{ string_value: 'x' }, { string_value: 'e@f.net' }] } }
      },
      vectors: { vector: { data: [0.123456, 0.5] } }
    }],
    time: 0.001
  })
  const bytes = Buffer.from(Resp.encode(msg).finish())
  const view = qdrantMethods().get('/qdrant.Points/Search')!.resultView!(bytes)
  t.equal(view.mask(masks.get('pii')!), true)
  const back = Resp.toObject(Resp.decode(view.encode()), { longs: Number }) as any
  const p = back.result[0].payload
  t.equal(p.email.string_value, '[redacted]')
  t.equal(p.note.string_value, 'card [redacted:credit_card], mail [redacted:email]')
  t.equal(p.customer.struct_value.fields.phone.string_value, '[redacted]')
  t.equal(p.customer.struct_value.fields.tier.string_value, 'gold')
  t.equal(p.tags.list_value.values[1].string_value, '[redacted:email]')
  t.equal(p.n.integer_value, 3)
  t.notOk(back.result[0].vectors, 'vectors dropped')

  const untouched = qdrantMethods().get('/qdrant.Points/Search')!.resultView!(bytes)
  t.equal(untouched.mask(masks.get('clean')!), false, 'nothing configured matches: no re-encode needed')
})

t.test('Qdrant vectors rounded', async t => {
  const { root } = qdrantSchema()
  const Resp = root.lookupType('qdrant.SearchResponse')
  const bytes = Buffer.from(Resp.encode(Resp.fromObject({ result: [{ id: { num: 1 }, score: 1, vectors: { vector: { data: [0.123456, 0.5] } } }] })).finish())
  const view = qdrantMethods().get('/qdrant.Points/Search')!.resultView!(bytes)
  t.equal(view.mask(masks.get('round')!), true)
  const back = Resp.decode(view.encode()) as any
  const data: number[] = back.result[0].vectors.vector.data ?? back.result[0].vectors.vector.dense?.data
  t.same(Array.from(data), [0.125, 0.5], '4 mantissa bits')
})

t.test('Postgres DataRow: columns by name, json column by prefix', async t => {
  const OID_TEXT = 25
  const OID_JSONB = 3802
  const columns = [
    { name: 'id', typeOid: 23, format: 0 },
    { name: 'email', typeOid: OID_TEXT, format: 0 },
    { name: 'note', typeOid: OID_TEXT, format: 0 },
    { name: 'meta', typeOid: OID_JSONB, format: 0 }
  ]
  const row = dataRow(['7', 'a@b.co', 'call +1 415 555 2671', JSON.stringify({ owner: 'ann', title: 'x' })])
  const plan = new MaskPlan(columns as any, masks.get('pii')!)
  const out = fields(plan.apply(row))
  t.same(out.slice(0, 3), ['7', '[redacted]', 'call [redacted:phone]'])
  t.same(JSON.parse(out[3]!), { owner: 'ann', title: 'x' }, 'jsonb without hits passes')
  const hashed = fields(new MaskPlan(columns as any, masks.get('round')!).apply(row))
  t.match(JSON.parse(hashed[3]!).owner, /^h:/, 'meta.owner inside the json column')
  t.equal(JSON.parse(hashed[3]!).title, 'x')
  t.equal(hashed[1], 'a@b.co', 'no detectors, not configured')
})

function dataRow (values: Array<string | null>): Buffer {
  const parts = values.map(v => v === null ? null : Buffer.from(v))
  let size = 7
  for (const p of parts) size += 4 + (p?.length ?? 0)
  const b = Buffer.alloc(size)
  b[0] = 0x44
  b.writeInt32BE(size - 1, 1)
  b.writeInt16BE(parts.length, 5)
  let pos = 7
  for (const p of parts) {
    if (p === null) { b.writeInt32BE(-1, pos); pos += 4; continue }
    b.writeInt32BE(p.length, pos); pos += 4
    p.copy(b, pos); pos += p.length
  }
  return b
}

function fields (row: Buffer): Array<string | null> {
  const n = row.readInt16BE(5)
  const out: Array<string | null> = []
  let pos = 7
  for (let i = 0; i < n; i++) {
    const len = row.readInt32BE(pos); pos += 4
    if (len < 0) { out.push(null); continue }
    out.push(row.toString('utf8', pos, pos + len)); pos += len
  }
  return out
}
