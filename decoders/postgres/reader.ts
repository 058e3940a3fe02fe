import { VecgateError } from '../../lib/errors.js'
import { codeName } from './protocol.js'

const EMPTY = Buffer.alloc(0)

/**
 * Incremental reader of wire-protocol messages, in the manner of pg-protocol's parser: a cursor over
 * the bytes kept so far, yielding only complete messages, as offsets into the kept buffer (no copies).
 *
 * After `next()` returns true, `buf[start, end)` is the whole message as it arrived (type byte and
 * length included) and `buf[body, end)` its payload. The buffers handed out are never written to
 * again — a partial tail is joined to the next chunk in a fresh buffer — so callers may pass slices
 * straight to `socket.write` while they keep reading.
 *
 * `startup` mode reads the untyped first packets (55.7: length, then code; no type byte).
 */
export class MessageReader {
  buf: Buffer = EMPTY
  /** type byte of the current message (0 in startup mode) */
  code = 0
  start = 0
  body = 0
  end = 0
  private pos = 0

  constructor (private maxLength: number, public startup = false) {}

  push (chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk])
    }
    this.pos = 0
  }

  /** bytes kept that do not form a complete message yet */
  get pending (): number { return this.buf.length - this.pos }

  /** the bytes not consumed yet (used when a socket changes hands, e.g. after SSLRequest) */
  rest (): Buffer { return this.buf.subarray(this.pos) }

  setMaxLength (n: number): void { this.maxLength = n }

  /** Advances to the next complete message. Throws VG_ERR_MALFORMED / VG_ERR_OVERSIZE on a lying length. */
  next (): boolean {
    const buf = this.buf
    const pos = this.pos
    const avail = buf.length - pos
    if (this.startup) {
      if (avail < 4) return false
      const len = buf.readInt32BE(pos)
      // 55.7 StartupMessage: length includes itself; the smallest packet (a request code) is 8 bytes
      if (len < 8) throw new VecgateError('VG_ERR_MALFORMED', `invalid startup packet length ${len}`)
      if (len > this.maxLength) throw new VecgateError('VG_ERR_OVERSIZE', `startup packet of ${len} bytes exceeds the limit of ${this.maxLength}`)
      if (avail < len) return false
      this.code = 0
      this.start = pos
      this.body = pos + 4
      this.end = pos + len
      this.pos = this.end
      return true
    }
    if (avail < 5) return false
    const len = buf.readInt32BE(pos + 1)
    if (len < 4) throw new VecgateError('VG_ERR_MALFORMED', `invalid length ${len} in message '${codeName(buf[pos])}'`)
    if (len > this.maxLength) throw new VecgateError('VG_ERR_OVERSIZE', `message '${codeName(buf[pos])}' of ${len} bytes exceeds the limit of ${this.maxLength}`)
    if (avail < len + 1) return false
    this.code = buf[pos]
    this.start = pos
    this.body = pos + 5
    this.end = pos + 1 + len
    this.pos = this.end
    return true
  }

  /**
   * The type byte and total size (type byte included) of the next message when its header has arrived
   * but not all of it; undefined otherwise. Lets a relay stream a big message it need not look into.
   */
  partial (): { code: number, size: number } | undefined {
    const avail = this.buf.length - this.pos
    if (this.startup || avail < 5) return undefined
    const size = this.buf.readInt32BE(this.pos + 1) + 1
    if (size <= avail || size < 5) return undefined
    return { code: this.buf[this.pos], size }
  }

  /** Hands out everything kept so far (the start of a partial message) and forgets it. */
  take (): Buffer {
    const b = this.buf.subarray(this.pos)
    this.buf = EMPTY
    this.pos = 0
    return b
  }

  /** the whole current message, as it arrived */
  message (): Buffer { return this.buf.subarray(this.start, this.end) }
}

/** A cursor over one message body: what the decoders use to read fields in place. */
export class BodyCursor {
  constructor (public buf: Buffer, public pos: number, public end: number) {}

  private need (n: number): void {
    if (this.pos + n > this.end) throw new VecgateError('VG_ERR_MALFORMED', 'message shorter than its fields')
  }

  int16 (): number { this.need(2); const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v }
  int32 (): number { this.need(4); const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v }
  byte (): number { this.need(1); return this.buf[this.pos++] }

  cstring (): string {
    // the unnamed statement and portal (most Bind, Describe and Execute messages): no search, no decoding
    if (this.pos < this.end && this.buf[this.pos] === 0) { this.pos++; return '' }
    const z = this.buf.indexOf(0, this.pos)
    if (z < 0 || z >= this.end) throw new VecgateError('VG_ERR_MALFORMED', 'unterminated string in message')
    const s = this.buf.toString('utf8', this.pos, z)
    this.pos = z + 1
    return s
  }

  bytes (n: number): Buffer { this.need(n); const b = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return b }
  skip (n: number): void { this.need(n); this.pos += n }
  get left (): number { return this.end - this.pos }
}
