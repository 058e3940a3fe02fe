import { VecgateError } from '../../lib/errors.js'
import { Cuts, moveBack } from '../../lib/mask/bytes.js'
import { unstageBytes } from '../../lib/mask/detectors.js'
import { DROP, type Masker, type RecordId, type ResultView, type TextOut, type WireChecks } from '../types.js'
import { JsonOut } from '../json-out.js'
import type { Column } from './messages.js'

/**
 * Result rows as masking and the journal see them (PostgreSQL docs 55.7 RowDescription / DataRow).
 * A DataRow is decoded only when a mask applies to it or the journal asks for it; a row no mask
 * changes is forwarded as the bytes it arrived in.
 */

/** Type OIDs from pg_type.dat that the masker can read and write in either format. */
const OID = {
  bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26,
  json: 114, float4: 700, float8: 701, unknown: 705, bpchar: 1042, varchar: 1043, numeric: 1700, jsonb: 3802
} as const
const TEXTLIKE = new Set<number>([OID.text, OID.varchar, OID.bpchar, OID.name, OID.char, OID.unknown])
/** binary numbers `binaryNumber` reads as `decodeBinary` does */
const BINARY_NUMBER = new Set<number>([OID.int2, OID.int4, OID.oid, OID.int8, OID.float4, OID.float8])
const NUMERIC = new Set<number>([OID.int2, OID.int4, OID.int8, OID.float4, OID.float8, OID.numeric, OID.oid])
/** OIDs below this are built in; pgvector's `vector` gets one above it when the extension is created */
const FIRST_USER_OID = 16384

type Work = 0 | 1 | 2 | 3 // keep, scalar, json document, maybe-vector

/** Per RowDescription and mask: which columns need work, decided once for all rows of a result. */
export class MaskPlan {
  private readonly work: Work[]
  /**
   * Per column, whether a value may be passed over as its bytes when the mask's wire checks find
   * nothing in it (no configured path near the column, a name the detectors leave alone, text in
   * the format the detectors read): 1 for text, 2 for JSON text, 3 for binary jsonb, 4 for a binary
   * number (read in place), 0 never.
   */
  private readonly skim: Uint8Array
  readonly active: boolean

  constructor (readonly columns: Column[], readonly masker: Masker) {
    this.work = columns.map(c => {
      if (c.typeOid === OID.json || c.typeOid === OID.jsonb) return 2
      if (masker.vectors !== 'keep' && c.typeOid >= FIRST_USER_OID) return 3
      return masker.touches(c.name) ? 1 : 0
    })
    const wire = masker.wire
    this.skim = Uint8Array.from(columns, (c, i) => {
      if (wire === undefined || !wire.pathFree(c.name) || !wire.quietName(c.name)) return 0
      const w = this.work[i]
      if (w === 2) return c.format === 0 || c.typeOid === OID.json ? 2 : 3 // 3: binary jsonb, a version byte before the text
      if (w !== 1) return 0
      // text-format values of every type are text; binary numbers are read as the decoded path reads them
      if (c.format === 0 || TEXTLIKE.has(c.typeOid)) return 1
      return BINARY_NUMBER.has(c.typeOid) ? 4 : 0
    })
    this.active = this.work.some(w => w !== 0)
    this.json = this.work.some(w => w === 2)
    this.staging = wire?.stageRows !== undefined && wire.stagedTextGate !== undefined && wire.maskGatedText !== undefined &&
      (this.json || this.skim.some(s => s === 1))
    // text columns under a configured path and redact: every value but the redaction text becomes it
    this.fixed = columns.map((c, i) => {
      const t = this.work[i] === 1 && TEXTLIKE.has(c.typeOid) ? wire?.fixedText?.(c.name) : undefined
      return t === undefined ? undefined : Buffer.from(t)
    })
  }

  /**
   * The mask gates in place (`stageRows` stages the row) and the plan has texts or JSON to gate: a
   * row is staged once for all of them instead of a copy per text
   */
  private readonly staging: boolean
  /** the plan has JSON columns (which the mask may walk where the row is staged) */
  private readonly json: boolean

  /** per column, `WireChecks.fixedText` as UTF-8 (text-like columns only) */
  private readonly fixed: Array<Buffer | undefined>

