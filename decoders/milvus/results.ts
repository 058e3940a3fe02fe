import type protobuf from 'protobufjs'
import { VecgateError } from '../../lib/errors.js'
import { I32, LEN, MessageSplice, VARINT, WireReader, roundFloats, varintSize, writeVarint, type Part } from '../grpc/protowire.js'
import { copyBytes, Cuts } from '../../lib/mask/bytes.js'
import { unstageBytes } from '../../lib/mask/detectors.js'
import type { Dropped, Masker, RecordId, ResultView, WireChecks } from '../types.js'
import { columnValues, idsOf, int64, isVectorColumn, maskColumn, vectorRows, type Msg } from './fields.js'

/** Where the records sit: SearchResults.results (SearchResultData) or QueryResults' own columns. */
export type ResultShape = 'search' | 'query'

export function resultShapeOf (type: protobuf.Type): ResultShape | undefined {
  switch (type.fullName) {
    case '.milvus.proto.milvus.SearchResults': return 'search'
    case '.milvus.proto.milvus.QueryResults': return 'query'
    default: return undefined
  }
}

/**
 * A lazy view over one Milvus response message with records (Search, HybridSearch, Query). Decoded
 * only when asked; re-encoded only when masking changed it. Columns the masker drops whole (vectors
 * under `vectors: drop`, a field masked to DROP) leave both `fields_data` and `output_fields`.
 * With the mask's wire checks, masking walks the message on the wire (protowire.ts): a column the
 * mask cannot change stays the bytes it came in, a column it may change is decoded alone
 * (`maskColumn`) and re-encoded, and the message is rebuilt around it.
 */
export class MilvusResultView implements ResultView {
  private msg: Msg | undefined
  private changed = false

  constructor (private readonly type: protobuf.Type, private readonly bytes: Buffer, private readonly shape: ResultShape) {}

  private decoded (): Msg {
    if (this.msg === undefined) {
      try {
        this.msg = this.type.decode(this.wireOut ?? this.bytes) as unknown as Msg
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `upstream response does not decode as ${this.type.name}`, {}, { cause: e })
      }
    }
    return this.msg
  }

  /** the message part that holds fields_data and output_fields */
  private holder (): Msg | undefined {
    const m = this.decoded()
    return this.shape === 'search' ? m.results ?? undefined : m
  }

  private columns (): Msg[] { return this.holder()?.fields_data ?? [] }

  ids (): RecordId[] {
    if (this.shape === 'search') return idsOf(this.holder()?.ids)
    const pk: string = this.decoded().primary_field_name ?? ''
    const col = pk === '' ? undefined : this.columns().find(c => c.field_name === pk)
    return col === undefined ? [] : columnValues(col) as RecordId[]
  }

  private records (): number {
    if (this.shape === 'search') {
      const r = this.holder()
      if (r == null) return 0
      const ids = idsOf(r.ids).length
      if (ids > 0) return ids
      let n = 0
      for (const k of r.topks ?? []) n += Number(int64(k))
      return n
    }
    let n = 0
    for (const c of this.columns()) n = Math.max(n, isVectorColumn(c) ? vectorRows(c) : columnValues(c).length)
    return n
  }

  counts (): { records: number, vectors: number } {
    let vectors = 0
    for (const c of this.columns()) if (isVectorColumn(c)) vectors += vectorRows(c)
    return { records: this.records(), vectors }
  }

  mask (masker: Masker): boolean {
    if (masker.wire !== undefined && this.msg === undefined) {
      const L = layoutOf(this.type, this.shape)
      if (L !== null) {
        const out = new WireMask(L, masker, masker.wire).response(this.bytes)
        if (out === null) return false
        this.wireOut = out
        return true
      }
    }
    return this.maskDecoded(masker)
  }

  /** the message as masked on the wire path; decoded lazily (journal) from these bytes */
  private wireOut: Buffer | undefined

  private maskDecoded (masker: Masker): boolean {
    const h = this.holder()
    if (h == null || h.fields_data == null || h.fields_data.length === 0) return false
    let changed = false
    const kept: Msg[] = []
    const dropped = new Set<string>()
    for (const c of h.fields_data as Msg[]) {
      const r = maskColumn(c, masker)
      if (r === 'drop') {
        dropped.add(c.field_name)
        changed = true
      } else {
        kept.push(c)
        if (r) changed = true
      }
    }
    if (dropped.size > 0) {
      h.fields_data = kept
      if (Array.isArray(h.output_fields)) h.output_fields = h.output_fields.filter((f: string) => !dropped.has(f))
    }
    if (changed) this.changed = true
    return changed
  }

  encode (): Buffer {
    if (!this.changed) return this.wireOut ?? this.bytes
    return Buffer.from(this.type.encode(this.decoded()).finish())
  }

  toJSON (): unknown {
    const cols = this.columns().map(c => ({ name: c.is_dynamic === true ? '$meta' : c.field_name as string, values: columnValues(c) }))
    const n = this.records()
    const rows: Array<Record<string, unknown>> = []
    const ids = this.shape === 'search' ? idsOf(this.holder()?.ids) : undefined
    const scores: number[] = this.shape === 'search' ? this.holder()?.scores ?? [] : []
    for (let i = 0; i < n; i++) {
      const row: Record<string, unknown> = {}
      if (ids !== undefined) {
        row.id = ids[i]
        if (scores[i] !== undefined) row.score = scores[i]
      }
      for (const c of cols) if (i < c.values.length) row[c.name] = c.values[i]
      rows.push(row)
    }
    if (this.shape === 'query') return { rows }
    return { topks: (this.holder()?.topks ?? []).map((k: unknown) => Number(int64(k))), hits: rows }
  }
}

