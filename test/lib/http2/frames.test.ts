/**
 * The frame reader and the frame payload parsers and builders (RFC 9113 §4, §6): a stream of every
 * frame type gives the same frames at every split (two and three pieces, byte by byte), limits follow
 * SETTINGS_MAX_FRAME_SIZE, padding and priority are removed or refused as §6.1/§6.2 say, the client
 * preface is told from HTTP/1.1, TLS and garbage on its first bytes (§3.4), and random or mutated
 * input only ever raises the codec's own Http2Error, in bounded time.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import * as F from '../../../lib/http2/frames.js'
import { HpackDecoder, HpackEncoder } from '../../../lib/http2/hpack.js'
import { CLIENT_PREFACE, ErrorCode, Flags, FrameType, MAX_ALLOWED_FRAME_SIZE, SettingsId } from '../../../lib/http2/constants.js'

interface Seen { type: number, flags: number, streamId: number, length: number, payload: string, raw: string }

/** everything the reader yields for `chunks`, copied out (frames are views into the pushed bytes) */
function readAll (r: F.FrameReader, chunks: Buffer[]): Seen[] {
  const out: Seen[] = []
  for (const c of chunks) {
    r.push(c)
    for (let f = r.next(); f !== undefined; f = r.next()) {
      out.push({ type: f.type, flags: f.flags, streamId: f.streamId, length: f.length, payload: f.payload.toString('hex'), raw: f.raw.toString('hex') })
    }
  }
  return out
}

function one (bytes: Buffer, maxFrameSize = MAX_ALLOWED_FRAME_SIZE): F.Frame {
  const r = new F.FrameReader({ maxFrameSize })
  r.push(bytes)
  const f = r.next()
  if (f === undefined) throw new Error('no frame')
  return f
}

/** one frame of every type, padded and unpadded, an unknown type, an empty payload and a frame with the reserved bit set */
function sample (): { bytes: Buffer, count: number } {
  const e = new HpackEncoder()
  const block = e.encode([[':method', 'POST'], [':path', '/qdrant.Points/Search'], ['content-type', 'application/grpc'], ['te', 'trailers']])
  const priority = Buffer.from([0x80, 0, 0, 0, 15]) // exclusive, depends on 0, weight 16
  const reserved = F.frame(FrameType.PING, 0, 0, Buffer.from('reserved'))
  reserved[5] |= 0x80 // the R bit of the stream id must be ignored on receipt (§4.1)
  const frames = [
    F.settings([[SettingsId.INITIAL_WINDOW_SIZE, 1 << 20], [SettingsId.MAX_FRAME_SIZE, 32768], [0x99, 7]]),
    F.settingsAck(),
    F.headers(1, block.subarray(0, 8), { endStream: false, maxFrameSize: 16384 }).fill(0, 4, 5), // HEADERS without END_HEADERS
    F.frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(8)),
    F.frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.PADDED | Flags.PRIORITY, 3, Buffer.concat([Buffer.from([4]), priority, block, Buffer.alloc(4)])),
    F.frame(FrameType.DATA, Flags.PADDED, 1, Buffer.concat([Buffer.from([3]), Buffer.from('hello'), Buffer.alloc(3)])),
    F.data(1, Buffer.alloc(300, 7), false, 16384),
    F.frame(FrameType.DATA, Flags.END_STREAM, 1),
    F.frame(FrameType.PRIORITY, 0, 3, priority),
    F.ping(Buffer.from('pingpong'), false),
    F.ping(Buffer.from('pingpong'), true),
    F.windowUpdate(0, 1000),
    F.windowUpdate(3, 0x7fffffff),
    F.frame(0xfa, 0xff, 5, Buffer.from('an extension frame type')),
    reserved,
    F.rstStream(3, ErrorCode.CANCEL),
    F.goaway(3, ErrorCode.NO_ERROR, Buffer.from('bye'))
  ]
  return { bytes: Buffer.concat(frames), count: frames.length }
}

