/**
 * The protobuf wire helpers: `roundFloats` rounds a `repeated float` field in place, packed or one
 * float per field (protobuf.dev/programming-guides/encoding#packed: parsers accept both), exactly as
 * `roundVector` rounds the decoded numbers, and refuses packed floats whose length is not a
 * multiple of 4.
 */
import t from 'tap'
import protobuf from 'protobufjs'
import { I32, LEN, MessageBuilder, MessageSplice, WireReader, roundFloats, varintSize } from '../../../decoders/grpc/protowire.js'
import { prng } from '../../helpers/random.js'
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

/** varints as protobufjs writes them, of every size (the one- and two-byte ones take a fast path) */
function varintBytes (n: number): Uint8Array {
  return protobuf.Writer.create().uint64(n).finish()
}

t.test('varints of every width read back exactly, at the end of a range too, and cut ones are refused', async t => {
  const r = prng(11)
  const values = [0, 1, 127, 128, 255, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 + 5, Number.MAX_SAFE_INTEGER]
  for (let i = 0; i < 300; i++) values.push(Math.floor(r() * 2 ** (1 + Math.floor(r() * 52))))
  for (const n of values) {
    const v = varintBytes(n)
    t.equal(varintSize(n), v.length, `size of ${n}`)
    // alone, with a byte before and after, and cut short by one byte
    for (const [pad, after] of [[0, 0], [1, 0], [1, 1], [0, 2]]) {
      const b = Buffer.concat([Buffer.alloc(pad, 0xaa), v, Buffer.alloc(after, 0x01)])
      const w = new WireReader(b, pad, pad + v.length)
      if (w.varint() !== n || w.pos !== pad + v.length) t.fail(`varint ${n} (pad ${pad}, after ${after})`)
      const cut = new WireReader(b, pad, pad + v.length - 1)
      if (v.length > 0) t.throws(() => cut.varint(), { code: 'VG_ERR_MALFORMED' }, `cut varint ${n}`)
    }
  }
  // tags: one byte (fields 1–15) and longer; field 0 is refused either way
  for (const field of [1, 5, 15, 16, 100, 2047, 2048, 536870911]) {
    const tag = varintBytes(field * 8 + LEN)
    const b = Buffer.concat([tag, Buffer.from([1, 7])])
    const w = new WireReader(b, 0, b.length)
    t.ok(w.next())
    t.same([w.field, w.wireType, w.fieldStart], [field, LEN, 0], `tag of field ${field}`)
    t.equal(b[w.len()], 7)
    t.notOk(w.next())
  }
  t.throws(() => new WireReader(Buffer.from([0x02, 0]), 0, 2).next(), { code: 'VG_ERR_MALFORMED' })
  t.throws(() => new WireReader(Buffer.from([0x80, 0x00]), 0, 2).next(), { code: 'VG_ERR_MALFORMED' })
})

t.test('MessageBuilder and MessageSplice write what protobufjs writes for the same fields', async t => {
  // builders with raw runs and fields (bytes or a nested builder), short and long, one- and two-byte tags
  for (let i = 0; i < 200; i++) {
    const rr = prng(1000 + i)
    const b = new MessageBuilder()
    const parts: Buffer[] = []
    const n = 1 + Math.floor(rr() * 8)
    for (let j = 0; j < n; j++) {
      const field = 1 + Math.floor(rr() * (rr() < 0.8 ? 15 : 5000))
      if (rr() < 0.3) {
        const raw = Buffer.from(Array.from({ length: Math.floor(rr() * 70) }, () => Math.floor(rr() * 256)))
        b.raw(raw)
        parts.push(raw)
      } else {
        const content = Buffer.from(Array.from({ length: rr() < 0.05 ? 20000 : Math.floor(rr() * 200) }, () => Math.floor(rr() * 256)))
        const inner = new MessageBuilder()
        inner.raw(content)
        b.field(field, rr() < 0.5 ? content : inner)
        parts.push(Buffer.from(protobuf.Writer.create().uint32(field * 8 + LEN).bytes(content).finish()))
      }
    }
    const want = Buffer.concat(parts)
    t.equal(b.byteLength, want.length)
    if (!b.finish().equals(want)) t.fail(`builder ${i}`)
  }
  // a splice keeps the bytes around the fields it replaces (short and long runs), drops removed ones
  for (let i = 0; i < 100; i++) {
    const rr = prng(5000 + i)
    const fields: Array<{ field: number, content: Buffer }> = []
    const n = 1 + Math.floor(rr() * 10)
    for (let j = 0; j < n; j++) fields.push({ field: 1 + Math.floor(rr() * 20), content: Buffer.from(Array.from({ length: Math.floor(rr() * (rr() < 0.2 ? 3000 : 40)) }, () => Math.floor(rr() * 256))) })
    const enc = (fs: typeof fields): Buffer => { const w = protobuf.Writer.create(); for (const f of fs) w.uint32(f.field * 8 + LEN).bytes(f.content); return Buffer.from(w.finish()) }
    const src = Buffer.concat([Buffer.from([0xde, 0xad]), enc(fields), Buffer.from([0xbe])])
    const want: typeof fields = []
    const s = new MessageSplice(src, 2)
    const w = new WireReader(src, 2, src.length - 1)
    for (const f of fields) {
      t.ok(w.next())
      const fs = w.fieldStart
      w.len()
      const x = rr()
      if (x < 0.3) { s.replace(fs, w.pos, f.field, undefined); continue }
      if (x < 0.6) {
        const c = Buffer.from(Array.from({ length: Math.floor(rr() * 300) }, () => Math.floor(rr() * 256)))
        s.replace(fs, w.pos, f.field, c)
        want.push({ field: f.field, content: c })
        continue
      }
      want.push(f)
    }
    if (!s.upTo(src.length - 1).finish().equals(enc(want))) t.fail(`splice ${i}`)
  }
  t.pass('builders and splices agree with protobufjs')
})

t.test('sourceField and fieldIn write the fields protobufjs writes', async t => {
  const rr = prng(77)
  for (let i = 0; i < 100; i++) {
    const src = Buffer.from(Array.from({ length: 400 }, () => Math.floor(rr() * 256)))
    const a = Math.floor(rr() * 200)
    const b = a + Math.floor(rr() * (rr() < 0.3 ? 200 : 20))
    const outer = 1 + Math.floor(rr() * 40)
    const inner = 1 + Math.floor(rr() * 40)
    const content = Buffer.from(Array.from({ length: Math.floor(rr() * (rr() < 0.2 ? 300 : 30)) }, () => Math.floor(rr() * 256)))
    const m = new MessageBuilder(src)
    m.sourceField(1, a, b)
    if (rr() < 0.5) m.fieldIn(outer, inner, content)
    else { const nested = new MessageBuilder(); nested.raw(content); m.fieldIn(outer, inner, nested) }
    const w = protobuf.Writer.create()
    w.uint32(1 * 8 + LEN).bytes(src.subarray(a, b))
    w.uint32(outer * 8 + LEN).bytes(protobuf.Writer.create().uint32(inner * 8 + LEN).bytes(content).finish())
    const want = Buffer.from(w.finish())
    t.equal(m.byteLength, want.length)
    if (!m.finish().equals(want)) t.fail(`case ${i}`)
  }
})
