import { VecgateError } from '../../lib/errors.js'

/**
 * The protobuf wire format, read in place (protobuf.dev/programming-guides/encoding): tags, varints,
 * fixed-width values and length-delimited ranges, without building message objects. Result masking
 * walks upstream answers with it and decodes only the values a mask may change; `MessageBuilder`
 * writes a message back from the unchanged byte ranges and the re-encoded parts.
 */
export const VARINT = 0
export const I64 = 1
export const LEN = 2
export const I32 = 5

function malformed (what: string): VecgateError {
  return new VecgateError('VG_ERR_MALFORMED', `upstream response is not valid protobuf: ${what}`)
}

export class WireReader {
  pos: number
  /** field number and wire type of the last tag read */
  field = 0
  wireType = 0
  /** where the last field (tag included) started */
  fieldStart = 0

  constructor (readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start
  }

  /** reads the next tag; false at the end */
  next (): boolean {
    if (this.pos >= this.end) return false
    this.fieldStart = this.pos
    const t = this.varint()
    this.field = Math.floor(t / 8)
    this.wireType = t & 7
    if (this.field === 0) throw malformed('field number 0')
    return true
  }

  /** a varint as a number (exact up to 2^53; larger values come out rounded, but never small) */
  varint (): number {
    const b = this.buf
    let x = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed('truncated varint')
      const c = b[this.pos++]
      x += (c & 0x7f) * mul
      if (c < 0x80) return x
      mul *= 128
    }
    throw malformed('varint longer than 10 bytes')
  }

  /** a length-delimited field: returns where its content starts; `pos` is moved past it */
  len (): number {
    const n = this.varint()
    const start = this.pos
    if (n > this.end - start) throw malformed('length beyond the message')
    this.pos = start + n
    return start
  }

  double (): number {
    if (this.end - this.pos < 8) throw malformed('truncated fixed64')
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true)
    this.pos += 8
    return v
  }

  /** skips the value of the last tag read */
  skip (): void {
    switch (this.wireType) {
      case VARINT: this.varint(); return
      case I64: this.pos += 8; break
      case LEN: this.len(); return
      case I32: this.pos += 4; break
      default: throw malformed(`wire type ${this.wireType}`)
    }
    if (this.pos > this.end) throw malformed('truncated fixed-width value')
  }
}

export function varintSize (n: number): number {
  let size = 1
  while (n >= 128) { n = Math.floor(n / 128); size++ }
  return size
}

function writeVarint (out: Buffer, pos: number, n: number): number {
  while (n >= 128) { out[pos++] = (n % 128) | 0x80; n = Math.floor(n / 128) }
  out[pos++] = n
  return pos
}

/**
 * A message rebuilt from pieces: byte ranges kept as they are and length-delimited fields with new
 * content, which may itself be a builder (a point inside a response), so nested messages are written
 * once, into one allocation, at `finish`.
 */
export class MessageBuilder {
  private readonly parts: Array<Uint8Array | number | MessageBuilder> = []
  /** bytes `finish` will write */
  byteLength = 0

  /** bytes copied as they are (whole fields, tags included) */
  raw (b: Uint8Array): void {
    if (b.length === 0) return
    this.parts.push(b)
    this.byteLength += b.length
  }

  /** field `field` (wire type LEN) holding `content` */
  field (field: number, content: Uint8Array | MessageBuilder): void {
    const tag = field * 8 + LEN
    const n = content.byteLength
    this.parts.push(tag, n, content)
    this.byteLength += varintSize(tag) + varintSize(n) + n
  }

  finish (): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength)
    this.writeTo(out, 0)
    return out
  }

  private writeTo (out: Buffer, pos: number): number {
    for (const p of this.parts) {
      if (typeof p === 'number') pos = writeVarint(out, pos, p)
      else if (p instanceof MessageBuilder) pos = p.writeTo(out, pos)
      else if (p.length < 32) { for (let i = 0; i < p.length; i++) out[pos++] = p[i] } // small parts: a loop beats set()'s call
      else { out.set(p, pos); pos += p.length }
    }
    return pos
  }
}

/**
 * A message rewritten in place of some of its LEN fields: the bytes between them are copied as they
 * came, only the replaced fields are built. Made at the first replacement, so a message that stays as
 * it is costs nothing.
 */
export class MessageSplice extends MessageBuilder {
  private copied: number

  constructor (private readonly source: Buffer, start: number) {
    super()
    this.copied = start
  }

  /** the field in source[fieldStart, end) becomes field `field` holding `content`, or goes when undefined */
  replace (fieldStart: number, end: number, field: number, content: Uint8Array | MessageBuilder | undefined): void {
    this.raw(this.source.subarray(this.copied, fieldStart))
    if (content !== undefined) this.field(field, content)
    this.copied = end
  }

  /** the message up to `end`: the bytes after the last replacement as they came */
  upTo (end: number): this {
    this.raw(this.source.subarray(this.copied, end))
    return this
  }
}

/**
 * The value of a `repeated float` field under the reader (its tag just read): packed (LEN) or one
 * float (I32). Each float32 is rounded in place by `round` on its bit pattern (little-endian on the
 * wire); rounding keeps the width, so the message around it stays valid. Returns how many floats.
 */
export function roundFloats (r: WireReader, round: { roundFloat32 (bits: number): number }): number {
  let s: number
  if (r.wireType === I32) {
    s = r.pos
    r.skip()
    roundFloat(r.buf, s, round)
    let n = 1
    // unpacked floats come one after another under the same one-byte tag: round the run directly
    const tag = r.field * 8 + I32
    const buf = r.buf
    while (tag < 128 && r.end - r.pos >= 5 && buf[r.pos] === tag) {
      roundFloat(buf, r.pos + 1, round)
      r.pos += 5
      n++
    }
    return n
  } else if (r.wireType === LEN) {
    s = r.len()
    if ((r.pos - s) % 4 !== 0) throw malformed('packed floats not a multiple of 4 bytes')
  } else {
    r.skip()
    return 0
  }
  for (let at = s; at < r.pos; at += 4) roundFloat(r.buf, at, round)
  return (r.pos - s) / 4
}

function roundFloat (buf: Uint8Array, at: number, round: { roundFloat32 (bits: number): number }): void {
  const x = (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0
  const y = round.roundFloat32(x)
  if (y === x) return
  buf[at] = y & 0xff
  buf[at + 1] = (y >>> 8) & 0xff
  buf[at + 2] = (y >>> 16) & 0xff
  buf[at + 3] = y >>> 24
}
