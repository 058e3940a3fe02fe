/**
 * HPACK Huffman code (RFC 7541 Appendix B): the code and its bit length for each octet, and EOS.
 * Encoding writes codes into a bit accumulator; decoding walks a tree built once from the same table.
 */
import { ErrorCode } from './constants.js'
import { Http2Error } from './frames.js'

const CODES = new Uint32Array([
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee
])

const LENGTHS = new Uint8Array([
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26
])

/** EOS: 30 ones (Appendix B, symbol 256) */
const EOS_LENGTH = 30

/** The tree as flat arrays: node i has children left[i] / right[i]; a leaf holds symbol (>= 0). */
const left: number[] = [-1]
const right: number[] = [-1]
const symbol: number[] = [-1]
function insert (code: number, length: number, sym: number): void {
  let node = 0
  for (let bit = length - 1; bit >= 0; bit--) {
    const one = ((code >>> bit) & 1) === 1
    const children = one ? right : left
    if (children[node] === -1) {
      children[node] = symbol.length
      left.push(-1); right.push(-1); symbol.push(-1)
    }
    node = children[node]
  }
  symbol[node] = sym
}
for (let i = 0; i < 256; i++) insert(CODES[i], LENGTHS[i], i)
insert(0x3fffffff, EOS_LENGTH, 256)
const LEFT = Int32Array.from(left)
const RIGHT = Int32Array.from(right)
const SYMBOL = Int32Array.from(symbol)

/** Length in bytes of the Huffman encoding of `s` (latin1 bytes). */
export function huffmanLength (s: Buffer): number {
  let bits = 0
  for (let i = 0; i < s.length; i++) bits += LENGTHS[s[i]]
  return (bits + 7) >>> 3
}

/** Encodes into `out` at `at`; returns the new offset. Padding is the most significant bits of EOS (ones). */
export function huffmanEncode (s: Buffer, out: Buffer, at: number): number {
  let acc = 0
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const len = LENGTHS[s[i]]
    const code = CODES[s[i]]
    // emit high bits first; keep the accumulator under 32 bits by flushing bytes as they fill
    for (let rem = len; rem > 0;) {
      const take = Math.min(rem, 8)
      rem -= take
      acc = ((acc << take) | ((code >>> rem) & ((1 << take) - 1))) >>> 0
      n += take
      while (n >= 8) {
        n -= 8
        out[at++] = (acc >>> n) & 0xff
      }
      acc &= (1 << n) - 1
    }
  }
  if (n > 0) out[at++] = ((acc << (8 - n)) | (0xff >>> n)) & 0xff
  return at
}

/**
 * Decodes a Huffman string (RFC 7541 §5.2). Padding longer than 7 bits, padding that is not the EOS
 * prefix, or an EOS symbol inside the string is a COMPRESSION_ERROR.
 */
export function huffmanDecode (b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(b.length * 8 / 5))
  let o = 0
  let node = 0
  let depth = 0
  let ones = true
  for (let i = 0; i < b.length; i++) {
    const byte = b[i]
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((byte >>> bit) & 1) === 1
      node = one ? RIGHT[node] : LEFT[node]
      depth++
      ones = ones && one
      if (node === -1) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'invalid Huffman code')
      const sym = SYMBOL[node]
      if (sym >= 0) {
        if (sym === 256) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'EOS in a Huffman string')
        out[o++] = sym
        node = 0
        depth = 0
        ones = true
      }
    }
  }
  if (depth > 7 || !ones) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'invalid Huffman padding')
  return out.subarray(0, o)
}
