import type protobuf from 'protobufjs'
import { VecgateError } from '../../lib/errors.js'
import type { Masker, RecordId, ResultView } from '../types.js'
import { idOf } from './methods.js'

type Msg = Record<string, any>

/** Where the points sit in a response: ScoredPoint / RetrievedPoint lists, batches of them, or groups. */
type Shape = 'points' | 'batch' | 'groups'

function shapeOf (type: protobuf.Type): Shape | undefined {
  const result = type.fields.result
  if (result === undefined) return undefined
  result.resolve()
  switch (result.resolvedType?.name) {
    case 'ScoredPoint':
    case 'RetrievedPoint': return result.repeated ? 'points' : undefined
    case 'BatchResult': return 'batch'
    case 'GroupsResult': return 'groups'
    default: return undefined
  }
}

/**
 * A lazy view over one Qdrant response message that returns points (search, query, get, scroll,
 * batches, groups). Decoded only when asked; re-encoded only when masking changed it.
 */
export class QdrantResultView implements ResultView {
  static handles (type: protobuf.Type): boolean { return shapeOf(type) !== undefined }

  private msg: Msg | undefined
  private readonly shape: Shape
  private changed = false

  constructor (private readonly type: protobuf.Type, private readonly bytes: Buffer) {
    this.shape = shapeOf(type) as Shape
  }

  private decoded (): Msg {
    if (this.msg === undefined) {
      try {
        this.msg = this.type.decode(this.bytes) as unknown as Msg
      } catch (e) {
        throw new VecgateError('VG_ERR_MALFORMED', `upstream response does not decode as ${this.type.name}`, {}, { cause: e })
      }
    }
    return this.msg
  }

  /** every point in the message, wherever the shape puts it */
  private points (): Msg[] {
    const m = this.decoded()
    switch (this.shape) {
      case 'points': return m.result ?? []
      case 'batch': return (m.result ?? []).flatMap((b: Msg) => b.result ?? [])
      case 'groups': {
        const out: Msg[] = []
        for (const g of m.result?.groups ?? []) {
          for (const h of g.hits ?? []) out.push(h)
          if (g.lookup != null) out.push(g.lookup)
        }
        return out
      }
    }
  }

  ids (): RecordId[] { return this.points().map(p => idOf(p.id)) }

  counts (): { records: number, vectors: number } {
    const pts = this.points()
    let vectors = 0
    for (const p of pts) if (p.vectors != null) vectors++
    return { records: pts.length, vectors }
  }

  mask (masker: Masker): boolean {
    let changed = false
    for (const p of this.points()) {
      if (p.payload != null && Object.keys(p.payload).length > 0) {
        const doc: Record<string, unknown> = {}
        for (const k in p.payload) doc[k] = valueToJs(p.payload[k])
        if (masker.document(doc, '')) {
          const payload: Msg = {}
          for (const k in doc) payload[k] = jsToValue(doc[k])
          p.payload = payload
          changed = true
        }
      }
      if (p.vectors != null && masker.vectors !== 'keep') {
        if (masker.vectors === 'drop') {
          p.vectors = null
          changed = true
        } else {
          changed = roundVectors(p.vectors, masker) || changed
        }
      }
    }
    if (changed) this.changed = true
    return changed
  }

  encode (): Buffer {
    if (!this.changed) return this.bytes
    return Buffer.from(this.type.encode(this.decoded()).finish())
  }

  toJSON (): unknown {
    return {
      points: this.points().map(p => {
        const o: Record<string, unknown> = { id: idOf(p.id) }
        if (typeof p.score === 'number') o.score = p.score
        if (p.payload != null) {
          const doc: Record<string, unknown> = {}
          for (const k in p.payload) doc[k] = valueToJs(p.payload[k])
          o.payload = doc
        }
        if (p.vectors != null) o.vectors = vectorsToJs(p.vectors)
        return o
      })
    }
  }
}

function roundVectors (v: Msg, masker: Masker): boolean {
  let changed = false
  const outputs: Msg[] = v.vectors_options === 'vectors'
    ? Object.values(v.vectors?.vectors ?? {})
    : v.vector != null ? [v.vector] : []
  for (const o of outputs) {
    if (Array.isArray(o.data) && o.data.length > 0) { o.data = Array.from(masker.vector(o.data) ?? []); changed = true }
    if (o.dense?.data?.length > 0) { o.dense.data = Array.from(masker.vector(o.dense.data) ?? []); changed = true }
    for (const d of o.multi_dense?.vectors ?? []) {
      if (d.data?.length > 0) { d.data = Array.from(masker.vector(d.data) ?? []); changed = true }
    }
  }
  return changed
}

function vectorsToJs (v: Msg): unknown {
  const one = (o: Msg): unknown => o.dense?.data ?? (o.data?.length > 0 ? o.data : undefined) ?? o.multi_dense?.vectors?.map((d: Msg) => d.data) ?? null
  if (v.vectors_options === 'vectors') {
    const out: Record<string, unknown> = {}
    for (const [k, o] of Object.entries(v.vectors?.vectors ?? {})) out[k] = one(o as Msg)
    return out
  }
  return v.vector != null ? one(v.vector) : null
}

const VALUE_KINDS = ['string_value', 'integer_value', 'double_value', 'bool_value', 'struct_value', 'list_value', 'null_value']

/** qdrant.Value → plain JS (google.protobuf.Value-like, with integer_value as int64) */
export function valueToJs (v: Msg | null | undefined): unknown {
  if (v == null) return null
  // decoded messages name their oneof in `kind`; plain objects built by jsToValue carry only the field
  const kind: string | undefined = v.kind ?? VALUE_KINDS.find(k => v[k] !== undefined && v[k] !== null)
  switch (kind) {
    case 'null_value': return null
    case 'double_value': return v.double_value
    case 'integer_value': {
      const n = v.integer_value
      if (typeof n === 'number') return n
      const asNum = Number(String(n))
      return Number.isSafeInteger(asNum) ? asNum : String(n)
    }
    case 'string_value': return v.string_value
    case 'bool_value': return v.bool_value
    case 'struct_value': {
      const out: Record<string, unknown> = {}
      const fields = v.struct_value?.fields ?? {}
      for (const k in fields) out[k] = valueToJs(fields[k])
      return out
    }
    case 'list_value': return (v.list_value?.values ?? []).map(valueToJs)
    default: return null
  }
}

/** plain JS → qdrant.Value as a plain object protobufjs encodes */
export function jsToValue (x: unknown): Msg {
  if (x === null || x === undefined) return { null_value: 0 }
  switch (typeof x) {
    case 'string': return { string_value: x }
    case 'boolean': return { bool_value: x }
    case 'number': return Number.isInteger(x) ? { integer_value: x } : { double_value: x }
    case 'bigint': return { integer_value: x.toString() }
    case 'object': {
      if (Array.isArray(x)) return { list_value: { values: x.map(jsToValue) } }
      const fields: Msg = {}
      for (const [k, v] of Object.entries(x as object)) fields[k] = jsToValue(v)
      return { struct_value: { fields } }
    }
    default: return { null_value: 0 }
  }
}
