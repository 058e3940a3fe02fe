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
  /** the message as it arrived (still compressed when `compressed`) */
  body: Buffer
  /** prefix + body as they arrived */
  raw: Buffer
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
        const head = this.peek(5)
        const flag = head[0]
        if (flag > 1) throw new VecgateError('VG_ERR_MALFORMED', `gRPC message flag ${flag} is not 0 or 1`)
        const len = head.readUInt32BE(1)
        if (len > this.maxMessage) {
          throw new VecgateError('VG_ERR_OVERSIZE', `gRPC message of ${len} bytes exceeds the limit of ${this.maxMessage}`)
        }
        this.compressed = flag === 1
        this.need = 5 + len
      }
      if (this.size < this.need) return
      const raw = this.take(this.need)
      this.need = -1
      emit({ compressed: this.compressed, body: raw.subarray(5), raw })
    }
  }

  /** true when the stream ended in the middle of a message */
  get partial (): boolean { return this.size > 0 }

  private peek (n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0]
    const joined = Buffer.concat(this.chunks)
    this.chunks = [joined]
    return joined
  }

  private take (n: number): Buffer {
    const first = this.chunks[0]
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      const joined = Buffer.concat(this.chunks)
      out = joined.subarray(0, n)
      this.chunks = joined.length > n ? [joined.subarray(n)] : []
    }
    this.size -= n
    return out
  }
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
export function inflateMessage (m: GrpcMessage, encoding: string | undefined, max: number): Buffer {
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
