import { VecgateError } from '../../lib/errors.js'
import { DROP, type Masker, type RecordId } from '../types.js'

/**
 * Milvus results are columnar: one `schema.FieldData` per output field, holding every row of the
 * message (milvus-proto schema.proto). These helpers read and mask one column of a decoded message.
 *
 * Nulls follow the layout pymilvus reads (`valid_data[i]` per row, `data[i]` at the row index): a
 * masked value that becomes null sets `valid_data` and keeps a placeholder in `data`. A column the
 * masker means to change but whose kind cannot carry the result (bytes, geometry, a type change inside
 * an array…) is removed whole: failing closed beats sending the original value.
 */
export type Msg = Record<string, any>

/** schema.DataType values of vector columns (100..106) */
const VECTOR_TYPES = new Set([100, 101, 102, 103, 104, 105, 106])
const VARCHAR = 21

/** int64 from protobufjs (a Long) or a JS number → a number when exact, else its decimal string */
export function int64 (v: unknown): number | string {
  if (typeof v === 'number') return v
  if (v !== null && typeof v === 'object' && 'low' in v) {
    const l = v as unknown as { toNumber(): number, toString(): string }
    const n = l.toNumber()
    return Number.isSafeInteger(n) ? n : l.toString()
  }
  return Number(v)
}

export function isVectorColumn (fd: Msg): boolean {
  return fd.vectors != null || VECTOR_TYPES.has(fd.type)
}

/** rows holding a vector in a vector column */
export function vectorRows (fd: Msg): number {
  const v = fd.vectors
  if (v == null) return 0
  const dim = Number(int64(v.dim))
  if (v.float_vector != null) return dim > 0 ? Math.floor(v.float_vector.data.length / dim) : 0
  if (v.binary_vector != null) return dim > 0 ? Math.floor(v.binary_vector.length / (dim / 8)) : 0
  if (v.float16_vector != null) return dim > 0 ? Math.floor(v.float16_vector.length / (2 * dim)) : 0
  if (v.bfloat16_vector != null) return dim > 0 ? Math.floor(v.bfloat16_vector.length / (2 * dim)) : 0
  if (v.int8_vector != null) return dim > 0 ? Math.floor(v.int8_vector.length / dim) : 0
  if (v.sparse_float_vector != null) return v.sparse_float_vector.contents.length
  if (v.vector_array != null) return v.vector_array.data.length
  return 0
}

/** the oneof member of a ScalarField that carries data, e.g. 'string_data' */
function scalarKind (s: Msg): string | undefined {
  for (const k in s) if (k.endsWith('_data') && s[k] != null) return k
  return undefined
}

/** the values of a column, one per row (null where valid_data says so); vectors summarized */
export function columnValues (fd: Msg): unknown[] {
  if (fd.vectors != null) return vectorSummaries(fd)
  const s = fd.scalars
  if (s == null) return []
  const kind = scalarKind(s)
  if (kind === undefined) return []
  const data: unknown[] = s[kind].data ?? []
  const decode = (v: unknown): unknown => cellValue(kind, v)
  const valid: boolean[] = fd.valid_data ?? []
  if (valid.length === 0) return data.map(decode)
  const dense = data.length === valid.length
  let p = 0
  return valid.map((ok, i) => ok ? decode(data[dense ? i : p++]) : null)
}

function cellValue (kind: string, v: unknown): unknown {
  switch (kind) {
    case 'long_data':
    case 'timestamptz_data':
    case 'time_data': return int64(v)
    case 'json_data': return (v as Uint8Array).length === 0 ? null : parseJson(v as Uint8Array)
    case 'bytes_data':
    case 'geometry_data':
    case 'mol_data': return { bytes: (v as Uint8Array).length }
    case 'array_data': return columnValues({ scalars: v as Msg })
    default: return v
  }
}

function vectorSummaries (fd: Msg): unknown[] {
  const v = fd.vectors
  const dim = Number(int64(v.dim))
  const rows = vectorRows(fd)
  const out: unknown[] = []
  for (let i = 0; i < rows; i++) out.push({ vector: dim })
  return out
}

function parseJson (b: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'))
  } catch (e) {
    throw new VecgateError('VG_ERR_MALFORMED', 'a JSON field of the upstream result is not JSON', {}, { cause: e })
  }
}

/** what maskColumn did: nothing, changed values in place, or the column must go */
export type ColumnMasked = false | true | 'drop'

/** Masks one column in place. `name` is the field name (the masker's path); dynamic fields use ''. */
export function maskColumn (fd: Msg, masker: Masker): ColumnMasked {
  if (isVectorColumn(fd)) return maskVectors(fd, masker)
  const s = fd.scalars
  if (s == null) return fd.struct_arrays != null && masker.touches(fd.field_name) ? 'drop' : false
  const kind = scalarKind(s)
  if (kind === undefined) return false
  if (kind === 'json_data') return maskJson(fd, s.json_data.data, masker)
  const name: string = fd.field_name
  if (!masker.touches(name)) return false
  switch (kind) {
    case 'string_data':
    case 'geometry_wkt_data':
    case 'mol_smiles_data':
      return maskScalars(fd, s, kind, 'string', masker)
    case 'bool_data': return maskScalars(fd, s, kind, 'boolean', masker)
    case 'int_data':
    case 'long_data':
    case 'float_data':
    case 'double_data':
      return maskScalars(fd, s, kind, 'number', masker)
    case 'array_data': return maskArrays(s.array_data.data, name, masker)
    default:
      // bytes, geometry, timestamps, dates…: no faithful way to carry a masked value
      return 'drop'
  }
}

