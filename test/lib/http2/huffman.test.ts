/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B): the strings of Appendix C.4 and C.6 encode to the
 * RFC's bytes and back, every octet round-trips alone and in company, the code is complete and
 * prefix-free (Kraft sum of the 257 lengths is exactly 1), and the decoder refuses what §5.2 forbids:
 * padding longer than 7 bits, padding that is not the most significant bits of EOS, and EOS itself.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Http2Error } from '../../../lib/http2/frames.js'
import { ErrorCode } from '../../../lib/http2/constants.js'
import { huffmanDecode, huffmanEncode, huffmanLength } from '../../../lib/http2/huffman.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function encode (s: Buffer): Buffer {
  const out = Buffer.alloc(huffmanLength(s) + 4, 0xaa) // sentinel bytes: nothing may be written past the length
  const end = huffmanEncode(s, out, 2)
  if (!out.subarray(0, 2).equals(Buffer.from([0xaa, 0xaa]))) throw new Error('wrote before the offset')
  if (end !== 2 + huffmanLength(s)) throw new Error(`wrote ${end - 2} bytes, length said ${huffmanLength(s)}`)
  if (!out.subarray(end).equals(Buffer.from([0xaa, 0xaa]))) throw new Error('wrote past the end')
  return out.subarray(2, end)
}

// RFC 7541 Appendix C.4 (requests) and C.6 (responses)
const VECTORS: Array<[string, string]> = [
  ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
  ['no-cache', 'a8eb10649cbf'],
  ['custom-key', '25a849e95ba97d7f'],
  ['custom-value', '25a849e95bb8e8b4bf'],
  ['302', '6402'],
  ['307', '640eff'],
  ['private', 'aec3771a4b'],
  ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07abe941054d444a8200595040b8166e082a62d1bff'],
  ['Mon, 21 Oct 2013 20:13:22 GMT', 'd07abe941054d444a8200595040b8166e084a62d1bff'],
  ['https://www.example.com', '9d29ad171863c78f0b97c8e9ae82ae43d3'],
  ['gzip', '9bd9ab'],
  ['foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1', '94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007']
]

t.test('RFC 7541 Appendix C strings: encoded to the RFC bytes, decoded back', async t => {
  for (const [s, h] of VECTORS) {
    t.equal(encode(Buffer.from(s, 'latin1')).toString('hex'), h, `encode ${JSON.stringify(s)}`)
    t.equal(huffmanDecode(hex(h)).toString('latin1'), s, `decode ${JSON.stringify(s)}`)
  }
  t.equal(huffmanLength(Buffer.alloc(0)), 0)
  t.equal(encode(Buffer.alloc(0)).length, 0, 'the empty string is zero bytes')
  t.equal(huffmanDecode(Buffer.alloc(0)).length, 0)
})

t.test('Appendix B codes of a few octets, by hand', async t => {
  // (code, bit length) from the table; alone, each is followed by ones up to the byte boundary
  const known: Array<[number, number, number]> = [
    [0x30, 0x0, 5], // '0'
    [0x61, 0x3, 5], // 'a'
    [0x20, 0x14, 6], // ' '
    [0x3a, 0x5c, 7], // ':'
    [0x00, 0x1ff8, 13],
    [0x0a, 0x3ffffffc, 30], // '\n': one of the three 30-bit codes
    [0xff, 0x3ffffee, 26]
  ]
  for (const [sym, code, len] of known) {
    const padBits = (8 - (len % 8)) % 8
    const total = len + padBits
    const value = BigInt(code) << BigInt(padBits) | ((1n << BigInt(padBits)) - 1n)
    const expected = value.toString(16).padStart(total / 4, '0')
    t.equal(encode(Buffer.from([sym])).toString('hex'), expected, `octet 0x${sym.toString(16)}: ${len} bits`)
    t.equal(huffmanLength(Buffer.from([sym])), total / 8)
  }
})

t.test('the code is complete and prefix-free: Kraft sum of all 257 lengths is exactly 1', async t => {
  // the bit length of each octet's code is what its encoding alone needs, minus its padding; recover it
  // from huffmanLength of long runs (n copies take n*len bits, rounded up)
  let sum = 0
  const lengths: number[] = []
  for (let sym = 0; sym < 256; sym++) {
    const n = 8 // 8 copies: 8*len bits is a whole number of bytes, so the length is exact
    const len = huffmanLength(Buffer.alloc(n, sym))
    lengths.push(len)
    sum += 2 ** -len
  }
  sum += 2 ** -30 // EOS
  t.equal(sum, 1, 'a complete code: every bit string decodes or is a prefix of something')
  t.equal(Math.min(...lengths), 5)
  t.equal(Math.max(...lengths), 30)
})

