import { Auth, CANCEL_REQUEST, PROTOCOL_3_0, SSL_REQUEST } from './protocol.js'

/**
 * Builds wire-protocol messages (55.7 "Message Formats"): append fields, then `finish(code)` writes the
 * header. One growing buffer per builder; the finished message is a copy, so builders can be reused.
 */
export class MessageWriter {
  private buf: Buffer
  private off = 5

  constructor (size = 256) { this.buf = Buffer.allocUnsafe(size) }

  private ensure (n: number): void {
    if (this.off + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n))
    this.buf.copy(next, 0, 0, this.off)
    this.buf = next
  }

  int8 (v: number): this { this.ensure(1); this.buf[this.off++] = v; return this }
  int16 (v: number): this { this.ensure(2); this.buf.writeInt16BE(v, this.off); this.off += 2; return this }
  int32 (v: number): this { this.ensure(4); this.buf.writeInt32BE(v, this.off); this.off += 4; return this }
  cstring (s: string): this {
    const n = Buffer.byteLength(s)
    this.ensure(n + 1)
    this.buf.write(s, this.off, 'utf8')
    this.off += n
    this.buf[this.off++] = 0
    return this
  }

  bytes (b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.off); this.off += b.length; return this }

  /** A typed message: type byte + int32 length (which counts itself but not the type byte). */
  finish (code: number): Buffer {
    this.buf[0] = code
    this.buf.writeInt32BE(this.off - 1, 1)
    const out = Buffer.from(this.buf.subarray(0, this.off))
    this.off = 5
    return out
  }

  /** An untyped startup-phase packet: int32 length counting itself. */
  finishUntyped (): Buffer {
    this.buf.writeInt32BE(this.off - 1, 1)
    const out = Buffer.from(this.buf.subarray(1, this.off))
    this.off = 5
    return out
  }
}

const ZERO_BODY = (code: number): Buffer => Buffer.from([code, 0, 0, 0, 4])

/** Error and notice fields (55.8 "Error and Notice Message Fields"). */
export interface ErrorFields {
  severity?: 'ERROR' | 'FATAL' | 'WARNING' | 'NOTICE'
  code: string
  message: string
  detail?: string
  hint?: string
}

export const serialize = {
  errorResponse (e: ErrorFields, code = 0x45 /* 'E' */): Buffer {
    const w = new MessageWriter()
    const sev = e.severity ?? 'ERROR'
    w.int8(0x53).cstring(sev) // 'S'
    w.int8(0x56).cstring(sev) // 'V' non-localized severity
    w.int8(0x43).cstring(e.code) // 'C'
    w.int8(0x4d).cstring(e.message) // 'M'
    if (e.detail !== undefined) w.int8(0x44).cstring(e.detail) // 'D'
    if (e.hint !== undefined) w.int8(0x48).cstring(e.hint) // 'H'
    w.int8(0)
    return w.finish(code)
  },

  readyForQuery (status: number): Buffer { return Buffer.from([0x5a, 0, 0, 0, 5, status]) },

  authentication (kind: number, extra?: Uint8Array): Buffer {
    const w = new MessageWriter(16).int32(kind)
    if (extra !== undefined) w.bytes(extra)
    return w.finish(0x52)
  },

  authenticationOk (): Buffer { return serialize.authentication(Auth.Ok) },

  parameterStatus (name: string, value: string): Buffer { return new MessageWriter().cstring(name).cstring(value).finish(0x53) },

  backendKeyData (pid: number, secret: number): Buffer { return new MessageWriter(16).int32(pid).int32(secret).finish(0x4b) },

  /** 55.7 NegotiateProtocolVersion: the newest minor version we speak and the options we did not recognize. */
  negotiateProtocolVersion (minor: number, unrecognized: string[]): Buffer {
    const w = new MessageWriter().int32((3 << 16) | minor).int32(unrecognized.length)
    for (const o of unrecognized) w.cstring(o)
    return w.finish(0x76)
  },

  startupMessage (params: Record<string, string>): Buffer {
    const w = new MessageWriter().int32(PROTOCOL_3_0)
    for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v)
    w.int8(0)
    return w.finishUntyped()
  },

  sslRequest (): Buffer { return new MessageWriter(16).int32(SSL_REQUEST).finishUntyped() },

  cancelRequest (pid: number, secret: number): Buffer {
    return new MessageWriter(16).int32(CANCEL_REQUEST).int32(pid).int32(secret).finishUntyped()
  },

  password (text: string): Buffer { return new MessageWriter().cstring(text).finish(0x70) },

  saslInitialResponse (mechanism: string, data: Buffer): Buffer {
    return new MessageWriter().cstring(mechanism).int32(data.length).bytes(data).finish(0x70)
  },

  saslResponse (data: Buffer): Buffer { return new MessageWriter().bytes(data).finish(0x70) },

  query (sql: string): Buffer { return new MessageWriter().cstring(sql).finish(0x51) },

  parse (name: string, sql: string, types: number[] = []): Buffer {
    const w = new MessageWriter().cstring(name).cstring(sql).int16(types.length)
    for (const t of types) w.int32(t)
    return w.finish(0x50)
  },

  /** Bind with text parameters (null = SQL NULL) and one result format for all columns. */
  bind (portal: string, statement: string, params: Array<string | null> = [], resultFormat = 0): Buffer {
    const w = new MessageWriter().cstring(portal).cstring(statement).int16(0).int16(params.length)
    for (const p of params) {
      if (p === null) { w.int32(-1); continue }
      const b = Buffer.from(p)
      w.int32(b.length).bytes(b)
    }
    w.int16(1).int16(resultFormat)
    return w.finish(0x42)
  },

  describe (kind: 'S' | 'P', name: string): Buffer { return new MessageWriter().int8(kind.charCodeAt(0)).cstring(name).finish(0x44) },
  execute (portal: string, maxRows = 0): Buffer { return new MessageWriter().cstring(portal).int32(maxRows).finish(0x45) },
  close (kind: 'S' | 'P', name: string): Buffer { return new MessageWriter().int8(kind.charCodeAt(0)).cstring(name).finish(0x43) },
  sync (): Buffer { return ZERO_BODY(0x53) },
  flush (): Buffer { return ZERO_BODY(0x48) },
  terminate (): Buffer { return ZERO_BODY(0x58) },
  copyData (data: Buffer): Buffer { return new MessageWriter(data.length + 8).bytes(data).finish(0x64) },
  copyDone (): Buffer { return ZERO_BODY(0x63) }
}
