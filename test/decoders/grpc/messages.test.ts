/**
 * gRPC length-prefixed messages: the same messages whatever the split, several per chunk, one across
 * many chunks, lying and oversize prefixes refused before anything is buffered, compression with a
 * bounded inflate (a gzip bomb is RESOURCE_EXHAUSTED, not gigabytes).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { GrpcMessageReader, frameMessage, gzipMessage, inflateMessage, type GrpcMessage } from '../../../decoders/grpc/messages.js'

const bodies = [Buffer.alloc(0), Buffer.from('a'), randomBytes(100), randomBytes(5), randomBytes(3000)]
const wire = Buffer.concat([...bodies.slice(0, 3).map(frameMessage), gzipMessage(bodies[3]), frameMessage(bodies[4])])

function read (chunks: Buffer[], max = 1 << 20): GrpcMessage[] {
  const r = new GrpcMessageReader(max)
  const out: GrpcMessage[] = []
  for (const c of chunks) r.push(c, m => out.push({ ...m, body: Buffer.from(m.body), raw: Buffer.from(m.raw) }))
  t.notOk(r.partial, 'nothing left over')
  return out
}

t.test('every split gives the same messages', async t => {
  const whole = read([wire])
  t.equal(whole.length, 5)
  t.same(whole.map(m => m.compressed), [false, false, false, true, false])
  t.same(inflateMessage(whole[3], 'gzip', 1 << 20), bodies[3])
  t.same(whole[4].body, bodies[4])
  t.same(Buffer.concat(whole.map(m => m.raw)), wire, 'raw bytes are exactly what arrived')
  for (let i = 0; i <= wire.length; i++) {
    const got = read([wire.subarray(0, i), wire.subarray(i)])
    if (got.length !== 5 || !got.every((m, k) => m.raw.equals(whole[k].raw))) { t.fail(`split at ${i}`); return }
  }
  for (let i = 1; i < wire.length; i += 97) {
    for (let j = i; j < wire.length; j += 211) {
      const got = read([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)])
      if (!Buffer.concat(got.map(m => m.raw)).equals(wire)) { t.fail(`split at ${i}, ${j}`); return }
    }
  }
  t.same(read([...wire].map(b => Buffer.from([b]))).map(m => m.raw.toString('hex')), whole.map(m => m.raw.toString('hex')), 'one byte at a time')
})

t.test('a lying or oversize length prefix is refused before its body is buffered', async t => {
  const r = new GrpcMessageReader(1000)
  const head = Buffer.from([0, 0, 0, 4, 0]) // 1024 bytes announced
  t.throws(() => r.push(head, () => {}), { code: 'VG_ERR_OVERSIZE' })
  const r2 = new GrpcMessageReader(1 << 20)
  r2.push(Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]), () => t.fail('no message'))
  t.ok(r2.partial, 'a prefix promising more than arrives leaves a partial message the relay refuses at END_STREAM')
  t.throws(() => new GrpcMessageReader(100).push(Buffer.from([7, 0, 0, 0, 1, 0]), () => {}), { code: 'VG_ERR_MALFORMED' }, 'flag not 0 or 1')
})

t.test('inflate: bounded, encodings named, garbage refused', async t => {
  const bomb: GrpcMessage = { compressed: true, body: gzipSync(Buffer.alloc(50 << 20)), raw: Buffer.alloc(0) }
  t.ok(bomb.body.length < 100_000, 'a small message')
  t.throws(() => inflateMessage(bomb, 'gzip', 1 << 20), { code: 'VG_ERR_OVERSIZE' })
  t.throws(() => inflateMessage({ compressed: true, body: Buffer.from('nope'), raw: Buffer.alloc(0) }, 'gzip', 1000), { code: 'VG_ERR_MALFORMED' })
  t.throws(() => inflateMessage({ compressed: true, body: gzipSync('x'), raw: Buffer.alloc(0) }, undefined, 1000), { code: 'VG_ERR_MALFORMED' })
  t.throws(() => inflateMessage({ compressed: true, body: gzipSync('x'), raw: Buffer.alloc(0) }, 'snappy', 1000), { code: 'VG_ERR_MALFORMED', message: /snappy/ })
  t.equal(inflateMessage({ compressed: false, body: Buffer.from('plain'), raw: Buffer.alloc(0) }, 'gzip', 1).toString(), 'plain')
})

t.test('limits at the boundary: exactly the maximum passes, one more is refused from the prefix alone', async t => {
  const exact = frameMessage(Buffer.alloc(1000, 1))
  t.equal(read([exact], 1000).length, 1, 'a 1000-byte message with a 1000-byte limit')
  const r = new GrpcMessageReader(999)
  t.throws(() => r.push(exact.subarray(0, 5), () => {}), { code: 'VG_ERR_OVERSIZE' }, 'refused on the 5-byte prefix, before its body arrives')
  const split = new GrpcMessageReader(999)
  split.push(exact.subarray(0, 3), () => t.fail('no message'))
  t.throws(() => split.push(exact.subarray(3, 5), () => {}), { code: 'VG_ERR_OVERSIZE' }, 'also when the prefix itself is split')
  const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff])
  t.throws(() => new GrpcMessageReader(64 << 20).push(huge, () => {}), { code: 'VG_ERR_OVERSIZE' }, 'a prefix of 4 GB')
  t.equal(new GrpcMessageReader(10).buffered, 0)
  const partial = new GrpcMessageReader(100)
  partial.push(Buffer.from([0, 0, 0, 0, 10, 1, 2]), () => {})
  t.equal(partial.buffered, 7, 'buffered counts the prefix and the partial body')
})

t.test('many messages in one chunk, empty messages, and empty chunks', async t => {
  const many = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frameMessage(Buffer.from(String(i)))))
  const got = read([many])
  t.equal(got.length, 1000)
  t.same(got.map(m => m.body.toString()), Array.from({ length: 1000 }, (_, i) => String(i)), 'in order')
  const empties = Buffer.concat([frameMessage(Buffer.alloc(0)), frameMessage(Buffer.alloc(0)), frameMessage(Buffer.from('x'))])
  t.same(read([empties, Buffer.alloc(0)]).map(m => m.body.length), [0, 0, 1], 'zero-length messages are messages')
})

t.test('fuzz: random bytes at random splits give only VG_ERR_MALFORMED / VG_ERR_OVERSIZE, and the same messages at any split', async t => {
  let refused = 0
  for (let i = 0; i < 3000; i++) {
    const input = i % 2 === 0
      ? randomBytes(Math.floor(Math.random() * 200))
      : Buffer.concat(Array.from({ length: 1 + (i % 7) }, () => Math.random() < 0.2 ? gzipMessage(randomBytes(20)) : frameMessage(randomBytes(Math.floor(Math.random() * 50)))))
    const once = (chunks: Buffer[]): string => {
      const r = new GrpcMessageReader(4096)
      const out: string[] = []
      try {
        for (const c of chunks) r.push(c, m => out.push(m.raw.toString('hex')))
        return out.join(',') + (r.partial ? '+partial' : '')
      } catch (e) {
        const code = (e as { code?: string }).code
        if (code !== 'VG_ERR_MALFORMED' && code !== 'VG_ERR_OVERSIZE') throw new Error(`unexpected ${String(e)}`)
        return out.join(',') + `!${code}`
      }
    }
    const whole = once([input])
    if (whole.includes('!')) refused++
    const chunks: Buffer[] = []
    for (let at = 0; at < input.length;) { const n = 1 + Math.floor(Math.random() * 16); chunks.push(input.subarray(at, at + n)); at += n }
    const pieces = once(chunks)
    if (pieces !== whole) { t.fail(`split changed the outcome for ${input.toString('hex')}: ${whole} vs ${pieces}`); return }
  }
  t.ok(refused > 500, `${refused} of 3000 refused, each with the same outcome at any split`)
})

t.test('a message spanning chunks keeps its pieces: parts join to the body, whatever the split', async t => {
  const body = randomBytes(3000)
  const w = frameMessage(body)
  for (let i = 0; i <= w.length; i += (i < 20 ? 1 : 37)) {
    const r = new GrpcMessageReader(1 << 20)
    const got: GrpcMessage[] = []
    r.push(w.subarray(0, i), m => got.push(m))
    r.push(w.subarray(i), m => got.push(m))
    if (got.length !== 1) { t.fail(`split at ${i}: ${got.length} messages`); return }
    const m = got[0]
    const spans = i > 0 && i < w.length
    if (spans !== (m.parts !== undefined)) { t.fail(`split at ${i}: parts ${String(m.parts?.length)}`); return }
    if (m.parts !== undefined && !Buffer.concat(m.parts).equals(body)) { t.fail(`split at ${i}: parts differ`); return }
    if (!m.body.equals(body) || !m.raw.equals(w)) { t.fail(`split at ${i}: body or raw differ`); return }
  }
  t.pass('every split')
})
