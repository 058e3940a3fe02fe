/**
 * The HTTP/2 codec on its own: RFC 7541 Appendix C vectors (with and without Huffman, dynamic table
 * state after each block), encoder/decoder round trips, limits, Huffman errors; the frame reader fed
 * every split of a frame stream, the preface checked byte by byte, and fuzzed input that may only
 * ever raise the codec's own protocol errors.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import * as F from '../../../lib/http2/frames.js'
import { HpackDecoder, HpackEncoder, type Header } from '../../../lib/http2/hpack.js'
import { huffmanDecode, huffmanEncode, huffmanLength } from '../../../lib/http2/huffman.js'
import { CLIENT_PREFACE, ErrorCode, Flags, FrameType } from '../../../lib/http2/constants.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// RFC 7541 C.3 / C.4: three requests on one connection
const requests: Array<{ plain: string, huffman: string, headers: Header[] }> = [
  {
    plain: '828684410f7777772e6578616d706c652e636f6d',
    huffman: '828684418cf1e3c2e5f23a6ba0ab90f4ff',
    headers: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']]
  },
  {
    plain: '828684be58086e6f2d6361636865',
    huffman: '828684be5886a8eb10649cbf',
    headers: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']]
  },
  {
    plain: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
    huffman: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
    headers: [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']]
  }
]
const requestTables: Array<{ entries: Header[], size: number }> = [
  { entries: [[':authority', 'www.example.com']], size: 57 },
  { entries: [['cache-control', 'no-cache'], [':authority', 'www.example.com']], size: 110 },
  { entries: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']], size: 164 }
]

// RFC 7541 C.5 / C.6: three responses with a 256-octet table (evictions)
const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'
const responses: Array<{ plain: string, huffman: string, headers: Header[] }> = [
  {
    plain: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
    huffman: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
    headers: [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']]
  },
  {
    plain: '4803333037c1c0bf',
    huffman: '4883640effc1c0bf',
    headers: [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', 'https://www.example.com']]
  },
  {
    plain: '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
    huffman: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
    headers: [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', cookie]]
  }
]
const responseTables: Array<{ entries: Header[], size: number }> = [
  { entries: [['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private'], [':status', '302']], size: 222 },
  { entries: [[':status', '307'], ['location', 'https://www.example.com'], ['date', date1], ['cache-control', 'private']], size: 222 },
  { entries: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]], size: 215 }
]

for (const huffman of [false, true]) {
  t.test(`RFC 7541 ${huffman ? 'C.4' : 'C.3'}: requests, dynamic table after each`, async t => {
    const d = new HpackDecoder()
    requests.forEach((r, i) => {
      t.same(d.decode(hex(huffman ? r.huffman : r.plain)), r.headers, `request ${i + 1}`)
      t.same(d.dynamicTable, requestTables[i].entries)
      t.equal(d.dynamicSize, requestTables[i].size)
    })
  })
  t.test(`RFC 7541 ${huffman ? 'C.6' : 'C.5'}: responses with a 256-octet table, evicting`, async t => {
    const d = new HpackDecoder({ maxTableSize: 256 })
    responses.forEach((r, i) => {
      t.same(d.decode(hex(huffman ? r.huffman : r.plain)), r.headers, `response ${i + 1}`)
      t.same(d.dynamicTable, responseTables[i].entries)
      t.equal(d.dynamicSize, responseTables[i].size)
    })
  })
}

t.test('Huffman: the RFC strings, round trips of random octets, bad padding and EOS refused', async t => {
  const s = Buffer.from('www.example.com')
  const out = Buffer.alloc(huffmanLength(s))
  huffmanEncode(s, out, 0)
  t.equal(out.toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff')
  for (let i = 0; i < 500; i++) {
    const b = randomBytes(Math.floor(Math.random() * 40))
    const enc = Buffer.alloc(huffmanLength(b))
    huffmanEncode(b, enc, 0)
    t.same(huffmanDecode(enc), b)
  }
  t.throws(() => huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4fe')), { code: ErrorCode.COMPRESSION_ERROR }, 'padding not all ones')
  t.throws(() => huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4ffff')), { code: ErrorCode.COMPRESSION_ERROR }, 'padding longer than 7 bits')
  t.throws(() => huffmanDecode(hex('ffffffff')), { code: ErrorCode.COMPRESSION_ERROR }, 'EOS inside')
})

t.test('HPACK encoder → decoder round trips keep tables in step; secrets never indexed', async t => {
  const e = new HpackEncoder()
  const d = new HpackDecoder()
  const names = ['content-type', 'grpc-timeout', 'x-a', 'api-key', 'authorization', ':path', 'user-agent', 'grpc-encoding', 'x-bin-bin']
  for (let i = 0; i < 300; i++) {
    const list: Header[] = []
    for (let j = 0; j < 1 + Math.floor(Math.random() * 8); j++) {
      const name = names[Math.floor(Math.random() * names.length)]
      const value = Math.random() < 0.5 ? `v${Math.floor(Math.random() * 5)}` : randomBytes(Math.floor(Math.random() * 30)).toString('latin1')
      list.push([name, value])
    }
    t.same(d.decode(e.encode(list)), list)
  }
  t.notOk(d.dynamicTable.some(h => h[0] === 'api-key' || h[0] === 'authorization'), 'api-key and authorization are never in a table')
  const block = e.encode([['api-key', 'secret-token']])
  t.equal(block[0] & 0xf0, 0x10, 'sent as never-indexed (§6.2.3)')
  e.setMaxTableSize(0)
  t.same(d.decode(e.encode([['x-a', 'after resize']])), [['x-a', 'after resize']], 'a size update starts the next block')
  t.equal(d.dynamicSize, 0)
})

t.test('HPACK limits: index 0 and out of range, truncated, huge integers, bombs, late size updates', async t => {
  const cases: Array<[string, string]> = [
    ['80', 'index 0'],
    ['ff00', 'index beyond both tables'],
    ['41', 'truncated literal'],
    ['410f7777', 'string longer than the block'],
    ['ffffffffff0f', 'integer too large'],
    ['82 3fe1ff03', 'size update after a header'],
    ['3fe1ff03', 'size update beyond the allowed size']
  ]
  for (const [h, label] of cases) t.throws(() => new HpackDecoder().decode(hex(h)), { code: ErrorCode.COMPRESSION_ERROR }, label)
  // a small block that expands into a big header list (an HPACK bomb): one indexed entry repeated
  const d = new HpackDecoder({ maxHeaderListSize: 16 * 1024 })
  d.decode(hex('40' + '01' + '61' + '7f00' + Buffer.alloc(127, 0x62).toString('hex')))
  t.throws(() => d.decode(Buffer.alloc(1000, 0xbe)), { code: ErrorCode.ENHANCE_YOUR_CALM })
})

function stream (): Buffer {
  const e = new HpackEncoder()
  const padded = Buffer.concat([Buffer.from([3]), Buffer.from('hello'), Buffer.alloc(3)])
  return Buffer.concat([
    F.settings([[4, 65535], [5, 16384]]),
    F.headers(1, e.encode([[':method', 'POST'], [':path', '/qdrant.Points/Search'], ['content-type', 'application/grpc']]), { endStream: false, maxFrameSize: 16384 }),
    F.frame(FrameType.DATA, Flags.PADDED, 1, padded),
    F.data(1, Buffer.alloc(300, 7), true, 16384),
    F.ping(Buffer.alloc(8, 1), false),
    F.windowUpdate(0, 1000),
    F.frame(0xfa, 0, 0, Buffer.from('unknown type')),
    F.rstStream(3, ErrorCode.CANCEL),
    F.goaway(1, 0, Buffer.from('bye'))
  ])
}

function readAll (r: F.FrameReader, chunks: Buffer[]): Array<{ type: number, flags: number, streamId: number, payload: string }> {
  const out: Array<{ type: number, flags: number, streamId: number, payload: string }> = []
  for (const c of chunks) {
    r.push(c)
    for (let f = r.next(); f !== undefined; f = r.next()) out.push({ type: f.type, flags: f.flags, streamId: f.streamId, payload: f.payload.toString('hex') })
  }
  return out
}

t.test('frame reader: the same frames whatever the split, with and without the client preface', async t => {
  const bytes = stream()
  const whole = readAll(new F.FrameReader(), [bytes])
  t.equal(whole.length, 9)
  for (let i = 0; i <= bytes.length; i++) {
    t.same(readAll(new F.FrameReader(), [bytes.subarray(0, i), bytes.subarray(i)]), whole, `split at ${i}`)
  }
  t.same(readAll(new F.FrameReader(), [...bytes].map(b => Buffer.from([b]))), whole, 'one byte at a time')
  const withPreface = Buffer.concat([CLIENT_PREFACE, bytes])
  for (let i = 0; i <= CLIENT_PREFACE.length + 10; i++) {
    t.same(readAll(new F.FrameReader({ expectPreface: true }), [withPreface.subarray(0, i), withPreface.subarray(i)]), whole, `preface split at ${i}`)
  }
  const frames = (() => { const r = new F.FrameReader(); r.push(bytes); const fs: F.Frame[] = []; for (let f = r.next(); f !== undefined; f = r.next()) fs.push(f); return fs })()
  t.equal(F.dataPayload(frames[2]).toString(), 'hello', 'padding removed')
  t.equal(F.parseGoaway(frames[8].payload).debug.toString(), 'bye')
  t.same(F.parseSettings(frames[0].payload), [[4, 65535], [5, 16384]])
})

t.test('frame reader: what is not HTTP/2 is named on its first bytes', async t => {
  const kinds: Array<[Buffer, string]> = [
    [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'http1'],
    [Buffer.from('POST /qdrant.Points/Search HTTP/1.1\r\n'), 'http1'],
    [hex('16030100a5010000a10303'), 'tls'],
    [Buffer.from('\x00\x01garbage'), 'garbage']
  ]
  for (const [b, kind] of kinds) {
    t.throws(() => new F.FrameReader({ expectPreface: true }).push(b), { kind }, kind)
    const r = new F.FrameReader({ expectPreface: true })
    t.throws(() => { for (const x of b) r.push(Buffer.from([x])) }, { kind }, `${kind}, one byte at a time`)
  }
})

t.test('frame reader and payload parsers: limits and malformed frames', async t => {
  const r = new F.FrameReader({ maxFrameSize: 16384 })
  r.push(F.frame(FrameType.DATA, 0, 1, Buffer.alloc(16385)))
  t.throws(() => r.next(), { code: ErrorCode.FRAME_SIZE_ERROR })
  const one = (type: number, flags: number, id: number, payload: Buffer): F.Frame => { const x = new F.FrameReader(); x.push(F.frame(type, flags, id, payload)); return x.next()! }
  t.throws(() => F.dataPayload(one(FrameType.DATA, Flags.PADDED, 1, Buffer.from([5, 1, 2]))), { code: ErrorCode.PROTOCOL_ERROR }, 'pad length beyond the payload')
  t.throws(() => F.dataPayload(one(FrameType.DATA, 0, 0, Buffer.from('x'))), { code: ErrorCode.PROTOCOL_ERROR }, 'DATA on stream 0')
  t.throws(() => F.headersBlock(one(FrameType.HEADERS, Flags.PADDED, 1, Buffer.from([9, 0x82]))), { code: ErrorCode.PROTOCOL_ERROR }, 'HEADERS padding too long')
  t.throws(() => F.headersBlock(one(FrameType.HEADERS, Flags.PRIORITY, 1, Buffer.from([0, 0, 0, 1, 16, 0x82]))), { code: ErrorCode.PROTOCOL_ERROR }, 'depends on itself')
  t.throws(() => F.parseGoaway(Buffer.alloc(4)), { code: ErrorCode.FRAME_SIZE_ERROR })
  t.throws(() => F.parseSettings(Buffer.alloc(5)), { code: ErrorCode.FRAME_SIZE_ERROR })
  t.throws(() => F.parseWindowUpdate(Buffer.alloc(3)), { code: ErrorCode.FRAME_SIZE_ERROR })
})

t.test('fuzz: random and mutated input raises only protocol errors, never anything else, never loops', async t => {
  let errors = 0
  const base = stream()
  for (let i = 0; i < 3000; i++) {
    const input = i % 2 === 0 ? randomBytes(Math.floor(Math.random() * 200)) : Buffer.from(base)
    if (i % 2 === 1) for (let k = 0; k < 4; k++) input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256)
    const r = new F.FrameReader({ expectPreface: i % 3 === 0, maxFrameSize: 16384 })
    const d = new HpackDecoder({ maxHeaderListSize: 8192 })
    try {
      r.push(input)
      for (let f = r.next(), n = 0; f !== undefined && n < 1000; f = r.next(), n++) {
        if (f.type === FrameType.HEADERS && f.streamId !== 0) d.decode(F.headersBlock(f))
        if (f.type === FrameType.DATA && f.streamId !== 0) F.dataPayload(f)
        if (f.type === FrameType.SETTINGS) F.parseSettings(f.payload)
        if (f.type === FrameType.GOAWAY) F.parseGoaway(f.payload)
        if (f.type === FrameType.WINDOW_UPDATE) F.parseWindowUpdate(f.payload)
      }
    } catch (e) {
      errors++
      if (!(e instanceof F.Http2Error)) { t.fail(`unexpected ${(e as Error).name}: ${(e as Error).message} on ${input.toString('hex')}`); return }
    }
  }
  t.ok(errors > 100, `${errors} inputs refused, all with protocol errors`)
})
