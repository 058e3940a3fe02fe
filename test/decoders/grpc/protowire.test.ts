/**
 * The protobuf wire helpers: `roundFloats` rounds a `repeated float` field in place, packed or one
 * float per field (protobuf.dev/programming-guides/encoding#packed: parsers accept both), exactly as
 * `roundVector` rounds the decoded numbers, and refuses packed floats whose length is not a
 * multiple of 4.
 */
import t from 'tap'
import { I32, LEN, WireReader, roundFloats } from '../../../decoders/grpc/protowire.js'
import { roundFloat32Bits, roundVector } from '../../../lib/mask/vectors.js'

const round8 = { roundFloat32: (x: number): number => roundFloat32Bits(x, 8) }

function floatsLE (xs: number[]): Buffer {
  const b = Buffer.alloc(4 * xs.length)
  xs.forEach((x, i) => b.writeFloatLE(x, 4 * i))
  return b
}

/** field 1 written packed, then unpacked, then a varint field 2 between runs */
function message (xs: number[], ys: number[]): Buffer {
  const packed = floatsLE(xs)
  const parts = [Buffer.from([1 * 8 + LEN, packed.length]), packed]
  for (const y of ys) parts.push(Buffer.from([1 * 8 + I32]), floatsLE([y]))
  parts.push(Buffer.from([2 * 8, 5]))
  for (const y of ys) parts.push(Buffer.from([1 * 8 + I32]), floatsLE([y]))
  return Buffer.concat(parts)
}

function readFloats (b: Buffer): number[] {
  const out: number[] = []
  const r = new WireReader(b, 0, b.length)
  while (r.next()) {
    if (r.field !== 1) { r.skip(); continue }
    if (r.wireType === I32) { out.push(b.readFloatLE(r.pos)); r.skip(); continue }
    const s = r.len()
    for (let i = s; i < r.pos; i += 4) out.push(b.readFloatLE(i))
  }
  return out
}

t.test('packed and unpacked floats are rounded in place as roundVector rounds them', async t => {
  let seed = 7
  const rnd = (): number => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647 - 0.5) * 10 }
  const xs = [...Array.from({ length: 20 }, rnd), 0, -0, 1e-40, Infinity, -Infinity, NaN, 3.4028234663852886e38]
  const ys = Array.from({ length: 9 }, rnd)
  const b = message(xs, ys)
  const before = Buffer.from(b)
  const r = new WireReader(b, 0, b.length)
  let n = 0
  while (r.next()) { if (r.field === 1) n += roundFloats(r, round8); else r.skip() }
  t.equal(n, xs.length + 2 * ys.length, 'every float counted')
  t.equal(b.length, before.length)
  const want = Array.from(roundVector([...xs, ...ys, ...ys], 8))
  const got = readFloats(b)
  t.equal(got.length, want.length)
  for (let i = 0; i < want.length; i++) t.ok(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])), `float ${i}`)
  // the tags and the varint field between the runs are untouched
  const tags = (x: Buffer): number[] => { const out: number[] = []; const q = new WireReader(x, 0, x.length); while (q.next()) { out.push(q.field * 8 + q.wireType, q.fieldStart); q.skip() } return out }
  t.same(tags(b), tags(before))
})

t.test('a run of unpacked floats stops at the end of its message', async t => {
  const b = message([], [1.1, 2.2, 3.3])
  const inner = b.subarray(0, 2 + 5 * 2) // the empty packed field and two of the floats
  const r = new WireReader(inner, 0, inner.length)
  let n = 0
  while (r.next()) { if (r.field === 1) n += roundFloats(r, round8); else r.skip() }
  t.equal(n, 2)
  t.equal(b.readFloatLE(2 + 5 * 2 + 1), Math.fround(3.3), 'the float past the end is not touched')
})

t.test('broken float fields are refused', async t => {
  const bad = Buffer.from([1 * 8 + LEN, 3, 0, 0, 0])
  const r = new WireReader(bad, 0, bad.length)
  r.next()
  t.throws(() => roundFloats(r, round8), { code: 'VG_ERR_MALFORMED' })
  const cut = Buffer.from([1 * 8 + I32, 0, 0])
  const c = new WireReader(cut, 0, cut.length)
  c.next()
  t.throws(() => roundFloats(c, round8), { code: 'VG_ERR_MALFORMED' })
})
