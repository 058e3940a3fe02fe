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

t.test('read in the pieces the request arrived in: the same Operation at every split, never a joined copy needed', async t => {
  const m = methods.get('/qdrant.Points/Upsert')!
  const small = Buffer.from(Upsert.encode(Upsert.fromObject({ collection_name: 'docs', wait: true, points: points.slice(0, 4), ordering: { type: 1 } })).finish())
  const whole = m.operation(small, md, 'qdrant')
  for (let i = 0; i <= small.length; i++) {
    for (const j of [i, Math.min(small.length, i + 1), Math.min(small.length, i + 7)]) {
      const op = m.operation([small.subarray(0, i), small.subarray(i, j), small.subarray(j)], md, 'qdrant')
      if (JSON.stringify(op) !== JSON.stringify(whole)) { t.fail(`split at ${i}, ${j}`); return }
    }
  }
  t.pass(`every split of ${small.length} bytes`)
  const big = Buffer.from(Upsert.encode(Upsert.fromObject({ collection_name: 'docs', wait: true, points })).finish())
  const expected = JSON.stringify(m.operation(big, md, 'qdrant'))
  for (let round = 0; round < 30; round++) {
    const pieces: Buffer[] = []
    for (let at = 0; at < big.length;) {
      const n = 1 + Math.floor(Math.random() * (round % 2 === 0 ? 40 : 20000))
      pieces.push(big.subarray(at, at + n))
      at += n
    }
    if (JSON.stringify(m.operation(pieces, md, 'qdrant')) !== expected) { t.fail(`random pieces, round ${round}`); return }
  }
  t.pass('random pieces')
  // cut or lying bytes in pieces are malformed as they are in one buffer
  for (const cut of [small.length - 1, small.length - 50, 20, 7]) {
    const b = small.subarray(0, cut)
    t.throws(() => m.operation([b.subarray(0, 3), b.subarray(3)], md, 'qdrant'), { code: 'VG_ERR_MALFORMED' }, `cut at ${cut}, in pieces`)
  }
  // fuzz: pieces and one buffer agree on every input, decoded or refused
  for (let k = 0; k < 2000; k++) {
    const junk = Buffer.from(small)
    for (let f = 0; f < 3; f++) junk[Math.floor(Math.random() * junk.length)] = Math.floor(Math.random() * 256)
    const at = Math.floor(Math.random() * junk.length)
    const one = outcome(() => m.operation(junk, md, 'qdrant'))
    const split = outcome(() => m.operation([junk.subarray(0, at), junk.subarray(at)], md, 'qdrant'))
    if (one !== split) { t.fail(`${junk.toString('hex')} split at ${at}: ${one} vs ${split}`); return }
  }
  t.pass('fuzzed inputs agree')
})

function outcome (fn: () => unknown): string {
  try { return JSON.stringify(fn()) } catch (e) { return (e as { code?: string }).code ?? 'thrown' }
}