  /**
   * Masks one DataRow message (type byte and length included): false when nothing changed (the row
   * goes on as it is), true when the masked row was written: `output` says where (the slab,
   * `rowSlab`, for all but large rows). No Buffer is made for it: the relay hands the range on, and
   * rows masked one after another lie back to back, so they go out and into the journal as one slice.
   */
  mask (row: Buffer): boolean {
    if (!this.active) return false
    const n = int16(row, 5)
    const edits = this.edits
    edits.clear() // a row before this one may have thrown half-way
    const wire = this.masker.wire
    // for the full gate the row is staged in its memory once, its texts and JSON strings gated there in place
    const staged = this.staging ? wire!.stageRows!(row, 0, row.length, this.json) : -1
    try {
      return this.maskValues(row, n, staged)
    } finally {
      unstageBytes(staged)
    }
  }

  /** where the last row `mask` changed was written */
  get output (): RowBytes { return this.edits.written }

  /** `mask` as a Buffer: the same buffer when nothing changed, else the masked row's own */
  apply (row: Buffer): Buffer {
    if (!this.mask(row)) return row
    const w = this.edits.written
    return w.buf.subarray(w.start, w.end)
  }

  /** `mask` of a row with `n` values, staged at `staged` (-1: not staged) */
  private maskValues (row: Buffer, n: number, staged: number): boolean {
    const edits = this.edits
    const wire = this.masker.wire
    let pos = 7
    for (let i = 0; i < n; i++) {
      if (pos + 4 > row.length) throw cutShort()
      const len = int32(row, pos)
      pos += 4
      const start = pos
      if (len > 0) pos += len
      if (pos > row.length) throw cutShort()
      const w = this.work[i] ?? 0
      if (w === 0 || len < 0) continue
      const skim = this.skim[i]
      if (skim === 1) {
        // the column's scalar is the detectors' scan, gated once over the bytes
        const out = staged < 0 ? wire!.maskText(row, start, pos) : wire!.maskGatedText!(row, start, pos, wire!.stagedTextGate!(row, start, pos, staged + start))
        if (out === undefined) continue
        const after = this.scalarOut(i, this.columns[i], out, row, undefined)
        edits.replace(start, pos, after)
        continue
      }
      if (skim === 2 && wire!.quietJson(row, start, pos)) continue
      if (skim === 3 && row[start] === 1 && wire!.quietJson(row, start + 1, pos)) continue
      if (skim === 4) {
        const v = binaryNumber(this.columns[i].typeOid, row, start, len)
        if (v === v && wire!.quietNumber(v)) continue // NaN (or a length not the type's): the decoded path
      }
      const fixed = this.fixed[i]
      if (fixed !== undefined) {
        if (!sameBytes(fixed, row, start, pos)) edits.replace(start, pos, fixed)
        continue
      }
      if (w === 2 && wire !== undefined && this.maskJsonText(wire, i, row, start, pos, staged)) continue
      const raw = row.subarray(start, pos)
      const after = this.maskDecoded(w, i, this.columns[i], raw)
      if (after !== raw) edits.replace(start, pos, after)
    }
    if (edits.count === 0) return false
    edits.write(row, pos)
    return true
  }

  /** the values the row being masked changes; kept from row to row */
  private readonly edits = new RowEdits()

  /**
   * Column i's JSON value row[start, end) masked on its text, the masked spans added to `edits`;
   * false when the decoded path must say.
   */
  private maskJsonText (wire: WireChecks, i: number, row: Buffer, start: number, end: number, staged: number): boolean {
    const col = this.columns[i]
    // binary jsonb is a version byte (1) and the text (jsonb_send); the text is masked as it stands
    const from = col.format === 1 && col.typeOid === OID.jsonb ? 1 : 0
    if (from === 1 && row[start] !== 1) return false
    const cuts = this.edits.cuts
    const first = cuts.count
    const changed = wire.maskJsonCuts(row, start + from, end, col.name, cuts, staged < 0 ? -1 : staged + start + from)
    if (changed === undefined) return false
    if (changed) this.edits.cut(start, end, first)
    return true
  }