// ---- the wire path ----

interface Layout {
  /** SearchResults.results; 0 for QueryResults (the columns sit in the message itself) */
  results: number
  fieldsData: number
  outputFields: number
  fieldType: protobuf.Type
  name: number
  dynamic: number
  scalars: number
  vectors: number
  validData: number
  stringData: number
  jsonData: number
  longData: number
  intData: number
  /** VectorField.dim and .float_vector */
  dim: number
  floatVector: number
}

const layouts = new Map<string, Layout | null>()

function layoutOf (type: protobuf.Type, shape: ResultShape): Layout | null {
  let L = layouts.get(type.fullName)
  if (L !== undefined) return L
  try {
    const f = (t: protobuf.Type, n: string): protobuf.Field => {
      const x = t.fields[n]
      if (x === undefined) throw new Error(`${t.name} has no field ${n}`)
      x.resolve()
      return x
    }
    const holder = shape === 'search' ? f(type, 'results').resolvedType as protobuf.Type : type
    const fd = f(holder, 'fields_data')
    const fieldType = fd.resolvedType as protobuf.Type
    const scalars = f(fieldType, 'scalars')
    const st = scalars.resolvedType as protobuf.Type
    const vt = f(fieldType, 'vectors').resolvedType as protobuf.Type
    L = {
      results: shape === 'search' ? f(type, 'results').id : 0,
      fieldsData: fd.id,
      outputFields: f(holder, 'output_fields').id,
      fieldType,
      name: f(fieldType, 'field_name').id,
      dynamic: f(fieldType, 'is_dynamic').id,
      scalars: scalars.id,
      vectors: f(fieldType, 'vectors').id,
      validData: f(fieldType, 'valid_data').id,
      stringData: f(st, 'string_data').id,
      jsonData: f(st, 'json_data').id,
      longData: f(st, 'long_data').id,
      intData: f(st, 'int_data').id,
      dim: f(vt, 'dim').id,
      floatVector: f(vt, 'float_vector').id
    }
  } catch {
    L = null // a schema this walker does not know: the decoded path serves it
  }
  layouts.set(type.fullName, L)
  return L
}

const SAME = 0
const REMOVE = 1
const DECODE = 2
const ROWS = 3
const ROUND = 4
const JSON_ROWS = 5

class WireMask {
  private readonly dropped = new Set<string>()

  constructor (private readonly L: Layout, private readonly masker: Masker, private readonly wire: WireChecks) {}