t.test('the same frames at every split: two pieces, three pieces, byte by byte', async t => {
  const { bytes, count } = sample()
  const whole = readAll(new F.FrameReader(), [bytes])
  t.equal(whole.length, count)
  t.equal(whole.map(f => f.raw).join(''), bytes.toString('hex'), 'raw views cover the input exactly')
  t.equal(whole[14].streamId, 0, 'the reserved bit is masked off')
  let bad = 0
  for (let i = 0; i <= bytes.length; i++) {
    const got = readAll(new F.FrameReader(), [bytes.subarray(0, i), bytes.subarray(i)])
    if (JSON.stringify(got) !== JSON.stringify(whole)) bad++
  }
  t.equal(bad, 0, `all ${bytes.length + 1} two-piece splits`)
  bad = 0
  let tried = 0
  for (let i = 0; i <= bytes.length; i += 7) {
    for (let j = i; j <= bytes.length; j += 13) {
      tried++
      const got = readAll(new F.FrameReader(), [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)])
      if (JSON.stringify(got) !== JSON.stringify(whole)) bad++
    }
  }
  t.equal(bad, 0, `${tried} three-piece splits`)
  t.same(readAll(new F.FrameReader(), [...bytes].map(b => Buffer.from([b]))), whole, 'one byte at a time')
  // empty pushes change nothing
  const r = new F.FrameReader()
  t.same(readAll(r, [Buffer.alloc(0), bytes.subarray(0, 4), Buffer.alloc(0), bytes.subarray(4)]), whole, 'empty chunks in between')
  t.equal(r.buffered, 0, 'nothing held after the last frame')
})

t.test('the reader holds only the partial tail, and whole frames are views of the pushed chunk', async t => {
  const r = new F.FrameReader()
  const chunk = Buffer.concat([F.ping(Buffer.alloc(8, 1), false), F.ping(Buffer.alloc(8, 2), false).subarray(0, 10)])
  r.push(chunk)
  const f = r.next()!
  t.equal(f.raw.buffer, chunk.buffer, 'zero-copy for a frame inside one chunk')
  t.equal(r.next(), undefined)
  t.equal(r.buffered, 10)
  r.push(F.ping(Buffer.alloc(8, 2), false).subarray(10))
  t.same(r.next()!.payload, Buffer.alloc(8, 2))
  t.equal(r.buffered, 0)
})

t.test('a frame spanning chunks is gathered alone: the frames after it stay views of their chunk', async t => {
  const big = F.frame(FrameType.DATA, 0, 1, Buffer.alloc(20000, 7))
  const after = F.frame(FrameType.DATA, 0, 1, Buffer.alloc(3000, 9))
  const r = new F.FrameReader({ maxFrameSize: 32768 })
  r.push(big.subarray(0, 5)) // not even a header yet
  t.equal(r.next(), undefined)
  t.equal(r.buffered, 5)
  r.push(big.subarray(5, 12000))
  t.equal(r.next(), undefined)
  t.equal(r.buffered, 12000)
  const rest = Buffer.concat([big.subarray(12000), after])
  r.push(rest)
  const f = r.next()!
  t.equal(f.raw.buffer.byteLength, big.length, 'the spanning frame has a buffer of its own size')
  t.same(f.raw, big)
  const g = r.next()!
  t.equal(g.raw.buffer, rest.buffer, 'the next frame is a view of the chunk it came in')
  t.same(g.raw, after)
  t.equal(r.next(), undefined)
  t.equal(r.buffered, 0)
  // byte by byte: the same frame, held in one buffer of its size (one copy, not one per byte)
  const r2 = new F.FrameReader({ maxFrameSize: 32768 })
  let got: F.Frame | undefined
  for (let i = 0; i < big.length; i++) {
    r2.push(big.subarray(i, i + 1))
    got = r2.next() ?? got
    if (i < big.length - 1 && got !== undefined) { t.fail(`a frame after ${i + 1} bytes`); return }
    if (i >= 9 && i < big.length - 1 && r2.buffered !== i + 1) { t.fail(`holds ${r2.buffered} after ${i + 1} bytes`); return }
  }
  t.same(got?.raw, big)
  t.equal(got?.raw.buffer.byteLength, big.length)
  // a header declaring too much is refused as soon as the header is whole, even when it spans chunks
  const r3 = new F.FrameReader()
  r3.push(Buffer.from([0x01, 0x00]))
  t.equal(r3.next(), undefined)
  r3.push(Buffer.from([0x00, 0, 0, 0, 0, 0, 1]))
  t.throws(() => r3.next(), { code: ErrorCode.FRAME_SIZE_ERROR })
})

