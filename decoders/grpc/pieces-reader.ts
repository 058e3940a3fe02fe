/**
 * The protobuf wire format (protobuf.dev/programming-guides/encoding) read over a message held in the
 * pieces it arrived in (the DATA frames of a large request), so a classification that reads a few
 * fields of a 600 KB message never joins it into one buffer. The semantics follow protobufjs's Reader
 * (uint32 keeps the low 32 bits of a varint and takes one longer than 5 bytes to be 10; reading past
 * the end throws), so bytes
 * refused by one are refused by the other.
 */
export class PiecesReader {
  /** offset in the whole message */
  pos = 0
  readonly len: number
  private piece = 0
  private at = 0
  /** where each piece starts in the whole message */
  private readonly starts: number[] = []

  constructor (private readonly pieces: readonly Buffer[]) {
    let n = 0
    for (const p of pieces) { this.starts.push(n); n += p.length }
    this.len = n
  }

  uint32 (): number {
    let value = 0
    for (let i = 0; i < 5; i++) {
      const b = this.byte()
      value = (value | ((b & 0x7f) << (7 * i))) >>> 0
      if (b < 0x80) return value
    }
    // as protobufjs: a varint still going after 5 bytes is taken to be 10 bytes long, the rest unread
    this.skip(5)
    return value
  }

  /** moves past `n` bytes */
  skip (n: number): void {
    if (n > this.len - this.pos) throw outOfRange(`${n} bytes beyond the end`)
    this.pos += n
    let left = n
    while (left > 0) {
      const room = this.pieces[this.piece].length - this.at
      if (left < room) {
        this.at += left
        return
      }
      left -= room
      this.piece++
      this.at = 0
    }
  }

  /** skips the value of a field of wire type `wireType` (groups included, as protobufjs does) */
  skipType (wireType: number): void {
    switch (wireType) {
      case 0:
        // a varint of any length, as protobufjs skips it
        while (this.byte() >= 0x80);
        return
      case 1: this.skip(8); return
      case 2: this.skip(this.uint32()); return
      case 3:
        for (let t = this.uint32() & 7; t !== 4; t = this.uint32() & 7) this.skipType(t)
        return
      case 5: this.skip(4); return
      default: throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`)
    }
  }

  /** the bytes [start, end) of the message: a view when they lie in one piece, else a copy of them alone */
  bytes (start: number, end: number): Buffer {
    let k = this.piece < this.pieces.length ? this.piece : this.pieces.length - 1
    while (k > 0 && this.starts[k] > start) k--
    const p = this.pieces[k]
    const from = start - this.starts[k]
    if (end - this.starts[k] <= p.length) return p.subarray(from, end - this.starts[k])
    const out = Buffer.allocUnsafe(end - start)
    let filled = 0
    for (let i = k; filled < out.length; i++) {
      const src = this.pieces[i]
      const a = i === k ? from : 0
      const n = Math.min(src.length - a, out.length - filled)
      src.copy(out, filled, a, a + n)
      filled += n
    }
    return out
  }

  private byte (): number {
    if (this.pos >= this.len) throw outOfRange('truncated varint')
    let p = this.pieces[this.piece]
    while (this.at >= p.length) {
      this.piece++
      this.at = 0
      p = this.pieces[this.piece]
    }
    this.pos++
    return p[this.at++]
  }
}

function outOfRange (what: string): RangeError {
  return new RangeError(`index out of range: ${what}`)
}