  response (buf: Buffer): Buffer | null {
    rowCuts.n = 0
    try {
      if (this.L.results === 0) return this.holder(buf, 0, buf.length)?.finish() ?? null
      const r = new WireReader(buf, 0, buf.length)
      let out: MessageSplice | undefined
      while (r.next()) {
        if (r.field !== this.L.results || r.wireType !== LEN) { r.skip(); continue }
        const fs = r.fieldStart
        const s = r.len()
        const h = this.holder(buf, s, r.pos)
        if (h === null) continue
        ;(out ??= new MessageSplice(buf, 0)).replace(fs, r.pos, this.L.results, h)
      }
      return out?.upTo(buf.length).finish() ?? null
    } finally {
      rowCuts.clear()
    }
  }

  /** the message part holding fields_data and output_fields */
  private holder (buf: Buffer, a: number, b: number): MessageSplice | null {
    const L = this.L
    const r = new WireReader(buf, a, b)
    const pieces: Array<[number, number, Uint8Array | Part | null]> = [] // [from, to) replaced by content, or removed
    while (r.next()) {
      if (r.field !== L.fieldsData || r.wireType !== LEN) { r.skip(); continue }
      const fs = r.fieldStart
      const s = r.len()
      const c = this.column(buf, s, r.pos)
      if (c === null) continue
      pieces.push([fs, r.pos, c === REMOVE ? null : c])
    }
    if (pieces.length === 0) return null
    if (this.dropped.size > 0) {
      // a dropped column leaves output_fields too
      const o = new WireReader(buf, a, b)
      while (o.next()) {
        if (o.field !== L.outputFields || o.wireType !== LEN) { o.skip(); continue }
        const fs = o.fieldStart
        const s = o.len()
        if (this.dropped.has(buf.toString('utf8', s, o.pos))) pieces.push([fs, o.pos, null])
      }
      pieces.sort((x, y) => x[0] - y[0])
    }
    const out = new MessageSplice(buf, a)
    for (const [from, to, content] of pieces) out.replace(from, to, L.fieldsData, content ?? undefined)
    return out.upTo(b)
  }

  /** one FieldData: null when the mask leaves it as it is, REMOVE, or its new bytes */
  private column (buf: Buffer, a: number, b: number): Uint8Array | Part | typeof REMOVE | null {
    const L = this.L
    const r = new WireReader(buf, a, b)
    let name = ''
    let dynamic = false
    let scalarsField = -1; let scalars = -1; let scalarsEnd = -1
    let vectors = 0; let vs = -1; let ve = -1
    while (r.next()) {
      if (r.field === L.name && r.wireType === LEN) { const s = r.len(); name = buf.toString('utf8', s, r.pos) } else if (r.field === L.dynamic && r.wireType === VARINT) dynamic = r.varint() !== 0
      else if (r.field === L.scalars && r.wireType === LEN) { scalarsField = r.fieldStart; scalars = r.len(); scalarsEnd = r.pos } else if (r.field === L.vectors && r.wireType === LEN) { vs = r.len(); ve = r.pos; vectors++ } else r.skip()
    }
    let how: number
    if (vectors > 0) how = this.masker.vectors === 'keep' ? SAME : this.masker.vectors === 'drop' ? REMOVE : vectors === 1 ? ROUND : DECODE
    else if (scalars >= 0) how = this.scalars(buf, scalars, scalarsEnd, name, dynamic)
    else how = this.masker.touches(name) ? DECODE : SAME
    if (how === SAME) return null
    if (how === REMOVE) { this.dropped.add(name); return REMOVE }
    if (how === ROUND) {
      const v = this.roundedVectors(buf, a, b, vs, ve)
      if (v !== undefined) return v
    }
    if (how === ROWS || how === JSON_ROWS) {
      const at: ColumnAt = { a, b, scalarsField, sa: scalars, sb: scalarsEnd, kind: 0, ds: -1, da: -1, db: -1 }
      const rows = how === ROWS ? this.stringRows(buf, at, name) : this.jsonRows(buf, at, name, dynamic)
      if (rows !== undefined) return rows
    }
    const fd = L.fieldType.decode(buf.subarray(a, b)) as unknown as Msg
    const m = maskColumn(fd, this.masker)
    if (m === false) return null
    if (m === 'drop') { this.dropped.add(name); return REMOVE }
    return Buffer.from(L.fieldType.encode(fd).finish())
  }

