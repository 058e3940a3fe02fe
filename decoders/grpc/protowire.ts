import { VecgateError } from '../../lib/errors.js'
import { copyBytes, moveBack } from '../../lib/mask/bytes.js'

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

  constructor (public buf: Uint8Array, start: number, public end: number) {
    this.pos = start
  }

  /** the reader moved to buf[start, end), as if new: walks that keep a reader per nesting level allocate none per message */
  reset (buf: Uint8Array, start: number, end: number): this {
    this.buf = buf
    this.pos = start
    this.end = end
    this.field = 0
    this.wireType = 0
    this.fieldStart = start
    return this
  }

  /** reads the next tag; false at the end */
  next (): boolean {
    const p = this.pos
    if (p >= this.end) return false
    this.fieldStart = p
    const c = this.buf[p]
    // tags of fields 1–15 are one byte: read them as small integers (the hot path of every walk)
    if (c < 0x80) {
      this.pos = p + 1
      this.field = c >>> 3
      this.wireType = c & 7
    } else {
      const t = this.varint()
      this.field = Math.floor(t / 8)
      this.wireType = t & 7
    }
    if (this.field === 0) throw malformed('field number 0')
    return true
  }

  /** a varint as a number (exact up to 2^53; larger values come out rounded, but never small) */
  varint (): number {
    const b = this.buf
    const p = this.pos
    // one and two bytes (lengths below 16 KiB, small numbers) as small integers
    if (p + 1 < this.end) {
      const c = b[p]
      if (c < 0x80) { this.pos = p + 1; return c }
      const d = b[p + 1]
      if (d < 0x80) { this.pos = p + 2; return (c & 0x7f) | (d << 7) }
    }
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
  if (n < 128) return 1
  if (n < 16384) return 2
  let size = 1
  while (n >= 128) { n = Math.floor(n / 128); size++ }
  return size
}

/** n as a varint at out[pos]; returns where it ends */
export function writeVarint (out: Buffer, pos: number, n: number): number {
  if (n < 0x80000000) { // tags and lengths: in int32 range, shifted as integers
    while (n >= 128) { out[pos++] = (n & 127) | 128; n >>>= 7 }
    out[pos++] = n
    return pos
  }
  while (n >= 128) { out[pos++] = (n % 128) | 0x80; n = Math.floor(n / 128) }
  out[pos++] = n
  return pos
}

// what MessageBuilder.ops holds, one code per part and its numbers after it
const BYTES = 0 // a Uint8Array in objs
const NUMBER = 1 // a varint (tag or length): the value follows
const NESTED = 2 // a Part (a MessageBuilder, or a piece that writes itself) in objs
const RANGE = 3 // bytes of `source`: start and end follow

/** content that knows its length and writes itself (a nested builder, or a column written row by row) */
export interface Part {
  readonly byteLength: number
  writeTo (out: Buffer, pos: number): number
}

/**
 * A message rebuilt from pieces: byte ranges kept as they are and length-delimited fields with new
 * content, which may itself be a builder (a point inside a response), so nested messages are written
 * once, into one allocation, at `finish`. Parts are codes and numbers in one integer array and the
 * objects in another, so writing walks no mixed-type list and kept ranges need no Buffer views.
 */
export class MessageBuilder implements Part {
  private readonly ops: number[] = []
  private readonly objs: Array<Uint8Array | Part> = []
  /** bytes `finish` will write */
  byteLength = 0

  constructor (protected readonly source: Uint8Array = EMPTY) {}

  /** bytes copied as they are (whole fields, tags included) */
  raw (b: Uint8Array): void {
    if (b.length === 0) return
    this.ops.push(BYTES)
    this.objs.push(b)
    this.byteLength += b.length
  }

  /** source[a, b) copied as it is */
  protected range (a: number, b: number): void {
    if (b <= a) return
    this.ops.push(RANGE, a, b)
    this.byteLength += b - a
  }

  /** field `field` (wire type LEN) holding `content` */
  field (field: number, content: Uint8Array | Part): void {
    const tag = field * 8 + LEN
    const n = content.byteLength
    this.ops.push(NUMBER, tag, NUMBER, n, content instanceof Uint8Array ? BYTES : NESTED)
    this.objs.push(content)
    this.byteLength += varintSize(tag) + varintSize(n) + n
  }

  /** field `field` (wire type LEN) holding source[a, b), copied from the source at `finish` */
  sourceField (field: number, a: number, b: number): void {
    const tag = field * 8 + LEN
    this.ops.push(NUMBER, tag, NUMBER, b - a, RANGE, a, b)
    this.byteLength += varintSize(tag) + varintSize(b - a) + b - a
  }

