import { isUtf8 } from 'node:buffer'
import { copyBytes } from '../lib/mask/bytes.js'
import type { TextOut } from './types.js'

/**
 * JSON text written as UTF-8 straight into the journal's batch (`TextOut`), with the bytes of
 * strings copied from a protocol message as they are: what a result view's `journalText` writes
 * with (Qdrant points, Postgres rows). Strings are escaped as JSON.stringify escapes them; bytes
 * that are not UTF-8 are replaced at the end (`done`) as decoding the strings would replace them.
 */
export class JsonOut {
  /** the text so far: `sink.buf` up to `pos` */
  protected out: Buffer
  protected pos: number
  /** the source's bytes four at a time, from its first 4-aligned byte, `shift` bytes into it (for `plain`) */
  private words: Int32Array<ArrayBufferLike> = NO_WORDS
  private shift = 0
  private source: Buffer | undefined

  constructor (protected readonly sink: TextOut) {
    this.out = sink.buf
    this.pos = sink.pos
  }

  /** makes room for `n` more bytes (the sink may move the text into a larger buffer) */
  protected room (n: number): void {
    if (this.pos + n <= this.out.length) return
    this.sink.pos = this.pos
    this.sink.room(n)
    this.out = this.sink.buf
  }

  /** ASCII text (punctuation, numbers) */
  protected ascii (text: string): void {
    this.room(text.length)
    const out = this.out
    let p = this.pos
    for (let i = 0; i < text.length; i++) out[p++] = text.charCodeAt(i)
    this.pos = p
  }

  /** bytes as they are (text made before, such as a key and its colon) */
  protected bytes (b: Uint8Array): void {
    this.room(b.length)
    this.pos = copyBytes(b, 0, b.length, this.out, this.pos)
  }

  /** `buf[a, b)` as a JSON string, escaped as JSON.stringify escapes (quote, backslash, controls) */
  protected string (buf: Buffer, a: number, b: number): void {
    if (b - a >= 16 && this.plain(buf, a, b)) {
      // nothing to escape (most text): one copy
      this.room(b - a + 2)
      const out = this.out
      out[this.pos] = 0x22
      buf.copy(out, this.pos + 1, a, b)
      this.pos += b - a + 1
      out[this.pos++] = 0x22
      return
    }
    this.room((b - a) * 6 + 2)
    const out = this.out
    let p = this.pos
    out[p++] = 0x22
    for (let i = a; i < b; i++) {
      const c = buf[i]
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) { out[p++] = c; continue }
      out[p++] = 0x5c
      switch (c) {
        case 0x22: out[p++] = 0x22; break
        case 0x5c: out[p++] = 0x5c; break
        case 0x08: out[p++] = 0x62; break
        case 0x09: out[p++] = 0x74; break
        case 0x0a: out[p++] = 0x6e; break
        case 0x0c: out[p++] = 0x66; break
        case 0x0d: out[p++] = 0x72; break
        default:
          out[p++] = 0x75; out[p++] = 0x30; out[p++] = 0x30
          out[p++] = HEX[c >> 4]; out[p++] = HEX[c & 15]
      }
    }
    out[p++] = 0x22
    this.pos = p
  }

  /**
   * Whether `buf[a, b)` holds no byte JSON.stringify escapes (below 0x20, quote, backslash), read
   * four bytes at a time where it can: a byte-by-byte loop is most of the cost of a result's text.
   * Exact (a word flagged by mistake only costs the byte-by-byte path).
   */
  private plain (buf: Buffer, a: number, b: number): boolean {
    if (buf !== this.source) {
      // the words of a new source buffer, once
      this.source = buf
      this.shift = (4 - (buf.byteOffset & 3)) & 3
      this.words = buf.length >= this.shift + 4 ? new Int32Array(buf.buffer, buf.byteOffset + this.shift, (buf.length - this.shift) >> 2) : NO_WORDS
    }
    const shift = this.shift
    const w0 = Math.ceil((a - shift) / 4)
    const w1 = Math.floor((b - shift) / 4)
    if (w1 <= w0) return plainBytes(buf, a, b)
    if (!plainBytes(buf, a, shift + w0 * 4) || !plainBytes(buf, shift + w1 * 4, b)) return false
    const words = this.words
    for (let w = w0; w < w1; w++) {
      const x = words[w]
      const q = x ^ 0x22222222
      const s = x ^ 0x5c5c5c5c
      // a byte below 0x20, a byte 0x22, a byte 0x5c (the bit-twiddling "has less than" and "has zero byte")
      if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) return false
    }
    return true
  }

  /**
   * The text written since `start` is complete: bytes in it that are not UTF-8 are stored as the
   * string they decode to, with U+FFFD for them, as they would be string by string (every string
   * sits between ASCII quotes): one decode of the whole text. The sink is told where the text ends.
   */
  protected done (start: number): void {
    if (!isUtf8(this.out.subarray(start, this.pos))) {
      const text = this.out.toString('utf8', start, this.pos)
      this.pos = start
      this.room(Buffer.byteLength(text))
      this.pos += this.out.write(text, this.pos, 'utf8')
    }
    this.sink.pos = this.pos
  }
}

const HEX = Buffer.from('0123456789abcdef', 'latin1')
const NO_WORDS = new Int32Array(0)

function plainBytes (buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = buf[i]
    if (c < 0x20 || c === 0x22 || c === 0x5c) return false
  }
  return true
}