  /**
   * A float vector column (FieldData.vectors = VectorField { dim, float_vector: FloatArray { data } })
   * rounded as `maskVectors` rounds it, as its bytes are copied into the response (`RoundedFloats`):
   * a float32 stays four bytes wide, so every length stays as it was. Null for a VectorField without float_vector (other kinds keep
   * their bytes); undefined for anything `maskVectors` must judge (no dim, a last row cut short, a
   * member this walk does not know).
   */
  private roundedVectors (buf: Buffer, a: number, b: number, vs: number, ve: number): Part | null | undefined {
    const L = this.L
    const r = new WireReader(buf, vs, ve)
    let dim = 0; let fa = -1; let fb = -1
    while (r.next()) {
      if (r.field === L.dim && r.wireType === VARINT) dim = r.varint()
      else if (r.field === L.floatVector && r.wireType === LEN && fa < 0) { fa = r.len(); fb = r.pos } else return undefined
    }
    if (fa < 0) return null
    if (!(dim > 0 && dim <= Number.MAX_SAFE_INTEGER)) return undefined
    // FloatArray { repeated float data = 1 }: packed, or one float per field
    let floats = 0
    const d = new WireReader(buf, fa, fb)
    while (d.next()) {
      if (d.field !== 1) return undefined
      if (d.wireType === I32) { floats++; d.skip(); continue }
      if (d.wireType !== LEN) return undefined
      const s = d.len()
      if ((d.pos - s) % 4 !== 0) return undefined
      floats += (d.pos - s) / 4
    }
    if (floats === 0) return null
    if (floats % dim !== 0) return undefined
    return new RoundedFloats(buf, a, b, fa, fb, this.wire)
  }

  /** whether a ScalarField column can be left as it is without decoding it */
  private scalars (buf: Buffer, a: number, b: number, name: string, dynamic: boolean): number {
    const L = this.L
    const wire = this.wire
    const r = new WireReader(buf, a, b)
    while (r.next()) {
      if (r.wireType !== LEN) return DECODE
      const s = r.len()
      const e = r.pos
      // JSON and text columns are masked row by row (jsonRows, stringRows), which pass over the rows
      // the mask leaves alone: checking the rows here first would read every row twice when one has a hit
      if (r.field === L.jsonData) return JSON_ROWS
      if (!this.masker.touches(name)) continue // maskColumn leaves other kinds alone then
      if (r.field === L.stringData) return ROWS
      if (!wire.pathFree(name) || !wire.quietName(name)) return DECODE
      if (r.field === L.longData || r.field === L.intData) {
        if (!this.numbers(buf, s, e)) return DECODE
      } else {
        return DECODE
      }
    }
    return SAME
  }

  /**
   * A varchar column (FieldData → ScalarField.string_data → StringArray.data) masked row by row,
   * each through `scalar` as `maskColumn` does, and written back. Where no configured path and no
   * secret-sounding name is at stake, rows the detectors pass over keep their bytes undecoded, and
   * the rows are gated all at once where the mask can (`textRows`: one WebAssembly call instead of
   * a gate per row), so only the rows the gates let through are visited.
   * Undefined when the column needs `maskColumn` after all: a result that is not a string (null,
   * DROP), or see `eachRow`.
   */
  private stringRows (buf: Buffer, at: ColumnAt, name: string): Part | null | undefined {
    const wire = this.wire
    const free = wire.pathFree(name) && wire.quietName(name)
    if (!this.loneArray(buf, at, this.L.stringData)) return undefined
    // a configured column gets the same text row after row ("[redacted]"): encoded once
    let last = ''
    let lastBytes = Buffer.alloc(0)
    const text = (after: string | number | boolean | null | Dropped): Uint8Array | undefined => {
      if (typeof after !== 'string') return undefined
      if (after !== last) { last = after; lastBytes = Buffer.from(after) }
      return lastBytes
    }
    if (free) {
      const gated = wire.maskGatedText === undefined ? undefined : wire.textRows?.(buf, at.da, at.db)
      if (gated != null) return this.gatedRows(buf, at, gated, text)
      return this.eachRow(buf, at, (s, e) => {
        const after = wire.maskText(buf, s, e)
        return after === undefined ? null : text(after)
      })
    }
    // a configured column under redact: every row but the redaction text itself becomes it, undecoded
    const fixedText = wire.fixedText?.(name)
    const fixed = fixedText === undefined ? undefined : Buffer.from(fixedText)
    return this.eachRow(buf, at, (s, e) => {
      if (fixed !== undefined) return sameBytes(fixed, buf, s, e) ? null : fixed
      const before = buf.toString('utf8', s, e)
      const after = this.masker.scalar(name, before)
      return after === before ? null : text(after)
    })
  }

