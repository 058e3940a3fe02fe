/**
 * HTTP/2 frames (RFC 9113 §4, §6): an incremental reader that yields complete frames as views into
 * the bytes received, payload parsers, and builders that return one Buffer each.
 */
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, FRAME_HEADER_LENGTH, Flags, FrameType, MAX_ALLOWED_FRAME_SIZE, SettingsId } from './constants.js'

export { CLIENT_PREFACE }

export interface Frame {
  type: number
  flags: number
  streamId: number
  /** payload length as declared in the header */
  length: number
  /** the payload (a view) */
  payload: Buffer
  /** header + payload as received (a view; one contiguous Buffer) */
  raw: Buffer
}

/** A connection error (streamId 0) or a stream error, with its RFC 9113 §7 code. */
export class Http2Error extends Error {
  constructor (readonly code: number, message: string, readonly streamId = 0) {
    super(message)
    this.name = 'Http2Error'
  }
}

/** The first bytes were not the HTTP/2 client preface: what they look like instead. */
export class PrefaceError extends Http2Error {
  constructor (readonly kind: 'http1' | 'tls' | 'garbage') {
    super(ErrorCode.PROTOCOL_ERROR, `not an HTTP/2 client preface (${kind})`)
    this.name = 'PrefaceError'
  }
}

/**
 * Yields complete frames from the bytes pushed; `next()` returns one frame or undefined. A frame inside
 * one pushed chunk is a zero-copy view of it. A frame that spans chunks is gathered into a buffer of
 * exactly its size, allocated once its 9-byte header has been read and its length checked: only that
 * frame's bytes are copied (never the whole next chunk), and a peer that sends a frame a byte at a time
 * costs one copy of it, not one per byte.
 */
export class FrameReader {
  maxFrameSize: number
  private buf: Buffer = EMPTY
  private off = 0
  /** the frame (or, until its header is complete, the header) being gathered across chunks */
  private spill: Buffer | undefined
  private spilled = 0
  private prefaceLeft: number

  constructor (opts: { expectPreface?: boolean, maxFrameSize?: number } = {}) {
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.prefaceLeft = opts.expectPreface === true ? CLIENT_PREFACE.length : 0
  }