  /**
   * field `outer` holding a message of one field, `inner`, holding `content` (a oneof member such
   * as a Value's struct_value): both headers written here, without a builder for the middle message
   */
  fieldIn (outer: number, inner: number, content: Uint8Array | Part): void {
    const innerTag = inner * 8 + LEN
    const n = content.byteLength
    const middle = varintSize(innerTag) + varintSize(n) + n
    const outerTag = outer * 8 + LEN
    this.ops.push(NUMBER, outerTag, NUMBER, middle, NUMBER, innerTag, NUMBER, n, content instanceof Uint8Array ? BYTES : NESTED)
    this.objs.push(content)
    this.byteLength += varintSize(outerTag) + varintSize(middle) + middle
  }

  finish (): Buffer {
    const out = Buffer.allocUnsafe(this.byteLength)
    if (this.writeTo(out, 0) !== out.length) throw new VecgateError('VG_ERR_INTERNAL', 'masked message is not the size computed for it')
    return out
  }

  writeTo (out: Buffer, pos: number): number {
    const ops = this.ops
    const objs = this.objs
    let o = 0
    for (let i = 0; i < ops.length;) {
      switch (ops[i]) {
        case NUMBER: pos = writeVarint(out, pos, ops[i + 1]); i += 2; break
        case RANGE: pos = copyBytes(this.source, ops[i + 1], ops[i + 2], out, pos); i += 3; break
        case NESTED: pos = (objs[o++] as Part).writeTo(out, pos); i++; break
        default: { const b = objs[o++] as Uint8Array; pos = copyBytes(b, 0, b.length, out, pos); i++ }
      }
    }
    return pos
  }
}

const EMPTY = new Uint8Array(0)

/**
 * A message rewritten in place of some of its LEN fields: the bytes between them are copied as they
 * came, only the replaced fields are built. Made at the first replacement, so a message that stays as
 * it is costs nothing.
 */
export class MessageSplice extends MessageBuilder {
  private copied: number

  constructor (source: Uint8Array, start: number) {
    super(source)
    this.copied = start
  }

  /** the field in source[fieldStart, end) becomes field `field` holding `content`, or goes when undefined */
  replace (fieldStart: number, end: number, field: number, content: Uint8Array | Part | undefined): void {
    this.range(this.copied, fieldStart)
    if (content !== undefined) this.field(field, content)
    this.copied = end
  }

  /** the message up to `end`: the bytes after the last replacement as they came */
  upTo (end: number): this {
    this.range(this.copied, end)
    return this
  }
}

/**
 * A message rewritten as edits over its source bytes, in source order: each edit puts up to two
 * varints (a field's tag and length) and some bytes in place of source[a, b). Whatever the nesting,
 * the kept runs between edits are copied once, straight into the one output buffer, whose length is
 * known before writing. A LEN field whose content is being walked is `open`ed (a place for its
 * header, in source order) and `close`d when its content's new length is known; with no edit inside
 * it goes, so content left as it came costs nothing. The lists are reused message after message
 * (`reset`): a rewrite allocates the output and the bytes that replace values, nothing per field.
 */
export class MessageEdits {
  /** per edit: a, b, then the two varints (-1: none); an open field's length slot holds `delta` at `open` */
  private nums: number[] = []
  private bytes: Array<Uint8Array | undefined> = []
  /** edits so far */
  count = 0
  /** the output's length minus the source's, over the edits so far */
  delta = 0
  /** some edit since `reset` made its part longer: the output may run ahead of the source (`writeFrom`) */
  private grows = false

  reset (): void {
    if (this.nums.length > 4 * KEPT_EDITS) { // lists grown by one huge message are let go, not kept for good
      this.nums = []
      this.bytes = []
    }
    this.count = 0
    this.delta = 0
    this.grows = false
  }

  /** source[a, b) becomes the varints `v1`, `v2` (each left out when negative) and `content` */
  edit (a: number, b: number, v1: number, v2: number, content: Uint8Array | undefined): void {
    const i = this.count++
    const n = this.nums
    n[4 * i] = a
    n[4 * i + 1] = b
    n[4 * i + 2] = v1
    n[4 * i + 3] = v2
    this.bytes[i] = content
    const d = (v1 >= 0 ? varintSize(v1) : 0) + (v2 >= 0 ? varintSize(v2) : 0) + (content?.length ?? 0) - (b - a)
    if (d > 0) this.grows = true
    this.delta += d
  }