  /**
   * `eachRow` over the rows `textRows` listed (`rows`: field start, text start, text end, gate; in
   * row order): every other row `maskText` leaves as it is. `text` gives a masked row's bytes.
   */
  private gatedRows (buf: Buffer, at: ColumnAt, rows: Int32Array,
    text: (after: string | number | boolean | null | Dropped) => Uint8Array | undefined): Part | null | undefined {
    const wire = this.wire
    const cuts = rowCuts
    const first = cuts.n
    let grow = 0
    for (let k = 0; k < rows.length; k += 4) {
      const fs = rows[k]; const s = rows[k + 1]; const e = rows[k + 2]
      const after = wire.maskGatedText!(buf, s, e, rows[k + 3])
      if (after === undefined) continue
      const bytes = text(after)
      if (bytes === undefined) { cuts.truncate(first); return undefined }
      cuts.add(fs, e, bytes)
      grow += 1 + varintSize(bytes.length) + bytes.length - (e - fs)
    }
    return this.edit(buf, at, first, grow)
  }

  /**
   * A JSON column (ScalarField.json_data → JSONArray.data) masked row by row on its text
   * (`maskJsonCuts`: the masked spans are written into the response), as `maskJson` in fields.ts masks the parsed rows: a declared field as the document
   * at its name (its name must be one the detectors leave alone, as `{ [name]: value }` is masked
   * there), the dynamic field as a document of top-level keys. Empty rows are left alone. Undefined
   * when a row needs the decoded path, or see `eachRow`.
   */
  private jsonRows (buf: Buffer, at: ColumnAt, name: string, dynamic: boolean): Part | null | undefined {
    const wire = this.wire
    if (!dynamic && !wire.quietName(name)) return undefined
    const prefix = dynamic ? '' : name
    // a declared field no configured path reaches: a row the detectors pass over whole is not walked
    const skim = !dynamic && wire.pathFree(name)
    const cuts = rowCuts.json
    if (!this.loneArray(buf, at, this.L.jsonData)) return undefined
    const da = at.da
    const staged = wire.stageRows?.(buf, da, at.db, true) ?? -1
    try {
      return this.eachRow(buf, at, (s, e) => {
        if (e === s || (skim && wire.quietJson(buf, s, e))) return null
        const changed = wire.maskJsonCuts(buf, s, e, prefix, cuts, staged < 0 ? -1 : staged + s - da)
        return changed === undefined ? undefined : changed ? CUT : null
      })
    } finally {
      unstageBytes(staged)
    }
  }

  /**
   * Whether the ScalarField of a column holds one `kind` array (a message with `repeated … data
   * = 1`) and its rows are not nullable (no valid_data): where the array is goes into `at`.
   */
  private loneArray (buf: Buffer, at: ColumnAt, kind: number): boolean {
    const L = this.L
    const f = new WireReader(buf, at.a, at.b)
    while (f.next()) { if (f.field === L.validData) return false; f.skip() }
    const sc = new WireReader(buf, at.sa, at.sb)
    let ds = -1; let da = -1; let db = -1
    while (sc.next()) {
      if (sc.field !== kind || sc.wireType !== LEN || da >= 0) return false
      ds = sc.fieldStart; da = sc.len(); db = sc.pos
    }
    if (da < 0) return false
    at.kind = kind; at.ds = ds; at.da = da; at.db = db
    return true
  }