  /** the decoded path: the value parsed, masked through the Masker and written back (`raw` when unchanged) */
  private maskDecoded (w: Work, i: number, col: Column, raw: Buffer): Uint8Array | null {
    const m = this.masker
    const binary = col.format === 1
    if (w === 3) {
      const v = binary ? binaryVector(raw) : textVector(raw)
      if (v === undefined) return m.touches(col.name) ? this.maskDecoded(1, i, col, raw) : raw
      const out = m.vector(v)
      if (out === null) return null
      if (out === v) return raw
      return binary ? encodeBinaryVector(out) : Buffer.from(`[${Array.from(out).join(',')}]`)
    }
    if (w === 2) {
      const jsonb = col.typeOid === OID.jsonb
      const text = binary && jsonb ? raw.toString('utf8', 1) : raw.toString('utf8')
      let doc: unknown
      try { doc = JSON.parse(text) } catch { return null } // cannot check it: do not pass it on
      if (doc === null || typeof doc !== 'object') {
        if (!m.touches(col.name)) return raw
        return this.scalarOut(i, col, m.scalar(col.name, doc as string | number | boolean | null), raw, doc)
      }
      if (!m.document(doc as Record<string, unknown>, col.name)) return raw
      const s = JSON.stringify(doc)
      return binary && jsonb ? Buffer.concat([Buffer.from([1]), Buffer.from(s)]) : Buffer.from(s)
    }
    const value = binary ? decodeBinary(col.typeOid, raw) : raw.toString('utf8')
    if (value === undefined) return null // a binary type we cannot read: fail closed
    return this.scalarOut(i, col, m.scalar(col.name, value), raw, value)
  }

  /** per column, the last masked text and its bytes: a configured column masks to the same text row after row */
  private readonly lastText: Array<string | undefined> = []
  private readonly lastBytes: Buffer[] = []

  private scalarOut (i: number, col: Column, out: ReturnType<Masker['scalar']>, raw: Buffer, before: unknown): Buffer | null {
    if (out === before) return raw
    if (out === DROP || out === null) return null
    if (typeof out === 'string' && this.lastText[i] === out) return this.lastBytes[i]
    const b = this.written(col, out)
    if (typeof out === 'string' && b !== null) { this.lastText[i] = out; this.lastBytes[i] = b }
    return b
  }

  private written (col: Column, out: string | number | boolean): Buffer | null {
    if (col.format === 1) {
      // binary json is the text; binary jsonb is a version byte (1) and the text (jsonb_send)
      if (col.typeOid === OID.json) return Buffer.from(JSON.stringify(out))
      if (col.typeOid === OID.jsonb) return Buffer.concat([JSONB_VERSION, Buffer.from(JSON.stringify(out))])
      return encodeBinary(col.typeOid, out)
    }
    // text format: the client parses the value by its type; a string where a number (or date, uuid ...)
    // is expected would break the client, so such values become NULL
    if (TEXTLIKE.has(col.typeOid) || col.typeOid === OID.json || col.typeOid === OID.jsonb) return Buffer.from(col.typeOid === OID.json || col.typeOid === OID.jsonb ? JSON.stringify(out) : String(out))
    if (NUMERIC.has(col.typeOid) && typeof out === 'number') return Buffer.from(String(out))
    if (col.typeOid === OID.bool && typeof out === 'boolean') return Buffer.from(out ? 't' : 'f')
    return null
  }
}

const JSONB_VERSION = Buffer.from([1])

function splitRow (row: Buffer): Array<Buffer | null> {
  const n = row.readInt16BE(5)
  const out: Array<Buffer | null> = new Array(n)
  let pos = 7
  for (let i = 0; i < n; i++) {
    const len = row.readInt32BE(pos)
    pos += 4
    if (len < 0) { out[i] = null; continue }
    out[i] = row.subarray(pos, pos + len)
    pos += len
  }
  return out
}

/**
 * The values of one DataRow that masking changes, written into a new row in one pass (one buffer of
 * the new size, each kept run copied once): a value replaced whole or by NULL, or edited in place by
 * cuts (a JSON text with its masked spans). Edits are made in row order; one row at a time.
 */
export class RowEdits {
  /** the cuts of values edited in place, and the whole-value replacements, in row order */
  readonly cuts = new Cuts()
  /** per edited value: where it starts and ends in the row, its first cut, its new length (-1: NULL) */
  private readonly start: number[] = []
  private readonly end: number[] = []
  private readonly firstCut: number[] = []
  private readonly length: number[] = []
  /** values edited so far */
  count = 0

  clear (): void {
    this.cuts.truncate(0)
    this.count = 0
  }