t.test('with the client preface first: every split of the preface and what follows', async t => {
  const { bytes } = sample()
  const whole = readAll(new F.FrameReader(), [bytes])
  const input = Buffer.concat([CLIENT_PREFACE, bytes])
  let bad = 0
  for (let i = 0; i <= input.length; i++) {
    const got = readAll(new F.FrameReader({ expectPreface: true }), [input.subarray(0, i), input.subarray(i)])
    if (JSON.stringify(got) !== JSON.stringify(whole)) bad++
  }
  t.equal(bad, 0, 'every split')
  t.same(readAll(new F.FrameReader({ expectPreface: true }), [...input].map(b => Buffer.from([b]))), whole, 'one byte at a time')
  const r = new F.FrameReader({ expectPreface: true })
  r.push(CLIENT_PREFACE.subarray(0, 10))
  t.equal(r.next(), undefined, 'no frame while the preface is incomplete')
})

t.test('preface: HTTP/1.1, TLS and garbage are named on their first bytes, at any split', async t => {
  const cases: Array<[string, Buffer, 'http1' | 'tls' | 'garbage']> = [
    ['GET', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), 'http1'],
    ['POST', Buffer.from('POST /qdrant.Points/Search HTTP/1.1\r\ncontent-type: application/grpc\r\n\r\n'), 'http1'],
    ['PRI-like HTTP/1.1 (shares 3 bytes with the preface)', Buffer.from('PRIX / HTTP/1.1\r\n\r\n'), 'http1'],
    ['OPTIONS', Buffer.from('OPTIONS * HTTP/1.1\r\n\r\n'), 'http1'],
    ['TLS ClientHello', Buffer.from('16030100f5010000f10303' + '00'.repeat(40), 'hex'), 'tls'],
    ['TLS 1.0 record', Buffer.from('160301020001', 'hex'), 'tls'],
    ['binary garbage', Buffer.from('00010203040506070809', 'hex'), 'garbage'],
    ['an HTTP/2 frame without the preface', F.settings([]), 'garbage'],
    ['lower-case text', Buffer.from('hello there, this is not http/2'), 'garbage'],
    // the preface is built to read as a request line with method PRI to HTTP/1.1 servers (§3.4), so a
    // corrupted one is answered like HTTP/1.1
    ['the preface with its last byte wrong', Buffer.concat([CLIENT_PREFACE.subarray(0, 23), Buffer.from('X')]), 'http1']
  ]
  for (const [label, b, kind] of cases) {
    t.throws(() => new F.FrameReader({ expectPreface: true }).push(b), { kind, code: ErrorCode.PROTOCOL_ERROR }, label)
    for (let i = 1; i < b.length; i++) {
      const r = new F.FrameReader({ expectPreface: true })
      let err: unknown
      try { r.push(b.subarray(0, i)); r.push(b.subarray(i)) } catch (e) { err = e }
      if (!(err instanceof F.PrefaceError) || err.kind !== kind) { t.fail(`${label}: split at ${i} gave ${String(err)}`); break }
    }
    const r = new F.FrameReader({ expectPreface: true })
    t.throws(() => { for (const x of b) r.push(Buffer.from([x])) }, { kind }, `${label}, byte by byte`)
  }
  // a lone 0x16 or "GE" is not yet enough to tell; nothing is thrown until it is
  t.doesNotThrow(() => new F.FrameReader({ expectPreface: true }).push(Buffer.from([0x16])), 'one TLS byte: undecided')
  t.doesNotThrow(() => new F.FrameReader({ expectPreface: true }).push(Buffer.from('GE')), '"GE": undecided')
  t.doesNotThrow(() => new F.FrameReader({ expectPreface: true }).push(Buffer.from('PRI * HTTP/2')), 'a preface prefix: fine')
})

