import { VecgateError } from '../../lib/errors.js'
import { CANCEL_REQUEST, GSSENC_REQUEST, SSL_REQUEST } from './protocol.js'
import { BodyCursor } from './reader.js'

/** The decoded first packet of a connection (55.7 StartupMessage and the request codes). */
export type FirstPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel', pid: number, secret: number }
  | { kind: 'startup', major: number, minor: number, params: Map<string, string> }


/** `buf[start, end)` is the whole packet (length included). */
export function decodeFirstPacket (buf: Buffer, start: number, end: number): FirstPacket {
  const c = new BodyCursor(buf, start + 4, end)
  const code = c.int32()
  if (code === SSL_REQUEST) return { kind: 'ssl' }
  if (code === GSSENC_REQUEST) return { kind: 'gssenc' }
  if (code === CANCEL_REQUEST) {
    // 55.7 CancelRequest: process id and secret key (protocol 3.0: 4 bytes each)
    const pid = c.int32()
    const secret = c.int32()
    return { kind: 'cancel', pid, secret }
  }
  const major = code >>> 16
  const minor = code & 0xffff
  const params = new Map<string, string>()
  if (major !== 3) return { kind: 'startup', major, minor, params }
  for (;;) {
    if (c.left === 0) throw new VecgateError('VG_ERR_MALFORMED', 'startup packet not terminated')
    const name = c.cstring()
    if (name === '') break
    const value = c.cstring()
    if (params.has(name)) throw new VecgateError('VG_ERR_MALFORMED', `startup parameter ${name} given twice`)
    params.set(name, value)
  }
  return { kind: 'startup', major, minor, params }
}

/** ErrorResponse / NoticeResponse fields by their one-letter code (55.8). */
export function decodeErrorFields (buf: Buffer, body: number, end: number): Map<string, string> {
  const c = new BodyCursor(buf, body, end)
  const fields = new Map<string, string>()
  while (c.left > 0) {
    const t = c.byte()
    if (t === 0) break
    fields.set(String.fromCharCode(t), c.cstring())
  }
  return fields
}

/** One column of a RowDescription (55.7). */
export interface Column {
  name: string
  tableOid: number
  attnum: number
  typeOid: number
  typeLen: number
  typeMod: number
  /** 0 text, 1 binary */
  format: number
}

export function decodeRowDescription (buf: Buffer, body: number, end: number): Column[] {
  const c = new BodyCursor(buf, body, end)
  const n = c.int16()
  const cols: Column[] = new Array(n)
  for (let i = 0; i < n; i++) {
    cols[i] = {
      name: c.cstring(),
      tableOid: c.int32(),
      attnum: c.int16(),
      typeOid: c.int32(),
      typeLen: c.int16(),
      typeMod: c.int32(),
      format: c.int16()
    }
  }
  return cols
}

/** Parse: statement name, query text (55.7). */
export function decodeParse (buf: Buffer, body: number, end: number): { name: string, sql: string } {
  const c = new BodyCursor(buf, body, end)
  return { name: c.cstring(), sql: c.cstring() }
}

/** result-column format codes as most Binds give them (none, or one for all): shared, never written to */
const NO_FORMATS: readonly number[] = Object.freeze([])
const TEXT_FORMAT: readonly number[] = Object.freeze([0])
const BINARY_FORMAT: readonly number[] = Object.freeze([1])

/**
 * Bind read in place (55.7): where its portal and statement names lie in `buf`, and the result-column
 * format codes at the end. The parameters are stepped over, never copied; the names are left as bytes
 * (the relay looks the statement up by them). One per connection, overwritten by every `read`.
 */
export class BindFields {
  portalStart = 0
  portalEnd = 0
  statementStart = 0
  statementEnd = 0
  resultFormats: readonly number[] = NO_FORMATS

  read (buf: Buffer, body: number, end: number): void {
    const c = new BodyCursor(buf, body, end)
    this.portalStart = c.pos
    c.cstring()
    this.portalEnd = c.pos - 1
    this.statementStart = c.pos
    c.cstring()
    this.statementEnd = c.pos - 1
    const nf = c.int16()
    if (nf < 0) throw new VecgateError('VG_ERR_MALFORMED', 'negative parameter format count in Bind')
    c.skip(nf * 2)
    const np = c.int16()
    if (np < 0) throw new VecgateError('VG_ERR_MALFORMED', 'negative parameter count in Bind')
    for (let i = 0; i < np; i++) {
      const len = c.int32()
      if (len > 0) c.skip(len)
      else if (len < -1) throw new VecgateError('VG_ERR_MALFORMED', 'invalid parameter length in Bind')
    }
    const nr = c.int16()
    if (nr < 0) throw new VecgateError('VG_ERR_MALFORMED', 'negative result format count in Bind')
    if (nr === 0) { this.resultFormats = NO_FORMATS; return }
    if (nr === 1) {
      const f = c.int16()
      this.resultFormats = f === 0 ? TEXT_FORMAT : f === 1 ? BINARY_FORMAT : [f]
      return
    }
    const formats: number[] = new Array(nr)
    for (let i = 0; i < nr; i++) formats[i] = c.int16()
    this.resultFormats = formats
  }
}

/** Bind: portal and statement names, and the result-column format codes (55.7). */
export function decodeBind (buf: Buffer, body: number, end: number): { portal: string, statement: string, resultFormats: readonly number[] } {
  const b = new BindFields()
  b.read(buf, body, end)
  return { portal: buf.toString('utf8', b.portalStart, b.portalEnd), statement: buf.toString('utf8', b.statementStart, b.statementEnd), resultFormats: b.resultFormats }
}

/** Describe and Close: 'S' or 'P', then a name. */
export function decodeTarget (buf: Buffer, body: number, end: number): { kind: 'S' | 'P', name: string } {
  const c = new BodyCursor(buf, body, end)
  const k = c.byte()
  if (k !== 0x53 && k !== 0x50) throw new VecgateError('VG_ERR_MALFORMED', 'Describe/Close target must be S or P')
  return { kind: k === 0x53 ? 'S' : 'P', name: c.cstring() }
}

/** Execute: portal name (the row limit is left in the bytes). */
export function decodeExecute (buf: Buffer, body: number, end: number): string {
  return new BodyCursor(buf, body, end).cstring()
}

/** Query: the SQL text. */
export function decodeQuery (buf: Buffer, body: number, end: number): string {
  return new BodyCursor(buf, body, end).cstring()
}