  /** the value at row[start, end) (start = end for a NULL) becomes `v`; null: NULL */
  replace (start: number, end: number, v: Uint8Array | null): void {
    const first = this.cuts.count
    this.cuts.add(start, end, v ?? NO_BYTES)
    this.value(start, end, first, v === null ? -1 : v.length)
  }

  /** the value at row[start, end) is edited by the cuts from `first` on (all inside it) */
  cut (start: number, end: number, first: number): void {
    this.value(start, end, first, end - start + this.cuts.growth(first, this.cuts.count))
  }

  private value (start: number, end: number, first: number, length: number): void {
    const k = this.count++
    this.start[k] = start
    this.end[k] = end
    this.firstCut[k] = first
    this.length[k] = length
  }

  /** where `write` wrote the last row: buf[start, end) */
  readonly written: RowBytes = { buf: NO_ROOM, start: 0, end: 0 }

  /**
   * `row`, whose values end at `end`, with the edits: a new DataRow, written into the slab
   * (`rowSlab`; a row too large for it into a buffer of its own) where `written` says; the edits are
   * cleared. The row is copied whole into the new one first, as far in as the edits ever run ahead
   * of it, and each kept run is then moved back into place within that one buffer (a copy straight
   * from the row would need a view of it per run, which cost more than the copy).
   */
  write (row: Uint8Array, end: number): void {
    const n = this.count
    const cuts = this.cuts
    const ahead = cuts.ahead(0, cuts.count)
    const size = end + cuts.growth(0, cuts.count)
    const room = ahead + end
    const own = room > SLAB_ROW
    const out = own ? Buffer.allocUnsafe(room) : rowSlab.room(room)
    const at = own ? 0 : rowSlab.at
    out.set(end === row.length ? row : new Uint8Array(row.buffer, row.byteOffset, end), at + ahead)
    // kept runs are moved a value at a time, each value's length header written anew
    const shift = at + ahead
    let copied = 0
    let to = at
    for (let k = 0; k < n; k++) {
      const a = this.start[k]
      to = moveBack(out, copied + shift, a - 4 + shift, to)
      to = putInt32(out, to, this.length[k])
      to = cuts.writeMoving(out, shift, a, this.end[k], this.firstCut[k], k + 1 < n ? this.firstCut[k + 1] : cuts.count, to)
      copied = this.end[k]
    }
    moveBack(out, copied + shift, end + shift, to)
    putInt32(out, at + 1, size - 1)
    this.clear()
    const w = this.written
    w.buf = out
    w.start = at
    w.end = at + size
    if (!own) rowSlab.at = at + size
  }
}

/** bytes of a buffer: buf[start, end) */
export interface RowBytes { buf: Buffer, start: number, end: number }

/** rows of up to this many bytes (with the room a rebuild needs) are written into the slab */
const SLAB_ROW = 2048

/**
 * One buffer that rows are written into one after another (masked rows, `RowEdits.write`; rows
 * the journal keeps past their read, `copy`), handed on as ranges of it rather than a Buffer each:
 * making a Buffer per row cost ≈10 % of a masked row (the object and the young-generation
 * collections it brings). Rows written in turn lie back to back, so the relay sends them, and
 * gives them to the journal, as one slice (burst.ts `Slices`). A slab's memory is never reused: a
 * new one is taken when a row does not fit, and an old one lives as long as a slice of it (as
 * Node's own pool does).
 */
export class RowSlab {
  /** a new slab (an ArrayBuffer of its own) costs about a microsecond: this one holds ~120 rows of 500 bytes */
  static readonly SIZE = 64 * 1024
  buf = Buffer.allocUnsafeSlow(RowSlab.SIZE)
  /** where the next row goes */
  at = 0

  /** the slab with `n` bytes free from `at` on (a new one when this one has not) */
  room (n: number): Buffer {
    if (this.at + n > RowSlab.SIZE) { this.buf = Buffer.allocUnsafeSlow(RowSlab.SIZE); this.at = 0 }
    return this.buf
  }

  /**
   * A copy of `row` written at `at`: its start (the copy is the slab's buf[start, at) after), or -1
   * for a row over SLAB_ROW bytes, which is not copied
   */
  copy (row: Uint8Array): number {
    if (row.length > SLAB_ROW) return -1
    const out = this.room(row.length)
    const start = this.at
    out.set(row, start)
    this.at = start + row.length
    return start
  }
}