  /**
   * The rows of a column's array (`loneArray`), each given new content by `row` (null: kept; CUT:
   * its text with the spans `row` added to `rowCuts.json`; undefined: the column needs
   * `maskColumn`). The FieldData is written anew around the rows that changed (`RowsEdit`); null
   * when none did. Undefined for anything but rows of field 1.
   */
  private eachRow (buf: Buffer, at: ColumnAt,
    row: (s: number, e: number) => Uint8Array | typeof CUT | null | undefined): Part | null | undefined {
    const r = new WireReader(buf, at.da, at.db)
    const cuts = rowCuts
    const first = cuts.n
    let grow = 0
    while (r.next()) {
      if (r.field !== 1 || r.wireType !== LEN) { cuts.truncate(first); return undefined }
      const fs = r.fieldStart
      const s = r.len()
      const spans = cuts.json.count
      const after = row(s, r.pos)
      if (after === null) continue
      if (after === undefined) { cuts.truncate(first); return undefined }
      if (after === CUT) cuts.addJson(fs, r.pos, s, spans)
      else cuts.add(fs, r.pos, after)
      const n = cuts.lengthOf(cuts.n - 1)
      grow += 1 + varintSize(n) + n - (r.pos - fs)
    }
    return this.edit(buf, at, first, grow)
  }

  /** the column with the rows rowCuts[first, …) replaced, its array `grow` bytes longer; null when none is */
  private edit (buf: Buffer, at: ColumnAt, first: number, grow: number): Part | null {
    if (rowCuts.n === first) return null
    return new RowsEdit(buf, at, this.L.scalars, first, rowCuts.n, grow)
  }

  /** every element of a LongArray/IntArray (field 1, packed or not) is a number the detectors leave */
  private numbers (buf: Buffer, a: number, b: number): boolean {
    const r = new WireReader(buf, a, b)
    const ok = (v: number): boolean => v <= Number.MAX_SAFE_INTEGER && this.wire.quietNumber(v)
    while (r.next()) {
      if (r.field !== 1) return false
      if (r.wireType === VARINT) { if (!ok(r.varint())) return false; continue }
      if (r.wireType !== LEN) return false
      const p = new WireReader(buf, r.len(), r.pos)
      while (p.pos < p.end) if (!ok(p.varint())) return false
    }
    return true
  }
}

function sameBytes (x: Uint8Array, buf: Uint8Array, a: number, b: number): boolean {
  if (x.length !== b - a) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== buf[a + i]) return false
  return true
}

/**
 * where a column sits: the FieldData buf[a, b), its ScalarField field from `scalarsField`, content
 * [sa, sb); its array of rows (`loneArray`), ScalarField field `kind` from `ds`, content [da, db)
 */
interface ColumnAt {
  a: number
  b: number
  scalarsField: number
  sa: number
  sb: number
  kind: number
  ds: number
  da: number
  db: number
}

/**
 * The rows that change, column after column of one response: the row field buf[start, end) (tag
 * included) and its new content — a text, or (`JSON_CUT`) the row's own JSON text with the spans
 * `json` holds for it replaced, so a masked JSON row is copied once, into the response. One list,
 * reused from response to response (a walk masks one response at a time, and writes it before the
 * next), so rows cost no allocation but their output.
 */
class RowCuts {
  n = 0
  readonly at: number[] = []
  readonly text: Uint8Array[] = []
  /** the replaced spans of JSON rows, in row order */
  readonly json = new Cuts()
  /** per JSON row: where its text starts, its spans [from, to) in `json` and its new length */
  readonly textStart: number[] = []
  readonly from: number[] = []
  readonly to: number[] = []
  readonly length: number[] = []

  add (start: number, end: number, text: Uint8Array): void {
    const i = this.n++
    this.at[2 * i] = start
    this.at[2 * i + 1] = end
    this.text[i] = text
  }

  /** the row buf[start, end), its JSON text from `textStart`, becomes that text with the spans `json` got from `from` on */
  addJson (start: number, end: number, textStart: number, from: number): void {
    const i = this.n
    this.add(start, end, JSON_CUT)
    const to = this.json.count
    this.textStart[i] = textStart
    this.from[i] = from
    this.to[i] = to
    this.length[i] = end - textStart + this.json.growth(from, to)
  }

  /** the new content's length of row i */
  lengthOf (i: number): number {
    const t = this.text[i]
    return t === JSON_CUT ? this.length[i] : t.length
  }

