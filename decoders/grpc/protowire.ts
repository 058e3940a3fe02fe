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
      else { out.set(p, pos); pos += p.length }
    }
    return pos
  }
}

/**
 * The message buf[a, b) with some of its length-delimited fields given new content: `fn` sees each
 * LEN field (number and content range) and returns the new content, or null to keep it. Null when
 * nothing changed.
 */
export function rewriteLen (buf: Uint8Array, a: number, b: number, fn: (field: number, start: number, end: number) => Uint8Array | null): Buffer | null {
  const r = new WireReader(buf, a, b)
  let out: MessageBuilder | undefined
  let copied = a
  while (r.next()) {
    if (r.wireType !== LEN) { r.skip(); continue }
    const fs = r.fieldStart
    const s = r.len()
    const c = fn(r.field, s, r.pos)
    if (c === null) continue
    out ??= new MessageBuilder()
    out.raw(buf.subarray(copied, fs))
    out.field(r.field, c)
    copied = r.pos
  }
  if (out === undefined) return null
  out.raw(buf.subarray(copied, b))
  return out.finish()
}