t.test('frame size: the limit is SETTINGS_MAX_FRAME_SIZE, checked from the 9-byte header alone', async t => {
  const at = (max: number, len: number): F.Frame | undefined => { const r = new F.FrameReader({ maxFrameSize: max }); r.push(F.frame(FrameType.DATA, 0, 1, Buffer.alloc(len))); return r.next() }
  t.equal(at(16384, 16384)?.length, 16384, 'exactly the default maximum')
  t.throws(() => at(16384, 16385), { code: ErrorCode.FRAME_SIZE_ERROR })
  // a header declaring 16 MB is refused before any of the payload arrives
  const r = new F.FrameReader()
  r.push(Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]))
  t.throws(() => r.next(), { code: ErrorCode.FRAME_SIZE_ERROR }, 'declared 2^24-1 with nothing buffered')
  // the limit can be raised after SETTINGS (the relay sets it per side)
  const r2 = new F.FrameReader({ maxFrameSize: 16384 })
  r2.maxFrameSize = 32768
  r2.push(F.frame(FrameType.DATA, 0, 1, Buffer.alloc(20000)))
  t.equal(r2.next()?.length, 20000, 'after the limit was raised')
  // a header alone, split, is not a frame yet
  const r3 = new F.FrameReader()
  r3.push(F.frame(FrameType.DATA, 0, 1, Buffer.alloc(100)).subarray(0, 8))
  t.equal(r3.next(), undefined)
  t.equal(r3.buffered, 8)
})

t.test('DATA: padding removed, pad length equal to or beyond the payload refused (§6.1)', async t => {
  const d = (flags: number, id: number, p: Buffer): F.Frame => one(F.frame(FrameType.DATA, flags, id, p))
  t.equal(F.dataPayload(d(0, 1, Buffer.from('plain'))).toString(), 'plain')
  t.equal(F.dataPayload(d(Flags.PADDED, 1, Buffer.from([0, 0x61]))).toString(), 'a', 'pad length 0')
  t.equal(F.dataPayload(d(Flags.PADDED, 1, Buffer.concat([Buffer.from([255]), Buffer.from('x'), Buffer.alloc(255)]))).toString(), 'x', '255 octets of padding')
  t.equal(F.dataPayload(d(Flags.PADDED, 1, Buffer.from([2, 0, 0]))).length, 0, 'only padding: empty data')
  t.throws(() => F.dataPayload(d(Flags.PADDED, 1, Buffer.from([3, 0, 0]))), { code: ErrorCode.PROTOCOL_ERROR }, 'pad length equal to the rest + 1')
  t.throws(() => F.dataPayload(d(Flags.PADDED, 1, Buffer.from([200, 1, 2]))), { code: ErrorCode.PROTOCOL_ERROR }, 'pad length beyond the payload')
  t.throws(() => F.dataPayload(d(Flags.PADDED, 1, Buffer.alloc(0))), { code: ErrorCode.FRAME_SIZE_ERROR }, 'PADDED without a pad length')
  t.throws(() => F.dataPayload(d(0, 0, Buffer.from('x'))), { code: ErrorCode.PROTOCOL_ERROR }, 'DATA on stream 0')
})