/** the slab of this process (one thread: rows are written one at a time) */
export const rowSlab = new RowSlab()

const NO_ROOM = Buffer.alloc(0)

const NO_BYTES = new Uint8Array(0)

function sameBytes (x: Uint8Array, buf: Uint8Array, a: number, b: number): boolean {
  if (x.length !== b - a) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== buf[a + i]) return false
  return true
}

function cutShort (): VecgateError {
  return new VecgateError('VG_ERR_MALFORMED', 'DataRow shorter than its values say; not masked, not sent')
}

/** big-endian integers of the protocol (55.7), read and written in place without Buffer's checked methods (`mask` checks the ranges first) */
const int16 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16)) >> 16
const int32 = (b: Uint8Array, at: number): number => (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]
function putInt32 (b: Uint8Array, at: number, v: number): number {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v
  return at + 4
}

export function encodeDataRow (values: Array<Buffer | null>): Buffer {
  let size = 7
  for (const v of values) size += 4 + (v === null ? 0 : v.length)
  const b = Buffer.allocUnsafe(size)
  b[0] = 0x44 // 'D'
  b.writeInt32BE(size - 1, 1)
  b.writeInt16BE(values.length, 5)
  let pos = 7
  for (const v of values) {
    if (v === null) { b.writeInt32BE(-1, pos); pos += 4; continue }
    b.writeInt32BE(v.length, pos)
    pos += 4
    b.set(v, pos)
    pos += v.length
  }
  return b
}

/** pgvector text output: '[1,2,3]' (pgvector src/vector.c vector_out). */
function textVector (raw: Buffer): number[] | undefined {
  if (raw.length < 2 || raw[0] !== 0x5b || raw[raw.length - 1] !== 0x5d) return undefined
  const inner = raw.toString('latin1', 1, raw.length - 1)
  if (inner === '') return []
  const parts = inner.split(',')
  const v = new Array<number>(parts.length)
  for (let i = 0; i < parts.length; i++) {
    const x = Number(parts[i])
    if (Number.isNaN(x) && parts[i].trim() !== 'NaN') return undefined
    v[i] = x
  }
  return v
}

/** pgvector binary output: int16 dim, int16 unused, float4 × dim (pgvector src/vector.c vector_send). */
function binaryVector (raw: Buffer): number[] | undefined {
  if (raw.length < 4) return undefined
  const dim = raw.readInt16BE(0)
  if (raw.length !== 4 + 4 * dim) return undefined
  const v = new Array<number>(dim)
  for (let i = 0; i < dim; i++) v[i] = raw.readFloatBE(4 + 4 * i)
  return v
}

function encodeBinaryVector (v: ArrayLike<number>): Buffer {
  const b = Buffer.alloc(4 + 4 * v.length)
  b.writeInt16BE(v.length, 0)
  for (let i = 0; i < v.length; i++) b.writeFloatBE(v[i], 4 + 4 * i)
  return b
}

function decodeBinary (oid: number, raw: Buffer): string | number | boolean | undefined {
  switch (oid) {
    case OID.bool: return raw[0] === 1
    case OID.int2: return raw.readInt16BE(0)
    case OID.int4: case OID.oid: return raw.readInt32BE(0)
    case OID.int8: return Number(raw.readBigInt64BE(0))
    case OID.float4: return raw.readFloatBE(0)
    case OID.float8: return raw.readDoubleBE(0)
    default: return TEXTLIKE.has(oid) ? raw.toString('utf8') : undefined
  }
}

/**
 * The number `decodeBinary` reads from the binary int2, int4, oid, int8, float4 or float8 value
 * row[at, at + len); NaN when the length is not the type's.
 */
function binaryNumber (oid: number, row: Buffer, at: number, len: number): number {
  switch (oid) {
    case OID.int2: return len === 2 ? int16(row, at) : NaN
    case OID.int4: case OID.oid: return len === 4 ? int32(row, at) : NaN
    // the exact integer rounded once, as Number(readBigInt64BE) rounds it
    case OID.int8: return len === 8 ? int32(row, at) * 4294967296 + (int32(row, at + 4) >>> 0) : NaN
    case OID.float4: return len === 4 ? row.readFloatBE(at) : NaN
    case OID.float8: return len === 8 ? row.readDoubleBE(at) : NaN
    default: return NaN
  }
}

