import { gunzipSync, inflateSync, gzipSync } from 'node:zlib'
import { VecgateError } from '../../lib/errors.js'

/**
 * gRPC length-prefixed messages (gRPC over HTTP/2, "Length-Prefixed-Message"): 1 byte compressed flag,
 * 4 bytes big-endian length, then the message. Messages span DATA frames and several may share one frame.
 * The reader keeps at most one partial message; the length is checked against the limit as soon as the
 * prefix is complete, so a lying prefix is refused before anything is buffered for it.
 */
export interface GrpcMessage {
  compressed: boolean
  /** the message as it arrived (still compressed when `compressed`); joined on first use when it spans chunks */
  readonly body: Buffer
  /** prefix + body as they arrived */
  readonly raw: Buffer
  /**
   * the body in the pieces it arrived in (views of the DATA frames), when it spans several: a reader
   * that can walk pieces (the Upsert classification) never needs it joined
   */
  readonly parts?: readonly Buffer[]
}

/** A message that arrived in several pieces: joined (one copy) only if someone asks for it whole. */
class PiecedMessage implements GrpcMessage {
  private joined: Buffer | undefined
  constructor (readonly compressed: boolean, private readonly pieces: Buffer[], private readonly length: number) {}

  get raw (): Buffer {
    this.joined ??= Buffer.concat(this.pieces, this.length)
    return this.joined
  }

  get body (): Buffer { return this.raw.subarray(5) }

  get parts (): readonly Buffer[] {
    // the pieces without the 5-byte prefix, which may itself span pieces
    const out: Buffer[] = []
    let skip = 5
    for (const p of this.pieces) {
      if (skip >= p.length) { skip -= p.length; continue }
      out.push(skip > 0 ? p.subarray(skip) : p)
      skip = 0
    }
    return out
  }
}

export class GrpcMessageReader {
  private chunks: Buffer[] = []
  private size = 0
  private need = -1
  private compressed = false

  constructor (private readonly maxMessage: number) {}

  /** bytes held for an incomplete message */
  get buffered (): number { return this.size }

  /** Feeds payload bytes; calls `emit` for every complete message. Throws VG_ERR_OVERSIZE / VG_ERR_MALFORMED. */
  push (chunk: Buffer, emit: (m: GrpcMessage) => void): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.size += chunk.length
    for (;;) {
      if (this.need < 0) {
        if (this.size < 5) return
        const flag = this.byteAt(0)
        if (flag > 1) throw new VecgateError('VG_ERR_MALFORMED', `gRPC message flag ${flag} is not 0 or 1`)
        const len = ((this.byteAt(1) << 24) | (this.byteAt(2) << 16) | (this.byteAt(3) << 8) | this.byteAt(4)) >>> 0
        if (len > this.maxMessage) {
          throw new VecgateError('VG_ERR_OVERSIZE', `gRPC message of ${len} bytes exceeds the limit of ${this.maxMessage}`)
        }
        this.compressed = flag === 1
        this.need = 5 + len
      }
      if (this.size < this.need) return
      const n = this.need
      this.need = -1
      if (this.chunks[0].length >= n) {
        const raw = this.take(n)
        emit({ compressed: this.compressed, body: raw.subarray(5), raw })
      } else {
        // spans chunks: kept as the views it came in, never joined here
        emit(new PiecedMessage(this.compressed, this.takePieces(n), n))
      }
    }
  }

  /** true when the stream ended in the middle of a message */
  get partial (): boolean { return this.size > 0 }

  /** byte `i` of what is held, across chunks (the prefix may be split anywhere) */
  private byteAt (i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i]
      i -= c.length
    }
    throw new RangeError('byteAt beyond the bytes held')
  }

  private take (n: number): Buffer {
    const first = this.chunks[0]
    const out = first.subarray(0, n)
    if (first.length === n) this.chunks.shift()
    else this.chunks[0] = first.subarray(n)
    this.size -= n
    return out
  }

  private takePieces (n: number): Buffer[] {
    const out: Buffer[] = []
    let i = 0
    let left = n
    while (left > 0) {
      const c = this.chunks[i]
      if (c.length <= left) {
        out.push(c)
        left -= c.length
        i++
      } else {
        out.push(c.subarray(0, left))
        this.chunks[i] = c.subarray(left)
        left = 0
      }
    }
    this.chunks.splice(0, i)
    this.size -= n
    return out
  }
}

/** A request message as a method reads it: one buffer, or the pieces it arrived in (GrpcMessage.parts). */
export type MessageBytes = Buffer | readonly Buffer[]

/** the message in one buffer (a copy only when it is in several pieces) */
export function joined (bytes: MessageBytes): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes
  return bytes.length === 1 ? bytes[0] : Buffer.concat(bytes)
}

/** The 5-byte prefix and body of one uncompressed message. */
export function frameMessage (body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = 0
  out.writeUInt32BE(body.length, 1)
  out.set(body, 5)
  return out
}

/** The 5-byte prefix alone of an uncompressed message of `length` bytes, sent before the body as it is. */
export function messagePrefix (length: number): Buffer {
  const out = Buffer.allocUnsafe(5)
  out[0] = 0
  out.writeUInt32BE(length, 1)
  return out
}

/**
 * Inflates a compressed message with the stream's `grpc-encoding`, never beyond `max` bytes
 * (a 1 KB gzip bomb must not become gigabytes: THREATS.md).
 */
export function inflateMessage (m: Pick<GrpcMessage, 'compressed' | 'body'>, encoding: string | undefined, max: number): Buffer {
  if (!m.compressed) return m.body
  try {
    switch (encoding) {
      case 'gzip': return gunzipSync(m.body, { maxOutputLength: max })
      case 'deflate': return inflateSync(m.body, { maxOutputLength: max })
      case undefined:
      case 'identity':
        throw new VecgateError('VG_ERR_MALFORMED', 'compressed gRPC message without grpc-encoding')
      default:
        throw new VecgateError('VG_ERR_MALFORMED', `unsupported grpc-encoding ${encoding}`)
    }
  } catch (e) {
    if (e instanceof VecgateError) throw e
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|maxOutputLength/i.test(String((e as Error).message))) {
      throw new VecgateError('VG_ERR_OVERSIZE', `compressed gRPC message inflates beyond the limit of ${max} bytes`)
    }
    throw new VecgateError('VG_ERR_MALFORMED', `gRPC message does not inflate: ${(e as Error).message}`)
  }
}

export function gzipMessage (body: Uint8Array): Buffer {
  const z = gzipSync(body)
  const out = Buffer.allocUnsafe(5 + z.length)
  out[0] = 1
  out.writeUInt32BE(z.length, 1)
  z.copy(out, 5)
  return out
}