  push (chunk: Buffer): void {
    if (this.off >= this.buf.length) {
      this.buf = chunk
    } else {
      // bytes not read yet: a preface still undecided (a few bytes), or a push without next() between
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk])
    }
    this.off = 0
    if (this.prefaceLeft > 0) this.checkPreface()
  }

  /** bytes held that do not yet make a frame */
  get buffered (): number { return this.spilled + this.buf.length - this.off }

  next (): Frame | undefined {
    if (this.prefaceLeft > 0) return undefined
    if (this.spill !== undefined) return this.nextSpilled()
    const b = this.buf
    const o = this.off
    const avail = b.length - o
    if (avail < FRAME_HEADER_LENGTH) {
      this.keep(avail, FRAME_HEADER_LENGTH)
      return undefined
    }
    const total = FRAME_HEADER_LENGTH + this.lengthOf(b, o)
    if (avail < total) {
      this.keep(avail, total)
      return undefined
    }
    this.off = o + total
    return frameOf(b.subarray(o, o + total))
  }

  /** payload length from a header, refused above SETTINGS_MAX_FRAME_SIZE before any payload is held (§4.2) */
  private lengthOf (b: Buffer, o: number): number {
    const length = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]
    if (length > this.maxFrameSize) {
      throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds the maximum of ${this.maxFrameSize}`)
    }
    return length
  }

  /** the last `n` bytes of the chunk start a frame of `size` bytes (or a header): copied aside */
  private keep (n: number, size: number): void {
    if (n === 0) return
    const spill = Buffer.allocUnsafe(size)
    this.buf.copy(spill, 0, this.off, this.off + n)
    this.spill = spill
    this.spilled = n
    this.off += n
  }

  private nextSpilled (): Frame | undefined {
    let spill = this.spill!
    const n = Math.min(spill.length - this.spilled, this.buf.length - this.off)
    this.buf.copy(spill, this.spilled, this.off, this.off + n)
    this.spilled += n
    this.off += n
    if (this.spilled < spill.length) return undefined
    if (spill.length === FRAME_HEADER_LENGTH) {
      // the header is complete: the frame's size is known now
      const length = this.lengthOf(spill, 0)
      if (length > 0) {
        const whole = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length)
        spill.copy(whole, 0)
        this.spill = whole
        return this.nextSpilled()
      }
    }
    spill = this.spill!
    this.spill = undefined
    this.spilled = 0
    return frameOf(spill)
  }

  /** compares as soon as bytes arrive, so HTTP/1.1, TLS and garbage are told apart on the first ones */
  private checkPreface (): void {
    const start = CLIENT_PREFACE.length - this.prefaceLeft
    const n = Math.min(this.prefaceLeft, this.buf.length - this.off)
    for (let i = 0; i < n; i++) {
      if (this.buf[this.off + i] !== CLIENT_PREFACE[start + i]) {
        // everything the peer sent so far: the matched part of the preface and what follows
        const seen = Buffer.concat([CLIENT_PREFACE.subarray(0, start), this.buf.subarray(this.off)])
        // a few more bytes may tell an HTTP/1.1 request line or a TLS record from garbage
        if (seen.length < 16 && undecided(seen)) return
        throw new PrefaceError(classify(seen))
      }
    }
    this.off += n
    this.prefaceLeft -= n
  }
}

function frameOf (raw: Buffer): Frame {
  const length = raw.length - FRAME_HEADER_LENGTH
  return {
    type: raw[3],
    flags: raw[4],
    streamId: raw.readUInt32BE(5) & 0x7fffffff,
    length,
    payload: raw.subarray(FRAME_HEADER_LENGTH),
    raw
  }
}

/** too few bytes yet to name what this is */
function undecided (b: Buffer): boolean {
  if (b[0] === 0x16) return b.length < 2
  return /^([A-Z]{0,8}|[A-Z]{3,8} )$/.test(b.toString('latin1'))
}

function classify (b: Buffer): 'http1' | 'tls' | 'garbage' {
  if (b[0] === 0x16 && b[1] === 0x03) return 'tls'
  if (/^[A-Z]{3,8} \S/.test(b.subarray(0, 16).toString('latin1'))) return 'http1'
  return 'garbage'
}

// ------------------------------------------------------------------------------------------- parsers

/** The header block fragment of a HEADERS frame, padding and priority removed (§6.2). */
export function headersBlock (f: Frame): Buffer {
  let p = f.payload
  let pad = 0
  if ((f.flags & Flags.PADDED) !== 0) {
    if (p.length < 1) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'PADDED HEADERS without a pad length')
    pad = p[0]
    p = p.subarray(1)
  }
  if ((f.flags & Flags.PRIORITY) !== 0) {
    if (p.length < 5) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority')
    if ((p.readUInt32BE(0) & 0x7fffffff) === f.streamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'stream depends on itself', f.streamId)
    p = p.subarray(5)
  }
  if (pad > p.length) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'padding longer than the HEADERS payload')
  return p.subarray(0, p.length - pad)
}

/** The data of a DATA frame, padding removed (§6.1). */
export function dataPayload (f: Frame): Buffer {
  if (f.streamId === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0')
  if ((f.flags & Flags.PADDED) === 0) return f.payload
  if (f.payload.length < 1) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'PADDED DATA without a pad length')
  const pad = f.payload[0]
  if (pad >= f.payload.length) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'padding longer than the DATA payload')
  return f.payload.subarray(1, f.payload.length - pad)
}

/** SETTINGS parameters in order, validated (§6.5.2). Unknown ids are kept (and ignored by callers). */
export function parseSettings (p: Buffer): Array<[number, number]> {
  if (p.length % 6 !== 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6')
  const out: Array<[number, number]> = []
  for (let i = 0; i < p.length; i += 6) {
    const id = p.readUInt16BE(i)
    const value = p.readUInt32BE(i + 2)
    if (id === SettingsId.ENABLE_PUSH && value > 1) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'ENABLE_PUSH must be 0 or 1')
    if (id === SettingsId.INITIAL_WINDOW_SIZE && value > 0x7fffffff) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE above 2^31-1')
    if (id === SettingsId.MAX_FRAME_SIZE && (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE)) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value} out of range`)
    }
    out.push([id, value])
  }
  return out
}