function encodeBinary (oid: number, v: string | number | boolean): Buffer | null {
  if (TEXTLIKE.has(oid)) return Buffer.from(String(v))
  if (typeof v === 'boolean') return oid === OID.bool ? Buffer.from([v ? 1 : 0]) : null
  if (typeof v !== 'number') return null
  const b = Buffer.alloc(8)
  switch (oid) {
    case OID.int2: b.writeInt16BE(v); return b.subarray(0, 2)
    case OID.int4: b.writeInt32BE(v); return b.subarray(0, 4)
    case OID.int8: b.writeBigInt64BE(BigInt(Math.trunc(v))); return b
    case OID.float4: b.writeFloatBE(v); return b.subarray(0, 4)
    case OID.float8: b.writeDoubleBE(v); return b
    default: return null
  }
}

/** the integer written in b[a, e) (an optional '-' and up to 15 digits, so it is exact), else NaN */
function textInteger (b: Uint8Array, a: number, e: number): number {
  const minus = a < e && b[a] === 0x2d
  let i = minus ? a + 1 : a
  if (i === e || e - i > 15) return NaN
  let v = 0
  for (; i < e; i++) {
    const d = b[i] - 48
    if (d < 0 || d > 9) return NaN
    v = v * 10 + d
  }
  return minus ? -v : v
}

/**
 * Where the DataRow that starts at `at` in a run of rows ends; -1 past the last (or at bytes that
 * are not a whole DataRow: the relay hands on only whole messages, so none are expected)
 */
function rowEnd (run: Buffer, at: number): number {
  if (at + 7 > run.length) return -1
  const end = at + 1 + int32(run, at + 1)
  return end >= at + 7 && end <= run.length ? end : -1
}

/**
 * The rows one call returned in one read burst: counted and journaled as a batch. Decoding for the
 * journal happens only when the journal serializes it (`toJSON`). The rows come as runs: each
 * Buffer holds one or more whole DataRow messages back to back (rows masked or copied one after
 * another into the slab are one run, `RowSlab`).
 */
export class RowsView implements ResultView {
  constructor (readonly columns: Column[] | undefined, private runs: Buffer[]) {}

  private split: Buffer[] | undefined

  /** each row as a Buffer of its own (made when asked for: the journal's serializing asks) */
  get rows (): Buffer[] {
    if (this.split !== undefined) return this.split
    const rows: Buffer[] = []
    for (const run of this.runs) {
      for (let at = 0, end = rowEnd(run, 0); end > 0; at = end, end = rowEnd(run, at)) {
        rows.push(at === 0 && end === run.length ? run : run.subarray(at, end))
      }
    }
    this.split = rows
    return rows
  }

  /**
   * The values of the `id` column, read in place row by row (no Buffer per row or value: this runs
   * on every journaled read burst); a value cut short or not a number or text of its type is passed over.
   */
  ids (): RecordId[] {
    const i = this.columns?.findIndex(c => c.name === 'id') ?? -1
    if (i < 0) return []
    const col = this.columns![i]
    const out: RecordId[] = []
    for (const run of this.runs) {
      for (let at = 0, end = rowEnd(run, 0); end > 0; at = end, end = rowEnd(run, at)) {
        if (i >= int16(run, at + 5)) continue
        let pos = at + 7
        for (let k = 0; k < i && pos + 4 <= end; k++) pos += 4 + Math.max(int32(run, pos), 0)
        if (pos + 4 > end) continue
        const len = int32(run, pos)
        pos += 4
        if (len < 0 || pos + len > end) continue
        if (col.format === 1) {
          const x = BINARY_NUMBER.has(col.typeOid) ? binaryNumber(col.typeOid, run, pos, len) : decodeBinary(col.typeOid, run.subarray(pos, pos + len))
          if (typeof x === 'string' || (typeof x === 'number' && x === x)) out.push(x)
          continue
        }
        const numeric = NUMERIC.has(col.typeOid)
        const v = numeric ? textInteger(run, pos, pos + len) : NaN
        if (v === v) { out.push(v); continue }
        const x = run.toString('utf8', pos, pos + len)
        out.push(numeric && /^-?\d+$/.test(x) && Number.isSafeInteger(Number(x)) ? Number(x) : x)
      }
    }
    return out
  }