function maskVectors (fd: Msg, masker: Masker): ColumnMasked {
  if (masker.vectors === 'keep') return false
  if (masker.vectors === 'drop') return 'drop'
  const v = fd.vectors
  // rounding is defined on float vectors; the packed kinds keep their (already coarse) bytes
  if (v?.float_vector == null) return false
  const dim = Number(int64(v.dim))
  const data: number[] = v.float_vector.data
  if (dim <= 0) return 'drop'
  for (let off = 0; off + dim <= data.length; off += dim) {
    const out = masker.vector(data.slice(off, off + dim))
    if (out === null) return 'drop'
    for (let j = 0; j < dim; j++) data[off + j] = out[j]
  }
  return true
}

type Prim = string | number | boolean | null

/**
 * Scalar columns: every value through `masker.scalar`. A result of another JS type than the column's
 * (a hashed number is a string) turns the column into VarChar, which both SDKs read by its data member.
 */
function maskScalars (fd: Msg, s: Msg, kind: string, jsType: 'string' | 'number' | 'boolean', masker: Masker): ColumnMasked {
  const name: string = fd.field_name
  densify(fd, s, kind)
  const data: unknown[] = s[kind].data
  const valid: boolean[] | undefined = fd.valid_data?.length > 0 ? fd.valid_data : undefined
  const out: Prim[] = new Array(data.length)
  let changed = false
  let retype = false
  for (let i = 0; i < data.length; i++) {
    if (valid !== undefined && !valid[i]) { out[i] = null; continue }
    const before = kind === 'long_data' ? int64(data[i]) : data[i] as Prim
    const after = masker.scalar(name, before)
    if (after === DROP) return 'drop'
    if (after !== before) changed = true
    if (after !== null && typeof after !== jsType) retype = true
    out[i] = after
  }
  if (!changed) return false
  if (retype) {
    delete s[kind]
    s.string_data = { data: out.map(v => v === null ? '' : String(v)) }
    fd.type = VARCHAR
  } else {
    const zero = jsType === 'string' ? '' : jsType === 'number' ? 0 : false
    s[kind] = { data: out.map(v => v === null ? zero : v) }
  }
  if (out.includes(null)) fd.valid_data = out.map(v => v !== null)
  return true
}

/** expand a sparse nullable column (data only for valid rows) to one value per row */
function densify (fd: Msg, s: Msg, kind: string): void {
  const valid: boolean[] = fd.valid_data ?? []
  const data: unknown[] = s[kind].data ?? []
  if (valid.length === 0 || data.length === valid.length) return
  const dense: unknown[] = []
  let p = 0
  for (const ok of valid) dense.push(ok ? data[p++] : placeholder(kind))
  s[kind] = { data: dense }
}

function placeholder (kind: string): unknown {
  switch (kind) {
    case 'bool_data': return false
    case 'string_data':
    case 'geometry_wkt_data':
    case 'mol_smiles_data': return ''
    case 'json_data':
    case 'bytes_data':
    case 'geometry_data':
    case 'mol_data': return Buffer.alloc(0)
    case 'array_data': return {}
    default: return 0
  }
}

/** Array columns: each row is a ScalarField; its elements are masked under the column's path. */
function maskArrays (rows: Msg[], name: string, masker: Masker): ColumnMasked {
  let changed = false
  for (const row of rows) {
    const kind = scalarKind(row)
    if (kind === undefined) continue
    const els: unknown[] = row[kind].data ?? []
    for (let i = 0; i < els.length; i++) {
      const before = kind === 'long_data' ? int64(els[i]) : els[i]
      if (typeof before !== 'string' && typeof before !== 'number' && typeof before !== 'boolean') return 'drop'
      const after = masker.scalar(name, before)
      if (after === before) continue
      if (after === DROP || after === null || typeof after !== typeof before) return 'drop'
      els[i] = after
      changed = true
    }
  }
  return changed
}

/**
 * JSON columns carry one JSON document per row as bytes. A declared JSON field is masked as
 * `{ [field]: value }` so paths read `meta.email`; the dynamic field ($meta) holds top-level keys,
 * masked with paths as they are (`email`), which is how clients see them.
 */
function maskJson (fd: Msg, data: Uint8Array[], masker: Masker): ColumnMasked {
  const name: string = fd.field_name
  const dynamic = fd.is_dynamic === true
  const valid: boolean[] = fd.valid_data ?? []
  const dense = valid.length === 0 || valid.length === data.length
  let changed = false
  const nulls: number[] = []
  for (let i = 0; i < data.length; i++) {
    if (dense && valid.length > 0 && !valid[i]) continue
    if (data[i].length === 0) continue
    const value = parseJson(data[i])
    let doc: Record<string, unknown>
    if (dynamic) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue
      doc = value as Record<string, unknown>
    } else {
      doc = { [name]: value }
    }
    if (!masker.document(doc, '')) continue
    changed = true
    if (!dynamic && !(name in doc)) {
      nulls.push(i)
      data[i] = Buffer.alloc(0)
    } else {
      data[i] = Buffer.from(JSON.stringify(dynamic ? doc : doc[name]))
    }
  }
  if (nulls.length > 0) {
    if (!dense) return 'drop' // a sparse nullable JSON column: rows cannot be matched to values safely
    const v = valid.length > 0 ? valid : new Array<boolean>(data.length).fill(true)
    for (const i of nulls) v[i] = false
    fd.valid_data = v
  }
  return changed
}

/** ids of a schema.IDs message */
export function idsOf (ids: Msg | null | undefined): RecordId[] {
  if (ids == null) return []
  if (ids.int_id != null) return (ids.int_id.data as unknown[]).map(int64)
  if (ids.str_id != null) return ids.str_id.data as string[]
  return []
}