  /** forgets the rows from `n` on (a column that needs the decoded path after all) */
  truncate (n: number): void {
    for (let i = n; i < this.n; i++) {
      if (this.text[i] === JSON_CUT) { this.json.truncate(this.from[i]); break }
    }
    this.n = n
  }

  /** lets go of the row texts (the list outlives the response), and of the lists' storage after a response of many rows */
  clear (): void {
    if (this.n > KEEP_CUTS) {
      this.at.length = 0
      this.text.length = 0
    } else {
      for (let i = 0; i < this.n; i++) this.text[i] = EMPTY
    }
    this.n = 0
    this.json.truncate(0)
  }
}

const EMPTY = new Uint8Array(0)
/** `RowCuts.text` of a JSON row written from its spans */
const JSON_CUT = new Uint8Array(0)
/** what a row function (`WireMask.eachRow`) returns when it added spans to `rowCuts.json` */
const CUT = 1
/** changed rows whose lists are kept for the next response (a few hundred KiB) */
const KEEP_CUTS = 16384
const rowCuts = new RowCuts()

/**
 * A column (FieldData buf[at.a, at.b)) with the rows rowCuts[first, end) replaced: the array
 * (ScalarField field `at.kind` at [at.ds, at.db), content from at.da), the ScalarField and the
 * FieldData get new lengths, everything else keeps its bytes. Written before `response` returns:
 * its rows live in `rowCuts` until then.
 */
class RowsEdit implements Part {
  readonly byteLength: number
  private readonly dataLen: number
  private readonly scalarsLen: number

  constructor (private readonly buf: Buffer, private readonly at: ColumnAt, private readonly scalarsField: number,
    private readonly first: number, private readonly end: number, grow: number) {
    this.dataLen = at.db - at.da + grow
    this.scalarsLen = (at.sb - at.sa) - (at.db - at.ds) + fieldSize(at.kind, this.dataLen)
    this.byteLength = (at.b - at.a) - (at.sb - at.scalarsField) + fieldSize(scalarsField, this.scalarsLen)
  }

  writeTo (out: Buffer, pos: number): number {
    const { buf, at } = this
    pos = copyBytes(buf, at.a, at.scalarsField, out, pos)
    pos = writeVarint(out, pos, this.scalarsField * 8 + LEN)
    pos = writeVarint(out, pos, this.scalarsLen)
    pos = copyBytes(buf, at.sa, at.ds, out, pos)
    pos = writeVarint(out, pos, at.kind * 8 + LEN)
    pos = writeVarint(out, pos, this.dataLen)
    const cut = rowCuts.at
    const text = rowCuts.text
    let from = at.da
    for (let i = this.first; i < this.end; i++) {
      pos = copyBytes(buf, from, cut[2 * i], out, pos)
      const t = text[i]
      out[pos++] = 1 * 8 + LEN // repeated … data = 1
      if (t === JSON_CUT) {
        pos = writeVarint(out, pos, rowCuts.length[i])
        pos = rowCuts.json.write(buf, rowCuts.textStart[i], cut[2 * i + 1], rowCuts.from[i], rowCuts.to[i], out, pos)
      } else {
        pos = writeVarint(out, pos, t.length)
        pos = copyBytes(t, 0, t.length, out, pos)
      }
      from = cut[2 * i + 1]
    }
    // the rest of the array, of the ScalarField and of the FieldData
    return copyBytes(buf, from, at.b, out, pos)
  }
}

/** a column buf[a, b) copied with the floats of its FloatArray (content [fa, fb)) rounded in the copy */
class RoundedFloats implements Part {
  readonly byteLength: number

  constructor (private readonly buf: Buffer, private readonly a: number, b: number,
    private readonly fa: number, private readonly fb: number, private readonly round: WireChecks) {
    this.byteLength = b - a
  }

  writeTo (out: Buffer, pos: number): number {
    const at = pos - this.a // where buf's offsets land in out
    copyBytes(this.buf, this.a, this.a + this.byteLength, out, pos)
    const w = new WireReader(out, this.fa + at, this.fb + at)
    while (w.next()) roundFloats(w, this.round)
    return pos + this.byteLength
  }
}

/** bytes of a LEN field `field` holding n bytes */
function fieldSize (field: number, n: number): number {
  return varintSize(field * 8 + LEN) + varintSize(n) + n
}