  counts (): { records: number, vectors: number } {
    let vcols = 0
    for (const c of this.columns ?? []) if (c.typeOid >= FIRST_USER_OID) vcols++
    let records = 0
    for (const run of this.runs) for (let end = rowEnd(run, 0); end > 0; end = rowEnd(run, end)) records++
    return { records, vectors: vcols * records }
  }

  mask (masker: Masker): boolean {
    if (this.columns === undefined) return false
    const plan = new MaskPlan(this.columns, masker)
    const rows = this.rows
    let changed = false
    for (let i = 0; i < rows.length; i++) {
      const r = plan.apply(rows[i])
      if (r !== rows[i]) { rows[i] = r; changed = true }
    }
    if (changed) this.runs = rows
    return changed
  }

  toJSON (): unknown {
    const cols = this.columns
    return this.rows.map(row => {
      const values = splitRow(row)
      if (cols === undefined) return values.map(v => v === null ? null : v.toString('utf8'))
      const o: Record<string, unknown> = {}
      values.forEach((v, i) => {
        const c = cols[i]
        if (c === undefined) return
        o[c.name] = v === null ? null : c.format === 1 ? (decodeBinary(c.typeOid, v) ?? `<${v.length} bytes>`) : v.toString('utf8')
      })
      return o
    })
  }

  /**
   * The journal's text of these rows written from their bytes into its batch: the JSON of
   * `toJSON()`, without an object and a string per value. False where `toJSON` makes something
   * else than a row's values as strings under its column names in order — no columns known, a
   * column whose values it decodes (binary numbers and the like), a name twice, `__proto__`, a name
   * that is an array index (which objects put first) — or cannot read a row; the journal then takes `toJSON`.
   */
  journalText (_storeVectors: boolean, out: TextOut): boolean {
    const keys = this.columns === undefined ? null : journalKeys(this.columns)
    return keys !== null && new RowsText(out, keys).rows(this.runs)
  }

  encode (): Buffer { return this.runs.length === 1 ? this.runs[0] : Buffer.concat(this.runs) }
}

/** per column list, `"name":` of each column as UTF-8 for `RowsText`, or null (see `journalText`) */
const KEYS = new WeakMap<Column[], Buffer[] | null>()

function journalKeys (cols: Column[]): Buffer[] | null {
  let keys = KEYS.get(cols)
  if (keys !== undefined) return keys
  keys = []
  const names = new Set<string>()
  for (const c of cols) {
    const index = /^(?:0|[1-9]\d*)$/.test(c.name) && Number(c.name) < 4294967295
    if ((c.format !== 0 && !TEXTLIKE.has(c.typeOid)) || names.has(c.name) || c.name === '__proto__' || index) { keys = null; break }
    names.add(c.name)
    keys.push(Buffer.from(JSON.stringify(c.name) + ':'))
  }
  KEYS.set(cols, keys)
  return keys
}

/** `RowsView.journalText`: each row an object of its values as strings (null for NULL) under the columns' names */
class RowsText extends JsonOut {
  constructor (sink: TextOut, private readonly keys: Buffer[]) {
    super(sink)
  }

  rows (runs: Buffer[]): boolean {
    const start = this.pos
    this.ascii('[')
    let rows = 0
    for (const run of runs) {
      for (let at = 0, end = rowEnd(run, 0); end > 0; at = end, end = rowEnd(run, at)) {
        if (rows++ > 0) this.ascii(',')
        if (!this.row(run, at, end)) return false
      }
    }
    this.ascii(']')
    this.done(start)
    return true
  }

  /** the row run[at, end); false where `splitRow` would read past it (toJSON then throws) */
  private row (run: Buffer, at: number, end: number): boolean {
    const n = int16(run, at + 5)
    if (n < 0) return false
    const keys = this.keys
    this.ascii('{')
    let pos = at + 7
    for (let k = 0; k < n; k++) {
      if (pos + 4 > end) return false
      const len = int32(run, pos)
      pos += 4
      if (len < 0) {
        if (k < keys.length) { if (k > 0) this.ascii(','); this.bytes(keys[k]); this.ascii('null') }
        continue
      }
      if (k < keys.length) {
        // a value past the row's end: `splitRow` cuts it short, which this does not write
        if (pos + len > end) return false
        if (k > 0) this.ascii(',')
        this.bytes(keys[k])
        this.string(run, pos, pos + len)
      }
      pos += len
    }
    this.ascii('}')
    return true
  }
}