t.test('HEADERS: padding and priority removed, malformed ones refused (§6.2)', async t => {
  const block = new HpackEncoder().encode([[':method', 'POST'], [':path', '/x']])
  const h = (flags: number, p: Buffer, id = 1): F.Frame => one(F.frame(FrameType.HEADERS, flags, id, p))
  const prio = Buffer.from([0, 0, 0, 0, 255])
  t.same(F.headersBlock(h(Flags.END_HEADERS, block)), block)
  t.same(F.headersBlock(h(Flags.PADDED, Buffer.concat([Buffer.from([5]), block, Buffer.alloc(5)]))), block, 'padded')
  t.same(F.headersBlock(h(Flags.PRIORITY, Buffer.concat([prio, block]))), block, 'with priority')
  t.same(F.headersBlock(h(Flags.PADDED | Flags.PRIORITY, Buffer.concat([Buffer.from([2]), prio, block, Buffer.alloc(2)]))), block, 'padded with priority')
  t.same(new HpackDecoder().decode(F.headersBlock(h(Flags.PADDED | Flags.PRIORITY, Buffer.concat([Buffer.from([2]), prio, block, Buffer.alloc(2)])))), [[':method', 'POST'], [':path', '/x']])
  t.equal(F.headersBlock(h(Flags.PADDED, Buffer.from([1, 0]))).length, 0, 'padding only: an empty block')
  t.throws(() => F.headersBlock(h(Flags.PADDED, Buffer.from([9, 0x82]))), { code: ErrorCode.PROTOCOL_ERROR }, 'padding longer than the rest')
  t.throws(() => F.headersBlock(h(Flags.PADDED | Flags.PRIORITY, Buffer.concat([Buffer.from([3]), prio, Buffer.from([0x82])]))), { code: ErrorCode.PROTOCOL_ERROR }, 'padding eats into the priority fields')
  t.throws(() => F.headersBlock(h(Flags.PADDED, Buffer.alloc(0))), { code: ErrorCode.FRAME_SIZE_ERROR }, 'PADDED without a pad length')
  t.throws(() => F.headersBlock(h(Flags.PRIORITY, Buffer.from([0, 0, 0]))), { code: ErrorCode.FRAME_SIZE_ERROR }, 'too short for its priority')
  t.throws(() => F.headersBlock(h(Flags.PRIORITY, Buffer.from([0x80, 0, 0, 7, 16]), 7)), { code: ErrorCode.PROTOCOL_ERROR }, 'depends on itself (exclusive bit set)')
})