  /** the field in source[a, b) becomes field `field` (wire type LEN) holding `content`, or goes when undefined */
  replace (a: number, b: number, field: number, content: Uint8Array | undefined): void {
    if (content === undefined) this.edit(a, b, -1, -1, undefined)
    else this.edit(a, b, field * 8 + LEN, content.length, content)
  }

  /**
   * The header source[a, b) of a LEN field about to be walked, to become field `field`'s tag and
   * its content's new length at `close`; returns the edit's index for `close`.
   */
  open (a: number, b: number, field: number): number {
    const i = this.count++
    const n = this.nums
    n[4 * i] = a
    n[4 * i + 1] = b
    n[4 * i + 2] = field * 8 + LEN
    n[4 * i + 3] = this.delta
    this.bytes[i] = undefined
    return i
  }

  /** the field opened as edit `i`, its content `length` bytes in the source: true when its content changed */
  close (i: number, length: number): boolean {
    if (this.count === i + 1) { // nothing changed inside: the header stays as it came
      this.count = i
      return false
    }
    const n = this.nums
    const tag = n[4 * i + 2]
    const now = length + this.delta - n[4 * i + 3]
    n[4 * i + 3] = now
    const d = varintSize(tag) + varintSize(now) - (n[4 * i + 1] - n[4 * i])
    if (d > 0) this.grows = true
    this.delta += d
    return true
  }

  /** drops the edits from `count` on (an open field's included), `delta` being what it was then */
  truncate (count: number, delta: number): void {
    this.count = count
    this.delta = delta
  }

  /** source[a, b) with every edit applied */
  write (source: Uint8Array, a: number, b: number): Buffer {
    return this.writeFrom(source, a, b, 0)
  }

  /**
   * source[a, b) with the edits from `from` on applied (all of them inside it), as bytes of its
   * own; those edits are dropped (`truncate(from, delta)`, `delta` being what it was before them)
   */
  take (source: Uint8Array, a: number, b: number, from: number, delta: number): Buffer {
    const out = this.writeFrom(source, a, b, from)
    this.truncate(from, delta)
    return out
  }

  /**
   * The source range is copied whole into the output first, `ahead` bytes in, and the output is then
   * written over it from the start, each kept run moved back with `copyWithin` (a memmove within one
   * buffer, where a copy from the source needs a view of it per run, which cost more than the copy).
   * `ahead` is the most the output ever runs ahead of the source, so a write never reaches bytes
   * not yet moved. The output is the buffer's first (b - a + delta) bytes.
   */
  private writeFrom (source: Uint8Array, a: number, b: number, from: number): Buffer {
    const n = this.nums
    const bytes = this.bytes
    let ahead = 0
    if (this.grows) {
      let sum = 0
      for (let i = from; i < this.count; i++) {
        const v1 = n[4 * i + 2]
        const v2 = n[4 * i + 3]
        sum += (v1 >= 0 ? varintSize(v1) : 0) + (v2 >= 0 ? varintSize(v2) : 0) + (bytes[i]?.length ?? 0) - (n[4 * i + 1] - n[4 * i])
        if (sum > ahead) ahead = sum
      }
    }
    const out = Buffer.allocUnsafe(ahead + b - a)
    if (a === 0 && b === source.length) out.set(source, ahead)
    else out.set(new Uint8Array(source.buffer, source.byteOffset + a, b - a), ahead)
    const shift = ahead - a // where source byte i now is: out[i + shift]
    let pos = 0
    let copied = a
    for (let i = from; i < this.count; i++) {
      pos = moveBack(out, copied + shift, n[4 * i] + shift, pos)
      const v1 = n[4 * i + 2]
      const v2 = n[4 * i + 3]
      if (v1 >= 0) { if (v1 < 0x80) out[pos++] = v1; else pos = writeVarint(out, pos, v1) }
      if (v2 >= 0) { if (v2 < 0x80) out[pos++] = v2; else pos = writeVarint(out, pos, v2) }
      const c = bytes[i]
      if (c !== undefined) {
        if (c.length < 16) for (let k = 0; k < c.length; k++) out[pos++] = c[k]
        else { out.set(c, pos); pos += c.length }
      }
      copied = n[4 * i + 1]
    }
    pos = moveBack(out, copied + shift, b + shift, pos)
    return pos === out.length ? out : out.subarray(0, pos)
  }
}

const KEPT_EDITS = 16384


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
