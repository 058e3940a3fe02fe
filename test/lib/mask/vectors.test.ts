import t from 'tap'
import { roundFloat32Bits, roundVector } from '../../../lib/mask/vectors.js'

t.test('keeps the top mantissa bits, rounding to nearest', async t => {
  const r = roundVector([0.123456789, -1.5, 3.14159265, 0, -0, 1e-40, Infinity, -Infinity, NaN, 3.4028234663852886e38], 8)
  t.type(r, Float32Array)
  t.equal(r[0], 0.12353515625)
  t.equal(r[1], -1.5)
  t.equal(r[2], 3.140625)
  t.equal(r[3], 0)
  t.ok(Object.is(r[4], -0))
  t.equal(r[6], Infinity)
  t.equal(r[7], -Infinity)
  t.ok(Number.isNaN(r[8]))
  t.ok(Number.isFinite(r[9]), 'the largest float does not round up to Infinity')
  const bits = new Uint32Array(r.buffer)
  for (let i = 0; i < 6; i++) t.equal(bits[i] & 0x7fff, 0, `low 15 mantissa bits clear (${i})`)
})

t.test('fewer bits, coarser values; 23 bits is plain float32', async t => {
  t.same(Array.from(roundVector(new Float32Array([1.3, 1.6, 1.9]), 2)), [1.25, 1.5, 2])
  t.same(Array.from(roundVector([1.3], 1)), [1.5])
  t.same(Array.from(roundVector([0.1], 23)), [Math.fround(0.1)])
})

t.test('never changes its input; works on views into larger buffers', async t => {
  const buf = new Float32Array([9, 0.123456789, 0.987654321, 9])
  const view = buf.subarray(1, 3)
  const r = roundVector(view, 4)
  t.equal(r.length, 2)
  t.equal(buf[1], Math.fround(0.123456789))
  t.not(r.buffer, buf.buffer)
  t.ok(Math.abs(r[0] - 0.123456789) < 0.01)
  t.ok(Math.abs(r[1] - 0.987654321) < 0.05)
})

t.test('rounded vectors stay close: cosine similarity barely moves at 8 bits', async t => {
  let seed = 1
  const rnd = (): number => { seed = (seed * 16807) % 2147483647; return seed / 2147483647 - 0.5 }
  const v = Float32Array.from({ length: 768 }, rnd)
  const r = roundVector(v, 8)
  let dot = 0; let a = 0; let b = 0
  for (let i = 0; i < v.length; i++) { dot += v[i] * r[i]; a += v[i] * v[i]; b += r[i] * r[i] }
  t.ok(dot / Math.sqrt(a * b) > 0.9999)
})

t.test('roundFloat32Bits rounds a bit pattern as roundVector rounds the number', async t => {
  let seed = 3
  const next = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed }
  const bits = new Uint32Array(1)
  const f = new Float32Array(bits.buffer)
  for (let i = 0; i < 20000; i++) {
    bits[0] = next()
    const x = bits[0]
    const k = 1 + (i % 23)
    const want = new Uint32Array(roundVector(new Float32Array([f[0]]), k).buffer)[0]
    const got = roundFloat32Bits(x, k)
    if (Number.isNaN(f[0])) { t.equal(got, x, 'NaN keeps its bits'); continue }
    if (got !== want) { t.fail(`bits ${x.toString(16)} at ${k}: ${got.toString(16)} != ${want.toString(16)}`); break }
  }
  t.equal(roundFloat32Bits(0x3f9e0419, 23), 0x3f9e0419)
})
