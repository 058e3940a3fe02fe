/**
 * The protobuf wire reader over a message in pieces agrees with protobufjs's Reader over the same bytes
 * in one buffer: the same values, positions and refusals, at every split and on random bytes.
 */
import t from 'tap'
import protobuf from 'protobufjs'
import { PiecesReader } from '../../../decoders/grpc/pieces-reader.js'

/** reads tags and skips values to the end, as the Upsert classification does; a trace of what it saw */
function walk (r: { pos: number, len: number, uint32: () => number, skipType: (w: number) => unknown }): string {
  const seen: number[] = []
  try {
    while (r.pos < r.len) {
      const tag = r.uint32()
      seen.push(tag, r.pos)
      r.skipType(tag & 7)
      seen.push(r.pos)
    }
    return seen.join(',')
  } catch {
    return seen.join(',') + ',refused'
  }
}

const sample = Buffer.from(protobuf.Writer.create()
  .uint32(8).uint32(150).uint32(18).string('hello').uint32(25).fixed64(7).uint32(29).fixed32(9)
  .uint32(35).uint32(8).uint32(1).uint32(36) // a group holding one varint
  .uint32(40).uint64(2n ** 63n as unknown as number).uint32(8).int32(-1).finish())

t.test('the same walk at every split into two and three pieces', async t => {
  const expected = walk(protobuf.Reader.create(sample))
  t.notMatch(expected, /refused/)
  for (let i = 0; i <= sample.length; i++) {
    for (let j = i; j <= sample.length; j++) {
      const got = walk(new PiecesReader([sample.subarray(0, i), sample.subarray(i, j), sample.subarray(j)]))
      if (got !== expected) { t.fail(`split at ${i}, ${j}: ${got}`); return }
    }
  }
  t.pass('every split')
})

t.test('bytes(): a view inside one piece, a copy of exactly the range across pieces', async t => {
  const a = Buffer.from([1, 2, 3]); const b = Buffer.from([4, 5, 6, 7])
  const r = new PiecesReader([a, b])
  r.skip(5)
  const inside = r.bytes(3, 5)
  t.equal(inside.buffer, b.buffer)
  t.same([...inside], [4, 5])
  t.same([...r.bytes(1, 6)], [2, 3, 4, 5, 6])
  t.same([...r.bytes(0, 7)], [1, 2, 3, 4, 5, 6, 7])
  t.throws(() => r.skip(3), RangeError, 'beyond the end')
})

t.test('random bytes: refused or read exactly as protobufjs does', async t => {
  for (let k = 0; k < 3000; k++) {
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(Math.random() * 40) }, () => Math.floor(Math.random() * 256)))
    const expected = walk(protobuf.Reader.create(bytes))
    const at = Math.floor(Math.random() * (bytes.length + 1))
    const got = walk(new PiecesReader([bytes.subarray(0, at), bytes.subarray(at)]))
    if (got !== expected) { t.fail(`${bytes.toString('hex')} at ${at}: ${got} vs ${expected}`); return }
  }
  t.pass('3000 inputs')
})
