/**
 * `MessageEdits` against a plain reference: random edits over random source bytes — parts kept,
 * replaced by shorter or longer bytes, removed, and LEN fields opened around nested edits (their
 * headers rewritten only when something inside changed), some of them taken out as bytes of their
 * own (`take`) or rolled back (`truncate`) — must write exactly the bytes the reference concatenates,
 * whether the output runs ahead of the source (longer parts) or behind it. Deterministic (seeded).
 */
import t from 'tap'
import { LEN, MessageEdits } from '../../../decoders/grpc/protowire.js'
import { prng, type Rand } from '../../helpers/random.js'

function varint (n: number): Buffer {
  const out: number[] = []
  while (n >= 128) { out.push((n % 128) | 128); n = Math.floor(n / 128) }
  out.push(n)
  return Buffer.from(out)
}

function bytes (r: Rand, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)))
}

/**
 * Records random edits over source[a, b) into `edits` and returns what that range must become;
 * `changed` says whether any edit was left for it.
 */
function walk (r: Rand, edits: MessageEdits, source: Buffer, a: number, b: number, depth: number): { out: Buffer, changed: boolean } {
  const parts: Buffer[] = []
  let changed = false
  let at = a
  while (at < b) {
    const end = Math.min(b, at + 1 + Math.floor(r() * 40))
    const k = r()
    if (k < 0.4) {
      parts.push(source.subarray(at, end)) // kept
    } else if (k < 0.55) {
      const content = bytes(r, Math.floor(r() * (r() < 0.2 ? 300 : 20)))
      const field = 1 + Math.floor(r() * 40)
      edits.replace(at, end, field, content)
      parts.push(varint(field * 8 + LEN), varint(content.length), content)
      changed = true
    } else if (k < 0.62) {
      edits.replace(at, end, 1, undefined)
      changed = true
    } else if (k < 0.68) {
      const v1 = r() < 0.5 ? -1 : Math.floor(r() * 20000)
      const v2 = r() < 0.5 ? -1 : Math.floor(r() * 300)
      const content = r() < 0.5 ? undefined : bytes(r, Math.floor(r() * 30))
      edits.edit(at, end, v1, v2, content)
      parts.push(v1 >= 0 ? varint(v1) : Buffer.alloc(0), v2 >= 0 ? varint(v2) : Buffer.alloc(0), content ?? Buffer.alloc(0))
      changed = true
    } else if (depth < 4 && end - at >= 2) {
      // a LEN field: header source[at, h), content source[h, end)
      const h = at + 1 + Math.floor(r() * Math.min(3, end - at - 1))
      const field = 1 + Math.floor(r() * 3000)
      const count = edits.count
      const delta = edits.delta
      const x = r()
      if (x < 0.15) {
        // walked, then rolled back (a value the walk leaves to another path)
        walk(r, edits, source, h, end, depth + 1)
        edits.truncate(count, delta)
        parts.push(source.subarray(at, end))
      } else if (x < 0.3) {
        // walked, then written out as bytes of its own and put in as one replacement
        const inner = walk(r, edits, source, h, end, depth + 1)
        const content = edits.take(source, h, end, count, delta)
        if (!content.equals(inner.out)) throw new Error('take gave other bytes than the reference')
        edits.replace(at, end, field, content)
        parts.push(varint(field * 8 + LEN), varint(content.length), content)
        changed = true
      } else {
        const i = edits.open(at, h, field)
        const inner = walk(r, edits, source, h, end, depth + 1)
        const closed = edits.close(i, end - h)
        if (closed !== inner.changed) throw new Error('close disagrees with the reference on a change')
        if (inner.changed) {
          parts.push(varint(field * 8 + LEN), varint(inner.out.length), inner.out)
          changed = true
        } else {
          parts.push(source.subarray(at, end))
        }
      }
    } else {
      parts.push(source.subarray(at, end))
    }
    at = end
  }
  return { out: Buffer.concat(parts), changed }
}

t.test('edits write what the reference concatenates', async t => {
  const r = prng(20261129)
  const edits = new MessageEdits()
  let ahead = 0
  let behind = 0
  for (let round = 0; round < 3000; round++) {
    const source = bytes(r, Math.floor(r() * (r() < 0.1 ? 2000 : 200)))
    // sometimes a view into a larger buffer, as a message sliced from a gRPC frame is
    const framed = r() < 0.3 ? Buffer.concat([bytes(r, 7), source, bytes(r, 5)]).subarray(7, 7 + source.length) : source
    edits.reset()
    const expected = walk(r, edits, framed, 0, framed.length, 0)
    t.equal(edits.count > 0, expected.changed)
    t.equal(framed.length + edits.delta, expected.out.length, `round ${round}: delta`)
    const out = edits.write(framed, 0, framed.length)
    if (!out.equals(expected.out)) t.fail(`round ${round}: written bytes differ`)
    if (edits.delta > 0) ahead++
    else behind++
  }
  t.ok(ahead > 100 && behind > 100, `outputs longer (${ahead}) and shorter (${behind}) than their source`)
})

t.test('a source range inside a larger message is written alone', async t => {
  const source = Buffer.from('0123456789abcdef')
  const edits = new MessageEdits()
  edits.replace(6, 8, 2, Buffer.from('XYZ'))
  t.equal(edits.write(source, 4, 12).toString('latin1'), '45\x12\x03XYZ89ab')
  edits.reset()
  t.equal(edits.write(source, 4, 12).toString('latin1'), '456789ab', 'no edits: the range as it came')
})