t.test('every octet round-trips alone, in runs, and in random strings', async t => {
  let bad = 0
  for (let sym = 0; sym < 256; sym++) {
    for (const n of [1, 2, 3, 7, 8, 9]) {
      const s = Buffer.alloc(n, sym)
      if (!huffmanDecode(encode(s)).equals(s)) bad++
    }
  }
  t.equal(bad, 0, 'all 256 octets, runs of 1 to 9')
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  t.same(huffmanDecode(encode(all)), all, 'all octets in one string')
  t.same(huffmanDecode(encode(Buffer.from(all).reverse())), Buffer.from(all).reverse(), 'and reversed')
  for (let i = 0; i < 2000; i++) {
    const s = i % 2 === 0 ? randomBytes(Math.floor(Math.random() * 64)) : Buffer.from(Math.random().toString(36).repeat(1 + (i % 5)))
    if (!huffmanDecode(encode(s)).equals(s)) { t.fail(`round trip of ${s.toString('hex')}`); return }
  }
  // a long value, as a big header would be: the decoder's output buffer must be large enough
  const zeros = Buffer.alloc(100_000, 0x30) // '0' has the shortest code (5 bits): the most symbols per byte
  t.same(huffmanDecode(encode(zeros)), zeros, '100 000 five-bit symbols')
})

t.test('§5.2: padding longer than 7 bits, padding not of ones, and EOS are COMPRESSION_ERROR', async t => {
  const bad: Array<[string, string]> = [
    ['f1e3c2e5f23a6ba0ab90f4fe', 'padding with a zero bit'],
    ['f1e3c2e5f23a6ba0ab90f4ffff', 'a whole byte of padding after the string'],
    ['ff', 'a byte of ones alone: 8 bits of padding'],
    ['fe', 'seven ones then a zero: neither padding nor a code'],
    ['ffffffff', 'EOS (30 ones) inside the string'],
    ['fffffffc', 'EOS followed by zeros'],
    ['1fffffffff', "'a' then EOS"],
    ['00', "'0' then three zero bits of padding"]
  ]
  for (const [h, label] of bad) {
    t.throws(() => huffmanDecode(hex(h)), { name: 'Http2Error', code: ErrorCode.COMPRESSION_ERROR }, label)
  }
  t.equal(huffmanDecode(hex('07')).toString(), '0', "'0' with three bits of padding is valid")
  t.equal(huffmanDecode(hex('1f')).toString(), 'a')
  t.equal(huffmanDecode(hex('0f')).toString(), '1', "'1' (00001) with three bits of padding")
  // truncating any RFC vector by a byte either fails or yields a strict prefix of the string, never more
  for (const [s, h] of VECTORS) {
    const b = hex(h)
    for (let n = 0; n < b.length; n++) {
      try {
        const out = huffmanDecode(b.subarray(0, n)).toString('latin1')
        if (!s.startsWith(out)) { t.fail(`truncated ${s} decoded to ${out}`); return }
      } catch (e) {
        if (!(e instanceof Http2Error) || e.code !== ErrorCode.COMPRESSION_ERROR) { t.fail(`truncated ${s}: ${String(e)}`); return }
      }
    }
  }
})

t.test('fuzz: random bytes decode or raise COMPRESSION_ERROR, nothing else', async t => {
  let refused = 0
  for (let i = 0; i < 20000; i++) {
    const b = randomBytes(1 + Math.floor(Math.random() * 24))
    try {
      const out = huffmanDecode(b)
      // whatever decodes re-encodes to at most the same length (the decoder accepted only valid padding)
      if (huffmanLength(out) !== b.length) { t.fail(`${b.toString('hex')} decoded to ${out.length} octets that re-encode to ${huffmanLength(out)} bytes`); return }
      if (!encode(out).equals(b)) { t.fail(`${b.toString('hex')} does not re-encode to itself`); return }
    } catch (e) {
      refused++
      if (!(e instanceof Http2Error) || e.code !== ErrorCode.COMPRESSION_ERROR) { t.fail(`${b.toString('hex')}: ${String(e)}`); return }
    }
  }
  t.ok(refused > 1000, `${refused} of 20000 refused, all COMPRESSION_ERROR`)
})
