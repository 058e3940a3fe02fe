import t from 'tap'
import { randomBytes } from 'node:crypto'
import { MessageReader } from '../../../decoders/postgres/reader.js'
import { serialize } from '../../../decoders/postgres/writer.js'
import { decodeFirstPacket, decodeBind, decodeParse } from '../../../decoders/postgres/messages.js'
import { VecgateError } from '../../../lib/errors.js'

/** A pipelined extended-protocol batch plus a simple query, as a client would send it. */
const stream = Buffer.concat([
  serialize.query('SELECT 1'),
  serialize.parse('s1', 'SELECT $1::int', [23]),
  serialize.bind('', 's1', ['42', null], 1),
  serialize.describe('P', ''),
  serialize.execute('', 0),
  serialize.sync(),
  serialize.copyData(Buffer.from('1\tone\n')),
  serialize.copyDone(),
  serialize.terminate()
])
const expected = [0x51, 0x50, 0x42, 0x44, 0x45, 0x53, 0x64, 0x63, 0x58]

function readAll (chunks: Buffer[]): Array<{ code: number, bytes: Buffer }> {
  const r = new MessageReader(1 << 20)
  const out: Array<{ code: number, bytes: Buffer }> = []
  for (const c of chunks) {
    r.push(c)
    while (r.next()) out.push({ code: r.code, bytes: Buffer.from(r.message()) })
  }
  t.equal(r.pending, 0, 'nothing left over')
  return out
}

t.test('whole stream in one chunk', async t => {
  const msgs = readAll([stream])
  t.same(msgs.map(m => m.code), expected)
  t.same(Buffer.concat(msgs.map(m => m.bytes)), stream, 'messages are the original bytes')
})

t.test('split at every offset into two chunks', async t => {
  for (let i = 1; i < stream.length; i++) {
    const msgs = readAll([stream.subarray(0, i), stream.subarray(i)])
    if (msgs.length !== expected.length || !Buffer.concat(msgs.map(m => m.bytes)).equals(stream)) {
      t.fail(`split at ${i} broke the stream`)
      return
    }
  }
  t.pass('every split reassembles')
})

t.test('one byte at a time', async t => {
  const chunks: Buffer[] = []
  for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1))
  t.same(readAll(chunks).map(m => m.code), expected)
})

t.test('slices handed out are never overwritten by later reads', async t => {
  const r = new MessageReader(1 << 20)
  const held: Buffer[] = []
  const copies: Buffer[] = []
  for (let i = 0; i < stream.length; i += 7) {
    r.push(stream.subarray(i, i + 7))
    while (r.next()) { held.push(r.message()); copies.push(Buffer.from(r.message())) }
  }
  t.same(held.map(b => b.toString('hex')), copies.map(b => b.toString('hex')))
})

t.test('lying lengths are refused, not waited on forever or read past', async t => {
  const r = new MessageReader(1000)
  r.push(Buffer.from([0x51, 0, 0, 0, 2]))
  t.throws(() => r.next(), { code: 'VG_ERR_MALFORMED' }, 'length below 4')
  const big = new MessageReader(1000)
  big.push(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]))
  t.throws(() => big.next(), { code: 'VG_ERR_OVERSIZE' }, 'length above the limit, refused from the header alone')
  const neg = new MessageReader(1000)
  neg.push(Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]))
  t.throws(() => neg.next(), { code: 'VG_ERR_MALFORMED' }, 'negative length')
})

t.test('startup packets', async t => {
  const r = new MessageReader(10000, true)
  const s = serialize.startupMessage({ user: 'alice', database: 'db', application_name: 'psql' })
  r.push(Buffer.concat([serialize.sslRequest(), s]))
  t.ok(r.next())
  t.same(decodeFirstPacket(r.buf, r.start, r.end), { kind: 'ssl' })
  t.ok(r.next())
  const p = decodeFirstPacket(r.buf, r.start, r.end)
  t.equal(p.kind, 'startup')
  if (p.kind === 'startup') {
    t.equal(p.major, 3)
    t.equal(p.params.get('user'), 'alice')
    t.equal(p.params.get('application_name'), 'psql')
  }
  const over = new MessageReader(10000, true)
  over.push(Buffer.from([0, 1, 0, 0, 0, 3, 0, 0]))
  t.throws(() => over.next(), { code: 'VG_ERR_OVERSIZE' }, 'a 64 KiB startup packet is refused from its length')
  const v2 = new MessageReader(10000, true)
  v2.push(Buffer.from([0, 0, 0, 8, 0, 2, 0, 0]))
  t.ok(v2.next())
  const p2 = decodeFirstPacket(v2.buf, v2.start, v2.end)
  t.match(p2, { kind: 'startup', major: 2 })
  const cancel = new MessageReader(10000, true)
  cancel.push(serialize.cancelRequest(1234, -5))
  t.ok(cancel.next())
  t.same(decodeFirstPacket(cancel.buf, cancel.start, cancel.end), { kind: 'cancel', pid: 1234, secret: -5 })
  const dup = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 3, 0, 0]), Buffer.from('user\0a\0user\0b\0\0')])
  dup.writeInt32BE(dup.length, 0)
  const d = new MessageReader(10000, true)
  d.push(dup)
  t.ok(d.next())
  t.throws(() => decodeFirstPacket(d.buf, d.start, d.end), { code: 'VG_ERR_MALFORMED' }, 'a parameter given twice')
})

t.test('field decoders', async t => {
  const r = new MessageReader(1 << 20)
  r.push(Buffer.concat([serialize.parse('st', 'SELECT 1'), serialize.bind('p', 'st', ['a', null, 'ccc'], 1)]))
  t.ok(r.next())
  t.same(decodeParse(r.buf, r.body, r.end), { name: 'st', sql: 'SELECT 1' })
  t.ok(r.next())
  t.same(decodeBind(r.buf, r.body, r.end), { portal: 'p', statement: 'st', resultFormats: [1] })
  const lying = serialize.bind('p', 'st', ['abc'])
  lying.writeInt32BE(1000, lying.indexOf('abc') - 4)
  const l = new MessageReader(1 << 20)
  l.push(lying)
  t.ok(l.next())
  t.throws(() => decodeBind(l.buf, l.body, l.end), { code: 'VG_ERR_MALFORMED' }, 'a parameter length past the message end')
})

t.test('fuzz: random bytes only ever yield messages or VecgateErrors', async t => {
  let errors = 0
  let messages = 0
  for (let i = 0; i < 3000; i++) {
    const r = new MessageReader(4096, i % 3 === 0)
    const junk = randomBytes(1 + (i % 200))
    try {
      for (let off = 0; off < junk.length; off += 1 + (i % 13)) {
        r.push(junk.subarray(off, off + 1 + (i % 13)))
        while (r.next()) {
          messages++
          t.ok(r.end <= r.buf.length && r.start < r.end, 'message inside the buffer')
          if (r.startup) {
            try { decodeFirstPacket(r.buf, r.start, r.end) } catch (e) { if (!(e instanceof VecgateError)) throw e }
          } else {
            try { decodeBind(r.buf, r.body, r.end) } catch (e) { if (!(e instanceof VecgateError)) throw e }
          }
        }
      }
    } catch (e) {
      if (!(e instanceof VecgateError)) throw e
      errors++
    }
  }
  t.ok(errors > 0, `${errors} inputs refused, ${messages} messages read`)
})