t.test('SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY, PING: parsed, and refused when malformed', async t => {
  t.same(F.parseSettings(Buffer.alloc(0)), [], 'empty SETTINGS')
  t.same(F.parseSettings(one(F.settings([[1, 0], [2, 0], [2, 1], [3, 0], [4, 0x7fffffff], [5, 16384], [5, MAX_ALLOWED_FRAME_SIZE], [6, 0], [0xabcd, 0xffffffff]])).payload),
    [[1, 0], [2, 0], [2, 1], [3, 0], [4, 0x7fffffff], [5, 16384], [5, MAX_ALLOWED_FRAME_SIZE], [6, 0], [0xabcd, 0xffffffff]], 'boundary values and an unknown id are accepted, in order')
  const bad: Array<[Array<[number, number]>, number, string]> = [
    [[[SettingsId.ENABLE_PUSH, 2]], ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH 2'],
    [[[SettingsId.INITIAL_WINDOW_SIZE, 0x80000000]], ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE 2^31'],
    [[[SettingsId.MAX_FRAME_SIZE, 16383]], ErrorCode.PROTOCOL_ERROR, 'MAX_FRAME_SIZE below 2^14'],
    [[[SettingsId.MAX_FRAME_SIZE, MAX_ALLOWED_FRAME_SIZE + 1]], ErrorCode.PROTOCOL_ERROR, 'MAX_FRAME_SIZE above 2^24-1'],
    [[[SettingsId.HEADER_TABLE_SIZE, 4096], [SettingsId.ENABLE_PUSH, 7]], ErrorCode.PROTOCOL_ERROR, 'a bad value after a good one']
  ]
  for (const [pairs, code, label] of bad) t.throws(() => F.parseSettings(one(F.settings(pairs)).payload), { code }, label)
  for (const n of [1, 5, 7, 11]) t.throws(() => F.parseSettings(Buffer.alloc(n)), { code: ErrorCode.FRAME_SIZE_ERROR }, `SETTINGS of ${n} bytes`)

  t.equal(F.parseWindowUpdate(one(F.windowUpdate(1, 1)).payload), 1)
  t.equal(F.parseWindowUpdate(one(F.windowUpdate(0, 0x7fffffff)).payload), 0x7fffffff)
  t.equal(F.parseWindowUpdate(Buffer.from([0xff, 0xff, 0xff, 0xff])), 0x7fffffff, 'the reserved bit is ignored')
  t.throws(() => F.parseWindowUpdate(Buffer.alloc(4)), { code: ErrorCode.PROTOCOL_ERROR }, 'an increment of 0')
  t.throws(() => F.parseWindowUpdate(Buffer.from([0x80, 0, 0, 0])), { code: ErrorCode.PROTOCOL_ERROR }, 'only the reserved bit: 0')
  for (const n of [0, 3, 5, 8]) t.throws(() => F.parseWindowUpdate(Buffer.alloc(n, 1)), { code: ErrorCode.FRAME_SIZE_ERROR }, `WINDOW_UPDATE of ${n} bytes`)

  t.equal(F.parseRstStream(one(F.rstStream(5, ErrorCode.REFUSED_STREAM)).payload), ErrorCode.REFUSED_STREAM)
  t.equal(F.parseRstStream(Buffer.from([0xff, 0xff, 0xff, 0xff])), 0xffffffff, 'an unknown code is kept (§7: not an error)')
  for (const n of [0, 3, 5]) t.throws(() => F.parseRstStream(Buffer.alloc(n)), { code: ErrorCode.FRAME_SIZE_ERROR }, `RST_STREAM of ${n} bytes`)

  const g = F.parseGoaway(one(F.goaway(0x7fffffff, ErrorCode.ENHANCE_YOUR_CALM, Buffer.from('calm down'))).payload)
  t.same({ ...g, debug: g.debug.toString() }, { lastStreamId: 0x7fffffff, code: ErrorCode.ENHANCE_YOUR_CALM, debug: 'calm down' })
  t.equal(F.parseGoaway(Buffer.from([0x80, 0, 0, 3, 0, 0, 0, 0])).lastStreamId, 3, 'reserved bit masked')
  t.equal(F.parseGoaway(Buffer.alloc(8)).debug.length, 0)
  t.throws(() => F.parseGoaway(Buffer.alloc(7)), { code: ErrorCode.FRAME_SIZE_ERROR })

  t.throws(() => F.ping(Buffer.alloc(7), false), /8 bytes/)
  const p = one(F.ping(Buffer.from('abcdefgh'), true))
  t.same([p.type, p.flags, p.streamId, p.payload.toString()], [FrameType.PING, Flags.ACK, 0, 'abcdefgh'])
})

t.test('builders: headers and data split at the max frame size, flags on the right frames', async t => {
  const block = randomBytes(40000)
  const frames = readAll(new F.FrameReader(), [F.headers(9, block, { endStream: true, maxFrameSize: 16384 })])
  t.same(frames.map(f => [f.type, f.flags, f.streamId, f.length]), [
    [FrameType.HEADERS, Flags.END_STREAM, 9, 16384],
    [FrameType.CONTINUATION, 0, 9, 16384],
    [FrameType.CONTINUATION, Flags.END_HEADERS, 9, 40000 - 32768]
  ])
  t.equal(frames.map(f => f.payload).join(''), block.toString('hex'), 'the block is intact across frames')
  const exact = readAll(new F.FrameReader(), [F.headers(1, Buffer.alloc(16384), { endStream: false, maxFrameSize: 16384 })])
  t.same(exact.map(f => [f.type, f.flags]), [[FrameType.HEADERS, Flags.END_HEADERS]], 'a block of exactly the max: one frame')
  const data = readAll(new F.FrameReader(), [F.data(3, Buffer.alloc(32769, 1), true, 16384)])
  t.same(data.map(f => [f.flags, f.length]), [[0, 16384], [0, 16384], [Flags.END_STREAM, 1]])
  t.same(readAll(new F.FrameReader(), [F.data(3, Buffer.alloc(0), true, 16384)]).map(f => [f.flags, f.length]), [[Flags.END_STREAM, 0]], 'an empty END_STREAM DATA')
  const raw = F.frame(FrameType.DATA, 0, 1, Buffer.from('x'))
  F.setStreamId(raw, 0x7ffffffd)
  t.equal(F.streamIdOf(raw), 0x7ffffffd, 'stream id rewritten in place')
  t.equal(F.streamIdOf(F.frame(FrameType.DATA, 0, 0xffffffff)), 0x7fffffff, 'the builder never sets the reserved bit')
})

t.test('fuzz: random bytes, mutated valid streams, random chunking — only Http2Error, never a hang', async t => {
  const { bytes: base } = sample()
  const parse = (f: F.Frame, d: HpackDecoder): void => {
    switch (f.type) {
      case FrameType.HEADERS: d.decode(F.headersBlock(f)); break
      case FrameType.DATA: F.dataPayload(f); break
      case FrameType.SETTINGS: F.parseSettings(f.payload); break
      case FrameType.GOAWAY: F.parseGoaway(f.payload); break
      case FrameType.WINDOW_UPDATE: F.parseWindowUpdate(f.payload); break
      case FrameType.RST_STREAM: F.parseRstStream(f.payload); break
    }
  }
  let refused = 0
  let frames = 0
  for (let i = 0; i < 4000; i++) {
    let input: Buffer
    if (i % 4 === 0) input = randomBytes(Math.floor(Math.random() * 300))
    else if (i % 4 === 1) input = Buffer.concat([CLIENT_PREFACE.subarray(0, Math.floor(Math.random() * 25)), randomBytes(Math.floor(Math.random() * 100))])
    else {
      input = Buffer.from(base)
      for (let k = 0; k < 1 + (i % 6); k++) input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256)
    }
    const preface = i % 4 === 1
    const r = new F.FrameReader({ expectPreface: preface, maxFrameSize: 16384 })
    const d = new HpackDecoder({ maxHeaderListSize: 8192 })
    try {
      // random chunking: the reader must behave the same whatever the socket gives it
      for (let at = 0; at < input.length;) {
        const n = 1 + Math.floor(Math.random() * 64)
        r.push(input.subarray(at, at + n))
        at += n
        // at most as many frames as 9-byte headers fit in the input: the reader always makes progress
        for (let f = r.next(), guard = 0; f !== undefined; f = r.next(), guard++) {
          if (guard > input.length / 9 + 1) throw new Error('reader does not advance')
          frames++
          parse(f, d)
        }
      }
      if (r.buffered > input.length) { t.fail('holds more than it was given'); return }
    } catch (e) {
      refused++
      if (!(e instanceof F.Http2Error)) { t.fail(`unexpected ${(e as Error).name}: ${(e as Error).message} on ${input.toString('hex')}`); return }
      if (!Object.values(ErrorCode).includes(e.code as any)) { t.fail(`not an RFC 9113 code: ${e.code}`); return }
    }
  }
  t.ok(refused > 500, `${refused} of 4000 inputs refused, all with Http2Error`)
  t.ok(frames > 1000, `${frames} frames read`)
})