export function parseWindowUpdate (p: Buffer): number {
  if (p.length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE length not 4')
  const inc = p.readUInt32BE(0) & 0x7fffffff
  if (inc === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0')
  return inc
}

export function parseRstStream (p: Buffer): number {
  if (p.length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM length not 4')
  return p.readUInt32BE(0)
}

export function parseGoaway (p: Buffer): { lastStreamId: number, code: number, debug: Buffer } {
  if (p.length < 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes')
  return { lastStreamId: p.readUInt32BE(0) & 0x7fffffff, code: p.readUInt32BE(4), debug: p.subarray(8) }
}

export function streamIdOf (raw: Buffer): number {
  return raw.readUInt32BE(5) & 0x7fffffff
}

/** Rewrites the stream id of a raw frame in place (the relay numbers upstream streams itself). */
export function setStreamId (raw: Buffer, id: number): void {
  raw.writeUInt32BE(id & 0x7fffffff, 5)
}

// ------------------------------------------------------------------------------------------ builders

export function frame (type: number, flags: number, streamId: number, payload: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payload.length)
  writeFrameHeader(out, type, flags, streamId, payload.length)
  payload.copy(out, FRAME_HEADER_LENGTH)
  return out
}

/** The 9-byte header alone, for a payload written after it as it is (§4.1). */
export function frameHeader (type: number, flags: number, streamId: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH)
  writeFrameHeader(out, type, flags, streamId, length)
  return out
}

function writeFrameHeader (out: Buffer, type: number, flags: number, streamId: number, length: number): void {
  out[0] = (length >>> 16) & 0xff
  out[1] = (length >>> 8) & 0xff
  out[2] = length & 0xff
  out[3] = type
  out[4] = flags
  out.writeUInt32BE(streamId & 0x7fffffff, 5)
}

export function settings (pairs: Array<[number, number]>): Buffer {
  const p = Buffer.allocUnsafe(pairs.length * 6)
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v, i * 6 + 2) })
  return frame(FrameType.SETTINGS, 0, 0, p)
}

export function settingsAck (): Buffer { return frame(FrameType.SETTINGS, Flags.ACK, 0) }

export function windowUpdate (streamId: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4)
  p.writeUInt32BE(increment & 0x7fffffff, 0)
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, p)
}

export function rstStream (streamId: number, code: number): Buffer {
  const p = Buffer.allocUnsafe(4)
  p.writeUInt32BE(code, 0)
  return frame(FrameType.RST_STREAM, 0, streamId, p)
}

export function goaway (lastStreamId: number, code: number, debug: Buffer = EMPTY): Buffer {
  const p = Buffer.allocUnsafe(8 + debug.length)
  p.writeUInt32BE(lastStreamId & 0x7fffffff, 0)
  p.writeUInt32BE(code, 4)
  debug.copy(p, 8)
  return frame(FrameType.GOAWAY, 0, 0, p)
}

export function ping (data: Buffer, ack: boolean): Buffer {
  if (data.length !== 8) throw new Error('PING carries 8 bytes')
  return frame(FrameType.PING, ack ? Flags.ACK : 0, 0, data)
}

/** A header block as HEADERS + CONTINUATION frames no larger than the receiver's max frame size. */
export function headers (streamId: number, block: Buffer, opts: { endStream: boolean, maxFrameSize: number }): Buffer {
  const max = opts.maxFrameSize
  const end = opts.endStream ? Flags.END_STREAM : 0
  if (block.length <= max) return frame(FrameType.HEADERS, end | Flags.END_HEADERS, streamId, block)
  const parts: Buffer[] = []
  for (let i = 0; i < block.length; i += max) {
    const last = i + max >= block.length
    const piece = block.subarray(i, i + max)
    parts.push(i === 0
      ? frame(FrameType.HEADERS, end | (last ? Flags.END_HEADERS : 0), streamId, piece)
      : frame(FrameType.CONTINUATION, last ? Flags.END_HEADERS : 0, streamId, piece))
  }
  return Buffer.concat(parts)
}

/** Data as DATA frames no larger than `maxFrameSize`; END_STREAM on the last. */
export function data (streamId: number, payload: Buffer, endStream: boolean, maxFrameSize: number): Buffer {
  if (payload.length <= maxFrameSize) return frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, payload)
  const parts: Buffer[] = []
  for (let i = 0; i < payload.length; i += maxFrameSize) {
    const last = i + maxFrameSize >= payload.length
    parts.push(frame(FrameType.DATA, last && endStream ? Flags.END_STREAM : 0, streamId, payload.subarray(i, i + maxFrameSize)))
  }
  return Buffer.concat(parts)
}

const EMPTY = Buffer.alloc(0)
